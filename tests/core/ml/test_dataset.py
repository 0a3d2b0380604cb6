"""Training data: table, versioned snapshot, time split (newest slice held out)."""

from __future__ import annotations

from pathlib import Path

import pyarrow.compute as pc
import pytest

from core.ml.config import training_config
from core.ml.dataset import DatasetError, build_table, read_snapshot, time_split, write_snapshot
from training.synthetic import synthetic_ads


def test_table_snapshot_and_time_split(tmp_path: Path) -> None:
    cfg = training_config()
    rows = synthetic_ads(300, seed=3)
    table = build_table(rows, cfg.features, min_impressions=cfg.dataset.min_impressions)
    assert table.num_rows == 300 and "video_0" in table.column_names
    snap = write_snapshot(table, tmp_path, kind="ctr", source="synthetic")
    assert snap.path.is_file() and snap.version.startswith("ds-")
    again = read_snapshot(snap.path)
    assert again.equals(table.replace_schema_metadata(again.schema.metadata))
    assert again.schema.metadata[b"adcluster.version"].decode() == snap.version
    split = time_split(table, cfg.dataset)
    assert sum(split.sizes().values()) == 300
    newest_train = pc.max(split.train["observed_at"]).as_py()
    assert newest_train <= pc.min(split.valid["observed_at"]).as_py()
    assert pc.max(split.valid["observed_at"]).as_py() <= pc.min(split.test["observed_at"]).as_py()


def test_same_content_same_version_suffix(tmp_path: Path) -> None:
    cfg = training_config()
    table = build_table(synthetic_ads(50, seed=4), cfg.features, min_impressions=1)
    a = write_snapshot(table, tmp_path, kind="ctr", source="synthetic")
    b = write_snapshot(table, tmp_path, kind="ctr", source="synthetic")
    assert a.version.rsplit("-", 1)[1] == b.version.rsplit("-", 1)[1]


def test_too_few_rows_is_a_clear_error() -> None:
    cfg = training_config()
    table = build_table(synthetic_ads(10, seed=5), cfg.features, min_impressions=1)
    with pytest.raises(DatasetError, match="need at least"):
        time_split(table, cfg.dataset)
