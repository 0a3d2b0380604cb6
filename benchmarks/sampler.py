"""Thompson selection over 1,000 arms: adcluster's sampler vs MABWiser, in the same run.

Both sides hold the same Beta(1 + clicks, 1 + non-clicks) posteriors. Measured:

* in-process, one selection per call: ``SamplerState.select(n=1)`` vs ``MAB.predict()``
  (the headline ``ratio``, target >= 10x);
* in-process, batched: ``select(n=B)`` vs ``MAB.predict(contexts)`` with ``B`` rows;
* through the sampler actor with batched draws (``actor_selections_per_s``, target >= 4,000/s),
  and one selection per actor call for reference.

Usage: ``python benchmarks/sampler.py [--arms 1000] [--seconds 2] [--batch 1000]``.
Writes ``benchmarks/results/sampler.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from core.domain.sampler import ExperimentSpec, SamplerConfig, SamplerState  # noqa: E402
from core.domain.thompson import Evidence  # noqa: E402

TARGETS = {"ratio": 10.0, "actor_selections_per_s": 4000.0}


def rate(fn: Callable[[], int], seconds: float, repeats: int = 3) -> float:
    """Median of ``repeats`` runs of selections per second (``fn`` returns selections made)."""
    rates = []
    for _ in range(repeats):
        done, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds:
            done += fn()
        rates.append(done / elapsed)
    return statistics.median(rates)


def synthetic_counts(arms: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Impressions and clicks per arm: CTRs around 2%, 100 to 300 impressions each."""
    rng = np.random.default_rng(seed)
    impressions = rng.integers(100, 300, size=arms)
    ctr = np.clip(rng.normal(0.02, 0.008, size=arms), 0.001, 0.2)
    return impressions, rng.binomial(impressions, ctr)


def mabwiser_side(impressions: np.ndarray, clicks: np.ndarray, seconds: float, batch: int) -> dict:
    from mabwiser.mab import MAB, LearningPolicy

    arms = list(range(impressions.size))
    decisions = np.repeat(arms, impressions)
    rewards = np.concatenate(
        [np.r_[np.ones(c), np.zeros(n - c)] for n, c in zip(impressions, clicks, strict=True)]
    )
    mab = MAB(arms, LearningPolicy.ThompsonSampling(), seed=7)
    mab.fit(decisions, rewards)
    contexts = np.zeros((batch, 1))

    def one() -> int:
        mab.predict()
        return 1

    def many() -> int:
        return len(mab.predict(contexts))

    return {"single_per_s": rate(one, seconds), "batch_per_s": rate(many, seconds, repeats=2)}


def in_process_side(
    impressions: np.ndarray, clicks: np.ndarray, seconds: float, batch: int
) -> dict:
    ad_ids = tuple(f"ad{i:04d}" for i in range(impressions.size))
    state = SamplerState(rng=np.random.default_rng(7))
    evidence = {
        a: Evidence(
            successes=float(c),
            failures=float(n - c),
            at=0.0,
            last_trials=int(n),
            last_successes=int(c),
        )
        for a, n, c in zip(ad_ids, impressions, clicks, strict=True)
    }
    state.add(ExperimentSpec("bench", "default", ad_ids), evidence)

    def one() -> int:
        state.select("default", "bench", 1)
        return 1

    def many() -> int:
        return len(state.select("default", "bench", batch))

    return {"single_per_s": rate(one, seconds), "batch_per_s": rate(many, seconds)}


def actor_side(impressions: np.ndarray, clicks: np.ndarray, seconds: float, batch: int) -> dict:
    import ray

    from actors import catalogue
    from core.db.engine import Database
    from core.db.migrate import prepare
    from core.db.models import Ad, PerformanceMetric
    from core.settings import Settings

    tmp = Path(tempfile.mkdtemp(prefix="adc-bench-"))
    settings = Settings.load(
        data_dir=str(tmp),
        database_url=f"sqlite:///{tmp / 'bench.db'}",
        ray={"namespace": f"bench-{uuid.uuid4().hex[:8]}"},
    )
    db = Database(settings.db_url)
    prepare(db, settings)
    ad_ids = [f"ad{i:04d}" for i in range(impressions.size)]
    now = datetime.now(UTC)
    with db.session() as s:
        s.add_all(Ad(ad_id=a, launched_at=now) for a in ad_ids)
        s.flush()
        s.add_all(
            PerformanceMetric(
                ad_id=a,
                impressions=int(n),
                clicks=int(c),
                conversions=0,
                ctr=float(c / n),
                roas=0.0,
                observed_at=now,
            )
            for a, n, c in zip(ad_ids, impressions, clicks, strict=True)
        )
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        sampler = catalogue.get("thompson_sampler", settings, config=SamplerConfig.load())
        exp = ray.get(sampler.create_experiment.remote(tenant_id="default", ad_ids=ad_ids))
        ray.get(sampler.select.remote("default", exp, batch))  # warm up

        def one() -> int:
            ray.get(sampler.select.remote("default", exp, 1))
            return 1

        def many() -> int:
            return len(ray.get(sampler.select.remote("default", exp, batch)))

        return {"batch_per_s": rate(many, seconds), "single_call_per_s": rate(one, seconds)}
    finally:
        ray.shutdown()
        db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--arms", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=2.0, help="per measurement")
    parser.add_argument("--batch", type=int, default=1000, help="draws per batched call")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/sampler.json")
    args = parser.parse_args()

    impressions, clicks = synthetic_counts(args.arms, seed=1)
    ours = in_process_side(impressions, clicks, args.seconds, args.batch)
    print(f"adcluster in-process: {ours}", flush=True)
    theirs = mabwiser_side(impressions, clicks, args.seconds, args.batch)
    print(f"MABWiser: {theirs}", flush=True)
    actor = actor_side(impressions, clicks, args.seconds, args.batch)
    print(f"adcluster actor: {actor}", flush=True)

    from importlib.metadata import version

    result = {
        "benchmark": "Thompson selection, adcluster vs MABWiser (same run, same posteriors)",
        "ratio": ours["single_per_s"] / theirs["single_per_s"],
        "actor_selections_per_s": actor["batch_per_s"],
        "batch_ratio": ours["batch_per_s"] / theirs["batch_per_s"],
        "targets": TARGETS,
        "met": {
            "ratio": ours["single_per_s"] / theirs["single_per_s"] >= TARGETS["ratio"],
            "actor_selections_per_s": actor["batch_per_s"] >= TARGETS["actor_selections_per_s"],
        },
        "setup": {
            "arms": args.arms,
            "batch": args.batch,
            "seconds_per_measurement": args.seconds,
            "statistic": "median of repeated runs, selections per second",
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "mabwiser": version("mabwiser"),
            "ray": version("ray"),
        },
        "raw": {
            "adcluster_in_process": ours,
            "adcluster_actor": actor,
            "mabwiser_in_process": theirs,
        },
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        json.dumps(
            {k: result[k] for k in ("ratio", "actor_selections_per_s", "batch_ratio", "met")}
        )
    )


if __name__ == "__main__":
    main()
