"""``POST /api/pro/variants``: every request refused before any work, with the error shape
(in-process TestClient over ``build_app``, no Ray). The generation itself is tested on the
running app in ``tests/serve_apps/video/test_variants_loop.py``."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from core.db import keys
from core.db.ads import CreativeSpec, upsert_ad
from core.db.engine import Database
from core.settings import Settings
from core.video import MediaRoots, get_video_config
from core.video.synth import square_clip
from serve_apps.gateway.app import build_app
from serve_apps.gateway.services import Services

URL = "/api/pro/variants"
MAX_N = get_video_config().variants.max_n


class Api:
    def __init__(self, client: TestClient, db: Database, roots: MediaRoots) -> None:
        self.client, self.db, self.roots = client, db, roots
        self.acme = {"Authorization": f"Bearer {keys.create_key(db, tenant_id='acme', name='a')}"}
        self.globex = {
            "Authorization": f"Bearer {keys.create_key(db, tenant_id='globex', name='g')}"
        }

    def post(self, body: dict, headers: dict | None = None):
        return self.client.post(URL, json=body, headers=headers or self.acme)


@pytest.fixture(scope="module")
def api(make_settings: Callable[..., Settings]) -> Iterator[Api]:
    settings = make_settings("sqlite", api={"key_cache_ttl_s": 0.0})
    db = Database(settings.db_url)
    roots = MediaRoots.from_settings(settings)
    roots.media_root.mkdir(parents=True, exist_ok=True)
    square_clip(roots.media_root / "src.mp4", duration_s=0.5)
    with db.session() as s:
        upsert_ad(s, tenant_id="acme", ad_id="with-video",
                  creative=CreativeSpec(video_path="src.mp4", hook_text="h", cta="c"))  # fmt: skip
        upsert_ad(s, tenant_id="acme", ad_id="no-video", creative=CreativeSpec(hook_text="h"))
        upsert_ad(s, tenant_id="acme", ad_id="escapes",
                  creative=CreativeSpec(video_path="../../etc/passwd"))  # fmt: skip
        upsert_ad(
            s, tenant_id="globex", ad_id="theirs", creative=CreativeSpec(video_path="src.mp4")
        )
    with TestClient(build_app(Services(settings=settings, db=db))) as client:
        yield Api(client, db, roots)
    db.dispose()


def error(resp, status: int) -> dict:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error", "details"} and body["error"]
    return body


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"video_path": "src.mp4", "n": 0}, "n"),
        ({"video_path": "src.mp4", "n": MAX_N + 1}, f"at most {MAX_N}"),
        ({}, "exactly one of ad_id or video_path"),
        ({"ad_id": "with-video", "video_path": "src.mp4"}, "exactly one of ad_id or video_path"),
        ({"video_path": "src.mp4", "overrides": {"aspects": ["9x16"]}}, "aspect"),
        ({"video_path": "src.mp4", "overrides": {"transition": "explode"}}, "unknown transition"),
        ({"video_path": "src.mp4", "overrides": {"hooks": [" "]}}, "each hook"),
        ({"video_path": "src.mp4", "overrides": {"durations_s": [0.1]}}, "each duration"),
        (
            {"video_path": "src.mp4", "experiment_id": "e", "create_experiment": True},
            "not both",
        ),
        ({"video_path": "src.mp4", "colour": "red"}, "colour"),
        ({"video_path": "src.mp4", "mode": "later"}, "mode"),
    ],
)
def test_invalid_bodies_are_422(api: Api, body: dict, needle: str):
    assert needle in str(error(api.post(body), 422))


def test_unknown_ad_and_another_tenants_ad_are_the_same_404(api: Api):
    missing = error(api.post({"ad_id": "nope"}), 404)
    theirs = error(api.post({"ad_id": "theirs"}), 404)
    assert missing["error"] == theirs["error"] == "unknown ad"
    assert theirs["details"] == {"ad_id": "theirs"}


def test_an_ad_without_a_video_is_422(api: Api):
    assert "no video_path" in error(api.post({"ad_id": "no-video"}), 422)["error"]


@pytest.mark.parametrize("path", ["../secret.mp4", "/etc/passwd", "a/../../b.mp4"])
def test_paths_outside_the_media_root_are_400(api: Api, path: str):
    assert "media root" in error(api.post({"video_path": path}), 400)["error"]


def test_an_ads_video_outside_the_media_root_is_400(api: Api):
    assert "media root" in error(api.post({"ad_id": "escapes"}), 400)["error"]


def test_another_tenants_outputs_are_400(api: Api):
    theirs = api.roots.output_root / "globex" / "variants" / "r" / "x.mp4"
    theirs.parent.mkdir(parents=True, exist_ok=True)
    theirs.write_bytes(b"x")
    assert "output folder" in str(error(api.post({"video_path": str(theirs)}), 400))


def test_unknown_experiment_is_404(api: Api):
    body = error(api.post({"ad_id": "with-video", "experiment_id": "exp_nope"}), 404)
    assert body["error"] == "unknown experiment"


def test_a_new_experiment_needs_two_arms(api: Api):
    body = {"video_path": "src.mp4", "n": 1, "create_experiment": True}
    assert "at least 2 arms" in error(api.post(body), 422)["error"]


@pytest.mark.parametrize(
    ("logo", "needle"),
    [
        ("asset:not-an-id", "not found"),
        ({"asset_id": "0" * 32}, "not found"),
        ("../x.png", "must not contain"),
        ("/etc/passwd", "media root"),
        ("missing.png", "not found"),
        ({"path": "x.png"}, "logo"),
    ],
)
def test_a_bad_logo_is_422(api: Api, logo, needle: str):
    body = error(api.post({"video_path": "src.mp4", "logo": logo}), 422)
    assert needle in str(body)


def test_the_endpoint_is_documented(api: Api):
    doc = api.client.get("/openapi.json").json()
    post = doc["paths"][URL]["post"]
    assert {"200", "202", "400", "404", "422"} <= set(post["responses"])
    schema = post["requestBody"]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]
    assert {"ad_id", "video_path", "n", "seed", "experiment_id", "overrides"} <= set(
        doc["components"]["schemas"][schema]["properties"]
    )
