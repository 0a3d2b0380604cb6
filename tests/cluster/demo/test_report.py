"""The demo's report builder on a small synthetic history: the HTML and its PNGs exist,
carry the expected sections, and round-trip through ``history.json``."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cluster.demo.history import CreativeRow, History, Hour, ModelRow
from cluster.demo.report import PLOTS, write_report

PNG = b"\x89PNG\r\n\x1a\n"


def synthetic_history(hours: int = 30, creatives: int = 4) -> History:
    start = datetime(2026, 1, 5, tzinfo=UTC)
    rows = [
        CreativeRow(
            ad_id=f"sim-ad-{i}",
            ad_set_id=f"sim-as-{i}",
            name=f"creative-{i:02d}",
            video_path=f"demo/c{i}.mp4",
            hook="Stop scrolling",
            cta="SHOP_NOW",
            template="ugc",
            features={"motion_mean": i / creatives},
            true_revenue_per_impression=0.01 * (i + 1),
        )
        for i in range(creatives)
    ]
    history = History(tenant="demo-t", seed=3, start=start, launch_hours=0, creatives=rows)
    revenue = base = 0.0
    for h in range(hours):
        shift = min(h, 20) * 100
        budgets = [10_000 - shift, 10_000, 10_000, 10_000 + shift][:creatives]
        revenue += 100 + 2 * h
        base += 100
        history.hours.append(
            Hour(
                at=start + timedelta(hours=h + 1),
                budgets=budgets,
                active=[True] * creatives,
                revenue=revenue,
                spend=80.0 * (h + 1),
                baseline_revenue=base,
                baseline_spend=80.0 * (h + 1),
                winners_flagged=h // 10,
                winners_indexed=max(h // 10 - 1, 0),
                changes_applied=2,
                cycle_status="completed",
            )
        )
    history.models = [
        ModelRow("ctr-0001", "champion", 24.0, "promoted", "no champion yet", 0.061, 0.71, None, 5)
    ]
    history.phases = {"start cluster": 20.0, "campaign": 60.0, "total": 90.0}
    history.changes = {"applied": 60}
    history.cycles = {"completed": hours}
    history.last_cycle = {
        "steps": [
            {"name": "auto_promotion", "status": "completed", "counts": {"changes_queued": 2}}
        ]
    }
    history.markets_differ_from_h = 1
    return history


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_report(synthetic_history(), tmp_path_factory.mktemp("report"))


def test_the_report_has_every_plot_as_a_png_next_to_it_and_inside_it(report: Path) -> None:
    text = report.read_text()
    for name in PLOTS:
        png = report.parent / f"{name}.png"
        assert png.read_bytes().startswith(PNG) and png.stat().st_size > 5_000
    embedded = re.findall(r'src="data:image/png;base64,([^"]+)"', text)
    assert len(embedded) == len(PLOTS)
    assert all(base64.b64decode(b).startswith(PNG) for b in embedded)
    assert "<script" not in text and "http://" not in text and "https://" not in text


def test_the_report_states_the_lift_and_has_its_sections(report: Path) -> None:
    text = report.read_text()
    history = synthetic_history()
    assert history.lift > 1
    assert f"Revenue lift: {history.lift:.3f}x" in text and "ahead of the uniform" in text
    for section in (
        "Cumulative revenue against the uniform baseline",
        "Budget allocation over time",
        "Winners found over time",
        "Champion history",
        "Creatives, best hidden value first",
        "Last self-learning cycle",
        "Phases (wall-clock seconds)",
    ):
        assert f"<h2>{section}</h2>" in text
    assert "ctr-0001" in text and "no champion yet" in text


def test_the_history_round_trips_through_its_json(report: Path) -> None:
    again = History.read(report.parent / "history.json")
    assert again == synthetic_history()


def test_a_history_behind_the_baseline_says_so(tmp_path: Path) -> None:
    history = synthetic_history(hours=3)
    for h in history.hours:
        h.baseline_revenue = h.revenue * 2
    text = write_report(history, tmp_path).read_text()
    assert "not ahead of the uniform baseline" in text


def test_the_demo_config_refuses_what_would_break_it() -> None:
    from cluster.demo.config import DemoConfig
    from core.config import ConfigError

    with pytest.raises(ConfigError, match="creatives"):
        DemoConfig.load(campaign={"creatives": 5})
    with pytest.raises(ConfigError, match="increasing order"):
        DemoConfig.load(training={"after_days": [4, 2]})
    with pytest.raises(ConfigError, match="ADCLUSTER_"):
        DemoConfig.load(cluster={"SAFETY__DRY_RUN": "false"})
