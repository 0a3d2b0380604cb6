"""The gateway's side of the prediction log (SPEC §2): rows are buffered in the replica and
sent in batches to the ``prediction_log`` catalogue actor, which inserts them.

No thread and no database work in the replica: a batch costs one fire-and-forget actor call
from the event loop. Bounded: rows beyond ``queue_size`` waiting here, or a batch the actor
fails to write, are dropped and counted (``/metrics``); the request never waits.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from core.settings import PredictionLogSettings
from serve_apps.gateway.services import ActorRef

log = logging.getLogger("adcluster.gateway")


class PredictionLogClient:
    """Buffer + batcher in front of the ``prediction_log`` actor (one per replica)."""

    def __init__(self, actor: ActorRef, config: PredictionLogSettings) -> None:
        self.actor = actor
        self.config = config
        self.written = 0
        self.dropped = 0
        self._buffer: list[dict[str, Any]] = []
        self._in_flight: dict[asyncio.Future[Any], int] = {}
        self._flusher: asyncio.Task[None] | None = None

    @property
    def pending(self) -> int:
        """Rows accepted and not yet written or dropped."""
        return len(self._buffer) + sum(self._in_flight.values())

    def submit(self, row: dict[str, Any]) -> bool:
        """Accept ``row`` (call from the event loop); False, counted, when the buffer is full."""
        if len(self._buffer) >= self.config.queue_size:
            self.dropped += 1
            return False
        self._buffer.append(row)
        if len(self._buffer) >= self.config.batch_size:
            self._send()
        elif self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush_later())
        return True

    async def _flush_later(self) -> None:
        await asyncio.sleep(self.config.flush_interval_s)
        if self._buffer:
            self._send()

    def _send(self) -> None:
        """Send the buffer as one batch, unless ``max_in_flight`` batches await the actor
        (then the buffer keeps filling up to ``queue_size``)."""
        if len(self._in_flight) >= self.config.max_in_flight:
            return
        batch, self._buffer = self._buffer, []
        try:
            future = asyncio.ensure_future(self.actor.handle.write.remote(batch))
        except Exception as exc:  # no actor to send to: the rows are lost, counted
            self._lost(len(batch), exc)
            return
        self._in_flight[future] = len(batch)
        future.add_done_callback(self._done)

    def _done(self, future: asyncio.Future[Any]) -> None:
        rows = self._in_flight.pop(future)
        exc = None if future.cancelled() else future.exception()
        if exc is None and not future.cancelled():
            self.written += rows
        else:
            self.actor.forget_if_dead(exc)
            self._lost(rows, exc)
        if len(self._buffer) >= self.config.batch_size:
            self._send()

    def _lost(self, rows: int, exc: BaseException | None) -> None:
        self.dropped += rows
        log.warning(
            "prediction log batch dropped",
            extra={"rows": rows, "error": type(exc).__name__ if exc else "cancelled"},
        )

    async def flush(self, timeout_s: float = 10.0) -> bool:
        """Send what is buffered and wait for the actor; False on timeout (tests, shutdown)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self.pending and loop.time() < deadline:
            if self._buffer:
                self._send()
            await asyncio.sleep(0.01)
        return self.pending == 0
