"""adcluster's Prometheus metrics, cluster-wide: the definitions, the gateway's per-request
tally, and the text of ``GET /metrics`` (no Ray here; ``actors/metrics.py`` records).

How the figures get cluster-wide (docs/gateway.md#metrics): every process (gateway replicas,
actors) records into Ray's metrics, which each node's metrics agent exports with one series
per process (Ray adds ``WorkerId``, ``NodeAddress`` and more, and prefixes ``ray_``).
``GET /metrics`` reads every node's export, keeps our families, drops Ray's labels and
combines the processes' series into one: counters and histograms are summed, gauges summed or
maxed as their definition says.

Histograms are recorded as three counters (``<name>_bucket`` with a cumulative ``le``,
``<name>_sum``, ``<name>_count``): Ray's ``Histogram`` takes one call per observation, and a
replica that adds a second's worth of requests in one call a bucket spends far less on the
request path. ``GET /metrics`` assembles them back into a Prometheus histogram.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.utils import floatToGoString

RAY_PREFIX = "ray_"
HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CYCLE_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})

Kind = Literal["counter", "gauge", "histogram"]
Labels = tuple[tuple[str, str], ...]  # sorted (name, value) pairs
Sample = tuple[str, Labels, float]  # (recorded name, labels, value)


@dataclass(frozen=True)
class MetricSpec:
    """One metric: its exposed ``name`` (counters without ``_total``), type and labels.

    ``combine``: how the processes' values of a gauge make one (``sum``: each process holds
    a part, like requests in flight; ``max``: each measures the same thing, like a queue).
    """

    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()
    combine: Literal["sum", "max"] = "sum"


SPECS: dict[str, MetricSpec] = {
    s.name: s
    for s in (
        MetricSpec(
            "adcluster_http_requests",
            "counter",
            "HTTP requests answered by the gateway replicas.",
            ("method", "route", "status"),
        ),
        MetricSpec(
            "adcluster_http_request_duration_seconds",
            "histogram",
            "Time from request to the end of the response, in a gateway replica.",
            ("method", "route"),
            HTTP_BUCKETS,
        ),
        MetricSpec("adcluster_http_requests_in_flight", "gauge", "Requests being answered."),
        MetricSpec("adcluster_gateway_replicas", "gauge", "Gateway replicas reporting."),
        MetricSpec(
            "adcluster_prediction_log_dropped",
            "counter",
            "Served predictions not written to prediction_log (buffer full, or a batch failed).",
        ),
        MetricSpec(
            "adcluster_prediction_log_written", "counter", "Rows written to prediction_log."
        ),
        MetricSpec(
            "adcluster_prediction_log_pending",
            "gauge",
            "Rows queued in the replicas, not yet written.",
        ),
        MetricSpec(
            "adcluster_learning_cycle_duration_seconds",
            "histogram",
            "Self-learning cycles run by the orchestrator, by trigger and final status.",
            ("trigger", "status"),
            CYCLE_BUCKETS,
        ),
        MetricSpec(
            "adcluster_learning_loop_duration_seconds",
            "histogram",
            "The loops of those cycles, by loop and status.",
            ("loop", "status"),
            CYCLE_BUCKETS,
        ),
        MetricSpec(
            "adcluster_executor_outcomes",
            "counter",
            "Ad changes handled by the safe executors, by outcome.",
            ("outcome",),
        ),
        MetricSpec(
            "adcluster_jobs_processed",
            "counter",
            "Queued jobs handled by the job consumer, by outcome.",
            ("outcome",),
        ),
        MetricSpec(
            "adcluster_queue_depth",
            "gauge",
            "Rows waiting in a queue (pending_jobs, pending_ad_changes), by status.",
            ("queue", "status"),
            combine="max",
        ),
    )
}


@dataclass(frozen=True)
class Instrument:
    """What a process records into Ray: a counter or gauge (a histogram is three counters)."""

    name: str
    kind: Literal["counter", "gauge"]
    help: str
    labels: tuple[str, ...]


def instruments() -> list[Instrument]:
    """Every Ray-level instrument behind :data:`SPECS`."""
    out = []
    for s in SPECS.values():
        if s.kind != "histogram":
            out.append(Instrument(s.name, s.kind, s.help, s.labels))
            continue
        out.append(Instrument(f"{s.name}_bucket", "counter", s.help, (*s.labels, "le")))
        out.append(Instrument(f"{s.name}_sum", "counter", s.help, s.labels))
        out.append(Instrument(f"{s.name}_count", "counter", s.help, s.labels))
    return out


INSTRUMENTS = {i.name: i for i in instruments()}
# recorded name -> (spec, part): part is "value", "bucket", "sum" or "count"
_PARTS: dict[str, tuple[MetricSpec, str]] = {}
for _s in SPECS.values():
    if _s.kind == "histogram":
        for _part in ("bucket", "sum", "count"):
            _PARTS[f"{_s.name}_{_part}"] = (_s, _part)
    else:
        _PARTS[_s.name] = (_s, "value")


def labels_of(**values: str) -> Labels:
    return tuple(sorted(values.items()))


def le_label(bound: float) -> str:
    return floatToGoString(bound)


_LE = {s.name: tuple(le_label(b) for b in s.buckets) for s in SPECS.values()}


def histogram_samples(
    spec: MetricSpec, labels: dict[str, str], bucket_counts: list[int], total: float
) -> Iterator[Sample]:
    """A histogram's recorded samples from per-bucket counts (``len(buckets) + 1``, the
    last one beyond every bound) and the sum of the observations."""
    running = 0
    name = f"{spec.name}_bucket"
    for le, n in zip(_LE[spec.name], bucket_counts, strict=False):
        running += n
        yield (name, labels_of(**labels, le=le), float(running))
    yield (f"{spec.name}_sum", labels_of(**labels), float(total))
    yield (f"{spec.name}_count", labels_of(**labels), float(sum(bucket_counts)))


def bucket_index(spec: MetricSpec, value: float) -> int:
    """The bucket ``value`` falls in (``len(buckets)``: beyond every bound)."""
    return bisect.bisect_left(spec.buckets, value)


# --- the gateway's hot path ------------------------------------------------------------
class RequestTally:
    """This process's HTTP requests, cumulative: counts and latency buckets by method, route
    template and status. ``observe`` is a dict lookup and two additions (no Ray call)."""

    def __init__(self) -> None:
        self.spec = SPECS["adcluster_http_request_duration_seconds"]
        self._width = len(self.spec.buckets) + 1
        self.rows: dict[tuple[str, str, str], list[float]] = {}  # buckets..., sum

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method if method in METHODS else "OTHER", route, str(status))
        row = self.rows.get(key)
        if row is None:
            row = self.rows[key] = [0.0] * (self._width + 1)
        row[bisect.bisect_left(self.spec.buckets, seconds)] += 1
        row[-1] += seconds

    def samples(self) -> Iterator[Sample]:
        merged: dict[tuple[str, str], list[float]] = {}
        for (method, route, status), row in self.rows.items():
            yield (
                "adcluster_http_requests",
                labels_of(method=method, route=route, status=status),
                float(sum(row[:-1])),
            )
            into = merged.setdefault((method, route), [0.0] * len(row))
            for i, v in enumerate(row):
                into[i] += v
        for (method, route), row in merged.items():
            counts = [int(v) for v in row[:-1]]
            yield from histogram_samples(
                self.spec, {"method": method, "route": route}, counts, row[-1]
            )


class Deltas:
    """Cumulative counter samples to increments since the last call (what Ray's ``inc``
    takes); gauges pass through."""

    def __init__(self) -> None:
        self._last: dict[tuple[str, Labels], float] = {}

    def take(self, samples: Iterable[Sample]) -> list[Sample]:
        out = []
        for name, labels, value in samples:
            if INSTRUMENTS[name].kind == "gauge":
                out.append((name, labels, value))
                continue
            key = (name, labels)
            delta = value - self._last.get(key, 0.0)
            if delta > 0:
                self._last[key] = value
                out.append((name, labels, delta))
        return out


# --- GET /metrics ----------------------------------------------------------------------
def parse_export(text: str) -> Iterator[Sample]:
    """Our samples in a node's Ray metrics export (Prometheus text), Ray's labels dropped;
    one per process and label set."""
    wanted = "\n".join(
        line
        for line in text.splitlines()
        if line.startswith(
            (RAY_PREFIX + "adcluster_", "# HELP ray_adcluster_", "# TYPE ray_adcluster_")
        )
    )
    for family in text_string_to_metric_families(wanted):
        for sample in family.samples:
            name = sample.name[len(RAY_PREFIX) :]
            if name not in _PARTS and name.endswith("_total"):
                name = name[: -len("_total")]
            found = _PARTS.get(name)
            if found is None:
                continue
            keep = set(INSTRUMENTS[name].labels)
            labels = tuple(sorted((k, v) for k, v in sample.labels.items() if k in keep))
            yield name, labels, float(sample.value)


def combine(samples: Iterable[Sample]) -> dict[tuple[str, Labels], float]:
    """One value per recorded name and label set: the processes' series summed (gauges
    with ``combine="max"``: their largest)."""
    out: dict[tuple[str, Labels], float] = {}
    for name, labels, value in samples:
        if math.isnan(value):
            continue
        key = (name, labels)
        spec = _PARTS[name][0]
        if key in out and spec.kind == "gauge" and spec.combine == "max":
            out[key] = max(out[key], value)
        else:
            out[key] = out.get(key, 0.0) + value
    return out


def families(values: dict[tuple[str, Labels], float]) -> list[Metric]:
    """Prometheus metric families of every spec (a label-less counter or gauge with no
    sample reads 0, so that it exists before anything happened)."""
    by_name: dict[str, list[tuple[Labels, float]]] = {}
    for (name, labels), value in values.items():
        by_name.setdefault(name, []).append((labels, value))
    out: list[Metric] = []
    for spec in SPECS.values():
        if spec.kind == "histogram":
            out.append(_histogram(spec, by_name))
            continue
        family: Any = (CounterMetricFamily if spec.kind == "counter" else GaugeMetricFamily)(
            spec.name, spec.help, labels=list(spec.labels)
        )
        rows = by_name.get(spec.name) or ([((), 0.0)] if not spec.labels else [])
        for labels, value in sorted(rows):
            found = dict(labels)
            family.add_metric([found.get(k, "") for k in spec.labels], value)
        out.append(family)
    return out


def _histogram(spec: MetricSpec, by_name: dict[str, list[tuple[Labels, float]]]) -> Metric:
    family = HistogramMetricFamily(spec.name, spec.help, labels=list(spec.labels))
    sums = dict(by_name.get(f"{spec.name}_sum", []))
    counts = dict(by_name.get(f"{spec.name}_count", []))
    buckets: dict[Labels, list[tuple[float, float]]] = {}
    for labels, value in by_name.get(f"{spec.name}_bucket", []):
        found = dict(labels)
        bound = float(found.pop("le"))
        buckets.setdefault(tuple(sorted(found.items())), []).append((bound, value))
    for labels in sorted(counts):
        found = dict(labels)
        rows = sorted(buckets.get(labels, []))
        family.add_metric(
            [found.get(k, "") for k in spec.labels],
            [(le_label(b), v) for b, v in rows] + [("+Inf", counts[labels])],
            sums.get(labels, 0.0),
        )
    return family


def exposition(values: dict[tuple[str, Labels], float], extra: Iterable[Metric] = ()) -> bytes:
    """Prometheus text of ``values`` (and ``extra`` families)."""
    registry = CollectorRegistry(auto_describe=False)
    metrics = [*families(values), *extra]

    class _Collector:
        def collect(self) -> Iterator[Metric]:
            return iter(metrics)

    registry.register(_Collector())  # type: ignore[arg-type]
    return generate_latest(registry)
