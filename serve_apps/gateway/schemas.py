"""Request and response models shared by the foundation routes (feedback, ads, rag)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer, model_validator

AdId = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:\-]+$")
MAX_CLOCK_SKEW = timedelta(minutes=5)
MAX_COUNT = 2**63 - 1  # BIGINT on both databases
MAX_MONEY = 1e15


def _rounded(digits: int) -> PlainSerializer:
    """Round a number where it leaves the API (SPEC §2); the value inside stays exact."""
    return PlainSerializer(lambda v: round(v, digits), return_type=float, when_used="json")


Money = Annotated[float, _rounded(2)]  # to cents
Rate = Annotated[float, _rounded(4)]  # probabilities, shares and rates
Roas = Annotated[float, _rounded(2)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


def _past_utc(v: datetime) -> datetime:
    """A timestamp in UTC (naive ones are taken as UTC), not in the future."""
    v = v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)
    if v > datetime.now(UTC) + MAX_CLOCK_SKEW:
        raise ValueError("must not be in the future")
    return v


PastTime = Annotated[datetime, AfterValidator(_past_utc)]


class FeedbackIn(Strict):
    ad_id: str = AdId
    video_id: str | None = Field(None, max_length=128)
    impressions: int = Field(ge=0, le=MAX_COUNT)
    clicks: int = Field(ge=0, le=MAX_COUNT)
    conversions: int = Field(0, ge=0, le=MAX_COUNT)
    spend: float = Field(0.0, ge=0, le=MAX_MONEY)
    revenue: float = Field(0.0, ge=0, le=MAX_MONEY)
    actual_ctr: float | None = Field(None, ge=0, le=1)
    actual_roas: float | None = Field(None, ge=0, le=1e6)
    observed_at: PastTime | None = None
    launched_at: PastTime | None = Field(
        None, description="Launch time, used only when the ad is seen for the first time."
    )

    @model_validator(mode="after")
    def _consistent(self) -> FeedbackIn:
        if self.clicks > self.impressions:
            raise ValueError("clicks must not exceed impressions")
        if self.launched_at and self.observed_at and self.launched_at > self.observed_at:
            raise ValueError("launched_at must not be after observed_at")
        return self


class FeedbackOut(BaseModel):
    ad_id: str
    metrics_id: int
    ctr: Rate
    roas: Roas
    hours_live: float
    winner: bool
    reason: Literal["ctr", "roas", "both"] | None
    job_id: int | None = Field(description="Id of the queued rag_index_winner job, if any.")


class FeedbackBatchIn(Strict):
    items: list[FeedbackIn] = Field(min_length=1)


class FeedbackBatchOut(BaseModel):
    accepted: int
    winners: int
    job_ids: list[int]


class CreativeIn(Strict):
    creative_id: str | None = Field(None, min_length=1, max_length=128)
    video_id: str | None = Field(None, max_length=128)
    video_path: str | None = Field(None, max_length=1024)
    hook_text: str | None = Field(None, max_length=2000)
    cta: str | None = Field(None, max_length=200)
    template: str | None = Field(None, max_length=200)
    video_features: list[float] | None = Field(None, max_length=1024)


class AdIn(Strict):
    ad_id: str = AdId
    launched_at: PastTime | None = None
    name: str | None = Field(None, max_length=300)
    platform: Literal["simulator", "meta"] | None = None
    campaign_id: str | None = Field(None, max_length=128)
    ad_set_id: str | None = Field(None, max_length=128)
    status: Literal["active", "paused", "archived"] | None = None
    daily_budget: float | None = Field(None, ge=0)
    creative: CreativeIn | None = None


class AdOut(BaseModel):
    ad_id: str
    launched_at: datetime
    name: str | None
    platform: str
    campaign_id: str | None
    ad_set_id: str | None
    status: str
    daily_budget: Money | None
    creative_id: str | None
    created_at: datetime


class AdPage(BaseModel):
    data: list[AdOut] = Field(description="Newest first.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null: done.")


class IndexWinnerIn(Strict):
    ad_id: str = AdId
    video_id: str | None = Field(None, max_length=128)
    ctr: float | None = Field(None, ge=0, le=1)
    roas: float | None = Field(None, ge=0)
    impressions: int | None = Field(None, ge=0, le=MAX_COUNT)


class IndexWinnerOut(BaseModel):
    ad_id: str
    indexed: bool
    reason: str
    ctr: Rate
    roas: Roas
    impressions: int
    times_indexed: int
    indexed_at: str


class MemoryStatsOut(BaseModel):
    winner_count: int
    index_size: int
    dimension: int
    embedder: str
    last_indexed_at: str | None
    by_reason: dict[str, int]


class FeaturePayload(Strict):
    hook_text: str | None = Field(None, max_length=2000)
    cta: str | None = Field(None, max_length=200)
    template: str | None = Field(None, max_length=200)
    ctr: float | None = Field(None, ge=0, le=1)
    roas: float | None = Field(None, ge=0)
    impressions: int | None = Field(None, ge=0, le=MAX_COUNT)
    video_features: list[float] | None = Field(None, max_length=1024)


class SearchIn(Strict):
    ad_id: str | None = Field(None, min_length=1, max_length=128)
    features: FeaturePayload | None = None
    k: int = Field(5, ge=1, le=100)

    @model_validator(mode="after")
    def _one_query(self) -> SearchIn:
        if (self.ad_id is None) == (self.features is None):
            raise ValueError("give exactly one of ad_id or features")
        return self


class SearchHit(BaseModel):
    ad_id: str
    similarity: Rate
    reason: str
    ctr: Rate
    roas: Roas
    impressions: int
    video_id: str | None
    hook_text: str | None
    indexed_at: str


class SearchOut(BaseModel):
    results: list[SearchHit]
    k: int
