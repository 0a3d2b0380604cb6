"""Apply Alembic migrations and sync the settings the database itself reads."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, select

from core.db.engine import Database
from core.db.models import Tenant, WinnerRuleRow, utcnow
from core.domain.winner import WinnerRule
from core.settings import Settings

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


@contextmanager
def _migration_connection(db: Database) -> Iterator[Connection]:
    """One transaction for the migration. On SQLite, foreign keys are off while it runs (a
    table copy must not cascade into child rows) and checked before it commits."""
    sqlite = db.dialect == "sqlite"
    with db.engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        if sqlite:  # before BEGIN: the pragma is a no-op inside a transaction
            raw.execute("PRAGMA foreign_keys=OFF")
        try:
            with conn.begin():
                yield conn
                if sqlite:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise RuntimeError(f"migration broke foreign keys: {broken[:5]}")
        finally:
            if sqlite:
                raw.execute("PRAGMA foreign_keys=ON")


def upgrade(db: Database, revision: str = "head") -> None:
    """Migrate the database to ``revision`` (both SQLite and PostgreSQL)."""
    cfg = alembic_config(db.url)
    with _migration_connection(db) as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def downgrade(db: Database, revision: str) -> None:
    """Migrate the database down to ``revision``."""
    cfg = alembic_config(db.url)
    with _migration_connection(db) as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def current_revision(db: Database) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def sync_winner_rule(db: Database, rule: WinnerRule) -> None:
    """Write the winner thresholds into the table the trigger reads."""
    with db.session() as s:
        row = s.get(WinnerRuleRow, 1)
        if row is None:
            row = WinnerRuleRow(id=1)
            s.add(row)
        row.min_hours_live = rule.min_hours_live
        row.min_impressions = rule.min_impressions
        row.min_ctr = rule.min_ctr
        row.min_roas = rule.min_roas
        row.updated_at = utcnow()


def ensure_tenant(db: Database, tenant_id: str, name: str | None = None) -> None:
    with db.session() as s:
        if s.scalar(select(Tenant).where(Tenant.tenant_id == tenant_id)) is None:
            s.add(Tenant(tenant_id=tenant_id, name=name or tenant_id))


def prepare(db: Database, settings: Settings) -> None:
    """Everything a fresh or existing database needs before the app serves: migrate, sync."""
    upgrade(db)
    sync_winner_rule(db, settings.winner)
    ensure_tenant(db, settings.tenant_id)


def prepare_database(settings: Settings) -> None:
    """:func:`prepare` the settings' database on a connection of its own (entry points)."""
    db = Database(settings.db_url)
    try:
        prepare(db, settings)
    finally:
        db.dispose()
