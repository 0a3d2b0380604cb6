"""Shared fixtures: databases (SQLite and real PostgreSQL), a Ray instance, a running app."""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from core.db.engine import Database
from core.db.migrate import prepare
from core.settings import Settings
from tests.support import postgres

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
# The orchestrator of the session's app runs cycles on demand only: a scheduled cycle would
# refold experiments and queue changes under other tests' feet (the schedule has its tests).
os.environ.setdefault("ADCLUSTER_LEARNING__SCHEDULE__ENABLED", "false")


@pytest.fixture(autouse=True)
def _adcluster_logger_restored() -> Iterator[None]:
    """Entry points called in-process (``main([...])``) configure the ``adcluster`` logger with
    a handler on the test's captured stderr; put the logger back, so that no later test finds
    a handler on a closed stream or log lines in a CLI's output."""
    logger = logging.getLogger("adcluster")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    logger.handlers[:] = saved[0]
    logger.setLevel(saved[1])
    logger.propagate = saved[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A PostgreSQL base URL: the configured server, or a throwaway one (never skipped)."""
    url, needs_throwaway = postgres.server_url()
    if not needs_throwaway:
        yield url
        return
    with postgres.throwaway_server() as throwaway:
        yield throwaway


@pytest.fixture(scope="session")
def make_settings(tmp_path_factory: pytest.TempPathFactory, pg_server: str):
    """Factory: Settings for a fresh, migrated database of ``kind`` (sqlite | postgresql)."""
    cleanup = ExitStack()

    def factory(kind: str = "sqlite", **overrides: object) -> Settings:
        data_dir = tmp_path_factory.mktemp(f"adc-{kind}")
        if kind == "postgresql":
            url, schema = postgres.new_schema(pg_server)
            cleanup.callback(postgres.drop_schema, pg_server, schema)
        else:
            url = f"sqlite:///{Path(data_dir) / 'adcluster.db'}"
        overrides.setdefault("ray", {"namespace": f"adc-test-{uuid.uuid4().hex[:8]}"})
        settings = Settings.load(data_dir=str(data_dir), database_url=url, **overrides)
        db = Database(settings.db_url)
        prepare(db, settings)
        db.dispose()
        return settings

    yield factory
    cleanup.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def settings(make_settings: Callable[..., Settings], db_kind: str) -> Settings:
    return make_settings(db_kind)


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = Database(settings.db_url)
    yield database
    database.dispose()


@pytest.fixture(scope="session")
def ray_session() -> Iterator[None]:
    """One local Ray instance for the whole test session (about 4 s to start)."""
    import ray

    from cluster import serve_mode

    serve_mode.apply(Settings.load().http)  # the production HTTP path: HAProxy + direct ingress
    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        # processes report their metrics to the node's agent every second (Ray: 10 s), so
        # the metrics tests see a figure within seconds of its event
        _system_config={"metrics_report_interval_ms": 1000},
    )
    yield
    try:
        from ray import serve

        serve.shutdown()
    finally:
        ray.shutdown()


@pytest.fixture(scope="session")
def app_settings(make_settings: Callable[..., Settings]) -> Settings:
    """Settings of the session's running app (SQLite, the embedded default)."""
    return make_settings(
        "sqlite",
        jobs={"poll_interval_s": 0.2, "lease_s": 3.0, "backoff_base_s": 0.2},
    )


@pytest.fixture(scope="session")
def gateway_url(ray_session: None, app_settings: Settings) -> str:
    """Base URL of the session's running Serve app (actors, gateway)."""
    from cluster import runtime

    return runtime.deploy(app_settings, port=free_port())


@pytest.fixture(scope="session")
def api_key(gateway_url: str, app_settings: Settings) -> str:
    """An API key of the default tenant."""
    from core.db.keys import create_key

    db = Database(app_settings.db_url)
    try:
        return create_key(
            db, tenant_id=app_settings.tenant_id, name="tests", rate_limit_per_min=100000
        )
    finally:
        db.dispose()


@pytest.fixture(scope="session")
def tenant_client(gateway_url: str, app_settings: Settings):
    """Factory: an HTTP client of a new tenant (its own API key) on the session's app."""
    import httpx

    from core.db.keys import create_key
    from core.db.migrate import ensure_tenant

    cleanup = ExitStack()

    def factory(tenant_id: str | None = None) -> httpx.Client:
        tenant_id = tenant_id or f"t-{uuid.uuid4().hex[:8]}"
        db = Database(app_settings.db_url)
        try:
            ensure_tenant(db, tenant_id)
            key = create_key(db, tenant_id=tenant_id, name="tests", rate_limit_per_min=100000)
        finally:
            db.dispose()
        headers = {"Authorization": f"Bearer {key}"}
        return cleanup.enter_context(
            httpx.Client(base_url=gateway_url, headers=headers, timeout=30)
        )

    yield factory
    cleanup.close()


@pytest.fixture
def client(gateway_url: str, api_key: str):
    import httpx

    headers = {"Authorization": f"Bearer {api_key}"}
    with httpx.Client(base_url=gateway_url, headers=headers, timeout=30) as c:
        yield c
