"""``adcluster demo``: the main job, end to end on the embedded defaults (local Ray, SQLite,
the market simulator), with progress bars, timed phases and an HTML report.

Phases: start the cluster; generate the creatives' videos; measure their
``creative_features`` (Ray tasks); launch the ads through the safe executor; run the
campaign hour by hour (feedback, winners, learning cycles, changes, training rounds);
write the report. Everything goes through the HTTP API but the market's own set-up and
clock, which an ad platform would own.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cluster.demo import creatives as creative_mod
from cluster.demo.campaign import launch
from cluster.demo.client import Api
from cluster.demo.config import DemoConfig, cluster_env
from cluster.demo.history import History, ModelRow
from cluster.demo.loop import Training, run_hours
from cluster.demo.market import Markets
from cluster.demo.report import write_report
from core.settings import Settings

log = logging.getLogger("adcluster.demo")


@dataclass(frozen=True)
class DemoOptions:
    creatives: int | None = None
    days: int | None = None
    seed: int | None = None
    port: int | None = None
    keep_running: bool = False


class Phases:
    """Wall-clock seconds per phase."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._t0 = time.perf_counter()

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        t = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(time.perf_counter() - t, 1)
            log.info("demo phase done", extra={"phase": name, "seconds": self.seconds[name]})

    def total(self) -> float:
        return round(time.perf_counter() - self._t0, 1)


def load_config(options: DemoOptions) -> DemoConfig:
    campaign = {
        k: v
        for k, v in (
            ("creatives", options.creatives),
            ("days", options.days),
            ("seed", options.seed),
        )
        if v is not None
    }
    return DemoConfig.load(**({"campaign": campaign} if campaign else {}))


def check_simulator_only() -> None:
    """The demo turns dry run off: refuse a configuration that sends any tenant to Meta."""
    from core.execution.config import ExecutorConfig
    from core.platforms.config import PlatformsConfig

    if PlatformsConfig.load().adapter != "simulator" or ExecutorConfig.load().meta_tenants:
        raise RuntimeError(
            "the demo runs on the market simulator only: platforms.yaml adapter is not "
            "'simulator' or executor.yaml meta_tenants is not empty"
        )


def simulated_start(config: DemoConfig, now: datetime) -> datetime:
    """Launch time: midnight UTC (the same hours of the day for every run of a seed) late
    enough that the campaign ends at least ``start_margin_h`` before ``now``."""
    c = config.campaign
    launch_h = math.ceil(c.creatives / c.launch_per_hour) - 1
    latest = now.astimezone(UTC) - timedelta(hours=launch_h + c.days * 24 + c.start_margin_h)
    return latest.replace(hour=0, minute=0, second=0, microsecond=0)


def run_demo(settings: Settings, *, console: Console, options: DemoOptions) -> dict[str, Any]:
    config = load_config(options)
    with cluster_env(config):
        check_simulator_only()
        return _run(settings, config, console=console, options=options)


def _run(
    settings: Settings, config: DemoConfig, *, console: Console, options: DemoOptions
) -> dict[str, Any]:
    import ray

    from cluster import runtime

    if ray.is_initialized():
        raise RuntimeError("the demo starts its own Ray instance: run it in a fresh process")
    c = config.campaign
    phases = Phases()
    console.print(
        f"[bold]adcluster demo[/bold]: {c.creatives} creatives, {c.days} simulated days, "
        f"seed {c.seed} (local Ray, SQLite, market simulator)"
    )
    with phases("start cluster"), console.status("starting Ray, the actors and the gateway"):
        running = runtime.up(settings, "local", port=options.port)
    console.print(f"gateway at [bold]{running.url}[/bold] (OpenAPI docs at {running.url}/docs)")
    wall = datetime.now(UTC)
    tenant, key = open_tenant(settings, console, wall)
    api = Api(running.url, key)
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[note]}"),
        console=console,
    )
    start = simulated_start(config, wall)
    training = Training(
        after_h=[d * 24 for d in config.training.after_days],
        num_samples=config.training.num_samples,
        max_rounds=config.training.max_rounds,
    )
    with progress:
        made = make_creatives(api, settings, config, tenant, progress, phases)
        task = progress.add_task("launch ads (safe executor)", total=c.creatives, note="")
        with phases("launch"):
            markets = Markets(settings, tenant, start, c.seed)
            rows, experiment, launch_h = launch(
                api,
                markets,
                made,
                daily_budget_minor=c.daily_budget_minor,
                per_hour=c.launch_per_hour,
                timeout_s=config.waits.executor_s,
                poll_s=config.waits.poll_s,
                on_published=lambda n: progress.advance(task, n),
            )
        history = History(
            tenant=tenant, seed=c.seed, start=markets.now, launch_hours=launch_h, creatives=rows
        )
        hours = c.days * 24
        task = progress.add_task("campaign (simulated hours)", total=hours, note="")

        def on_hour(h: Any) -> None:
            lift = h.revenue / h.baseline_revenue if h.baseline_revenue else 1.0
            note = (
                f"day {len(history.hours) / 24:.1f}  lift {lift:.2f}x  "
                f"winners {h.winners_indexed}  changes {h.changes_applied}"
            )
            if training.job_id:
                note += f"  training {training.status.get('status', 'queued')}"
            progress.update(task, advance=1, note=note)

        with phases("campaign"):
            run_hours(api, markets, history, config, training, hours=hours, on_hour=on_hour)
        rounds = len(config.training.after_days)
        task = progress.add_task("training rounds", total=rounds, note="")
        with phases("training wait"):
            training.finish(api, len(history.hours), config.training.timeout_s)
            progress.update(task, completed=rounds, note=training.status.get("status", ""))
    with phases("report"):
        history.models = models(settings, tenant, training)
        history.cycles = dict(Counter(h.cycle_status for h in history.hours))
        history.changes = change_counts(settings, tenant)
        history.phases = {**phases.seconds, "total before the report": phases.total()}
        report = write_report(history, settings.data_path / config.report.folder)
    history.phases = {**phases.seconds, "total": phases.total()}
    history.write(report.parent / "history.json")  # with the report's own time
    print_summary(console, history, report)
    console.print(f"API: {running.url}  docs: {running.url}/docs  experiment: {experiment}")
    if options.keep_running:
        console.print("serving; Ctrl-C to stop")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    api.close()
    return {"url": running.url, "report": str(report), "lift": history.lift, "tenant": tenant}


def open_tenant(settings: Settings, console: Console, wall: datetime) -> tuple[str, str]:
    """A tenant of this run's own and its API key (printed), and the default tenant's first
    key if it never had one."""
    from core.db.engine import Database
    from core.db.keys import create_key, ensure_first_key
    from core.db.migrate import ensure_tenant

    tenant = f"demo-{wall:%Y%m%d-%H%M%S}"
    db = Database(settings.db_url)
    try:
        first = ensure_first_key(db, settings)
        ensure_tenant(db, tenant, name="adcluster demo")
        key = create_key(db, tenant_id=tenant, name="demo", rate_limit_per_min=0)
    finally:
        db.dispose()
    if first:
        console.print(
            f"first API key of tenant {settings.tenant_id} (shown once): [bold]{first}[/bold]"
        )
    console.print(f"the demo's tenant [bold]{tenant}[/bold], API key: [bold]{key}[/bold]")
    return tenant, key


def make_creatives(
    api: Api,
    settings: Settings,
    config: DemoConfig,
    tenant: str,
    progress: Progress,
    phases: Phases,
) -> list[creative_mod.Creative]:
    """The clips under the media root, then their ``creative_features`` over HTTP."""
    n, seed = config.campaign.creatives, config.campaign.seed
    task = progress.add_task("generate videos", total=n, note="")
    with phases("generate videos"):
        media_root = settings.resolve(settings.media.media_root)
        made = []
        for i in range(n):
            made += creative_mod.generate(media_root, f"demo/{tenant}", 1, seed, first=i)
            progress.advance(task)
    task = progress.add_task("creative_features (Ray tasks)", total=n, note="")
    with phases("creative features"):
        return creative_mod.measure(
            api,
            made,
            batch_size=config.video.batch_size,
            timeout_s=config.video.timeout_s,
            on_done=lambda done: progress.update(task, completed=done),
        )


def models(settings: Settings, tenant: str, training: Training) -> list[ModelRow]:
    """The tenant's CTR models, oldest first, with their held-out metrics."""
    from core.db import model_registry as registry_rows
    from core.db.engine import Database

    db = Database(settings.db_url)
    try:
        with db.session() as s:
            versions = registry_rows.list_versions(s, tenant_id=tenant, kind="ctr")
            out = []
            for v in sorted(versions, key=lambda r: r.version):
                m = v.metrics or {}
                ch, champ, dec = (
                    m.get("challenger") or {},
                    m.get("champion") or {},
                    m.get("decision") or {},
                )
                out.append(
                    ModelRow(
                        version=v.version,
                        status=v.status,
                        trained_after_h=float(training.runs.get(v.run_id or "", 0.0)),
                        decision=str(dec.get("action", "")),
                        reason=str(dec.get("reason", "")),
                        holdout_log_loss=ch.get("log_loss"),
                        holdout_auc=ch.get("auc"),
                        champion_log_loss=champ.get("log_loss"),
                        holdout_rows=(m.get("split") or {}).get("test"),
                    )
                )
            return out
    finally:
        db.dispose()


def change_counts(settings: Settings, tenant: str) -> dict[str, int]:
    from core.db import changes
    from core.db.engine import Database

    db = Database(settings.db_url)
    try:
        with db.session() as s:
            return dict(changes.counts(s, tenant))
    finally:
        db.dispose()


def print_summary(console: Console, history: History, report: Path) -> None:
    last = history.hours[-1]
    table = Table(title="adcluster demo", show_header=False)
    table.add_column("")
    table.add_column("")
    table.add_row("revenue lift over uniform", f"[bold]{history.lift:.3f}x[/bold]")
    table.add_row(
        "revenue adcluster / uniform", f"{last.revenue:,.0f} / {last.baseline_revenue:,.0f}"
    )
    table.add_row("winners indexed", str(last.winners_indexed))
    table.add_row("changes", ", ".join(f"{k} {v}" for k, v in history.changes.items()))
    table.add_row("learning cycles", ", ".join(f"{k} {v}" for k, v in history.cycles.items()))
    table.add_row(
        "models", ", ".join(f"{m.version} {m.decision} ({m.status})" for m in history.models)
    )
    for name, seconds in history.phases.items():
        table.add_row(f"time: {name}", f"{seconds:.1f} s")
    console.print(table)
    if history.lift <= 1:
        console.print("[yellow]the platform did not beat the uniform baseline on this run[/yellow]")
    console.print(f"report: [bold]{report}[/bold]")
