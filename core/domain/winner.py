"""The winner rule (SPEC §3.1) in plain Python, mirroring the database trigger."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

WinnerReason = Literal["ctr", "roas", "both"]


class WinnerRule(BaseModel):
    """Thresholds of the winner rule (SPEC §3.1): ``winner:`` in ``configs/settings.yaml``.
    The database trigger reads the same values (``winner_rule``, synced at start)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_hours_live: float = Field(ge=0)
    min_impressions: int = Field(ge=0)
    min_ctr: float = Field(ge=0, le=1)
    min_roas: float = Field(ge=0)


def derive_ctr(impressions: int, clicks: int) -> float:
    """Click-through rate; 0 when there are no impressions."""
    return clicks / impressions if impressions > 0 else 0.0


def derive_roas(spend: float, revenue: float) -> float:
    """Return on ad spend; 0 when nothing was spent."""
    return revenue / spend if spend > 0 else 0.0


def winner_reason(ctr: float, roas: float, rule: WinnerRule) -> WinnerReason | None:
    """Which performance threshold an ad clears (strictly greater), if any."""
    by_ctr = math.isfinite(ctr) and ctr > rule.min_ctr
    by_roas = math.isfinite(roas) and roas > rule.min_roas
    if by_ctr and by_roas:
        return "both"
    return "ctr" if by_ctr else "roas" if by_roas else None


def is_winner(
    *, hours_live: float, impressions: int, ctr: float, roas: float, rule: WinnerRule
) -> bool:
    """True when the ad is old enough, seen enough, and clears a performance threshold."""
    return (
        hours_live >= rule.min_hours_live
        and impressions >= rule.min_impressions
        and winner_reason(ctr, roas, rule) is not None
    )
