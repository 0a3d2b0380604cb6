"""Sales-pipeline deals to expected revenue (SPEC §3.3).

A pipeline template is a named stage table: each stage has a close probability, an average
number of days to close and a synthetic value. ``expected_value = amount * probability``.
Templates live in ``configs/pipelines.yaml``; a tenant may add its own there.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.config import ConfigError, ConfigModel, config_path, load_config


class UnknownStageError(ValueError):
    """Deal stages the pipeline does not know."""

    def __init__(self, stages: list[str], known: list[str], pipeline: str) -> None:
        self.stages, self.known, self.pipeline = stages, known, pipeline
        names = ", ".join(repr(s) for s in stages)
        super().__init__(
            f"unknown deal stage {names} in pipeline {pipeline!r}; known stages: {', '.join(known)}"
        )


class UnknownPipelineError(ValueError):
    """A pipeline template name that is not configured (for this tenant)."""

    def __init__(self, name: str, known: list[str]) -> None:
        self.name, self.known = name, known
        super().__init__(f"unknown pipeline {name!r}; known pipelines: {', '.join(known)}")


@dataclass(frozen=True)
class Stage:
    """One stage of a pipeline."""

    name: str
    probability: float
    days_to_close: float
    synthetic_value: float

    def __post_init__(self) -> None:
        if not 0 <= self.probability <= 1:
            raise ValueError(f"stage {self.name!r}: probability must be in [0, 1]")
        if not self.days_to_close >= 0:
            raise ValueError(f"stage {self.name!r}: days_to_close must be >= 0")
        if not self.synthetic_value >= 0:
            raise ValueError(f"stage {self.name!r}: synthetic_value must be >= 0")


@dataclass(frozen=True)
class Pipeline:
    """A named stage table; stage lookup ignores case and surrounding spaces."""

    name: str
    stages: tuple[Stage, ...]
    average_deal_value: float = 0.0
    sales_cycle_days: float = 0.0
    description: str = ""

    def __post_init__(self) -> None:
        if not self.stages:
            raise ValueError(f"pipeline {self.name!r} has no stages")
        keys = [s.name.strip().lower() for s in self.stages]
        if len(set(keys)) != len(keys):
            raise ValueError(f"pipeline {self.name!r} has duplicate stages")

    @property
    def stage_names(self) -> list[str]:
        return [s.name for s in self.stages]

    def stage(self, name: str) -> Stage | None:
        key = name.strip().lower()
        return next((s for s in self.stages if s.name.lower() == key), None)

    @classmethod
    def from_spec(cls, name: str, spec: PipelineSpec) -> Pipeline:
        avg = spec.average_deal_value
        stages = tuple(
            Stage(
                name=stage_name,
                probability=st.probability,
                days_to_close=st.days_to_close,
                synthetic_value=st.probability * avg
                if st.synthetic_value is None
                else st.synthetic_value,
            )
            for stage_name, st in spec.stages.items()
        )
        return cls(
            name=name,
            stages=stages,
            average_deal_value=avg,
            sales_cycle_days=spec.sales_cycle_days,
            description=spec.description or "",
        )


class StageSpec(ConfigModel):
    probability: float
    days_to_close: float
    synthetic_value: float | None = None  # None: probability * average_deal_value


class PipelineSpec(ConfigModel):
    description: str | None = None
    average_deal_value: float
    sales_cycle_days: float
    stages: dict[str, StageSpec]


class TenantPipelines(ConfigModel):
    default: str | None = None  # None: the shared default
    pipelines: dict[str, PipelineSpec]


class PipelinesFile(ConfigModel):
    """The shape of ``configs/pipelines.yaml``."""

    default: str
    pipelines: dict[str, PipelineSpec]
    tenants: dict[str, TenantPipelines]


@dataclass(frozen=True)
class PipelineCatalog:
    """Shared templates, per-tenant templates and defaults (``configs/pipelines.yaml``)."""

    default: str
    pipelines: Mapping[str, Pipeline]
    tenant_pipelines: Mapping[str, Mapping[str, Pipeline]]
    tenant_defaults: Mapping[str, str]

    def __post_init__(self) -> None:
        if self.default not in self.pipelines:
            raise ValueError(f"default pipeline {self.default!r} is not configured")
        for tenant, name in self.tenant_defaults.items():
            if name not in self.names(tenant):
                raise ValueError(f"tenant {tenant!r}: default pipeline {name!r} is not configured")

    def names(self, tenant_id: str | None = None) -> list[str]:
        """Template names visible to ``tenant_id``."""
        own = self.tenant_pipelines.get(tenant_id or "", {})
        return sorted({*self.pipelines, *own})

    def get(self, name: str | None = None, tenant_id: str | None = None) -> Pipeline:
        """The named template (the tenant's default, else the shared default, when ``None``)."""
        own = self.tenant_pipelines.get(tenant_id or "", {})
        name = name or self.tenant_defaults.get(tenant_id or "", self.default)
        found = own.get(name) or self.pipelines.get(name)
        if found is None:
            raise UnknownPipelineError(name, self.names(tenant_id))
        return found

    @classmethod
    def from_file(cls, f: PipelinesFile) -> PipelineCatalog:
        return cls(
            default=f.default,
            pipelines={n: Pipeline.from_spec(n, p) for n, p in f.pipelines.items()},
            tenant_pipelines={
                t: {n: Pipeline.from_spec(n, p) for n, p in cfg.pipelines.items()}
                for t, cfg in f.tenants.items()
            },
            tenant_defaults={t: cfg.default for t, cfg in f.tenants.items() if cfg.default},
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PipelineCatalog:
        return cls.from_file(PipelinesFile.model_validate(data))

    @classmethod
    def load(cls, path: Path | None = None) -> PipelineCatalog:
        """``configs/pipelines.yaml`` through the config loader."""
        try:
            return cls.from_file(load_config("pipelines.yaml", PipelinesFile, path=path))
        except ValueError as exc:
            if isinstance(exc, ConfigError):
                raise
            raise ConfigError(f"{path or config_path('pipelines.yaml')}: {exc}") from None


@dataclass(frozen=True)
class Deal:
    id: str
    stage: str
    amount: float


@dataclass(frozen=True)
class DealValue:
    """A deal priced by its stage."""

    deal_id: str
    stage: str
    amount: float
    expected_value: float
    probability: float
    predicted_close_days: float
    synthetic_value: float


@dataclass(frozen=True)
class PipelineValue:
    deals: list[DealValue]
    total_pipeline_value: float
    deal_count: int
    avg_probability: float


def value_pipeline(deals: Iterable[Deal], pipeline: Pipeline) -> PipelineValue:
    """Price every deal by its stage; raises ``UnknownStageError`` naming every unknown stage."""
    deals = list(deals)
    if not deals:
        raise ValueError("deals must not be empty")
    for d in deals:
        if not (math.isfinite(d.amount) and d.amount >= 0):
            raise ValueError(f"deal {d.id!r}: amount must be a finite number >= 0")
    stages = [pipeline.stage(d.stage) for d in deals]
    unknown = [d.stage for d, s in zip(deals, stages, strict=True) if s is None]
    if unknown:
        raise UnknownStageError(list(dict.fromkeys(unknown)), pipeline.stage_names, pipeline.name)
    values = [
        DealValue(
            deal_id=d.id,
            stage=s.name,
            amount=d.amount,
            expected_value=d.amount * s.probability,
            probability=s.probability,
            predicted_close_days=s.days_to_close,
            synthetic_value=s.synthetic_value,
        )
        for d, s in zip(deals, stages, strict=True)
        if s is not None
    ]
    return PipelineValue(
        deals=values,
        total_pipeline_value=sum(v.expected_value for v in values),
        deal_count=len(values),
        avg_probability=sum(v.probability for v in values) / len(values),
    )
