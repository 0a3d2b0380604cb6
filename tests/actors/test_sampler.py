"""The sampler actor: decisions through its handle, and state that survives kills."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import ray
from sqlalchemy import select

from actors import catalogue
from core.db import experiments as repo
from core.db.engine import Database
from core.db.models import Ad, ExperimentArm, PerformanceMetric
from core.domain.sampler import ExperimentNotFound, SamplerConfig
from core.domain.thompson import InfeasibleAllocationError, fold_all
from core.settings import Settings

pytestmark = pytest.mark.ray

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ADS = [f"ad{i}" for i in range(6)]
CONFIG = SamplerConfig.load()


@pytest.fixture
def sampler_settings(settings: Settings, ray_session: None) -> Iterator[Settings]:
    """A fresh database (SQLite and PostgreSQL) with ads of two tenants."""
    db = Database(settings.db_url)
    with db.session() as s:
        s.add_all(Ad(ad_id=a, tenant_id="t1", launched_at=T0) for a in ADS)
        s.add(Ad(ad_id="other", tenant_id="t2", launched_at=T0))
    db.dispose()
    yield settings
    catalogue.kill("thompson_sampler", settings)


def commit_metrics(db: Database, ad_id: str, hours: float, imps: int, clicks: int) -> str:
    """Store a cumulative snapshot as the feedback route does; returns observed_at (ISO)."""
    at = T0 + timedelta(hours=hours)
    with db.session() as s:
        s.add(
            PerformanceMetric(
                tenant_id="t1",
                ad_id=ad_id,
                impressions=imps,
                clicks=clicks,
                conversions=clicks // 10,
                ctr=clicks / max(imps, 1),
                roas=0.0,
                observed_at=at,
            )
        )
    return at.isoformat()


def expected_evidence(db: Database, exp_id: str) -> dict[str, dict]:
    """What every committed snapshot implies, folded from scratch."""
    with db.session() as s:
        spec = repo.load_spec(s, tenant_id="t1", experiment_id=exp_id)
        assert spec is not None
        history = repo.metric_history(s, tenant_id="t1", ad_ids=list(spec.ad_ids))
        return {
            a: fold_all(repo.to_snapshots(history[a], spec.metric), spec.half_life_h).__dict__
            for a in spec.ad_ids
        }


def test_decisions_through_the_actor(sampler_settings: Settings) -> None:
    settings = sampler_settings
    db = Database(settings.db_url)
    sampler = catalogue.get("thompson_sampler", settings, config=CONFIG)
    exp = ray.get(sampler.create_experiment.remote(tenant_id="t1", ad_ids=ADS[:3]))
    for ad, clicks in zip(ADS[:3], (10, 80, 20), strict=True):
        at = commit_metrics(db, ad, 1, 2000, clicks)
        ray.get(
            sampler.record_feedback.remote(
                tenant_id="t1",
                ad_id=ad,
                impressions=2000,
                clicks=clicks,
                conversions=0,
                observed_at=at,
            )
        )

    # without observed_at (the database stamped the row) the arm is refolded from history
    commit_metrics(db, "ad2", 2, 3000, 30)
    n = ray.get(
        sampler.record_feedback.remote(
            tenant_id="t1", ad_id="ad2", impressions=3000, clicks=30, conversions=0
        )
    )
    assert n == 1

    picks = ray.get(sampler.select.remote("t1", exp, 1000))
    assert len(picks) == 1000 and picks.count("ad1") > 900

    alloc = ray.get(
        sampler.allocate.remote("t1", exp, total_budget=900.0, min_share=0.1, max_share=0.8)
    )
    amounts = {a["ad_id"]: a["amount"] for a in alloc["arms"]}
    assert sum(amounts.values()) == pytest.approx(900.0)
    assert amounts["ad1"] == pytest.approx(720.0) and min(amounts.values()) >= 90 - 1e-6

    with pytest.raises(ExperimentNotFound):
        ray.get(sampler.select.remote("t2", exp, 1))
    with pytest.raises(InfeasibleAllocationError):
        ray.get(sampler.allocate.remote("t1", exp, total_budget=10.0, min_share=0.5))

    # arm rows in the database show the same posteriors
    post = ray.get(sampler.posteriors.remote("t1", exp))
    with db.session() as s:
        rows = {r.ad_id: r for r in s.scalars(select(ExperimentArm))}
    for ad, a, b in zip(post["ad_ids"], post["alpha"], post["beta"], strict=True):
        assert (rows[ad].alpha, rows[ad].beta) == (a, b)
    assert (rows["ad1"].trials, rows["ad1"].successes) == (2000, 80)
    assert (rows["ad2"].trials, rows["ad2"].successes) == (3000, 30)
    assert post["evidence"] == expected_evidence(db, exp)


def test_arms_added_later_start_from_their_history(sampler_settings: Settings) -> None:
    settings = sampler_settings
    db = Database(settings.db_url)
    sampler = catalogue.get("thompson_sampler", settings, config=CONFIG)
    exp = ray.get(sampler.create_experiment.remote(tenant_id="t1", ad_ids=ADS[:2]))
    at = commit_metrics(db, "ad0", 1, 1000, 10)
    ray.get(
        sampler.record_feedback.remote(
            tenant_id="t1", ad_id="ad0", impressions=1000, clicks=10, conversions=1, observed_at=at
        )
    )
    commit_metrics(db, "ad3", 1, 4000, 200)  # a variant's history before it joins
    added = ray.get(sampler.add_arms.remote("t1", exp, ["ad3", "ad0", "ad4", "ad3"]))
    assert added == ["ad3", "ad4"]
    assert ray.get(sampler.add_arms.remote("t1", exp, ["ad4"])) == []
    post = ray.get(sampler.posteriors.remote("t1", exp))
    assert post["ad_ids"] == ["ad0", "ad1", "ad3", "ad4"]
    assert post["evidence"] == expected_evidence(db, exp)  # ad0 kept, ad3 folded from history
    assert post["evidence"]["ad3"]["last_trials"] == 4000
    assert post["evidence"]["ad0"]["last_trials"] == 1000
    alpha = dict(zip(post["ad_ids"], post["alpha"], strict=True))
    assert alpha["ad3"] == pytest.approx(CONFIG.defaults.prior_alpha + 200)
    assert alpha["ad4"] == CONFIG.defaults.prior_alpha
    with db.session() as s:
        events = repo.recent_events(s, tenant_id="t1", experiment_id=exp, limit=5)
    assert events[0].kind == "arms_added" and events[0].payload == {"ad_ids": ["ad3", "ad4"]}
    catalogue.kill("thompson_sampler", settings)  # a restarted actor rebuilds the same arms
    again = catalogue.get("thompson_sampler", settings, config=CONFIG)
    assert ray.get(again.posteriors.remote("t1", exp))["ad_ids"] == post["ad_ids"]
    with pytest.raises(ExperimentNotFound):
        ray.get(again.add_arms.remote("t2", exp, ["other"]))


def test_posteriors_survive_kills_mid_stream(sampler_settings: Settings) -> None:
    settings = sampler_settings
    db = Database(settings.db_url)
    sampler = catalogue.get("thompson_sampler", settings, config=CONFIG)
    plain = ray.get(sampler.create_experiment.remote(tenant_id="t1", ad_ids=ADS))
    decayed = ray.get(
        sampler.create_experiment.remote(tenant_id="t1", ad_ids=ADS[:3], half_life_h=6.0)
    )
    refs: list[ray.ObjectRef] = []
    halfway, killed = threading.Event(), threading.Event()

    def stream() -> None:
        totals = dict.fromkeys(ADS, 0)
        for step in range(60):
            ad = ADS[step % len(ADS)]
            totals[ad] += 100
            # every 7th snapshot arrives late (observed before the previous one of the ad)
            hours = step - 8 if step % 7 == 6 else step
            at = commit_metrics(db, ad, hours, totals[ad], totals[ad] // (3 + step % 4))
            # acknowledged: committed; the actor hears about it fire-and-forget
            refs.append(
                sampler.record_feedback.remote(
                    tenant_id="t1",
                    ad_id=ad,
                    impressions=totals[ad],
                    clicks=totals[ad] // (3 + step % 4),
                    conversions=0,
                    observed_at=at,
                )
            )
            if step == 30:  # the rest streams in while the actor restarts
                halfway.set()
                killed.wait(timeout=30)

    writer = threading.Thread(target=stream)
    writer.start()
    halfway.wait(timeout=60)
    ray.kill(sampler, no_restart=False)  # crash: Ray restarts it, in-flight calls are retried
    killed.set()
    writer.join(timeout=120)
    ray.get(refs)

    for exp in (plain, decayed):
        got = ray.get(sampler.posteriors.remote("t1", exp))["evidence"]
        assert got == expected_evidence(db, exp)

    # killed for good: the next getter call recreates it, refolded from the database
    ray.kill(sampler, no_restart=True)
    again = catalogue.get("thompson_sampler", settings, config=CONFIG)
    for exp in (plain, decayed):
        assert ray.get(again.posteriors.remote("t1", exp))["evidence"] == expected_evidence(db, exp)
    assert ray.get(again.rebuild.remote()) == 2
