"""``adcluster video``: run pro video batches from a JSON file, with a progress bar."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from core.settings import get_settings
from core.video import MediaRoots, get_video_config, operation_types, run_operation

# CLI batch outputs: a leading dot, which no tenant's folder can have (``safe_component``
# strips it), so no API key can name these files as its own outputs.
CLI_OUTPUTS = ".cli"

app = typer.Typer(no_args_is_help=True, help="Pro video operations (SPEC §6) on Ray.")
console = Console()


def _load(file: Path) -> tuple[list[Any], bool]:
    """Operations and ``parallel`` of a batch file (SPEC §2 body, or a bare list)."""
    from serve_apps.video.batch import parse_batch

    try:
        return parse_batch(json.loads(file.read_text()))
    except (OSError, json.JSONDecodeError) as exc:
        raise typer.BadParameter(f"cannot read {file}: {exc}") from exc
    except ValueError as exc:
        raise typer.BadParameter(f"{file}: {exc}") from exc


def _check(ops: list[Any], roots: MediaRoots) -> None:
    from serve_apps.video.batch import batch_problems

    problems = batch_problems(ops, roots)
    if problems:
        for p in problems:
            console.print(f"[red]{p}[/red]")
        raise typer.Exit(2)


def _table(results: list[dict[str, Any]]) -> Table:
    table = Table("#", "operation", "status", "output / error")
    for i, r in enumerate(results):
        ok = r["status"] == "success"
        detail = (r.get("output_path") or "(data only)") if ok else r.get("error", "")
        table.add_row(
            str(i), r["operation"], "[green]success[/]" if ok else "[red]failed[/]", detail
        )
    return table


@app.command("batch")
def batch(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="Batch JSON file."),
    address: str | None = typer.Option(None, help="Ray cluster address (default: in-process)."),
    sequential: bool = typer.Option(False, "--sequential", help="Run in order (parallel: false)."),
    no_ray: bool = typer.Option(False, "--no-ray", help="Run in this process, without Ray."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Run a batch file (``{"operations": [...], "parallel": true}``) and show progress."""
    settings = get_settings()
    roots = MediaRoots.from_settings(settings)
    ops, parallel = _load(file)
    parallel = parallel and not sequential
    _check(ops, roots)
    run_id = uuid.uuid4().hex
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=as_json,
    ) as progress:
        task = progress.add_task("video batch", total=len(ops))

        def advance(_i: int, _r: dict[str, Any]) -> None:
            progress.advance(task)

        if no_ray:
            results = []
            for i, op in enumerate(ops):
                r = run_operation(
                    op.type,
                    op.video_path,
                    op.config,
                    roots=roots,
                    output_dir=roots.output_root / CLI_OUTPUTS / run_id / f"{i:03d}_{op.type}",
                    feature_dim=settings.memory.video_dim,
                ).model_dump(mode="json")
                results.append(r)
                advance(i, r)
            from serve_apps.video.batch import summarise

            result = summarise(results)
        else:
            from cluster import runtime
            from serve_apps.video.batch import run_batch_sync
            from serve_apps.video.tasks import RunContext

            runtime.connect(settings, address)
            ctx = RunContext(
                roots=roots,
                output_dir=roots.output_root / CLI_OUTPUTS / run_id,
                feature_dim=settings.memory.video_dim,
            )
            result = run_batch_sync(ops, ctx, parallel=parallel, on_result=advance)
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
    else:
        console.print(_table(result.results))
        console.print(f"{result.successful}/{result.total} succeeded ({result.status})")
    raise typer.Exit(0 if result.successful == result.total else 1)


@app.command("variants")
def variants(
    video_path: str | None = typer.Argument(None, help="Source video (in the media root)."),
    ad_id: str | None = typer.Option(None, "--ad-id", help="Source ad (its creative's video)."),
    n: int = typer.Option(3, "-n", help="How many variants."),
    seed: int = typer.Option(0, help="Same seed, same plans."),
    tenant: str | None = typer.Option(None, help="Tenant (default: settings' tenant_id)."),
    hook: list[str] = typer.Option([], "--hook", help="Hook captions to use (repeat)."),
    cta: list[str] = typer.Option([], "--cta", help="CTAs to use (repeat)."),
    aspect: list[str] = typer.Option([], "--aspect", help="Aspect ratios, W:H (repeat)."),
    experiment_id: str | None = typer.Option(None, help="Add the variants to this experiment."),
    create_experiment: bool = typer.Option(False, help="A new experiment over them."),
    address: str | None = typer.Option(None, help="Ray cluster address (default: in-process)."),
    no_ray: bool = typer.Option(False, "--no-ray", help="Run in this process, without Ray."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Make variants of a creative from the tenant's winning patterns (docs/video.md)."""
    import asyncio

    from core.db.engine import Database
    from core.video.variant_render import local_runner
    from serve_apps.video.variants import (
        RequestError,
        VariantOverrides,
        VariantsIn,
        check_request,
        generate,
        ray_runner,
        resolve_source,
    )

    settings = get_settings()
    tenant = tenant or settings.tenant_id
    try:
        body = VariantsIn(
            ad_id=ad_id,
            video_path=video_path,
            n=n,
            seed=seed,
            experiment_id=experiment_id,
            create_experiment=create_experiment,
            overrides=VariantOverrides(hooks=hook, ctas=cta, aspects=aspect),
        )
    except ValidationError as exc:
        raise typer.BadParameter(str(exc)) from exc
    db = Database(settings.db_url)
    roots = MediaRoots.from_settings(settings)
    dim = settings.memory.video_dim
    try:
        source = resolve_source(db, settings, body, tenant)
        check_request(db, settings, body, tenant, source)
        if no_ray:
            runner, sampler = local_runner(roots, tenant=tenant, feature_dim=dim), None
        else:
            from actors import catalogue
            from cluster import runtime

            runtime.connect(settings, address)
            runner = ray_runner(roots, tenant=tenant, feature_dim=dim)
            handle = catalogue.get("thompson_sampler", settings)

            async def sampler(method: str, *args: Any, **kwargs: Any) -> Any:
                return await getattr(handle, method).remote(*args, **kwargs)

        with console.status(f"making {n} variants", spinner="dots"):
            result = asyncio.run(
                generate(
                    body,
                    tenant=tenant,
                    db=db,
                    settings=settings,
                    runner=runner,
                    sampler=sampler,
                    run_id=uuid.uuid4().hex,
                    source=source,
                )
            )
    except RequestError as exc:
        console.print(f"[red]{exc.message}[/red] {exc.details or ''}")
        raise typer.Exit(2) from exc
    finally:
        db.dispose()
    if as_json:
        typer.echo(json.dumps(result, indent=2))
    else:
        table = Table("#", "status", "ad id", "changes", "caption", "cta", "aspect", "s")
        for v in result["variants"]:
            p = v["plan"]
            ok = "[green]success[/]" if v["status"] == "success" else f"[red]{v['error']}[/]"
            table.add_row(
                str(v["index"]), ok, v["ad_id"] or "", ", ".join(p["changes"]), p["caption"],
                p["cta"], p["aspect"], f"{p['duration_s']:g}",
            )  # fmt: skip
        console.print(table)
        exp = result["experiment_id"]
        console.print(
            f"{result['successful']}/{result['total']} made from "
            f"{result['patterns']['winners']} winners" + (f"; experiment {exp}" if exp else "")
        )
    raise typer.Exit(0 if result["successful"] == result["total"] else 1)


@app.command("ops")
def ops() -> None:
    """List the operation types (GPU-capable ones marked)."""
    gpu = set(get_video_config().gpu_capable)
    for name in operation_types():
        typer.echo(f"{name}{'  (gpu-capable)' if name in gpu else ''}")
