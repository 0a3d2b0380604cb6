"""The winner trigger (SPEC §3.1) and the job-notify trigger, as SQL per dialect.

Thresholds are not in the SQL: the trigger reads them from ``winner_rule`` (row 1), which
``core.db.migrate.sync_winner_rule`` keeps equal to the settings. Hours live are counted
from the ad's ``launched_at`` to the metrics row's ``observed_at``. One pending
``rag_index_winner`` job per ad: a newer qualifying row refreshes the queued job's payload.
"""

from __future__ import annotations

JOB_TYPE = "rag_index_winner"
NOTIFY_CHANNEL = "adcluster_jobs"

_SQLITE_NOW = "strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'"
_SQLITE_RULE = "(SELECT {col} FROM winner_rule WHERE id = 1)"


def _sqlite_winner_trigger(event: str) -> str:
    r = {
        c: _SQLITE_RULE.format(col=c)
        for c in ("min_impressions", "min_ctr", "min_roas", "min_hours_live")
    }
    key = "NEW.tenant_id || ':' || NEW.ad_id"
    payload = (
        "json_object('ad_id', NEW.ad_id, 'video_id', NEW.video_id, 'tenant_id', NEW.tenant_id, "
        "'ctr', NEW.ctr, 'roas', NEW.roas, 'impressions', NEW.impressions, 'metrics_id', NEW.id)"
    )
    return f"""
CREATE TRIGGER trg_metrics_winner_{event.lower()} AFTER {event} ON performance_metrics
FOR EACH ROW
WHEN NEW.impressions >= {r["min_impressions"]}
 AND (NEW.ctr > {r["min_ctr"]} OR NEW.roas > {r["min_roas"]})
 AND (julianday(NEW.observed_at)
      - julianday((SELECT launched_at FROM ads WHERE ads.ad_id = NEW.ad_id))) * 24.0
     >= {r["min_hours_live"]}
BEGIN
  UPDATE pending_jobs SET payload = {payload}, updated_at = {_SQLITE_NOW}
   WHERE job_type = '{JOB_TYPE}' AND dedupe_key = {key} AND status = 'pending';
  INSERT INTO pending_jobs
    (tenant_id, job_type, dedupe_key, payload, status, attempts, run_after, created_at, updated_at)
  SELECT NEW.tenant_id, '{JOB_TYPE}', {key}, {payload}, 'pending', 0,
         {_SQLITE_NOW}, {_SQLITE_NOW}, {_SQLITE_NOW}
   WHERE NOT EXISTS (SELECT 1 FROM pending_jobs
                      WHERE job_type = '{JOB_TYPE}' AND dedupe_key = {key} AND status = 'pending');
END;
"""


SQLITE_CREATE = [_sqlite_winner_trigger("INSERT"), _sqlite_winner_trigger("UPDATE")]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS trg_metrics_winner_insert",
    "DROP TRIGGER IF EXISTS trg_metrics_winner_update",
]

POSTGRES_CREATE = [
    f"""
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
  VALUES (NEW.tenant_id, '{JOB_TYPE}', NEW.tenant_id || ':' || NEW.ad_id,
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
POSTGRES_DROP = [
    "DROP TRIGGER IF EXISTS trg_pending_jobs_notify ON pending_jobs",
    "DROP FUNCTION IF EXISTS adc_notify_job()",
    "DROP TRIGGER IF EXISTS trg_metrics_winner ON performance_metrics",
    "DROP FUNCTION IF EXISTS adc_queue_winner()",
]


def create_statements(dialect: str) -> list[str]:
    return POSTGRES_CREATE if dialect == "postgresql" else SQLITE_CREATE


def drop_statements(dialect: str) -> list[str]:
    return POSTGRES_DROP if dialect == "postgresql" else SQLITE_DROP
