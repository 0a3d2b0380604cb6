"""PredictionLog: the catalogue actor that writes served predictions (SPEC §2).

Gateway replicas send batches of rows (``serve_apps/gateway/prediction_log.py``); each
``write`` is one insert transaction. Keeping the database work here keeps it out of the
replicas' processes (and makes SQLite see one writer for the log). Stateless: a restart loses
only the batches in flight, which their senders count as dropped.
"""

from __future__ import annotations

from typing import Any

from core.db.engine import Database
from core.db.prediction_log import insert_rows
from core.logs import configure_logging
from core.settings import Settings


class PredictionLog:
    """Catalogue actor ``prediction_log`` (options in ``configs/actors.yaml``)."""

    def __init__(self, settings: dict[str, Any]) -> None:
        configure_logging()
        self.db = Database(Settings.from_overrides(settings).db_url)
        self.written = 0

    def write(self, rows: list[dict[str, Any]]) -> int:
        """Insert ``rows`` in one transaction; returns how many."""
        if rows:
            insert_rows(self.db, rows)
            self.written += len(rows)
        return len(rows)

    def ping(self) -> bool:
        return True
