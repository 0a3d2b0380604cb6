"""The actor catalogue: every named actor declared once, started, found and stopped by role."""

from __future__ import annotations

import importlib
import inspect
import time
from pathlib import Path

import pytest
import ray
import yaml

from actors import catalogue
from core.config import REPO_ROOT, ConfigError, load_config
from core.settings import Settings


@pytest.mark.parametrize("role", catalogue.roles())
def test_each_entry_names_a_class_that_fits(role: str) -> None:
    spec = catalogue.load().spec(role)
    module, _, attr = spec.class_path.partition(":")
    cls = getattr(importlib.import_module(module), attr)
    assert not hasattr(cls, "remote"), "plain class: the catalogue makes it an actor"
    assert callable(getattr(cls, "ping", None))
    assert list(inspect.signature(cls.__init__).parameters)[1] == "settings"


def test_unknown_role_names_the_known_ones() -> None:
    with pytest.raises(
        KeyError, match="known: job_consumer, learning_orchestrator, market_simulator, model_"
    ):
        catalogue.load().spec("nope")


def test_a_bad_entry_fails_naming_the_key(tmp_path: Path) -> None:
    data = yaml.safe_load((REPO_ROOT / "configs" / "actors.yaml").read_text())
    data["actors"]["winner_memory"]["max_restart"] = 3
    path = tmp_path / "actors.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=r"'actors\.winner_memory\.max_restart'"):
        load_config("actors.yaml", catalogue.Catalogue, path=path)


def _thread_niceness(_actor: object) -> list[int]:
    import os

    return [os.getpriority(os.PRIO_PROCESS, int(tid)) for tid in os.listdir("/proc/self/task")]


def test_lower_priority_renices_every_thread_and_never_raises_priority() -> None:
    import os
    import subprocess
    import sys

    code = (
        "import os, threading; from actors.priority import lower_priority;"
        "t = threading.Thread(target=threading.Event().wait, daemon=True); t.start();"
        "os.setpriority(os.PRIO_PROCESS, t.native_id, 15);"
        "n = lower_priority(10);"
        "print(n, sorted(os.getpriority(os.PRIO_PROCESS, int(x))"
        " for x in os.listdir('/proc/self/task')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    ).stdout.split(maxsplit=1)
    assert out == ["1", "[10, 15]\n"]  # the main thread raised to 10; 15 stays 15


@pytest.mark.ray
def test_a_renamed_entry_is_started_found_and_stopped_under_its_new_name(
    ray_session: None, make_settings
) -> None:  # type: ignore[no-untyped-def]
    settings: Settings = make_settings("sqlite")
    base = catalogue.load()
    spec = base.actors["winner_memory"].model_copy(update={"name": "memory_renamed"})
    renamed = base.model_copy(update={"actors": {**base.actors, "winner_memory": spec}})
    handle = catalogue.get("winner_memory", settings, catalogue=renamed)
    try:
        assert ray.get(handle.ping.remote()) is True
        found = ray.get_actor("memory_renamed", namespace=settings.ray.namespace)
        assert found._actor_id == handle._actor_id
        assert catalogue.lookup("winner_memory", settings, catalogue=renamed) is not None
        assert catalogue.lookup("winner_memory", settings) is None  # the old name: nothing
        # get() of a running actor returns it rather than a second one
        again = catalogue.get("winner_memory", settings, catalogue=renamed)
        assert again._actor_id == handle._actor_id
        # a background actor: every thread of its process at its niceness (19)
        assert spec.niceness == 19
        nice = ray.get(handle.__ray_call__.remote(_thread_niceness))
        assert nice and min(nice) >= 19, nice
    finally:
        assert catalogue.kill("winner_memory", settings, catalogue=renamed)
    deadline = time.monotonic() + 30
    while catalogue.lookup("winner_memory", settings, catalogue=renamed) is not None:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert not catalogue.kill("winner_memory", settings, catalogue=renamed)
