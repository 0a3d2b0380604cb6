"""``adcluster cycle``: run a self-learning cycle, see its status and history (SPEC §4).

``run`` runs the seven loops in this process by default (no cluster needed; the database
still allows one running cycle per tenant, so it never overlaps the orchestrator's);
``--address`` asks the cluster's ``learning_orchestrator`` actor instead.
"""

from __future__ import annotations

import json
import os
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from cluster.cli_support import database, fail
from core.db import learning as repo
from core.learning.cycle import cycle_result
from core.settings import Settings

app = typer.Typer(no_args_is_help=True, help="Self-learning cycles: run, status, history.")
console = Console()

DatabaseUrl = typer.Option(None, "--database-url", help="Overrides DATABASE_URL.")
Tenant = typer.Option(None, "--tenant", help="Tenant (default: settings tenant_id).")
AsJson = typer.Option(False, "--json", help="JSON instead of a table.")
EXIT = {"completed": 0, "partial": 3, "failed": 1}


def _steps_table(result: dict[str, Any]) -> Table:
    t = Table(title=f"cycle {result['cycle_id']}: {result['status']}")
    for col in ("loop", "status", "counts", "seconds"):
        t.add_column(col)
    for step in result["steps"]:
        counts = {k: v for k, v in step.get("counts", {}).items() if not isinstance(v, list)}
        note = step.get("reason") or step.get("error") or ""
        shown = ", ".join(f"{k}={v}" for k, v in counts.items()) + (f" ({note})" if note else "")
        t.add_row(step["name"], step["status"], shown, f"{step.get('duration_seconds', 0):.2f}")
    return t


def _print(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        console.print_json(json.dumps(result, default=str))
    else:
        console.print(_steps_table(result))


@app.command("run")
def run(
    tenant: str | None = Tenant,
    address: str | None = typer.Option(
        None, help="A running cluster (host:port): its orchestrator runs the cycle."
    ),
    as_json: bool = AsJson,
    database_url: str | None = DatabaseUrl,
) -> None:
    """Run the seven loops now and print each loop's result. Exit 0 completed, 3 partial
    (some loops failed), 1 failed, 4 a cycle is already running."""
    with database(database_url) as (db, settings):
        from core.db.migrate import prepare

        prepare(db, settings)
        tenant_id = tenant or settings.tenant_id
        if address:
            result = _run_on_cluster(settings, tenant_id, address)
        else:
            from core.learning.runner import run_here

            try:
                result = run_here(settings, db, tenant_id=tenant_id, trigger="cli")
            except repo.CycleRunning as exc:
                raise fail(f"a learning cycle is already running: {exc.cycle_id}", 4) from exc
    _print(result, as_json)
    raise typer.Exit(EXIT.get(result["status"], 1))


def _run_on_cluster(settings: Settings, tenant_id: str, address: str) -> dict[str, Any]:
    import ray

    from actors import catalogue

    os.environ["RAY_ADDRESS"] = address
    ray.init(address=address, namespace=settings.ray.namespace, log_to_driver=False)
    handle = catalogue.get("learning_orchestrator", settings)
    result = ray.get(handle.run_now.remote(tenant_id, "cli"))
    if not result.get("status"):
        raise fail(f"a learning cycle is already running: {result['cycle_id']}", 4)
    return result


@app.command("status")
def status(
    tenant: str | None = Tenant, as_json: bool = AsJson, database_url: str | None = DatabaseUrl
) -> None:
    """The running cycle (if any), the latest one and when the next is due."""
    with database(database_url) as (db, settings), db.session() as s:
        tenant_id = tenant or settings.tenant_id
        running = repo.running_cycle(s, tenant_id)
        latest = repo.latest_cycle(s, tenant_id=tenant_id)
        due = repo.next_due(s, tenant_id)
        out = {
            "tenant_id": tenant_id,
            "running": running.cycle_id if running else None,
            "next_due_at": due.isoformat() if due else None,
            "latest": cycle_result(latest) if latest else None,
        }
    if as_json:
        console.print_json(json.dumps(out, default=str))
        return
    console.print(f"tenant [bold]{tenant_id}[/bold]")
    console.print(f"running: {out['running'] or 'none'}")
    console.print(f"next scheduled: {out['next_due_at'] or 'not scheduled yet'}")
    if out["latest"]:
        console.print(_steps_table(out["latest"]))
    else:
        console.print("no cycle yet: [bold]adcluster cycle run[/bold]")


@app.command("history")
def history(
    tenant: str | None = Tenant,
    limit: int = typer.Option(20, min=1, max=500, help="How many, newest first."),
    as_json: bool = AsJson,
    database_url: str | None = DatabaseUrl,
) -> None:
    """Past cycles, newest first."""
    with database(database_url) as (db, settings), db.session() as s:
        rows = [
            cycle_result(r)
            for r in repo.list_cycles(s, tenant_id=tenant or settings.tenant_id, limit=limit)
        ]
    if as_json:
        console.print_json(json.dumps(rows, default=str))
        return
    t = Table(title="learning cycles")
    for col in ("cycle", "trigger", "status", "started", "seconds", "failed loops"):
        t.add_column(col)
    for r in rows:
        failed = [st["name"] for st in r["steps"] if st["status"] == "failed"]
        t.add_row(
            r["cycle_id"],
            r["trigger"],
            r["status"],
            r["cycle_started_at"][:19],
            f"{r['duration_seconds'] or 0:.2f}",
            ", ".join(failed) or "-",
        )
    console.print(t)


@app.command("show")
def show(
    cycle_id: str,
    tenant: str | None = Tenant,
    as_json: bool = AsJson,
    database_url: str | None = DatabaseUrl,
) -> None:
    """One cycle's loops, counts and errors."""
    with database(database_url) as (db, settings), db.session() as s:
        row = repo.get_cycle(s, tenant_id=tenant or settings.tenant_id, cycle_id=cycle_id)
        if row is None:
            raise fail(f"no learning cycle {cycle_id}", 1)
        result = cycle_result(row)
    _print(result, as_json)


@app.command("export-decisions")
def export_decisions(
    experiment: str = typer.Option(..., "--experiment", help="The experiment's id."),
    out: str = typer.Option(..., "--out", help="CSV or Parquet file to write (by extension)."),
    tenant: str | None = Tenant,
    seed: int = typer.Option(0, help="Seed of the budget units drawn from each allocation."),
    database_url: str | None = DatabaseUrl,
) -> None:
    """The auto-promoter's labelled allocations of an experiment as a bandit log
    (``timestamp, item_id, reward, propensity``), for ``adcluster ope --log``."""
    import numpy as np

    from core.learning.decision_log import bandit_log

    with database(database_url) as (db, settings), db.session() as s:
        rows = repo.decisions(
            s, tenant_id=tenant or settings.tenant_id, experiment_id=experiment, labelled=True
        )
        log = bandit_log(rows, rng=np.random.default_rng(seed))
    if log.empty:
        raise fail(f"no labelled decisions for experiment {experiment}", 1)
    if out.endswith(".parquet"):
        log.to_parquet(out, index=False)
    else:
        log.to_csv(out, index=False)
    console.print(f"{len(log)} rows from {log['cycle_id'].nunique()} allocations → {out}")
