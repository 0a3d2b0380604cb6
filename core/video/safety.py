"""Path confinement and input limits for video operations."""

from __future__ import annotations

import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

from core.video.config import Limits
from core.video.errors import InvalidInputError, PathNotAllowedError


@dataclass(frozen=True)
class MediaRoots:
    """Where inputs may be read from and outputs written to (absolute paths)."""

    media_root: Path
    output_root: Path

    @classmethod
    def from_settings(cls, settings) -> MediaRoots:  # noqa: ANN001 - core.settings.Settings
        return cls(
            media_root=settings.resolve(settings.media.media_root).resolve(),
            output_root=settings.resolve(settings.media.output_root).resolve(),
        )


def resolve_inside(root: Path, user_path: str, *, field: str = "video_path") -> Path:
    """Resolve ``user_path`` (relative to ``root`` or absolute) and refuse any escape.

    Rejects ``..`` components, absolute paths elsewhere and symlinks that lead
    outside ``root`` (the path is resolved with symlinks followed before the check).
    """
    if not user_path or "\x00" in user_path:
        raise PathNotAllowedError(f"{field} is empty or invalid")
    raw = Path(user_path)
    if ".." in raw.parts:
        raise PathNotAllowedError(f"{field} must not contain '..'")
    root = root.resolve()
    candidate = raw if raw.is_absolute() else root / raw
    resolved = Path(os.path.realpath(candidate))
    if resolved != root and root not in resolved.parents:
        raise PathNotAllowedError(f"{field} resolves outside the media root")
    return resolved


def own_outputs(roots: MediaRoots, tenant: str) -> Path:
    """The tenant's folder under the output root (every API run writes inside it)."""
    return roots.output_root / safe_component(tenant)


def resolve_input(
    roots: MediaRoots, user_path: str, tenant: str, *, field: str = "video_path"
) -> Path:
    """A file an operation reads: inside the media root (relative or absolute), or, given as
    an absolute path, inside the tenant's own output folder, so one operation's output can be
    the next one's input. Anything else: :class:`PathNotAllowedError`."""
    try:
        return resolve_inside(roots.media_root, user_path, field=field)
    except PathNotAllowedError:
        if not Path(user_path).is_absolute() or ".." in Path(user_path).parts:
            raise
        try:
            return resolve_inside(own_outputs(roots, tenant), user_path, field=field)
        except PathNotAllowedError:
            raise PathNotAllowedError(
                f"{field} resolves outside the media root and your output folder"
            ) from None


def check_input_file(path: Path, limits: Limits) -> None:
    """Existence, type and size checks before any decoding."""
    if not path.exists():
        raise InvalidInputError(f"file not found: {path.name}")
    if not path.is_file():
        raise InvalidInputError(f"not a regular file: {path.name}")
    size = path.stat().st_size
    if size == 0:
        raise InvalidInputError(f"file is empty: {path.name}")
    if size > limits.max_file_bytes:
        raise InvalidInputError(
            f"file is {size} bytes, over the limit of {limits.max_file_bytes} bytes"
        )


def safe_component(name: str) -> str:
    """``name`` as one safe path component (tenant ids, run ids): ``[A-Za-z0-9_.-]`` only."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:64].strip(".")
    return cleaned or "_"


def new_output_dir(output_root: Path, *parts: str) -> Path:
    """A fresh folder under ``output_root`` (``parts`` plus a random id), created."""
    safe = [p for p in parts if p and "/" not in p and p not in (".", "..")]
    out = output_root.joinpath(*safe, uuid.uuid4().hex[:12])
    out.mkdir(parents=True, exist_ok=True)
    return out
