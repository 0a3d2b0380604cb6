"""``GET /metrics``: Prometheus text for this gateway replica.

Requests are counted by method, route template (never the raw path, so ids do not
explode the label set) and status, with a latency histogram. Each replica keeps its own
registry; behind the proxy a scrape reaches one replica (the ``replica`` label tells
which). Ray's own metrics endpoint exports the cluster-wide Serve figures.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serve_apps.gateway.prediction_log import PredictionLogClient

router = APIRouter(tags=["health"])

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class GatewayMetrics:
    """One registry per app (apps built in one process stay independent)."""

    def __init__(self, replica: str | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "adcluster_http_requests",
            "HTTP requests answered by the gateway.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "adcluster_http_request_duration_seconds",
            "Time from request to the end of the response, in the gateway replica.",
            ["method", "route"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "adcluster_http_requests_in_flight",
            "Requests being answered.",
            registry=self.registry,
        )
        info = Gauge(
            "adcluster_gateway_replica", "This replica.", ["replica"], registry=self.registry
        )
        info.labels(replica or f"pid-{os.getpid()}").set(1)
        self._children: dict[tuple[str, str, str], tuple[Any, Any]] = {}

    def observe(self, method: str, route: str, status: str, seconds: float) -> None:
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = (
                self.requests.labels(method, route, status),
                self.latency.labels(method, route),
            )
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)


class MetricsMiddleware:
    """Count every HTTP request, including those refused before routing (401, 413, 429)."""

    def __init__(self, app: ASGIApp, *, metrics: GatewayMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        in_flight = self.metrics.in_flight
        in_flight.inc()
        try:
            await self.app(scope, receive, send_status)
        finally:
            in_flight.dec()
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.observe(
                scope["method"], template, str(status), time.perf_counter() - start
            )


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {}}}},
    summary="Prometheus metrics of this gateway replica",
)
async def metrics(request: Request) -> Response:
    registry = request.app.state.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


class PredictionLogCollector:
    """The prediction log client's counters (this replica's), read at scrape time."""

    def __init__(self, writer: PredictionLogClient) -> None:
        self.writer = writer

    def collect(self) -> Iterator[Any]:
        w = self.writer
        yield CounterMetricFamily(
            "adcluster_prediction_log_dropped",
            "Served predictions not written to prediction_log (buffer full, or a batch failed).",
            value=w.dropped,
        )
        yield CounterMetricFamily(
            "adcluster_prediction_log_written", "Rows written to prediction_log.", value=w.written
        )
        yield GaugeMetricFamily(
            "adcluster_prediction_log_pending", "Rows queued, not yet written.", value=w.pending
        )


def install_metrics(
    app: FastAPI, replica: str | None = None, prediction_log: PredictionLogClient | None = None
) -> GatewayMetrics:
    """The ``/metrics`` route and the counting middleware."""
    app.state.metrics = GatewayMetrics(replica)
    if prediction_log is not None:
        app.state.metrics.registry.register(PredictionLogCollector(prediction_log))
    app.include_router(router)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    return app.state.metrics
