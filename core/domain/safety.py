"""Safety policy of the executor (SPEC §3.5): may this ad change go out now, and with what value?

Pure functions of a proposed change, the object's current budget, the recent history of
*applied* changes (what the executor reads from the database) and the settings in
``configs/safety.yaml``. Money is in the ad account currency's minor units (cents), as ints.

Caps (all from the config):

- **kill switch**, global, per tenant, or a runtime flag: every change is rejected.
- **actions per campaign**: at most ``max_actions_per_campaign`` applied actions of any kind
  on one campaign in any ``action_window_h`` (half-open window ``(t - w, t]``).
- **per action**: a budget moves at most ``±max_change_pct`` of its current value.
- **velocity**: every budget held by an ad set at any instant of ``(t - velocity_window_h, t]``
  and the new one differ by at most ``±max_velocity_pct`` of the earlier value, so no chain
  of small steps beats the per-action cap within a window.
- **minimum budget** ``min_budget_minor``; **daily ceiling** on the sum of the daily budgets
  of one ad account (per account in ``tenants.<t>.daily_ceiling_minor``, else
  ``daily_ceiling_minor``).

A budget request outside ``[lo, hi]`` (the intersection of those caps) is, with
``over_cap: clamp``, moved to the nearest allowed value when that value still moves the
budget in the requested direction, by no more than asked (verdict ``clamp``); otherwise, or with
``over_cap: reject``, it is rejected with a reason naming the caps. Rejections caused by a
window carry ``retry_after_s``. Every decision carries ``dry_run``: the executor records it
but calls no platform (the default until a user turns it off).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from fractions import Fraction
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from core.config import ConfigModel, load_config

KINDS: tuple[str, ...] = ("budget", "status", "create_ad")
STATUSES: tuple[str, ...] = ("ACTIVE", "PAUSED", "ARCHIVED")
Kind = Literal["budget", "status", "create_ad"]


class TenantSafety(ConfigModel):
    """Per-tenant overrides."""

    kill_switch: bool
    dry_run: bool | None  # None: the global setting
    daily_ceiling_minor: dict[str, int]  # ad account id -> ceiling (minor units)


class SafetyConfig(ConfigModel):
    """All of ``configs/safety.yaml``."""

    dry_run: bool
    kill_switch: bool
    over_cap: Literal["clamp", "reject"]
    max_change_pct: float = Field(gt=0, lt=1)
    velocity_window_h: float = Field(gt=0)
    max_velocity_pct: float = Field(gt=0, lt=1)
    action_window_h: float = Field(gt=0)
    max_actions_per_campaign: int = Field(ge=1)
    delay_min_s: float = Field(ge=0)
    delay_max_s: float = Field(ge=0)
    budget_jitter: bool
    budget_jitter_pct: float = Field(ge=0, lt=0.5)
    min_budget_minor: int = Field(ge=1)
    daily_ceiling_minor: int | None = Field(ge=1)
    tenants: dict[str, TenantSafety]

    @model_validator(mode="after")
    def _check(self) -> SafetyConfig:
        if self.delay_min_s > self.delay_max_s:
            raise ValueError("need delay_min_s <= delay_max_s")
        for tenant, t in self.tenants.items():
            for account, ceiling in t.daily_ceiling_minor.items():
                if ceiling < 1:
                    raise ValueError(f"tenants.{tenant}.daily_ceiling_minor.{account} must be >= 1")
        return self

    @classmethod
    def load(cls, path: Path | None = None) -> SafetyConfig:
        return load_config("safety.yaml", cls, path=path)


def _aware(at: datetime, name: str) -> datetime:
    if not isinstance(at, datetime):
        raise TypeError(f"{name} must be a datetime, not {type(at).__name__}")
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (UTC)")
    return at


def _minor(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(
            f"{name} must be an int of minor currency units, not {type(value).__name__}"
        )
    if value <= 0:
        raise ValueError(f"{name} must be > 0 minor units, not {value}")
    return value


@dataclass(frozen=True)
class ProposedChange:
    """A change the executor is about to apply at ``at`` (its execution time, UTC).

    ``object_id`` is the ad set (budget) or the ad / ad set (status) or the ad set that gets
    the new ad (``create_ad``); ``campaign_id`` and ``account_id`` are its containers.
    """

    tenant_id: str
    account_id: str
    campaign_id: str
    object_id: str
    kind: Kind
    at: datetime
    new_budget_minor: int | None = None
    new_status: str | None = None

    def __post_init__(self) -> None:
        for name in ("tenant_id", "account_id", "campaign_id", "object_id"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ValueError(f"{name} must be a non-empty string")
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {self.kind!r}")
        _aware(self.at, "at")
        if self.kind == "budget":
            _minor(self.new_budget_minor, "new_budget_minor")
        elif self.new_budget_minor is not None:
            raise ValueError(f"new_budget_minor is only for budget changes, not {self.kind}")
        if self.kind == "status":
            if self.new_status not in STATUSES:
                raise ValueError(
                    f"new_status must be one of {', '.join(STATUSES)}, not {self.new_status!r}"
                )
        elif self.new_status is not None:
            raise ValueError(f"new_status is only for status changes, not {self.kind}")


@dataclass(frozen=True)
class AppliedChange:
    """One change applied to the platform (a history row); budgets in minor units."""

    tenant_id: str
    account_id: str
    campaign_id: str
    object_id: str
    kind: Kind
    applied_at: datetime
    old_budget_minor: int | None = None
    new_budget_minor: int | None = None

    def __post_init__(self) -> None:
        _aware(self.applied_at, "applied_at")
        if self.kind == "budget":
            _minor(self.old_budget_minor, "old_budget_minor")
            _minor(self.new_budget_minor, "new_budget_minor")


@dataclass(frozen=True)
class BudgetState:
    """Now, on the platform: the object's daily budget and the sum over its ad account."""

    current_minor: int
    account_total_minor: int

    def __post_init__(self) -> None:
        _minor(self.current_minor, "current_minor")
        _minor(self.account_total_minor, "account_total_minor")
        if self.account_total_minor < self.current_minor:
            raise ValueError("account_total_minor must include current_minor")


class Verdict(StrEnum):
    ALLOW = "allow"
    CLAMP = "clamp"
    REJECT = "reject"


@dataclass(frozen=True)
class Decision:
    """The policy's answer. ``budget_minor``: the value to apply (budget changes)."""

    verdict: Verdict
    dry_run: bool
    reason: str | None = None
    budget_minor: int | None = None
    retry_after_s: float | None = None

    @property
    def allowed(self) -> bool:
        return self.verdict is not Verdict.REJECT


@dataclass(frozen=True)
class _Bound:
    name: str
    lo: int | None
    hi: int | None


def _pct(x: float) -> Fraction:
    return Fraction(str(x))


class SafetyPolicy:
    """The caps of one :class:`SafetyConfig`; stateless, so one instance serves all tenants."""

    def __init__(self, config: SafetyConfig) -> None:
        self.config = config

    # --- per tenant -------------------------------------------------------------------
    def dry_run(self, tenant_id: str) -> bool:
        t = self.config.tenants.get(tenant_id)
        return self.config.dry_run if t is None or t.dry_run is None else t.dry_run

    def kill_switch(self, tenant_id: str, *, runtime: bool = False) -> str | None:
        """Why every change of ``tenant_id`` is stopped now, or None."""
        if runtime:
            return "kill switch on"
        if self.config.kill_switch:
            return "kill switch on (global)"
        t = self.config.tenants.get(tenant_id)
        if t is not None and t.kill_switch:
            return f"kill switch on (tenant {tenant_id})"
        return None

    def ceiling(self, tenant_id: str, account_id: str) -> int | None:
        t = self.config.tenants.get(tenant_id)
        if t is not None and account_id in t.daily_ceiling_minor:
            return t.daily_ceiling_minor[account_id]
        return self.config.daily_ceiling_minor

    # --- when queuing -----------------------------------------------------------------
    def execute_at(self, requested_at: datetime, rng: random.Random) -> datetime:
        """``earliest_execute_at``: ``requested_at`` plus a uniform delay in [min, max] s."""
        _aware(requested_at, "requested_at")
        delay = rng.uniform(self.config.delay_min_s, self.config.delay_max_s)
        return requested_at + timedelta(seconds=delay)

    def jitter_budget(self, budget_minor: int, rng: random.Random) -> int:
        """``budget_minor`` times a uniform factor in ``1 ± budget_jitter_pct`` (when enabled),
        rounded to a minor unit; the caps are checked on the jittered value."""
        _minor(budget_minor, "budget_minor")
        if not self.config.budget_jitter or self.config.budget_jitter_pct == 0:
            return budget_minor
        p = self.config.budget_jitter_pct
        return max(1, round(budget_minor * rng.uniform(1 - p, 1 + p)))

    # --- when executing ---------------------------------------------------------------
    def evaluate(
        self,
        change: ProposedChange,
        *,
        history: Sequence[AppliedChange],
        budget: BudgetState | None = None,
        kill_switch: bool = False,
    ) -> Decision:
        """The decision on ``change`` given the applied ``history`` (any order; entries of
        other objects and older than the windows are ignored) and, for budget changes, the
        platform's current ``budget``. ``kill_switch``: the runtime switch (database)."""
        if not isinstance(change, ProposedChange):
            raise TypeError(f"change must be a ProposedChange, not {type(change).__name__}")
        dry = self.dry_run(change.tenant_id)
        stopped = self.kill_switch(change.tenant_id, runtime=kill_switch)
        if stopped:
            return Decision(Verdict.REJECT, dry, stopped)
        history = [h for h in history if h.tenant_id == change.tenant_id]
        limited = self._action_limit(change, history)
        if limited is not None:
            return Decision(Verdict.REJECT, dry, limited[0], retry_after_s=limited[1])
        if change.kind != "budget":
            return Decision(Verdict.ALLOW, dry)
        if budget is None:
            raise ValueError("a budget change needs the current BudgetState")
        return self._budget(change, history, budget, dry)

    def _action_limit(
        self, change: ProposedChange, history: Sequence[AppliedChange]
    ) -> tuple[str, float] | None:
        window = timedelta(hours=self.config.action_window_h)
        times = sorted(
            h.applied_at
            for h in history
            if h.campaign_id == change.campaign_id and h.applied_at > change.at - window
        )
        cap = self.config.max_actions_per_campaign
        if len(times) < cap:
            return None
        # The window has room again once all but cap - 1 of these have left it.
        frees_at = times[len(times) - cap] + window
        return (
            f"campaign {change.campaign_id}: {len(times)} actions in the last "
            f"{self.config.action_window_h:g} h (max {cap})",
            max((frees_at - change.at).total_seconds(), 0.0),
        )

    def _bounds(
        self, change: ProposedChange, history: Sequence[AppliedChange], budget: BudgetState
    ) -> tuple[list[_Bound], datetime | None]:
        cur = budget.current_minor
        p, q = _pct(self.config.max_change_pct), _pct(self.config.max_velocity_pct)
        window = timedelta(hours=self.config.velocity_window_h)
        in_window = [
            h
            for h in history
            if h.kind == "budget"
            and h.object_id == change.object_id
            and h.applied_at > change.at - window
        ]
        held = [cur] + [v for h in in_window for v in (h.old_budget_minor, h.new_budget_minor)]
        oldest = min((h.applied_at for h in in_window), default=None)
        bounds = [
            _Bound(
                f"max change per action ±{self.config.max_change_pct:.0%}",
                math.ceil(cur * (1 - p)),
                math.floor(cur * (1 + p)),
            ),
            _Bound(
                f"max velocity ±{self.config.max_velocity_pct:.0%} "
                f"over {self.config.velocity_window_h:g} h",
                math.ceil(max(held) * (1 - q)),
                math.floor(min(held) * (1 + q)),
            ),
            _Bound("minimum budget", self.config.min_budget_minor, None),
        ]
        ceiling = self.ceiling(change.tenant_id, change.account_id)
        if ceiling is not None:
            others = budget.account_total_minor - cur
            bounds.append(_Bound(f"account daily ceiling {ceiling}", None, ceiling - others))
        return bounds, oldest

    def _budget(
        self,
        change: ProposedChange,
        history: Sequence[AppliedChange],
        budget: BudgetState,
        dry: bool,
    ) -> Decision:
        cur, req = budget.current_minor, change.new_budget_minor
        assert req is not None  # checked by ProposedChange
        if req == cur:
            return Decision(Verdict.REJECT, dry, f"no change: budget is already {cur}")
        bounds, oldest = self._bounds(change, history, budget)
        lo = max(b.lo for b in bounds if b.lo is not None)
        hi = min(b.hi for b in bounds if b.hi is not None)
        if lo <= req <= hi:
            return Decision(Verdict.ALLOW, dry, budget_minor=req)
        broken = [
            b.name
            for b in bounds
            if (b.lo is not None and req < b.lo) or (b.hi is not None and req > b.hi)
        ]
        what = f"budget {cur} -> {req} ({(req - cur) / cur:+.1%}) breaks {'; '.join(broken)}"
        retry = None
        if oldest is not None and any(n.startswith("max velocity") for n in broken):
            window = timedelta(hours=self.config.velocity_window_h)
            retry = max((oldest + window - change.at).total_seconds(), 0.0)
        if self.config.over_cap == "clamp" and lo <= hi:
            target = min(max(req, lo), hi)
            # Only a smaller step the same way: never the other way, never further than asked.
            if (target - cur) * (req - cur) > 0 and abs(target - cur) <= abs(req - cur):
                return Decision(
                    Verdict.CLAMP, dry, f"{what}: clamped to {target}", budget_minor=target
                )
        span = f"allowed {lo}..{hi}" if lo <= hi else "no budget is allowed"
        return Decision(Verdict.REJECT, dry, f"{what} ({span})", retry_after_s=retry)


def load_policy(path: Path | None = None) -> SafetyPolicy:
    """The policy of ``configs/safety.yaml`` (environment overrides applied)."""
    return SafetyPolicy(SafetyConfig.load(path))
