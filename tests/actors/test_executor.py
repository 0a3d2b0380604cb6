"""The SafeExecutor actor class: its loop wakes on PostgreSQL NOTIFY, and a process killed
at random moments (SIGKILL, five times) still applies every change exactly once."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import select

from core.config import REPO_ROOT
from core.db.engine import Database
from core.db.models import PendingAdChange
from core.settings import Settings
from tests.support.executor_world import ACCOUNT, TOKEN, World, policy, queue_budgets
from tests.support.fake_graph import FakeGraph


@pytest.fixture
def fake() -> Iterator[FakeGraph]:
    with FakeGraph(token=TOKEN) as server:
        yield server


def executor_env(fake: FakeGraph, db_url: str, **extra: str) -> dict[str, str]:
    """The environment that points an executor at the fake Graph API, no delays, no dry run."""
    return {
        "DATABASE_URL": db_url,
        "ADCLUSTER_PLATFORMS__ADAPTER": "meta",
        "ADCLUSTER_PLATFORMS__META__GRAPH_URL": fake.url,
        "ADCLUSTER_PLATFORMS__META__VIDEO_GRAPH_URL": fake.url,
        "ADCLUSTER_PLATFORMS__META__BACKOFF_BASE_S": "0.001",
        "ADCLUSTER_PLATFORMS__META__BACKOFF_MAX_S": "0.01",
        "ADCLUSTER_SAFETY__DRY_RUN": "false",
        "ADCLUSTER_SAFETY__DELAY_MIN_S": "0",
        "ADCLUSTER_SAFETY__DELAY_MAX_S": "0",
        "META_ACCESS_TOKEN_DEFAULT": TOKEN,
        "META_AD_ACCOUNTS_DEFAULT": ACCOUNT,
        **extra,
    }


def wait_until(cond: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def statuses(db: Database) -> list[str]:
    with db.session() as s:
        return list(s.scalars(select(PendingAdChange.status)))


def test_notify_wakes_the_loop_long_before_the_poll(
    make_settings: Callable[..., Settings], fake: FakeGraph, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings("postgresql")
    env = executor_env(fake, settings.db_url, ADCLUSTER_EXECUTOR__POLL_INTERVAL_S="60")
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    from actors.executor import SafeExecutor

    executor = SafeExecutor(settings.to_overrides(), worker_id="listen-test")
    db = Database(settings.db_url)
    try:
        world = World.build(fake, 1, 2)
        started = time.monotonic()
        queue_budgets(db, world, policy())
        wait_until(lambda: statuses(db) == ["applied", "applied"], timeout=30)
        assert time.monotonic() - started < 30  # woken by NOTIFY, not by the 60 s poll
        assert executor.stats()["worker"] == "listen-test"
    finally:
        executor.stop()
        db.dispose()


RUNNER = """
import sys, time
from core.settings import Settings
from actors.executor import SafeExecutor
SafeExecutor(Settings.load().to_overrides(), worker_id=sys.argv[1])
while True:
    time.sleep(1)
"""


@pytest.mark.parametrize(
    "n", [pytest.param(120, id="120"), pytest.param(1000, id="1000", marks=pytest.mark.heavy)]
)
def test_killed_five_times_at_random_moments_still_exactly_once(
    make_settings: Callable[..., Settings], fake: FakeGraph, n: int
) -> None:
    settings = make_settings("postgresql")
    db = Database(settings.db_url)
    world = World.build(fake, n // 10, 10)
    queue_budgets(db, world, policy())
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        **executor_env(
            fake,
            settings.db_url,
            ADCLUSTER_EXECUTOR__POLL_INTERVAL_S="0.05",
            ADCLUSTER_EXECUTOR__GRAPH_BATCH="false",  # one request a change: more moments to die
            ADCLUSTER_EXECUTOR__LEASE_S="2",
        ),
    }
    rng = random.Random(11)
    kills = 0
    try:
        while True:
            proc = subprocess.Popen([sys.executable, "-c", RUNNER, "w1"], env=env)
            if kills == 5:
                wait_until(
                    lambda: "pending" not in statuses(db) and "claimed" not in statuses(db), 300
                )  # noqa: E501
                proc.terminate()
                proc.wait(timeout=30)
                break
            # die at a random moment once it has started applying (unless all is done:
            # on a fast run the last restarts may find nothing left to apply)
            seen = len(fake.calls)

            def done() -> bool:
                return not {"pending", "claimed"} & set(statuses(db))

            wait_until(lambda seen=seen: len(fake.calls) > seen or done(), 60)
            if len(fake.calls) == seen:  # nothing left to apply: stop this one, then check
                proc.terminate()
                proc.wait(timeout=30)
                kills = 5
                continue
            time.sleep(rng.uniform(0.0, 0.4))
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            kills += 1
    finally:
        if proc.poll() is None:
            proc.kill()
    assert statuses(db) == ["applied"] * n
    writes = world.applied_writes()
    assert len(writes) == n and set(writes.values()) == {1}, writes.most_common(3)
    assert all(world.budget(a) == 11_000 for a in world.adsets)
    db.dispose()
