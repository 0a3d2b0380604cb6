"""The demo's report: ``report.html`` (self-contained: the plots are embedded as base64
PNGs, no scripts, no CDN), the same PNGs next to it, and ``history.json`` (its input).

Plots (matplotlib): budget allocation over time (stacked, one band per creative, coloured
by its hidden quality), cumulative revenue against the uniform baseline, winners over time,
and the champion history (model versions with their held-out metrics).
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

import numpy as np

from cluster.demo.history import History

PLOTS = ("allocation", "revenue", "winners", "champions")


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _days(history: History) -> np.ndarray:
    return np.array([(h.at - history.start).total_seconds() / 86400 for h in history.hours])


def plot_allocation(history: History, path: Path) -> Path:
    plt = _plt()
    order = np.argsort([c.true_revenue_per_impression for c in history.creatives])
    budgets = np.array([h.budgets for h in history.hours], dtype=float) / 100.0
    live = np.array([h.active for h in history.hours], dtype=bool)
    budgets = np.where(live, budgets, 0.0)[:, order].T
    cmap = plt.get_cmap("viridis")
    colours = [cmap(i / max(len(order) - 1, 1)) for i in range(len(order))]
    fig, ax = plt.subplots(figsize=(9, 4.6), dpi=110)
    ax.stackplot(_days(history), budgets, colors=colours, linewidth=0.2, edgecolor="white")
    ax.set_xlabel("simulated day")
    ax.set_ylabel("daily budget of active ads (major units)")
    ax.set_title("Budget allocation over time (bands: creatives; brighter = better hidden value)")
    ax.margins(x=0)
    sm = plt.cm.ScalarMappable(cmap=cmap)
    bar = fig.colorbar(sm, ax=ax, pad=0.01)
    bar.set_label("rank of hidden revenue per impression")
    bar.set_ticks([0, 1], labels=["worst", "best"])
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_revenue(history: History, path: Path) -> Path:
    plt = _plt()
    days = _days(history)
    fig, ax = plt.subplots(figsize=(9, 4.6), dpi=110)
    ax.plot(days, [h.revenue / 1000 for h in history.hours], lw=2, label="adcluster")
    ax.plot(
        days,
        [h.baseline_revenue / 1000 for h in history.hours],
        lw=2,
        ls="--",
        label="uniform split (same market, budgets never changed)",
    )
    ax.set_xlabel("simulated day")
    ax.set_ylabel("cumulative revenue (thousands, major units)")
    ax.set_title(f"Cumulative revenue: {history.lift:.2f}x the uniform baseline")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    ax.margins(x=0)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_winners(history: History, path: Path) -> Path:
    plt = _plt()
    days = _days(history)
    fig, ax = plt.subplots(figsize=(9, 3.8), dpi=110)
    ax.step(
        days,
        [h.winners_flagged for h in history.hours],
        where="post",
        lw=2,
        label="ads meeting the winner rule (database trigger)",
    )
    ax.step(
        days,
        [h.winners_indexed for h in history.hours],
        where="post",
        lw=2,
        ls="--",
        label="winners in the winner memory (job consumer)",
    )
    ax.set_xlabel("simulated day")
    ax.set_ylabel("ads")
    ax.set_title("Winners found over time (CTR > 3% or ROAS > 3 after 24 h and 1,000 impressions)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    ax.margins(x=0)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_champions(history: History, path: Path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(9, 3.8), dpi=110)
    models = history.models
    if not models:
        ax.text(0.5, 0.5, "no model trained", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
    else:
        x = np.arange(len(models))
        loss = [m.holdout_log_loss or 0.0 for m in models]
        colours = ["#2ca02c" if m.decision == "promoted" else "#999999" for m in models]
        ax.bar(x, loss, color=colours, width=0.5)
        for i, m in enumerate(models):
            auc = "-" if m.holdout_auc is None else f"{m.holdout_auc:.3f}"
            ax.annotate(
                f"{m.decision}\nAUC {auc}",
                (i, loss[i]),
                ha="center",
                va="bottom",
                fontsize=9,
                xytext=(0, 3),
                textcoords="offset points",
            )
            if m.champion_log_loss is not None:
                ax.plot([i - 0.3, i + 0.3], [m.champion_log_loss] * 2, "k--", lw=1)
        ax.set_xticks(
            x, [f"{m.version}\n(day {m.trained_after_h / 24:.1f}, {m.status})" for m in models]
        )
        ax.set_ylabel("held-out log loss per impression")
        ax.set_ylim(0, max(loss) * 1.35 or 1)
        ax.set_title("Champion history: CTR models (green: promoted; dashed: champion's loss)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def write_plots(history: History, folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    makers = {
        "allocation": plot_allocation,
        "revenue": plot_revenue,
        "winners": plot_winners,
        "champions": plot_champions,
    }
    return {name: make(history, folder / f"{name}.png") for name, make in makers.items()}


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def summary_rows(history: History) -> list[list[Any]]:
    last = history.hours[-1]
    roas = last.revenue / last.spend if last.spend else 0.0
    base_roas = last.baseline_revenue / last.baseline_spend if last.baseline_spend else 0.0
    champion = next((m.version for m in history.models if m.status == "champion"), "none")
    return [
        ["revenue lift over the uniform baseline", f"{history.lift:.3f}x"],
        ["revenue: adcluster / uniform", f"{last.revenue:,.2f} / {last.baseline_revenue:,.2f}"],
        ["spend: adcluster / uniform", f"{last.spend:,.2f} / {last.baseline_spend:,.2f}"],
        ["ROAS: adcluster / uniform", f"{roas:.2f} / {base_roas:.2f}"],
        ["creatives (ads)", len(history.creatives)],
        [f"simulated hours (after a launch of {history.launch_hours} h)", len(history.hours)],
        ["learning cycles by status", ", ".join(f"{k} {v}" for k, v in history.cycles.items())],
        ["changes by status", ", ".join(f"{k} {v}" for k, v in history.changes.items())],
        ["winners in the winner memory", last.winners_indexed],
        ["champion CTR model", champion],
        ["first hour the two markets differed", history.markets_differ_from_h],
    ]


CSS = """
body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;color:#222;padding:0 1em}
h1{font-size:1.6em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
td,th{border:1px solid #ddd;padding:.25em .6em;text-align:left}th{background:#f4f4f4}
img{max-width:100%}.lift{font-size:1.3em;font-weight:600}
"""


def render_html(history: History, plots: dict[str, Path]) -> str:
    last = history.hours[-1]
    first_budget = history.hours[0].budgets
    total_last = float(sum(b for b, a in zip(last.budgets, last.active, strict=True) if a)) or 1.0
    ranked = sorted(enumerate(history.creatives), key=lambda p: -p[1].true_revenue_per_impression)
    creatives = [
        [
            rank + 1,
            c.ad_id,
            c.name,
            c.template,
            c.cta,
            f"{c.true_revenue_per_impression * 1000:.2f}",
            f"{first_budget[i] / sum(first_budget):.1%}",
            f"{(last.budgets[i] if last.active[i] else 0) / total_last:.1%}",
            "active" if last.active[i] else "paused",
        ]
        for rank, (i, c) in enumerate(ranked)
    ]
    models = [
        [
            m.version,
            m.status,
            f"{m.trained_after_h / 24:.1f}",
            m.decision,
            m.reason,
            "-" if m.holdout_log_loss is None else f"{m.holdout_log_loss:.5f}",
            "-" if m.holdout_auc is None else f"{m.holdout_auc:.3f}",
            m.holdout_rows if m.holdout_rows is not None else "-",
        ]
        for m in history.models
    ]
    steps = [
        [
            s["name"],
            s["status"],
            ", ".join(
                f"{k}={v}" for k, v in s.get("counts", {}).items() if isinstance(v, int | float)
            )[:160],
            s.get("reason") or s.get("error") or "",
        ]
        for s in history.last_cycle.get("steps", [])
    ]
    phases = [[k, f"{v:.1f}"] for k, v in history.phases.items()]
    lift = history.lift
    verdict = "ahead of" if lift > 1 else "not ahead of"
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        "<title>adcluster demo report</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>adcluster demo report</h1>",
        f"<p class='lift'>Revenue lift: {lift:.3f}x — the platform is {verdict} the uniform "
        f"baseline ({last.revenue:,.0f} vs {last.baseline_revenue:,.0f}).</p>",
        f"<p>Tenant <code>{html.escape(history.tenant)}</code>, seed {history.seed}, "
        f"{len(history.creatives)} creatives, simulated from {history.start:%Y-%m-%d %H:%M} UTC "
        f"to {last.at:%Y-%m-%d %H:%M} UTC. The baseline is a second simulator with the same "
        "seed, ad sets and ads whose equal budget split is never changed.</p>",
        "<h2>Summary</h2>",
        _table(["", "value"], summary_rows(history)),
        "<h2>Cumulative revenue against the uniform baseline</h2>",
        _img(plots["revenue"], "cumulative revenue"),
        "<h2>Budget allocation over time</h2>",
        _img(plots["allocation"], "budget allocation"),
        "<h2>Winners found over time</h2>",
        _img(plots["winners"], "winners over time"),
        "<h2>Champion history</h2>",
        _img(plots["champions"], "champion history"),
        _table(
            [
                "version",
                "status",
                "day",
                "decision",
                "reason",
                "held-out log loss",
                "held-out AUC",
                "held-out rows",
            ],
            models,
        ),
        "<h2>Creatives, best hidden value first</h2>",
        "<p>Hidden revenue per 1,000 impressions is the simulator's truth, shown here only; "
        "the platform never reads it.</p>",
        _table(
            [
                "rank",
                "ad",
                "creative",
                "template",
                "CTA",
                "hidden revenue / 1k impr.",
                "budget share at start",
                "budget share at end",
                "status",
            ],
            creatives,
        ),
        "<h2>Last self-learning cycle</h2>",
        _table(["loop", "status", "counts", "note"], steps),
        "<h2>Phases (wall-clock seconds)</h2>",
        _table(["phase", "seconds"], phases),
        "</body></html>",
    ]
    return "\n".join(parts)


def write_report(history: History, folder: Path) -> Path:
    """``report.html``, its PNGs and ``history.json`` under ``folder``; the HTML's path."""
    plots = write_plots(history, folder)
    history.write(folder / "history.json")
    path = folder / "report.html"
    path.write_text(render_html(history, plots))
    return path
