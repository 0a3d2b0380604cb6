"""A generated variant set through the whole loop, on the running app (Ray, Serve, actors) and
the market simulator: variants are made from a registered ad through ``POST
/api/pro/variants`` (registered as ads, arms of a new experiment), published in the simulator
with their creative features (which set their hidden rates), launched, run for simulated
days with the experiment's Thompson allocation setting each ad set's budget, and their
delivery posted as feedback; a variant becomes a winner: its ``rag_index_winner`` job is done
and the winner memory holds it. Also: the background (202) mode."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.platforms.base import AdSpec, BudgetChange
from core.platforms.config import PlatformsConfig
from core.platforms.simulator import MarketSimulator
from core.video.io import probe
from core.video.synth import square_clip

pytestmark = pytest.mark.ray

DAYS = 5
BUDGET = 400.0  # daily, major units, split by the experiment's allocation
# A market where this product is clicked (base CTR 2.5%); seed 3: the variants' features and
# CTAs give two of them a true CTR over the winner rule's 3%, the source stays under it.
MARKET = PlatformsConfig.load().simulator.model_copy(update={"base_ctr": 0.025, "seed": 3})


def poll(check, what: str, timeout: float = 30.0, every: float = 0.1):  # noqa: ANN001, ANN201
    """``check()``'s first truthy answer, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(every)
    raise AssertionError(f"{what}: not within {timeout} s")


@pytest.fixture(scope="module")
def media_root(app_settings) -> Path:
    root = app_settings.resolve(app_settings.media.media_root)
    root.mkdir(parents=True, exist_ok=True)
    square_clip(
        root / "variants-src.mp4", width=320, height=180, fps=20, duration_s=4.0, scene_cuts=3,
        audio=True,
    )  # fmt: skip
    square_clip(root / "variants-small.mp4", duration_s=2.0, scene_cuts=1)
    return root


def cta_type(text: str | None) -> str:
    return (text or "learn more").upper().replace(" ", "_")


def test_a_variant_set_goes_through_the_whole_loop(tenant_client, media_root):
    c = tenant_client()
    source = f"src-{uuid.uuid4().hex[:6]}"
    creative = {"video_path": "variants-src.mp4", "hook_text": "Old hook", "cta": "Learn more"}
    assert c.post("/api/ads", json={"ad_id": source, "creative": creative}).status_code == 200

    # 1. variants, registered as ads and as arms of a new experiment
    r = c.post(
        "/api/pro/variants",
        json={"ad_id": source, "n": 3, "seed": 0, "create_experiment": True, "mode": "sync"},
        timeout=120,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "completed" and body["successful"] == body["total"] == 3
    assert body["patterns"]["winners"] == 0  # a new tenant: configured defaults
    variants = body["variants"]
    exp_id = body["experiment_id"]
    ads = [v["ad_id"] for v in variants]
    assert len(set(ads)) == 3 and sorted(body["arms_added"]) == sorted([source, *ads])
    for v in variants:
        info = probe(v["output_path"])
        assert (info.width, info.height, info.frame_count) == (
            v["plan"]["width"],
            v["plan"]["height"],
            v["plan"]["frames"],
        )
        assert v["plan"]["changes"] and v["plan"]["why"]["cta"]
        ad = c.get(f"/api/ads/{v['ad_id']}").json()
        assert ad["status"] == "paused" and ad["creative_id"] == v["creative_id"]
    arms = {a["ad_id"] for a in c.get(f"/api/ml/experiments/{exp_id}").json()["arms"]}
    assert arms == {source, *ads}

    # 2. published in the simulator with their features (the source's measured too)
    src_features = c.post(
        "/api/pro/creative_features", json={"video_path": "variants-src.mp4"}
    ).json()["data"]["features"]
    sim = MarketSimulator(MARKET)
    campaign = sim.create_campaign("variants")
    adset, sim_ad = {}, {}
    copy = {source: ("Learn more", src_features)} | {
        v["ad_id"]: (v["plan"]["cta"], v["features"]) for v in variants
    }
    for ad_id, (cta, features) in copy.items():
        adset[ad_id] = sim.create_adset(campaign, int(BUDGET * 100 / len(copy)))
        sim_ad[ad_id] = sim.create_ad(
            AdSpec(
                adset_id=adset[ad_id],
                video_path=ad_id,
                name=ad_id,
                idempotency_key=f"pub-{ad_id}",
                call_to_action=cta_type(cta),
                status="ACTIVE",
                features=features,
            )
        ).ad_id
    launched = datetime.now(UTC) - timedelta(days=DAYS + 1)
    for ad_id in copy:
        r = c.post(
            "/api/ads",
            json={"ad_id": ad_id, "launched_at": launched.isoformat(), "status": "active"},
        )
        assert r.status_code == 200, r.text

    # 3. simulated days: allocate by Thompson sampling, deliver, post cumulative feedback
    start = sim.now.date()
    winners: dict[str, int] = {}
    allocation: dict[str, float] = {}
    for day in range(1, DAYS + 1):
        alloc = c.post(
            f"/api/ml/experiments/{exp_id}/allocate",
            json={"total_budget": BUDGET, "min_share": 0.05},
        )
        assert alloc.status_code == 200, alloc.text
        allocation = {a["ad_id"]: a["amount"] for a in alloc.json()["arms"]}
        for ad_id, amount in allocation.items():
            key = f"d{day}-{ad_id}"
            sim.set_budget(BudgetChange(adset[ad_id], max(1, round(amount * 100)), key))
        sim.advance(24)
        observed = launched + timedelta(days=day)
        posted = {}
        for ad_id in copy:
            rows = sim.insights([sim_ad[ad_id]], start, sim.now.date())
            item = {
                "ad_id": ad_id,
                "impressions": sum(x.impressions for x in rows),
                "clicks": sum(x.clicks for x in rows),
                "conversions": sum(x.purchases for x in rows),
                "spend": round(sum(x.spend for x in rows), 2),
                "revenue": round(sum(x.purchase_value for x in rows), 2),
                "observed_at": observed.isoformat(),
            }
            fb = c.post("/api/ml/feedback", json=item)
            assert fb.status_code == 200, fb.text
            if fb.json()["job_id"] is not None:
                winners[ad_id] = fb.json()["job_id"]
            posted[ad_id] = item["impressions"]

        def sampler_caught_up(posted=posted) -> bool:
            arms = c.get(f"/api/ml/experiments/{exp_id}").json()["arms"]
            return all(a["trials"] == posted[a["ad_id"]] for a in arms)

        poll(sampler_caught_up, f"the sampler folding day {day}")

    # 4. a variant is a winner, indexed into the winner memory
    variant_winners = [a for a in ads if a in winners]
    assert variant_winners, f"no variant won; winners: {sorted(winners)}"
    for ad_id in variant_winners:
        job = poll(
            lambda ad_id=ad_id: (
                (j := c.get(f"/api/ml/jobs/{winners[ad_id]}").json())["status"] == "done" and j
            ),
            f"the indexing job of {ad_id}",
        )
        assert job["type"] == "rag_index_winner"
    hits = c.post("/api/ml/rag/search", json={"features": {"hook_text": "x"}, "k": 50}).json()
    assert set(variant_winners) <= {h["ad_id"] for h in hits["results"]}
    assert c.get("/api/ml/rag/memory-stats").json()["winner_count"] == len(winners)

    # 5. Thompson sampling moved the budget to the arms the market rewards
    truth = {ad_id: sim.oracle(sim_ad[ad_id]).ctr for ad_id in copy}
    good = {a for a, ctr in truth.items() if ctr > 0.03}
    top = max(allocation, key=allocation.get)
    assert top in good and top in winners, (top, truth, allocation)
    assert good <= set(ads)  # the arms over the winner rule's CTR are variants
    assert sum(allocation[a] for a in good) >= 0.7 * BUDGET, (truth, allocation)
    assert all(allocation[a] <= 0.1 * BUDGET for a in set(copy) - good), (truth, allocation)


def test_variants_in_the_background_join_an_experiment(tenant_client, media_root):
    c = tenant_client()
    for ad in ("bg-a", "bg-b"):
        assert c.post("/api/ads", json={"ad_id": ad}).status_code == 200
    exp_id = c.post("/api/ml/experiments", json={"ad_ids": ["bg-a", "bg-b"]}).json()[
        "experiment_id"
    ]
    r = c.post(
        "/api/pro/variants",
        json={
            "video_path": "variants-small.mp4",
            "n": 2,
            "mode": "async",
            "seed": 5,
            "experiment_id": exp_id,
        },
    )
    assert r.status_code == 202, r.text
    job_id = r.json()["job_id"]
    assert r.json()["total"] == 2 and r.json()["status_url"] == f"/api/pro/jobs/{job_id}"
    job = poll(
        lambda: (j := c.get(f"/api/pro/jobs/{job_id}").json())["status"] == "completed" and j,
        "the variants job",
        timeout=90,
    )
    assert job["completed"] == job["successful"] == 2
    made = [v["ad_id"] for v in job["results"]]
    for v in job["results"]:
        assert v["status"] == "success" and Path(v["output_path"]).is_file()
        assert v["experiment_id"] == exp_id
        assert c.get(f"/api/ads/{v['ad_id']}").status_code == 200
    arms = {a["ad_id"] for a in c.get(f"/api/ml/experiments/{exp_id}").json()["arms"]}
    assert arms == {"bg-a", "bg-b", *made}
    other = tenant_client()
    assert other.get(f"/api/pro/jobs/{job_id}").status_code == 404
    again = other.post(
        "/api/pro/variants", json={"video_path": "variants-small.mp4", "experiment_id": exp_id}
    )
    assert again.status_code == 404  # another tenant's experiment
