"""A simulated market wired to a fresh database, for learning-cycle tests: one campaign, an
ad set per creative, the ads and creatives in the database, one experiment over them, a
clock that is the simulator's, and a safe executor applying changes to the same market."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from core.db import experiments as exp_repo
from core.db import learning as repo
from core.db.ads import CreativeSpec, upsert_ad
from core.db.engine import Database
from core.domain.sampler import ExperimentSpec
from core.execution.engine import ChangeExecutor
from core.learning.config import LearningConfig
from core.learning.context import CycleContext, CycleHooks
from core.learning.cycle import run_cycle
from core.platforms.base import AdSpec
from core.platforms.simulator import MarketSimulator
from core.settings import Settings
from tests.support.executor_world import executor_config, policy

FEATURES = ("motion", "brightness", "contrast", "faces", "text_density")
TEMPLATES = ("ugc", "demo", "testimonial")
HOOKS = ("Why 3 tips?", "Stop scrolling now", "You need this", "New: 50% off")


@dataclass
class LearningWorld:
    settings: Settings
    db: Database
    sim: MarketSimulator
    campaign: str
    ads: list[str] = field(default_factory=list)
    adsets: dict[str, str] = field(default_factory=dict)  # ad -> ad set
    experiment_id: str = "exp-1"
    tenant: str = "default"
    hooks: CycleHooks = field(default_factory=CycleHooks)
    config: LearningConfig = field(default_factory=LearningConfig.load)

    @classmethod
    def build(
        cls, settings: Settings, *, creatives: int = 8, seed: int = 7, budget: int = 5_000
    ) -> LearningWorld:
        sim = MarketSimulator.from_config(seed=seed)
        w = cls(settings, Database(settings.db_url), sim, sim.create_campaign("learning"))
        rng = np.random.default_rng(seed)
        with w.db.session() as s:
            for i in range(creatives):
                feats = {
                    n: float(v)
                    for n, v in zip(FEATURES, rng.uniform(0, 1, len(FEATURES)), strict=True)
                }
                adset = sim.create_adset(w.campaign, budget)
                res = sim.create_ad(
                    AdSpec(
                        adset_id=adset,
                        video_path=f"/media/v{i}.mp4",
                        name=f"ad {i}",
                        idempotency_key=f"world-{i}",
                        status="ACTIVE",
                        features=feats,
                    )
                )
                upsert_ad(
                    s,
                    tenant_id=w.tenant,
                    ad_id=res.ad_id,
                    launched_at=sim.now,
                    creative=CreativeSpec(
                        creative_id=res.creative_id,
                        video_id=res.video_id,
                        hook_text=HOOKS[i % len(HOOKS)],
                        cta="Shop now" if i % 2 else "Learn more",
                        template=TEMPLATES[i % len(TEMPLATES)],
                        video_features=[feats[n] for n in FEATURES],
                    ),
                    campaign_id=w.campaign,
                    ad_set_id=adset,
                    platform="simulator",
                    status="active",
                )
                w.ads.append(res.ad_id)
                w.adsets[res.ad_id] = adset
            exp_repo.create_experiment(
                s,
                spec=ExperimentSpec(
                    experiment_id=w.experiment_id, tenant_id=w.tenant, ad_ids=tuple(w.ads)
                ),
                name="world",
            )
        return w

    def now(self) -> datetime:
        return self.sim.now

    def platform_for(self, tenant_id: str, account_id: str) -> MarketSimulator:
        return self.sim

    def context(self, cycle_id: str | None = None, **kw: Any) -> CycleContext:
        return CycleContext(
            db=self.db,
            settings=self.settings,
            config=kw.pop("config", self.config),
            tenant_id=self.tenant,
            cycle_id=cycle_id or str(uuid.uuid4()),
            platform_for=self.platform_for,
            hooks=kw.pop("hooks", self.hooks),
            clock=self.now,
            wall_clock=self.now,  # cycles start at simulated times here (see cycle())
        )

    def executor(self) -> ChangeExecutor:
        return ChangeExecutor(
            self.db,
            worker="world-executor",
            config=executor_config(),
            policy=policy(),
            platform_for=self.platform_for,
        )

    def cycle(self, **kw: Any) -> tuple[str, str]:
        """Start and run one cycle to the end; (cycle id, status)."""
        with self.db.session() as s:
            row = repo.start_cycle(
                s, tenant_id=self.tenant, trigger="cli", owner="world", now=self.now()
            )
            cycle_id = row.cycle_id
        return cycle_id, run_cycle(self.context(cycle_id), owner="world", **kw)

    def budgets(self) -> dict[str, int]:
        return {
            ad: int(self.sim.read_state(a).daily_budget_minor or 0) for ad, a in self.adsets.items()
        }

    def index_winners(self) -> int:
        """What the job consumer and the winner memory do on a cluster: index every queued
        winner (the memory as a plain object); how many."""
        from actors.winner_memory import WinnerMemory
        from core.db import jobs

        memory = WinnerMemory(self.settings.to_overrides())
        with self.db.session() as s:
            claimed = jobs.claim(s, worker="world", limit=10_000, lease_s=60)
        for job in claimed:
            memory.index_winner(job.payload)
            with self.db.session() as s:
                jobs.complete(s, job.id)
        memory.db.dispose()
        return len(claimed)

    def log_predictions(self, predicted_ctr: float) -> None:
        """A served CTR prediction for every ad, now (what the gateway logs)."""
        from core.db.prediction_log import insert_rows, prediction_row

        insert_rows(
            self.db,
            [
                prediction_row(
                    tenant_id=self.tenant,
                    kind="ctr",
                    ad_id=ad,
                    model_version="world-v1",
                    inputs={},
                    output={"predicted_ctr": predicted_ctr},
                    served_at=self.now(),
                )
                for ad in self.ads
            ],
        )
