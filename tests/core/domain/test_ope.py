"""Off-policy estimators: a hand-computed log, coverage on logs of known value, bad inputs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.domain import ope
from core.domain.ope import Estimate

# Five rounds, three actions, one evaluation policy pi = (0.2, 0.3, 0.5) for every round.
ACTION = np.array([0, 1, 2, 0, 1])
REWARD = np.array([1.0, 0.0, 1.0, 0.0, 1.0])
PSCORE = np.array([0.5, 0.25, 0.25, 0.5, 0.25])
PI = np.array([0.2, 0.3, 0.5])
DIST = np.tile(PI, (5, 1))
# Weights pi(a_i) / p_i: 0.4, 1.2, 2.0, 0.4, 1.2 (sum 5.2); w * r: 0.4, 0, 2.0, 0, 1.2 (sum 3.6).
IPS = 3.6 / 5  # 0.72
SNIPS = 3.6 / 5.2  # 9/13
# Mean reward model q = (0.5, 0.5, 1.0): direct part 0.2*0.5 + 0.3*0.5 + 0.5*1 = 0.75 each
# round; corrections w * (r - q(a_i)): 0.2, -0.6, 0, -0.2, 0.6 (sum 0).
DR = 0.75

BOOT = {"rounds": 200, "confidence": 0.95}


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def small(**changes: Any) -> dict[str, Any]:
    args = {"reward": REWARD, "action": ACTION, "pscore": PSCORE, "action_dist": DIST}
    return {**args, **changes}


def test_hand_computed_example() -> None:
    assert ope.ips(**small(), **BOOT, rng=rng()).value == pytest.approx(IPS)
    assert ope.snips(**small(), **BOOT, rng=rng()).value == pytest.approx(SNIPS)
    assert ope.dr(**small(), **BOOT, rng=rng()).value == pytest.approx(DR)
    assert ope.mean_reward_model(ACTION, REWARD, 3) == pytest.approx([0.5, 0.5, 1.0])
    # With a reward model of zeros DR is IPS.
    zero = ope.dr(**small(), **BOOT, rng=rng(), estimated_rewards=np.zeros(3))
    assert zero.value == pytest.approx(IPS)


def test_logged_action_probabilities_are_enough_for_ips_and_snips() -> None:
    found = ope.estimate_all(**small(action_dist=PI[ACTION]), **BOOT, rng=rng())
    assert set(found) == {"ips", "snips"}
    assert found["ips"].value == pytest.approx(IPS)
    assert found["snips"].value == pytest.approx(SNIPS)
    with pytest.raises(ValueError, match="DR needs the full action_dist"):
        ope.dr(**small(action_dist=PI[ACTION]), **BOOT, rng=rng())


def test_estimate_all_matches_the_single_estimators_and_is_seeded() -> None:
    found = ope.estimate_all(**small(), **BOOT, rng=rng(3))
    assert list(found) == ["ips", "snips", "dr"]
    again = ope.estimate_all(**small(), **BOOT, rng=rng(3))
    assert found == again
    assert found["ips"] == ope.ips(**small(), **BOOT, rng=rng(3))  # same first resamples
    for e in found.values():
        assert e.n == 5 and e.rounds == 200 and e.confidence == 0.95
        assert e.low <= e.value <= e.high and e.std_error > 0


def test_chunked_resampling_gives_the_same_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    whole = ope.estimate_all(**small(), **BOOT, rng=rng(5))
    monkeypatch.setattr(ope, "BOOT_CHUNK_ELEMENTS", 5 * 7)  # 7 resamples per chunk
    assert ope.estimate_all(**small(), **BOOT, rng=rng(5)) == whole


def test_on_policy_is_the_mean_reward() -> None:
    e = ope.on_policy(reward=REWARD, **BOOT, rng=rng())
    assert e.name == "logged" and e.value == pytest.approx(0.6)


# Logs of known value: a logging policy with known propensities, Bernoulli rewards.
P_LOG = np.array([0.4, 0.3, 0.2, 0.1])
MU = np.array([0.1, 0.2, 0.3, 0.5])
PI_EVAL = np.array([0.1, 0.2, 0.3, 0.4])  # true value: PI_EVAL @ MU = 0.34
# Two equally likely contexts with their own logging policy, means and evaluation policy.
P_CTX = np.array([[0.4, 0.3, 0.2, 0.1], [0.1, 0.2, 0.3, 0.4]])
MU_CTX = np.array([[0.1, 0.3, 0.2, 0.5], [0.4, 0.2, 0.1, 0.3]])
PI_CTX = np.array([[0.1, 0.2, 0.2, 0.5], [0.5, 0.2, 0.2, 0.1]])
REPETITIONS, N = 400, 2000


def coverage(contextual: bool) -> dict[str, float]:
    true = float(np.mean(np.sum(PI_CTX * MU_CTX, axis=1))) if contextual else float(PI_EVAL @ MU)
    inside = dict.fromkeys(ope.ESTIMATORS, 0)
    for seed in range(REPETITIONS):
        g = rng(seed)
        x = g.integers(0, 2, N) if contextual else np.zeros(N, dtype=int)
        p_log = P_CTX[x] if contextual else np.broadcast_to(P_LOG, (N, 4))
        mu = MU_CTX[x] if contextual else np.broadcast_to(MU, (N, 4))
        dist = PI_CTX[x] if contextual else np.broadcast_to(PI_EVAL, (N, 4))
        action = (g.random(N)[:, None] > np.cumsum(p_log, axis=1)).sum(axis=1)
        reward = g.binomial(1, mu[np.arange(N), action])
        pscore = p_log[np.arange(N), action]
        found = ope.estimate_all(
            reward=reward, action=action, pscore=pscore, action_dist=dist, **BOOT, rng=g
        )
        for name, e in found.items():
            inside[name] += e.low <= true <= e.high
    return {name: hits / REPETITIONS for name, hits in inside.items()}


@pytest.mark.parametrize("contextual", [False, True], ids=["context-free", "two-contexts"])
def test_intervals_cover_the_true_value(contextual: bool) -> None:
    found = coverage(contextual)
    assert all(share >= 0.9 for share in found.values()), found


@settings(max_examples=50, deadline=None)
@given(
    st.integers(1, 40).flatmap(
        lambda n: st.tuples(
            st.lists(st.integers(0, 2), min_size=n, max_size=n),
            st.lists(st.floats(0, 1), min_size=n, max_size=n),
            st.lists(st.floats(0.05, 1), min_size=n, max_size=n),
        )
    ),
    st.floats(0, 1),
)
def test_properties(log: tuple[list[int], list[float], list[float]], c: float) -> None:
    action, reward, pscore = (np.array(v) for v in log)
    n = action.size
    # Evaluating with pi(a_i | x_i) = p_i: every weight is 1, IPS and SNIPS are the mean.
    found = ope.estimate_all(
        reward=reward, action=action, pscore=pscore, action_dist=pscore, **BOOT, rng=rng()
    )
    assert found["ips"].value == pytest.approx(reward.mean())
    assert found["snips"].value == pytest.approx(reward.mean())
    # A constant reward: SNIPS and DR (mean reward model) are exact, and so are the intervals.
    dist = np.tile(PI, (n, 1))
    const = np.full(n, c)
    found = ope.estimate_all(
        reward=const, action=action, pscore=pscore, action_dist=dist, **BOOT, rng=rng()
    )
    for name in ("snips", "dr"):
        e = found[name]
        assert e.value == pytest.approx(c) and e.low == pytest.approx(c)
        assert e.high == pytest.approx(c)


BAD_INPUTS = [
    ({"pscore": np.array([0.5, 0.25, 0.0, 0.5, 0.25])}, r"pscore must lie in \(0, 1\]"),
    ({"pscore": np.array([0.5, 0.25, 1.5, 0.5, 0.25])}, r"pscore must lie in \(0, 1\]"),
    ({"pscore": np.array([0.5, 0.25, np.nan, 0.5, 0.25])}, r"pscore must lie in \(0, 1\]"),
    ({"reward": REWARD[:4]}, "must have the same length, got 4, 5, 5"),
    ({"action": ACTION[:3]}, "must have the same length, got 5, 3, 5"),
    ({"reward": np.array([])}, "reward must be a non-empty 1-d array"),
    ({"reward": REWARD.reshape(5, 1)}, "reward must be a non-empty 1-d array"),
    ({"reward": np.array([1, 0, np.inf, 0, 1])}, "reward must be finite"),
    ({"action": ACTION + 0.5}, "action must hold integer action indices"),
    ({"action": ACTION - 1}, "action must hold integer action indices >= 0"),
    ({"action": np.array([0, 1, 3, 0, 1])}, "action 3 is out of range for 3 actions"),
    ({"action_dist": DIST[:4]}, r"action_dist must have shape \(n_rounds,\)"),
    ({"action_dist": DIST * 2.5}, "action_dist must hold probabilities in"),
    ({"action_dist": -DIST}, "action_dist must hold probabilities in"),
    ({"action_dist": np.tile([0.2, 0.3, 0.4], (5, 1))}, "rows must sum to 1: row 0 sums to 0.9"),
    ({"action_dist": np.zeros((5, 1, 3))}, r"action_dist must have shape"),
]


@pytest.mark.parametrize(("changes", "match"), BAD_INPUTS)
@pytest.mark.parametrize("estimator", [ope.ips, ope.snips, ope.dr, ope.estimate_all])
def test_bad_inputs_are_named(changes: dict[str, Any], match: str, estimator: Any) -> None:
    with pytest.raises(ValueError, match=match):
        estimator(**small(**changes), **BOOT, rng=rng())


@pytest.mark.parametrize(
    ("boot", "match"),
    [
        ({"rounds": 0, "confidence": 0.95}, "rounds must be an integer >= 1"),
        ({"rounds": 2.5, "confidence": 0.95}, "rounds must be an integer >= 1"),
        ({"rounds": 10, "confidence": 1.0}, r"confidence must lie in \(0, 1\)"),
        ({"rounds": 10, "confidence": 0.0}, r"confidence must lie in \(0, 1\)"),
    ],
)
def test_bad_bootstrap_settings(boot: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ope.ips(**small(), **boot, rng=rng())


def test_bad_reward_model_and_undefined_snips() -> None:
    with pytest.raises(ValueError, match=r"estimated_rewards must have shape \(5, 3\) or \(3,\)"):
        ope.dr(**small(), **BOOT, rng=rng(), estimated_rewards=np.zeros(4))
    with pytest.raises(ValueError, match="estimated_rewards must be finite"):
        ope.dr(**small(), **BOOT, rng=rng(), estimated_rewards=np.array([0, np.nan, 0]))
    never = np.tile([0.0, 0.0, 1.0], (5, 1))  # only action 2, logged once: fine
    assert ope.snips(**small(action_dist=never), **BOOT, rng=rng()).value == 1.0
    nowhere = np.zeros(5)  # probability 0 for every logged action
    with pytest.raises(ValueError, match="SNIPS is undefined"):
        ope.snips(**small(action_dist=nowhere), **BOOT, rng=rng())


def estimate(low: float) -> Estimate:
    return Estimate("dr", 0.2, low, 0.3, 100, 0.95, 200, 0.01)


@pytest.mark.parametrize(
    ("low", "baseline", "tolerance", "allowed"),
    [
        (0.375, 0.5, 0.25, True),  # exactly at the bar 0.5 * (1 - 0.25)
        (0.3749, 0.5, 0.25, False),
        (0.1, 0.1, 0.0, True),
        (0.09, 0.1, 0.0, False),
        (-0.11, -0.1, 0.1, True),  # negative baseline: the bar is -0.11, below it
        (-0.12, -0.1, 0.1, False),
        (float("nan"), 0.1, 0.05, False),
    ],
)
def test_gate(low: float, baseline: float, tolerance: float, allowed: bool) -> None:
    ok, reason = ope.gate(estimate(low), baseline, tolerance=tolerance)
    assert ok is allowed
    assert reason.startswith("allowed" if allowed else "refused") and "dr" in reason


@pytest.mark.parametrize(
    ("baseline", "tolerance", "match"),
    [
        (0.1, -0.1, r"tolerance must lie in \[0, 1\)"),
        (0.1, 1.0, r"tolerance must lie in \[0, 1\)"),
        (float("nan"), 0.05, "baseline_value must be finite"),
    ],
)
def test_gate_rejects_bad_arguments(baseline: float, tolerance: float, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ope.gate(estimate(0.1), baseline, tolerance=tolerance)
