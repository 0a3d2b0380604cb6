"""core/telemetry.py without Ray: the request tally, increments, and the cluster-wide text made
from several processes' series in Ray's export format."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from core.telemetry import (
    SPECS,
    Deltas,
    RequestTally,
    combine,
    exposition,
    histogram_samples,
    labels_of,
    parse_export,
)

RAY_LABELS = (
    'Component="core_worker",NodeAddress="10.0.0.{node}",SessionName="session_x",'
    'Version="2.60.0",WorkerId="w{worker}",otel_scope_name="ray",otel_scope_version=""'
)


def ray_export(node: int, workers: dict[int, tuple[int, float, int]]) -> str:
    """A node's Ray export: per worker (requests, latency sum, in flight); plus Ray's own."""
    lines = [
        "# HELP ray_tasks Current number of tasks.",
        "# TYPE ray_tasks gauge",
        f'ray_tasks{{{RAY_LABELS.format(node=node, worker=0)},State="RUNNING"}} 3.0',
        "# HELP ray_adcluster_http_requests_total HTTP requests.",
        "# TYPE ray_adcluster_http_requests_total counter",
    ]
    for w, (n, _, _) in workers.items():
        labels = f'{RAY_LABELS.format(node=node, worker=w)},method="GET",route="/x",status="200"'
        lines.append(f"ray_adcluster_http_requests_total{{{labels}}} {n}")
    for part in ("bucket", "sum", "count"):
        name = f"ray_adcluster_http_request_duration_seconds_{part}_total"
        lines += [f"# HELP {name} Latency.", f"# TYPE {name} counter"]
        for w, (n, total, _) in workers.items():
            labels = f'{RAY_LABELS.format(node=node, worker=w)},method="GET",route="/x"'
            if part == "bucket":
                lines.append(f'{name}{{{labels},le="0.01"}} {n - 1}')
                lines.append(f'{name}{{{labels},le="0.1"}} {n}')
            else:
                lines.append(f"{name}{{{labels}}} {total if part == 'sum' else n}")
    lines += ["# HELP ray_adcluster_queue_depth Queue.", "# TYPE ray_adcluster_queue_depth gauge"]
    for w, (_, _, depth) in workers.items():
        labels = f'{RAY_LABELS.format(node=node, worker=w)},queue="pending_jobs",status="pending"'
        lines.append(f"ray_adcluster_queue_depth{{{labels}}} {depth}")
    lines += [
        "# HELP ray_adcluster_http_requests_in_flight In flight.",
        "# TYPE ray_adcluster_http_requests_in_flight gauge",
    ]
    for w, (_, _, depth) in workers.items():
        labels = RAY_LABELS.format(node=node, worker=w)
        lines.append(f"ray_adcluster_http_requests_in_flight{{{labels}}} {depth}")
    return "\n".join(lines) + "\n"


def key(**labels: str) -> tuple:
    return tuple(sorted(labels.items()))


def families_of(body: bytes) -> dict[str, dict[tuple, float]]:
    out: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def test_processes_on_several_nodes_become_one_series() -> None:
    node1 = ray_export(1, {1: (10, 0.5, 4), 2: (5, 0.25, 4)})
    node2 = ray_export(2, {3: (7, 0.125, 3)})
    values = combine(s for text in (node1, node2) for s in parse_export(text))
    got = families_of(exposition(values))

    series = key(method="GET", route="/x", status="200")
    assert got["adcluster_http_requests_total"] == {series: 22.0}  # 10 + 5 + 7, Ray's labels gone
    hist = key(method="GET", route="/x")
    buckets = got["adcluster_http_request_duration_seconds_bucket"]
    assert buckets[key(method="GET", route="/x", le="0.01")] == 19.0
    assert buckets[key(method="GET", route="/x", le="0.1")] == 22.0
    assert buckets[key(method="GET", route="/x", le="+Inf")] == 22.0
    assert got["adcluster_http_request_duration_seconds_count"] == {hist: 22.0}
    assert got["adcluster_http_request_duration_seconds_sum"] == {hist: 0.875}
    # a queue measured by several processes: the largest, not the sum; in flight: the sum
    depth = key(queue="pending_jobs", status="pending")
    assert got["adcluster_queue_depth"] == {depth: 4.0}
    assert got["adcluster_http_requests_in_flight"] == {(): 11.0}
    assert "ray_tasks" not in got and not any("WorkerId" in str(k) for k in got)
    # label-less counters exist before anything happened
    assert got["adcluster_prediction_log_dropped_total"] == {(): 0.0}


def test_tally_counts_buckets_and_folds_odd_methods() -> None:
    tally = RequestTally()
    for seconds in (0.0005, 0.003, 0.003, 20.0):
        tally.observe("POST", "/api/x", 200, seconds)
    tally.observe("GET", "/api/x", 404, 0.002)
    tally.observe("BREW", "/api/x", 405, 0.002)
    got = families_of(exposition(combine(tally.samples())))
    requests = got["adcluster_http_requests_total"]
    assert requests[(("method", "POST"), ("route", "/api/x"), ("status", "200"))] == 4
    assert requests[(("method", "OTHER"), ("route", "/api/x"), ("status", "405"))] == 1
    buckets = got["adcluster_http_request_duration_seconds_bucket"]
    post = key(method="POST", route="/api/x")
    assert buckets[key(method="POST", route="/api/x", le="0.001")] == 1
    assert buckets[key(method="POST", route="/api/x", le="0.005")] == 3
    assert buckets[key(method="POST", route="/api/x", le="10.0")] == 3
    assert buckets[key(method="POST", route="/api/x", le="+Inf")] == 4
    assert got["adcluster_http_request_duration_seconds_sum"][post] == 20.0065


def test_deltas_are_increments_since_the_last_take() -> None:
    deltas = Deltas()
    first = [("adcluster_executor_outcomes", labels_of(outcome="applied"), 3.0)]
    assert deltas.take(first) == first
    assert deltas.take(first) == []  # nothing new
    later = [
        ("adcluster_executor_outcomes", labels_of(outcome="applied"), 5.0),
        ("adcluster_queue_depth", labels_of(queue="q", status="pending"), 7.0),
    ]
    assert deltas.take(later) == [
        ("adcluster_executor_outcomes", labels_of(outcome="applied"), 2.0),
        ("adcluster_queue_depth", labels_of(queue="q", status="pending"), 7.0),  # a gauge: as is
    ]


def test_one_observation_is_cumulative_buckets() -> None:
    spec = SPECS["adcluster_learning_cycle_duration_seconds"]
    counts = [0] * (len(spec.buckets) + 1)
    counts[3] = 1  # 3.2 s: in (2.5, 5]
    samples = list(histogram_samples(spec, {"trigger": "api", "status": "completed"}, counts, 3.2))
    buckets = {dict(labels)["le"]: v for name, labels, v in samples if name.endswith("_bucket")}
    assert buckets["2.5"] == 0 and buckets["5.0"] == 1 and buckets["3600.0"] == 1
    assert samples[-2][2] == 3.2 and samples[-1][2] == 1
