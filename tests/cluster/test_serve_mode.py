"""The Serve proxy mode: HAProxy by default, a clean fallback to Serve's proxy."""

from __future__ import annotations

from pathlib import Path

import pytest

from cluster import serve_mode
from core.config import ConfigError
from core.settings import Settings


def http(**changes: object):  # type: ignore[no-untyped-def]
    return Settings.load(http=changes).http


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("RAY_SERVE_") or name in (
            "RAY_worker_niceness",
            "ADCLUSTER_HTTP__PROXY",
        ):  # noqa: E501
            monkeypatch.delenv(name)
    serve_mode.haproxy_binary.cache_clear()


def test_repo_config_defaults_to_haproxy_with_free_side_ports() -> None:
    config = http()
    assert config.proxy == "haproxy" and config.haproxy.nbthread == 1
    env = serve_mode.ray_env(config)
    assert env["RAY_SERVE_ENABLE_HA_PROXY"] == "1"
    assert env["RAY_SERVE_THROUGHPUT_OPTIMIZED"] == "1"
    assert env["RAY_SERVE_HAPROXY_METRICS_ENABLED"] == "0"
    ports = {env[k] for k in env if k.endswith("_PORT")}
    assert len(ports) == 4 and "8404" not in ports
    # below the ephemeral range, where outgoing connections could take them first
    assert all(int(p) in serve_mode.SIDE_PORTS for p in ports)
    assert env["RAY_SERVE_HAPROXY_LOG_TARGET"] == serve_mode.NO_ACCESS_LOG
    assert env["RAY_SERVE_METRICS_EXPORT_INTERVAL_MS"] == "100"
    assert env["RAY_SERVE_CONTROL_LOOP_INTERVAL_S"] == "0.5"


def test_an_access_log_target_is_passed_to_haproxy() -> None:
    env = serve_mode.ray_env(http(haproxy={"access_log": "/dev/log"}))
    assert env["RAY_SERVE_HAPROXY_LOG_TARGET"] == "/dev/log"


def test_env_switches_to_the_default_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADCLUSTER_HTTP__PROXY", "default")
    env = serve_mode.ray_env(Settings.load().http)
    assert env["RAY_SERVE_ENABLE_HA_PROXY"] == "0"
    assert not any("HAPROXY" in k for k in env)


def test_no_haproxy_binary_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(serve_mode, "haproxy_binary", lambda: None)
    assert serve_mode.effective_proxy(http()) == "default"


def test_explicit_ray_serve_variables_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAY_SERVE_HAPROXY_NBTHREAD", "3")
    assert "RAY_SERVE_HAPROXY_NBTHREAD" not in serve_mode.ray_env(http())


def test_serve_config_is_rays_own_format(tmp_path: Path) -> None:
    from ray.serve.schema import ServeDeploySchema

    config = serve_mode.load_serve_config(port=8123)
    assert isinstance(config, ServeDeploySchema) and config.http_options.port == 8123
    (app,) = config.applications
    assert app.import_path == "serve_apps.gateway.deployment:app_builder"
    gateway, ctr = app.deployments
    assert gateway.name == "Gateway" and gateway.num_replicas >= 1
    assert gateway.logging_config.enable_access_log is False
    assert set(gateway.user_config) == {"log_predictions", "ctr_group_requests"}
    assert ctr.name == "CtrModel" and set(ctr.user_config) == {
        "max_batch_size",
        "batch_wait_timeout_s",
        "champion_poll_s",
    }
    settings = Settings.load(data_dir=str(tmp_path))
    with_settings = serve_mode.load_serve_config(settings=settings)
    assert with_settings.applications[0].args["settings"]["data_dir"] == str(tmp_path)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("applications: []\nproxy: nginx\n", "unknown key.*'proxy'"),
        (
            "applications:\n  - import_path: a.b:c\n    deployments:\n"
            "      - name: G\n        num_replica: 2\n",
            r"applications\[0\]\.deployments\[0\]\.num_replica",
        ),
        ("applications:\n  - import_path: nodots\n", "import_path"),
    ],
)
def test_bad_serve_config_names_file_and_key(tmp_path: Path, text: str, match: str) -> None:
    bad = tmp_path / "serve.yaml"
    bad.write_text(text)
    with pytest.raises(ConfigError, match=match):
        serve_mode.load_serve_config(path=bad)


def test_disconnect_watch_is_switched_off_through_serve_callback() -> None:
    from ray.serve._private.http_util import validate_http_proxy_callback_return
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    env = serve_mode.ray_env(http())
    module, _, name = env["RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH"].partition(":")
    (middleware,) = validate_http_proxy_callback_return(getattr(serve_mode, name)())
    assert module == serve_mode.__name__

    async def echo(request):  # type: ignore[no-untyped-def]
        return JSONResponse(request.headers.get("x-request-disconnect-disabled"))

    app = middleware.cls(Starlette(routes=[Route("/", echo)]))
    assert TestClient(app).get("/").json() == "?1"


def test_a_side_port_in_use_is_skipped() -> None:
    import socket

    def listening_with_a_free_neighbour() -> socket.socket:
        while True:
            s = socket.socket()
            s.bind(("0.0.0.0", 0))
            with socket.socket() as probe:
                try:
                    probe.bind(("127.0.0.1", s.getsockname()[1] + 1))
                    return s
                except OSError:
                    s.close()

    with listening_with_a_free_neighbour() as taken:
        port = taken.getsockname()[1]
        taken.listen()
        ports = range(port, port + 2)
        assert {serve_mode._free_port(ports) for _ in range(20)} == {port + 1}
        with pytest.raises(RuntimeError, match="no free port"):
            serve_mode._free_port(range(port, port + 1))
