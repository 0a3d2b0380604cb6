"""CTR scoring with the champion model, batched with ``@serve.batch``.

Thin shell over ``core.ml``: the gateway's ``POST /api/ml/predict/ctr`` calls ``predict``
through a deployment handle. Batch size, batch wait and the champion poll interval come from
``user_config`` in ``configs/serve.yaml`` (``reconfigure()``: no redeploy).

Zero-downtime model switch: a background task polls the registry every ``champion_poll_s``
for each tenant served; a new champion is loaded off the event loop and swapped in with one
assignment. Batches in flight keep the model they started with; no request waits or fails.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ray import serve

from core.db.engine import Database
from core.ml import registry
from core.ml.model import Model
from core.settings import Settings
from serve_apps.ctr.grouping import by_tenant, creatives_of, spread

log = logging.getLogger("adcluster.ctr")
KIND = "ctr"


@serve.deployment(name="CtrModel")
class CtrModel:
    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = Settings.from_overrides(settings)
        self.db = Database(self.settings.db_url)
        self.models: dict[str, tuple[str, Model]] = {}  # tenant -> (version, model)
        self.poll_s = 1.0
        self._poller: asyncio.Task[None] | None = None

    def reconfigure(self, config: dict[str, Any]) -> None:
        """``user_config``: ``max_batch_size``, ``batch_wait_timeout_s``, ``champion_poll_s``."""
        self.predict_batch.set_max_batch_size(int(config["max_batch_size"]))
        self.predict_batch.set_batch_wait_timeout_s(float(config["batch_wait_timeout_s"]))
        self.poll_s = float(config["champion_poll_s"])

    def ping(self) -> str:
        return "pong"

    def versions(self) -> dict[str, str]:
        return {tenant: version for tenant, (version, _) in self.models.items()}

    def _load_champion(self, tenant_id: str) -> tuple[str, Model] | None:
        """The tenant's champion (reusing the loaded model when the version is unchanged)."""
        row = registry.champion(self.db, tenant_id=tenant_id, kind=KIND)
        if row is None:
            return None
        loaded = self.models.get(tenant_id)
        if loaded and loaded[0] == row["version"]:
            return loaded
        return row["version"], registry.load_artifact(self.settings, row["artifact"])

    async def _refresh(self, tenant_id: str) -> None:
        found = await asyncio.to_thread(self._load_champion, tenant_id)
        if found is None:
            self.models.pop(tenant_id, None)
            return
        old = self.models.get(tenant_id)
        if old is None or old[0] != found[0]:
            self.models[tenant_id] = found  # one assignment: the swap
            log.info(
                "champion loaded",
                extra={
                    "tenant_id": tenant_id,
                    "version": found[0],
                    "previous": old[0] if old else None,
                },
            )

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_s)
            for tenant_id in list(self.models):
                try:
                    await self._refresh(tenant_id)
                except Exception:  # the registry is unreachable: keep serving what we have
                    log.warning("champion refresh failed", extra={"tenant_id": tenant_id})

    async def predict(self, tenant_id: str, creatives: list[dict[str, Any]]) -> dict[str, Any]:
        """``{"model_version", "predictions": [ctr, ...]}`` for one request's creatives, or
        ``{"error": "no_champion"}`` when the tenant has no CTR model yet."""
        if self._poller is None:
            self._poller = asyncio.get_running_loop().create_task(self._poll())
        if tenant_id not in self.models:
            await self._refresh(tenant_id)
            if tenant_id not in self.models:
                return {"error": "no_champion"}
        return await self.predict_batch((tenant_id, creatives))

    @serve.batch(max_batch_size=32, batch_wait_timeout_s=0.002)
    async def predict_batch(
        self, requests: list[tuple[str, list[dict[str, Any]]]]
    ) -> list[dict[str, Any]]:
        """One model call per tenant in the batch over all its requests' creatives."""
        out: list[dict[str, Any]] = [{}] * len(requests)
        for tenant_id, idx in by_tenant(requests).items():
            loaded = self.models.get(tenant_id)
            if loaded is None:  # the champion went away since the request was admitted
                answer: dict[str, Any] = {"error": "no_champion"}
            else:
                version, model = loaded
                scores = model.predict(creatives_of(requests, idx)).tolist()
                answer = {"model_version": version, "predictions": scores}
            spread(answer, requests, idx, out)
        return out
