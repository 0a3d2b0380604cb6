"""The Serve proxy mode: HAProxy by default, a clean fallback to Serve's proxy."""

from __future__ import annotations

from pathlib import Path

import pytest

from cluster import serve_mode


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("RAY_SERVE_") or name in ("RAY_worker_niceness", serve_mode.PROXY_ENV):
            monkeypatch.delenv(name)
    serve_mode.haproxy_binary.cache_clear()


def test_repo_config_defaults_to_haproxy_with_free_side_ports() -> None:
    config = serve_mode.load_serve_config()
    assert config.proxy == "haproxy" and config.haproxy.nbthread == 1
    env = serve_mode.ray_env(config)
    assert env["RAY_SERVE_ENABLE_HA_PROXY"] == "1"
    assert env["RAY_SERVE_THROUGHPUT_OPTIMIZED"] == "1"
    assert env["RAY_SERVE_HAPROXY_METRICS_ENABLED"] == "0"
    ports = {env[k] for k in env if k.endswith("_PORT")}
    assert len(ports) == 4 and "8404" not in ports


def test_env_switches_to_the_default_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(serve_mode.PROXY_ENV, "default")
    env = serve_mode.ray_env()
    assert env["RAY_SERVE_ENABLE_HA_PROXY"] == "0"
    assert not any("HAPROXY" in k for k in env)


def test_no_haproxy_binary_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(serve_mode, "haproxy_binary", lambda: None)
    assert serve_mode.effective_proxy(serve_mode.ServeConfig()) == "default"


def test_explicit_ray_serve_variables_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAY_SERVE_HAPROXY_NBTHREAD", "3")
    assert "RAY_SERVE_HAPROXY_NBTHREAD" not in serve_mode.ray_env()


def test_deployment_options_and_bad_config(tmp_path: Path) -> None:
    options = serve_mode.deployment_options(serve_mode.ServeConfig())
    assert options["logging_config"] == {"enable_access_log": False, "log_level": "WARNING"}
    assert options["max_ongoing_requests"] >= 32
    bad = tmp_path / "serve.yaml"
    bad.write_text("proxy: nginx\n")
    with pytest.raises(ValueError, match="proxy"):
        serve_mode.load_serve_config(bad)


def test_disconnect_watch_is_switched_off_through_serve_callback() -> None:
    from ray.serve._private.http_util import validate_http_proxy_callback_return
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    env = serve_mode.ray_env()
    module, _, name = env["RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH"].partition(":")
    (middleware,) = validate_http_proxy_callback_return(getattr(serve_mode, name)())
    assert module == serve_mode.__name__

    async def echo(request):  # type: ignore[no-untyped-def]
        return JSONResponse(request.headers.get("x-request-disconnect-disabled"))

    app = middleware.cls(Starlette(routes=[Route("/", echo)]))
    assert TestClient(app).get("/").json() == "?1"
