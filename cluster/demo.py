"""The main job: a demo campaign end to end on local Ray, SQLite and synthetic traffic.

Registers ads with creative copy, streams cumulative feedback for them over HTTP (the way
an ad platform reports), lets the database trigger and the job consumer index winners into
the winner memory, runs a self-learning cycle over HTTP (the seven loops), then writes a
report with a plot under ``<data_dir>/report/``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from cluster import runtime
from core.db.engine import Database
from core.db.keys import create_key, ensure_first_key
from core.domain.winner import WinnerRule, derive_ctr, derive_roas, is_winner
from core.settings import Settings

HOOKS = [
    "Stop scrolling: 50% off today only",
    "How I cut my grocery bill in half",
    "The last running shoe you will need",
    "POV: your skin after 7 days",
    "3 mistakes everyone makes with coffee",
    "Unboxing the smartest backpack",
    "Why pros switched to this razor",
    "Meal prep in 10 minutes flat",
]
CTAS = ["Shop now", "Learn more", "Sign up", "Get offer"]
TEMPLATES = ["ugc-selfie", "product-closeup", "before-after", "listicle"]


@dataclass(frozen=True)
class DemoAd:
    ad_id: str
    hook: str
    true_ctr: float
    true_roas: float
    launched_at: datetime


def synth_campaign(n_ads: int, seed: int = 7) -> list[DemoAd]:
    rng = np.random.default_rng(seed)
    now = datetime.now(UTC)
    return [
        DemoAd(
            ad_id=f"demo-ad-{i:03d}",
            hook=HOOKS[i % len(HOOKS)],
            true_ctr=float(rng.beta(2, 80)),
            true_roas=float(rng.gamma(2.0, 1.0)),
            launched_at=now - timedelta(hours=float(rng.uniform(30, 120))),
        )
        for i in range(n_ads)
    ]


def _post(client: httpx.Client, path: str, body: dict) -> dict:
    r = client.post(path, json=body)
    if r.status_code >= 400:
        raise RuntimeError(f"{path} answered {r.status_code}: {r.text[:300]}")
    return r.json()


def run_demo(
    settings: Settings,
    *,
    console: Console,
    n_ads: int = 24,
    rounds: int = 6,
    keep_running: bool = False,
    port: int | None = None,
) -> dict:
    console.print("[bold]adcluster demo[/bold]: local Ray, SQLite, synthetic campaign")
    running = runtime.up(settings, "local", port=port)
    console.print(f"gateway at [bold]{running.url}[/bold] (OpenAPI docs at {running.url}/docs)")
    db = Database(settings.db_url)
    try:
        key = ensure_first_key(db, settings)
        if key:
            console.print(f"first API key (shown once, store it now): [bold]{key}[/bold]")
        else:  # a later run on the same data dir: the demo gets a key of its own
            key = create_key(db, tenant_id=settings.tenant_id, name="demo", rate_limit_per_min=0)
    finally:
        db.dispose()
    headers = {"Authorization": f"Bearer {key}"}
    client = httpx.Client(base_url=running.url, headers=headers, timeout=30)
    ads = synth_campaign(n_ads)
    rng = np.random.default_rng(11)
    winners_acked: set[str] = set()
    rule = settings.winner
    with Progress(console=console) as progress:
        task = progress.add_task("registering ads", total=n_ads)
        for i, ad in enumerate(ads):
            _post(
                client,
                "/api/ads",
                {
                    "ad_id": ad.ad_id,
                    "launched_at": ad.launched_at.isoformat(),
                    "creative": {
                        "hook_text": ad.hook,
                        "cta": CTAS[i % len(CTAS)],
                        "template": TEMPLATES[i % len(TEMPLATES)],
                    },
                },
            )
            progress.advance(task)
        task = progress.add_task("streaming feedback", total=rounds)
        totals = {ad.ad_id: [0, 0, 0.0, 0.0] for ad in ads}
        for _ in range(rounds):
            items = []
            for ad in ads:
                t = totals[ad.ad_id]
                imps = int(rng.integers(150, 400))
                t[0] += imps
                t[1] += int(rng.binomial(imps, ad.true_ctr))
                spend = imps * 0.01
                t[2] += spend
                t[3] += spend * ad.true_roas * float(rng.uniform(0.8, 1.2))
                items.append(
                    {
                        "ad_id": ad.ad_id,
                        "impressions": t[0],
                        "clicks": t[1],
                        "spend": round(t[2], 2),
                        "revenue": round(t[3], 2),
                    }
                )
            out = _post(client, "/api/ml/feedback/batch", {"items": items})
            if out["winners"]:
                winners_acked |= {ad.ad_id for ad in ads if _is_winner(ad, totals, rule)}
            progress.advance(task)
        task = progress.add_task("indexing winners", total=len(winners_acked) or 1)
        stats = {}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            stats = client.get("/api/ml/rag/memory-stats").json()
            progress.update(task, completed=stats["winner_count"])
            if stats["winner_count"] >= len(winners_acked):
                break
            time.sleep(0.3)
        task = progress.add_task("self-learning cycle", total=1)
        cycle = _post(client, "/api/ml/self-learning-cycle", {"wait_s": 300})
        insights = client.get("/api/ml/insights").json()["result"].get("insights", [])
        progress.advance(task)
    search = _post(
        client, "/api/ml/rag/search", {"features": {"hook_text": "50% off sale today"}, "k": 3}
    )
    report = write_report(settings, ads, totals, winners_acked, stats, search, cycle, insights)
    steps = Table(title=f"self-learning cycle {cycle['cycle_id'][:8]}: {cycle['status']}")
    for col in ("loop", "status", "result"):
        steps.add_column(col)
    for step in cycle["steps"]:
        steps.add_row(step["name"], step["status"], _step_summary(step))
    console.print(steps)
    table = Table(title="winner memory")
    for col in ("ad_id", "similarity", "reason", "ctr", "roas"):
        table.add_column(col)
    for hit in search["results"]:
        table.add_row(
            hit["ad_id"],
            f"{hit['similarity']:.3f}",
            hit["reason"],
            f"{hit['ctr']:.3%}",
            f"{hit['roas']:.2f}",
        )
    console.print(table)
    console.print(
        f"{stats['winner_count']} winners indexed of {n_ads} ads "
        f"(by reason: {stats['by_reason']}); report: [bold]{report}[/bold]"
    )
    console.print(f"API: {running.url}  docs: {running.url}/docs")
    if keep_running:
        console.print("serving; Ctrl-C to stop")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return {"url": running.url, "stats": stats, "report": str(report)}


def _is_winner(ad: DemoAd, totals: dict[str, list], rule: WinnerRule) -> bool:
    """The winner rule on an ad's totals so far (the same rule the database trigger applies)."""
    imps, clicks, spend, revenue = totals[ad.ad_id]
    return is_winner(
        hours_live=(datetime.now(UTC) - ad.launched_at).total_seconds() / 3600,
        impressions=imps,
        ctr=derive_ctr(imps, clicks),
        roas=derive_roas(round(spend, 2), round(revenue, 2)),
        rule=rule,
    )


def _step_summary(step: dict) -> str:
    counts = {k: v for k, v in step.get("counts", {}).items() if isinstance(v, int | float)}
    text = ", ".join(f"{k}={v}" for k, v in list(counts.items())[:4])
    note = step.get("reason") or step.get("error")
    return f"{text} ({note})" if note else text


def write_report(settings: Settings, ads, totals, winners, stats, search, cycle, insights) -> Path:  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = settings.data_path / "report"
    out.mkdir(parents=True, exist_ok=True)
    ctr = np.array([totals[a.ad_id][1] / totals[a.ad_id][0] for a in ads])
    roas = np.array([totals[a.ad_id][3] / totals[a.ad_id][2] for a in ads])
    w = settings.winner
    win = np.array([a.ad_id in winners for a in ads])
    fig, ax = plt.subplots(figsize=(7, 5))
    ax.scatter(ctr[~win] * 100, roas[~win], label="other ads", c="#999999")
    ax.scatter(ctr[win] * 100, roas[win], label="winners", c="#d62728")
    ax.axvline(w.min_ctr * 100, ls="--", c="k", lw=0.8)
    ax.axhline(w.min_roas, ls="--", c="k", lw=0.8)
    ax.set_xlabel("CTR (%)")
    ax.set_ylabel("ROAS")
    ax.set_title("Demo campaign: observed CTR and ROAS; dashed lines are the winner rule")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "winners.png", dpi=110)
    plt.close(fig)
    lines = [
        "# adcluster demo report",
        "",
        f"- ads: {len(ads)}; winners indexed: {stats.get('winner_count')}",
        f"- by reason: {json.dumps(stats.get('by_reason'))}",
        f"- embedder: {stats.get('embedder')}, dimension {stats.get('dimension')}",
        "",
        "![winners](winners.png)",
        "",
        "## Nearest winners to the copy '50% off sale today'",
        "",
        "| ad | similarity | reason | CTR | ROAS |",
        "| --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| {h['ad_id']} | {h['similarity']:.3f} | {h['reason']} "
        f"| {h['ctr']:.3%} | {h['roas']:.2f} |"
        for h in search["results"]
    ]
    lines += [
        "",
        f"## Self-learning cycle `{cycle['cycle_id']}`: {cycle['status']}",
        "",
        "| loop | status | result |",
        "| --- | --- | --- |",
    ]
    lines += [f"| {st['name']} | {st['status']} | {_step_summary(st)} |" for st in cycle["steps"]]
    if insights:
        lines += [
            "",
            "## What lifts CTR and ROAS across this campaign's creatives (cross-learner)",
            "",
        ]
        lines += [f"- {i['text']}" for i in insights[:8] if i.get("text")]
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path
