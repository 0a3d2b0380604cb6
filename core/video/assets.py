"""The tenant's asset library on disk: content checks, storage layout, and the one resolver
operations use for ``asset:<id>`` / ``{"asset_id": ...}`` references.

Files live at ``<media_root>/assets/<tenant>/<asset_id>.<ext>``; the metadata rows are in
``core.db.assets``. The resolver reads only the caller's tenant folder, so an operation can
never reach another tenant's asset, and plain media paths into another tenant's folder are
refused (:func:`resolve_media`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import av
from PIL import Image, ImageFont, UnidentifiedImageError

from core.video.errors import PathNotAllowedError, VideoError
from core.video.safety import resolve_inside, safe_component

AssetKind = Literal["logo", "font", "music", "clip", "image"]
ASSET_KINDS: tuple[str, ...] = ("logo", "font", "music", "clip", "image")
ASSETS_DIR = "assets"
_ID = re.compile(r"^[0-9a-f]{32}$")

# accepted formats per kind: PIL/PyAV format name -> (extension, mime)
_IMAGE_FORMATS = {
    "PNG": ("png", "image/png"),
    "JPEG": ("jpg", "image/jpeg"),
    "WEBP": ("webp", "image/webp"),
}
_FONT_MAGIC = {b"\x00\x01\x00\x00": ("ttf", "font/ttf"), b"true": ("ttf", "font/ttf"),
               b"OTTO": ("otf", "font/otf")}  # fmt: skip
_AUDIO_FORMATS = {
    "mp3": ("mp3", "audio/mpeg"),
    "wav": ("wav", "audio/wav"),
    "ogg": ("ogg", "audio/ogg"),
    "flac": ("flac", "audio/flac"),
    "mov,mp4,m4a,3gp,3g2,mj2": ("m4a", "audio/mp4"),
}
_VIDEO_FORMATS = {
    "mov,mp4,m4a,3gp,3g2,mj2": ("mp4", "video/mp4"),
    "matroska,webm": ("mkv", "video/x-matroska"),
}
EXTENSIONS: dict[str, tuple[str, ...]] = {
    "logo": ("png", "jpg", "webp"),
    "image": ("png", "jpg", "webp"),
    "font": ("ttf", "otf"),
    "music": ("mp3", "wav", "ogg", "flac", "m4a"),
    "clip": ("mp4", "mkv"),
}


class AssetTypeError(VideoError):
    """The uploaded content is not a file of the declared kind."""


class AssetNotFoundError(VideoError):
    """No asset with that id in the caller's tenant."""


@dataclass(frozen=True)
class ContentInfo:
    """What the bytes are, found by decoding them (never from the client's content type)."""

    ext: str
    mime: str
    width: int | None = None
    height: int | None = None
    duration_s: float | None = None


def _image(path: Path) -> ContentInfo:
    try:
        with Image.open(path) as img:
            fmt, size = img.format, img.size
            img.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise AssetTypeError("not a readable PNG, JPEG or WebP image") from exc
    if fmt not in _IMAGE_FORMATS:
        raise AssetTypeError(f"image format {fmt} is not accepted; use PNG, JPEG or WebP")
    ext, mime = _IMAGE_FORMATS[fmt]
    return ContentInfo(ext, mime, width=size[0], height=size[1])


def _font(path: Path) -> ContentInfo:
    with path.open("rb") as f:
        magic = f.read(4)
    if magic not in _FONT_MAGIC:
        raise AssetTypeError("not a TrueType or OpenType font")
    try:
        ImageFont.truetype(str(path), 12)
    except OSError as exc:
        raise AssetTypeError("the font cannot be loaded") from exc
    return ContentInfo(*_FONT_MAGIC[magic])


def _media(path: Path, kind: str) -> ContentInfo:
    want = "audio" if kind == "music" else "video"
    try:
        with av.open(str(path)) as c:
            fmt = c.format.name
            streams = c.streams.audio if want == "audio" else c.streams.video
            if not streams:
                raise AssetTypeError(f"the file has no {want} stream")
            duration = c.duration / av.time_base if c.duration else None
            v = c.streams.video[0] if want == "video" else None
            next(c.decode(streams[0]))  # the first frame decodes
    except (av.FFmpegError, StopIteration, UnicodeDecodeError) as exc:
        raise AssetTypeError(f"not a readable {want} file") from exc
    table = _AUDIO_FORMATS if want == "audio" else _VIDEO_FORMATS
    if fmt not in table:
        raise AssetTypeError(f"container {fmt!r} is not accepted for {kind}")
    ext, mime = table[fmt]
    return ContentInfo(
        ext,
        mime,
        width=v.width if v else None,
        height=v.height if v else None,
        duration_s=round(duration, 3) if duration else None,
    )


def inspect_content(path: Path, kind: str) -> ContentInfo:
    """Check that ``path`` holds a ``kind`` file by decoding it; :class:`AssetTypeError`
    naming the problem otherwise."""
    if kind in ("logo", "image"):
        return _image(path)
    if kind == "font":
        return _font(path)
    if kind in ("music", "clip"):
        return _media(path, kind)
    raise AssetTypeError(f"unknown asset kind {kind!r}; known: {', '.join(ASSET_KINDS)}")


def tenant_dir(media_root: Path, tenant: str) -> Path:
    """``<media_root>/assets/<tenant>`` (the tenant id made one safe path component)."""
    return media_root.resolve() / ASSETS_DIR / safe_component(tenant)


def asset_path(media_root: Path, tenant: str, asset_id: str, ext: str) -> Path:
    return tenant_dir(media_root, tenant) / f"{asset_id}.{ext}"


def parse_ref(value: Any) -> str | None:
    """The asset id of ``"asset:<id>"`` or ``{"asset_id": "<id>"}``; ``None`` for anything
    else (a plain path)."""
    if isinstance(value, dict) and set(value) == {"asset_id"}:
        return str(value["asset_id"])
    if isinstance(value, str) and value.startswith("asset:"):
        return value[len("asset:") :]
    return None


def resolve_asset(
    media_root: Path, tenant: str, asset_id: str, kinds: tuple[str, ...] | None = None
) -> Path:
    """The file of the caller's asset ``asset_id`` (of one of ``kinds``), or
    :class:`AssetNotFoundError`: another tenant's asset is not found, like a missing one."""
    if not _ID.match(asset_id):
        raise AssetNotFoundError(f"asset {asset_id[:40]!r} not found")
    exts = {e for k in (kinds or ASSET_KINDS) for e in EXTENSIONS[k]}
    folder = tenant_dir(media_root, tenant)
    for ext in sorted(exts):
        path = folder / f"{asset_id}.{ext}"
        if path.is_file():
            return path
    wanted = f" of kind {' or '.join(kinds)}" if kinds else ""
    raise AssetNotFoundError(f"asset {asset_id!r}{wanted} not found")


def resolve_media(
    media_root: Path,
    tenant: str,
    value: str | dict[str, str],
    *,
    field: str,
    kinds: tuple[str, ...] | None = None,
) -> Path:
    """A config's file reference: an asset reference (see :func:`parse_ref`) or a path inside
    the media root that is not in another tenant's asset folder."""
    asset_id = parse_ref(value)
    if asset_id is not None:
        return resolve_asset(media_root, tenant, asset_id, kinds)
    if not isinstance(value, str):
        raise VideoError(f"{field} must be a path, 'asset:<id>' or {{'asset_id': '<id>'}}")
    path = resolve_inside(media_root, value, field=field)
    check_not_foreign(media_root, path, tenant, field=field)
    return path


def check_not_foreign(media_root: Path, path: Path, tenant: str, *, field: str) -> None:
    """Refuse a resolved media path inside another tenant's asset folder."""
    assets = media_root.resolve() / ASSETS_DIR
    if path.is_relative_to(assets) and not path.is_relative_to(tenant_dir(media_root, tenant)):
        raise PathNotAllowedError(f"{field} points into another tenant's assets")
