"""The ``adcluster`` command line."""

from __future__ import annotations

import importlib
import logging
import time

import typer
from rich.console import Console
from rich.markup import escape

from core.config import ConfigError
from core.logs import configure_logging
from core.settings import Settings

app = typer.Typer(no_args_is_help=True, help="adcluster: self-learning ad-creative optimization.")
db_app = typer.Typer(no_args_is_help=True, help="Database: migrations.")
app.add_typer(db_app, name="db")
console = Console()
err = Console(stderr=True)

# Sub-commands owned by their own modules: (module, name, help).
SUBCOMMANDS = (
    ("cluster.keys_cli", "keys", "API keys: create, revoke, list."),
    ("cluster.video_cli", "video", "Pro video operations."),
    ("cluster.models_cli", "models", "Models: list, show, promote, rollback, train."),
    ("cluster.changes_cli", "changes", "Ad changes: list, show, rollback, kill-switch."),
    ("cluster.cycle_cli", "cycle", "Self-learning cycles: run, status, history, show."),
    ("cluster.ope_cli", "ope", "Off-policy evaluation of a policy on logged decisions."),
)
for _module, _name, _help in SUBCOMMANDS:
    app.add_typer(importlib.import_module(_module).app, name=_name, help=_help)


def fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {escape(message)}")  # a message may hold [brackets]
    return typer.Exit(code)


def _settings(**overrides: object) -> Settings:
    """The settings in force (a config error is a message and exit code 2, not a trace)."""
    try:
        return Settings.load(**{k: v for k, v in overrides.items() if v is not None})
    except ConfigError as exc:
        raise fail(f"invalid settings: {exc}", code=2) from exc


@db_app.command("upgrade")
def db_upgrade(
    database_url: str | None = typer.Option(None, help="Overrides DATABASE_URL."),
) -> None:
    """Apply migrations and sync the winner thresholds the trigger reads."""
    from core.db.engine import Database
    from core.db.migrate import current_revision, prepare

    settings = _settings(database_url=database_url)
    db = Database(settings.db_url)
    try:
        prepare(db, settings)
        console.print(f"database at revision [bold]{current_revision(db)}[/bold] ({db.dialect})")
    except Exception as exc:
        raise fail(f"migration failed: {type(exc).__name__}: {str(exc).splitlines()[0]}") from exc
    finally:
        db.dispose()


@app.command()
def up(
    address: str | None = typer.Option(
        None, help="Ray cluster to join (host:port, or 'local' for an in-process one)."
    ),
    port: int | None = typer.Option(None, help="HTTP port of the gateway."),
    proxy: str | None = typer.Option(
        None, help="HTTP proxy: haproxy (default, fast) or default (Serve's own proxy)."
    ),
    foreground: bool = typer.Option(False, help="Keep running until Ctrl-C."),
) -> None:
    """Start Ray (a local head unless --address), the actors and the Serve app."""
    from cluster import runtime
    from core.db.engine import Database
    from core.db.keys import ensure_first_key

    if proxy is not None and proxy not in ("haproxy", "default"):
        raise fail(f"unknown proxy {proxy!r}: use haproxy or default", code=2)
    settings = _settings(http={"proxy": proxy} if proxy else None)
    try:
        if address is None:
            address = runtime.start_local_head(settings)
            console.print(f"Ray head at {address}")
        running = runtime.up(settings, address, port=port)
    except Exception as exc:
        raise fail(f"could not start: {exc}") from exc
    console.print(f"[green]adcluster is up[/green] at [bold]{running.url}[/bold] (docs: /docs)")
    db = Database(settings.db_url)
    try:
        key = ensure_first_key(db, settings)
    finally:
        db.dispose()
    if key:
        console.print(f"first API key (shown once, store it now): [bold]{key}[/bold]")
    if foreground:
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            runtime.down(settings)


@app.command()
def down(
    address: str | None = typer.Option(None, help="Ray cluster (default: the local head)."),
    stop_ray: bool = typer.Option(False, help="Also stop the local Ray head."),
) -> None:
    """Stop the Serve app and the actors (and the local Ray head with --stop-ray)."""
    from cluster import runtime

    settings = _settings()
    target = address or f"127.0.0.1:{settings.ray.head_port}"
    try:
        runtime.connect(settings, target)
    except Exception as exc:
        raise fail(f"no Ray cluster at {target}: {exc}") from exc
    for item in runtime.down(settings) or ["nothing was running"]:
        console.print(f"stopped {item}")
    if stop_ray:
        import ray

        ray.shutdown()
        n = runtime.stop_local_head(settings)
        console.print(f"stopped the local Ray head ({n} processes)" if n else "no local Ray head")


@app.command()
def demo(
    port: int | None = typer.Option(None, help="HTTP port of the gateway."),
    keep_running: bool = typer.Option(False, help="Keep serving after the demo."),
    days: int | None = typer.Option(None, help="Simulated days (configs/demo.yaml: 7)."),
    creatives: int | None = typer.Option(None, help="Creatives, 10 or more (demo.yaml: 24)."),
    seed: int | None = typer.Option(None, help="Videos, copy and market (demo.yaml: 7)."),
) -> None:
    """The main job: local Ray, SQLite, the market simulator; a campaign end to end, with a
    report (docs/demo.md)."""
    from cluster.demo import DemoOptions, run_demo

    settings = _settings()
    options = DemoOptions(
        creatives=creatives, days=days, seed=seed, port=port, keep_running=keep_running
    )
    try:
        run_demo(settings, console=console, options=options)
    except ConfigError as exc:
        raise fail(f"invalid demo settings: {exc}", code=2) from exc
    except Exception as exc:
        raise fail(f"demo failed: {type(exc).__name__}: {exc}") from exc


@app.command()
def status(
    address: str | None = typer.Option(
        None, help="Ray cluster (host:port; default: the local head on ray.head_port)."
    ),
    tenant: str | None = typer.Option(
        None, help="Tenant of the learning cycle and models shown (default: settings tenant_id)."
    ),
    as_json: bool = typer.Option(False, "--json", help="JSON instead of tables."),
    database_url: str | None = typer.Option(None, help="Overrides DATABASE_URL."),
    timeout: float = typer.Option(
        5.0, min=0.1, max=120.0, help="Seconds to wait for the cluster to answer."
    ),
) -> None:
    """Nodes (CPUs, GPUs, alive), the catalogue's actors (state, node), Serve apps, queue
    depth, the last learning cycle and the champion model of each kind. Exit 0: healthy;
    1: no cluster answers; 2: bad input; 3: reachable, but an actor is not alive, no node is,
    or the database is unreadable."""
    import json

    import ray

    from cluster import runtime
    from cluster import status as report_of

    settings = _settings(database_url=database_url)
    target = address or f"127.0.0.1:{settings.ray.head_port}"
    try:
        report_of.probe(target, timeout)
    except ValueError as exc:
        raise fail(str(exc), code=2) from exc
    except report_of.Unreachable as exc:
        raise fail(str(exc)) from exc
    joined = not ray.is_initialized()
    try:
        runtime.connect(settings, target)
        report = report_of.collect(settings, address=target, tenant_id=tenant or settings.tenant_id)
    except Exception as exc:
        raise fail(f"could not read the cluster at {target}: {exc}") from exc
    finally:
        if joined:
            ray.shutdown()
    if as_json:
        typer.echo(json.dumps(report, indent=2, default=str))
    else:
        report_of.render(report, console)
    raise typer.Exit(0 if report["healthy"] else 3)


@app.command("http-env")
def http_env() -> None:
    """Print the environment that Ray needs for the configured HTTP path (``http:`` in
    settings.yaml), as ``export`` lines: source it before ``ray start`` on each node of a
    cluster that ``adcluster up`` does not start."""
    from cluster import serve_mode

    for key, value in sorted(serve_mode.ray_env(_settings().http).items()):
        typer.echo(f"export {key}={value}")


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    configure_logging("WARNING")
    app()


if __name__ == "__main__":
    main()
