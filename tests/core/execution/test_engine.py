"""The executor's rounds against the fake Graph API on real PostgreSQL: exactly once, caps,
dry run, kill switch, crashes between the platform call and the database write, publishing,
rollback."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from core.db import changes as db_changes
from core.db.engine import Database
from core.db.models import AdChangeAudit, PendingAdChange
from core.execution.service import NewChange, request_change, request_rollback
from core.settings import Settings
from tests.support.executor_world import (
    ACCOUNT,
    TOKEN,
    World,
    drain,
    executor_config,
    make_executor,
    policy,
    queue_budgets,
)
from tests.support.fake_graph import FakeGraph, Faults


class Crash(Exception):
    """The worker dies here (nothing after this point runs)."""


@pytest.fixture
def pg(make_settings: Callable[..., Settings]) -> Iterator[Database]:
    database = Database(make_settings("postgresql").db_url)
    yield database
    database.dispose()


@pytest.fixture
def fake() -> Iterator[FakeGraph]:
    with FakeGraph(token=TOKEN) as server:
        yield server


def rows(db: Database) -> list[PendingAdChange]:
    with db.session() as s:
        return list(s.scalars(select(PendingAdChange).order_by(PendingAdChange.id)))


def audit(db: Database, change_id: int) -> list[str]:
    with db.session() as s:
        return [a.action for a in db_changes.audit_for(s, tenant_id="default", change_id=change_id)]


def test_a_budget_change_is_applied_once_and_audited(pg: Database, fake: FakeGraph) -> None:
    world = World.build(fake, 1, 1, budget=10_000)
    pol = policy()
    [cid] = queue_budgets(pg, world, pol, pct=0.1)
    assert queue_budgets(pg, world, pol, pct=0.1) == [cid]  # same key: the same change
    drain([make_executor(pg, fake, "w1", pol)])
    [row] = rows(pg)
    adset = row.object_id
    assert (row.status, row.old_value, row.applied_value, row.dry_run) == (
        "applied",
        10_000,
        11_000,
        False,
    )
    assert world.budget(adset) == 11_000 and world.applied_writes()[(adset, "daily_budget")] == 1
    assert audit(pg, cid) == ["requested", "applied"]
    with pg.session() as s:
        entry = s.scalars(select(AdChangeAudit).where(AdChangeAudit.action == "applied")).one()
    assert (entry.actor, entry.before, entry.after) == ("w1", 10_000, 11_000)
    assert entry.platform_response == {"success": True}


def test_over_cap_is_clamped_and_dry_run_sends_nothing(pg: Database, fake: FakeGraph) -> None:
    world = World.build(fake, 1, 2, budget=10_000)
    pol = policy(dry_run=True)
    queue_budgets(pg, world, pol, pct=0.5)  # +50%: clamped to +20%
    drain([make_executor(pg, fake, "w1", pol)])
    assert not world.applied_writes() and all(world.budget(a) == 10_000 for a in world.adsets)
    for row in rows(pg):
        assert (row.status, row.dry_run, row.decision, row.applied_value) == (
            "applied",
            True,
            "clamp",
            12_000,
        )
        assert audit(pg, row.id) == ["requested", "dry_run"]


def test_kill_switch_rejects_and_keeps_the_reason(pg: Database, fake: FakeGraph) -> None:
    world = World.build(fake, 1, 1)
    pol = policy()
    with pg.session() as s:
        db_changes.set_kill_switch(s, scope="default", engaged=True, set_by="ops", reason="audit")
    queue_budgets(pg, world, pol)
    drain([make_executor(pg, fake, "w1", pol)])
    [row] = rows(pg)
    assert (
        row.status == "rejected" and "kill switch on (tenant default, by ops: audit)" in row.error
    )
    assert not world.applied_writes()
    with pg.session() as s:  # released: the next change goes through
        db_changes.set_kill_switch(s, scope="default", engaged=False, set_by="ops")
        assert db_changes.kill_switch_reason(s, "default") is None
        db_changes.set_kill_switch(s, scope=db_changes.GLOBAL, engaged=True, set_by="ops")
        assert "global" in db_changes.kill_switch_reason(s, "other")


@pytest.mark.parametrize("point", ["claimed", "marked", "sent"])
def test_a_worker_that_dies_anywhere_leaves_each_change_applied_once(
    pg: Database, fake: FakeGraph, point: str
) -> None:
    world = World.build(fake, 2, 3)
    pol = policy()
    queue_budgets(pg, world, pol)

    def die(at: str) -> None:
        if at == point:
            raise Crash(at)

    doomed = make_executor(pg, fake, "w1", pol, crash=die)
    with pytest.raises(Crash):
        doomed.run_once()
    # The same worker id restarted takes back its claims at once (no lease wait).
    drain([make_executor(pg, fake, "w1", pol)])
    assert {r.status for r in rows(pg)} == {"applied"}
    writes = world.applied_writes()
    assert all(writes[(a, "daily_budget")] == 1 for a in world.adsets), writes
    assert all(world.budget(a) == 11_000 for a in world.adsets)
    if point == "sent":
        recovered = [r for r in rows(pg) if r.result == {"read_back": True}]
        assert len(recovered) == len(world.adsets)  # read back, not sent again


def test_an_expired_lease_is_taken_over_by_another_worker(pg: Database, fake: FakeGraph) -> None:
    world = World.build(fake, 1, 2)
    pol = policy()
    queue_budgets(pg, world, pol)

    def die(at: str) -> None:
        if at == "sent":
            raise Crash(at)

    with pytest.raises(Crash):
        make_executor(pg, fake, "w1", pol, executor_config(lease_s=0.2), crash=die).run_once()
    other = make_executor(pg, fake, "w2", pol)
    assert other.run_once() == 0  # the lease still holds
    drain([other])  # polls until the lease expires, then reads back: nothing sent twice
    assert all(r.status == "applied" and r.claimed_by == "w2" for r in rows(pg))
    assert all(n == 1 for n in world.applied_writes().values())


def race(executors: list, rounds_done: threading.Event | None = None) -> None:
    errors: list[BaseException] = []

    def run(e) -> None:  # type: ignore[no-untyped-def]
        try:
            drain([e])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(e,)) for e in executors]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not errors, errors


@pytest.mark.parametrize(
    "n", [pytest.param(60, id="60"), pytest.param(1000, id="1000", marks=pytest.mark.heavy)]
)
def test_two_executors_racing_apply_each_change_exactly_once(
    pg: Database, fake: FakeGraph, n: int
) -> None:
    world = World.build(fake, n // 10, 10)
    pol = policy()
    ids = queue_budgets(pg, world, pol)
    a, b = (make_executor(pg, fake, w, pol) for w in ("w1", "w2"))
    race([a, b])
    assert [r.status for r in rows(pg)] == ["applied"] * len(ids)
    writes = world.applied_writes()
    assert len(writes) == n and set(writes.values()) == {1}
    assert a.processed["applied"] > 0 and b.processed["applied"] > 0
    assert a.processed["applied"] + b.processed["applied"] == n


@pytest.mark.parametrize(
    "n", [pytest.param(40, id="40"), pytest.param(1000, id="1000", marks=pytest.mark.heavy)]
)
def test_with_injected_errors_everything_is_applied_within_the_caps(
    make_settings: Callable[..., Settings], n: int
) -> None:
    """20% rate-limit and 5xx errors, two executors, two rounds of budget moves."""
    pg = Database(make_settings("postgresql").db_url)
    pol = policy(over_cap="reject")
    cfg = executor_config(max_attempts=50)
    with FakeGraph(token=TOKEN, faults=Faults(error_rate=0.2, seed=3)) as fake:
        world = World.build(fake, n // 5, 5)
        queue_budgets(pg, world, pol, pct=0.1)
        race([make_executor(pg, fake, w, pol, cfg) for w in ("w1", "w2")])
        with pg.session() as s:  # +8% more: 18.8% over the window, within the 20% velocity
            for adset, campaign in world.adsets.items():
                change = NewChange(
                    "budget",
                    f"c-{adset}",
                    ACCOUNT,
                    campaign,
                    round(world.budget(adset) * 1.08),
                    ad_set_id=adset,
                )
                request_change(s, change, tenant_id="default", requested_by="t", policy=pol)
        race([make_executor(pg, fake, w, pol, cfg) for w in ("w1", "w2")])
        all_rows = rows(pg)
        assert {r.status for r in all_rows} == {"applied"}, {r.error for r in all_rows}
        assert all(world.budget(a) == round(11_000 * 1.08) for a in world.adsets)
        assert set(world.applied_writes().values()) == {2}
        assert any(c.status != 200 for c in fake.calls)  # the faults did fire
    assert_within_caps(all_rows, pol)
    pg.dispose()


def assert_within_caps(all_rows: list[PendingAdChange], pol) -> None:  # type: ignore[no-untyped-def]
    """Every applied change against every cap, from the recorded history."""
    cfg = pol.config
    hour, six = timedelta(hours=cfg.action_window_h), timedelta(hours=cfg.velocity_window_h)
    applied = sorted(
        (r for r in all_rows if r.status in ("applied", "rolled_back") and not r.dry_run),
        key=lambda r: r.applied_at,
    )  # noqa: E501
    for r in applied:
        window = [
            o
            for o in applied
            if o.campaign_id == r.campaign_id and r.applied_at - hour < o.applied_at <= r.applied_at
        ]
        assert len(window) <= cfg.max_actions_per_campaign
        if r.kind == "budget":
            assert abs(r.applied_value - r.old_value) <= r.old_value * cfg.max_change_pct
            held = [
                v
                for o in applied
                if o.object_id == r.object_id and r.applied_at - six < o.applied_at <= r.applied_at
                for v in (o.old_value, o.applied_value)
            ]
            assert max(held) <= min(held) * (1 + cfg.max_velocity_pct) + 1


def test_racing_executors_never_pass_the_campaign_action_cap(pg: Database, fake: FakeGraph) -> None:
    """20 status changes on one campaign, two executors: 15 applied, 5 rejected."""
    c = fake.add("campaign", account_id=ACCOUNT, status="ACTIVE", name="hot")
    adset = fake.add("adset", account_id=ACCOUNT, campaign_id=c, daily_budget=1000, status="ACTIVE")
    pol = policy()
    with pg.session() as s:
        for i in range(20):
            ad = fake.add("ad", adset_id=adset, status="ACTIVE", name=f"ad{i}")
            change = NewChange("status", f"s-{i}", ACCOUNT, c, "PAUSED", ad_set_id=adset, ad_id=ad)
            request_change(s, change, tenant_id="default", requested_by="t", policy=pol)
    cfg = executor_config(batch_size=3, defer_window_rejections=False)
    race([make_executor(pg, fake, w, pol, cfg) for w in ("w1", "w2")])
    statuses = [r.status for r in rows(pg)]
    assert statuses.count("applied") == 15 and statuses.count("rejected") == 5
    assert all("actions in the last" in r.error for r in rows(pg) if r.status == "rejected")
    assert sum(world_writes(fake).values()) == 15
    assert_within_caps(rows(pg), pol)


def world_writes(fake: FakeGraph) -> dict:
    return World(fake).applied_writes()


def test_a_publish_creates_one_creative_and_one_ad_per_change(
    pg: Database, fake: FakeGraph, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    world = World.build(fake, 1, 1)
    [adset] = world.adsets
    video = tmp_path / "v.mp4"
    video.write_bytes(b"\0" * 150_000)
    pol = policy()
    with pg.session() as s:
        for i in range(3):
            spec = {"video_path": str(video), "name": f"ad {i}", "headline": "h"}
            change = NewChange(
                "create_ad", f"p-{i}", ACCOUNT, world.adsets[adset], spec, ad_set_id=adset
            )  # noqa: E501
            request_change(s, change, tenant_id="default", requested_by="t", policy=pol)
    crashed = []

    def die_once(at: str) -> None:  # the first worker dies after publishing, before recording
        if at == "sent" and not crashed:
            crashed.append(at)
            raise Crash(at)

    with pytest.raises(Crash):
        make_executor(pg, fake, "w1", pol, crash=die_once).run_once()
    drain([make_executor(pg, fake, "w1", pol)])
    published = rows(pg)
    assert {r.status for r in published} == {"applied"}
    assert len(fake.of_type("ad")) == 3 and len(fake.of_type("creative")) == 3
    assert len(fake.of_type("video")) == 3
    assert all(a["status"] == "PAUSED" for a in fake.of_type("ad"))
    assert sorted(r.ad_id for r in published) == sorted(a["id"] for a in fake.of_type("ad"))
    assert [r.result["created"] for r in published] == [False] * 3  # found, not made again


@pytest.mark.parametrize("kind", ["budget", "status"])
def test_rollback_restores_the_previous_value_and_is_audited(
    pg: Database, fake: FakeGraph, kind: str
) -> None:
    world = World.build(fake, 1, 1, budget=10_000)
    [adset] = world.adsets
    campaign = world.adsets[adset]
    pol = policy()
    value = 11_500 if kind == "budget" else "PAUSED"
    with pg.session() as s:
        first, _ = request_change(
            s,
            NewChange(kind, "k1", ACCOUNT, campaign, value, ad_set_id=adset),
            tenant_id="default",
            requested_by="t",
            policy=pol,
        )
    drain([make_executor(pg, fake, "w1", pol)])
    field = "daily_budget" if kind == "budget" else "status"
    assert fake.objects[adset][field] == value
    with pg.session() as s:
        undo, created = request_rollback(
            s, tenant_id="default", change_id=first.id, requested_by="api:x", policy=pol
        )
        again, created_again = request_rollback(
            s, tenant_id="default", change_id=first.id, requested_by="api:x", policy=pol
        )
    assert created and not created_again and again.id == undo.id
    drain([make_executor(pg, fake, "w1", pol)])
    assert fake.objects[adset][field] == (10_000 if kind == "budget" else "ACTIVE")
    by_id = {r.id: r for r in rows(pg)}
    assert by_id[first.id].status == "rolled_back" and by_id[undo.id].status == "applied"
    assert by_id[undo.id].rollback_of == first.id
    assert audit(pg, undo.id) == ["requested", "applied"]
    with pg.session() as s:
        [entry] = [
            a
            for a in db_changes.audit_for(s, tenant_id="default", change_id=undo.id)
            if a.action == "applied"
        ]  # noqa: E501
    assert (entry.before, entry.after) == (value, 10_000 if kind == "budget" else "ACTIVE")
