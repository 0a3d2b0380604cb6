"""The throwaway PostgreSQL server that the test setup starts where none answers."""

from __future__ import annotations

import psycopg

from core.db.engine import Database
from core.db.migrate import prepare
from core.settings import Settings
from tests.support import postgres


def test_throwaway_server_runs_the_migrations_and_stops() -> None:
    with postgres.throwaway_server() as url:
        assert postgres.answers(url)
        db = Database(url)
        prepare(db, Settings.load(database_url=url))
        with db.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM winner_rule").scalar() == 1
        db.dispose()
    assert not postgres.answers(url)


def test_new_schema_isolates(pg_server: str) -> None:
    url, schema = postgres.new_schema(pg_server)
    try:
        with psycopg.connect(postgres._libpq(url)) as c:
            assert c.execute("SHOW search_path").fetchone()[0] == schema
    finally:
        postgres.drop_schema(pg_server, schema)
