"""The demo's hours: every simulated hour the market runs, its insights go to the platform as
feedback (``POST /api/ml/feedback/batch``: the winner trigger, the job consumer and the
winner memory follow), a self-learning cycle runs (``POST /api/ml/self-learning-cycle``), and
the changes it queued are applied by the safe executor before the next hour. Training
rounds (``POST /api/ml/train/ctr``) start after ``training.after_days`` and run alongside.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cluster.demo.client import Api
from cluster.demo.config import DemoConfig
from cluster.demo.history import History, Hour
from cluster.demo.market import Markets, Totals


def feedback_items(totals: Totals, at: str) -> list[dict[str, Any]]:
    """Cumulative lifetime snapshots (how an ad platform reports), one per ad with delivery."""
    return [
        {
            "ad_id": ad,
            "impressions": int(t[0]),
            "clicks": int(t[1]),
            "conversions": int(t[2]),
            "spend": round(t[3], 2),
            "revenue": round(t[4], 2),
            "observed_at": at,
        }
        for ad, t in totals.by_ad.items()
        if t[0] > 0
    ]


def settle(api: Api, *, timeout_s: float, poll_s: float) -> None:
    """Wait until the executor has taken every due change (pending ones it deferred to a
    later time window are left)."""
    deadline = time.monotonic() + timeout_s
    while True:
        claimed = api.get("/api/ads/changes", status="claimed", limit=1)["data"]
        pending = api.get("/api/ads/changes", status="pending", limit=100)["data"]
        due = [c for c in pending if not (c.get("error") or "").startswith("deferred")]
        if not claimed and not due:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"the executor left {len(due) + len(claimed)} change(s) in {timeout_s} s"
            )
        time.sleep(poll_s)


@dataclass
class Training:
    """The training rounds: each started once the campaign has run its ``after_h`` hours
    (and the round before it has ended: the trainer runs one at a time), then polled each
    hour. ``runs``: job id -> the campaign hour it started at."""

    after_h: list[float]
    num_samples: int
    max_rounds: int
    runs: dict[str, float] = field(default_factory=dict)
    status: dict[str, Any] = field(default_factory=dict)  # the current round's

    @property
    def job_id(self) -> str | None:
        return next(reversed(self.runs), None)

    @property
    def running(self) -> bool:
        return self.job_id is not None and self.status.get("status") not in ("succeeded", "failed")

    def step(self, api: Api, hour: float) -> None:
        if self.running:
            self.status = api.get(f"/api/ml/train/{self.job_id}")
        due = len(self.runs) < len(self.after_h) and hour >= self.after_h[len(self.runs)]
        if due and not self.running:
            body = {
                "source": "database",
                "num_samples": self.num_samples,
                "max_rounds": self.max_rounds,
            }
            job = api.post("/api/ml/train/ctr", body)["job_id"]
            self.runs[job], self.status = hour, {"status": "queued"}

    def finish(self, api: Api, hour: float, timeout_s: float) -> None:
        """Run the rounds still due (now, at ``hour``, if the campaign was shorter) and wait
        for each."""
        deadline = time.monotonic() + timeout_s
        self.after_h = [min(h, hour) for h in self.after_h]
        while self.running or len(self.runs) < len(self.after_h):
            if time.monotonic() > deadline:
                raise TimeoutError(f"training {self.job_id} not done after {timeout_s:.0f} s")
            self.step(api, hour)
            if self.running:
                time.sleep(0.5)
        if self.status.get("status") == "failed":
            raise RuntimeError(f"training {self.job_id} failed: {self.status.get('error')}")


def run_hours(
    api: Api,
    markets: Markets,
    history: History,
    config: DemoConfig,
    training: Training,
    *,
    hours: int,
    on_hour: Callable[[Hour], None] | None = None,
) -> None:
    """``hours`` simulated hours, each recorded in ``history.hours``."""
    ads = [c.ad_id for c in history.creatives]
    adsets = [c.ad_set_id for c in history.creatives]
    waits = config.waits
    for h in range(hours):
        at = markets.advance(1)
        live, base = markets.totals(ads)
        if history.markets_differ_from_h is None and live.by_ad != base.by_ad:
            history.markets_differ_from_h = h
        winners = 0
        items = feedback_items(live, at.isoformat())
        if items:
            winners = api.post("/api/ml/feedback/batch", {"items": items})["winners"]
        cycle = api.post("/api/ml/self-learning-cycle", {"wait_s": waits.cycle_s})
        if cycle["status"] == "running":
            raise RuntimeError(f"cycle {cycle['cycle_id']} still running after {waits.cycle_s} s")
        settle(api, timeout_s=waits.executor_s, poll_s=waits.poll_s)
        training.step(api, h + 1)
        states = markets.states(adsets + ads)
        record = Hour(
            at=at,
            budgets=[int(s.daily_budget_minor or 0) for s in states[: len(adsets)]],
            active=[s.status == "ACTIVE" for s in states[len(adsets) :]],
            revenue=live.revenue,
            spend=live.spend,
            baseline_revenue=base.revenue,
            baseline_spend=base.spend,
            winners_flagged=winners,
            winners_indexed=int(api.get("/api/ml/rag/memory-stats")["winner_count"]),
            changes_applied=_applied_at(api, at),
            cycle_status=cycle["status"],
        )
        history.hours.append(record)
        history.last_cycle = cycle
        if on_hour is not None:
            on_hour(record)


def _applied_at(api: Api, at: datetime) -> int:
    """Changes the executor applied at simulated time ``at`` (an hour takes at most the
    safety policy's 15 actions per campaign, so the newest page holds them all)."""
    page = api.get("/api/ads/changes", status="applied", limit=100)["data"]
    return sum(datetime.fromisoformat(c["applied_at"]) == at for c in page if c["applied_at"])
