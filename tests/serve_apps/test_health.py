"""/healthz and /readyz: readiness reports every catalogue actor, and probing changes nothing."""

from __future__ import annotations

import time

import httpx
import ray

from actors import catalogue
from core.settings import Settings


def actor_states(client: httpx.Client) -> tuple[int, dict[str, dict[str, str]]]:
    r = client.get("/readyz")
    body = r.json() if r.status_code == 200 else r.json()["details"]
    return r.status_code, body["actors"]


def test_readyz_reports_each_catalogue_actor(client: httpx.Client, app_settings: Settings) -> None:
    code, actors = actor_states(client)
    assert code == 200
    spec = catalogue.load()
    assert {r: a["name"] for r, a in actors.items()} == {
        role: s.name for role, s in spec.actors.items()
    }
    assert {a["state"] for a in actors.values()} == {"alive"}


def test_readyz_has_no_side_effects(client: httpx.Client, app_settings: Settings) -> None:
    """A probe never recreates an actor killed for good; the next real use does."""
    handle = catalogue.lookup("thompson_sampler", app_settings)
    assert handle is not None
    ray.kill(handle, no_restart=True)
    deadline = time.monotonic() + 30
    while catalogue.lookup("thompson_sampler", app_settings) is not None:
        assert time.monotonic() < deadline, "the killed actor is still registered"
        time.sleep(0.1)
    for _ in range(3):
        code, actors = actor_states(client)
        assert code == 503 and actors["thompson_sampler"]["state"] == "missing"
        assert actors["winner_memory"]["state"] == "alive"
    assert catalogue.lookup("thompson_sampler", app_settings) is None

    # A request that needs the sampler recreates it from the catalogue.
    r = client.post("/api/ml/experiments/exp_nope/select", json={})
    assert r.status_code == 404, r.text
    assert catalogue.lookup("thompson_sampler", app_settings) is not None
    code, actors = actor_states(client)
    assert code == 200 and actors["thompson_sampler"]["state"] == "alive"
