"""The gateway's calls to the CtrModel deployment, grouped across concurrent requests.

Each call through a deployment handle costs both replicas about as much CPU as scoring one
creative (serialisation, routing, the replica's request bookkeeping), so a replica that
made one call per request would spend most of its time on calls. Instead the requests that
arrive while a call is in flight go together in the next one (``GroupCommitter``: no timer,
so an idle gateway calls at once), one call per tenant in the group; the CtrModel's
``@serve.batch`` then scores what all gateway replicas sent in one model call.

``group_requests`` 1 is one handle call per request (how the benchmark's other side runs).
"""

from __future__ import annotations

import asyncio
from typing import Any

from core.db.group_commit import GroupCommitter

CtrItem = tuple[str, list[dict[str, Any]]]  # (tenant, creatives of one request)


class CtrClient:
    """``await score(tenant, creatives)`` -> the CtrModel's answer for those creatives."""

    def __init__(self, handle: Any, *, group_requests: int, calls_in_flight: int) -> None:
        self.handle = handle
        self._group: GroupCommitter[CtrItem, dict[str, Any]] = GroupCommitter(
            self._call, max_items=group_requests, writers=calls_in_flight
        )

    @property
    def group_requests(self) -> int:
        return self._group.max_items

    @group_requests.setter
    def group_requests(self, n: int) -> None:
        """Live change (the Gateway's ``reconfigure``); the next group takes it."""
        if n < 1:
            raise ValueError("group_requests must be >= 1")
        self._group.max_items = n

    @property
    def stats(self) -> dict[str, int]:
        return self._group.stats

    async def score(self, tenant_id: str, creatives: list[dict[str, Any]]) -> dict[str, Any]:
        """``{"model_version", "predictions"}`` or ``{"error": "no_champion"}``."""
        if self._group.max_items == 1:
            return await self.handle.predict.remote(tenant_id, creatives)
        return await self._group.submit((tenant_id, creatives))

    async def _call(self, items: list[CtrItem]) -> list[dict[str, Any]]:
        """One handle call per tenant over the group's creatives; each request its slice."""
        by_tenant: dict[str, list[int]] = {}
        for i, (tenant_id, _) in enumerate(items):
            by_tenant.setdefault(tenant_id, []).append(i)
        answers = await asyncio.gather(
            *(
                self.handle.predict.remote(tenant_id, [c for i in idx for c in items[i][1]])
                for tenant_id, idx in by_tenant.items()
            )
        )
        out: list[dict[str, Any]] = [{}] * len(items)
        for idx, answer in zip(by_tenant.values(), answers, strict=True):
            start = 0
            for i in idx:
                n = len(items[i][1])
                if "error" in answer:
                    out[i] = answer
                else:
                    out[i] = {
                        "model_version": answer["model_version"],
                        "predictions": answer["predictions"][start : start + n],
                    }
                start += n
        return out
