"""Pro video operations (SPEC §6): Ray-free, one module an operation.

Public way in: :func:`run_operation` (any registered type, never raises),
:data:`OPERATIONS` (type → config model and function) and :func:`creative_features`.
"""

from core.video.config import VideoConfig, get_video_config
from core.video.errors import InvalidInputError, PathNotAllowedError, VideoError
from core.video.ops.creative_features import FEATURE_NAMES, creative_features
from core.video.registry import (
    OPERATIONS,
    ConfigError,
    UnknownOperationError,
    canonical_type,
    get_operation,
    is_gpu_capable,
    operation_types,
    parse_config,
)
from core.video.runner import OperationResult, run_operation, validate_operation
from core.video.safety import MediaRoots, resolve_inside

__all__ = [
    "FEATURE_NAMES",
    "OPERATIONS",
    "ConfigError",
    "InvalidInputError",
    "MediaRoots",
    "OperationResult",
    "PathNotAllowedError",
    "UnknownOperationError",
    "VideoConfig",
    "VideoError",
    "canonical_type",
    "creative_features",
    "get_operation",
    "get_video_config",
    "is_gpu_capable",
    "operation_types",
    "parse_config",
    "resolve_inside",
    "run_operation",
    "validate_operation",
]
