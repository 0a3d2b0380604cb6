"""The winner trigger (SPEC §3.1) and the job-notify trigger, generated per dialect.

The rule is written once (``winner_condition``), mirroring ``core.domain.winner.is_winner``;
each dialect supplies only how to read a threshold, hours live and finiteness. Thresholds
are not in the SQL: the trigger reads them from ``winner_rule`` (row 1), which
``core.db.migrate.sync_winner_rule`` keeps equal to the settings. Hours live are counted
from the ad's ``launched_at`` (looked up by tenant and ad) to the metrics row's
``observed_at``. One pending ``rag_index_winner`` job per ad: a newer qualifying row
refreshes the queued job's payload.

Migrations never import this module: each carries the text it installs, frozen.
``tests/core/db/test_trigger_sql.py`` fails when this generator and the text installed by
the head migration differ, so changing the rule here needs a migration carrying the new text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

JOB_TYPE = "rag_index_winner"
NOTIFY_CHANNEL = "adcluster_jobs"
RULE_COLUMNS = ("min_hours_live", "min_impressions", "min_ctr", "min_roas")


@dataclass(frozen=True)
class _Dialect:
    """The SQL pieces that differ between SQLite and PostgreSQL."""

    threshold: Callable[[str], str]  # winner_rule column -> its value
    finite: Callable[[str], str]  # expression -> true when finite (false for NaN/inf)
    hours_live: str  # hours from the ad's launch to NEW.observed_at


_SQLITE = _Dialect(
    threshold=lambda col: f"(SELECT {col} FROM winner_rule WHERE id = 1)",
    finite=lambda expr: f"{expr} < 9e999",  # 9e999 reads as +inf; NaN is stored as NULL
    hours_live=(
        "(julianday(NEW.observed_at) - julianday((SELECT launched_at FROM ads"
        " WHERE ads.tenant_id = NEW.tenant_id AND ads.ad_id = NEW.ad_id))) * 24.0"
    ),
)
_POSTGRES = _Dialect(
    threshold=lambda col: f"r.{col}",
    finite=lambda expr: f"{expr} < 'Infinity'::float8",  # NaN sorts above +inf
    hours_live="EXTRACT(EPOCH FROM (NEW.observed_at - launched)) / 3600.0",
)


def winner_condition(d: _Dialect) -> str:
    """SPEC §3.1 on the ``NEW`` metrics row; NULL (no ad, no rule row) never qualifies."""

    def clears(metric: str) -> str:
        return f"(NEW.{metric} > {d.threshold('min_' + metric)} AND {d.finite('NEW.' + metric)})"

    return "\n AND ".join(
        (
            f"{d.hours_live} >= {d.threshold('min_hours_live')}",
            f"NEW.impressions >= {d.threshold('min_impressions')}",
            f"({clears('ctr')} OR {clears('roas')})",
        )
    )


_KEY = "NEW.tenant_id || ':' || NEW.ad_id"
_FIELDS = (
    "'ad_id', NEW.ad_id, 'video_id', NEW.video_id, 'tenant_id', NEW.tenant_id, "
    "'ctr', NEW.ctr, 'roas', NEW.roas, 'impressions', NEW.impressions, 'metrics_id', NEW.id"
)
_JOB_COLUMNS = (
    "(tenant_id, job_type, dedupe_key, payload, status, attempts, run_after, "
    "created_at, updated_at)"
)
_SQLITE_NOW = "strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'"


def _sqlite_winner_trigger(event: str) -> str:
    payload = f"json_object({_FIELDS})"
    pending = f"job_type = '{JOB_TYPE}' AND dedupe_key = {_KEY} AND status = 'pending'"
    return f"""
CREATE TRIGGER trg_metrics_winner_{event.lower()} AFTER {event} ON performance_metrics
FOR EACH ROW
WHEN {winner_condition(_SQLITE)}
BEGIN
  UPDATE pending_jobs SET payload = {payload}, updated_at = {_SQLITE_NOW}
   WHERE {pending};
  INSERT INTO pending_jobs
    {_JOB_COLUMNS}
  SELECT NEW.tenant_id, '{JOB_TYPE}', {_KEY}, {payload}, 'pending', 0,
         {_SQLITE_NOW}, {_SQLITE_NOW}, {_SQLITE_NOW}
   WHERE NOT EXISTS (SELECT 1 FROM pending_jobs WHERE {pending});
END;
"""


def _postgres_winner_function() -> str:
    return f"""
CREATE OR REPLACE FUNCTION adc_queue_winner() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  r winner_rule%ROWTYPE;
  launched timestamptz;
BEGIN
  SELECT * INTO r FROM winner_rule WHERE id = 1;
  IF NOT FOUND THEN RETURN NULL; END IF;
  SELECT launched_at INTO launched FROM ads
   WHERE ads.tenant_id = NEW.tenant_id AND ads.ad_id = NEW.ad_id;
  IF {winner_condition(_POSTGRES)} THEN
    INSERT INTO pending_jobs
      {_JOB_COLUMNS}
    VALUES (NEW.tenant_id, '{JOB_TYPE}', {_KEY}, jsonb_build_object({_FIELDS}),
            'pending', 0, now(), now(), now())
    ON CONFLICT (job_type, dedupe_key) WHERE status = 'pending'
    DO UPDATE SET payload = EXCLUDED.payload, updated_at = now();
  END IF;
  RETURN NULL;
END
$$;
"""


SQLITE_CREATE = [_sqlite_winner_trigger("INSERT"), _sqlite_winner_trigger("UPDATE")]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS trg_metrics_winner_insert",
    "DROP TRIGGER IF EXISTS trg_metrics_winner_update",
]
POSTGRES_WINNER_CREATE = [
    _postgres_winner_function(),
    """
CREATE TRIGGER trg_metrics_winner AFTER INSERT OR UPDATE ON performance_metrics
FOR EACH ROW EXECUTE FUNCTION adc_queue_winner();
""",
]
POSTGRES_WINNER_DROP = [
    "DROP TRIGGER IF EXISTS trg_metrics_winner ON performance_metrics",
    "DROP FUNCTION IF EXISTS adc_queue_winner()",
]
POSTGRES_NOTIFY_CREATE = [
    f"""
CREATE OR REPLACE FUNCTION adc_notify_job() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('{NOTIFY_CHANNEL}', NEW.job_type);
  RETURN NULL;
END
$$;
""",
    """
CREATE TRIGGER trg_pending_jobs_notify AFTER INSERT ON pending_jobs
FOR EACH ROW EXECUTE FUNCTION adc_notify_job();
""",
]


def winner_create_statements(dialect: str) -> list[str]:
    """The statements that install the winner trigger (what the head migration installs)."""
    return POSTGRES_WINNER_CREATE if dialect == "postgresql" else SQLITE_CREATE


def winner_drop_statements(dialect: str) -> list[str]:
    return POSTGRES_WINNER_DROP if dialect == "postgresql" else SQLITE_DROP
