"""One off-policy evaluation end to end: split the log, fit the policy, estimate, gate.

The way in for ``adcluster ope`` and for the self-learning cycle's off-policy gate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.domain import ope
from core.learning import ope_policies
from core.learning.ope_data import BanditLog, OpeConfig


@dataclass(frozen=True)
class OpeReport:
    """Estimates of ``policy`` on ``n_eval`` rows, the logged baseline and the gate's verdict."""

    policy: str
    source: str
    layout: str
    n_log: int
    n_fit: int
    n_eval: int
    split: float  # fraction of the log the policy was fitted on (0: no split)
    items: list[str]
    probabilities: np.ndarray  # the policy over ``items``, shape (n_items,)
    estimates: dict[str, ope.Estimate]
    baseline: ope.Estimate  # the logging policy's on-policy mean reward on the same rows
    gate_estimator: str
    tolerance: float
    allowed: bool
    reason: str
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "log": self.source,
            "layout": self.layout,
            "n_log": self.n_log,
            "n_fit": self.n_fit,
            "n_eval": self.n_eval,
            "split": self.split,
            "policy_probabilities": dict(zip(self.items, self.probabilities.tolist(), strict=True)),
            "estimates": {k: e.to_dict() for k, e in self.estimates.items()},
            "logged": self.baseline.to_dict(),
            "gate": {
                "estimator": self.gate_estimator,
                "tolerance": self.tolerance,
                "baseline": self.baseline.value,
                "allowed": self.allowed,
                "reason": self.reason,
            },
            "warnings": self.warnings,
        }


def evaluate(
    log: BanditLog,
    policy: str,
    config: OpeConfig,
    *,
    split: float | None = None,
) -> OpeReport:
    """Evaluate ``policy`` (see :mod:`core.learning.ope_policies`) on ``log``.

    ``split``: fraction of the log (by time) to fit the policy on; the rest is evaluated.
    ``None``: ``config.policies.split`` for fitted policies (greedy, thompson), else 0 (the
    whole log is evaluated; ``logged`` is then fitted on the rows it is evaluated on).
    """
    if split is None:
        split = config.policies.split if policy in ope_policies.FITTED else 0.0
    warnings: list[str] = []
    if split > 0:
        fit, rest = log.split(split)
    else:
        fit = rest = log
        if policy in ope_policies.FITTED:
            warnings.append(
                f"{policy} is fitted on the rows it is evaluated on: the estimates are optimistic"
            )
    boot = config.bootstrap
    seeds = np.random.SeedSequence(boot.seed).spawn(2)
    policy_rng, boot_rng = (np.random.default_rng(s) for s in seeds)
    items = log.items
    probs = ope_policies.build(
        policy,
        fit,
        items,
        epsilon=config.policies.greedy_epsilon,
        draws=config.policies.thompson_draws,
        rng=policy_rng,
    )
    action = rest.actions(items)
    evaluated = set(rest.frame["item_id"])
    unseen = [i for i, p in zip(items, probs, strict=True) if p > 0 and i not in evaluated]
    if unseen:
        warnings.append(
            f"the policy gives probability to {len(unseen)} item(s) absent from the evaluated "
            f"rows ({', '.join(unseen[:5])}): IPS and SNIPS cannot see them"
        )
    reward = rest.frame["reward"].to_numpy(float)
    estimates = ope.estimate_all(
        reward=reward,
        action=action,
        pscore=rest.frame["propensity"].to_numpy(float),
        action_dist=np.broadcast_to(probs, (rest.n, len(items))),
        rounds=boot.rounds,
        confidence=boot.confidence,
        rng=boot_rng,
    )
    baseline = ope.on_policy(
        reward=reward, rounds=boot.rounds, confidence=boot.confidence, rng=boot_rng
    )
    allowed, reason = ope.gate(
        estimates[config.gate.estimator], baseline.value, tolerance=config.gate.tolerance
    )
    return OpeReport(
        policy=policy,
        source=log.source,
        layout=log.layout,
        n_log=log.n,
        n_fit=fit.n,
        n_eval=rest.n,
        split=split,
        items=items,
        probabilities=probs,
        estimates=estimates,
        baseline=baseline,
        gate_estimator=config.gate.estimator,
        tolerance=config.gate.tolerance,
        allowed=allowed,
        reason=reason,
        warnings=warnings,
    )
