"""In-memory Thompson sampler over many experiments (the state the sampler actor wraps).

Each experiment keeps its arms' evidence as arrays, so a selection over 1,000 arms is one
vectorised Beta draw. Experiments are tenant-scoped: another tenant's id reads as missing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from core.config import ConfigModel, load_config
from core.domain.thompson import (
    METRICS,
    Evidence,
    Snapshot,
    allocate_shares,
    fold,
    posterior,
    prob_best,
    select,
    split_cents,
    trials_successes,
)


class ExperimentNotFound(LookupError):
    """No such experiment for this tenant."""


@dataclass(frozen=True)
class ExperimentSpec:
    """What defines an experiment: its arms (ads) and the Beta model over them."""

    experiment_id: str
    tenant_id: str
    ad_ids: tuple[str, ...]
    metric: str = "ctr"
    prior_alpha: float = 1.0
    prior_beta: float = 1.0
    half_life_h: float | None = None

    def __post_init__(self) -> None:
        if not self.ad_ids:
            raise ValueError("an experiment needs at least one arm")
        if len(set(self.ad_ids)) != len(self.ad_ids):
            raise ValueError("ad_ids must be unique")
        if self.metric not in METRICS:
            raise ValueError(f"metric must be one of {', '.join(METRICS)}")
        if not (self.prior_alpha > 0 and self.prior_beta > 0):
            raise ValueError("prior_alpha and prior_beta must be > 0")
        if self.half_life_h is not None and not self.half_life_h > 0:
            raise ValueError("half_life_h must be > 0 or None")


@dataclass
class _Arms:
    """Evidence of every arm of one experiment, as arrays of shape ``(n_arms,)``."""

    spec: ExperimentSpec
    index: dict[str, int]
    successes: np.ndarray
    failures: np.ndarray
    at: np.ndarray  # epoch seconds, NaN before the first snapshot
    last_trials: np.ndarray
    last_successes: np.ndarray

    @classmethod
    def empty(cls, spec: ExperimentSpec) -> _Arms:
        k = len(spec.ad_ids)
        return cls(
            spec=spec,
            index={a: i for i, a in enumerate(spec.ad_ids)},
            successes=np.zeros(k),
            failures=np.zeros(k),
            at=np.full(k, np.nan),
            last_trials=np.zeros(k, dtype=np.int64),
            last_successes=np.zeros(k, dtype=np.int64),
        )

    def evidence(self, i: int) -> Evidence:
        at = float(self.at[i])
        return Evidence(
            successes=float(self.successes[i]),
            failures=float(self.failures[i]),
            at=None if np.isnan(at) else at,
            last_trials=int(self.last_trials[i]),
            last_successes=int(self.last_successes[i]),
        )

    def set(self, i: int, ev: Evidence) -> None:
        self.successes[i] = ev.successes
        self.failures[i] = ev.failures
        self.at[i] = np.nan if ev.at is None else ev.at
        self.last_trials[i] = ev.last_trials
        self.last_successes[i] = ev.last_successes


@dataclass(frozen=True)
class ArmUpdate:
    """Outcome of one feedback snapshot for one arm of one experiment."""

    experiment_id: str
    ad_id: str
    evidence: Evidence | None  # None: out of order, refold this arm from its full history


@dataclass(frozen=True)
class Allocation:
    ad_ids: list[str]
    amounts: list[float]
    shares: list[float]
    prob_best: list[float]


@dataclass
class SamplerState:
    """All experiments' posteriors; selection, allocation and feedback updates."""

    rng: np.random.Generator = field(default_factory=np.random.default_rng)
    _arms: dict[tuple[str, str], _Arms] = field(default_factory=dict)  # (tenant, experiment)
    _by_ad: dict[tuple[str, str], set[str]] = field(default_factory=dict)  # (tenant, ad)

    # -- registry ---------------------------------------------------------------------
    def add(self, spec: ExperimentSpec, evidence: dict[str, Evidence] | None = None) -> None:
        """Register (or replace) an experiment, with evidence per ad_id where known."""
        self.remove(spec.tenant_id, spec.experiment_id)
        arms = _Arms.empty(spec)
        for ad_id, ev in (evidence or {}).items():
            arms.set(arms.index[ad_id], ev)
        self._arms[(spec.tenant_id, spec.experiment_id)] = arms
        for ad_id in spec.ad_ids:
            self._by_ad.setdefault((spec.tenant_id, ad_id), set()).add(spec.experiment_id)

    def remove(self, tenant_id: str, experiment_id: str) -> None:
        arms = self._arms.pop((tenant_id, experiment_id), None)
        if arms is None:
            return
        for ad_id in arms.spec.ad_ids:
            key = (arms.spec.tenant_id, ad_id)
            self._by_ad[key].discard(experiment_id)
            if not self._by_ad[key]:
                del self._by_ad[key]

    def __len__(self) -> int:
        return len(self._arms)

    def spec(self, tenant_id: str, experiment_id: str) -> ExperimentSpec:
        return self._get(tenant_id, experiment_id).spec

    def _get(self, tenant_id: str, experiment_id: str) -> _Arms:
        arms = self._arms.get((tenant_id, experiment_id))
        if arms is None:
            raise ExperimentNotFound(experiment_id)
        return arms

    def experiments_of(self, tenant_id: str, ad_id: str) -> list[str]:
        return sorted(self._by_ad.get((tenant_id, ad_id), ()))

    # -- evidence -----------------------------------------------------------------------
    def evidence(self, tenant_id: str, experiment_id: str, ad_id: str) -> Evidence:
        arms = self._get(tenant_id, experiment_id)
        return arms.evidence(arms.index[ad_id])

    def set_evidence(self, tenant_id: str, experiment_id: str, ad_id: str, ev: Evidence) -> None:
        arms = self._get(tenant_id, experiment_id)
        arms.set(arms.index[ad_id], ev)

    def observe(
        self,
        tenant_id: str,
        ad_id: str,
        *,
        impressions: int,
        clicks: int,
        conversions: int,
        observed_at: datetime,
    ) -> list[ArmUpdate]:
        """Fold one cumulative snapshot of ``ad_id`` into every experiment it is an arm of.

        A snapshot older than the arm's last one cannot be folded incrementally: the update
        says so (``evidence=None``) and the caller refolds that arm from its history.
        """
        at = observed_at.timestamp()
        updates = []
        for exp_id in self.experiments_of(tenant_id, ad_id):
            arms = self._arms[(tenant_id, exp_id)]
            i = arms.index[ad_id]
            trials, succ = trials_successes(arms.spec.metric, impressions, clicks, conversions)
            snap = Snapshot(at=at, trials=trials, successes=succ)
            ev = arms.evidence(i)
            if ev.same_snapshot(snap):
                continue
            if ev.at is not None and at <= ev.at:
                updates.append(ArmUpdate(exp_id, ad_id, None))
                continue
            ev = fold(ev, snap, arms.spec.half_life_h)
            arms.set(i, ev)
            updates.append(ArmUpdate(exp_id, ad_id, ev))
        return updates

    # -- decisions ----------------------------------------------------------------------
    def posterior(
        self, tenant_id: str, experiment_id: str, now: float | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Beta ``(alpha, beta)`` of every arm as of ``now`` (epoch s; default: the clock)."""
        arms = self._get(tenant_id, experiment_id)
        s = arms.spec
        return posterior(
            arms.successes,
            arms.failures,
            arms.at,
            prior_alpha=s.prior_alpha,
            prior_beta=s.prior_beta,
            half_life_h=s.half_life_h,
            now=time.time() if now is None else now,
        )

    def select(
        self, tenant_id: str, experiment_id: str, n: int = 1, now: float | None = None
    ) -> list[str]:
        """``n`` Thompson choices (ad ids)."""
        alpha, beta = self.posterior(tenant_id, experiment_id, now)
        ad_ids = self._get(tenant_id, experiment_id).spec.ad_ids
        return [ad_ids[i] for i in select(alpha, beta, self.rng, n)]

    def prob_best(
        self, tenant_id: str, experiment_id: str, n_draws: int, now: float | None = None
    ) -> np.ndarray:
        alpha, beta = self.posterior(tenant_id, experiment_id, now)
        return prob_best(alpha, beta, self.rng, n_draws)

    def allocate(
        self,
        tenant_id: str,
        experiment_id: str,
        *,
        total_budget: float,
        min_share: float,
        max_share: float,
        n_draws: int,
        now: float | None = None,
    ) -> Allocation:
        """Split ``total_budget`` by each arm's probability of being best, within bounds, in
        whole cents that add up to the budget."""
        p = self.prob_best(tenant_id, experiment_id, n_draws, now)
        shares = allocate_shares(p, min_share, max_share)
        return Allocation(
            ad_ids=list(self._get(tenant_id, experiment_id).spec.ad_ids),
            amounts=split_cents(total_budget, shares).tolist(),
            shares=shares.tolist(),
            prob_best=p.tolist(),
        )


class SamplerDefaults(ConfigModel):
    """Defaults of a new experiment and of an allocation request."""

    metric: Literal["ctr", "cvr", "conversion"]
    prior_alpha: float = Field(gt=0)
    prior_beta: float = Field(gt=0)
    half_life_h: float | None = Field(gt=0)
    min_share: float = Field(ge=0, le=1)
    max_share: float = Field(ge=0, le=1)

    @model_validator(mode="after")
    def _shares_ordered(self) -> SamplerDefaults:
        if self.min_share > self.max_share:
            raise ValueError("need min_share <= max_share")
        return self


class SamplerLimits(ConfigModel):
    max_arms: int = Field(ge=1)
    max_select_batch: int = Field(ge=1)
    allocation_draws: int = Field(ge=1)
    history_events: int = Field(ge=1)


class SamplerConfig(ConfigModel):
    """All of ``configs/sampler.yaml`` (the actor's options are in ``configs/actors.yaml``)."""

    defaults: SamplerDefaults
    limits: SamplerLimits
    seed: int | None

    @classmethod
    def load(cls, path: Path | None = None) -> SamplerConfig:
        return load_config("sampler.yaml", cls, path=path)
