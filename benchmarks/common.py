"""Helpers shared by the benchmark scripts."""

from __future__ import annotations

import json
import os
import platform
import signal
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import psutil

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def write_result(name: str, result: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({**result, "machine": machine()}, indent=2) + "\n")
    return path


def ray_processes(exclude: Iterable[int] = ()) -> list[psutil.Process]:
    """The processes of the local Ray cluster this script started (``ray.init`` in-process:
    GCS, raylet, workers, HAProxy are all its descendants), but those in ``exclude``."""
    skip = set(exclude)
    return [p for p in psutil.Process().children(recursive=True) if p.pid not in skip]


def process_label(p: psutil.Process) -> str:
    """A stable name for a process: Ray's title without the method it runs now
    (``ray::WinnerMemory.index_winners`` -> ``WinnerMemory``), else the executable's name."""
    name = p.name()
    if name.startswith("ray::"):
        return name[5:].split(".")[0].removeprefix("ServeReplica:")
    return name


def cpu_seconds(processes: Iterable[psutil.Process]) -> dict[str, float]:
    """CPU seconds (user + system) used so far, summed by ``process_label``."""
    out: dict[str, float] = {}
    for p in processes:
        with suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            t = p.cpu_times()
            label = process_label(p)
            out[label] = out.get(label, 0.0) + t.user + t.system
    return out


def postgres_processes() -> list[psutil.Process]:
    """Every process of the local PostgreSQL server (backends included)."""
    return [p for p in psutil.process_iter(["name"]) if p.info["name"] == "postgres"]


def cpu_ms_per_request(
    before: dict[str, float], after: dict[str, float], requests: int, floor_ms: float = 0.02
) -> dict[str, float]:
    """Each label's CPU milliseconds per request between two ``cpu_seconds`` snapshots
    (labels under ``floor_ms`` left out), plus ``total``, largest first."""
    per = {k: (v - before.get(k, 0.0)) * 1000 / max(requests, 1) for k, v in after.items()}
    kept = {k: round(v, 3) for k, v in sorted(per.items(), key=lambda kv: -kv[1]) if v >= floor_ms}
    return {"total": round(sum(per.values()), 3), **kept}


def with_cpu(
    processes: Callable[[], Iterable[psutil.Process]], run: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    """One round (``run()``, whose figures hold ``requests``) with ``cpu_ms_per_request``
    added: the CPU each of ``processes`` (listed before and after) used per request."""
    before = cpu_seconds(processes())
    r = run()
    r["cpu_ms_per_request"] = cpu_ms_per_request(before, cpu_seconds(processes()), r["requests"])
    return r


@contextmanager
def paused(processes: Iterable[psutil.Process]) -> Iterator[None]:
    """Stop ``processes`` (SIGSTOP) for the block and continue them after (SIGCONT).

    Lets a benchmark interleave its sides on one machine while each side is measured with
    the other using no CPU at all, as if it were not running: rounds of both sides alternate
    in one run, so the machine's drift (other tenants, clock changes) cancels out in the
    ratio. A Ray cluster stopped for one round (seconds) carries on where it was.
    """
    stopped: list[psutil.Process] = []
    try:
        for p in processes:
            with suppress(psutil.NoSuchProcess):
                p.send_signal(signal.SIGSTOP)
                stopped.append(p)
        yield
    finally:
        for p in stopped:
            with suppress(psutil.NoSuchProcess):
                p.send_signal(signal.SIGCONT)
