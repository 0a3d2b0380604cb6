"""``adcluster changes``: list, show and roll back ad changes; the kill switch.

The kill switch lives in the database (``kill_switches``), so every executor on every node
sees it on its next decision: ``kill-switch on --tenant acme`` stops one tenant,
``kill-switch on --global`` every tenant; ``off`` releases, ``status`` shows.
"""

from __future__ import annotations

import getpass
import json
from datetime import datetime
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from cluster.cli_support import database, fail
from core.db import changes as changes_db
from core.db.models import PendingAdChange
from core.db.paging import BadCursor
from core.domain.safety import load_policy
from core.execution.service import NotRollbackable, request_rollback

app = typer.Typer(no_args_is_help=True, help="Ad changes: list, show, rollback, kill-switch.")
console = Console()
err = Console(stderr=True)

DatabaseUrl = typer.Option(None, "--database-url", help="Overrides DATABASE_URL.")
Tenant = typer.Option(None, "--tenant", help="Tenant (default: tenant_id).")


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%SZ") if value else "-"


def _record(row: PendingAdChange) -> dict[str, Any]:
    out = {c.name: getattr(row, c.name) for c in PendingAdChange.__table__.columns}
    return {k: _when(v) if isinstance(v, datetime) else v for k, v in out.items()}


def _value(v: Any) -> str:
    return "-" if v is None else (v if isinstance(v, str) else json.dumps(v))


@app.command("list")
def list_(
    tenant: str | None = Tenant,
    status: str | None = typer.Option(None, "--status", help="pending, applied, rejected..."),
    kind: str | None = typer.Option(None, "--kind", help="budget, status or create_ad."),
    limit: int = typer.Option(50, "--limit", min=1, max=500, help="Rows (newest first)."),
    cursor: str | None = typer.Option(None, "--cursor", help="next_cursor of a previous page."),
    as_json: bool = typer.Option(False, "--json", help="JSON lines instead of a table."),
    database_url: str | None = DatabaseUrl,
) -> None:
    """The tenant's changes, newest first."""
    if status is not None and status not in changes_db.STATUSES:
        raise fail(f"unknown status {status!r}: use {', '.join(changes_db.STATUSES)}", 2)
    if kind is not None and kind not in changes_db.KINDS:
        raise fail(f"unknown kind {kind!r}: use {', '.join(changes_db.KINDS)}", 2)
    with database(database_url) as (db, settings), db.session() as s:
        try:
            page = changes_db.list_changes(
                s,
                tenant_id=tenant or settings.tenant_id,
                limit=limit,
                cursor=cursor,
                status=status,
                kind=kind,
            )
        except BadCursor as exc:
            raise fail("invalid cursor", 2) from exc
        rows = [_record(r) for r in page.items]
    if as_json:
        for r in rows:
            typer.echo(json.dumps(r, default=str))
    else:
        table = Table("id", "kind", "object", "old", "new", "status", "dry run", "created")
        for r in rows:
            table.add_row(
                str(r["id"]),
                r["kind"],
                r["object_id"],
                _value(r["old_value"]),
                _value(r["applied_value"] if r["applied_value"] is not None else r["new_value"]),
                r["status"],
                "yes" if r["dry_run"] else "-",
                r["created_at"],
            )
        console.print(table if rows else "no changes")
    if page.next_cursor:
        err.print(f"more: --cursor {page.next_cursor}")


@app.command()
def show(
    change_id: int = typer.Argument(..., min=1, help="The change's id."),
    tenant: str | None = Tenant,
    as_json: bool = typer.Option(False, "--json", help="One JSON object."),
    database_url: str | None = DatabaseUrl,
) -> None:
    """One change with its audit trail."""
    with database(database_url) as (db, settings), db.session() as s:
        tenant_id = tenant or settings.tenant_id
        row = changes_db.get_change(s, tenant_id=tenant_id, change_id=change_id)
        if row is None:
            raise fail(f"no change {change_id} for tenant {tenant_id}")
        record = _record(row)
        trail = [
            {
                "at": _when(a.at),
                "actor": a.actor,
                "action": a.action,
                "before": a.before,
                "after": a.after,
                "platform_response": a.platform_response,
                "note": a.note,
            }
            for a in changes_db.audit_for(s, tenant_id=tenant_id, change_id=change_id)
        ]
    if as_json:
        typer.echo(json.dumps({**record, "audit": trail}, default=str))
        return
    for key, value in record.items():
        console.print(f"[bold]{key}[/bold]: {_value(value)}")
    table = Table("at", "actor", "action", "before", "after", "note")
    for a in trail:
        table.add_row(
            a["at"],
            a["actor"],
            a["action"],
            _value(a["before"]),
            _value(a["after"]),
            a["note"] or "-",
        )
    console.print(table)


@app.command()
def rollback(
    change_id: int = typer.Argument(..., min=1, help="The applied change to undo."),
    tenant: str | None = Tenant,
    database_url: str | None = DatabaseUrl,
) -> None:
    """Queue the change that restores an applied change's previous value."""
    with database(database_url) as (db, settings):
        tenant_id = tenant or settings.tenant_id
        try:
            with db.session() as s:
                found = request_rollback(
                    s,
                    tenant_id=tenant_id,
                    change_id=change_id,
                    requested_by=f"cli:{getpass.getuser()}",
                    policy=load_policy(),
                )
                if found is None:
                    raise fail(f"no change {change_id} for tenant {tenant_id}")
                row, created = found
                undo_id, value = row.id, row.new_value
        except NotRollbackable as exc:
            raise fail(str(exc)) from exc
    what = "queued" if created else "already queued as"
    console.print(
        f"rollback of change {change_id} {what} change {undo_id} (back to {_value(value)})"
    )


@app.command("kill-switch")
def kill_switch(
    action: str = typer.Argument(..., help="on | off | status"),
    tenant: str | None = typer.Option(None, "--tenant", help="This tenant only."),
    global_: bool = typer.Option(False, "--global", help="Every tenant."),
    reason: str | None = typer.Option(None, "--reason", help="Why (shown in rejections)."),
    database_url: str | None = DatabaseUrl,
) -> None:
    """Stop (on) or release (off) every change of a tenant or of all; status lists them."""
    if action not in ("on", "off", "status"):
        raise fail(f"unknown action {action!r}: use on, off or status", 2)
    if action != "status" and (global_ == (tenant is not None)):
        raise fail("name exactly one of --tenant TENANT or --global", 2)
    with database(database_url) as (db, _), db.session() as s:
        if action != "status":
            scope = changes_db.GLOBAL if global_ else str(tenant)
            changes_db.set_kill_switch(
                s,
                scope=scope,
                engaged=action == "on",
                set_by=f"cli:{getpass.getuser()}",
                reason=reason,
            )
        rows = [
            (r.scope, r.engaged, r.set_by, r.reason, r.updated_at)
            for r in changes_db.list_kill_switches(s)
        ]
    table = Table("scope", "state", "set by", "reason", "since")
    for scope, engaged, by, why, at in rows:
        state = "[red]ON[/red]" if engaged else "off"
        table.add_row("global" if scope == "*" else scope, state, by, why or "-", _when(at))
    console.print(table if rows else "no kill switch was ever set (all off)")
