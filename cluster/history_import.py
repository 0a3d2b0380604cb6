"""Historical ads and performance metrics from a CSV or Parquet file into the database.

One row a cumulative snapshot of an ad, columns named as the HTTP API names them:

- required: ``ad_id``, ``impressions``, ``clicks``, ``observed_at``;
- optional metrics (``POST /api/ml/feedback``): ``conversions``, ``spend``, ``revenue``,
  ``video_id``, ``actual_ctr``, ``actual_roas``;
- optional ad columns (``POST /api/ads``), one value an ad: ``launched_at``, ``name``,
  ``platform``, ``campaign_id``, ``ad_set_id``, ``status``, ``daily_budget``, and the
  creative's ``creative_id``, ``video_path``, ``hook_text``, ``cta``, ``template``.

Every row is checked with the API's own request models (the same rules as the gateway) and
the whole file is checked before anything is written: a bad file writes nothing and each
problem names its line (CSV) or row (Parquet) and column. Rows are written in time order,
in transactions of ``api.max_batch_rows``, through the feedback batch path of
``core.db.feedback`` (``COPY`` on PostgreSQL), so the winner trigger queues indexing jobs
exactly as for live feedback. A snapshot already stored (same tenant, ad and
``observed_at``) is skipped: importing a file again adds nothing, and a failed import can
simply be run again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError
from sqlalchemy import select

from core.db.ads import Ad, CreativeSpec, get_ad, upsert_ad
from core.db.engine import Database
from core.db.feedback import FeedbackRow, record_new_feedback
from core.db.migrate import ensure_tenant
from core.job_entry import JobInputError
from core.settings import Settings
from serve_apps.gateway.schemas import AdIn, FeedbackIn

REQUIRED = ("ad_id", "impressions", "clicks", "observed_at")
METRIC_COLUMNS = tuple(c for c in FeedbackIn.model_fields if c != "launched_at")
AD_COLUMNS = ("launched_at", "name", "platform", "campaign_id", "ad_set_id", "status")
AD_COLUMNS += ("daily_budget",)
CREATIVE_COLUMNS = ("creative_id", "video_path", "hook_text", "cta", "template")
KNOWN = METRIC_COLUMNS + AD_COLUMNS + CREATIVE_COLUMNS
FORMATS = ("auto", "csv", "parquet")
SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
MAX_LISTED = 50  # problems listed in the error; the count covers all


@dataclass
class ImportResult:
    file: str
    tenant_id: str
    rows: int = 0
    inserted: int = 0
    skipped_existing: int = 0
    ads_created: int = 0
    ads_updated: int = 0
    winner_rows: int = 0
    winner_ads: int = 0
    jobs_queued: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"status": "completed", **self.__dict__}


@dataclass(frozen=True)
class _Checked:
    rows: list[FeedbackRow]  # in file order
    ads: dict[str, AdIn]  # ads with ad columns in the file


def detect_format(path: Path, fmt: str = "auto") -> str:
    if fmt not in FORMATS:
        raise JobInputError(f"unknown format {fmt!r}: use {', '.join(FORMATS)}")
    if fmt != "auto":
        return fmt
    for suffix in reversed([s.lower() for s in path.suffixes]):
        if suffix in SUFFIXES:
            return SUFFIXES[suffix]
    raise JobInputError(f"{path}: cannot tell the format from the suffix; pass --format")


def read_frame(path: Path, fmt: str = "auto") -> tuple[pd.DataFrame, str]:
    """The table and its format; CSV cells are read as text (the models parse them)."""
    kind = detect_format(path, fmt)
    if not path.is_file():
        raise JobInputError(f"file not found: {path}")
    try:
        if kind == "csv":
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
        else:
            frame = pd.read_parquet(path)
    except Exception as exc:  # pandas and pyarrow raise many types for a bad file
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise JobInputError(f"{path}: cannot read as {kind}: {first}") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame, kind


def _missing(value: Any) -> bool:
    if value is None or (isinstance(value, str) and not value.strip()):
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return value is pd.NaT


def _errors(where: str, exc: ValidationError) -> list[str]:
    out = []
    for e in exc.errors():
        column = ".".join(str(p) for p in e["loc"] if p != "creative")
        msg = e["msg"].removeprefix("Value error, ")
        out.append(f"{where}, column {column}: {msg}" if column else f"{where}: {msg}")
    return out


def check_frame(frame: pd.DataFrame, kind: str) -> _Checked:
    """Every row through the API's models; ``JobInputError`` listing each problem."""
    columns = list(frame.columns)
    unknown = [c for c in columns if c not in KNOWN]
    missing = [c for c in REQUIRED if c not in columns]
    dupes = sorted({c for c in columns if columns.count(c) > 1})
    if unknown or missing or dupes:
        parts = []
        if missing:
            parts.append(f"missing column(s) {', '.join(map(repr, missing))}")
        if unknown:
            parts.append(f"unknown column(s) {', '.join(map(repr, unknown))}")
        if dupes:
            parts.append(f"repeated column(s) {', '.join(map(repr, dupes))}")
        raise JobInputError(f"{'; '.join(parts)} (known: {', '.join(KNOWN)})")
    if frame.empty:
        raise JobInputError("the file has no rows")

    def where(i: int) -> str:
        return f"line {i + 2}" if kind == "csv" else f"row {i + 1}"

    ad_cols = [c for c in columns if c in AD_COLUMNS or c in CREATIVE_COLUMNS]
    problems: list[str] = []
    rows: list[FeedbackRow] = []
    seen: dict[tuple[str, datetime], int] = {}
    per_ad: dict[str, dict[str, tuple[Any, int]]] = {}
    for i, record in enumerate(frame.to_dict(orient="records")):
        values = {k: v for k, v in record.items() if not _missing(v)}
        metrics = {k: v for k, v in values.items() if k in METRIC_COLUMNS or k == "launched_at"}
        try:
            item = FeedbackIn.model_validate(metrics)
        except ValidationError as exc:
            problems += _errors(where(i), exc)
            continue
        if item.observed_at is None:
            problems.append(f"{where(i)}, column observed_at: required in an import")
            continue
        key = (item.ad_id, item.observed_at)
        if key in seen:
            problems.append(
                f"{where(i)}: ad {item.ad_id!r} observed_at {item.observed_at.isoformat()} "
                f"repeats {where(seen[key])}"
            )
            continue
        seen[key] = i
        rows.append(FeedbackRow(**item.model_dump()))
        ad_values = per_ad.setdefault(item.ad_id, {})
        for c in ad_cols:
            if c not in values:
                continue
            value = item.launched_at if c == "launched_at" else values[c]
            first = ad_values.setdefault(c, (value, i))
            if first[0] != value:
                problems.append(
                    f"{where(i)}, column {c}: ad {item.ad_id!r} has {value!r} here and "
                    f"{first[0]!r} on {where(first[1])} (one value an ad)"
                )
    ads: dict[str, AdIn] = {}
    for ad_id, ad_values in per_ad.items():
        if not ad_values:
            continue
        plain = {c: v for c, (v, _) in ad_values.items()}
        creative = {c: plain.pop(c) for c in CREATIVE_COLUMNS if c in plain}
        try:
            ads[ad_id] = AdIn.model_validate(
                {"ad_id": ad_id, **plain, **({"creative": creative} if creative else {})}
            )
        except ValidationError as exc:
            first_row = min(i for _, i in ad_values.values())
            problems += _errors(f"{where(first_row)} (ad {ad_id!r})", exc)
    if problems:
        listed = problems[:MAX_LISTED]
        more = f" (first {MAX_LISTED} listed)" if len(problems) > MAX_LISTED else ""
        raise JobInputError(f"{len(problems)} problem(s){more}; nothing was imported", listed)
    return _Checked(rows=rows, ads=ads)


def _write_ads(db: Database, tenant_id: str, checked: _Checked, result: ImportResult) -> None:
    """The ads with ad columns, as ``POST /api/ads`` would (one transaction); a new ad with
    no ``launched_at`` starts at its first snapshot, as ``POST /api/ml/feedback`` does."""
    if not checked.ads:
        return
    first_seen: dict[str, datetime] = {}
    for r in checked.rows:
        if r.observed_at is not None and (
            r.ad_id not in first_seen or r.observed_at < first_seen[r.ad_id]
        ):
            first_seen[r.ad_id] = r.observed_at
    with db.session() as s:
        for ad_id in sorted(checked.ads):
            ad = checked.ads[ad_id]
            exists = get_ad(s, tenant_id, ad_id) is not None
            fields = ad.model_dump(exclude={"ad_id", "launched_at", "creative"}, exclude_none=True)
            creative = ad.creative.model_dump() if ad.creative else None
            upsert_ad(
                s,
                tenant_id=tenant_id,
                ad_id=ad_id,
                launched_at=ad.launched_at or (None if exists else first_seen.get(ad_id)),
                creative=CreativeSpec(**creative) if creative else None,
                **fields,
            )
            if exists:
                result.ads_updated += 1
            else:
                result.ads_created += 1


def import_file(
    settings: Settings, path: Path, *, tenant_id: str, fmt: str = "auto"
) -> ImportResult:
    """Check the whole file, then write it (see the module's docstring)."""
    frame, kind = read_frame(path, fmt)
    checked = check_frame(frame, kind)
    result = ImportResult(file=str(path), tenant_id=tenant_id, rows=len(checked.rows))
    rows = sorted(checked.rows, key=lambda r: r.observed_at or datetime.min)
    chunk = settings.api.max_batch_rows
    db = Database(settings.db_url)
    try:
        ensure_tenant(db, tenant_id)
        known = _known_ads(db, tenant_id, {r.ad_id for r in rows})
        _write_ads(db, tenant_id, checked, result)
        new_ads = {r.ad_id for r in rows} - known - set(checked.ads)
        winners: set[str] = set()
        jobs: set[int] = set()
        for start in range(0, len(rows), chunk):
            with db.engine.begin() as conn:
                stored, skipped = record_new_feedback(
                    conn, rows[start : start + chunk], tenant_id=tenant_id, rule=settings.winner
                )
            result.inserted += len(stored)
            result.skipped_existing += skipped
            result.winner_rows += sum(r.winner for r in stored)
            winners.update(r.ad_id for r in stored if r.winner)
            jobs.update(r.job_id for r in stored if r.job_id is not None)
        result.ads_created += len(new_ads)
        result.winner_ads = len(winners)
        result.jobs_queued = sorted(jobs)
    finally:
        db.dispose()
    return result


def _known_ads(db: Database, tenant_id: str, ad_ids: set[str], chunk: int = 5000) -> set[str]:
    """Which of ``ad_ids`` the tenant has (one SELECT per ``chunk`` ids)."""
    ids, found = sorted(ad_ids), set()
    with db.session() as s:
        for start in range(0, len(ids), chunk):
            found.update(
                s.scalars(
                    select(Ad.ad_id).where(
                        Ad.tenant_id == tenant_id, Ad.ad_id.in_(ids[start : start + chunk])
                    )
                )
            )
    return found
