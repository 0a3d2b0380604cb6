"""The gateway's prediction-log client: batches, bounds, never blocks, counts every loss."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ray.exceptions import ActorDiedError

from core.settings import Settings
from serve_apps.gateway.prediction_log import PredictionLogClient

BASE = Settings.load().prediction_log


class FakeActor:
    """Stands in for an ActorRef: ``handle.write.remote(batch)`` is awaitable."""

    def __init__(self, *, fail: BaseException | None = None) -> None:
        self.batches: list[list[dict[str, Any]]] = []
        self.fail = fail
        self.gate = asyncio.Event()
        self.gate.set()
        self.forgotten = 0
        self.handle = self
        self.write = self

    def remote(self, batch: list[dict[str, Any]]) -> Any:
        async def call() -> int:
            await self.gate.wait()
            if self.fail is not None:
                raise self.fail
            self.batches.append(batch)
            return len(batch)

        return call()

    def forget_if_dead(self, exc: BaseException | None) -> None:
        if isinstance(exc, ActorDiedError):
            self.forgotten += 1


def client(actor: FakeActor, **changes: Any) -> PredictionLogClient:
    return PredictionLogClient(actor, BASE.model_copy(update=changes))  # type: ignore[arg-type]


def test_full_batches_go_at_once_and_the_tail_after_the_interval() -> None:
    async def run() -> None:
        actor = FakeActor()
        c = client(actor, batch_size=10, flush_interval_s=0.05)
        for i in range(25):
            assert c.submit({"i": i})
        await asyncio.sleep(0)  # let the two full batches be written
        assert [len(b) for b in actor.batches] == [10, 10]
        assert await c.flush(5)
        assert [len(b) for b in actor.batches] == [10, 10, 5]
        assert (c.written, c.dropped, c.pending) == (25, 0, 0)
        rows = [r["i"] for b in actor.batches for r in b]
        assert rows == list(range(25))

    asyncio.run(run())


def test_a_slow_actor_bounds_the_buffer_and_drops_are_counted() -> None:
    async def run() -> None:
        actor = FakeActor()
        actor.gate.clear()  # the actor does not answer
        c = client(actor, batch_size=10, max_in_flight=2, queue_size=30)
        start = time.perf_counter()
        accepted = [c.submit({"i": i}) for i in range(200)]
        assert time.perf_counter() - start < 0.5  # submit never waits
        # two batches in flight (20 rows) + a full buffer (30 rows); the rest dropped
        assert accepted.count(True) == 50 and c.dropped == 150
        actor.gate.set()
        assert await c.flush(5)
        assert c.written == 50 and c.pending == 0

    asyncio.run(run())


def test_a_failed_batch_is_counted_and_a_dead_actor_forgotten() -> None:
    async def run() -> None:
        actor = FakeActor(fail=ActorDiedError())
        c = client(actor, batch_size=5)
        for i in range(12):
            c.submit({"i": i})
        assert await c.flush(5)
        assert c.written == 0 and c.dropped == 12 and actor.forgotten >= 1

    asyncio.run(run())
