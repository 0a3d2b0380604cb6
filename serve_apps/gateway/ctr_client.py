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
from serve_apps.ctr.grouping import Request as CtrItem
from serve_apps.ctr.grouping import by_tenant, creatives_of, spread


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

    async def score(self, tenant_id: str, creatives: list[dict[str, Any]]) -> dict[str, Any]:
        """``{"model_version", "predictions"}`` or ``{"error": "no_champion"}``."""
        if self._group.max_items == 1:
            return await self.handle.predict.remote(tenant_id, creatives)
        return await self._group.submit((tenant_id, creatives))

    async def _call(self, items: list[CtrItem]) -> list[dict[str, Any]]:
        """One handle call per tenant over the group's creatives; each request its slice."""
        groups = by_tenant(items)
        answers = await asyncio.gather(
            *(
                self.handle.predict.remote(tenant_id, creatives_of(items, idx))
                for tenant_id, idx in groups.items()
            )
        )
        out: list[dict[str, Any]] = [{}] * len(items)
        for idx, answer in zip(groups.values(), answers, strict=True):
            spread(answer, items, idx, out)
        return out
