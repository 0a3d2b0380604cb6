"""The live trigger generator and the trigger the head migration installed are the same text.

Editing ``core/db/triggers.py`` without a migration that installs the new text fails here.
"""

from __future__ import annotations

import re

from sqlalchemy import text

from core.db import triggers
from core.db.engine import Database


def _norm(sql: str) -> str:
    return " ".join(sql.split()).rstrip(";").strip()


def _plpgsql_body(create_function: str) -> str:
    match = re.search(r"\$\$(.*)\$\$", create_function, re.S)
    assert match is not None
    return match.group(1)


def test_installed_winner_trigger_is_the_generated_one(db: Database) -> None:
    with db.engine.connect() as conn:
        if db.is_postgres:
            installed = conn.execute(
                text(
                    "SELECT prosrc FROM pg_proc WHERE proname = 'adc_queue_winner'"
                    " AND pronamespace = current_schema()::regnamespace"
                )
            ).scalar_one()
            generated = _plpgsql_body(triggers.winner_create_statements("postgresql")[0])
            assert _norm(installed) == _norm(generated)
            fired_by = conn.execute(
                text(
                    "SELECT p.proname FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid"
                    " WHERE t.tgname = 'trg_metrics_winner'"
                    " AND t.tgrelid = 'performance_metrics'::regclass"
                )
            ).scalar_one()
            assert fired_by == "adc_queue_winner"
        else:
            installed = dict(
                conn.execute(
                    text(
                        "SELECT name, sql FROM sqlite_master"
                        " WHERE type = 'trigger' AND tbl_name = 'performance_metrics'"
                    )
                ).all()
            )
            generated = triggers.winner_create_statements("sqlite")
            assert sorted(installed) == ["trg_metrics_winner_insert", "trg_metrics_winner_update"]
            assert sorted(map(_norm, installed.values())) == sorted(map(_norm, generated))


def test_one_rule_definition_for_both_dialects() -> None:
    """Each dialect's trigger embeds the same three conditions of SPEC §3.1."""
    for dialect in ("sqlite", "postgresql"):
        sql = _norm(triggers.winner_create_statements(dialect)[0])
        for part in ("min_hours_live", "NEW.impressions >=", "NEW.ctr >", "NEW.roas >"):
            assert part in sql, (dialect, part)
        assert "ads.tenant_id = NEW.tenant_id AND ads.ad_id = NEW.ad_id" in sql
