"""The learning orchestrator and the live market as Ray actors: a killed orchestrator
leaves no cycle running (closed as interrupted when it comes back, never two running), and
one market per tenant is shared by every process and survives a restart."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator

import pytest
import ray

from actors import catalogue
from actors.learning import INTERRUPTED
from actors.market import MarketProxy
from core.db import learning as repo
from core.db.engine import Database
from core.db.models import LearningCycle
from core.platforms.base import AdSpec, BudgetChange, NotFoundError
from core.settings import Settings
from tests.support.learning_world import LearningWorld

pytestmark = [pytest.mark.ray, pytest.mark.heavy]


@pytest.fixture
def settings(make_settings: Callable[..., Settings], ray_session: None) -> Iterator[Settings]:
    s = make_settings("sqlite")
    yield s
    for role in ("learning_orchestrator", "market_simulator"):
        catalogue.kill(role, s)


def _wait(cond: Callable[[], bool], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def _alive(handle) -> bool:  # noqa: ANN001
    try:
        return ray.get(handle.ping.remote(), timeout=5)
    except Exception:
        return False


def _owner(handle) -> str | None:  # noqa: ANN001
    try:
        return ray.get(handle.status.remote(), timeout=5)["owner"]
    except Exception:
        return None


def test_killed_mid_cycle_never_leaves_two_running(settings: Settings) -> None:
    LearningWorld.build(settings, creatives=30, seed=5).sim.advance(1)
    db = Database(settings.db_url)
    handle = catalogue.get("learning_orchestrator", settings)
    rng = random.Random(0)
    seen: dict[str, str] = {}
    for _ in range(4):
        before = _owner(handle)
        started = ray.get(handle.start_cycle.remote("default", "api"))
        assert started["started"], started
        time.sleep(rng.uniform(0.0, 0.4))
        ray.kill(handle, no_restart=False)
        # a new instance answers once it has recovered (in its constructor)
        _wait(lambda old=before: _owner(handle) not in (None, old))
        with db.session() as s:
            running = s.query(LearningCycle).filter_by(status="running").all()
            assert running == []
            row = repo.get_cycle(s, tenant_id="default", cycle_id=started["cycle_id"])
            seen[row.cycle_id] = row.status
            assert row.status in ("completed", "partial") or row.error == INTERRUPTED
    # afterwards, a cycle runs to the end
    result = ray.get(handle.run_now.remote("default", "api"))
    assert result["status"] in ("completed", "partial") and len(result["steps"]) == 7
    db.dispose()


def test_one_live_market_for_everyone(settings: Settings) -> None:
    a = MarketProxy("t1", catalogue.get("market_simulator", settings))
    b = MarketProxy("t1", catalogue.get("market_simulator", settings))  # another process
    handle = catalogue.get("market_simulator", settings)
    campaign = ray.get(handle.call.remote("t1", "create_campaign", "c"))
    adset = ray.get(handle.call.remote("t1", "create_adset", campaign, 10_000))
    ad = a.create_ad(AdSpec(adset, "/m/v.mp4", "ad", "key-1", status="ACTIVE"))
    b.set_budget(BudgetChange(adset, 12_000, "key-2"))
    assert a.read_state(adset).daily_budget_minor == 12_000
    assert b.read_state(ad.ad_id).status == "ACTIVE"
    with pytest.raises(NotFoundError):
        a.read_state("sim-as-999")
    ray.kill(handle, no_restart=False)
    _wait(lambda: _alive(handle))
    assert b.read_state(adset).daily_budget_minor == 12_000  # state came back from the database


def test_ray_job_entry_point_runs_a_cycle(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from cluster.learning_job import main

    monkeypatch.setenv("DATABASE_URL", settings.db_url)
    monkeypatch.setenv("ADCLUSTER_DATA_DIR", settings.data_dir)
    monkeypatch.setenv("ADCLUSTER_RAY__NAMESPACE", settings.ray.namespace)
    assert main(["--tenant", "default"]) == 0
    line = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("RESULT ")][-1]
    result = json.loads(line.removeprefix("RESULT "))
    assert result["status"] == "completed" and result["trigger"] == "job"
