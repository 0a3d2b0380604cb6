"""What every loop of a cycle gets: the database, settings, the clock, the platform, hooks.

Hooks are how a loop tells the Ray layer that something changed (the winner memory and the
sampler keep state in memory; training runs as a Ray job); without Ray they do nothing, so the
whole cycle runs in a test or a benchmark with a simulated clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core.db.engine import Database
from core.db.models import utcnow
from core.learning.config import LearningConfig
from core.platforms.base import AdPlatform
from core.settings import Settings

PlatformFor = Callable[[str, str], AdPlatform]  # (tenant_id, account_id) -> adapter


class Skipped(Exception):
    """A loop had nothing to do, or could not run for a reason that is not a failure."""

    def __init__(self, reason: str, **counts: object) -> None:
        super().__init__(reason)
        self.reason = reason
        self.counts = counts


@dataclass
class CycleHooks:
    """Callbacks into the Ray layer (each optional)."""

    winners_changed: Callable[[str, list[str], list[str]], None] | None = None
    experiments_changed: Callable[[str, list[str]], None] | None = None
    start_training: Callable[[str, str], str | None] | None = None  # (tenant, reason) -> job id
    changes_queued: Callable[[str, int], None] | None = None


@dataclass
class CycleContext:
    db: Database
    settings: Settings
    config: LearningConfig
    tenant_id: str
    cycle_id: str
    platform_for: PlatformFor | None = None
    hooks: CycleHooks = field(default_factory=CycleHooks)
    clock: Callable[[], datetime] = utcnow  # the time the loops act at (a simulated market's)
    shared: dict[str, Any] = field(default_factory=dict)  # read once, used by several loops
    wall_clock: Callable[[], datetime] = utcnow  # the cycle's own record: heartbeats, completion

    def now(self) -> datetime:
        return self.clock()
