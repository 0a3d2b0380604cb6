"""CtrClient: concurrent requests grouped into one CtrModel call per tenant, each answered
with its own slice; errors stay with their tenant; group size 1 is a call per request."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from serve_apps.gateway.ctr_client import CtrClient


class FakeCtrModel:
    """Stands in for the deployment handle: ``predict.remote(tenant, rows)`` scores each row
    as its ``x`` (so a request can check it got its own rows back) after a short delay."""

    def __init__(self, *, no_champion: set[str] = frozenset(), fail: bool = False) -> None:
        self.calls: list[tuple[str, int]] = []
        self.no_champion = no_champion
        self.fail = fail
        self.predict = self

    def remote(self, tenant: str, rows: list[dict[str, Any]]) -> Any:
        self.calls.append((tenant, len(rows)))
        return self._answer(tenant, rows)

    async def _answer(self, tenant: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
        await asyncio.sleep(0.01)
        if self.fail:
            raise ConnectionError("replica gone")
        if tenant in self.no_champion:
            return {"error": "no_champion"}
        return {"model_version": f"v-{tenant}", "predictions": [r["x"] for r in rows]}


def _rows(tag: int, n: int) -> list[dict[str, Any]]:
    return [{"x": tag * 100 + j} for j in range(n)]


async def _burst(client: CtrClient, requests: list[tuple[str, list[dict[str, Any]]]]) -> list:
    return await asyncio.gather(
        *(client.score(t, rows) for t, rows in requests), return_exceptions=True
    )


def test_concurrent_requests_share_calls_and_get_their_own_rows() -> None:
    model = FakeCtrModel()
    client = CtrClient(model, group_requests=64, calls_in_flight=1)
    requests = [("a", _rows(i, 1 + i % 3)) for i in range(40)]
    answers = asyncio.run(_burst(client, requests))
    for (_, rows), answer in zip(requests, answers, strict=True):
        assert answer == {"model_version": "v-a", "predictions": [r["x"] for r in rows]}
    # The first request goes alone (nothing else queued yet); the rest wait for one call.
    assert len(model.calls) <= 3
    assert sum(n for _, n in model.calls) == sum(len(r) for _, r in requests)


def test_one_call_per_tenant_and_errors_stay_with_their_tenant() -> None:
    model = FakeCtrModel(no_champion={"b"})
    client = CtrClient(model, group_requests=64, calls_in_flight=1)

    async def run() -> list:
        first = asyncio.ensure_future(client.score("a", _rows(99, 1)))  # occupies the caller
        await asyncio.sleep(0)
        rest = await _burst(client, [("a" if i % 2 else "b", _rows(i, 2)) for i in range(10)])
        return [await first, *rest]

    answers = asyncio.run(run())
    assert answers[0]["predictions"] == [9900]
    for i, answer in enumerate(answers[1:]):
        if i % 2:
            assert answer == {"model_version": "v-a", "predictions": [i * 100, i * 100 + 1]}
        else:
            assert answer == {"error": "no_champion"}
    grouped = model.calls[1:]
    assert sorted(t for t, _ in grouped) == ["a", "b"]  # one call per tenant for the group
    assert dict(grouped) == {"a": 10, "b": 10}


def test_group_size_one_is_a_call_per_request_and_can_change_live() -> None:
    model = FakeCtrModel()
    client = CtrClient(model, group_requests=1, calls_in_flight=1)
    asyncio.run(_burst(client, [("a", _rows(i, 1)) for i in range(12)]))
    assert len(model.calls) == 12
    client.group_requests = 32
    model.calls.clear()
    asyncio.run(_burst(client, [("a", _rows(i, 1)) for i in range(12)]))
    assert len(model.calls) < 12
    with pytest.raises(ValueError):
        client.group_requests = 0


def test_a_failed_call_fails_each_request_of_it() -> None:
    model = FakeCtrModel(fail=True)
    client = CtrClient(model, group_requests=64, calls_in_flight=1)
    answers = asyncio.run(_burst(client, [("a", _rows(i, 1)) for i in range(6)]))
    assert all(isinstance(a, ConnectionError) for a in answers)
