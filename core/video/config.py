"""Typed view of ``configs/video.yaml`` (limits, encoding, Ray resources, presets)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from core.settings import read_yaml


class Limits(BaseModel):
    """Bounds on inputs and requests."""

    max_file_bytes: int = Field(500 * 1024 * 1024, ge=1)
    max_duration_s: float = Field(600.0, gt=0)
    max_width: int = Field(4096, ge=16)
    max_height: int = Field(4096, ge=16)
    max_batch_operations: int = Field(50, ge=1)
    read_chunk_frames: int = Field(16, ge=1, le=256)


class Encoding(BaseModel):
    """Defaults of the PyAV writer."""

    video_codec: str = "libx264"
    fallback_codec: str = "mpeg4"
    crf: int = Field(23, ge=0, le=51)
    preset: str = "veryfast"
    pixel_format: str = "yuv420p"
    audio_codec: str = "aac"
    audio_bitrate: int = Field(128_000, ge=8_000)
    container: str = "mp4"
    threads: int = Field(0, ge=0, le=64)  # codec and filter threads; 0 = FFmpeg's choice
    decode_threads: int = Field(0, ge=0, le=64)  # decoder threads; 0 = FFmpeg's choice


class Decoding(BaseModel):
    """How frames are read for analyses (``core.video.io.FrameReader``)."""

    model_config = ConfigDict(extra="forbid")

    backend: Literal["auto", "pyav", "decord"] = "auto"
    # auto: PyAV (threaded, one cached scaler) for full-size reads; decord (chunked get_batch) for
    # downscaled reads of sources up to this many pixels (measured faster there)
    decord_max_pixels: int = Field(250_000, ge=0)


class GpuCodecs(BaseModel):
    """NVIDIA codecs of PyAV's FFmpeg, used when a task holds a GPU; CPU when they fail to open."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    decoder: str = "h264_cuvid"  # for H.264 inputs
    encoder: str = "h264_nvenc"  # replaces libx264
    encoder_options: dict[str, str] = {"preset": "p4", "cq": "23"}


class Loudness(BaseModel):
    """EBU R128 normalisation: true-peak limiter and convergence of the second pass."""

    model_config = ConfigDict(extra="forbid")

    oversample: int = Field(4, ge=1, le=8)  # true-peak estimate (ITU-R BS.1770-4 annex 2)
    lookahead_ms: float = Field(5.0, gt=0, le=50)
    release_ms: float = Field(80.0, gt=0, le=1000)
    tolerance_lu: float = Field(0.3, gt=0, le=1)
    max_passes: int = Field(6, ge=1, le=10)


class TaskResources(BaseModel):
    """Ray resources of one operation task."""

    num_cpus: float = Field(1.0, ge=0)
    num_gpus: float = Field(0.0, ge=0)


class Resources(BaseModel):
    cpu: TaskResources = TaskResources()
    gpu: TaskResources = TaskResources(num_cpus=1, num_gpus=0.25)
    max_retries: int = Field(1, ge=0)


class BatchConfig(BaseModel):
    async_threshold: int = Field(4, ge=1)
    job_actor_name: str = "pro_video_jobs"


class SceneDefaults(BaseModel):
    threshold: float = Field(0.35, gt=0, le=1)
    min_scene_s: float = Field(0.4, ge=0)
    analysis_width: int = Field(160, ge=16)


class HookDefaults(BaseModel):
    seconds: float = Field(3.0, gt=0)


class ThumbnailDefaults(BaseModel):
    sample_every_s: float = Field(0.25, gt=0)
    count: int = Field(3, ge=1)


class VideoConfig(BaseModel):
    """All of ``configs/video.yaml``."""

    limits: Limits = Limits()
    encoding: Encoding = Encoding()
    decoding: Decoding = Decoding()
    gpu_codecs: GpuCodecs = GpuCodecs()
    loudness: Loudness = Loudness()
    resources: Resources = Resources()
    gpu_capable: list[str] = []
    batch: BatchConfig = BatchConfig()
    platform_presets: dict[str, tuple[int, int]] = {}
    color_presets: dict[str, dict] = {}
    scene_detect: SceneDefaults = SceneDefaults()
    hook: HookDefaults = HookDefaults()
    thumbnail: ThumbnailDefaults = ThumbnailDefaults()

    @classmethod
    def load(cls, path: Path | None = None) -> VideoConfig:
        """Read the YAML (``config_dir()/video.yaml``); defaults when it is absent."""
        return cls.model_validate(read_yaml("video.yaml", path))


@lru_cache(maxsize=1)
def get_video_config() -> VideoConfig:
    """The process-wide video config (read once)."""
    return VideoConfig.load()
