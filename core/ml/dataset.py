"""Training data: rows -> a pyarrow table, versioned Parquet snapshots, a time split.

A row is one ad's latest cumulative outcome (``impressions``, ``clicks``, ``conversions``,
``revenue`` as of ``observed_at``) with its creative's raw features (``video_features``,
``hook_text``, ``cta``, ``template``; see ``core.domain.model_features``). Sources:
``core.db.training_data.latest_outcomes`` (the database) or ``training.synthetic``.

The newest slice (by ``observed_at``) is held out: the champion and the challenger are
scored on it; the slice before it is the validation set of the Tune trials.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from core.domain.model_features import encode_many, feature_names
from core.ml.config import DatasetConfig, FeatureConfig

OUTCOMES = ("impressions", "clicks", "conversions", "revenue")


class DatasetError(ValueError):
    """Not enough usable rows, or a malformed snapshot."""


@dataclass(frozen=True)
class Snapshot:
    version: str
    path: Path
    rows: int


@dataclass(frozen=True)
class Split:
    train: pa.Table
    valid: pa.Table
    test: pa.Table

    def sizes(self) -> dict[str, int]:
        return {
            "train": self.train.num_rows,
            "valid": self.valid.num_rows,
            "test": self.test.num_rows,
        }


def build_table(
    rows: Iterable[Mapping[str, Any]], features: FeatureConfig, *, min_impressions: int
) -> pa.Table:
    """One row per ad with at least ``min_impressions``: ids, time, outcomes, encoded features.

    Columns: ``tenant_id``, ``ad_id``, ``observed_at`` (UTC), the outcomes, ``true_ctr``
    (null unless the source knows it) and one float32 column per ``feature_names``.
    """
    kept = [r for r in rows if int(r["impressions"]) >= min_impressions]
    names = feature_names(features.video_dim, features.hash_buckets)
    matrix = encode_many(kept, video_dim=features.video_dim, hash_buckets=features.hash_buckets)
    columns: dict[str, pa.Array] = {
        "tenant_id": pa.array([str(r["tenant_id"]) for r in kept], pa.string()),
        "ad_id": pa.array([str(r["ad_id"]) for r in kept], pa.string()),
        "observed_at": pa.array([_utc(r["observed_at"]) for r in kept], pa.timestamp("us", "UTC")),
        "impressions": pa.array([int(r["impressions"]) for r in kept], pa.int64()),
        "clicks": pa.array([int(r["clicks"]) for r in kept], pa.int64()),
        "conversions": pa.array([int(r.get("conversions") or 0) for r in kept], pa.int64()),
        "revenue": pa.array([float(r.get("revenue") or 0.0) for r in kept], pa.float64()),
        "true_ctr": pa.array([r.get("true_ctr") for r in kept], pa.float64()),
    }
    for j, name in enumerate(names):
        columns[name] = pa.array(matrix[:, j], pa.float32())
    table = pa.table(columns)
    bad = pc.sum(pc.greater(table["clicks"], table["impressions"])).as_py() if kept else 0
    if bad:
        raise DatasetError(f"{bad} row(s) with clicks > impressions")
    return table


def _utc(value: datetime | str) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def write_snapshot(
    table: pa.Table, directory: Path, *, kind: str, source: str, now: datetime | None = None
) -> Snapshot:
    """Write ``table`` as ``<directory>/<kind>/<version>.parquet`` (never overwritten).

    The version is ``ds-<UTC time>-<first 8 hex of the content's SHA-256>``; the file's
    metadata records the source and the row count.
    """
    now = now or datetime.now(UTC)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    digest = hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()[:8]
    version = f"ds-{now:%Y%m%dT%H%M%S}-{digest}"
    meta = {
        b"adcluster.version": version.encode(),
        b"adcluster.source": source.encode(),
        b"adcluster.kind": kind.encode(),
    }
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **meta})
    path = directory / kind / f"{version}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        pq.write_table(table, tmp)
        tmp.replace(path)
    return Snapshot(version=version, path=path, rows=table.num_rows)


def read_snapshot(path: Path) -> pa.Table:
    return pq.read_table(path)


def time_split(table: pa.Table, config: DatasetConfig) -> Split:
    """Oldest rows train, then validation, newest held out (fractions of the rows)."""
    n = table.num_rows
    if n < config.min_rows:
        raise DatasetError(f"{n} usable rows, need at least {config.min_rows}")
    ordered = table.take(
        pc.sort_indices(table, [("observed_at", "ascending"), ("ad_id", "ascending")])
    )
    n_test = max(1, int(round(n * config.holdout_fraction)))
    n_valid = max(1, int(round(n * config.validation_fraction)))
    n_train = n - n_test - n_valid
    if n_train < 1:
        raise DatasetError(f"{n} rows leave nothing to train on")
    return Split(
        train=ordered.slice(0, n_train),
        valid=ordered.slice(n_train, n_valid),
        test=ordered.slice(n_train + n_valid),
    )


def matrix(table: pa.Table, names: list[str]) -> np.ndarray:
    """Feature columns ``names`` as a ``(n_rows, len(names))`` float32 array."""
    if not names:
        return np.zeros((table.num_rows, 0), dtype=np.float32)
    return np.column_stack([table[n].to_numpy() for n in names]).astype(np.float32)


def column(table: pa.Table, name: str) -> np.ndarray:
    return table[name].to_numpy(zero_copy_only=False).astype(np.float64)
