"""A PostgreSQL server for tests: ``DATABASE_URL`` / 127.0.0.1:5432 when it answers, else a
throwaway server started with initdb + pg_ctl (as the ``postgres`` user when root)."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from sqlalchemy.engine import make_url

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def answers(url: str) -> bool:
    try:
        with psycopg.connect(_libpq(url), connect_timeout=3):
            return True
    except Exception:
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin(name: str) -> str:
    found = shutil.which(name) or sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))[-1:]
    if not found:
        raise RuntimeError(f"{name} not found: install PostgreSQL server binaries")
    return found if isinstance(found, str) else found[0]


@contextmanager
def throwaway_server() -> Iterator[str]:
    """initdb + pg_ctl start on a free port; stopped and removed afterwards."""
    root = tempfile.mkdtemp(prefix="adc-pg-")
    data, port = os.path.join(root, "data"), _free_port()
    as_postgres = os.geteuid() == 0
    if as_postgres:
        shutil.chown(root, "postgres")

    def run(*cmd: str) -> None:
        full = ["runuser", "-u", "postgres", "--", *cmd] if as_postgres else list(cmd)
        subprocess.run(full, check=True, capture_output=True, timeout=120)

    run(_pg_bin("initdb"), "-D", data, "-A", "trust", "-U", "postgres")
    log = os.path.join(root, "server.log")  # -l: the server must not hold our output pipes
    run(_pg_bin("pg_ctl"), "-D", data, "-l", log, "-o", f"-p {port} -k {root}", "-w", "start")
    try:
        with psycopg.connect(
            f"postgresql://postgres@127.0.0.1:{port}/postgres", autocommit=True
        ) as c:
            c.execute("CREATE DATABASE test")
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/test"
    finally:
        run(_pg_bin("pg_ctl"), "-D", data, "-m", "immediate", "stop")
        shutil.rmtree(root, ignore_errors=True)


def server_url() -> tuple[str, bool]:
    """(url, needs_throwaway)."""
    url = os.environ.get("DATABASE_URL") or DEFAULT_URL
    if url.startswith("postgres://") or url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return url, not answers(url)


def new_schema(url: str) -> tuple[str, str]:
    """A fresh schema; returns (url whose search_path is that schema, schema name)."""
    schema = f"adc_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(_libpq(url), autocommit=True) as c:
        c.execute(f"CREATE SCHEMA {schema}")
    parsed = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    return parsed.render_as_string(hide_password=False), schema


def drop_schema(url: str, schema: str) -> None:
    with psycopg.connect(_libpq(url), autocommit=True) as c:
        c.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
