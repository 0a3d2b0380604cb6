"""GroupCommitter: concurrent items in one write, each answered with its own result."""

from __future__ import annotations

import asyncio
import threading

import pytest

from core.db.group_commit import GroupCommitter


def test_concurrent_items_share_a_write_and_get_their_own_results() -> None:
    started, gate = threading.Event(), threading.Event()
    calls: list[list[int]] = []

    def write(items: list[int]) -> list[int]:
        started.set()
        gate.wait(5)  # the first group waits, so the others queue up behind it
        calls.append(list(items))
        return [i * 10 for i in items]

    async def main() -> list[int]:
        gc = GroupCommitter(write, max_items=100, writers=1)
        tasks = [asyncio.create_task(gc.submit(0))]
        while not started.is_set():
            await asyncio.sleep(0.001)
        tasks += [asyncio.create_task(gc.submit(i)) for i in range(1, 20)]
        while gc.queued < 19:  # the writer holds item 0; the rest wait in the queue
            await asyncio.sleep(0.001)
        gate.set()
        return await asyncio.gather(*tasks)

    assert asyncio.run(main()) == [i * 10 for i in range(20)]
    assert calls[0] == [0] and calls[1] == list(range(1, 20))  # 19 items, one write


def test_max_items_bounds_a_group() -> None:
    sizes: list[int] = []

    async def write(items: list[int]) -> list[int]:  # an async writer runs on the loop
        sizes.append(len(items))
        await asyncio.sleep(0)
        return items

    async def main() -> list[int]:
        gc = GroupCommitter(write, max_items=4, writers=1)
        return await asyncio.gather(*(gc.submit(i) for i in range(10)))

    assert asyncio.run(main()) == list(range(10))
    assert max(sizes) <= 4 and sum(sizes) == 10


def test_a_failing_item_fails_only_its_caller() -> None:
    def write(items: list[int]) -> list[int]:
        if 3 in items:
            raise ValueError("bad item 3")
        return items

    async def main() -> list[object]:
        gc = GroupCommitter(write, max_items=100, writers=1)
        results = await asyncio.gather(*(gc.submit(i) for i in range(6)), return_exceptions=True)
        assert gc.stats["retried_groups"] >= 1
        return results

    results = asyncio.run(main())
    assert [r for r in results if not isinstance(r, Exception)] == [0, 1, 2, 4, 5]
    assert isinstance(results[3], ValueError) and "bad item 3" in str(results[3])


def test_a_caller_that_goes_away_does_not_stop_the_write() -> None:
    written: list[int] = []
    gate = threading.Event()

    def write(items: list[int]) -> list[int]:
        gate.wait(5)
        written.extend(items)
        return items

    async def main() -> None:
        gc = GroupCommitter(write, max_items=100, writers=1)
        task = asyncio.create_task(gc.submit(7))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        gate.set()
        assert await gc.submit(8) == 8  # the writer is alive and wrote 7 before 8
        await gc.close()

    asyncio.run(main())
    assert written == [7, 8]


def test_result_count_mismatch_is_an_error_not_a_hang() -> None:
    async def main() -> None:
        gc = GroupCommitter(lambda items: [], max_items=10, writers=1)
        with pytest.raises(RuntimeError):
            await asyncio.wait_for(gc.submit(1), 5)

    asyncio.run(main())
