"""The tenant's asset library (logos, fonts, music, clips, images) for pro video operations.

Uploads are multipart (``file``, ``kind``, optional ``name`` and comma-separated ``tags``);
the content is checked by decoding it, never by the client's content type. Files go to
``<media_root>/assets/<tenant>/``; operation configs reference them as ``asset:<id>`` or
``{"asset_id": "<id>"}``. Another tenant's asset answers 404.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Query, Response, UploadFile, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from core.db.assets import AssetRecord, get_asset, list_assets
from core.db.paging import BadCursor
from core.video import MediaRoots, get_video_config
from core.video.assets import AssetTypeError
from core.video.library import AssetTooLargeError, remove_asset, save_upload
from serve_apps.gateway.deps import PageDep, ServicesDep, TenantDep
from serve_apps.gateway.errors import ApiError

router = APIRouter(prefix="/api/pro/assets", tags=["assets"])

Kind = Literal["logo", "font", "music", "clip", "image"]
MAX_TAGS, MAX_TAG_CHARS = 20, 40


class AssetOut(BaseModel):
    """One asset; ``ref`` is what an operation config uses to point at it."""

    asset_id: str
    ref: str
    kind: str
    name: str
    tags: list[str]
    filename: str
    size_bytes: int
    sha256: str
    mime: str
    duration_s: float | None
    width: int | None
    height: int | None
    created_at: datetime
    duplicate: bool = False  # the upload matched content the tenant already had

    @classmethod
    def of(cls, r: AssetRecord, *, duplicate: bool = False) -> AssetOut:
        return cls(
            ref=f"asset:{r.asset_id}",
            duplicate=duplicate,
            **{k: getattr(r, k) for k in cls.model_fields if k not in ("ref", "duplicate")},
        )


class AssetList(BaseModel):
    items: list[AssetOut]
    next_cursor: str | None


def parse_tags(raw: str | None) -> list[str]:
    """Comma-separated tags: trimmed, de-duplicated, bounded (422 otherwise)."""
    tags: list[str] = []
    for tag in (raw or "").split(","):
        tag = tag.strip()
        if tag and tag not in tags:
            tags.append(tag)
    if len(tags) > MAX_TAGS or any(len(t) > MAX_TAG_CHARS for t in tags):
        raise ApiError(422, f"at most {MAX_TAGS} tags of {MAX_TAG_CHARS} characters", tags)
    return tags


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=AssetOut,
    responses={200: {"model": AssetOut}, 413: {}, 415: {}, 422: {}},
)
async def upload_asset(
    services: ServicesDep,
    tenant: TenantDep,
    file: Annotated[UploadFile, File(description="The asset's bytes.")],
    kind: Annotated[Kind, Form()],
    name: Annotated[str | None, Form(min_length=1, max_length=200)] = None,
    tags: Annotated[str | None, Form(max_length=2000, description="Comma-separated.")] = None,
) -> JSONResponse:
    """Store an upload (201); identical content the tenant already has answers 200 with
    that asset (``duplicate`` true). 413 over the kind's size limit, 415 when the content is
    not a ``kind`` file."""
    tag_list = parse_tags(tags)
    limit = get_video_config().assets.max_bytes[kind]
    filename = (file.filename or "upload").rsplit("/", 1)[-1]
    media_root = MediaRoots.from_settings(services.settings).media_root

    def chunks():  # noqa: ANN202 - a generator of the spooled upload
        while block := file.file.read(1 << 20):
            yield block

    try:
        record, created = await asyncio.to_thread(
            save_upload,
            services.db,
            media_root,
            tenant,
            kind=kind,
            name=name or filename,
            tags=tag_list,
            filename=filename,
            chunks=chunks(),
            max_bytes=limit,
        )
    except AssetTooLargeError as exc:
        raise ApiError(413, f"{kind}: {exc}", {"kind": kind, "max_bytes": limit}) from None
    except AssetTypeError as exc:
        raise ApiError(415, f"not a valid {kind}: {exc}", {"kind": kind}) from None
    body = AssetOut.of(record, duplicate=not created).model_dump(mode="json")
    return JSONResponse(body, status_code=201 if created else 200)


@router.get("", response_model=AssetList)
async def search_assets(
    services: ServicesDep,
    tenant: TenantDep,
    page: PageDep,
    kind: Kind | None = None,
    q: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
) -> AssetList:
    """The tenant's assets, newest first; ``q`` matches name or tags."""
    try:
        found = await asyncio.to_thread(
            list_assets,
            services.db,
            tenant_id=tenant,
            kind=kind,
            q=q,
            limit=page.limit,
            cursor=page.cursor,
        )
    except BadCursor as exc:
        raise ApiError(422, str(exc), {"cursor": page.cursor}) from None
    return AssetList(items=[AssetOut.of(r) for r in found.items], next_cursor=found.next_cursor)


@router.get("/{asset_id}", response_model=AssetOut, responses={404: {}})
async def read_asset(asset_id: str, services: ServicesDep, tenant: TenantDep) -> AssetOut:
    record = await asyncio.to_thread(get_asset, services.db, tenant_id=tenant, asset_id=asset_id)
    if record is None:
        raise ApiError(404, "unknown asset", {"asset_id": asset_id})
    return AssetOut.of(record)


@router.delete("/{asset_id}", status_code=status.HTTP_204_NO_CONTENT, responses={404: {}})
async def delete_asset(asset_id: str, services: ServicesDep, tenant: TenantDep) -> Response:
    """Delete the asset and its file (operations that name it fail from then on)."""
    media_root = MediaRoots.from_settings(services.settings).media_root
    record = await asyncio.to_thread(remove_asset, services.db, media_root, tenant, asset_id)
    if record is None:
        raise ApiError(404, "unknown asset", {"asset_id": asset_id})
    return Response(status_code=status.HTTP_204_NO_CONTENT)
