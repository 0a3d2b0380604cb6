"""The prediction log (SPEC §2): rows of served predictions and their batched insert.

The gateway buffers rows and sends batches to the ``prediction_log`` actor
(``serve_apps/gateway/prediction_log.py``, ``actors/prediction_log.py``), which calls
:func:`insert_rows`.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select

from core.db.engine import Database
from core.db.models import PredictionLog, utcnow

COLUMNS = ("tenant_id", "kind", "ad_id", "model_version", "inputs", "output", "served_at")


def prediction_row(
    *,
    tenant_id: str,
    kind: str,
    ad_id: str | None,
    model_version: str,
    inputs: dict[str, Any] | str,
    output: dict[str, Any] | str,
    served_at: datetime | None = None,
) -> dict[str, Any]:
    """One row of ``prediction_log``. ``inputs`` and ``output`` may be JSON text (what the
    gateway passes: a row waiting in its buffer is then one small object for the garbage
    collector, not a tree of them); :func:`insert_rows` decodes it."""
    return {
        "tenant_id": tenant_id,
        "kind": kind,
        "ad_id": ad_id,
        "model_version": model_version,
        "inputs": inputs,
        "output": output,
        "served_at": served_at or utcnow(),
    }


def _decoded(row: dict[str, Any]) -> dict[str, Any]:
    for key in ("inputs", "output"):
        if isinstance(row[key], str | bytes):
            row = {**row, key: json.loads(row[key])}
    return row


def insert_rows(db: Database, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` in one transaction."""
    with db.session() as s:
        s.execute(insert(PredictionLog), [_decoded(r) for r in rows])


def recent(db: Database, tenant_id: str, kind: str, limit: int = 100) -> list[dict[str, Any]]:
    """The tenant's latest logged predictions of ``kind``, newest first."""
    with db.session() as s:
        rows = s.scalars(
            select(PredictionLog)
            .where(PredictionLog.tenant_id == tenant_id, PredictionLog.kind == kind)
            .order_by(PredictionLog.id.desc())
            .limit(limit)
        )
        return [{c: getattr(r, c) for c in ("id", *COLUMNS)} for r in rows]
