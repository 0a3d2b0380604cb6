"""Helpers shared by the benchmark scripts."""

from __future__ import annotations

import json
import os
import platform
import signal
import time
from collections.abc import Iterable, Iterator
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
