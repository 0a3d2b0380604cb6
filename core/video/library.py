"""Saving and deleting library assets: the file in the tenant's folder plus its row.

An upload is streamed to a temporary file inside the tenant's folder (hashed and counted as
it goes), checked by decoding, then renamed to ``<asset_id>.<ext>``; identical content that
the tenant already has is not stored twice (the existing asset is returned).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from pathlib import Path

from core.db.assets import AssetRecord, delete_asset, find_by_hash, insert_asset
from core.db.engine import Database
from core.video.assets import AssetTypeError, inspect_content, tenant_dir
from core.video.errors import VideoError


class AssetTooLargeError(VideoError):
    """The upload is over the kind's size limit."""


def _write(chunks: Iterable[bytes], tmp: Path, max_bytes: int) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    with tmp.open("wb") as f:
        for chunk in chunks:
            size += len(chunk)
            if size > max_bytes:
                raise AssetTooLargeError(f"file is over the limit of {max_bytes} bytes")
            digest.update(chunk)
            f.write(chunk)
    return size, digest.hexdigest()


def save_upload(
    db: Database,
    media_root: Path,
    tenant: str,
    *,
    kind: str,
    name: str,
    tags: list[str],
    filename: str,
    chunks: Iterable[bytes],
    max_bytes: int,
) -> tuple[AssetRecord, bool]:
    """Store an upload; ``(record, True)`` for a new asset, ``(existing, False)`` when the
    tenant already has the same content. Raises :class:`AssetTooLargeError` or
    ``AssetTypeError``; nothing is left behind on failure."""
    folder = tenant_dir(media_root, tenant)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".upload-{uuid.uuid4().hex}.part"
    final: Path | None = None
    try:
        size, sha = _write(chunks, tmp, max_bytes)
        if size == 0:
            raise AssetTypeError("the file is empty")
        info = inspect_content(tmp, kind)
        existing = find_by_hash(db, tenant_id=tenant, sha256=sha)
        if existing is not None:
            return existing, False
        asset_id = uuid.uuid4().hex
        final = folder / f"{asset_id}.{info.ext}"
        tmp.rename(final)
        record, created = insert_asset(
            db,
            record={
                "asset_id": asset_id,
                "tenant_id": tenant,
                "kind": kind,
                "name": name,
                "tags": tags,
                "filename": filename[:255],
                "path": str(final.relative_to(media_root.resolve())),
                "size_bytes": size,
                "sha256": sha,
                "mime": info.mime,
                "duration_s": info.duration_s,
                "width": info.width,
                "height": info.height,
            },
        )
        if not created:
            final.unlink(missing_ok=True)
        return record, created
    except BaseException:
        if final is not None:
            final.unlink(missing_ok=True)
        raise
    finally:
        tmp.unlink(missing_ok=True)


def remove_asset(db: Database, media_root: Path, tenant: str, asset_id: str) -> AssetRecord | None:
    """Delete the tenant's asset (row, then file); ``None`` when it has none of that id."""
    record = delete_asset(db, tenant_id=tenant, asset_id=asset_id)
    if record is None:
        return None
    path = (media_root.resolve() / record.path).resolve()
    if path.is_relative_to(tenant_dir(media_root, tenant)):  # never outside its folder
        path.unlink(missing_ok=True)
    return record
