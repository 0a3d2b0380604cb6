"""The gateway as a Ray Serve ingress deployment (the FastAPI app is built on the replica)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI
from ray import serve

from actors import registry
from core.db.engine import Database
from core.settings import Settings
from serve_apps.gateway.app import build_app
from serve_apps.gateway.services import ActorRef, Services

log = logging.getLogger("adcluster.gateway")


def make_services(settings: Settings) -> Services:
    """Settings, a database, and lazy handles to the named actors."""
    actors = {
        "winner_memory": ActorRef(lambda: registry.winner_memory(settings)),
        "job_consumer": ActorRef(lambda: registry.job_consumer(settings)),
    }
    try:
        from actors.sampler import get_or_create_sampler
    except ImportError:
        log.warning("sampler actor not available")
    else:
        actors["sampler"] = ActorRef(lambda: get_or_create_sampler(settings))
    return Services(settings=settings, db=Database(settings.db_url), actors=actors)


@serve.deployment(name="Gateway", ray_actor_options={"num_cpus": 0})
@serve.ingress()
class Gateway:
    """Thin shell: everything it serves lives in ``serve_apps.gateway.app`` and ``core``."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.services = make_services(Settings.from_overrides(settings))

    def __serve_build_asgi_app__(self) -> FastAPI:
        return build_app(self.services)


def build_application(settings: Settings) -> serve.Application:
    """The gateway application, ready for ``serve.run``."""
    return Gateway.bind(settings.to_overrides())
