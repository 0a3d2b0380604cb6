"""``python -m cluster.import_job FILE``: historical ads and metrics (CSV, Parquet) go in through
the feedback batch path (the winner trigger queues jobs), a second import of the same file adds
nothing, and a bad file writes nothing and names its bad lines and columns."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from sqlalchemy import func, select

from cluster.import_job import main
from core.db.engine import Database
from core.db.models import Ad, Creative, PendingJob, PerformanceMetric
from core.job_entry import parse_result
from core.settings import Settings

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
COLUMNS = "ad_id,observed_at,impressions,clicks,spend,revenue,launched_at,campaign_id,hook_text"


def history_rows() -> list[dict[str, Any]]:
    """Ad w1 becomes a winner (CTR 5 % after 32 h live); n1 never does (CTR 1 %, ROAS 1.5)."""
    launched = T0 - timedelta(hours=30)
    return [
        dict(ad_id="w1", observed_at=T0, impressions=500, clicks=10, spend=5.0, revenue=6.0,
             launched_at=launched, campaign_id="c1", hook_text="Wait for it"),
        dict(ad_id="w1", observed_at=T0 + timedelta(hours=2), impressions=2000, clicks=100,
             spend=20.0, revenue=30.0, launched_at=launched, campaign_id="c1", hook_text=None),
        dict(ad_id="n1", observed_at=T0 + timedelta(hours=1), impressions=5000, clicks=50,
             spend=100.0, revenue=150.0, launched_at=None, campaign_id=None, hook_text=None),
        dict(ad_id="n1", observed_at=T0, impressions=3000, clicks=30, spend=60.0, revenue=90.0,
             launched_at=None, campaign_id=None, hook_text=None),
    ]  # fmt: skip


def write_csv(path: Path, rows: list[dict[str, Any]], header: str = COLUMNS) -> Path:
    def cell(v: Any) -> str:
        return "" if v is None else (v.isoformat() if isinstance(v, datetime) else str(v))

    lines = [header] + [",".join(cell(r.get(c)) for c in header.split(",")) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def job_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The job reads its settings from the environment, as under ``ray job submit``."""
    monkeypatch.setenv("DATABASE_URL", settings.db_url)
    monkeypatch.setenv("ADCLUSTER_DATA_DIR", settings.data_dir)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    return settings


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code = main(list(argv))
    return code, parse_result(capsys.readouterr().out)


def counts(settings: Settings, tenant: str) -> tuple[int, int]:
    """(metrics rows, winner jobs) of the tenant."""
    db = Database(settings.db_url)
    try:
        with db.session() as s:
            metrics = s.scalar(select(func.count()).where(PerformanceMetric.tenant_id == tenant))
            jobs = s.scalar(select(func.count()).where(PendingJob.tenant_id == tenant))
        return metrics, jobs
    finally:
        db.dispose()


def test_csv_import_fires_the_trigger_and_a_second_import_adds_nothing(
    job_env: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_csv(tmp_path / "history.csv", history_rows())
    code, result = run(capsys, str(path))
    assert code == 0, result
    assert result["status"] == "completed" and result["notified"] == []
    assert (result["rows"], result["inserted"], result["skipped_existing"]) == (4, 4, 0)
    assert (result["ads_created"], result["ads_updated"]) == (2, 0)
    assert (result["winner_rows"], result["winner_ads"], len(result["jobs_queued"])) == (1, 1, 1)
    db = Database(job_env.db_url)
    try:
        with db.session() as s:
            job = s.get(PendingJob, result["jobs_queued"][0])
            assert (job.job_type, job.dedupe_key) == ("rag_index_winner", "default:w1")
            assert job.payload["impressions"] == 2000  # the latest qualifying snapshot
            w1 = s.get(Ad, {"tenant_id": "default", "ad_id": "w1"})
            n1 = s.get(Ad, {"tenant_id": "default", "ad_id": "n1"})
            assert w1.campaign_id == "c1" and w1.launched_at == T0 - timedelta(hours=30)
            creative = s.get(Creative, {"tenant_id": "default", "creative_id": w1.creative_id})
            assert creative.hook_text == "Wait for it"
            assert n1.launched_at == T0  # no launched_at: its first snapshot, as feedback does
    finally:
        db.dispose()

    code, again = run(capsys, str(path))
    assert code == 0 and (again["inserted"], again["skipped_existing"]) == (0, 4)
    assert again["ads_created"] == 0 and again["ads_updated"] == 1 and again["jobs_queued"] == []
    assert counts(job_env, "default") == (4, 1)

    grown = history_rows() + [
        dict(ad_id="n1", observed_at=T0 + timedelta(hours=3), impressions=6000, clicks=61)
    ]
    code, more = run(capsys, str(write_csv(tmp_path / "more.csv", grown)))
    assert code == 0 and (more["inserted"], more["skipped_existing"]) == (1, 4)
    assert counts(job_env, "default") == (5, 1)


def test_parquet_import_into_another_tenant(
    job_env: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "history.parquet"
    pd.DataFrame(history_rows()).to_parquet(path)
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    code, result = run(capsys, str(path), "--tenant", tenant)
    assert code == 0, result
    assert (result["tenant_id"], result["inserted"], result["winner_ads"]) == (tenant, 4, 1)
    assert counts(job_env, tenant) == (4, 1) and counts(job_env, "default") == (0, 0)
    code, again = run(capsys, str(path), "--tenant", tenant)
    assert code == 0 and again["skipped_existing"] == 4 and counts(job_env, tenant) == (4, 1)


FUTURE = (datetime.now(UTC) + timedelta(days=2)).isoformat()


@pytest.mark.parametrize(
    ("header", "lines", "message"),
    [
        ("ad_id,observed_at,impressions", [], "missing column(s) 'clicks'"),
        ("ad_id,observed_at,impressions,clicks,clickz", [], "unknown column(s) 'clickz'"),
        ("ad_id,observed_at,impressions,clicks", [], "the file has no rows"),
        (
            "ad_id,observed_at,impressions,clicks",
            ["a,2026-01-01T00:00:00Z,10,1", "a,2026-01-02T00:00:00Z,-5,1"],
            "line 3, column impressions: Input should be greater than or equal to 0",
        ),
        (
            "ad_id,observed_at,impressions,clicks",
            ["a,2026-01-01T00:00:00Z,10,11"],
            "line 2: clicks must not exceed impressions",
        ),
        (
            "ad_id,observed_at,impressions,clicks",
            ["a,,10,1"],
            "line 2, column observed_at: required in an import",
        ),
        (
            "ad_id,observed_at,impressions,clicks",
            [f"a,{FUTURE},10,1"],
            "line 2, column observed_at: must not be in the future",
        ),
        (
            "ad_id,observed_at,impressions,clicks",
            ["a,2026-01-01T00:00:00Z,ten,1"],
            "line 2, column impressions: Input should be a valid integer",
        ),
        (
            "ad_id,observed_at,impressions,clicks",
            ["bad id,2026-01-01T00:00:00Z,10,1"],
            "line 2, column ad_id: String should match pattern",
        ),
        (
            "ad_id,observed_at,impressions,clicks",
            ["a,2026-01-01T00:00:00Z,10,1", "a,2026-01-01T00:00:00+00:00,20,2"],
            "line 3: ad 'a' observed_at 2026-01-01T00:00:00+00:00 repeats line 2",
        ),
        (
            "ad_id,observed_at,impressions,clicks,campaign_id",
            ["a,2026-01-01T00:00:00Z,10,1,c1", "a,2026-01-02T00:00:00Z,20,2,c2"],
            "line 3, column campaign_id: ad 'a' has 'c2' here and 'c1' on line 2",
        ),
        (
            "ad_id,observed_at,impressions,clicks,platform",
            ["a,2026-01-01T00:00:00Z,10,1,tiktok"],
            "line 2 (ad 'a'), column platform: Input should be 'simulator' or 'meta'",
        ),
    ],
)
def test_a_bad_csv_writes_nothing_and_names_the_problem(
    job_env: Settings,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    header: str,
    lines: list[str],
    message: str,
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("\n".join([header, *lines]) + "\n")
    code, result = run(capsys, str(path))
    assert code == 2 and result["status"] == "invalid"
    assert message in " | ".join([result["error"], *result["problems"]]), result
    assert counts(job_env, "default") == (0, 0)


def test_unreadable_files_and_arguments_exit_2(
    job_env: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junk = tmp_path / "junk.parquet"
    junk.write_bytes(b"not parquet at all")
    cases = [
        ([str(junk)], "cannot read as parquet"),
        ([str(tmp_path / "missing.csv")], "file not found"),
        ([str(tmp_path / "history.txt")], "cannot tell the format"),
        ([str(junk), "--format", "xlsx"], "invalid choice: 'xlsx'"),
        ([], "the following arguments are required: file"),
    ]
    for argv, message in cases:
        code, result = run(capsys, *argv)
        assert code == 2 and result["status"] == "invalid" and message in result["error"], argv


def test_problems_are_listed_up_to_a_limit(
    job_env: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [f"a{i},2026-01-01T00:00:00Z,-1,0" for i in range(80)]
    path = tmp_path / "many.csv"
    path.write_text("\n".join(["ad_id,observed_at,impressions,clicks", *rows]) + "\n")
    code, result = run(capsys, str(path))
    assert code == 2 and result["error"].startswith("80 problem(s) (first 50 listed)")
    assert len(result["problems"]) == 50 and result["problems"][0].startswith("line 2, ")


@pytest.mark.ray
def test_import_on_a_running_app_refolds_experiments_and_indexes_winners(
    client: httpx.Client,
    app_settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Against the session's app: the sampler refolds the imported history into a running
    experiment, and the woken job consumer indexes the imported winner."""
    tag = uuid.uuid4().hex[:6]
    winner, other = f"imp-{tag}-w", f"imp-{tag}-n"
    for ad in (winner, other):
        assert client.post("/api/ads", json={"ad_id": ad}).status_code == 200
    exp = client.post("/api/ml/experiments", json={"ad_ids": [winner, other]}).json()
    before = client.get("/api/ml/rag/memory-stats").json()["winner_count"]
    now = datetime.now(UTC).replace(microsecond=0)
    rows = [
        dict(ad_id=winner, observed_at=now - timedelta(hours=1), impressions=4000, clicks=200,
             launched_at=now - timedelta(days=3)),
        dict(ad_id=other, observed_at=now - timedelta(hours=1), impressions=4000, clicks=40,
             launched_at=now - timedelta(days=3)),
    ]  # fmt: skip
    path = write_csv(
        tmp_path / "h.csv", rows, header="ad_id,observed_at,impressions,clicks,launched_at"
    )
    monkeypatch.setenv("DATABASE_URL", app_settings.db_url)
    monkeypatch.setenv("ADCLUSTER_DATA_DIR", app_settings.data_dir)
    monkeypatch.setenv("ADCLUSTER_RAY__NAMESPACE", app_settings.ray.namespace)
    code, result = run(capsys, str(path), "--address", "auto")  # the session's Ray instance
    assert code == 0, result
    assert result["notified"] == ["thompson_sampler", "job_consumer"]
    arms = {
        a["ad_id"]: a
        for a in client.get(f"/api/ml/experiments/{exp['experiment_id']}").json()["arms"]
    }
    assert (arms[winner]["trials"], arms[winner]["successes"]) == (4000, 200)
    assert (arms[other]["trials"], arms[other]["successes"]) == (4000, 40)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        stats = client.get("/api/ml/rag/memory-stats").json()
        if stats["winner_count"] >= before + 1:
            break
        time.sleep(0.2)
    assert stats["winner_count"] == before + 1, json.dumps(stats)
