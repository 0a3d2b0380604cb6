"""Ad platforms behind one interface (:class:`AdPlatform`): the market simulator (the
embedded default) and Meta (``core.platforms.meta``, imported on demand: it loads the SDK)."""

from core.platforms.base import (
    AdPlatform,
    AdSpec,
    ApplyResult,
    BudgetChange,
    Change,
    InsightRow,
    NotFoundError,
    ObjectState,
    PermanentError,
    PlatformError,
    PublishResult,
    RateLimitedError,
    StatusChange,
    TransientError,
    parse_insight,
)
from core.platforms.config import MetaConfig, PlatformsConfig, SimulatorConfig
from core.platforms.simulator import MarketSimulator, TrueRates

__all__ = [
    "AdPlatform",
    "AdSpec",
    "ApplyResult",
    "BudgetChange",
    "Change",
    "InsightRow",
    "MarketSimulator",
    "MetaConfig",
    "NotFoundError",
    "ObjectState",
    "PermanentError",
    "PlatformError",
    "PlatformsConfig",
    "PublishResult",
    "RateLimitedError",
    "SimulatorConfig",
    "StatusChange",
    "TransientError",
    "TrueRates",
    "parse_insight",
]
