"""foundation

Revision ID: 0001_foundation
Revises:
Create Date: 2026-11-25 15:23:24.208894
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001_foundation"
down_revision = None
branch_labels = None
depends_on = None

# -- the triggers as this revision created them (frozen: never import live code here) --

_SQLITE_CREATE = [
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
    """
CREATE OR REPLACE FUNCTION adc_notify_job() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('adcluster_jobs', NEW.job_type);
  RETURN NULL;
END
$$;
""",
    """
CREATE TRIGGER trg_pending_jobs_notify AFTER INSERT ON pending_jobs
FOR EACH ROW EXECUTE FUNCTION adc_notify_job();
""",
]
_POSTGRES_DROP = [
    "DROP TRIGGER IF EXISTS trg_pending_jobs_notify ON pending_jobs",
    "DROP FUNCTION IF EXISTS adc_notify_job()",
    "DROP TRIGGER IF EXISTS trg_metrics_winner ON performance_metrics",
    "DROP FUNCTION IF EXISTS adc_queue_winner()",
]


def upgrade() -> None:
    # ### commands auto generated by Alembic - please adjust! ###
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=128), nullable=False),
        sa.Column("rate_limit_per_min", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_hash"),
    )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_keys_prefix"), ["prefix"], unique=False)
        batch_op.create_index(batch_op.f("ix_api_keys_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "creatives",
        sa.Column("creative_id", sa.String(length=128), nullable=False),
        sa.Column("video_id", sa.String(length=128), nullable=True),
        sa.Column("video_path", sa.Text(), nullable=True),
        sa.Column("hook_text", sa.Text(), nullable=True),
        sa.Column("cta", sa.String(length=200), nullable=True),
        sa.Column("template", sa.String(length=200), nullable=True),
        sa.Column(
            "video_features",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("creative_id"),
    )
    with op.batch_alter_table("creatives", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_creatives_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "experiments",
        sa.Column("experiment_id", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=True),
        sa.Column("metric", sa.String(length=16), nullable=False),
        sa.Column("prior_alpha", sa.Float(), nullable=False),
        sa.Column("prior_beta", sa.Float(), nullable=False),
        sa.Column("decay_half_life_h", sa.Float(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("experiment_id"),
    )
    with op.batch_alter_table("experiments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_experiments_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "pending_jobs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("job_type", sa.String(length=64), nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=True),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("run_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("leased_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("locked_by", sa.String(length=128), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("pending_jobs", schema=None) as batch_op:
        batch_op.create_index("ix_pending_jobs_claim", ["status", "run_after", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_pending_jobs_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index(
            "uq_pending_jobs_queued",
            ["job_type", "dedupe_key"],
            unique=True,
            postgresql_where=sa.text("status = 'pending'"),
            sqlite_where=sa.text("status = 'pending'"),
        )

    op.create_table(
        "pro_jobs",
        sa.Column("job_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("completed", sa.Integer(), nullable=False),
        sa.Column("successful", sa.Integer(), nullable=False),
        sa.Column(
            "request",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "results",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("job_id"),
    )
    with op.batch_alter_table("pro_jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pro_jobs_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "tenants",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id"),
    )
    op.create_table(
        "winner_rule",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("min_hours_live", sa.Float(), nullable=False),
        sa.Column("min_impressions", sa.Integer(), nullable=False),
        sa.Column("min_ctr", sa.Float(), nullable=False),
        sa.Column("min_roas", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "winners",
        sa.Column("ad_id", sa.String(length=128), nullable=False),
        sa.Column("video_id", sa.String(length=128), nullable=True),
        sa.Column("reason", sa.String(length=8), nullable=False),
        sa.Column("ctr", sa.Float(), nullable=False),
        sa.Column("roas", sa.Float(), nullable=False),
        sa.Column("impressions", sa.BigInteger(), nullable=False),
        sa.Column("hook_text", sa.Text(), nullable=True),
        sa.Column("cta", sa.String(length=200), nullable=True),
        sa.Column("template", sa.String(length=200), nullable=True),
        sa.Column(
            "video_features",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "vector",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("embedder", sa.String(length=64), nullable=False),
        sa.Column("times_indexed", sa.Integer(), nullable=False),
        sa.Column("indexed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("ad_id"),
    )
    with op.batch_alter_table("winners", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_winners_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "ads",
        sa.Column("ad_id", sa.String(length=128), nullable=False),
        sa.Column("creative_id", sa.String(length=128), nullable=True),
        sa.Column("name", sa.String(length=300), nullable=True),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("campaign_id", sa.String(length=128), nullable=True),
        sa.Column("ad_set_id", sa.String(length=128), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("daily_budget", sa.Float(), nullable=True),
        sa.Column("launched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["creative_id"], ["creatives.creative_id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("ad_id"),
    )
    with op.batch_alter_table("ads", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ads_campaign_id"), ["campaign_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ads_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "experiment_arms",
        sa.Column("experiment_id", sa.String(length=128), nullable=False),
        sa.Column("ad_id", sa.String(length=128), nullable=False),
        sa.Column("alpha", sa.Float(), nullable=False),
        sa.Column("beta", sa.Float(), nullable=False),
        sa.Column("trials", sa.BigInteger(), nullable=False),
        sa.Column("successes", sa.BigInteger(), nullable=False),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"], ["experiments.experiment_id"], ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("experiment_id", "ad_id"),
    )
    with op.batch_alter_table("experiment_arms", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_experiment_arms_ad_id"), ["ad_id"], unique=False)

    op.create_table(
        "experiment_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("experiment_id", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"], ["experiments.experiment_id"], ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("experiment_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_experiment_events_experiment_id"), ["experiment_id"], unique=False
        )

    op.create_table(
        "performance_metrics",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ad_id", sa.String(length=128), nullable=False),
        sa.Column("video_id", sa.String(length=128), nullable=True),
        sa.Column("impressions", sa.BigInteger(), nullable=False),
        sa.Column("clicks", sa.BigInteger(), nullable=False),
        sa.Column("conversions", sa.BigInteger(), nullable=False),
        sa.Column("spend", sa.Float(), nullable=False),
        sa.Column("revenue", sa.Float(), nullable=False),
        sa.Column("ctr", sa.Float(), nullable=False),
        sa.Column("roas", sa.Float(), nullable=False),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["ad_id"], ["ads.ad_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("performance_metrics", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_performance_metrics_ad_id"), ["ad_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_performance_metrics_tenant_id"), ["tenant_id"], unique=False
        )

    # ### end Alembic commands ###
    postgres = op.get_bind().dialect.name == "postgresql"
    for stmt in _POSTGRES_CREATE if postgres else _SQLITE_CREATE:
        op.execute(stmt)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for stmt in _POSTGRES_DROP if postgres else _SQLITE_DROP:
        op.execute(stmt)
    # ### commands auto generated by Alembic - please adjust! ###
    with op.batch_alter_table("performance_metrics", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_performance_metrics_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_performance_metrics_ad_id"))

    op.drop_table("performance_metrics")
    with op.batch_alter_table("experiment_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_experiment_events_experiment_id"))

    op.drop_table("experiment_events")
    with op.batch_alter_table("experiment_arms", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_experiment_arms_ad_id"))

    op.drop_table("experiment_arms")
    with op.batch_alter_table("ads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ads_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_ads_campaign_id"))

    op.drop_table("ads")
    with op.batch_alter_table("winners", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_winners_tenant_id"))

    op.drop_table("winners")
    op.drop_table("winner_rule")
    op.drop_table("tenants")
    with op.batch_alter_table("pro_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pro_jobs_tenant_id"))

    op.drop_table("pro_jobs")
    with op.batch_alter_table("pending_jobs", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_pending_jobs_queued",
            postgresql_where=sa.text("status = 'pending'"),
            sqlite_where=sa.text("status = 'pending'"),
        )
        batch_op.drop_index(batch_op.f("ix_pending_jobs_tenant_id"))
        batch_op.drop_index("ix_pending_jobs_claim")

    op.drop_table("pending_jobs")
    with op.batch_alter_table("experiments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_experiments_tenant_id"))

    op.drop_table("experiments")
    with op.batch_alter_table("creatives", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_creatives_tenant_id"))

    op.drop_table("creatives")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_keys_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_api_keys_prefix"))

    op.drop_table("api_keys")
    # ### end Alembic commands ###
