"""Group commit: concurrent callers' items written in one transaction, each answered after it.

Whatever arrives while a writer is busy waits in a queue; the next free writer takes all of
it (up to ``max_items``) and runs ``write(items)`` once, in a worker thread, in one
transaction. Each caller's future resolves only after that commit, so an acknowledged item
is durable. No timer: an idle system writes each item at once, a loaded one in larger
groups (fewer commits and round trips per item, which is where the throughput comes from).

A group that fails is retried item by item, so one bad item fails only its own caller.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

log = logging.getLogger("adcluster.db.group_commit")


class GroupCommitter(Generic[T, R]):
    """``await submit(item)`` -> ``write([..., item, ...])[i]``, written with its neighbours.

    ``write`` takes a list of items and returns one result per item, in order, after its
    transaction committed: a coroutine function (awaited on the loop, for async drivers)
    or a plain one (run in a worker thread). ``after`` (optional) runs on the event loop
    with each committed group (notifications that may be lost without losing data).
    Create it anywhere; its writer tasks start on the running loop at the first ``submit``.
    """

    def __init__(
        self,
        write: Callable[[list[T]], Sequence[R]] | Callable[[list[T]], Awaitable[Sequence[R]]],
        *,
        max_items: int = 256,
        writers: int = 1,
        after: Callable[[list[T], list[R]], None] | None = None,
    ) -> None:
        if max_items < 1 or writers < 1:
            raise ValueError("max_items and writers must be >= 1")
        self._write = write
        self._is_async = inspect.iscoroutinefunction(write)
        self._after = after
        self.max_items = max_items
        self.writers = writers
        self._queue: asyncio.Queue[tuple[T, asyncio.Future[R]]] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.stats = {"groups": 0, "items": 0, "retried_groups": 0, "largest_group": 0}

    async def submit(self, item: T) -> R:
        """Queue ``item``; return its result once its group has committed."""
        queue = self._ensure_started()
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        await queue.put((item, future))
        return await future

    @property
    def queued(self) -> int:
        return 0 if self._queue is None else self._queue.qsize()

    async def close(self) -> None:
        """Stop the writers after the queue has drained."""
        if self._queue is not None:
            await self._queue.join()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        self._queue = None

    def _ensure_started(self) -> asyncio.Queue[tuple[T, asyncio.Future[R]]]:
        if self._queue is None or not self._tasks or all(t.done() for t in self._tasks):
            self._queue = asyncio.Queue()
            self._tasks = [
                asyncio.create_task(self._writer(self._queue), name=f"group-commit-{i}")
                for i in range(self.writers)
            ]
        return self._queue

    async def _writer(self, queue: asyncio.Queue[tuple[T, asyncio.Future[R]]]) -> None:
        while True:
            group = [await queue.get()]
            while len(group) < self.max_items and not queue.empty():
                group.append(queue.get_nowait())
            try:
                await self._commit(group)
            except Exception:  # never let a writer die: its callers would wait forever
                log.exception("group commit writer error")
                for _, future in group:
                    if not future.done():
                        future.set_exception(RuntimeError("group writer failed"))
            finally:
                for _ in group:
                    queue.task_done()

    async def _commit(self, group: list[tuple[T, asyncio.Future[R]]]) -> None:
        items = [item for item, _ in group]
        try:
            if self._is_async:
                results = list(await self._write(items))  # type: ignore[misc]
            else:
                results = list(await asyncio.to_thread(self._write, items))  # type: ignore[arg-type]
        except Exception as exc:
            if len(group) == 1:
                _resolve(group[0][1], exc=exc)
                return
            self.stats["retried_groups"] += 1
            log.warning(
                "group write failed; retrying item by item",
                extra={"items": len(group), "error": type(exc).__name__},
            )
            for one in group:
                await self._commit([one])
            return
        if len(results) != len(items):
            raise RuntimeError(f"write returned {len(results)} results for {len(items)} items")
        self.stats["groups"] += 1
        self.stats["items"] += len(items)
        self.stats["largest_group"] = max(self.stats["largest_group"], len(items))
        for (_, future), result in zip(group, results, strict=True):
            _resolve(future, result=result)
        if self._after is not None:
            try:
                self._after(items, results)
            except Exception:
                log.exception("group commit after-hook failed")


def _resolve(
    future: asyncio.Future, *, result: object = None, exc: BaseException | None = None
) -> None:
    if future.done():  # the caller went away (disconnect, timeout): the item is written anyway
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)
