"""tenant-scoped ids: ads, creatives, winners and experiments keyed by (tenant_id, id)

Two tenants may use the same ad, creative or experiment id (SPEC §1). Primary keys become
``(tenant_id, id)``; ``experiment_arms`` and ``experiment_events`` gain ``tenant_id`` (taken
from their experiment) and every foreign key to a re-keyed table becomes composite. Rows are
kept in place (PostgreSQL: ALTER TABLE; SQLite: batch table copies, run by
``core.db.migrate`` with foreign keys off so that no copy cascades). The winner trigger now
finds the ad's launch time by tenant and ad (and refuses non-finite rates, as the Python rule
does). A downgrade fails when two tenants share an id (the old keys cannot hold them).

Revision ID: 0002_tenant_scoped_ids
Revises: 0001_foundation
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op
from alembic.operations import BatchOperations

revision = "0002_tenant_scoped_ids"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None

# PostgreSQL's default constraint names; on SQLite they name the reflected, unnamed ones.
NAMING = {
    "pk": "%(table_name)s_pkey",
    "fk": "%(table_name)s_%(column_0_N_name)s_fkey",
}
REKEYED = {"creatives": "creative_id", "ads": "ad_id", "winners": "ad_id"}

# -- the winner trigger as this revision installs it (frozen: never import live code here) --

_SQLITE_CREATE = [
    """
CREATE TRIGGER trg_metrics_winner_insert AFTER INSERT ON performance_metrics
FOR EACH ROW
WHEN (julianday(NEW.observed_at) - julianday((SELECT launched_at FROM ads WHERE ads.tenant_id = NEW.tenant_id AND ads.ad_id = NEW.ad_id))) * 24.0 >= (SELECT min_hours_live FROM winner_rule WHERE id = 1)
 AND NEW.impressions >= (SELECT min_impressions FROM winner_rule WHERE id = 1)
 AND ((NEW.ctr > (SELECT min_ctr FROM winner_rule WHERE id = 1) AND NEW.ctr < 9e999) OR (NEW.roas > (SELECT min_roas FROM winner_rule WHERE id = 1) AND NEW.roas < 9e999))
BEGIN
  UPDATE pending_jobs SET payload = json_object('ad_id', NEW.ad_id, 'video_id', NEW.video_id, 'tenant_id', NEW.tenant_id, 'ctr', NEW.ctr, 'roas', NEW.roas, 'impressions', NEW.impressions, 'metrics_id', NEW.id), updated_at = strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'
   WHERE job_type = 'rag_index_winner' AND dedupe_key = NEW.tenant_id || ':' || NEW.ad_id AND status = 'pending';
  INSERT INTO pending_jobs
    (tenant_id, job_type, dedupe_key, payload, status, attempts, run_after, created_at, updated_at)
  SELECT NEW.tenant_id, 'rag_index_winner', NEW.tenant_id || ':' || NEW.ad_id, json_object('ad_id', NEW.ad_id, 'video_id', NEW.video_id, 'tenant_id', NEW.tenant_id, 'ctr', NEW.ctr, 'roas', NEW.roas, 'impressions', NEW.impressions, 'metrics_id', NEW.id), 'pending', 0,
         strftime('%Y-%m-%d %H:%M:%f', 'now') || '000', strftime('%Y-%m-%d %H:%M:%f', 'now') || '000', strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'
   WHERE NOT EXISTS (SELECT 1 FROM pending_jobs WHERE job_type = 'rag_index_winner' AND dedupe_key = NEW.tenant_id || ':' || NEW.ad_id AND status = 'pending');
END;
""",
    """
CREATE TRIGGER trg_metrics_winner_update AFTER UPDATE ON performance_metrics
FOR EACH ROW
WHEN (julianday(NEW.observed_at) - julianday((SELECT launched_at FROM ads WHERE ads.tenant_id = NEW.tenant_id AND ads.ad_id = NEW.ad_id))) * 24.0 >= (SELECT min_hours_live FROM winner_rule WHERE id = 1)
 AND NEW.impressions >= (SELECT min_impressions FROM winner_rule WHERE id = 1)
 AND ((NEW.ctr > (SELECT min_ctr FROM winner_rule WHERE id = 1) AND NEW.ctr < 9e999) OR (NEW.roas > (SELECT min_roas FROM winner_rule WHERE id = 1) AND NEW.roas < 9e999))
BEGIN
  UPDATE pending_jobs SET payload = json_object('ad_id', NEW.ad_id, 'video_id', NEW.video_id, 'tenant_id', NEW.tenant_id, 'ctr', NEW.ctr, 'roas', NEW.roas, 'impressions', NEW.impressions, 'metrics_id', NEW.id), updated_at = strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'
   WHERE job_type = 'rag_index_winner' AND dedupe_key = NEW.tenant_id || ':' || NEW.ad_id AND status = 'pending';
  INSERT INTO pending_jobs
    (tenant_id, job_type, dedupe_key, payload, status, attempts, run_after, created_at, updated_at)
  SELECT NEW.tenant_id, 'rag_index_winner', NEW.tenant_id || ':' || NEW.ad_id, json_object('ad_id', NEW.ad_id, 'video_id', NEW.video_id, 'tenant_id', NEW.tenant_id, 'ctr', NEW.ctr, 'roas', NEW.roas, 'impressions', NEW.impressions, 'metrics_id', NEW.id), 'pending', 0,
         strftime('%Y-%m-%d %H:%M:%f', 'now') || '000', strftime('%Y-%m-%d %H:%M:%f', 'now') || '000', strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'
   WHERE NOT EXISTS (SELECT 1 FROM pending_jobs WHERE job_type = 'rag_index_winner' AND dedupe_key = NEW.tenant_id || ':' || NEW.ad_id AND status = 'pending');
END;
""",
]
_SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS trg_metrics_winner_insert",
    "DROP TRIGGER IF EXISTS trg_metrics_winner_update",
]
_POSTGRES_CREATE = [
    """
CREATE OR REPLACE FUNCTION adc_queue_winner() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  r winner_rule%ROWTYPE;
  launched timestamptz;
BEGIN
  SELECT * INTO r FROM winner_rule WHERE id = 1;
  IF NOT FOUND THEN RETURN NULL; END IF;
  SELECT launched_at INTO launched FROM ads
   WHERE ads.tenant_id = NEW.tenant_id AND ads.ad_id = NEW.ad_id;
  IF EXTRACT(EPOCH FROM (NEW.observed_at - launched)) / 3600.0 >= r.min_hours_live
 AND NEW.impressions >= r.min_impressions
 AND ((NEW.ctr > r.min_ctr AND NEW.ctr < 'Infinity'::float8) OR (NEW.roas > r.min_roas AND NEW.roas < 'Infinity'::float8)) THEN
    INSERT INTO pending_jobs
      (tenant_id, job_type, dedupe_key, payload, status, attempts, run_after, created_at, updated_at)
    VALUES (NEW.tenant_id, 'rag_index_winner', NEW.tenant_id || ':' || NEW.ad_id, jsonb_build_object('ad_id', NEW.ad_id, 'video_id', NEW.video_id, 'tenant_id', NEW.tenant_id, 'ctr', NEW.ctr, 'roas', NEW.roas, 'impressions', NEW.impressions, 'metrics_id', NEW.id),
            'pending', 0, now(), now(), now())
    ON CONFLICT (job_type, dedupe_key) WHERE status = 'pending'
    DO UPDATE SET payload = EXCLUDED.payload, updated_at = now();
  END IF;
  RETURN NULL;
END
$$;
""",
    """
CREATE TRIGGER trg_metrics_winner AFTER INSERT OR UPDATE ON performance_metrics
FOR EACH ROW EXECUTE FUNCTION adc_queue_winner();
""",
]
_POSTGRES_DROP = [
    "DROP TRIGGER IF EXISTS trg_metrics_winner ON performance_metrics",
    "DROP FUNCTION IF EXISTS adc_queue_winner()",
]

# -- the winner trigger as 0001 installed it (restored by the downgrade) --

_PREVIOUS_SQLITE_CREATE = [
    """
CREATE TRIGGER trg_metrics_winner_insert AFTER INSERT ON performance_metrics
FOR EACH ROW
WHEN NEW.impressions >= (SELECT min_impressions FROM winner_rule WHERE id = 1)
 AND (NEW.ctr > (SELECT min_ctr FROM winner_rule WHERE id = 1) OR NEW.roas > (SELECT min_roas FROM winner_rule WHERE id = 1))
 AND (julianday(NEW.observed_at)
      - julianday((SELECT launched_at FROM ads WHERE ads.ad_id = NEW.ad_id))) * 24.0
     >= (SELECT min_hours_live FROM winner_rule WHERE id = 1)
BEGIN
  UPDATE pending_jobs SET payload = json_object('ad_id', NEW.ad_id, 'video_id', NEW.video_id, 'tenant_id', NEW.tenant_id, 'ctr', NEW.ctr, 'roas', NEW.roas, 'impressions', NEW.impressions, 'metrics_id', NEW.id), updated_at = strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'
   WHERE job_type = 'rag_index_winner' AND dedupe_key = NEW.tenant_id || ':' || NEW.ad_id AND status = 'pending';
  INSERT INTO pending_jobs
    (tenant_id, job_type, dedupe_key, payload, status, attempts, run_after, created_at, updated_at)
  SELECT NEW.tenant_id, 'rag_index_winner', NEW.tenant_id || ':' || NEW.ad_id, json_object('ad_id', NEW.ad_id, 'video_id', NEW.video_id, 'tenant_id', NEW.tenant_id, 'ctr', NEW.ctr, 'roas', NEW.roas, 'impressions', NEW.impressions, 'metrics_id', NEW.id), 'pending', 0,
         strftime('%Y-%m-%d %H:%M:%f', 'now') || '000', strftime('%Y-%m-%d %H:%M:%f', 'now') || '000', strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'
   WHERE NOT EXISTS (SELECT 1 FROM pending_jobs
                      WHERE job_type = 'rag_index_winner' AND dedupe_key = NEW.tenant_id || ':' || NEW.ad_id AND status = 'pending');
END;
""",
    """
CREATE TRIGGER trg_metrics_winner_update AFTER UPDATE ON performance_metrics
FOR EACH ROW
WHEN NEW.impressions >= (SELECT min_impressions FROM winner_rule WHERE id = 1)
 AND (NEW.ctr > (SELECT min_ctr FROM winner_rule WHERE id = 1) OR NEW.roas > (SELECT min_roas FROM winner_rule WHERE id = 1))
 AND (julianday(NEW.observed_at)
      - julianday((SELECT launched_at FROM ads WHERE ads.ad_id = NEW.ad_id))) * 24.0
     >= (SELECT min_hours_live FROM winner_rule WHERE id = 1)
BEGIN
  UPDATE pending_jobs SET payload = json_object('ad_id', NEW.ad_id, 'video_id', NEW.video_id, 'tenant_id', NEW.tenant_id, 'ctr', NEW.ctr, 'roas', NEW.roas, 'impressions', NEW.impressions, 'metrics_id', NEW.id), updated_at = strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'
   WHERE job_type = 'rag_index_winner' AND dedupe_key = NEW.tenant_id || ':' || NEW.ad_id AND status = 'pending';
  INSERT INTO pending_jobs
    (tenant_id, job_type, dedupe_key, payload, status, attempts, run_after, created_at, updated_at)
  SELECT NEW.tenant_id, 'rag_index_winner', NEW.tenant_id || ':' || NEW.ad_id, json_object('ad_id', NEW.ad_id, 'video_id', NEW.video_id, 'tenant_id', NEW.tenant_id, 'ctr', NEW.ctr, 'roas', NEW.roas, 'impressions', NEW.impressions, 'metrics_id', NEW.id), 'pending', 0,
         strftime('%Y-%m-%d %H:%M:%f', 'now') || '000', strftime('%Y-%m-%d %H:%M:%f', 'now') || '000', strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'
   WHERE NOT EXISTS (SELECT 1 FROM pending_jobs
                      WHERE job_type = 'rag_index_winner' AND dedupe_key = NEW.tenant_id || ':' || NEW.ad_id AND status = 'pending');
END;
""",
]
_PREVIOUS_POSTGRES_CREATE = [
    """
CREATE OR REPLACE FUNCTION adc_queue_winner() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  r winner_rule%ROWTYPE;
  launched timestamptz;
BEGIN
  SELECT * INTO r FROM winner_rule WHERE id = 1;
  IF NOT FOUND THEN RETURN NULL; END IF;
  IF NEW.impressions < r.min_impressions OR NOT (NEW.ctr > r.min_ctr OR NEW.roas > r.min_roas) THEN
    RETURN NULL;
  END IF;
  SELECT launched_at INTO launched FROM ads WHERE ad_id = NEW.ad_id;
  IF launched IS NULL
     OR EXTRACT(EPOCH FROM (NEW.observed_at - launched)) / 3600.0 < r.min_hours_live THEN
    RETURN NULL;
  END IF;
  INSERT INTO pending_jobs
    (tenant_id, job_type, dedupe_key, payload, status, attempts, run_after, created_at, updated_at)
  VALUES (NEW.tenant_id, 'rag_index_winner', NEW.tenant_id || ':' || NEW.ad_id,
          jsonb_build_object('ad_id', NEW.ad_id, 'video_id', NEW.video_id,
                             'tenant_id', NEW.tenant_id, 'ctr', NEW.ctr, 'roas', NEW.roas,
                             'impressions', NEW.impressions, 'metrics_id', NEW.id),
          'pending', 0, now(), now(), now())
  ON CONFLICT (job_type, dedupe_key) WHERE status = 'pending'
  DO UPDATE SET payload = EXCLUDED.payload, updated_at = now();
  RETURN NULL;
END
$$;
""",
    """
CREATE TRIGGER trg_metrics_winner AFTER INSERT OR UPDATE ON performance_metrics
FOR EACH ROW EXECUTE FUNCTION adc_queue_winner();
""",
]


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


@contextmanager
def _table(name: str) -> Iterator[BatchOperations]:
    with op.batch_alter_table(name, naming_convention=NAMING) as batch:
        yield batch


def _check_sqlite_foreign_keys_off() -> None:
    """A SQLite table copy with foreign keys on would cascade deletes into its children."""
    if not _postgres() and op.get_bind().exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise RuntimeError("run SQLite migrations through core.db.migrate (foreign keys off)")


def _rekey(batch: BatchOperations, table: str, columns: list[str]) -> None:
    batch.drop_constraint(f"{table}_pkey", type_="primary")
    batch.create_primary_key(f"{table}_pkey", columns)


def _fill_tenant(table: str) -> None:
    op.execute(
        f"UPDATE {table} SET tenant_id = (SELECT e.tenant_id FROM experiments e"
        f" WHERE e.experiment_id = {table}.experiment_id)"
    )


def upgrade() -> None:
    _check_sqlite_foreign_keys_off()
    for stmt in _POSTGRES_DROP if _postgres() else _SQLITE_DROP:
        op.execute(stmt)
    # 1. Foreign keys to the old single-column keys go first (PostgreSQL needs that order).
    with _table("performance_metrics") as b:
        b.drop_constraint("performance_metrics_ad_id_fkey", type_="foreignkey")
        b.drop_index("ix_performance_metrics_ad_id")
        b.create_index(
            "ix_performance_metrics_tenant_ad", ["tenant_id", "ad_id", "observed_at"], unique=False
        )
    for table in ("experiment_arms", "experiment_events"):
        with _table(table) as b:
            b.drop_constraint(f"{table}_experiment_id_fkey", type_="foreignkey")
            b.add_column(sa.Column("tenant_id", sa.String(length=64), nullable=True))
        _fill_tenant(table)
    with _table("ads") as b:
        b.drop_constraint("ads_creative_id_fkey", type_="foreignkey")
    # 2. The new primary keys.
    for table, id_column in REKEYED.items():
        with _table(table) as b:
            _rekey(b, table, ["tenant_id", id_column])
            b.drop_index(f"ix_{table}_tenant_id")
    with _table("experiments") as b:
        _rekey(b, "experiments", ["tenant_id", "experiment_id"])
        b.drop_index("ix_experiments_tenant_id")
        b.create_index(
            "ix_experiments_tenant_created", ["tenant_id", "created_at", "experiment_id"]
        )
    with _table("ads") as b:
        b.create_index("ix_ads_tenant_created", ["tenant_id", "created_at", "ad_id"])
        b.create_foreign_key(
            "ads_tenant_id_creative_id_fkey",
            "creatives",
            ["tenant_id", "creative_id"],
            ["tenant_id", "creative_id"],
        )
    # 3. Children: tenant-scoped keys and composite foreign keys.
    with _table("experiment_arms") as b:
        b.alter_column("tenant_id", existing_type=sa.String(length=64), nullable=False)
        _rekey(b, "experiment_arms", ["tenant_id", "experiment_id", "ad_id"])
        b.drop_index("ix_experiment_arms_ad_id")
        b.create_index("ix_experiment_arms_tenant_ad", ["tenant_id", "ad_id"])
    with _table("experiment_events") as b:
        b.alter_column("tenant_id", existing_type=sa.String(length=64), nullable=False)
        b.drop_index("ix_experiment_events_experiment_id")
        b.create_index(
            "ix_experiment_events_tenant_experiment", ["tenant_id", "experiment_id", "id"]
        )
    for table in ("experiment_arms", "experiment_events"):
        with _table(table) as b:
            b.create_foreign_key(
                f"{table}_tenant_id_experiment_id_fkey",
                "experiments",
                ["tenant_id", "experiment_id"],
                ["tenant_id", "experiment_id"],
                ondelete="CASCADE",
            )
    with _table("performance_metrics") as b:
        b.create_foreign_key(
            "performance_metrics_tenant_id_ad_id_fkey",
            "ads",
            ["tenant_id", "ad_id"],
            ["tenant_id", "ad_id"],
            ondelete="CASCADE",
        )
    for stmt in _POSTGRES_CREATE if _postgres() else _SQLITE_CREATE:
        op.execute(stmt)


def downgrade() -> None:
    _check_sqlite_foreign_keys_off()
    for stmt in _POSTGRES_DROP if _postgres() else _SQLITE_DROP:
        op.execute(stmt)
    with _table("performance_metrics") as b:
        b.drop_constraint("performance_metrics_tenant_id_ad_id_fkey", type_="foreignkey")
    with _table("experiment_events") as b:
        b.drop_constraint("experiment_events_tenant_id_experiment_id_fkey", type_="foreignkey")
        b.drop_index("ix_experiment_events_tenant_experiment")
        b.drop_column("tenant_id")
        b.create_index("ix_experiment_events_experiment_id", ["experiment_id"])
    with _table("experiment_arms") as b:
        b.drop_constraint("experiment_arms_tenant_id_experiment_id_fkey", type_="foreignkey")
        _rekey(b, "experiment_arms", ["experiment_id", "ad_id"])
        b.drop_index("ix_experiment_arms_tenant_ad")
        b.drop_column("tenant_id")
        b.create_index("ix_experiment_arms_ad_id", ["ad_id"])
    with _table("ads") as b:
        b.drop_constraint("ads_tenant_id_creative_id_fkey", type_="foreignkey")
        b.drop_index("ix_ads_tenant_created")
    with _table("experiments") as b:
        b.drop_index("ix_experiments_tenant_created")
        _rekey(b, "experiments", ["experiment_id"])
        b.create_index("ix_experiments_tenant_id", ["tenant_id"])
    for table, id_column in REKEYED.items():
        with _table(table) as b:
            _rekey(b, table, [id_column])
            b.create_index(f"ix_{table}_tenant_id", ["tenant_id"])
    with _table("ads") as b:
        b.create_foreign_key(
            "ads_creative_id_fkey",
            "creatives",
            ["creative_id"],
            ["creative_id"],
            ondelete="SET NULL",
        )
    for table in ("experiment_arms", "experiment_events"):
        with _table(table) as b:
            b.create_foreign_key(
                f"{table}_experiment_id_fkey",
                "experiments",
                ["experiment_id"],
                ["experiment_id"],
                ondelete="CASCADE",
            )
    with _table("performance_metrics") as b:
        b.drop_index("ix_performance_metrics_tenant_ad")
        b.create_index("ix_performance_metrics_ad_id", ["ad_id"])
        b.create_foreign_key(
            "performance_metrics_ad_id_fkey", "ads", ["ad_id"], ["ad_id"], ondelete="CASCADE"
        )
    for stmt in _PREVIOUS_POSTGRES_CREATE if _postgres() else _PREVIOUS_SQLITE_CREATE:
        op.execute(stmt)
