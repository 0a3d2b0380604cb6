"""The replica's writer of per-row feedback: group commit plus the notifications after it."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from core.db.feedback import FeedbackResult, FeedbackRow, record_feedback_groups
from core.db.feedback_pg import AsyncConnectionPool, write_feedback_group
from core.db.group_commit import GroupCommitter

if TYPE_CHECKING:
    from serve_apps.gateway.services import Services

FeedbackItem = tuple[str, FeedbackRow]  # (tenant, row)


class FeedbackNotifier:
    """After commit: feedback for the sampler and a wake-up for the job consumer, coalesced.

    Fire and forget, and at most one sampler call and one wake-up per ``interval_s`` per
    replica (not one per request): both actors rebuild from the database, so a lost or
    late message loses nothing, and larger, rarer calls cost them far less CPU.
    """

    def __init__(self, services: Services, interval_s: float) -> None:
        self.services = services
        self.interval_s = interval_s
        self._pending: list[dict] = []
        self._winners = False
        self._scheduled = False

    def add(self, results: list[tuple[str, FeedbackResult]]) -> None:
        self._pending.extend(
            {
                "tenant_id": tenant,
                "ad_id": r.ad_id,
                "impressions": r.impressions,
                "clicks": r.clicks,
                "conversions": r.conversions,
                "observed_at": r.observed_at.isoformat(),
            }
            for tenant, r in results
        )
        self._winners = self._winners or any(r.winner for _, r in results)
        if self.interval_s <= 0:
            self.flush()
        elif not self._scheduled and self._pending:
            self._scheduled = True
            asyncio.get_running_loop().call_later(self.interval_s, self.flush)

    def flush(self) -> None:
        self._scheduled = False
        pending, winners = self._pending, self._winners
        self._pending, self._winners = [], False
        sampler = self.services.actors.get("thompson_sampler")
        if sampler is not None and pending:
            sampler.tell("record_feedback_many", pending)
        consumer = self.services.actors.get("job_consumer")
        if consumer is not None and winners:
            consumer.tell("wake")


def notify_feedback(services: Services, results: list[tuple[str, FeedbackResult]]) -> None:
    """Queue committed feedback for the sampler and the job consumer (call on the loop)."""
    if results:
        services.feedback_notifier.add(results)


def build_feedback_writer(services: Services) -> GroupCommitter[FeedbackItem, FeedbackResult]:
    """Per-row feedback of concurrent requests in one transaction (``api.feedback_*``).

    PostgreSQL: async psycopg on the event loop, ``api.feedback_writers`` transactions at
    once. SQLite: the portable path in a worker thread, one transaction at a time (SQLite
    has one writer anyway; more would only queue on its lock).
    """
    rule = services.settings.winner
    api = services.settings.api
    if services.db.is_postgres:
        pool = AsyncConnectionPool(services.db.libpq_dsn, api.feedback_writers)

        async def write_pg(items: list[FeedbackItem]) -> list[FeedbackResult]:
            return await pool.run(write_feedback_group, items, rule)

        write, writers = write_pg, api.feedback_writers
    else:

        def write_lite(items: list[FeedbackItem]) -> list[FeedbackResult]:
            with services.db.engine.begin() as conn:
                return record_feedback_groups(conn, items, rule=rule)

        write, writers = write_lite, 1
    return GroupCommitter(
        write,
        max_items=api.feedback_group_rows,
        writers=writers,
        after=lambda items, results: _after(services, items, results),
    )


def _after(services: Services, items: list[FeedbackItem], results: list[FeedbackResult]) -> None:
    notify_feedback(services, [(tenant, r) for (tenant, _), r in zip(items, results, strict=True)])
