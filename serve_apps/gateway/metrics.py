"""``GET /metrics``: adcluster's Prometheus figures, cluster-wide (docs/gateway.md#metrics).

A replica counts each request in a local tally (a dict lookup and two additions,
:class:`core.telemetry.RequestTally`) and every ``metrics.flush_interval_s`` adds what it
counted to Ray's metrics (``actors/metrics.py``), as the actors do with theirs. In the
cluster, ``GET /metrics`` reads every alive node's Ray metrics export and answers every
replica's and actor's series combined into one (cached ``metrics.cache_s``, since the route is
public). Built outside a Serve replica (plain uvicorn, in-process tests) the app answers its
own process's figures under the same names.

Routes are labelled by template (``/api/ads/{ad_id}``), never the raw path, and methods
outside the standard ones read ``OTHER``, so clients cannot grow the label set.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time

import httpx
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.settings import MetricsSettings
from core.telemetry import Deltas, RequestTally, Sample, combine, exposition, parse_export
from serve_apps.gateway.errors import ApiError
from serve_apps.gateway.prediction_log import PredictionLogClient

router = APIRouter(tags=["health"])
log = logging.getLogger("adcluster.gateway.metrics")
NODES_TTL_S = 10.0  # how long the list of nodes is reused


class ClusterScrape:
    """Every alive node's Ray metrics export, read and combined; one read at a time, reused
    for ``cache_s``."""

    def __init__(self, config: MetricsSettings) -> None:
        self.config = config
        self._urls: list[str] = []
        self._urls_at = -math.inf
        self._body = b""
        self._body_at = -math.inf
        self._lock = asyncio.Lock()

    async def node_urls(self) -> list[str]:
        if time.monotonic() - self._urls_at > NODES_TTL_S or not self._urls:
            self._urls = await asyncio.to_thread(export_urls)
            self._urls_at = time.monotonic()
        return self._urls

    async def exposition(self) -> bytes:
        if time.monotonic() - self._body_at <= self.config.cache_s:
            return self._body
        async with self._lock:
            if time.monotonic() - self._body_at <= self.config.cache_s:
                return self._body  # another request read it meanwhile
            urls = await self.node_urls()
            async with httpx.AsyncClient(timeout=self.config.scrape_timeout_s) as client:
                texts = await asyncio.gather(*(_fetch(client, u) for u in urls))
            read = [t for t in texts if t is not None]
            if not read:
                self._urls_at = -math.inf  # look the nodes up again next time
                raise ApiError(
                    503,
                    "metrics unavailable: no node's Ray metrics export answered",
                    {"nodes": len(urls)},
                    {"Retry-After": "1"},
                )
            self._body = await asyncio.to_thread(_render, read, len(urls) - len(read))
            self._body_at = time.monotonic()
            return self._body


def export_urls() -> list[str]:
    """The Ray metrics export endpoint of every alive node."""
    import ray

    return [
        f"http://{n['NodeManagerAddress']}:{n['MetricsExportPort']}/metrics"
        for n in ray.nodes()
        if n.get("Alive") and n.get("MetricsExportPort")
    ]


async def _fetch(client: httpx.AsyncClient, url: str) -> str | None:
    try:
        response = await client.get(url)
        response.raise_for_status()
        return response.text
    except httpx.HTTPError as exc:
        log.warning("node metrics unreadable", extra={"url": url, "error": type(exc).__name__})
        return None


def _render(texts: list[str], failed: int) -> bytes:
    values = combine(sample for text in texts for sample in parse_export(text))
    nodes = GaugeMetricFamily(
        "adcluster_metrics_nodes",
        "Nodes whose Ray metrics export this answer read (ok) or could not read (failed).",
        labels=["result"],
    )
    nodes.add_metric(["ok"], len(texts))
    nodes.add_metric(["failed"], failed)
    return exposition(values, [nodes])


class GatewayMetrics:
    """One replica's figures, and the way to the cluster's (``cluster``: built in a replica)."""

    def __init__(
        self,
        config: MetricsSettings,
        prediction_log: PredictionLogClient | None = None,
        *,
        cluster: bool = False,
    ) -> None:
        self.config = config
        self.cluster = cluster
        self.tally = RequestTally()
        self.in_flight = 0
        self.prediction_log = prediction_log
        self.scrape = ClusterScrape(config) if cluster else None
        self._deltas = Deltas()
        self._flusher: asyncio.Task[None] | None = None

    def samples(self) -> list[Sample]:
        """This process's figures, cumulative (what it adds to Ray's metrics)."""
        out = list(self.tally.samples())
        out.append(("adcluster_http_requests_in_flight", (), float(self.in_flight)))
        out.append(("adcluster_gateway_replicas", (), 1.0))
        log_client = self.prediction_log
        if log_client is not None:
            out.append(("adcluster_prediction_log_dropped", (), float(log_client.dropped)))
            out.append(("adcluster_prediction_log_written", (), float(log_client.written)))
            out.append(("adcluster_prediction_log_pending", (), float(log_client.pending)))
        return out

    def start_flushing(self) -> None:
        """Add this replica's counts to Ray's metrics every ``flush_interval_s`` (call from
        the event loop; once)."""
        if self.cluster and self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(self._flush_loop())

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.flush_interval_s)
            self.flush()

    def flush(self) -> None:
        """What was counted since the last flush, into Ray's metrics."""
        from actors.metrics import recorder

        try:
            recorder().record(self._deltas.take(self.samples()))
        except Exception as exc:  # metrics never fail a replica
            log.warning("metrics flush failed", extra={"error": repr(exc)})

    async def exposition(self) -> bytes:
        if self.scrape is None:
            return exposition(combine(self.samples()))
        return await self.scrape.exposition()


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

        metrics = self.metrics
        if metrics._flusher is None:
            metrics.start_flushing()
        metrics.in_flight += 1
        try:
            await self.app(scope, receive, send_status)
        finally:
            metrics.in_flight -= 1
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            metrics.tally.observe(scope["method"], template, status, time.perf_counter() - start)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {}}}},
    summary="Prometheus metrics of the whole cluster (every gateway replica and actor)",
)
async def metrics(request: Request) -> Response:
    body = await request.app.state.metrics.exposition()
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def install_metrics(
    app: FastAPI,
    config: MetricsSettings,
    prediction_log: PredictionLogClient | None = None,
    *,
    cluster: bool = False,
) -> GatewayMetrics:
    """The ``/metrics`` route and the counting middleware (``cluster``: in a Serve replica)."""
    app.state.metrics = GatewayMetrics(config, prediction_log, cluster=cluster)
    app.include_router(router)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    return app.state.metrics
