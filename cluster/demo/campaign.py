"""The demo campaign's launch: an ad set per creative in one campaign, each creative
published as an ad through the safe executor (``create_ad`` changes, paced by the safety
policy's actions per campaign per hour), its copy registered (``POST /api/ads``), and one
experiment over the ads (``POST /api/ml/experiments``), which the learning cycle's
auto-promoter allocates the campaign's budget over."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from cluster.demo.client import Api
from cluster.demo.creatives import Creative
from cluster.demo.history import CreativeRow
from cluster.demo.market import Markets
from core.platforms.base import AdSpec

ACCOUNT = "sim-demo"  # the simulator's ad account (it keeps one market per tenant)
DONE = ("applied", "failed", "rejected", "rolled_back")


def publish_spec(c: Creative) -> dict[str, Any]:
    """The ``create_ad`` change's ``new_value``: the video, its copy, ACTIVE, its features."""
    return {
        "video_path": c.video_path,
        "name": c.name,
        "primary_text": c.hook,
        "headline": c.template,
        "call_to_action": c.cta,
        "status": "ACTIVE",
        "features": c.features or {},
    }


def wait_changes(api: Api, ids: list[int], *, timeout_s: float, poll_s: float) -> list[dict]:
    """The changes ``ids`` once the executor has closed each (in that order)."""
    deadline = time.monotonic() + timeout_s
    done: dict[int, dict] = {}
    while len(done) < len(ids):
        for i in ids:
            if i not in done:
                c = api.get(f"/api/ads/changes/{i}")
                if c["status"] in DONE:
                    done[i] = c
        if len(done) < len(ids):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(ids) - len(done)} change(s) not applied in {timeout_s} s")
            time.sleep(poll_s)
    return [done[i] for i in ids]


def launch(
    api: Api,
    markets: Markets,
    creatives: list[Creative],
    *,
    daily_budget_minor: int,
    per_hour: int,
    timeout_s: float,
    poll_s: float,
    on_published: Callable[[int], None] | None = None,
) -> tuple[list[CreativeRow], str, int]:
    """Publish every creative; (its rows, the experiment id, simulated hours the launch
    took). Each batch of ``per_hour`` publishes is applied within one simulated hour."""
    adsets = markets.create_adsets(len(creatives), daily_budget_minor)
    rows: list[CreativeRow | None] = [None] * len(creatives)
    hours = 0
    for first in range(0, len(creatives), per_hour):
        if first:
            markets.advance(1)
            hours += 1
        batch = list(range(first, min(first + per_hour, len(creatives))))
        ids = []
        for i in batch:
            change = api.post(
                "/api/ads/changes",
                {
                    "kind": "create_ad",
                    "idempotency_key": f"demo:publish:{markets.tenant}:{i}",
                    "account_id": ACCOUNT,
                    "campaign_id": markets.campaign,
                    "ad_set_id": adsets[i],
                    "new_value": publish_spec(creatives[i]),
                    "reason": "demo launch",
                },
            )
            ids.append(change["id"])
        closed = wait_changes(api, ids, timeout_s=timeout_s, poll_s=poll_s)
        bad = [c for c in closed if c["status"] != "applied"]
        if bad:
            raise RuntimeError(f"publish {bad[0]['id']} {bad[0]['status']}: {bad[0]['error']}")
        # the baseline makes the same ads in the order the live market made them
        made = sorted(zip(batch, closed, strict=True), key=lambda p: _serial(p[1]["ad_id"]))
        for i, c in made:
            spec = publish_spec(creatives[i])
            markets.mirror_publish(
                c["ad_id"], AdSpec(adset_id=adsets[i], idempotency_key=f"adc-{c['id']}", **spec)
            )
            rows[i] = _register(api, markets, creatives[i], adsets[i], c)
            if on_published is not None:
                on_published(1)
    experiment = api.post(
        "/api/ml/experiments",
        {"ad_ids": [r.ad_id for r in rows if r], "name": "demo campaign"},
    )
    return [r for r in rows if r], experiment["experiment_id"], hours


def _serial(ad_id: str) -> int:
    return int(ad_id.rsplit("-", 1)[1])


def _register(api: Api, markets: Markets, c: Creative, adset: str, change: dict) -> CreativeRow:
    """The ad's copy (the executor registered the ad with its hook, CTA and features; the
    template is not part of a publish)."""
    ad_id = change["ad_id"]
    creative_id = (change.get("result") or {}).get("creative_id")
    api.post(
        "/api/ads",
        {
            "ad_id": ad_id,
            "creative": {
                "creative_id": creative_id,
                "template": c.template,
                "video_path": c.video_path,
            },
        },
    )
    return CreativeRow(
        ad_id=ad_id,
        ad_set_id=adset,
        name=c.name,
        video_path=c.video_path,
        hook=c.hook,
        cta=c.cta,
        template=c.template,
        features=dict(c.features or {}),
        true_revenue_per_impression=markets.true_value(ad_id),
    )
