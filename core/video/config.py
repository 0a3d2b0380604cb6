"""Typed view of ``configs/video.yaml`` (limits, encoding, Ray resources, presets)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from core.config import ConfigModel, load_config


class Limits(ConfigModel):
    """Bounds on inputs and requests."""

    max_file_bytes: int = Field(ge=1)
    max_duration_s: float = Field(gt=0)
    max_width: int = Field(ge=16)
    max_height: int = Field(ge=16)
    max_batch_operations: int = Field(ge=1)
    read_chunk_frames: int = Field(ge=1, le=256)


class Encoding(ConfigModel):
    """Defaults of the PyAV writer."""

    video_codec: str
    fallback_codec: str
    crf: int = Field(ge=0, le=51)
    preset: str
    pixel_format: str
    audio_codec: str
    audio_bitrate: int = Field(ge=8_000)
    container: str
    threads: int = Field(ge=0, le=64)  # codec and filter threads; 0 = FFmpeg's choice
    decode_threads: int = Field(ge=0, le=64)  # decoder threads; 0 = FFmpeg's choice


class Decoding(ConfigModel):
    """How frames are read for analyses (``core.video.io.FrameReader``)."""

    backend: Literal["auto", "pyav", "decord"]
    # auto: PyAV (threaded, one cached scaler) for full-size reads; decord (chunked get_batch) for
    # downscaled reads of sources up to this many pixels (measured faster there)
    decord_max_pixels: int = Field(ge=0)


class GpuCodecs(ConfigModel):
    """NVIDIA codecs of PyAV's FFmpeg, used when a task holds a GPU; CPU when they fail to open."""

    enabled: bool
    decoder: str  # for H.264 inputs
    encoder: str  # replaces libx264
    encoder_options: dict[str, str]


class Loudness(ConfigModel):
    """EBU R128 normalisation: true-peak limiter and convergence of the second pass."""

    oversample: int = Field(ge=1, le=8)  # true-peak estimate (ITU-R BS.1770-4 annex 2)
    lookahead_ms: float = Field(gt=0, le=50)
    release_ms: float = Field(gt=0, le=1000)
    tolerance_lu: float = Field(gt=0, le=1)
    max_passes: int = Field(ge=1, le=10)


class TaskResources(ConfigModel):
    """Ray resources of one operation task."""

    num_cpus: float = Field(ge=0)
    num_gpus: float = Field(ge=0)


class Resources(ConfigModel):
    cpu: TaskResources
    gpu: TaskResources
    max_retries: int = Field(ge=0)


class BatchConfig(ConfigModel):
    async_threshold: int = Field(ge=1)


class SceneDefaults(ConfigModel):
    threshold: float = Field(gt=0, le=1)
    min_scene_s: float = Field(ge=0)
    analysis_width: int = Field(ge=16)


class HookDefaults(ConfigModel):
    seconds: float = Field(gt=0)


class ThumbnailDefaults(ConfigModel):
    sample_every_s: float = Field(gt=0)
    count: int = Field(ge=1)


class TimelineDefaults(ConfigModel):
    """``timeline``: clip count, default transition length, mixing rate and the transition
    names callers may use, each mapped to an ``xfade`` transition (``cut`` needs none)."""

    max_clips: int = Field(ge=1, le=100)
    transition_s: float = Field(gt=0, le=5)
    audio_rate: int = Field(ge=8_000, le=192_000)
    transitions: dict[str, str]


class DuckDefaults(ConfigModel):
    """``sidechaincompress`` on the music, keyed by the voice."""

    threshold_db: float = Field(ge=-60, le=0)
    ratio: float = Field(ge=1, le=20)
    attack_ms: float = Field(ge=0.01, le=2000)
    release_ms: float = Field(ge=0.01, le=9000)


class MixDefaults(ConfigModel):
    """``audio_mix`` (and a timeline's music bed): gains, fades, ducking, loudness target."""

    target_lufs: float = Field(ge=-70, le=0)
    peak_db: float = Field(ge=-20, le=0)
    music_gain_db: float = Field(ge=-60, le=20)
    fade_in_s: float = Field(ge=0)
    fade_out_s: float = Field(ge=0)
    duck: DuckDefaults


class MotionGraphicsDefaults(ConfigModel):
    """Bounds of ``motion_graphics`` requests."""

    max_layers: int = Field(ge=1, le=64)
    max_keyframes: int = Field(ge=2, le=1000)  # per layer
    font_scale: float = Field(gt=0, le=0.5)  # text height as a share of the frame height


class PreviewDefaults(ConfigModel):
    """``preview``: the low-resolution proxy and the animated GIF / WebP."""

    proxy_height: int = Field(ge=64, le=2160)
    proxy_crf: int = Field(ge=0, le=51)
    proxy_preset: str
    width: int = Field(ge=16)  # animated previews
    max_width: int = Field(ge=16)
    fps: float = Field(gt=0)
    max_fps: float = Field(gt=0)
    duration_s: float = Field(gt=0)
    max_duration_s: float = Field(gt=0)
    gif_colors: int = Field(ge=2, le=256)
    webp_quality: int = Field(ge=0, le=100)


class AssetLimits(ConfigModel):
    """The asset library: per-kind upload limits and the request body limit of the upload."""

    max_upload_bytes: int = Field(ge=1024)
    max_bytes: dict[Literal["logo", "font", "music", "clip", "image"], int]


class VariantCaption(ConfigModel):
    """The hook text burned in over a variant's opening clip (``caption`` options)."""

    position: Literal["bottom", "top", "center"]
    font_scale: float = Field(gt=0.01, le=0.3)
    box_opacity: float = Field(ge=0, le=1)


class VariantEndCard(ConfigModel):
    """The CTA end card of a variant (``motion_graphics`` ``end_card`` options)."""

    duration_s: float = Field(gt=0, le=10)
    max_share: float = Field(gt=0, le=1)  # of the variant's length
    background: tuple[int, int, int]
    background_opacity: float = Field(ge=0, le=1)
    font_scale: float = Field(gt=0, le=0.3)


class VariantsDefaults(ConfigModel):
    """The variant generator (``core/video/variants.py``): planning and rendering."""

    max_n: int = Field(ge=1, le=50)
    min_changes: int = Field(ge=1, le=5)
    exploration: float = Field(ge=0, le=5)
    diversity: float = Field(ge=0, le=10)
    max_candidates: int = Field(ge=1, le=10)
    max_winners: int = Field(ge=1)
    default_weight: float = Field(gt=0)
    reframe: Literal["smart_crop", "center"]
    max_hook_s: float = Field(gt=0, le=30)
    min_clip_s: float = Field(gt=0, le=10)
    min_duration_s: float = Field(gt=0)
    transition: str
    transition_s: float = Field(gt=0, le=5)
    cut_rate_for_cuts: float = Field(ge=0)
    aspects: list[str] = Field(min_length=1)
    durations_s: list[float]
    hooks: list[str] = Field(min_length=1)
    ctas: list[str] = Field(min_length=1)
    caption: VariantCaption
    end_card: VariantEndCard
    keep_intermediates: bool


class VideoConfig(ConfigModel):
    """All of ``configs/video.yaml``."""

    limits: Limits
    encoding: Encoding
    decoding: Decoding
    gpu_codecs: GpuCodecs
    loudness: Loudness
    resources: Resources
    gpu_capable: list[str]
    batch: BatchConfig
    platform_presets: dict[str, tuple[int, int]]
    color_presets: dict[str, dict]
    scene_detect: SceneDefaults
    hook: HookDefaults
    thumbnail: ThumbnailDefaults
    timeline: TimelineDefaults
    mixing: MixDefaults
    motion_graphics: MotionGraphicsDefaults
    previews: PreviewDefaults
    assets: AssetLimits
    variants: VariantsDefaults

    @model_validator(mode="after")
    def _variant_names(self) -> VideoConfig:
        """The variants' transition and aspects must be ones the operations know."""
        v = self.variants
        if v.transition != "cut" and v.transition not in self.timeline.transitions:
            raise ValueError(f"variants.transition {v.transition!r} is not a timeline transition")
        for aspect in v.aspects:
            w, _, h = aspect.partition(":")
            if not (w.isdigit() and h.isdigit() and int(w) > 0 and int(h) > 0):
                raise ValueError(f"variants.aspects: {aspect!r} is not W:H")
        return self

    @classmethod
    def load(cls, path: Path | None = None) -> VideoConfig:
        """Read the YAML (``config_dir()/video.yaml``); defaults when it is absent."""
        return load_config("video.yaml", cls, path=path)


@lru_cache(maxsize=1)
def get_video_config() -> VideoConfig:
    """The process-wide video config (read once)."""
    return VideoConfig.load()
