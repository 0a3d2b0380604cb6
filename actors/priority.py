"""CPU priority of an actor's process: background actors yield the cores to the request path."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def lower_priority(niceness: int) -> int:
    """Raise every thread of this process to at least ``niceness`` (Linux keeps a nice value
    per thread; threads started later inherit their starter's). Returns the threads changed.

    Lowering priority needs no privilege; elsewhere than Linux only the process is changed.
    """
    if niceness <= 0:
        return 0
    tasks = Path("/proc/self/task")
    ids = [int(t.name) for t in tasks.iterdir()] if tasks.is_dir() else [0]
    changed = 0
    for tid in ids:
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            if os.getpriority(os.PRIO_PROCESS, tid) < niceness:
                os.setpriority(os.PRIO_PROCESS, tid, niceness)
                changed += 1
    return changed
