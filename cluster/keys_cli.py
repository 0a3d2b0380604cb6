"""``adcluster keys``: create, revoke and list API keys (stored as SHA-256 hashes).

The plaintext of a key is printed once, by ``create``; afterwards a key is known by its
prefix (``adc_<prefix>_...``). A revoked key is refused (403) within
``api.key_cache_ttl_s`` seconds by every gateway replica.
"""

from __future__ import annotations

import json
from datetime import datetime

import typer
from rich.console import Console
from rich.table import Table

from cluster.cli_support import database, fail
from core.db.keys import KeyNotFound, add_key, list_keys, parse_prefix, revoke_key

app = typer.Typer(no_args_is_help=True, help="API keys: create, revoke, list.")
console = Console()
err = Console(stderr=True)

DatabaseUrl = typer.Option(None, "--database-url", help="Overrides DATABASE_URL.")


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%SZ") if value else "-"


@app.command()
def create(
    name: str = typer.Option(..., "--name", help="What the key is for (shown in listings)."),
    tenant: str | None = typer.Option(None, "--tenant", help="Tenant (default: tenant_id)."),
    rate_limit: int | None = typer.Option(
        None,
        "--rate-limit",
        min=0,
        help="Requests a minute (default: api.default_rate_limit_per_min; 0: no limit).",
    ),
    database_url: str | None = DatabaseUrl,
) -> None:
    """Create a key and print it once (only its hash is stored)."""
    with database(database_url, settings_code=1) as (db, settings):
        if rate_limit is None:
            rate_limit = settings.api.default_rate_limit_per_min
        try:
            with db.session() as session:
                key, info = add_key(
                    session,
                    tenant_id=tenant or settings.tenant_id,
                    name=name,
                    rate_limit_per_min=rate_limit,
                )
        except ValueError as exc:
            raise fail(str(exc), 2) from exc
    limit = f"{info.rate_limit_per_min}/min" if info.rate_limit_per_min else "no limit"
    err.print(
        f"created key [bold]{info.prefix}[/bold] ({info.name!r}, tenant {info.tenant_id}, "
        f"{limit}). It is shown once; store it now:"
    )
    # The key alone on stdout, so that `KEY=$(adcluster keys create ...)` works.
    typer.echo(key)


@app.command()
def revoke(
    prefix: str = typer.Argument(
        ..., help="The key's prefix: the 8 characters after adc_ (with or without adc_)."
    ),
    tenant: str | None = typer.Option(None, "--tenant", help="Only within this tenant."),
    database_url: str | None = DatabaseUrl,
) -> None:
    """Revoke a key: refused with 403 from then on (within the gateway's key cache TTL)."""
    try:  # a whole key pasted by mistake still works
        prefix = parse_prefix(prefix)
    except ValueError as exc:
        raise fail(str(exc), 2) from exc
    with database(database_url, settings_code=1) as (db, settings):
        try:
            info = revoke_key(db, prefix, tenant_id=tenant)
        except KeyNotFound as exc:
            raise fail(f"no key with prefix {prefix!r}") from exc
    console.print(
        f"revoked key [bold]{info.prefix}[/bold] ({info.name!r}, tenant {info.tenant_id}) "
        f"at {_when(info.revoked_at)}; gateways refuse it within "
        f"{settings.api.key_cache_ttl_s:g} s"
    )


@app.command("list")
def list_(
    tenant: str | None = typer.Option(None, "--tenant", help="Only this tenant's keys."),
    active: bool = typer.Option(False, "--active", help="Hide revoked keys."),
    as_json: bool = typer.Option(False, "--json", help="JSON lines instead of a table."),
    database_url: str | None = DatabaseUrl,
) -> None:
    """List keys (prefixes, never secrets)."""
    with database(database_url, settings_code=1) as (db, _):
        rows = list_keys(db, tenant_id=tenant, include_revoked=not active)
    if as_json:
        for k in rows:
            record = {
                "prefix": k.prefix,
                "name": k.name,
                "tenant_id": k.tenant_id,
                "rate_limit_per_min": k.rate_limit_per_min,
                "created_at": _when(k.created_at),
                "last_used_at": _when(k.last_used_at) if k.last_used_at else None,
                "revoked_at": _when(k.revoked_at) if k.revoked_at else None,
            }
            typer.echo(json.dumps(record))
        return
    table = Table("prefix", "name", "tenant", "limit/min", "created", "last used", "status")
    for k in rows:
        table.add_row(
            k.prefix,
            k.name,
            k.tenant_id,
            str(k.rate_limit_per_min or "none"),
            _when(k.created_at),
            _when(k.last_used_at),
            f"[red]revoked {_when(k.revoked_at)}[/red]" if k.revoked else "[green]active[/green]",
        )
    console.print(table if rows else "no keys")
