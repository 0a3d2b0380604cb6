"""Recording adcluster's metrics into Ray's (``ray.util.metrics``), which each node's metrics
agent exports; ``GET /metrics`` combines them cluster-wide (``core/telemetry.py``).

One :class:`RayRecorder` a process creates the instruments on first use. Processes that
count on a hot path (gateway replicas) or in a loop (the job consumer, the executor) keep
cumulative figures of their own and hand them to the recorder now and then, as increments
(:class:`core.telemetry.Deltas`): a Ray metric call costs a few microseconds, an addition to
a local count a fraction of one. :class:`Reporter` is that "now and then" for actors.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any

from core.settings import MetricsSettings
from core.telemetry import (
    INSTRUMENTS,
    SPECS,
    Deltas,
    Labels,
    Sample,
    bucket_index,
    histogram_samples,
    labels_of,
)

log = logging.getLogger("adcluster.metrics")


class RayRecorder:
    """The Ray instruments of this process (a histogram is three counters)."""

    def __init__(self) -> None:
        self._made: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _instrument(self, name: str) -> Any:
        made = self._made.get(name)
        if made is None:
            from ray.util.metrics import Counter, Gauge

            spec = INSTRUMENTS[name]
            kind = Counter if spec.kind == "counter" else Gauge
            with self._lock:
                made = self._made.setdefault(
                    name, kind(name, description=spec.help, tag_keys=spec.labels)
                )
        return made

    def record(self, samples: Iterable[Sample]) -> None:
        """Counters: add each (an increment); gauges: set each."""
        for name, labels, value in samples:
            instrument = self._instrument(name)
            if INSTRUMENTS[name].kind == "counter":
                if value > 0:
                    instrument.inc(value, tags=dict(labels))
            else:
                instrument.set(value, tags=dict(labels))

    def observe(self, name: str, value: float, **labels: str) -> None:
        """One observation of the histogram ``name``."""
        spec = SPECS[name]
        counts = [0] * (len(spec.buckets) + 1)
        counts[bucket_index(spec, value)] = 1
        self.record(histogram_samples(spec, labels, counts, value))

    def count(self, name: str, totals: dict[str, int], label: str, deltas: Deltas) -> None:
        """Cumulative counts by one label (``{"applied": 3, ...}``) as increments."""
        samples = [(name, labels_of(**{label: k}), float(v)) for k, v in totals.items()]
        self.record(deltas.take(samples))

    def gauge(self, name: str, values: dict[Labels, float]) -> None:
        self.record((name, labels, v) for labels, v in values.items())


@lru_cache(maxsize=1)
def recorder() -> RayRecorder:
    """This process's recorder."""
    return RayRecorder()


class Reporter:
    """A daemon thread that calls ``report()`` every ``interval_s`` and once more at stop;
    a failing report is logged (once until one succeeds again), never raised."""

    def __init__(self, report: Callable[[], None], interval_s: float, name: str) -> None:
        self.report = report
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._failing = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> Reporter:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._once()
        self._once()

    def _once(self) -> None:
        try:
            self.report()
            self._failing = False
        except Exception as exc:
            if not self._failing:
                log.warning("metrics report failed", extra={"error": repr(exc)})
            self._failing = True


class ActorMetrics:
    """An actor's figures, reported every ``flush_interval_s``: its cumulative outcome counts
    as the counter ``counter`` (by ``outcome``), and the depth of the queue it drains as
    ``adcluster_queue_depth{queue, status}`` (counted at most every
    ``queue_depth_interval_s``)."""

    def __init__(
        self,
        config: MetricsSettings,
        *,
        counter: str,
        outcomes: Callable[[], dict[str, int]],
        queue: str,
        depth: Callable[[], dict[str, int]],
    ) -> None:
        self.config = config
        self.counter = counter
        self.outcomes = outcomes
        self.queue = queue
        self.depth = depth
        self._deltas = Deltas()
        self._depth_at = -math.inf
        self._reporter: Reporter | None = None

    def report(self) -> None:
        rec = recorder()
        rec.count(self.counter, self.outcomes(), "outcome", self._deltas)
        if time.monotonic() - self._depth_at >= self.config.queue_depth_interval_s:
            rows = self.depth()
            rec.gauge(
                "adcluster_queue_depth",
                {labels_of(queue=self.queue, status=k): float(v) for k, v in rows.items()},
            )
            self._depth_at = time.monotonic()

    def start(self) -> None:
        if self._reporter is None:
            name = f"metrics-{self.queue}"
            self._reporter = Reporter(self.report, self.config.flush_interval_s, name).start()

    def stop(self) -> None:
        if self._reporter is not None:
            self._reporter.stop()
            self._reporter = None
