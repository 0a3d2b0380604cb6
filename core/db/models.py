"""SQLAlchemy 2.x models: the schema Alembic migrates (never ``create_all`` in production).

Every advertiser-owned row carries ``tenant_id``. Ids that callers choose (ads, creatives,
winners, experiments) are unique within a tenant: those tables are keyed by
``(tenant_id, id)`` and every foreign key to them is composite. Times are stored in UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

JSONType = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stored as UTC (timestamptz on PostgreSQL, naive UTC text on SQLite); read back aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# PostgreSQL's own default names, so constraints are named alike on both databases (and a
# migration can drop one by name on SQLite, whose reflected constraints have no names).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "pk": "%(table_name)s_pkey",
    "fk": "%(table_name)s_%(column_0_N_name)s_fkey",
    "uq": "%(table_name)s_%(column_0_N_name)s_key",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JSONType, datetime: UTCDateTime()}


class TenantMixin:
    """A row owned by a tenant, keyed by a server-made id (indexed by tenant)."""

    tenant_id: Mapped[str] = mapped_column(String(64), default="default", index=True)


class TenantKeyMixin:
    """A row whose id the tenant chooses: the primary key is ``(tenant_id, <id>)``."""

    tenant_id: Mapped[str] = mapped_column(String(64), default="default")


class Tenant(Base):
    __tablename__ = "tenants"
    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiKey(TenantMixin, Base):
    """An API key, stored as a SHA-256 hash; ``prefix`` identifies it in listings and logs."""

    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    key_hash: Mapped[str] = mapped_column(String(128), unique=True)
    rate_limit_per_min: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(nullable=True)


class Creative(TenantKeyMixin, Base):
    __tablename__ = "creatives"
    creative_id: Mapped[str] = mapped_column(String(128))
    video_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    video_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    hook_text: Mapped[str | None] = mapped_column(Text, nullable=True)
    cta: Mapped[str | None] = mapped_column(String(200), nullable=True)
    template: Mapped[str | None] = mapped_column(String(200), nullable=True)
    video_features: Mapped[list[float] | None] = mapped_column(JSONType, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (PrimaryKeyConstraint("tenant_id", "creative_id"),)


class Ad(TenantKeyMixin, Base):
    """One running ad; ``launched_at`` starts the winner rule's clock."""

    __tablename__ = "ads"
    ad_id: Mapped[str] = mapped_column(String(128))
    creative_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    name: Mapped[str | None] = mapped_column(String(300), nullable=True)
    platform: Mapped[str] = mapped_column(String(32), default="simulator")
    campaign_id: Mapped[str | None] = mapped_column(String(128), nullable=True, index=True)
    ad_set_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    status: Mapped[str] = mapped_column(String(32), default="active")
    daily_budget: Mapped[float | None] = mapped_column(Float, nullable=True)
    launched_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "ad_id"),
        # A creative is never deleted while an ad shows it (no SET NULL: it would null tenant_id).
        ForeignKeyConstraint(
            ["tenant_id", "creative_id"], ["creatives.tenant_id", "creatives.creative_id"]
        ),
        Index("ix_ads_tenant_created", "tenant_id", "created_at", "ad_id"),  # newest-first pages
    )


class PerformanceMetric(TenantMixin, Base):
    """A cumulative performance snapshot of an ad as of ``observed_at``."""

    __tablename__ = "performance_metrics"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ad_id: Mapped[str] = mapped_column(String(128))
    video_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    impressions: Mapped[int] = mapped_column(BigInteger)
    clicks: Mapped[int] = mapped_column(BigInteger)
    conversions: Mapped[int] = mapped_column(BigInteger, default=0)
    spend: Mapped[float] = mapped_column(Float, default=0.0)
    revenue: Mapped[float] = mapped_column(Float, default=0.0)
    ctr: Mapped[float] = mapped_column(Float)
    roas: Mapped[float] = mapped_column(Float)
    observed_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "ad_id"], ["ads.tenant_id", "ads.ad_id"], ondelete="CASCADE"
        ),
        Index("ix_performance_metrics_tenant_ad", "tenant_id", "ad_id", "observed_at"),
    )


class WinnerRuleRow(Base):
    """The winner thresholds the database trigger reads (one row, id 1, synced from settings)."""

    __tablename__ = "winner_rule"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    min_hours_live: Mapped[float] = mapped_column(Float)
    min_impressions: Mapped[int] = mapped_column(Integer)
    min_ctr: Mapped[float] = mapped_column(Float)
    min_roas: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class PendingJob(TenantMixin, Base):
    """The job queue: rows claimed by the job consumer (SKIP LOCKED on PostgreSQL)."""

    __tablename__ = "pending_jobs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_type: Mapped[str] = mapped_column(String(64))
    dedupe_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    run_after: Mapped[datetime] = mapped_column(default=utcnow)
    leased_until: Mapped[datetime | None] = mapped_column(nullable=True)
    locked_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)

    __table_args__ = (
        Index("ix_pending_jobs_claim", "status", "run_after", "id"),
        Index(
            "uq_pending_jobs_queued",
            "job_type",
            "dedupe_key",
            unique=True,
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
    )


class Winner(TenantKeyMixin, Base):
    """An ad indexed into the winner memory (one row per ad; re-qualifying updates it)."""

    __tablename__ = "winners"
    ad_id: Mapped[str] = mapped_column(String(128))
    video_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    reason: Mapped[str] = mapped_column(String(8))  # ctr | roas | both | manual
    ctr: Mapped[float] = mapped_column(Float)
    roas: Mapped[float] = mapped_column(Float)
    impressions: Mapped[int] = mapped_column(BigInteger)
    hook_text: Mapped[str | None] = mapped_column(Text, nullable=True)
    cta: Mapped[str | None] = mapped_column(String(200), nullable=True)
    template: Mapped[str | None] = mapped_column(String(200), nullable=True)
    video_features: Mapped[list[float] | None] = mapped_column(JSONType, nullable=True)
    vector: Mapped[list[float]] = mapped_column(JSONType)
    embedder: Mapped[str] = mapped_column(String(64))
    times_indexed: Mapped[int] = mapped_column(Integer, default=1)
    indexed_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (PrimaryKeyConstraint("tenant_id", "ad_id"),)


class Experiment(TenantKeyMixin, Base):
    """A Thompson-sampling experiment over ads (arms)."""

    __tablename__ = "experiments"
    experiment_id: Mapped[str] = mapped_column(String(128))
    name: Mapped[str | None] = mapped_column(String(300), nullable=True)
    metric: Mapped[str] = mapped_column(String(16), default="ctr")  # ctr | cvr
    prior_alpha: Mapped[float] = mapped_column(Float, default=1.0)
    prior_beta: Mapped[float] = mapped_column(Float, default=1.0)
    decay_half_life_h: Mapped[float | None] = mapped_column(Float, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "experiment_id"),
        Index("ix_experiments_tenant_created", "tenant_id", "created_at", "experiment_id"),
    )


class ExperimentArm(TenantKeyMixin, Base):
    __tablename__ = "experiment_arms"
    experiment_id: Mapped[str] = mapped_column(String(128))
    ad_id: Mapped[str] = mapped_column(String(128))
    alpha: Mapped[float] = mapped_column(Float, default=1.0)
    beta: Mapped[float] = mapped_column(Float, default=1.0)
    trials: Mapped[int] = mapped_column(BigInteger, default=0)
    successes: Mapped[int] = mapped_column(BigInteger, default=0)
    # Time of the last snapshot folded in: alpha/beta hold the evidence as of then (decay).
    observed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "experiment_id", "ad_id"),
        ForeignKeyConstraint(
            ["tenant_id", "experiment_id"],
            ["experiments.tenant_id", "experiments.experiment_id"],
            ondelete="CASCADE",
        ),
        Index("ix_experiment_arms_tenant_ad", "tenant_id", "ad_id"),
    )


class ExperimentEvent(Base):
    """History of an experiment: selections, allocations, updates."""

    __tablename__ = "experiment_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(64), default="default")
    experiment_id: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "experiment_id"],
            ["experiments.tenant_id", "experiments.experiment_id"],
            ondelete="CASCADE",
        ),
        Index("ix_experiment_events_tenant_experiment", "tenant_id", "experiment_id", "id"),
    )


class ProJob(TenantMixin, Base):
    """A pro video batch run in the background (202 + polling)."""

    __tablename__ = "pro_jobs"
    job_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    total: Mapped[int] = mapped_column(Integer, default=0)
    completed: Mapped[int] = mapped_column(Integer, default=0)
    successful: Mapped[int] = mapped_column(Integer, default=0)
    request: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    results: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class PredictionLog(TenantMixin, Base):
    """One served prediction (SPEC §2), so its accuracy can be measured later (§4, loop 5)."""

    __tablename__ = "prediction_log"
    # No index of its own: ``ix_prediction_log_lookup`` leads with it (migration 0008), and
    # every index here costs on each logged prediction.
    tenant_id: Mapped[str] = mapped_column(String(64), default="default")
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    kind: Mapped[str] = mapped_column(String(16))  # roas | ctr
    ad_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    model_version: Mapped[str] = mapped_column(String(64))
    inputs: Mapped[dict[str, Any]] = mapped_column(JSONType)
    output: Mapped[dict[str, Any]] = mapped_column(JSONType)
    served_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index("ix_prediction_log_lookup", "tenant_id", "kind", "ad_id", "served_at"),
        Index("ix_prediction_log_served_at", "served_at"),
    )


class ModelVersion(TenantMixin, Base):
    """A trained model in the registry (SPEC §5); its artifact lives under the data dir.

    ``status``: candidate (trained, not promoted) | champion (serving; one per tenant and
    kind) | retired (a former champion) | rolled_back (a champion undone by a rollback).
    """

    __tablename__ = "model_versions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # ctr | value
    version: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="candidate")
    artifact: Mapped[str] = mapped_column(Text)  # path relative to the data dir
    dataset_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    run_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    params: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    promoted_at: Mapped[datetime | None] = mapped_column(nullable=True)

    __table_args__ = (
        UniqueConstraint("tenant_id", "kind", "version"),
        Index("ix_model_versions_status", "tenant_id", "kind", "status"),
    )


class ModelDecision(TenantMixin, Base):
    """One champion/challenger decision, manual promotion or rollback, with its metrics."""

    __tablename__ = "model_decisions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(16))  # promoted | kept | manual | rollback
    challenger_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    champion_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reason: Mapped[str] = mapped_column(Text)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    run_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_model_decisions_lookup", "tenant_id", "kind", "id"),)


class TrainingRun(TenantMixin, Base):
    """A training run (``POST /api/ml/train/{kind}``): status, Tune trials, the decision."""

    __tablename__ = "training_runs"
    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))  # database | synthetic
    status: Mapped[str] = mapped_column(String(16), default="queued")
    trials: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    decision: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)


class PendingAdChange(TenantMixin, Base):
    """A change to an ad, ad set or campaign, queued for the safe executor (SPEC §3.5).

    ``object_id`` is what the change acts on (the ad set of a budget change, the ad or ad set
    of a status change, the ad set that gets the new ad of ``create_ad``). Values are JSON:
    a budget in minor units, a status, or the publish spec. ``phase`` is the exactly-once
    marker: ``sending`` is committed (with ``applied_value`` and ``old_value``) before the
    platform call, so a worker that finds it after a crash reads the object back first.
    """

    __tablename__ = "pending_ad_changes"
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    idempotency_key: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))  # budget | status | create_ad
    account_id: Mapped[str] = mapped_column(String(128))
    campaign_id: Mapped[str] = mapped_column(String(128))
    ad_set_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    ad_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    object_id: Mapped[str] = mapped_column(String(128))
    old_value: Mapped[Any | None] = mapped_column(JSONType, nullable=True)
    new_value: Mapped[Any] = mapped_column(JSONType)
    applied_value: Mapped[Any | None] = mapped_column(JSONType, nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    requested_by: Mapped[str] = mapped_column(String(200))
    confidence: Mapped[float | None] = mapped_column(Float, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    phase: Mapped[str | None] = mapped_column(String(16), nullable=True)  # sending
    dry_run: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    decision: Mapped[str | None] = mapped_column(String(16), nullable=True)  # allow|clamp|reject
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    earliest_execute_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    claimed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    leased_until: Mapped[datetime | None] = mapped_column(nullable=True)
    rollback_of: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    applied_at: Mapped[datetime | None] = mapped_column(nullable=True)

    __table_args__ = (
        UniqueConstraint("tenant_id", "idempotency_key"),
        Index("ix_pending_ad_changes_claim", "status", "earliest_execute_at", "id"),
        Index("ix_pending_ad_changes_tenant_created", "tenant_id", "created_at", "id"),
        Index("ix_pending_ad_changes_history", "tenant_id", "campaign_id", "applied_at"),
    )


class AdChangeAudit(TenantMixin, Base):
    """Who did what to which change: before, after and the platform's answer."""

    __tablename__ = "ad_change_audit"
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    change_id: Mapped[int] = mapped_column(BigInteger, index=True)
    actor: Mapped[str] = mapped_column(String(200))  # worker id, api:<key prefix>, cli
    action: Mapped[str] = mapped_column(String(32))  # requested|applied|dry_run|rejected|...
    object_id: Mapped[str] = mapped_column(String(128))
    before: Mapped[Any | None] = mapped_column(JSONType, nullable=True)
    after: Mapped[Any | None] = mapped_column(JSONType, nullable=True)
    platform_response: Mapped[Any | None] = mapped_column(JSONType, nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class KillSwitch(Base):
    """The runtime kill switch (database, so every executor sees it): ``scope`` is a tenant
    id, or ``*`` for every tenant."""

    __tablename__ = "kill_switches"
    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    engaged: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    set_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class LearningCycle(TenantMixin, Base):
    """One self-learning cycle of one tenant (SPEC §4): its steps, in order, as JSON.

    At most one ``running`` cycle per tenant (a partial unique index); ``owner`` is the
    orchestrator instance running it and ``heartbeat_at`` its last sign of life, so a cycle
    left by a dead orchestrator is found and closed as failed.
    """

    __tablename__ = "learning_cycles"
    cycle_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    trigger: Mapped[str] = mapped_column(String(16))  # schedule | api | cli | job
    requested_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    status: Mapped[str] = mapped_column(String(16))  # running|completed|partial|failed
    steps: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    owner: Mapped[str | None] = mapped_column(String(128), nullable=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    duration_s: Mapped[float | None] = mapped_column(Float, nullable=True)

    __table_args__ = (
        Index("ix_learning_cycles_tenant_started", "tenant_id", "started_at"),
        Index(
            "ux_learning_cycles_running",
            "tenant_id",
            unique=True,
            sqlite_where=text("status = 'running'"),
            postgresql_where=text("status = 'running'"),
        ),
    )


class LearningSchedule(Base):
    """When a tenant's next scheduled cycle is due (persisted: a restarted orchestrator
    neither skips nor doubles a cycle)."""

    __tablename__ = "learning_schedule"
    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    next_due_at: Mapped[datetime] = mapped_column()
    last_cycle_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class LearningResult(TenantMixin, Base):
    """What a loop learned, kept per cycle: ``kind`` is ``insights`` (cross-learner),
    ``creative_dna`` or ``accuracy`` (compound learner)."""

    __tablename__ = "learning_results"
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    cycle_id: Mapped[str] = mapped_column(String(36))
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_learning_results_latest", "tenant_id", "kind", "created_at"),)


class AllocationDecision(TenantMixin, Base):
    """One budget share the auto-promoter chose, with the propensity it had (the logged
    decisions that off-policy evaluation reads). ``reward``: the arm's ROAS over the period
    after the decision, filled in when that period's metrics are in."""

    __tablename__ = "allocation_decisions"
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    cycle_id: Mapped[str] = mapped_column(String(36))
    experiment_id: Mapped[str] = mapped_column(String(128))
    ad_id: Mapped[str] = mapped_column(String(128))
    policy: Mapped[str] = mapped_column(String(64))
    propensity: Mapped[float] = mapped_column(Float)
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)
    reward: Mapped[float | None] = mapped_column(Float, nullable=True)

    __table_args__ = (
        Index("ix_allocation_decisions_exp", "tenant_id", "experiment_id", "decided_at"),
    )


class SimulatorMarket(Base):
    """A tenant's live simulated market (the ``market_simulator`` actor's state): the
    pickled simulator, and the wall-clock time its simulated clock is anchored to."""

    __tablename__ = "simulator_markets"
    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[bytes] = mapped_column(LargeBinary)
    anchored_at: Mapped[datetime] = mapped_column()
    hours_run: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Asset(TenantMixin, Base):
    """A file of the tenant's asset library (logo, font, music, clip, image); the file is at
    ``path`` (relative to the media root); identical content is stored once per tenant."""

    __tablename__ = "assets"
    asset_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    tags: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    filename: Mapped[str] = mapped_column(String(255))
    path: Mapped[str] = mapped_column(String(1024))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    mime: Mapped[str] = mapped_column(String(100))
    duration_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    width: Mapped[int | None] = mapped_column(Integer, nullable=True)
    height: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    __table_args__ = (
        UniqueConstraint("tenant_id", "sha256"),
        Index("ix_assets_tenant_created", "tenant_id", "created_at", "asset_id"),
    )


__all__ = [
    "Ad",
    "AdChangeAudit",
    "AllocationDecision",
    "ApiKey",
    "Asset",
    "Base",
    "Creative",
    "Experiment",
    "ExperimentArm",
    "ExperimentEvent",
    "ModelDecision",
    "ModelVersion",
    "KillSwitch",
    "LearningCycle",
    "LearningResult",
    "LearningSchedule",
    "PendingAdChange",
    "PendingJob",
    "PerformanceMetric",
    "PredictionLog",
    "ProJob",
    "Tenant",
    "SimulatorMarket",
    "TrainingRun",
    "Winner",
    "WinnerRuleRow",
    "utcnow",
]
