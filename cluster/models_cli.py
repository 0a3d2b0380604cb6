"""``adcluster models``: the model registry (list, show, promote, rollback) and training.

A promotion or rollback here is picked up by the serving CtrModel deployment within its
``champion_poll_s`` (``configs/serve.yaml``), without a redeploy or a dropped request.
"""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from cluster.cli_support import database, fail
from core.db import model_registry as rows
from core.db.engine import Database
from core.ml import registry
from core.settings import Settings

app = typer.Typer(no_args_is_help=True, help="Models: list, show, promote, rollback, train.")
console = Console()

DatabaseUrl = typer.Option(None, "--database-url", help="Overrides DATABASE_URL.")
Kind = typer.Option("ctr", "--kind", help="ctr | value")
Tenant = typer.Option(None, "--tenant", help="Tenant (default: settings tenant_id).")


def _database(database_url: str | None) -> AbstractContextManager[tuple[Database, Settings]]:
    """The shared CLI database context; registry errors keep their own message."""
    return database(database_url, passthrough=(registry.RegistryError,))


def _check_kind(kind: str) -> str:
    if kind not in ("ctr", "value"):
        raise fail(f"unknown kind {kind!r}: use ctr or value", 2)
    return kind


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%SZ") if value else "-"


def _headline(metrics: dict[str, Any]) -> str:
    ch = metrics.get("challenger") or {}
    if "auc" in ch:
        return f"log loss {ch['log_loss']:.4f}, AUC {ch['auc']:.4f}"
    return f"RMSE {ch['rmse']:.4g}" if "rmse" in ch else "-"


@app.command("list")
def list_(
    kind: str | None = typer.Option(None, "--kind", help="Only ctr or value models."),
    tenant: str | None = Tenant,
    as_json: bool = typer.Option(False, "--json", help="JSON lines instead of a table."),
    database_url: str | None = DatabaseUrl,
) -> None:
    """Registered models, newest first (the champion marked)."""
    with (
        database(database_url, passthrough=(registry.RegistryError,)) as (db, settings),
        db.session() as s,
    ):
        found = [
            registry.version_dict(r)
            for r in rows.list_versions(s, tenant_id=tenant or settings.tenant_id, kind=kind)
        ]
    if as_json:
        for v in found:
            typer.echo(
                json.dumps(
                    {
                        k: v[k]
                        for k in (
                            "version",
                            "kind",
                            "status",
                            "dataset_version",
                            "created_at",
                            "promoted_at",
                        )
                    },
                    default=str,
                )
            )
        return
    table = Table("version", "kind", "status", "held-out", "dataset", "created", "promoted")
    for v in found:
        status = f"[bold green]{v['status']}[/]" if v["status"] == "champion" else v["status"]
        table.add_row(
            v["version"],
            v["kind"],
            status,
            _headline(v["metrics"]),
            v["dataset_version"] or "-",
            _when(v["created_at"]),
            _when(v["promoted_at"]),
        )
    console.print(table)


@app.command()
def show(
    version: str = typer.Argument(..., help="e.g. ctr-0003"),
    tenant: str | None = Tenant,
    database_url: str | None = DatabaseUrl,
) -> None:
    """One model as JSON: params, held-out metrics, and the decisions that name it."""
    kind = _check_kind(version.split("-", 1)[0])
    with (
        database(database_url, passthrough=(registry.RegistryError,)) as (db, settings),
        db.session() as s,
    ):
        tenant_id = tenant or settings.tenant_id
        row = rows.get_version(s, tenant_id=tenant_id, kind=kind, version=version)
        if row is None:
            raise fail(f"no {kind} model {version!r}")
        out = registry.version_dict(row)
        out["decisions"] = [
            {
                "action": d.action,
                "challenger_version": d.challenger_version,
                "champion_version": d.champion_version,
                "reason": d.reason,
                "created_at": d.created_at,
            }
            for d in rows.decisions_for(s, tenant_id=tenant_id, kind=kind, version=version)
        ]
    typer.echo(json.dumps(out, indent=2, default=str))


@app.command()
def promote(
    version: str = typer.Argument(..., help="e.g. ctr-0003"),
    tenant: str | None = Tenant,
    reason: str = typer.Option("manual promotion", "--reason"),
    database_url: str | None = DatabaseUrl,
) -> None:
    """Make a registered model the champion by hand (recorded as a decision)."""
    kind = _check_kind(version.split("-", 1)[0])
    with _database(database_url) as (db, settings):
        try:
            old = registry.promote(
                db,
                tenant_id=tenant or settings.tenant_id,
                kind=kind,
                version=version,
                reason=reason,
            )
        except registry.RegistryError as exc:
            raise fail(str(exc)) from exc
    console.print(f"{kind} champion: [bold]{version}[/bold] (was {old or 'none'})")


@app.command()
def rollback(
    kind: str = Kind,
    tenant: str | None = Tenant,
    reason: str = typer.Option("manual rollback", "--reason"),
    database_url: str | None = DatabaseUrl,
) -> None:
    """Undo the last promotion: the previous champion serves again."""
    _check_kind(kind)
    with _database(database_url) as (db, settings):
        try:
            undone, restored = registry.rollback(
                db, tenant_id=tenant or settings.tenant_id, kind=kind, reason=reason
            )
        except registry.RegistryError as exc:
            raise fail(str(exc)) from exc
    console.print(f"{kind} champion: [bold]{restored}[/bold] (rolled back {undone})")


@app.command()
def train(
    kind: str = Kind,
    source: str = typer.Option("database", "--source", help="database | synthetic"),
    rows_: int = typer.Option(2000, "--rows", help="Synthetic rows."),
    num_samples: int | None = typer.Option(None, "--num-samples", help="Tune trials."),
    address: str | None = typer.Option(None, help="Ray cluster (host:port); else local."),
) -> None:
    """Train challengers with Ray Tune here and decide (what POST /api/ml/train/{kind} does)."""
    from training import run as entry

    args = ["--kind", _check_kind(kind), "--source", source, "--rows", str(rows_)]
    if num_samples:
        args += ["--num-samples", str(num_samples)]
    if address:
        import os

        os.environ["RAY_ADDRESS"] = address
    raise typer.Exit(entry.main(args))
