"""The asset library over HTTP (in-process TestClient over ``build_app``): upload checks by
content, size limits, dedupe, search, tenant isolation and delete."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from core.db import keys
from core.db.engine import Database
from core.settings import Settings
from core.video import MediaRoots, get_video_config
from serve_apps.gateway.app import build_app
from serve_apps.gateway.services import Services
from tests.support.media_files import clip_bytes, font_path, jpeg_bytes, png_bytes, wav_bytes

URL = "/api/pro/assets"


class Api:
    """Clients of two tenants on one app, and its media root."""

    def __init__(self, client: TestClient, db: Database, media_root: Path) -> None:
        self.client, self.db, self.media_root = client, db, media_root
        self.acme = {"Authorization": f"Bearer {keys.create_key(db, tenant_id='acme', name='a')}"}
        self.globex = {"X-API-Key": keys.create_key(db, tenant_id="globex", name="g")}

    def upload(self, data: bytes, kind: str, headers=None, **form: str):
        files = {"file": ("upload.bin", data, "application/octet-stream")}
        return self.client.post(
            URL, files=files, data={"kind": kind, **form}, headers=headers or self.acme
        )


@pytest.fixture
def api(make_settings: Callable[..., Settings]) -> Iterator[Api]:
    settings = make_settings("sqlite", api={"key_cache_ttl_s": 0.0})
    db = Database(settings.db_url)
    with TestClient(build_app(Services(settings=settings, db=db))) as client:
        yield Api(client, db, MediaRoots.from_settings(settings).media_root)
    db.dispose()


def error(resp) -> str:
    body = resp.json()
    assert set(body) == {"error", "details"}
    return body["error"]


@pytest.mark.parametrize(
    "kind, data, mime, size",
    [
        ("logo", png_bytes((40, 20)), "image/png", (40, 20)),
        ("image", jpeg_bytes((32, 24)), "image/jpeg", (32, 24)),
        ("font", font_path().read_bytes(), "font/ttf", (None, None)),
        ("music", wav_bytes(0.5), "audio/wav", (None, None)),
    ],
)
def test_upload_stores_the_file_in_the_tenants_folder(api: Api, kind, data, mime, size):
    resp = api.upload(data, kind, name="Brand mark", tags="brand, summer ,brand")
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["kind"] == kind and body["mime"] == mime and body["size_bytes"] == len(data)
    assert (body["width"], body["height"]) == size
    assert body["name"] == "Brand mark" and body["tags"] == ["brand", "summer"]
    assert body["ref"] == f"asset:{body['asset_id']}" and not body["duplicate"]
    stored = list((api.media_root / "assets" / "acme").iterdir())
    assert len(stored) == 1 and stored[0].stem == body["asset_id"]
    assert stored[0].read_bytes() == data
    if kind == "music":
        assert body["duration_s"] == pytest.approx(0.5, abs=0.05)


def test_clip_upload_has_duration_and_size(api: Api, tmp_path: Path):
    resp = api.upload(clip_bytes(tmp_path), "clip")
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert (body["width"], body["height"], body["mime"]) == (160, 120, "video/mp4")
    assert body["duration_s"] == pytest.approx(0.5, abs=0.1)


@pytest.mark.parametrize(
    "kind, data, message",
    [
        ("logo", b"GIF89a not really a picture" * 10, "not a valid logo"),
        ("logo", wav_bytes(0.1), "PNG, JPEG or WebP"),
        ("font", png_bytes(), "not a TrueType or OpenType font"),
        ("music", png_bytes(), "no audio stream"),
        ("music", b"\x00\x01" * 300, "not a readable audio file"),
        ("clip", png_bytes(), "not accepted for clip"),
        ("clip", wav_bytes(0.2), "no video stream"),
        ("image", b"", "empty"),
    ],
)
def test_wrong_content_is_415_with_a_message(api: Api, kind, data, message):
    resp = api.upload(data, kind)
    assert resp.status_code == 415, resp.text
    assert message in error(resp)
    assert [p for p in (api.media_root / "assets" / "acme").iterdir()] == []  # nothing kept


def test_client_content_type_is_not_trusted(api: Api):
    files = {"file": ("logo.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "image/png")}
    resp = api.client.post(URL, files=files, data={"kind": "logo"}, headers=api.acme)
    assert resp.status_code == 415


def test_bad_form_is_422(api: Api):
    assert api.upload(png_bytes(), "video").status_code == 422  # unknown kind
    assert api.client.post(URL, data={"kind": "logo"}, headers=api.acme).status_code == 422
    too_many = ",".join(f"t{i}" for i in range(30))
    resp = api.upload(png_bytes(), "logo", tags=too_many)
    assert resp.status_code == 422 and "tags" in error(resp)


def test_oversize_upload_is_413(api: Api, monkeypatch: pytest.MonkeyPatch):
    vc = get_video_config()
    small = vc.model_copy(
        update={"assets": vc.assets.model_copy(update={"max_bytes": {"logo": 1000}})}
    )
    monkeypatch.setattr("serve_apps.gateway.routes.assets.get_video_config", lambda: small)
    resp = api.upload(png_bytes((400, 400), (1, 2, 3, 255)) + b"\x00" * 2000, "logo")
    assert resp.status_code == 413 and "limit of 1000 bytes" in error(resp)
    assert list((api.media_root / "assets" / "acme").iterdir()) == []


def test_upload_path_has_its_own_body_limit(api: Api, make_settings):
    # the API-wide limit (1 MiB) would refuse a 1.5 MiB upload; the asset path takes it
    big = png_bytes((1, 1)) + b"\x00" * (1536 * 1024)
    assert len(big) > make_settings("sqlite").api.max_body_bytes
    resp = api.upload(big, "logo")
    assert resp.status_code == 201, resp.text  # trailing bytes after IEND still decode
    over = api.client.post(
        "/api/pro/batch", content=b"{" + b" " * len(big) + b"}", headers=api.acme
    )
    assert over.status_code == 413


def test_identical_content_is_deduplicated_per_tenant(api: Api):
    data = png_bytes((12, 12), (9, 9, 9, 255))
    first = api.upload(data, "logo", name="one").json()
    again = api.upload(data, "logo", name="two")
    assert again.status_code == 200 and again.json()["duplicate"]
    assert again.json()["asset_id"] == first["asset_id"] and again.json()["name"] == "one"
    other = api.upload(data, "logo", headers=api.globex)
    assert other.status_code == 201 and other.json()["asset_id"] != first["asset_id"]
    assert len(list((api.media_root / "assets" / "acme").iterdir())) == 1


def test_search_by_kind_and_text(api: Api):
    api.upload(png_bytes((5, 5)), "logo", name="Summer logo", tags="beach")
    api.upload(font_path().read_bytes(), "font", name="Headline", tags="bold,brand")
    api.upload(png_bytes((6, 6)), "image", name="Hero", tags="brand", headers=api.globex)

    def names(**params) -> list[str]:
        resp = api.client.get(URL, params=params, headers=api.acme)
        assert resp.status_code == 200, resp.text
        return [a["name"] for a in resp.json()["items"]]

    assert names() == ["Headline", "Summer logo"]  # newest first, own tenant only
    assert names(kind="font") == ["Headline"]
    assert names(q="beach") == ["Summer logo"] and names(q="BRAND") == ["Headline"]
    assert names(q="hero") == []
    assert api.client.get(URL, params={"kind": "x"}, headers=api.acme).status_code == 422
    assert api.client.get(URL, params={"cursor": "zz"}, headers=api.acme).status_code == 422


def test_another_tenants_asset_is_404_and_delete_removes_the_file(api: Api):
    asset = api.upload(png_bytes((7, 7)), "logo").json()
    url = f"{URL}/{asset['asset_id']}"
    assert api.client.get(url, headers=api.acme).json()["sha256"] == asset["sha256"]
    for method in ("get", "delete"):
        resp = getattr(api.client, method)(url, headers=api.globex)
        assert resp.status_code == 404 and error(resp) == "unknown asset"
    path = api.media_root / "assets" / "acme" / f"{asset['asset_id']}.png"
    assert path.is_file()
    assert api.client.delete(url, headers=api.acme).status_code == 204
    assert not path.exists()
    assert api.client.get(url, headers=api.acme).status_code == 404
    assert api.client.delete(url, headers=api.acme).status_code == 404


def test_assets_need_a_key_and_are_documented(api: Api):
    assert api.client.get(URL).status_code == 401
    paths = api.client.get("/openapi.json").json()["paths"]
    assert {"post", "get"} <= set(paths[URL]) and {"get", "delete"} <= set(
        paths[URL + "/{asset_id}"]
    )
