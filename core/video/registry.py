"""Operation type → (config model, function); GPU capability comes from ``configs/video.yaml``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from core.video.config import VideoConfig, get_video_config
from core.video.errors import VideoError
from core.video.ops import (
    audio_mix,
    caption,
    color_grade,
    creative_features,
    hook_analysis,
    loudness_normalize,
    motion_graphics,
    overlay,
    preview,
    resize,
    scene_detect,
    smart_crop,
    speed,
    thumbnail,
    timeline,
    transcode,
    trim,
)
from core.video.ops.base import OpConfig, OpContext, OpOutput


class UnknownOperationError(VideoError):
    """No operation of that type."""


class ConfigError(VideoError):
    """An operation's config does not validate; ``errors`` lists each problem."""

    def __init__(self, message: str, errors: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.errors = errors


@dataclass(frozen=True)
class Operation:
    """One registered operation."""

    type: str
    config_model: type[OpConfig]
    run: Callable[[OpContext, Any], OpOutput]
    produces_video: bool


OPERATIONS: dict[str, Operation] = {
    op.type: op
    for op in (
        Operation("scene_detect", scene_detect.SceneDetectConfig, scene_detect.run, False),
        Operation("smart_crop", smart_crop.SmartCropConfig, smart_crop.run, True),
        Operation("color_grade", color_grade.ColorGradeConfig, color_grade.run, True),
        Operation("caption", caption.CaptionConfig, caption.run, True),
        Operation("thumbnail", thumbnail.ThumbnailConfig, thumbnail.run, False),
        Operation("trim", trim.TrimConfig, trim.run, True),
        Operation("resize", resize.ResizeConfig, resize.run, True),
        Operation("speed", speed.SpeedConfig, speed.run, True),
        Operation("overlay", overlay.OverlayConfig, overlay.run, True),
        Operation(
            "loudness_normalize", loudness_normalize.LoudnessConfig, loudness_normalize.run, True
        ),
        Operation("hook_analysis", hook_analysis.HookConfig, hook_analysis.run, False),
        Operation(
            "creative_features",
            creative_features.CreativeFeaturesConfig,
            creative_features.run,
            False,
        ),
        Operation("transcode", transcode.TranscodeConfig, transcode.run, True),
        Operation("timeline", timeline.TimelineConfig, timeline.run, True),
        Operation("audio_mix", audio_mix.AudioMixConfig, audio_mix.run, True),
        Operation(
            "motion_graphics", motion_graphics.MotionGraphicsConfig, motion_graphics.run, True
        ),
        Operation("preview", preview.PreviewConfig, preview.run, True),
    )
}


def operation_types() -> list[str]:
    return sorted(OPERATIONS)


def canonical_type(op_type: str) -> str:
    """The registered spelling of a type: hyphens are accepted for underscores
    (``color-grade`` = ``color_grade``, as the reference system's paths used them)."""
    return op_type.replace("-", "_")


def get_operation(op_type: str) -> Operation:
    """The operation, or :class:`UnknownOperationError` naming the known types."""
    try:
        return OPERATIONS[canonical_type(op_type)]
    except KeyError:
        raise UnknownOperationError(
            f"unknown operation type {op_type!r}; known: {', '.join(operation_types())}"
        ) from None


def parse_config(op_type: str, config: dict[str, Any] | None) -> OpConfig:
    """Validated config of ``op_type``, or :class:`ConfigError`."""
    op = get_operation(op_type)
    try:
        return op.config_model.model_validate(config or {})
    except ValidationError as exc:
        errors = [
            {"loc": ".".join(str(p) for p in e["loc"]), "msg": e["msg"]}
            for e in exc.errors(include_url=False, include_input=False)
        ]
        summary = "; ".join(f"{e['loc'] or 'config'}: {e['msg']}" for e in errors)
        raise ConfigError(f"invalid config for {op_type}: {summary}", errors) from None


def is_gpu_capable(op_type: str, video_config: VideoConfig | None = None) -> bool:
    return canonical_type(op_type) in (video_config or get_video_config()).gpu_capable
