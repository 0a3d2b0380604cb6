"""Structured logging."""

from __future__ import annotations

import json
import logging

import pytest

from core.logs import JsonFormatter, configure_logging


def test_json_line_with_extras() -> None:
    record = logging.LogRecord("adcluster.x", logging.WARNING, "f", 1, "job failed", (), None)
    record.job_id = 7
    entry = json.loads(JsonFormatter().format(record))
    assert entry["event"] == "job failed" and entry["job_id"] == 7
    assert entry["level"] == "warning" and entry["logger"] == "adcluster.x"


def test_configure_is_idempotent(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO")
    configure_logging("INFO")
    handlers = logging.getLogger("adcluster").handlers
    assert sum(isinstance(h.formatter, JsonFormatter) for h in handlers) == 1
