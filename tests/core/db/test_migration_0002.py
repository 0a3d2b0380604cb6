"""Migration 0002 re-keys tenant-owned rows by (tenant_id, id) and keeps every row."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from core.db.engine import Database
from core.db.migrate import current_revision, downgrade, sync_winner_rule, upgrade
from core.settings import Settings
from tests.support import postgres

T0 = "2026-01-01 00:00:00"
T1 = "2026-01-03 00:00:00"  # 48 h after launch

# Rows as revision 0001 stored them (plain SQL: the models describe the head schema).
ROWS_0001 = [
    "INSERT INTO creatives (creative_id, tenant_id, hook_text, created_at)"
    f" VALUES ('cr-1', 'acme', 'Half price today', '{T0}')",
    "INSERT INTO ads (ad_id, tenant_id, creative_id, platform, status, launched_at, created_at)"
    f" VALUES ('123', 'acme', 'cr-1', 'meta', 'active', '{T0}', '{T0}')",
    "INSERT INTO ads (ad_id, tenant_id, platform, status, launched_at, created_at)"
    f" VALUES ('456', 'globex', 'simulator', 'paused', '{T0}', '{T0}')",
    "INSERT INTO performance_metrics (id, ad_id, tenant_id, impressions, clicks, conversions,"
    " spend, revenue, ctr, roas, observed_at, created_at)"
    f" VALUES (7, '123', 'acme', 2000, 100, 5, 10.0, 50.0, 0.05, 5.0, '{T1}', '{T1}')",
    "INSERT INTO winners (ad_id, tenant_id, reason, ctr, roas, impressions, vector, embedder,"
    f" times_indexed, indexed_at) VALUES ('123', 'acme', 'both', 0.05, 5.0, 2000, '[1.0]',"
    f" 'hashed', 2, '{T1}')",
    "INSERT INTO experiments (experiment_id, tenant_id, metric, prior_alpha, prior_beta, status,"
    f" created_at) VALUES ('exp_1', 'globex', 'ctr', 1.0, 1.0, 'active', '{T0}')",
    "INSERT INTO experiment_arms (experiment_id, ad_id, alpha, beta, trials, successes,"
    f" updated_at) VALUES ('exp_1', '456', 3.0, 9.0, 10, 2, '{T0}')",
    "INSERT INTO experiment_events (experiment_id, kind, payload, created_at)"
    f" VALUES ('exp_1', 'created', '{{\"ad_ids\": [\"456\"]}}', '{T0}')",
]

REVISION = "0002_tenant_scoped_ids"


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db(request: pytest.FixtureRequest, tmp_path: Path, pg_server: str) -> Iterator[Database]:
    if request.param == "postgresql":
        url, schema = postgres.new_schema(pg_server)
    else:
        url = f"sqlite:///{tmp_path / 'adcluster.db'}"
    db = Database(url)
    yield db
    db.dispose()
    if request.param == "postgresql":
        postgres.drop_schema(pg_server, schema)


def _rows(db: Database, sql: str) -> list[tuple]:
    with db.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


def test_upgrade_keeps_rows_and_rekeys_them(empty_db: Database) -> None:
    db = empty_db
    upgrade(db, "0001_foundation")
    with db.engine.begin() as conn:
        for stmt in ROWS_0001:
            conn.execute(text(stmt))
    upgrade(db, REVISION)
    assert current_revision(db) == REVISION
    assert _rows(db, "SELECT tenant_id, ad_id, creative_id, platform FROM ads ORDER BY ad_id") == [
        ("acme", "123", "cr-1", "meta"),
        ("globex", "456", None, "simulator"),
    ]
    assert _rows(db, "SELECT tenant_id, creative_id, hook_text FROM creatives") == [
        ("acme", "cr-1", "Half price today")
    ]
    assert _rows(db, "SELECT id, tenant_id, ad_id, impressions, roas FROM performance_metrics") == [
        (7, "acme", "123", 2000, 5.0)
    ]
    assert _rows(db, "SELECT tenant_id, ad_id, times_indexed FROM winners") == [("acme", "123", 2)]
    assert _rows(db, "SELECT tenant_id, experiment_id FROM experiments") == [("globex", "exp_1")]
    assert _rows(db, "SELECT tenant_id, experiment_id, ad_id, alpha FROM experiment_arms") == [
        ("globex", "exp_1", "456", 3.0)
    ]
    assert _rows(db, "SELECT tenant_id, experiment_id, kind FROM experiment_events") == [
        ("globex", "exp_1", "created")
    ]


def test_after_upgrade_ids_are_per_tenant_and_the_trigger_follows(empty_db: Database) -> None:
    db = empty_db
    upgrade(db, "0001_foundation")
    with db.engine.begin() as conn:
        for stmt in ROWS_0001:
            conn.execute(text(stmt))
    upgrade(db, REVISION)
    sync_winner_rule(db, Settings.load().winner)
    with db.engine.begin() as conn:
        # globex may now have its own ad 123 (launched just now: not live long enough) ...
        conn.execute(
            text(
                "INSERT INTO ads (ad_id, tenant_id, platform, status, launched_at, created_at)"
                f" VALUES ('123', 'globex', 'simulator', 'active', '{T1}', '{T1}')"
            )
        )
        # ... and the trigger reads *its* launch time, not acme's (which would qualify).
        for tenant in ("globex", "acme"):
            conn.execute(
                text(
                    "INSERT INTO performance_metrics (ad_id, tenant_id, impressions, clicks,"
                    " conversions, spend, revenue, ctr, roas, observed_at, created_at) VALUES"
                    f" ('123', '{tenant}', 5000, 500, 0, 0, 0, 0.1, 0, '{T1}', '{T1}')"
                )
            )
    assert _rows(db, "SELECT dedupe_key FROM pending_jobs") == [("acme:123",)]


def test_an_ad_of_another_tenant_is_not_a_foreign_key_target(empty_db: Database) -> None:
    db = empty_db
    upgrade(db, REVISION)
    with pytest.raises(Exception, match="(?i)foreign key"), db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO ads (ad_id, tenant_id, platform, status, launched_at, created_at)"
                f" VALUES ('1', 'acme', 'simulator', 'active', '{T0}', '{T0}')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO performance_metrics (ad_id, tenant_id, impressions, clicks,"
                " conversions, spend, revenue, ctr, roas, observed_at, created_at) VALUES"
                f" ('1', 'globex', 1, 0, 0, 0, 0, 0, 0, '{T0}', '{T0}')"
            )
        )


def test_downgrade_keeps_rows_when_ids_do_not_collide(empty_db: Database) -> None:
    db = empty_db
    upgrade(db, "0001_foundation")
    with db.engine.begin() as conn:
        for stmt in ROWS_0001:
            conn.execute(text(stmt))
    upgrade(db, REVISION)
    downgrade(db, "0001_foundation")
    assert _rows(db, "SELECT count(*) FROM performance_metrics") == [(1,)]
    assert _rows(db, "SELECT experiment_id, ad_id FROM experiment_arms") == [("exp_1", "456")]
    assert _rows(db, "SELECT creative_id FROM ads ORDER BY ad_id") == [("cr-1",), (None,)]
