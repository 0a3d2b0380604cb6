"""``adcluster ope``: off-policy evaluation of a policy on logged decisions (docs/ope.md).

``adcluster ope --policy thompson --log clicks.csv`` fits Thompson sampling on the first half
of the log (by time), estimates its value on the rest with IPS, SNIPS and DR, compares it with
the logged policy's own mean reward and says whether the off-policy gate would let it act.
Defaults come from ``configs/ope.yaml``; the flags override them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from core.config import ConfigError
from core.domain.ope import Estimate
from core.learning.ope_data import FORMATS, LogError, OpeConfig, read_log
from core.learning.ope_policies import POLICIES, PolicyError
from core.learning.ope_report import OpeReport, evaluate

app = typer.Typer(help="Off-policy evaluation of a policy on logged decisions.")
console = Console()
err = Console(stderr=True)


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)
    return typer.Exit(code)


def _overrides(**flags: Any) -> dict[str, Any]:
    """The nested ``ope.yaml`` overrides of the flags that were given."""
    where = {
        "rounds": ("bootstrap", "rounds"),
        "confidence": ("bootstrap", "confidence"),
        "seed": ("bootstrap", "seed"),
        "estimator": ("gate", "estimator"),
        "tolerance": ("gate", "tolerance"),
    }
    out: dict[str, dict[str, Any]] = {}
    for flag, value in flags.items():
        if value is not None:
            section, key = where[flag]
            out.setdefault(section, {})[key] = value
    return out


def _row(e: Estimate) -> tuple[str, str, str, str, str]:
    return e.name, f"{e.value:.5f}", f"[{e.low:.5f}, {e.high:.5f}]", f"{e.std_error:.5f}", str(e.n)


def _print(report: OpeReport) -> None:
    first = report.estimates[next(iter(report.estimates))]
    console.print(
        f"policy [bold]{escape(report.policy)}[/bold] on {escape(report.source)} "
        f"({report.layout} layout, "
        f"{report.n_log} rows, {len(report.items)} items)"
    )
    if report.split > 0:
        console.print(
            f"fitted on the first {report.n_fit} rows ({report.split:.0%}), "
            f"evaluated on the other {report.n_eval}"
        )
    table = Table(
        "estimator",
        "value",
        f"{first.confidence:.0%} interval",
        "std err",
        "n",
        caption=f"bootstrap: {first.rounds} rounds; logged = on-policy mean reward",
    )
    for e in report.estimates.values():
        table.add_row(*_row(e))
    table.add_row(*_row(report.baseline), style="dim")
    console.print(table)
    ranked = sorted(zip(report.probabilities, report.items, strict=True), reverse=True)
    positive = [(p, item) for p, item in ranked if p > 0]
    shown = ", ".join(f"{escape(item)} {p:.3f}" for p, item in positive[:5])
    more = f" (+{len(positive) - 5} more)" if len(positive) > 5 else ""
    console.print(f"policy: {shown}{more}")
    colour = "green" if report.allowed else "red"
    console.print(f"gate: [{colour}]{escape(report.reason)}[/{colour}]")
    for w in report.warnings:
        err.print(f"[yellow]warning:[/yellow] {escape(w)}", soft_wrap=True)


@app.callback(invoke_without_command=True)
def ope(
    policy: str = typer.Option(
        ..., "--policy", help=f"{', '.join(POLICIES)}, or a CSV file item_id,probability."
    ),
    log: Path = typer.Option(..., "--log", help="Logged decisions (CSV or Parquet)."),
    fmt: str = typer.Option("auto", "--format", help=f"{'|'.join(FORMATS)} (auto: by suffix)."),
    split: float | None = typer.Option(
        None,
        "--split",
        min=0.0,
        max=0.99,
        help="Fit the policy on this first fraction of the log (by timestamp), evaluate on the "
        "rest; 0: no split (optimistic for fitted policies). Default: ope.yaml's "
        "policies.split for greedy and thompson, 0 for the others.",
    ),
    rounds: int | None = typer.Option(None, "--rounds", min=1, help="Bootstrap rounds."),
    confidence: float | None = typer.Option(
        None, "--confidence", min=0.5, max=0.999, help="Interval level, e.g. 0.95."
    ),
    seed: int | None = typer.Option(None, "--seed", help="Seed of resampling and draws."),
    estimator: str | None = typer.Option(
        None, "--gate-estimator", help="ips, snips or dr: whose lower bound the gate reads."
    ),
    tolerance: float | None = typer.Option(
        None, "--tolerance", min=0.0, max=0.99, help="Gate tolerance below the baseline."
    ),
    as_json: bool = typer.Option(False, "--json", help="One JSON object instead of a table."),
) -> None:
    """Estimate a policy's value from a log with IPS, SNIPS and DR, and apply the gate."""
    try:
        config = OpeConfig.load(
            overrides=_overrides(
                rounds=rounds,
                confidence=confidence,
                seed=seed,
                estimator=estimator,
                tolerance=tolerance,
            )
        )
    except ConfigError as exc:
        raise _fail(f"invalid OPE settings: {exc}") from exc
    try:
        report = evaluate(read_log(log, fmt), policy, config, split=split)
    except (LogError, PolicyError, ValueError) as exc:
        raise _fail(str(exc)) from exc
    if as_json:
        typer.echo(json.dumps(report.to_dict()))
    else:
        _print(report)
