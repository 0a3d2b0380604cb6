"""WinnerMemory: a named, detached actor holding the winners' vector index.

The ``winners`` table is the source of truth: indexing writes the row first, then the
in-memory index; on (re)start the actor rebuilds every tenant's index from the table.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from core.db import ads as ads_db
from core.db import winners as winners_db
from core.db.engine import Database
from core.domain.embedding import make_embedder
from core.domain.features import VectorIndex, creative_text, feature_vector
from core.domain.winner import winner_reason
from core.logs import configure_logging
from core.settings import Settings

log = logging.getLogger("adcluster.winner_memory")


class UnknownAdError(LookupError):
    pass


class WinnerMemory:
    """Catalogue actor ``winner_memory`` (options in ``configs/actors.yaml``)."""

    def __init__(self, settings: dict[str, Any]) -> None:
        configure_logging()
        self.settings = Settings.from_overrides(settings)
        self.db = Database(self.settings.db_url)
        mem = self.settings.memory
        self.embedder = make_embedder(mem.embedder, mem.text_dim)
        self.rule = self.settings.winner
        self.indexes: dict[str, VectorIndex] = {}
        self.meta: dict[str, dict[str, dict[str, Any]]] = {}
        self.rebuild()

    # -- building ---------------------------------------------------------------------
    @property
    def dim(self) -> int:
        return 4 + self.embedder.dim + self.settings.memory.video_dim

    def _vector(
        self,
        *,
        ctr: float,
        roas: float,
        impressions: int,
        text: str,
        video: list[float] | None,
    ) -> list[float]:
        text_vec = self.embedder.embed([text])[0]
        vec = feature_vector(
            ctr=ctr,
            roas=roas,
            impressions=impressions,
            text_vec=text_vec,
            video=video,
            video_dim=self.settings.memory.video_dim,
        )
        return vec.tolist()

    def _remember(self, tenant: str, ad_id: str, vector: list[float], meta: dict) -> None:
        self.indexes.setdefault(tenant, VectorIndex(self.dim)).upsert(ad_id, vector)
        self.meta.setdefault(tenant, {})[ad_id] = meta

    def rebuild(self) -> int:
        """Reload every winner from the database (re-embedding if the embedder changed)."""
        self.indexes, self.meta = {}, {}
        with self.db.session() as s:
            for w in winners_db.all_winners(s):
                vector = w.vector
                if w.embedder != self.embedder.name or len(vector) != self.dim:
                    vector = self._vector(
                        ctr=w.ctr,
                        roas=w.roas,
                        impressions=w.impressions,
                        text=creative_text(w.hook_text, w.cta, w.template),
                        video=w.video_features,
                    )
                    w.vector, w.embedder = vector, self.embedder.name
                self._remember(w.tenant_id, w.ad_id, vector, _meta(w))
        count = sum(len(i) for i in self.indexes.values())
        log.info("winner memory rebuilt", extra={"winners": count, "embedder": self.embedder.name})
        return count

    # -- API ----------------------------------------------------------------------------
    def index_winner(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Index (or refresh) one ad. Idempotent per ad; the row is committed first."""
        (result,) = self.index_winners([payload])
        if "error" in result:
            raise UnknownAdError(result["error"])
        return result

    def index_winners(self, payloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Index many ads (what the job consumer sends); one result per payload, in order:
        its metadata, or ``{"ad_id", "error"}`` for an unknown ad.

        Set-based and in three phases, so the write transaction stays short (on SQLite it
        holds the one write lock that feedback requests wait for): one query reads the ads
        and creatives, the vectors are computed outside any transaction (texts embedded in
        one call), then one transaction upserts every winner.
        """
        keys = [(p.get("tenant_id") or self.settings.tenant_id, str(p["ad_id"])) for p in payloads]
        with self.db.session() as s:
            found = ads_db.ads_with_creatives(s, list(dict.fromkeys(keys)))
            facts = [
                self._facts(s, key, payload, found.get(key))
                for key, payload in zip(keys, payloads, strict=True)
            ]
        good = [f for f in facts if "error" not in f]
        texts = [creative_text(f["hook_text"], f["cta"], f["template"]) for f in good]
        for f, text_vec in zip(good, self.embedder.embed(texts) if texts else [], strict=True):
            f["vector"] = feature_vector(
                ctr=f["ctr"],
                roas=f["roas"],
                impressions=f["impressions"],
                text_vec=text_vec,
                video=f["video_features"],
                video_dim=self.settings.memory.video_dim,
            ).tolist()
        with self.db.session() as s:
            rows = winners_db.upsert_winners(
                s, [self._winner_values(f) for f in good], embedder=self.embedder.name
            )
            metas = {key: _meta(row) for key, row in rows.items()}
        results: list[dict[str, Any]] = []
        for f in facts:
            if "error" in f:
                results.append({"ad_id": f["ad_id"], "error": f["error"]})
                continue
            meta = metas[(f["tenant_id"], f["ad_id"])]
            self._remember(f["tenant_id"], f["ad_id"], f["vector"], meta)
            results.append({"ad_id": f["ad_id"], "indexed": True, **meta})
        return results

    def _facts(
        self, s: Any, key: tuple[str, str], payload: dict[str, Any], found: Any
    ) -> dict[str, Any]:
        """What indexing one ad needs (no writes); ``found`` is its (ad, creative) or None."""
        tenant, ad_id = key
        if found is None:
            return {"ad_id": ad_id, "error": f"unknown ad: {ad_id}"}
        _, creative = found
        latest = None
        if not {"ctr", "roas", "impressions"} <= payload.keys():
            latest = ads_db.latest_metrics(s, tenant, ad_id)
        return {
            "tenant_id": tenant,
            "ad_id": ad_id,
            "ctr": float(payload.get("ctr", latest.ctr if latest else 0.0)),
            "roas": float(payload.get("roas", latest.roas if latest else 0.0)),
            "impressions": int(payload.get("impressions", latest.impressions if latest else 0)),
            "hook_text": creative.hook_text if creative else None,
            "cta": creative.cta if creative else None,
            "template": creative.template if creative else None,
            "video_features": creative.video_features if creative else None,
            "video_id": payload.get("video_id") or (creative.video_id if creative else None),
        }

    def _winner_values(self, f: dict[str, Any]) -> dict[str, Any]:
        return {
            "tenant_id": f["tenant_id"],
            "ad_id": f["ad_id"],
            "video_id": f["video_id"],
            "reason": winner_reason(f["ctr"], f["roas"], self.rule) or "manual",
            "ctr": f["ctr"],
            "roas": f["roas"],
            "impressions": f["impressions"],
            "hook_text": f["hook_text"],
            "cta": f["cta"],
            "template": f["template"],
            "video_features": f["video_features"],
            "vector": f["vector"],
        }

    def search(
        self,
        tenant_id: str,
        *,
        ad_id: str | None = None,
        features: dict[str, Any] | None = None,
        k: int = 5,
    ) -> list[dict[str, Any]]:
        """The ``k`` winners nearest to an ad (by id) or to a feature payload."""
        index = self.indexes.get(tenant_id)
        if ad_id is not None:
            query = self._query_for_ad(tenant_id, ad_id)
        else:
            f = features or {}
            query = self._vector(
                ctr=float(f.get("ctr") or 0.0),
                roas=float(f.get("roas") or 0.0),
                impressions=int(f.get("impressions") or 0),
                text=creative_text(f.get("hook_text"), f.get("cta"), f.get("template")),
                video=f.get("video_features"),
            )
        if index is None:
            return []
        hits = index.search(query, k, exclude=ad_id)
        meta = self.meta[tenant_id]
        return [{"ad_id": a, "similarity": round(sim, 6), **meta[a]} for a, sim in hits]

    def _query_for_ad(self, tenant: str, ad_id: str) -> list[float]:
        index = self.indexes.get(tenant)
        with self.db.session() as s:
            ad = ads_db.get_ad(s, tenant, ad_id)
            if ad is None:
                raise UnknownAdError(f"unknown ad: {ad_id}")
            if index is not None and ad_id in index:
                w = winners_db.get_winner(s, tenant, ad_id)
                if w is not None:
                    return list(w.vector)
            creative = ads_db.get_creative(s, ad)
            latest = ads_db.latest_metrics(s, tenant, ad_id)
            return self._vector(
                ctr=latest.ctr if latest else 0.0,
                roas=latest.roas if latest else 0.0,
                impressions=latest.impressions if latest else 0,
                text=creative_text(
                    *(
                        (creative.hook_text, creative.cta, creative.template)
                        if creative
                        else (None, None, None)
                    )
                ),
                video=creative.video_features if creative else None,
            )

    def stats(self, tenant_id: str) -> dict[str, Any]:
        meta = self.meta.get(tenant_id, {})
        by_reason: dict[str, int] = {}
        for m in meta.values():
            by_reason[m["reason"]] = by_reason.get(m["reason"], 0) + 1
        last = max((m["indexed_at"] for m in meta.values()), default=None)
        return {
            "winner_count": len(meta),
            "index_size": len(self.indexes.get(tenant_id, ())),
            "dimension": self.dim,
            "embedder": self.embedder.name,
            "last_indexed_at": last,
            "by_reason": by_reason,
        }

    def ping(self) -> bool:
        return True


def _meta(w: winners_db.Winner) -> dict[str, Any]:
    indexed: datetime = w.indexed_at
    return {
        "reason": w.reason,
        "ctr": w.ctr,
        "roas": w.roas,
        "impressions": w.impressions,
        "video_id": w.video_id,
        "hook_text": w.hook_text,
        "times_indexed": w.times_indexed,
        "indexed_at": indexed.isoformat(),
    }
