"""The safe executor's work, without Ray: claim due changes, decide, send, record.

One :meth:`ChangeExecutor.run_once`:

1. **claim** up to ``batch_size`` due changes (``FOR UPDATE SKIP LOCKED``, leased);
2. per change, **read** the object on the platform (old value), then in one transaction
   holding the campaign's lock: read the kill switch and the history from the database,
   **evaluate** the safety policy, and either close the change (rejected, dry run, deferred)
   or mark it ``sending`` with the value about to go out;
3. **send** the marked changes (budget/status as one Graph batch per ad account, or one
   request each; publishes one by one), the platform idempotency key ``adc-<id>`` with each;
4. **record** each result with its audit row; a retryable error gives the change back with
   backoff, keeping the mark.

Exactly once: a change found marked ``sending`` (its worker died after the mark, maybe after
the platform call) is first **read back**: if the platform already holds the value, it is
recorded as applied without a second call; a publish is sent again, and the adapter finds the
ad that the first attempt made by its key. Every write names the claiming worker, so a worker
whose claim was taken over records nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from core.db import changes as db
from core.db.engine import Database
from core.db.models import PendingAdChange, utcnow
from core.domain.safety import BudgetState, Decision, ProposedChange, SafetyPolicy, Verdict
from core.execution.config import ExecutorConfig
from core.platforms.base import (
    AdPlatform,
    AdSpec,
    ApplyResult,
    BudgetChange,
    ObjectState,
    PermanentError,
    PlatformError,
    PublishResult,
    StatusChange,
)

log = logging.getLogger("adcluster.executor")
PlatformFor = Callable[[str, str], AdPlatform]  # (tenant_id, account_id) -> adapter


def platform_key(change: PendingAdChange) -> str:
    """The idempotency key sent to the platform (ids are unique across tenants)."""
    return f"adc-{change.id}"


@dataclass
class _Send:
    change: PendingAdChange
    platform: AdPlatform
    value: Any
    old_value: Any


class ChangeExecutor:
    """One worker (``worker``: its id, stable across restarts). ``crash``: a test hook called
    at ``claimed``, ``marked`` and ``sent``; raising there is a worker that dies. ``clock``:
    the time a tenant's changes take effect at, which the safety caps count (default the
    wall clock; a stepped simulator's own time: ``PlatformRegistry.clock``)."""

    def __init__(
        self,
        database: Database,
        *,
        worker: str,
        config: ExecutorConfig,
        policy: SafetyPolicy,
        platform_for: PlatformFor,
        crash: Callable[[str], None] | None = None,
        clock: Callable[[str], datetime] | None = None,
    ) -> None:
        self.db = database
        self.clock = clock or _wall_clock
        self._at: dict[str, datetime] = {}
        self.worker = worker
        self.config = config
        self.policy = policy
        self.platform_for = platform_for
        self.crash = crash
        self.processed = {"applied": 0, "dry_run": 0, "rejected": 0, "deferred": 0}
        self.processed.update({"retried": 0, "failed": 0, "recovered": 0})
        self._first = True

    # --- one round --------------------------------------------------------------------
    def run_once(self) -> int:
        """Claim one batch and see it through; the number of changes claimed."""
        with self.db.session() as s:
            batch = db.claim(
                s,
                worker=self.worker,
                limit=self.config.batch_size,
                lease_s=self.config.lease_s,
                reclaim_own=self._first,  # a restarted worker takes back what it held
            )
        self._first = False
        # each tenant's time for this round, read before any transaction opens (a stepped
        # simulator's time is in the database, and SQLite has one writer)
        self._at = {t: self.clock(t) for t in {c.tenant_id for c in batch}}
        self._hook("claimed")
        states = self._read(batch) if self.config.graph_batch else {}
        sends: list[_Send] = []
        for change in batch:
            try:
                send = self._prepare(change, states.get(change.id))
            except PlatformError as exc:
                self._failed_try(change, exc)
                continue
            if send is not None:
                sends.append(send)
        self._hook("marked")
        self._send(sends)
        return len(batch)

    def _platform(self, change: PendingAdChange) -> AdPlatform:
        """The adapter; a tenant without one (no credentials...) is a permanent error."""
        try:
            return self.platform_for(change.tenant_id, change.account_id)
        except PlatformError:
            raise
        except Exception as exc:
            raise PermanentError(f"no ad platform for this change: {exc}") from exc

    def _hook(self, point: str) -> None:
        if self.crash is not None:
            self.crash(point)

    # --- decide -----------------------------------------------------------------------
    def _read(self, batch: Sequence[PendingAdChange]) -> dict[int, ObjectState | PlatformError]:
        """The objects of the batch's budget/status changes, one batch read per adapter."""
        groups: dict[int, tuple[AdPlatform, list[PendingAdChange]]] = {}
        for c in batch:
            if c.kind != "create_ad":
                try:
                    platform = self._platform(c)
                except PlatformError:
                    continue  # _prepare meets the same error and records it
                groups.setdefault(id(platform), (platform, []))[1].append(c)
        out: dict[int, ObjectState | PlatformError] = {}
        for platform, items in groups.values():
            states = platform.read_states(
                [c.object_id for c in items], budgets=[c.kind == "budget" for c in items]
            )
            out.update({c.id: st for c, st in zip(items, states, strict=True)})
        return out

    def _prepare(
        self, change: PendingAdChange, state: ObjectState | PlatformError | None = None
    ) -> _Send | None:
        platform = self._platform(change)
        if isinstance(state, PlatformError):
            raise state
        if change.kind != "create_ad" and state is None:
            state = platform.read_state(change.object_id)
        if change.phase == "sending":
            if change.kind == "create_ad":  # idempotent per key on the platform
                return _Send(change, platform, change.applied_value, None)
            if self._read_back(change, state):
                return None
        current = None
        if state is not None:
            current = state.daily_budget_minor if change.kind == "budget" else state.status
            if change.kind == "budget" and current is None:
                self._close(
                    change, "failed", "failed", error=f"{change.object_id} has no daily budget"
                )
                return None
        with self.db.session() as s:
            db.lock_campaign(s, change.tenant_id, change.campaign_id)
            decision = self._decide(s, change, current)
            if decision is None:
                return None
            value = decision.budget_minor if change.kind == "budget" else change.new_value
            if decision.verdict is Verdict.REJECT:
                defer = self.config.defer_window_rejections and decision.retry_after_s
                if defer:
                    retry_at = utcnow() + timedelta(seconds=decision.retry_after_s + 1)
                    db.release(
                        s,
                        change,
                        worker=self.worker,
                        retry_at=retry_at,
                        error=f"deferred: {decision.reason}",
                        action="deferred",
                        refund=True,
                    )
                    self.processed["deferred"] += 1
                else:
                    db.finish(
                        s,
                        change,
                        worker=self.worker,
                        status="rejected",
                        action="rejected",
                        before=current,
                        error=decision.reason,
                        decision="reject",
                        dry_run=decision.dry_run,
                        old_value=current,
                    )
                    self.processed["rejected"] += 1
                return None
            if decision.dry_run:
                db.finish(
                    s,
                    change,
                    worker=self.worker,
                    status="applied",
                    action="dry_run",
                    before=current,
                    after=value,
                    note=decision.reason or "dry run: nothing sent",
                    decision=decision.verdict.value,
                    dry_run=True,
                    old_value=current,
                    applied_value=value,
                    effective_at=self._at[change.tenant_id],
                )
                self.processed["dry_run"] += 1
                return None
            held = db.mark_sending(
                s,
                change.id,
                worker=self.worker,
                old_value=current,
                applied_value=value,
                decision=decision.verdict.value,
                lease_s=self.config.lease_s,
                effective_at=self._at[change.tenant_id],
            )
        return _Send(change, platform, value, current) if held else None

    def _decide(self, s: Any, change: PendingAdChange, current: Any) -> Decision | None:
        if change.kind == "status" and current == change.new_value:
            db.finish(
                s,
                change,
                worker=self.worker,
                status="rejected",
                action="rejected",
                before=current,
                error=f"no change: status is already {current}",
                decision="reject",
                old_value=current,
            )
            self.processed["rejected"] += 1
            return None
        cfg = self.policy.config
        now = self._at[change.tenant_id]
        since = now - timedelta(hours=max(cfg.action_window_h, cfg.velocity_window_h))
        hist = db.history(
            s, tenant_id=change.tenant_id, campaign_id=change.campaign_id, since=since
        )
        kill = db.kill_switch_reason(s, change.tenant_id)
        if kill is not None:
            return Decision(Verdict.REJECT, self.policy.dry_run(change.tenant_id), kill)
        budget = None
        if change.kind == "budget":
            total = current
            if self.policy.ceiling(change.tenant_id, change.account_id) is not None:
                known = db.account_budgets(
                    s, tenant_id=change.tenant_id, account_id=change.account_id
                )
                known[change.object_id] = current
                total = sum(known.values())
            budget = BudgetState(current, total)
        proposal = ProposedChange(
            tenant_id=change.tenant_id,
            account_id=change.account_id,
            campaign_id=change.campaign_id,
            object_id=change.object_id,
            kind=change.kind,  # type: ignore[arg-type]
            at=now,
            new_budget_minor=change.new_value if change.kind == "budget" else None,
            new_status=change.new_value if change.kind == "status" else None,
        )
        return self.policy.evaluate(proposal, history=hist, budget=budget)

    def _read_back(self, change: PendingAdChange, state: Any) -> bool:
        """After an interrupted send: True (and recorded as applied) when the platform
        already holds the value (``state``: read after the interruption); else the mark is
        cleared and the change decided afresh."""
        now_value = state.daily_budget_minor if change.kind == "budget" else state.status
        if now_value == change.applied_value:
            self._close(
                change,
                "applied",
                "applied",
                before=change.old_value,
                after=now_value,
                response={"read_back": True},
                note="recovered: the platform already had it",
                effective_at=change.applied_at,
            )
            self.processed["recovered"] += 1
            return True
        with self.db.session() as s:
            db.clear_phase(s, change.id, worker=self.worker)
        change.applied_at = None
        return False

    # --- send and record --------------------------------------------------------------
    def _send(self, sends: Sequence[_Send]) -> None:
        groups: dict[int, list[_Send]] = {}
        for item in sends:
            groups.setdefault(id(item.platform), []).append(item)
        for items in groups.values():
            platform = items[0].platform
            writes = [i for i in items if i.change.kind != "create_ad"]
            results: list[tuple[_Send, Any]] = []
            if writes:
                ops = [self._op(i) for i in writes]
                if self.config.graph_batch:
                    out = platform.apply_batch(ops)
                else:
                    out = [self._one(platform, op) for op in ops]
                results += list(zip(writes, out, strict=True))
            for i in items:
                if i.change.kind == "create_ad":
                    results.append((i, self._publish(i)))
            self._hook("sent")
            self._record(results)

    @staticmethod
    def _op(item: _Send) -> BudgetChange | StatusChange:
        key, c = platform_key(item.change), item.change
        if c.kind == "budget":
            return BudgetChange(c.object_id, int(item.value), key)
        return StatusChange(c.object_id, str(item.value), key)

    @staticmethod
    def _one(platform: AdPlatform, op: BudgetChange | StatusChange) -> ApplyResult | PlatformError:
        try:
            return (
                platform.set_budget(op) if isinstance(op, BudgetChange) else platform.set_status(op)
            )
        except PlatformError as exc:
            return exc

    @staticmethod
    def _publish(item: _Send) -> PublishResult | PlatformError:
        c, spec = item.change, dict(item.value or {})
        try:
            return item.platform.create_ad(
                AdSpec(adset_id=c.ad_set_id or c.object_id, idempotency_key=platform_key(c), **spec)
            )
        except PlatformError as exc:
            return exc
        except (TypeError, ValueError) as exc:
            return PermanentError(f"bad publish spec: {exc}")

    def _record(self, results: Sequence[tuple[_Send, Any]]) -> None:
        retry: list[tuple[PendingAdChange, PlatformError]] = []
        with self.db.session() as s:
            for item, out in results:
                c = item.change
                at = self._at[c.tenant_id]
                if isinstance(out, ApplyResult):
                    ok = db.finish(
                        s,
                        c,
                        worker=self.worker,
                        status="applied",
                        action="applied",
                        before=item.old_value,
                        after=out.value,
                        response=dict(out.response),
                        effective_at=at,
                    )
                    if ok and c.kind == "status" and c.ad_id and c.object_id == c.ad_id:
                        _ad_status(s, c.tenant_id, c.ad_id, str(out.value))
                    self.processed["applied"] += ok
                elif isinstance(out, PublishResult):
                    body = {
                        "ad_id": out.ad_id,
                        "creative_id": out.creative_id,
                        "video_id": out.video_id,
                        "status": out.status,
                        "created": out.created,
                    }
                    ok = db.finish(
                        s,
                        c,
                        worker=self.worker,
                        status="applied",
                        action="applied",
                        after=body,
                        response=body,
                        ad_id=out.ad_id,
                        effective_at=at,
                    )
                    if ok:
                        _remember_ad(s, item, out, launched_at=at)
                    self.processed["applied"] += ok
                else:
                    retry.append((c, out))
        for c, err in retry:
            self._failed_try(c, err)

    def _failed_try(self, change: PendingAdChange, err: PlatformError) -> None:
        message = f"{type(err).__name__}: {err}"
        if not err.retryable or change.attempts >= self.config.max_attempts:
            if err.retryable:
                message = f"gave up after {change.attempts} attempts: {message}"
            self._close(change, "failed", "failed", error=message)
            self.processed["failed"] += 1
            log.warning("change failed", extra={"change_id": change.id, "error": message})
            return
        wait = min(
            self.config.backoff_base_s * 2 ** max(change.attempts - 1, 0), self.config.backoff_max_s
        )
        wait = max(wait, err.retry_after_s or 0.0)
        with self.db.session() as s:
            db.release(
                s,
                change,
                worker=self.worker,
                retry_at=utcnow() + timedelta(seconds=wait),
                error=message,
            )
        self.processed["retried"] += 1

    def _close(self, change: PendingAdChange, status: str, action: str, **kw: Any) -> None:
        with self.db.session() as s:
            db.finish(s, change, worker=self.worker, status=status, action=action, **kw)

    # --- for the loop -----------------------------------------------------------------
    def next_due_in(self, now: datetime | None = None) -> float | None:
        with self.db.session() as s:
            due = db.next_due(s)
        if due is None:
            return None
        return max((due - (now or utcnow())).total_seconds(), 0.0)


def _wall_clock(_tenant_id: str) -> datetime:
    return utcnow()


def _remember_ad(session: Any, item: _Send, out: PublishResult, *, launched_at: datetime) -> None:
    """A published ad joins the tenant's ads (and its creative), launched at ``launched_at``,
    so the learning cycle fetches its delivery and can act on it."""
    from core.db.ads import CreativeSpec, upsert_ad
    from core.video.ops.creative_features import FEATURE_NAMES

    c, spec = item.change, dict(item.value or {})
    features = spec.get("features") or {}
    upsert_ad(
        session,
        tenant_id=c.tenant_id,
        ad_id=out.ad_id,
        launched_at=launched_at,
        creative=CreativeSpec(
            creative_id=out.creative_id,
            video_id=out.video_id,
            video_path=spec.get("video_path"),
            hook_text=spec.get("primary_text") or spec.get("headline") or None,
            cta=spec.get("call_to_action"),
            video_features=[float(features[n]) for n in FEATURE_NAMES if n in features] or None,
        ),
        name=spec.get("name"),
        platform=item.platform.name,
        campaign_id=c.campaign_id,
        ad_set_id=c.ad_set_id or c.object_id,
        status="active" if out.status == "ACTIVE" else "paused",
    )


def _ad_status(session: Any, tenant_id: str, ad_id: str, status: str) -> None:
    """The tenant's ad row follows a status change applied to the ad (the learning cycle
    retires paused arms and fetches only active ads)."""
    from sqlalchemy import update

    from core.db.models import Ad

    session.execute(
        update(Ad).where(Ad.tenant_id == tenant_id, Ad.ad_id == ad_id).values(status=status.lower())
    )
