"""Logged bandit feedback for off-policy evaluation: reading logs, and ``configs/ope.yaml``.

Two column layouts are read (CSV or Parquet):

- adcluster's own: ``item_id, reward, propensity`` (+ optional ``timestamp``, ``context``);
- the Open Bandit Dataset's (Saito et al. 2021, ``{behavior_policy}/{campaign}.csv``):
  ``timestamp, item_id, position, click, propensity_score`` plus feature columns
  (``user_feature_*``, ``user-item_affinity_*``); ``click`` becomes ``reward`` and
  ``propensity_score`` becomes ``propensity``. Positions are pooled.

Every log becomes one frame with ``item_id`` (text), ``reward`` and ``propensity`` (floats)
and whatever else it had; rows are in time order when there is a ``timestamp``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from core.config import ConfigModel, load_config

Layout = Literal["adcluster", "open_bandit"]
FORMATS: tuple[str, ...] = ("auto", "csv", "parquet")
OUR_COLUMNS: tuple[str, ...] = ("item_id", "reward", "propensity")
OBD_COLUMNS: tuple[str, ...] = ("timestamp", "item_id", "position", "click", "propensity_score")
OBD_RENAME = {"click": "reward", "propensity_score": "propensity"}
FEATURE_PREFIXES: tuple[str, ...] = ("user_feature_", "user-item_affinity_", "item_feature_")
SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


class LogError(ValueError):
    """A log that cannot be read, or lacks a column or a valid value."""


class BootstrapConfig(ConfigModel):
    rounds: int = Field(ge=1, le=1_000_000)
    confidence: float = Field(gt=0, lt=1)
    seed: int | None


class GateConfig(ConfigModel):
    estimator: Literal["ips", "snips", "dr"]
    tolerance: float = Field(ge=0, lt=1)


class PoliciesConfig(ConfigModel):
    split: float = Field(ge=0, lt=1)
    greedy_epsilon: float = Field(ge=0, le=1)
    thompson_draws: int = Field(ge=1)


class OpeConfig(ConfigModel):
    """All of ``configs/ope.yaml`` (values and comments there)."""

    bootstrap: BootstrapConfig
    gate: GateConfig
    policies: PoliciesConfig

    @classmethod
    def load(
        cls, path: Path | None = None, overrides: Mapping[str, Any] | None = None
    ) -> OpeConfig:
        """``configs/ope.yaml`` (or ``path``), ``overrides`` (nested, e.g. flags) merged last."""
        return load_config("ope.yaml", cls, path=path, overrides=overrides)


@dataclass(frozen=True)
class BanditLog:
    """A normalised log: ``frame`` has ``item_id``, ``reward``, ``propensity`` and more."""

    frame: pd.DataFrame
    layout: Layout
    source: str

    @property
    def n(self) -> int:
        return len(self.frame)

    @property
    def items(self) -> list[str]:
        """Item ids seen in the log, sorted (an action is an index into this list)."""
        return sorted(self.frame["item_id"].unique())

    @property
    def feature_columns(self) -> list[str]:
        return [c for c in self.frame.columns if str(c).startswith(FEATURE_PREFIXES)]

    def actions(self, items: list[str]) -> np.ndarray:
        """Index into ``items`` of each row's item, shape ``(n,)`` (every item must be there)."""
        index = pd.Index(items)
        out = index.get_indexer(self.frame["item_id"])
        if np.any(out < 0):
            missing = sorted(set(self.frame["item_id"]) - set(items))
            raise LogError(f"items not in the item list: {', '.join(missing[:5])}")
        return out.astype(np.intp)

    def split(self, fraction: float) -> tuple[BanditLog, BanditLog]:
        """The first ``fraction`` of rows (in time order) and the rest; both non-empty."""
        if not 0 < fraction < 1:
            raise ValueError(f"split must lie in (0, 1), got {fraction!r}")
        cut = int(self.n * fraction)
        if cut < 1 or cut >= self.n:
            raise LogError(f"split {fraction} leaves no rows on one side of a {self.n}-row log")
        head, tail = self.frame.iloc[:cut], self.frame.iloc[cut:]
        return (
            BanditLog(head.reset_index(drop=True), self.layout, self.source),
            BanditLog(tail.reset_index(drop=True), self.layout, self.source),
        )


def detect_format(path: Path, fmt: str = "auto") -> str:
    """``csv`` or ``parquet``: ``fmt``, or from the file's suffix when ``auto``."""
    if fmt not in FORMATS:
        raise LogError(f"unknown format {fmt!r}: use {', '.join(FORMATS)}")
    if fmt != "auto":
        return fmt
    suffixes = [s.lower() for s in path.suffixes]
    for suffix in reversed(suffixes):
        if suffix in SUFFIXES:
            return SUFFIXES[suffix]
    raise LogError(f"{path}: cannot tell the format from the suffix; pass --format csv|parquet")


def read_frame(path: Path, fmt: str = "auto") -> pd.DataFrame:
    """The raw table in ``path`` (CSV or Parquet)."""
    kind = detect_format(path, fmt)
    if not path.is_file():
        raise LogError(f"log file not found: {path}")
    try:
        return pd.read_csv(path) if kind == "csv" else pd.read_parquet(path)
    except Exception as exc:  # pandas and pyarrow raise many types for a bad file
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise LogError(f"{path}: cannot read as {kind}: {first}") from exc


def _layout(columns: list[str], source: str) -> Layout:
    have = set(columns)
    if have.issuperset(OUR_COLUMNS):
        return "adcluster"
    if have & {"click", "propensity_score", "position"}:
        missing = [c for c in OBD_COLUMNS if c not in have]
        if missing:
            raise LogError(f"{source}: Open Bandit layout lacks column(s) {', '.join(missing)}")
        return "open_bandit"
    missing = [c for c in OUR_COLUMNS if c not in have]
    raise LogError(
        f"{source}: missing column(s) {', '.join(missing)} (need {', '.join(OUR_COLUMNS)}, "
        f"or the Open Bandit layout {', '.join(OBD_COLUMNS)})"
    )


def _numeric(frame: pd.DataFrame, column: str, source: str) -> pd.Series:
    values = pd.to_numeric(frame[column], errors="coerce").astype(float)
    bad = np.flatnonzero(~np.isfinite(values.to_numpy()))
    if bad.size:
        raise LogError(
            f"{source}: column {column!r} row {bad[0]}: not a finite number "
            f"({frame[column].iloc[bad[0]]!r})"
        )
    return values


def _time_order(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    ts = frame["timestamp"]
    if not (pd.api.types.is_numeric_dtype(ts) or pd.api.types.is_datetime64_any_dtype(ts)):
        try:
            ts = pd.to_datetime(ts, utc=True, format="mixed")
        except (ValueError, TypeError) as exc:
            raise LogError(f"{source}: column 'timestamp' is not a time: {exc}") from exc
    if ts.isna().any():
        raise LogError(f"{source}: column 'timestamp' has empty values")
    order = np.argsort(ts.to_numpy(), kind="stable")
    return frame.iloc[order].reset_index(drop=True)


def normalise(frame: pd.DataFrame, source: str = "log") -> BanditLog:
    """A :class:`BanditLog` from a raw table in either layout (see the module docstring)."""
    if frame.empty:
        raise LogError(f"{source}: the log has no rows")
    frame = frame.rename(columns=lambda c: str(c).strip())
    layout = _layout(list(frame.columns), source)
    if layout == "open_bandit":
        frame = frame.drop(columns=[c for c in OBD_RENAME.values() if c in frame.columns])
        frame = frame.rename(columns=OBD_RENAME)
    frame = frame.loc[:, ~frame.columns.str.startswith("Unnamed:")].copy()
    if frame["item_id"].isna().any():
        raise LogError(f"{source}: column 'item_id' has empty values")
    frame["item_id"] = frame["item_id"].astype(str)
    frame["reward"] = _numeric(frame, "reward", source)
    frame["propensity"] = p = _numeric(frame, "propensity", source)
    bad = np.flatnonzero(~((p > 0) & (p <= 1)).to_numpy())
    if bad.size:
        raise LogError(
            f"{source}: column 'propensity' row {bad[0]}: {float(p.iloc[bad[0]])} is not in (0, 1]"
        )
    if "timestamp" in frame.columns:
        frame = _time_order(frame, source)
    return BanditLog(frame, layout, source)


def read_log(path: Path | str, fmt: str = "auto") -> BanditLog:
    """The log in ``path`` (``fmt``: ``auto``, ``csv`` or ``parquet``), normalised."""
    path = Path(path)
    return normalise(read_frame(path, fmt), str(path))
