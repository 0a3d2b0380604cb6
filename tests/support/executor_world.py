"""A FakeGraph world for executor tests: ad sets in campaigns, a Meta adapter per tenant,
a policy with no delay, and helpers to queue changes and count what reached the platform."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from core.db.engine import Database
from core.domain.safety import SafetyConfig, SafetyPolicy
from core.execution.config import ExecutorConfig
from core.execution.engine import ChangeExecutor
from core.execution.service import NewChange, request_change
from core.platforms.config import PlatformsConfig
from core.platforms.meta import MetaAdapter, MetaCredentials, Secret
from tests.support.fake_graph import FakeGraph

TOKEN = "EAAB-executor-test-token"
ACCOUNT = "act_1"


def policy(**overrides: Any) -> SafetyPolicy:
    cfg = SafetyConfig.load().model_copy(
        update={"dry_run": False, "delay_min_s": 0.0, "delay_max_s": 0.0, **overrides}
    )
    return SafetyPolicy(cfg)


def executor_config(**overrides: Any) -> ExecutorConfig:
    base = ExecutorConfig.load()
    fast = {"poll_interval_s": 0.05, "lease_s": 30.0, "backoff_base_s": 0.0, "backoff_max_s": 0.05}
    return base.model_copy(update={**fast, **overrides})


def meta_adapter(fake: FakeGraph, account: str = ACCOUNT, **cfg: Any) -> MetaAdapter:
    base = PlatformsConfig.load().meta
    fast = {"backoff_base_s": 0.001, "backoff_max_s": 0.01, "max_attempts": 4}
    config = base.model_copy(
        update={"graph_url": fake.url, "video_graph_url": fake.url, **fast, **cfg}
    )
    creds = MetaCredentials("default", Secret(TOKEN), (account,), page_id="p1")
    return MetaAdapter(config, creds, sleep=lambda s: None, rng=random.Random(0))


@dataclass
class World:
    fake: FakeGraph
    campaigns: list[str] = field(default_factory=list)
    adsets: dict[str, str] = field(default_factory=dict)  # ad set -> campaign

    @classmethod
    def build(cls, fake: FakeGraph, campaigns: int, adsets_each: int, budget: int = 10_000):
        w = cls(fake)
        for _ in range(campaigns):
            c = fake.add("campaign", account_id=ACCOUNT, status="ACTIVE", name="c")
            w.campaigns.append(c)
            for _ in range(adsets_each):
                a = fake.add(
                    "adset", account_id=ACCOUNT, campaign_id=c, daily_budget=budget, status="ACTIVE"
                )
                w.adsets[a] = c
        return w

    def budget(self, adset: str) -> int:
        return int(self.fake.objects[adset]["daily_budget"])

    def applied_writes(self) -> Counter[tuple[str, str]]:
        """Successful POSTs that changed an object: (object id, field) -> count."""
        out: Counter[tuple[str, str]] = Counter()
        for c in self.fake.api_calls("POST"):
            if c.status == 200 and "/" not in c.path:
                for f in ("daily_budget", "status"):
                    if f in c.params:
                        out[(c.path, f)] += 1
        return out


def queue_budgets(
    db: Database, world: World, pol: SafetyPolicy, *, pct: float = 0.1, tenant: str = "default"
) -> list[int]:
    """One budget change (+pct) per ad set; the change ids."""
    ids = []
    with db.session() as s:
        for adset, campaign in world.adsets.items():
            row, _ = request_change(
                s,
                NewChange(
                    kind="budget",
                    idempotency_key=f"b-{adset}",
                    account_id=ACCOUNT,
                    campaign_id=campaign,
                    ad_set_id=adset,
                    new_value=round(world.budget(adset) * (1 + pct)),
                ),
                tenant_id=tenant,
                requested_by="test",
                policy=pol,
            )
            ids.append(row.id)
    return ids


def make_executor(
    db: Database,
    fake: FakeGraph,
    worker: str,
    pol: SafetyPolicy,
    cfg: ExecutorConfig | None = None,
    crash: Callable[[str], None] | None = None,
    **adapter_cfg: Any,
) -> ChangeExecutor:
    adapter = meta_adapter(fake, **adapter_cfg)
    return ChangeExecutor(
        db,
        worker=worker,
        config=cfg or executor_config(),
        policy=pol,
        platform_for=lambda tenant, account: adapter,
        crash=crash,
    )


def drain(executors: list[ChangeExecutor], *, max_rounds: int = 100_000) -> None:
    """Run the executors round-robin until none claims anything and nothing is pending."""
    idle = 0
    for _ in range(max_rounds):
        n = sum(e.run_once() for e in executors)
        idle = idle + 1 if n == 0 else 0
        if idle >= 2:
            with executors[0].db.session() as s:
                from core.db.changes import counts

                left = counts(s)
            if not left.get("pending") and not left.get("claimed"):
                return
            due = executors[0].next_due_in()
            if due:
                import time

                time.sleep(min(due, 0.05))  # a retry's backoff (tests keep it tiny)
    raise AssertionError("executors did not drain the queue")
