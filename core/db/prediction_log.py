"""The prediction log (SPEC §2): rows of served predictions and their batched insert.

The gateway buffers rows and sends batches to the ``prediction_log`` actor
(``serve_apps/gateway/prediction_log.py``, ``actors/prediction_log.py``), which calls
:func:`insert_rows`.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Text, bindparam, cast, insert, select
from sqlalchemy.dialects.postgresql import JSONB

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
    collector, not a tree of them); :func:`insert_rows` stores it as it is."""
    return {
        "tenant_id": tenant_id,
        "kind": kind,
        "ad_id": ad_id,
        "model_version": model_version,
        "inputs": inputs,
        "output": output,
        "served_at": served_at or utcnow(),
    }


def _json_text(value: dict[str, Any] | str | bytes) -> str:
    if isinstance(value, bytes):
        return value.decode()
    return value if isinstance(value, str) else json.dumps(value)


def insert_rows(db: Database, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` in one transaction. JSON that arrives as text (the gateway's rows) is
    stored as it is, not decoded and encoded again (about half the insert's CPU)."""
    if not rows:
        return

    def json_param(name: str) -> Any:
        text = bindparam(name, type_=Text)
        return cast(text, JSONB) if db.is_postgres else text

    stmt = insert(PredictionLog.__table__).values(
        inputs=json_param("inputs_json"), output=json_param("output_json")
    )
    params = [
        {
            "tenant_id": r["tenant_id"],
            "kind": r["kind"],
            "ad_id": r["ad_id"],
            "model_version": r["model_version"],
            "served_at": r["served_at"],
            "inputs_json": _json_text(r["inputs"]),
            "output_json": _json_text(r["output"]),
        }
        for r in rows
    ]
    with db.session() as s:
        s.execute(stmt, params)


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
