"""The demo's small parts: its simulated calendar, the feedback it posts, its clips, and the
environment of the cluster it starts."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cluster.demo.config import DemoConfig, cluster_env
from cluster.demo.creatives import generate
from cluster.demo.loop import feedback_items
from cluster.demo.market import Totals
from cluster.demo.run import simulated_start


def test_the_campaign_ends_before_the_demo_started() -> None:
    config = DemoConfig.load(campaign={"creatives": 24, "days": 7, "launch_per_hour": 15})
    now = datetime(2026, 3, 2, 9, 41, tzinfo=UTC)
    start = simulated_start(config, now)
    assert start == datetime(2026, 2, 23, tzinfo=UTC)  # midnight: the same hours every run
    # one launch hour (24 publishes at 15 an hour), 168 campaign hours, >= 2 h of margin
    end = start + timedelta(hours=1 + 168)
    assert timedelta(hours=2) <= now - end < timedelta(hours=26)
    assert simulated_start(config, now.replace(hour=23)) == start


def test_feedback_is_lifetime_totals_of_ads_with_delivery() -> None:
    totals = Totals({"a": [1200, 40, 2, 10.004, 55.555], "b": [0, 0, 0, 0.0, 0.0]})
    items = feedback_items(totals, "2026-03-02T07:00:00+00:00")
    assert items == [
        {
            "ad_id": "a",
            "impressions": 1200,
            "clicks": 40,
            "conversions": 2,
            "spend": 10.0,
            "revenue": 55.55,
            "observed_at": "2026-03-02T07:00:00+00:00",
        }
    ]


def test_clips_are_the_same_for_a_seed_and_differ_between_creatives(tmp_path: Path) -> None:
    from core.video.io import probe

    a = generate(tmp_path, "a", 3, seed=5)
    b = generate(tmp_path, "b", 1, seed=5, first=2)
    assert [c.name for c in a] == ["creative-00", "creative-01", "creative-02"]
    assert (a[2].hook, a[2].cta, a[2].template) == (b[0].hook, b[0].cta, b[0].template)
    assert (tmp_path / a[2].video_path).read_bytes() == (tmp_path / b[0].video_path).read_bytes()
    infos = [probe(tmp_path / c.video_path) for c in a]
    assert all(i.duration_s >= 1.0 for i in infos)
    assert len({(i.width, i.height, i.fps) for i in infos}) > 1


def test_the_cluster_env_is_set_inside_and_restored_after(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADCLUSTER_SAFETY__DRY_RUN", "true")
    config = DemoConfig.load()
    with cluster_env(config):
        assert os.environ["ADCLUSTER_SAFETY__DRY_RUN"] == "false"
        assert os.environ["ADCLUSTER_PLATFORMS__SIMULATOR__CLOCK"] == "stepped"
    assert os.environ["ADCLUSTER_SAFETY__DRY_RUN"] == "true"
    assert "ADCLUSTER_PLATFORMS__SIMULATOR__CLOCK" not in os.environ
