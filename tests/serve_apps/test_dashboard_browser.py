"""The dashboard in headless Chromium: with a key (in the URL fragment) the page shows what
the test made through the API; without one it shows only the key form; a refused key sends
it back there. A screenshot goes to the test's tmp dir (and to ``ADC_DASHBOARD_PNG``, which
``docs/img/dashboard.png`` was made with)."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from PIL import Image

from core.settings import Settings
from tests.support import chromium, dashboard_world

Client = Callable[..., httpx.Client]


@pytest.fixture(scope="module")
def world(tenant_client: Client, app_settings: Settings) -> dashboard_world.World:
    tenant = f"t-browser-{uuid.uuid4().hex[:6]}"
    client = tenant_client(tenant)
    return dashboard_world.build(client, app_settings, tenant=tenant, label="spring")


def test_the_page_shows_the_tenants_live_state(
    gateway_url: str, world: dashboard_world.World, tmp_path: Path
) -> None:
    url = f"{gateway_url}/dashboard#key={world.key}"
    texts, hidden = chromium.texts_by_id(chromium.dump_dom(url))
    assert hidden["signin"] and not hidden["board"], texts.get("error")
    assert texts["tenant"] == f"tenant {world.tenant}"
    experiments = texts["experiments"]
    assert world.experiment_name in experiments and world.experiment_id in experiments
    assert all(ad in experiments for ad in world.ads) and "Latest allocation of 500" in experiments
    changes = texts["changes"]
    assert f"{world.pending_change} budget spring-adset0 pending – → 5200" in changes
    assert f"{world.applied_change} budget spring-adset1 applied 5000 → 6000" in changes
    assert texts["t-changes"] == "1" and "1 applied" in texts["t-changes-note"]
    assert texts["t-model"] == world.model_version and world.model_version in texts["versions"]
    assert "promoted" in texts["decisions"]
    assert texts["t-cycle"] == "completed" and "winner_refresh: completed" in texts["cycles"]
    assert world.ads[1] in texts["winners"] and texts["t-winners"] == "1"
    assert texts["t-queue"].isdigit()

    png = chromium.screenshot(url, tmp_path / "dashboard.png", size=(1400, 1300))
    image = Image.open(png)
    assert image.format == "PNG" and image.size == (1400, 1300)
    assert len(image.convert("RGB").getcolors(maxcolors=1 << 16) or range(1 << 16)) > 50
    if os.environ.get("ADC_DASHBOARD_PNG"):
        shutil.copyfile(png, os.environ["ADC_DASHBOARD_PNG"])


def test_without_a_key_only_the_form_shows(gateway_url: str, world: dashboard_world.World) -> None:
    texts, hidden = chromium.texts_by_id(chromium.dump_dom(f"{gateway_url}/dashboard"))
    assert not hidden["signin"] and hidden["board"]
    assert world.experiment_name not in texts["board"]

    bad = "adc_0123abcd_not-a-real-secret"
    texts, hidden = chromium.texts_by_id(chromium.dump_dom(f"{gateway_url}/dashboard#key={bad}"))
    assert not hidden["signin"] and hidden["board"]
    assert texts["error"] == "Key refused: invalid API key"
