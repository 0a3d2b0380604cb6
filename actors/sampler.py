"""The Thompson sampler actor: a named, detached shell over ``core.domain.sampler``.

Its state is derived from the database: on start (and on ``rebuild``) every arm's posterior is
refolded from the ad's cumulative ``performance_metrics`` snapshots, so a restarted actor
holds exactly what all committed feedback implies. Live feedback folds incrementally and is
written to ``experiment_arms`` so that readers of the database see it.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np

from core.db import experiments as repo
from core.db.engine import Database
from core.domain.sampler import ArmUpdate, ExperimentSpec, SamplerConfig, SamplerState
from core.domain.thompson import Evidence, fold_all
from core.settings import Settings


def _iso(at: float | None) -> str | None:
    return None if at is None else datetime.fromtimestamp(at, UTC).isoformat()


def _parse_time(value: str | datetime) -> datetime:
    t = datetime.fromisoformat(value) if isinstance(value, str) else value
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


class ThompsonSampler:
    """Catalogue actor ``thompson_sampler``: experiments' posteriors in memory; selection,
    allocation and feedback updates. ``config``: ``configs/sampler.yaml`` unless given."""

    def __init__(self, settings: dict[str, Any], config: SamplerConfig | None = None) -> None:
        self.settings = Settings.from_overrides(settings)
        self.config = config or SamplerConfig.load()
        self.db = Database(self.settings.db_url)
        self.state = SamplerState(rng=np.random.default_rng(self.config.seed))
        self.rebuild()

    def ping(self) -> bool:
        return True

    # -- state from the database ------------------------------------------------------
    def _refold(self, session: Any, spec: ExperimentSpec, ad_ids: list[str]) -> dict[str, Evidence]:
        history = repo.metric_history(session, tenant_id=spec.tenant_id, ad_ids=ad_ids)
        return {
            ad: fold_all(repo.to_snapshots(history[ad], spec.metric), spec.half_life_h)
            for ad in ad_ids
        }

    def rebuild(self) -> int:
        """Refold every active experiment from the metrics history; returns how many."""
        state = SamplerState(rng=self.state.rng)
        with self.db.session() as s:
            specs = repo.active_specs(s)
            for spec in specs:
                evidence = self._refold(s, spec, list(spec.ad_ids))
                state.add(spec, evidence)
                repo.save_arms(s, spec=spec, evidence=evidence)
        self.state = state
        return len(specs)

    def create_experiment(
        self,
        *,
        tenant_id: str,
        ad_ids: list[str],
        name: str | None = None,
        metric: str | None = None,
        prior_alpha: float | None = None,
        prior_beta: float | None = None,
        half_life_h: float | None = None,
    ) -> str:
        """Create an experiment (arms start from the ads' history); returns its id."""
        d = self.config.defaults
        spec = ExperimentSpec(
            experiment_id=f"exp_{uuid.uuid4().hex[:16]}",
            tenant_id=tenant_id,
            ad_ids=tuple(sorted(ad_ids)),
            metric=metric or d.metric,
            prior_alpha=d.prior_alpha if prior_alpha is None else prior_alpha,
            prior_beta=d.prior_beta if prior_beta is None else prior_beta,
            half_life_h=d.half_life_h if half_life_h is None else half_life_h,
        )
        with self.db.session() as s:
            repo.create_experiment(s, spec=spec, name=name)
            s.flush()
            evidence = self._refold(s, spec, list(spec.ad_ids))
            repo.save_arms(s, spec=spec, evidence=evidence)
        self.state.add(spec, evidence)
        return spec.experiment_id

    def add_arms(self, tenant_id: str, experiment_id: str, ad_ids: list[str]) -> list[str]:
        """Add ads as arms of an active experiment (their history counts, as at creation);
        returns the ids added (ids already arms are skipped). Unknown experiment:
        :class:`ExperimentNotFound`; over ``limits.max_arms``: ``ValueError``."""
        spec = self.state.spec(tenant_id, experiment_id)
        new = [a for a in dict.fromkeys(ad_ids) if a not in spec.ad_ids]
        if not new:
            return []
        if len(spec.ad_ids) + len(new) > self.config.limits.max_arms:
            raise ValueError(f"an experiment has at most {self.config.limits.max_arms} arms")
        grown = replace(spec, ad_ids=tuple(sorted((*spec.ad_ids, *new))))
        with self.db.session() as s:
            added = repo.add_arms(s, spec=spec, ad_ids=new)
            evidence = {a: self.state.evidence(tenant_id, experiment_id, a) for a in spec.ad_ids}
            fresh = self._refold(s, grown, added)
            repo.save_arms(s, spec=grown, evidence=fresh)
        self.state.add(grown, {**evidence, **fresh})
        return added

    # -- feedback ---------------------------------------------------------------------
    def record_feedback(
        self,
        *,
        tenant_id: str,
        ad_id: str,
        impressions: int,
        clicks: int,
        conversions: int,
        observed_at: str | None = None,
    ) -> int:
        """Fold one committed cumulative snapshot into every experiment of the ad.

        Idempotent (a repeated snapshot changes nothing). A snapshot older than the arm's last
        one, or one without ``observed_at`` (the database stamped it), refolds the arm from
        the database. Returns the number of arms updated.
        """
        if observed_at is None:
            updates = [
                ArmUpdate(e, ad_id, None) for e in self.state.experiments_of(tenant_id, ad_id)
            ]
        else:
            updates = self.state.observe(
                tenant_id,
                ad_id,
                impressions=impressions,
                clicks=clicks,
                conversions=conversions,
                observed_at=_parse_time(observed_at),
            )
        if not updates:
            return 0
        with self.db.session() as s:
            for u in updates:
                spec = self.state.spec(tenant_id, u.experiment_id)
                ev = u.evidence or self._refold(s, spec, [ad_id])[ad_id]
                self.state.set_evidence(tenant_id, u.experiment_id, ad_id, ev)
                repo.save_arms(s, spec=spec, evidence={ad_id: ev})
                payload = {
                    "ad_id": ad_id,
                    "trials": ev.last_trials,
                    "successes": ev.last_successes,
                    "observed_at": _iso(ev.at),
                }
                repo.add_event(
                    s,
                    tenant_id=tenant_id,
                    experiment_id=u.experiment_id,
                    kind="update",
                    payload=payload,
                )
        return len(updates)

    def record_feedback_many(self, items: list[dict[str, Any]]) -> int:
        """``record_feedback`` for many snapshots in one call (one per feedback request)."""
        return sum(self.record_feedback(**item) for item in items)

    # -- decisions --------------------------------------------------------------------
    def select(self, tenant_id: str, experiment_id: str, n: int = 1) -> list[str]:
        """``n`` Thompson choices (ad ids), one joint Beta draw each."""
        limit = self.config.limits.max_select_batch
        if not 1 <= n <= limit:
            raise ValueError(f"n must be in [1, {limit}]")
        return self.state.select(tenant_id, experiment_id, n)

    def allocate(
        self,
        tenant_id: str,
        experiment_id: str,
        *,
        total_budget: float,
        min_share: float | None = None,
        max_share: float | None = None,
    ) -> dict[str, Any]:
        """Split ``total_budget`` by probability of being best; recorded as an event."""
        d = self.config.defaults
        lo = d.min_share if min_share is None else min_share
        hi = d.max_share if max_share is None else max_share
        alloc = self.state.allocate(
            tenant_id,
            experiment_id,
            total_budget=total_budget,
            min_share=lo,
            max_share=hi,
            n_draws=self.config.limits.allocation_draws,
        )
        result = {
            "total_budget": total_budget,
            "min_share": lo,
            "max_share": hi,
            "n_draws": self.config.limits.allocation_draws,
            "arms": [
                {"ad_id": a, "amount": m, "share": s, "prob_best": p}
                for a, m, s, p in zip(
                    alloc.ad_ids, alloc.amounts, alloc.shares, alloc.prob_best, strict=True
                )
            ],
        }
        with self.db.session() as s:
            repo.add_event(
                s,
                tenant_id=tenant_id,
                experiment_id=experiment_id,
                kind="allocation",
                payload=result,
            )
        return result

    def posteriors(
        self, tenant_id: str, experiment_id: str, now: float | None = None
    ) -> dict[str, Any]:
        """Each arm's Beta parameters as of ``now`` and its raw evidence."""
        spec = self.state.spec(tenant_id, experiment_id)
        alpha, beta = self.state.posterior(tenant_id, experiment_id, now)
        return {
            "ad_ids": list(spec.ad_ids),
            "alpha": alpha.tolist(),
            "beta": beta.tolist(),
            "evidence": {
                a: asdict(self.state.evidence(tenant_id, experiment_id, a)) for a in spec.ad_ids
            },
        }
