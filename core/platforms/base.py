"""The ad-platform interface the executor and the actuals fetcher talk to.

Budgets are daily budgets in the account currency's minor units (ints); spend and purchase
value in insights are major units (floats, cents precision), as Meta reports them.

Exactly-once: budget and status writes set absolute values, so repeating one is harmless;
``create_ad`` takes an idempotency key that the adapter stores with the objects it creates
(in their names on Meta) and looks up before creating, so a retried publish finds the ad the
first attempt made. Before retrying any change after a crash, read the object back
(:meth:`AdPlatform.read_state`).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

ObjectKind = Literal["campaign", "adset", "ad"]
STATUSES: tuple[str, ...] = ("ACTIVE", "PAUSED", "ARCHIVED")
PURCHASE_ACTIONS: tuple[str, ...] = (
    "purchase",
    "omni_purchase",
    "offsite_conversion.fb_pixel_purchase",
)
INSIGHT_FIELDS: tuple[str, ...] = (
    "ad_id",
    "date_start",
    "date_stop",
    "impressions",
    "clicks",
    "spend",
    "actions",
    "action_values",
)
_KEY = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")


# --- errors ---------------------------------------------------------------------------
class PlatformError(Exception):
    """A platform call failed. ``code``: the platform's error code, when it gave one."""

    retryable = False

    def __init__(
        self, message: str, *, code: int | None = None, retry_after_s: float | None = None
    ):
        super().__init__(message)
        self.code = code
        self.retry_after_s = retry_after_s


class TransientError(PlatformError):
    """Worth retrying soon (5xx, timeouts, "temporarily unavailable")."""

    retryable = True


class RateLimitedError(TransientError):
    """Throttled (Meta codes 4, 17, 32, 613, 80000-80014...); retry after ``retry_after_s``."""


class PermanentError(PlatformError):
    """Retrying will not help (bad parameter, missing permission, invalid token)."""


class NotFoundError(PermanentError):
    """No such object (or not visible to this tenant's credentials)."""


def check_key(idempotency_key: str) -> str:
    if not isinstance(idempotency_key, str) or not _KEY.match(idempotency_key):
        raise ValueError("idempotency_key must be 1-128 characters of letters, digits and _ . : -")
    return idempotency_key


# --- values ---------------------------------------------------------------------------
@dataclass(frozen=True)
class ObjectState:
    """An object as the platform has it now."""

    object_id: str
    kind: ObjectKind
    status: str
    daily_budget_minor: int | None = None  # ad sets (and CBO campaigns)
    name: str | None = None


@dataclass(frozen=True)
class BudgetChange:
    object_id: str
    daily_budget_minor: int
    idempotency_key: str

    def __post_init__(self) -> None:
        b = self.daily_budget_minor
        if isinstance(b, bool) or not isinstance(b, int) or b <= 0:
            raise ValueError(f"daily_budget_minor must be a positive int, not {b!r}")
        check_key(self.idempotency_key)


@dataclass(frozen=True)
class StatusChange:
    object_id: str
    status: str
    idempotency_key: str

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, not {self.status!r}")
        check_key(self.idempotency_key)


Change = BudgetChange | StatusChange


@dataclass(frozen=True)
class ApplyResult:
    """A change the platform accepted; ``response`` is its answer (no secrets in it)."""

    object_id: str
    field: Literal["daily_budget", "status"]
    value: int | str
    idempotency_key: str
    response: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AdSpec:
    """A creative to publish as a new ad in ``adset_id``.

    ``features``: the creative's features (names of ``creative_features``, about 0..1); the
    simulator derives its hidden rates from them, Meta ignores them.
    """

    adset_id: str
    video_path: str
    name: str
    idempotency_key: str
    primary_text: str = ""
    headline: str = ""
    call_to_action: str = "LEARN_MORE"
    link_url: str = "https://example.com"
    status: Literal["ACTIVE", "PAUSED"] = "PAUSED"
    features: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_key(self.idempotency_key)
        if self.status not in ("ACTIVE", "PAUSED"):
            raise ValueError(f"status must be ACTIVE or PAUSED, not {self.status!r}")
        if not self.adset_id or not self.video_path:
            raise ValueError("adset_id and video_path are required")


@dataclass(frozen=True)
class PublishResult:
    """The objects of one published ad. ``created``: False when an earlier attempt with the
    same idempotency key had made them (nothing new was created)."""

    ad_id: str
    creative_id: str
    video_id: str
    status: str
    created: bool


@dataclass(frozen=True)
class InsightRow:
    """One ad's delivery on one day (account time zone)."""

    ad_id: str
    day: date
    impressions: int
    clicks: int
    spend: float  # major currency units
    purchases: int
    purchase_value: float  # major currency units


def _action_total(items: Sequence[Mapping[str, Any]] | None) -> float:
    """Purchases in Meta's ``actions`` / ``action_values`` list (first purchase type found:
    Meta reports the same purchases under several action types)."""
    by_type = {a.get("action_type"): float(a.get("value", 0)) for a in items or ()}
    for kind in PURCHASE_ACTIONS:
        if kind in by_type:
            return by_type[kind]
    return 0.0


def parse_insight(row: Mapping[str, Any]) -> InsightRow:
    """One row of Graph API insights (``level=ad``, ``time_increment=1``, fields
    :data:`INSIGHT_FIELDS`) as an :class:`InsightRow`; the simulator emits the same rows."""
    try:
        return InsightRow(
            ad_id=str(row["ad_id"]),
            day=date.fromisoformat(row["date_start"]),
            impressions=int(row.get("impressions", 0)),
            clicks=int(row.get("clicks", 0)),
            spend=round(float(row.get("spend", 0)), 2),
            purchases=round(_action_total(row.get("actions"))),
            purchase_value=round(_action_total(row.get("action_values")), 2),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise PermanentError(f"malformed insights row: {exc}") from None


# --- the interface --------------------------------------------------------------------
class AdPlatform(ABC):
    """One tenant's view of one ad platform."""

    name: str

    @abstractmethod
    def set_budget(self, change: BudgetChange) -> ApplyResult:
        """Set an ad set's daily budget (minor units)."""

    @abstractmethod
    def set_status(self, change: StatusChange) -> ApplyResult:
        """Set an ad's or ad set's status."""

    def apply_batch(self, changes: Sequence[Change]) -> list[ApplyResult | PlatformError]:
        """Apply several changes; one result or error per change, in order. Adapters that can
        send them in one request override this."""
        out: list[ApplyResult | PlatformError] = []
        for c in changes:
            try:
                out.append(
                    self.set_budget(c) if isinstance(c, BudgetChange) else self.set_status(c)
                )
            except PlatformError as exc:
                out.append(exc)
        return out

    @abstractmethod
    def create_ad(self, spec: AdSpec) -> PublishResult:
        """Upload the video, create the creative and the ad (paused unless asked), once per
        idempotency key."""

    @abstractmethod
    def read_state(self, object_id: str) -> ObjectState:
        """The object as the platform has it now (read back before retrying a change)."""

    def read_states(
        self, object_ids: Sequence[str], *, budgets: Sequence[bool] | None = None
    ) -> list[ObjectState | PlatformError]:
        """Several objects; one state or error per id, in order. ``budgets[i]``: the caller
        needs that object's daily budget (it is an ad set or a campaign). Adapters that can
        read them in one request override this."""
        out: list[ObjectState | PlatformError] = []
        for oid in object_ids:
            try:
                out.append(self.read_state(oid))
            except PlatformError as exc:
                out.append(exc)
        return out

    @abstractmethod
    def insights(self, ad_ids: Sequence[str], since: date, until: date) -> list[InsightRow]:
        """Daily delivery of ``ad_ids`` from ``since`` to ``until`` (inclusive)."""
