"""The Meta adapter against the fake Graph API server on 127.0.0.1."""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from core.platforms.base import (
    AdSpec,
    ApplyResult,
    BudgetChange,
    NotFoundError,
    PermanentError,
    RateLimitedError,
    StatusChange,
    TransientError,
)
from core.platforms.config import MetaConfig, PlatformsConfig
from core.platforms.meta import CredentialsError, MetaAdapter, MetaCredentials, Secret
from core.platforms.meta import load_credentials as load_creds
from tests.support.fake_graph import UPLOAD_CHUNK, FakeGraph, Faults

TOKEN = "EAAB-sekrit-token-1234567890"


@pytest.fixture
def fake() -> Iterator[FakeGraph]:
    with FakeGraph(token=TOKEN, version=PlatformsConfig.load().meta.api_version) as server:
        yield server


def adapter(fake: FakeGraph, sleeps: list[float] | None = None, **cfg: object) -> MetaAdapter:
    base = PlatformsConfig.load().meta
    config = base.model_copy(update={"graph_url": fake.url, "video_graph_url": fake.url, **cfg})
    creds = MetaCredentials("default", Secret(TOKEN), ("act_1",), page_id="p1")
    record = sleeps.append if sleeps is not None else (lambda s: None)
    return MetaAdapter(config, creds, sleep=record, rng=random.Random(0))


def adsets(fake: FakeGraph, n: int, budget: int = 1000) -> list[str]:
    c = fake.add("campaign", account_id="act_1", status="ACTIVE", name="c")
    return [
        fake.add("adset", account_id="act_1", campaign_id=c, daily_budget=budget, status="ACTIVE")
        for _ in range(n)
    ]


def test_budget_and_status_round_trip_on_the_pinned_version(fake):
    meta = adapter(fake)
    [a] = adsets(fake, 1)
    ad = fake.add("ad", adset_id=a, status="ACTIVE", name="x")
    r = meta.set_budget(BudgetChange(a, 1200, "k1"))
    assert r == ApplyResult(a, "daily_budget", 1200, "k1", {"success": True})
    meta.set_status(StatusChange(ad, "PAUSED", "k2"))
    s = meta.read_state(a)
    assert (s.kind, s.daily_budget_minor, s.status) == ("adset", 1200, "ACTIVE")
    assert meta.read_state(ad).status == "PAUSED" and meta.read_state(ad).kind == "ad"
    assert {c.version for c in fake.calls} == {"v26.0"}
    assert {c.auth for c in fake.calls} == {"header"}  # never as a URL parameter


def test_many_changes_go_out_in_batches_of_fifty(fake):
    meta = adapter(fake)
    ids = adsets(fake, 120)
    out = meta.apply_batch([BudgetChange(a, 1100 + i, f"b{i}") for i, a in enumerate(ids)])
    assert [r.value for r in out] == [1100 + i for i in range(120)]
    outer = [c for c in fake.calls if c.path == "" and c.method == "POST"]
    assert len(outer) == 3 and len(fake.api_calls("POST")) == 120
    assert all(fake.objects[a]["daily_budget"] == 1100 + i for i, a in enumerate(ids))


def test_injected_rate_limits_and_5xx_are_retried_until_applied(fake):
    fake.faults = Faults(error_rate=0.3, lost_rate=0.1, seed=3)
    sleeps: list[float] = []
    meta = adapter(fake, sleeps, max_attempts=30)
    ids = adsets(fake, 60)
    out = meta.apply_batch([StatusChange(a, "PAUSED", f"s{i}") for i, a in enumerate(ids)])
    assert all(isinstance(r, ApplyResult) for r in out)
    assert all(fake.objects[a]["status"] == "PAUSED" for a in ids)
    for i, a in enumerate(ids[:10]):
        meta.set_budget(BudgetChange(a, 900 + i, f"one{i}"))
        assert fake.objects[a]["daily_budget"] == 900 + i
    failed = [c for c in fake.calls if c.status != 200]
    assert failed and sleeps and len(sleeps) >= 1


def test_errors_are_classified_and_permanent_ones_not_retried(fake):
    sleeps: list[float] = []
    meta = adapter(fake, sleeps, max_attempts=3)
    with pytest.raises(NotFoundError, match="Graph error 100"):
        meta.set_budget(BudgetChange("999999", 1000, "k"))
    assert len(fake.api_calls()) == 1 and sleeps == []
    [a] = adsets(fake, 1)
    fake.faults = Faults(error_rate=1.0, codes=(17,))
    with pytest.raises(RateLimitedError, match="Graph error 17") as info:
        meta.set_budget(BudgetChange(a, 1100, "k"))
    assert info.value.retry_after_s is not None and len(sleeps) == 2
    fake.faults = Faults(error_rate=1.0, codes=(500,))
    with pytest.raises(TransientError, match="Graph error 2"):
        meta.set_status(StatusChange(a, "PAUSED", "k"))
    [err] = meta.apply_batch([BudgetChange(a, 1100, "k")])
    assert isinstance(err, TransientError)


def test_high_usage_slows_down_before_the_limit(fake):
    sleeps: list[float] = []
    meta = adapter(fake, sleeps)
    [a] = adsets(fake, 1)
    fake.faults = Faults(usage_pct=50)
    meta.set_budget(BudgetChange(a, 1100, "k1"))
    meta.set_budget(BudgetChange(a, 1200, "k2"))
    assert sleeps == []
    fake.faults = Faults(usage_pct=95)
    meta.set_budget(BudgetChange(a, 1300, "k3"))  # reads 95%
    meta.set_budget(BudgetChange(a, 1400, "k4"))  # pauses first
    cfg = meta.config
    expected = cfg.max_slow_down_s * (95 - cfg.slow_down_at_pct) / (100 - cfg.slow_down_at_pct)
    assert sleeps == [pytest.approx(expected)]
    fake.faults = Faults(usage_pct=100, regain_min=2)
    meta.set_budget(BudgetChange(a, 1500, "k5"))
    meta.set_budget(BudgetChange(a, 1600, "k6"))
    assert sleeps[-1] == pytest.approx(120, abs=1)


def test_publish_uploads_in_chunks_and_creates_one_paused_ad_per_key(fake, tmp_path: Path):
    video = tmp_path / "clip.mp4"
    payload = os.urandom(UPLOAD_CHUNK * 2 + 123)
    video.write_bytes(payload)
    meta = adapter(fake)
    [a] = adsets(fake, 1)
    spec = AdSpec(a, str(video), "Hook A", "pub-1", primary_text="Buy", call_to_action="SHOP_NOW")
    first = meta.create_ad(spec)
    assert first.created and first.status == "PAUSED"
    assert bytes(fake.videos[first.video_id]) == payload
    transfers = [c for c in fake.calls if c.params.get("upload_phase") == "transfer"]
    assert len(transfers) == 3
    ad = fake.objects[first.ad_id]
    assert ad["status"] == "PAUSED" and ad["creative"] == {"creative_id": first.creative_id}
    story = fake.objects[first.creative_id]["object_story_spec"]
    assert story["video_data"]["video_id"] == first.video_id and story["page_id"] == "p1"
    again = meta.create_ad(spec)
    assert not again.created and again.ad_id == first.ad_id
    assert (again.creative_id, again.video_id) == (first.creative_id, first.video_id)
    assert [len(fake.of_type(k)) for k in ("video", "creative", "ad")] == [1, 1, 1]
    live = meta.create_ad(AdSpec(a, str(video), "Hook B", "pub-2", status="ACTIVE"))
    assert fake.objects[live.ad_id]["status"] == "ACTIVE"


def test_publish_with_lost_responses_still_creates_exactly_one_of_each(fake, tmp_path):
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"x" * 1000)
    [a] = adsets(fake, 1)
    fake.faults = Faults(lost_rate=0.4, seed=5)
    meta = adapter(fake, max_attempts=1)
    spec = AdSpec(a, str(video), "Hook", "pub-lost")
    result = None
    for _ in range(30):  # the executor's retries: read back (look up), then try again
        try:
            result = meta.create_ad(spec)
            break
        except TransientError:
            continue
    assert result is not None
    assert [len(fake.of_type(k)) for k in ("creative", "ad")] == [1, 1]


def test_insights_are_parsed_with_purchases(fake):
    fake.insight_rows = [
        {
            "ad_id": "11",
            "date_start": "2025-01-02",
            "date_stop": "2025-01-02",
            "impressions": "1000",
            "clicks": "31",
            "spend": "12.345",
            "actions": [
                {"action_type": "link_click", "value": "31"},
                {"action_type": "offsite_conversion.fb_pixel_purchase", "value": "2"},
            ],
            "action_values": [
                {"action_type": "offsite_conversion.fb_pixel_purchase", "value": "80.5"}
            ],
        },
        {
            "ad_id": "12",
            "date_start": "2025-01-02",
            "date_stop": "2025-01-02",
            "impressions": "5",
            "clicks": "0",
            "spend": "0.10",
        },
    ]
    [row] = adapter(fake).insights(["11"], date(2025, 1, 1), date(2025, 1, 3))
    assert (row.ad_id, row.day, row.impressions, row.clicks) == ("11", date(2025, 1, 2), 1000, 31)
    assert (row.spend, row.purchases, row.purchase_value) == (12.35, 2, 80.5)
    [call] = fake.api_calls("GET")
    assert call.params["level"] == "ad" and call.params["time_increment"] == "1"


def test_the_token_is_never_logged_or_returned(fake, caplog, tmp_path):
    caplog.set_level(logging.DEBUG)
    meta = adapter(fake, max_attempts=2)
    [a] = adsets(fake, 1)
    seen = [repr(meta), repr(meta.set_budget(BudgetChange(a, 1100, "k")))]
    fake.faults = Faults(error_rate=1.0, codes=(17, 500))
    for call in (
        lambda: meta.set_budget(BudgetChange(a, 1200, "k")),
        lambda: meta.read_state("nope"),
    ):
        with pytest.raises(Exception) as info:
            call()
        seen.append(str(info.value))
    fake.faults = Faults()
    bad = MetaAdapter(meta.config, MetaCredentials("t", Secret("wrong-" + TOKEN), ("act_1",)))
    with pytest.raises(PermanentError, match="190") as info:
        bad.read_state(a)
    seen += [str(info.value), repr(Secret(TOKEN)), str(MetaCredentials("t", Secret(TOKEN), ()))]
    assert caplog.records and "meta retry" in caplog.text
    assert all(TOKEN not in s for s in seen + [caplog.text])


def meta_config(**kw: object) -> MetaConfig:
    return PlatformsConfig.load().meta.model_copy(update=kw)


def test_credentials_from_env_and_from_a_private_secrets_file(tmp_path):
    env = {"META_ACCESS_TOKEN_ACME_CO": TOKEN, "META_AD_ACCOUNTS_ACME_CO": "act_1, act_2"}
    c = load_creds("acme-co", meta_config(), env)
    assert c.ad_account_ids == ("act_1", "act_2") and c.access_token.reveal() == TOKEN
    f = tmp_path / "meta.yaml"
    f.write_text(f"tenants:\n  default:\n    access_token: {TOKEN}\n    ad_accounts: [act_9]\n")
    f.chmod(0o600)
    c = load_creds("default", meta_config(secrets_file=str(f)), {})
    assert c.ad_account_ids == ("act_9",) and c.page_id is None


@pytest.mark.parametrize(
    ("mode", "env", "tenant", "match"),
    [
        (0o644, {}, "default", r"readable by others \(mode 0644\); chmod 600"),
        (0o640, {}, "default", r"readable by others \(mode 0640\)"),
        (0o600, {}, "other", "no access_token for tenant other"),
        (None, {}, "default", "no Meta credentials for tenant default"),
        (None, {"META_ACCESS_TOKEN_DEFAULT": "x"}, "default", "no ad accounts"),
        (
            None,
            {"META_ACCESS_TOKEN_DEFAULT": "x", "META_AD_ACCOUNTS_DEFAULT": "123"},
            "default",
            "must start with act_",
        ),
    ],
)
def test_bad_credentials_are_refused(tmp_path, mode, env, tenant, match):
    f = tmp_path / "meta.yaml"
    f.write_text(f"tenants:\n  default:\n    access_token: {TOKEN}\n    ad_accounts: [act_9]\n")
    cfg = meta_config()
    if mode is not None:
        f.chmod(mode)
        cfg = meta_config(secrets_file=str(f))
    with pytest.raises(CredentialsError, match=match) as info:
        load_creds(tenant, cfg, env)
    assert TOKEN not in str(info.value)


def test_read_states_is_one_batch_request_with_budgets_where_asked(fake):
    meta = adapter(fake)
    a, b = adsets(fake, 2, budget=1500)
    ad = fake.add("ad", adset_id=a, status="PAUSED", name="x")
    before = len([c for c in fake.calls if not c.in_batch])
    states = meta.read_states([a, ad, "404404"], budgets=[True, False, False])
    assert len([c for c in fake.calls if not c.in_batch]) == before + 1  # one HTTP request
    assert (states[0].kind, states[0].daily_budget_minor) == ("adset", 1500)
    assert (states[1].kind, states[1].status, states[1].daily_budget_minor) == (
        "ad",
        "PAUSED",
        None,
    )
    assert isinstance(states[2], NotFoundError)
