"""What every ``adcluster`` sub-command shares: an error as a message and an exit code, and
the settings plus a database for the command's lifetime."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console

from core.db.engine import Database
from core.settings import Settings

err = Console(stderr=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``message`` on stderr; the ``typer.Exit`` to raise with ``code``."""
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


@contextmanager
def database(
    database_url: str | None,
    *,
    settings_code: int = 2,
    passthrough: tuple[type[BaseException], ...] = (),
) -> Iterator[tuple[Database, Settings]]:
    """The settings (``--database-url`` over ``DATABASE_URL``) and a database, disposed after.

    Invalid settings exit with ``settings_code``; any other error of the body is a one-line
    "database error" and exit 1, except ``typer.Exit`` and the ``passthrough`` types.
    """
    try:
        settings = Settings.load(**({"database_url": database_url} if database_url else {}))
    except Exception as exc:
        raise fail(f"invalid settings: {exc}", settings_code) from exc
    db = Database(settings.db_url)
    try:
        yield db, settings
    except (typer.Exit, *passthrough):
        raise
    except Exception as exc:
        raise fail(f"database error: {type(exc).__name__}: {str(exc).splitlines()[0]}") from exc
    finally:
        db.dispose()
