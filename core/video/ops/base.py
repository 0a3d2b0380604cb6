"""What every operation shares: its context, its output, the filter-graph writer
(:func:`write_video`) and the numpy frame-mapping loop (:func:`map_frames`)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from core.video.config import VideoConfig
from core.video.io import AudioTrack, FrameReader, VideoInfo, VideoWriter, read_audio
from core.video.pipeline import Filter, transform


class OpConfig(BaseModel):
    """Base of every operation's config: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")

    def media_paths(self) -> list[tuple[str, str]]:
        """``(field, path)`` of every other file the config names, each confined to the
        media root before the operation is queued."""
        return []


class AssetRef(OpConfig):
    """A file of the caller's asset library, by id (``"asset:<id>"`` works as well)."""

    asset_id: str = Field(..., pattern=r"^[0-9a-f]{32}$")


# a media-root path, "asset:<id>" or {"asset_id": "<id>"}
MediaRef = str | AssetRef


@dataclass
class OpContext:
    """Inputs of one operation run."""

    info: VideoInfo
    output_dir: Path
    video_config: VideoConfig
    media_root: Path
    feature_dim: int = 16
    tenant: str = "default"  # whose assets ``asset:<id>`` references resolve to

    def media(
        self,
        value: MediaRef,
        *,
        field: str,
        kinds: tuple[str, ...] | None = None,
    ) -> Path:
        """A config's file reference (a media path or an asset of this tenant), resolved."""
        from core.video.assets import resolve_media

        ref = value.model_dump() if isinstance(value, AssetRef) else value
        return resolve_media(self.media_root, self.tenant, ref, field=field, kinds=kinds)

    @property
    def even_size(self) -> tuple[int, int]:
        return self.info.width - self.info.width % 2, self.info.height - self.info.height % 2

    @property
    def path(self) -> str:
        return self.info.path

    def output(self, name: str) -> Path:
        return self.output_dir / name

    def video_output(self, suffix: str = "") -> Path:
        stem = Path(self.info.path).stem
        return self.output_dir / f"{stem}{suffix}.{self.video_config.encoding.container}"


@dataclass
class OpOutput:
    """Files written (first is the primary one) and analysis data."""

    outputs: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)


def even_crop(ctx: OpContext) -> list[Filter]:
    """A crop to even sides for odd-sized inputs (yuv420p needs them), else nothing."""
    w, h = ctx.even_size
    if (w, h) == (ctx.info.width, ctx.info.height):
        return []
    return [("crop", {"w": str(w), "h": str(h), "x": "0", "y": "0"})]


def write_video(
    ctx: OpContext,
    size: tuple[int, int],
    *,
    filters: Iterable[Filter] = (),
    out: Path | None = None,
    fps: float | None = None,
    **kwargs: Any,
) -> tuple[Path, dict[str, Any]]:
    """Decode, filter (odd inputs cropped to even first) and encode ``size`` frames;
    returns the output and which codecs ran (see :func:`core.video.pipeline.transform`)."""
    crop = even_crop(ctx)
    if crop and kwargs.get("overlays"):  # overlay filters moved one place down the chain
        kwargs["overlays"] = [replace(o, index=o.index + len(crop)) for o in kwargs["overlays"]]
    out = out or ctx.video_output()
    report = transform(
        ctx.path,
        out,
        size,
        fps or ctx.info.fps,
        ctx.video_config,
        filters=[*crop, *filters],
        **kwargs,
    )
    return out, report.as_dict()


FrameFn = Callable[[list[int], np.ndarray], Iterable[np.ndarray]]


def map_frames(
    ctx: OpContext,
    fn: FrameFn,
    size: tuple[int, int],
    *,
    indices: Iterable[int] | None = None,
    audio: AudioTrack | None | bool = True,
    out: Path | None = None,
    fps: float | None = None,
    **writer_kwargs: Any,
) -> Path:
    """Read frames in chunks, apply ``fn(indices, frames)``, write ``size`` frames.

    ``audio=True`` carries the input's audio over unchanged; pass a track to replace it
    or ``False``/``None`` to drop it.
    """
    track = read_audio(ctx.path) if audio is True else (audio or None)
    out = out or ctx.video_output()
    reader = FrameReader(ctx.path, chunk=ctx.video_config.limits.read_chunk_frames)
    with VideoWriter(
        out,
        size[0],
        size[1],
        fps or ctx.info.fps,
        audio=track,
        encoding=ctx.video_config.encoding,
        **writer_kwargs,
    ) as writer:
        w, h = size
        for idx, frames in reader.chunks(indices):
            # odd-sized inputs lose their last row/column (yuv420p needs even sides)
            writer.write_many(f[:h, :w] for f in fn(idx, frames))
    return out


def write_report(ctx: OpContext, name: str, data: dict[str, Any]) -> str:
    """Write ``data`` as JSON next to the other outputs; return its path."""
    path = ctx.output(f"{Path(ctx.info.path).stem}_{name}.json")
    path.write_text(json.dumps(data, indent=2))
    return str(path)
