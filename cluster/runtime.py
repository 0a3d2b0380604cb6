"""Start or join Ray, prepare the database, start the actors and the Serve app."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import ray
from ray import serve
from ray.serve.schema import ServeDeploySchema

from actors import catalogue
from cluster import serve_mode
from core.db.engine import Database
from core.db.migrate import prepare
from core.settings import Settings

log = logging.getLogger("adcluster.cluster")


@dataclass(frozen=True)
class Running:
    url: str
    address: str


def ray_env(settings: Settings) -> dict[str, str]:
    """Environment for Ray processes (workers inherit it), the Serve proxy mode included."""
    return {
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_DEDUP_LOGS": "1",
        **serve_mode.ray_env(settings.http),
    }


def _ray_bin() -> str:
    return shutil.which("ray", path=os.path.dirname(sys.executable)) or "ray"


def use_token_auth(*, create: bool) -> None:
    """Ray token authentication (``~/.ray/auth_token``) for the head we start or join.

    A head started with a token refuses drivers that send none, so a driver joining it must
    set ``RAY_AUTH_MODE=token`` too. An explicit ``RAY_AUTH_MODE`` is left alone.
    """
    if "RAY_AUTH_MODE" in os.environ:
        return
    from ray._private.authentication.authentication_token_setup import (
        maybe_enable_token_auth_if_token_available,
    )

    token = Path.home() / ".ray" / "auth_token"
    if not token.exists() and create:
        subprocess.run([_ray_bin(), "get-auth-token", "--generate"], capture_output=True)
    # Sets RAY_AUTH_MODE=token and refreshes Ray's already-loaded config in this process.
    maybe_enable_token_auth_if_token_available(warn_if_disabled=False)


def start_local_head(settings: Settings) -> str:
    """``ray start --head`` on the configured port (6379 is taken by Redis here)."""
    address = f"127.0.0.1:{settings.ray.head_port}"
    ray_bin = _ray_bin()
    use_token_auth(create=True)
    cmd = [
        ray_bin,
        "start",
        "--head",
        f"--port={settings.ray.head_port}",
        "--node-ip-address=127.0.0.1",
        f"--include-dashboard={'true' if settings.ray.dashboard else 'false'}",
        "--disable-usage-stats",
    ]
    result = subprocess.run(
        cmd, capture_output=True, text=True, env={**os.environ, **ray_env(settings)}
    )
    if result.returncode != 0 and "already" not in (result.stderr + result.stdout):
        raise RuntimeError(f"ray start failed: {result.stderr.strip()[-2000:]}")
    return address


def connect(settings: Settings, address: str | None) -> str:
    """Join ``address`` (``local`` for an in-process cluster); returns the GCS address."""
    os.environ.update(ray_env(settings))
    if not ray.is_initialized():
        kwargs = {"namespace": settings.ray.namespace, "log_to_driver": False}
        if address in (None, "local"):
            ray.init(address="local", include_dashboard=settings.ray.dashboard, **kwargs)
        else:
            use_token_auth(create=False)
            ray.init(address=address, **kwargs)
    return ray.get_runtime_context().gcs_address


def deploy(settings: Settings, *, port: int | None = None, wait_s: float = 120.0) -> str:
    """Migrate, start the catalogue's actors, deploy ``configs/serve.yaml``; returns the
    gateway's base URL once it is ready (what ``serve run configs/serve.yaml`` does, with
    these settings passed to every application)."""
    from ray.serve._private.api import serve_start

    db = Database(settings.db_url)
    prepare(db, settings)
    db.dispose()
    names = catalogue.start_all(settings)
    config = serve_mode.load_serve_config(port=port, settings=settings)
    log.info(
        "deploying",
        extra={"proxy": serve_mode.current_proxy(), "actors": names, "apps": _app_names(config)},
    )
    client = serve_start(
        http_options=config.http_options.model_dump(),
        proxy_location=config.proxy_location,
    )
    client.deploy_apps(config, _blocking=False)
    url = serve_mode.gateway_url(config)
    wait_ready(url, wait_s)
    return url


def _app_names(config: ServeDeploySchema) -> list[str]:
    return [app.name for app in config.applications]


def wait_ready(url: str, wait_s: float) -> None:
    deadline = time.monotonic() + wait_s
    last = ""
    while time.monotonic() < deadline:
        try:
            r = httpx.get(f"{url}/readyz", timeout=5)
            if r.status_code == 200:
                return
            last = r.text
        except httpx.HTTPError as exc:
            last = str(exc)
        time.sleep(0.5)
    raise TimeoutError(f"gateway not ready at {url} after {wait_s:.0f}s: {last[:300]}")


def up(settings: Settings, address: str | None = None, *, port: int | None = None) -> Running:
    """Start (or join) Ray and everything adcluster runs on it."""
    gcs = connect(settings, address)
    return Running(url=deploy(settings, port=port), address=gcs)


def down(settings: Settings) -> list[str]:
    """Stop the Serve applications and the catalogue's actors; returns what was stopped."""
    stopped = []
    try:
        for name in _app_names(serve_mode.load_serve_config()):
            serve.delete(name)
            stopped.append(f"serve app {name}")
        serve.shutdown()
    except Exception as exc:
        log.info("serve not running", extra={"error": type(exc).__name__})
    for role in catalogue.roles():
        if catalogue.kill(role, settings):
            stopped.append(catalogue.load().spec(role).name)
    return stopped


def stop_local_head(settings: Settings, grace_s: float = 15.0) -> int:
    """Stop the Ray head that ``adcluster up`` started on ``ray.head_port`` and nothing else.

    (``ray stop`` would stop every Ray instance on the machine.) Finds the GCS server on the
    head port, then every process of its session; returns how many were signalled.
    """
    import psutil

    port_flag = f"--gcs_server_port={settings.ray.head_port}"
    session = None
    for proc in psutil.process_iter(["cmdline"]):
        cmd = proc.info["cmdline"] or []
        if port_flag in cmd:
            names = [a.split("=", 1)[1] for a in cmd if a.startswith("--session-name=")]
            session = names[0] if names else None
            break
    if session is None:
        return 0
    procs = [
        p
        for p in psutil.process_iter(["cmdline"])
        if any(session in a for a in (p.info["cmdline"] or []))
    ]
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.terminate()
    _, alive = psutil.wait_procs(procs, timeout=grace_s)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    return len(procs)
