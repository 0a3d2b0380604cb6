"""The gateway as a Ray Serve ingress deployment (the FastAPI app is built on the replica)."""

from __future__ import annotations

import contextlib
from typing import Any

from fastapi import FastAPI
from ray import serve

from actors import registry
from actors.sampler import get_or_create_sampler
from core.db.engine import Database
from core.logs import configure_logging
from core.settings import Settings
from serve_apps.gateway.app import build_app
from serve_apps.gateway.services import ActorRef, Services


def make_services(settings: Settings) -> Services:
    """Settings, a database, and lazy handles to the named actors."""
    actors = {
        "winner_memory": ActorRef(lambda: registry.winner_memory(settings)),
        "job_consumer": ActorRef(lambda: registry.job_consumer(settings)),
        "sampler": ActorRef(lambda: get_or_create_sampler(settings)),
    }
    return Services(settings=settings, db=Database(settings.db_url), actors=actors)


@serve.deployment(name="Gateway", ray_actor_options={"num_cpus": 0})
@serve.ingress()
class Gateway:
    """Thin shell: everything it serves lives in ``serve_apps.gateway.app`` and ``core``."""

    def __init__(self, settings: dict[str, Any], replicas: int = 1) -> None:
        configure_logging("WARNING")
        self.services = make_services(Settings.from_overrides(settings))
        # Rate limits are per replica: each enforces its share of a key's limit.
        self.services.extras["replicas"] = replicas
        with contextlib.suppress(Exception):  # built outside a replica (tests)
            self.services.extras["replica"] = serve.get_replica_context().replica_id.unique_id

    def __serve_build_asgi_app__(self) -> FastAPI:
        return build_app(self.services)


def build_application(
    settings: Settings, options: dict[str, Any] | None = None
) -> serve.Application:
    """The gateway application, ready for ``serve.run``.

    ``options``: ``Deployment.options`` (replicas, concurrency, logging), as
    ``cluster.serve_mode.deployment_options()`` reads them from ``configs/serve.yaml``.
    """
    options = options or {}
    replicas = options.get("num_replicas", 1)
    return Gateway.options(**options).bind(settings.to_overrides(), replicas=replicas)
