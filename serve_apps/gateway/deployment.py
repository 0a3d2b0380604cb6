"""The gateway as a Ray Serve ingress deployment, and the typed app builder that
``configs/serve.yaml`` names (``serve deploy`` and ``adcluster up`` both use it)."""

from __future__ import annotations

import contextlib
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field
from ray import serve
from ray.serve.handle import DeploymentHandle

from actors import catalogue
from core.db.engine import Database
from core.db.migrate import prepare_database
from core.logs import configure_logging
from core.settings import Settings
from serve_apps.ctr.deployment import CtrModel
from serve_apps.gateway.app import build_app
from serve_apps.gateway.ctr_client import CtrClient
from serve_apps.gateway.prediction_log import PredictionLogClient
from serve_apps.gateway.services import ActorRef, Services


def make_services(settings: Settings) -> Services:
    """Settings, a database, a lazy handle to every catalogue actor and the prediction log's
    client."""
    db = Database(settings.db_url)
    actors = {
        role: ActorRef(lambda role=role: catalogue.get(role, settings))
        for role in catalogue.roles()
    }
    log = PredictionLogClient(actors["prediction_log"], settings.prediction_log)
    return Services(settings=settings, db=db, actors=actors, prediction_log=log)


@serve.deployment(name="Gateway")
@serve.ingress()
class Gateway:
    """Thin shell: everything it serves lives in ``serve_apps.gateway.app`` and ``core``."""

    def __init__(
        self, settings: dict[str, Any] | None = None, ctr_model: DeploymentHandle | None = None
    ) -> None:
        configure_logging("WARNING")
        resolved = Settings.from_overrides(settings) if settings else Settings.load()
        self.services = make_services(resolved)
        if ctr_model is not None:  # the CtrModel deployment (POST /api/ml/predict/ctr)
            self.services.extras["ctr_model"] = CtrClient(
                ctr_model,
                group_requests=1,  # until reconfigure() applies the user_config
                calls_in_flight=resolved.api.ctr_calls_in_flight,
            )
        with contextlib.suppress(Exception):  # built outside a replica (tests)
            context = serve.get_replica_context()
            self.services.extras["replica"] = context.replica_id.unique_id
            # Rate limits are per replica: each enforces its share of a key's limit.
            self.services.extras["replicas"] = context.world_size

    def __serve_build_asgi_app__(self) -> FastAPI:
        self.fastapi_app = build_app(self.services)  # (``app`` is Serve's own property)
        return self.fastapi_app

    def reconfigure(self, user_config: dict[str, Any]) -> None:
        """``user_config`` of the deployment (``configs/serve.yaml``): applied at start and on
        every ``serve deploy`` that changes it, with no restart."""
        config = GatewayUserConfig.model_validate(user_config)
        self.services.log_predictions = config.log_predictions
        client = self.services.extras.get("ctr_model")
        if client is not None:
            client.group_requests = config.ctr_group_requests

    async def __del__(self) -> None:
        """On a graceful stop (Serve awaits it): send the predictions still buffered, and
        what the replica counted since its last metrics flush."""
        if self.services.prediction_log is not None:
            await self.services.prediction_log.flush(timeout_s=3.0)
        app = getattr(self, "fastapi_app", None)
        if app is not None:
            app.state.metrics.flush()


class GatewayUserConfig(BaseModel):
    """The Gateway deployment's ``user_config``."""

    model_config = ConfigDict(extra="forbid")

    log_predictions: bool  # write served predictions to prediction_log (SPEC §2)
    # POST /api/ml/predict/ctr: requests sent to the CtrModel in one call, at most (1: a call
    # per request); serve_apps/gateway/ctr_client.py
    ctr_group_requests: int = Field(ge=1, le=1024)


class GatewayArgs(BaseModel):
    """``args`` of the application in ``configs/serve.yaml``.

    ``settings``: a full settings dump (``Settings.to_overrides()``), as ``adcluster up``
    passes it after migrating the database and starting the catalogue's actors. Absent
    (``serve deploy configs/serve.yaml``), the builder reads ``configs/settings.yaml`` and the
    environment of the cluster, migrates the database and starts the actors itself.
    """

    model_config = ConfigDict(extra="forbid")

    settings: dict[str, Any] | None = None


def app_builder(args: dict[str, Any] | GatewayArgs) -> serve.Application:
    """The gateway application (replicas and options come from the Serve config)."""
    parsed = args if isinstance(args, GatewayArgs) else GatewayArgs.model_validate(args)
    if parsed.settings is None:
        settings = Settings.load()
        prepare_database(settings)
        catalogue.start_all(settings)
        dump = settings.to_overrides()
    else:
        dump = parsed.settings
    # Composition through a handle: the gateway calls the CTR model deployment.
    return Gateway.bind(dump, CtrModel.bind(dump))
