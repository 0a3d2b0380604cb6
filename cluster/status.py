"""``adcluster status``: what a running cluster is doing, read without side effects.

From Ray (as a driver that joins, starts nothing and leaves): the nodes with their CPUs,
GPUs and whether they are alive; each catalogue actor's state (alive, restarting, pending,
dead, or missing: no actor holds its name) and node, from Ray's actor table; the Serve
applications. From the database: the queues (open jobs, changes waiting for an executor),
the tenant's last learning cycle and its champion model of each kind.

Before joining, :func:`probe` checks that something answers HTTP/2 (gRPC) at the address,
because ``ray.init`` against a closed port or another service retries for minutes.
"""

from __future__ import annotations

import socket
from typing import Any

from rich.console import Console
from rich.table import Table

from actors import catalogue
from core.db import changes, jobs, learning, model_registry
from core.db.engine import Database
from core.settings import Settings

STATES = {
    "ALIVE": "alive",
    "RESTARTING": "restarting",
    "DEAD": "dead",
    "PENDING_CREATION": "pending",
    "DEPENDENCIES_UNREADY": "pending",
}
_H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
_SETTINGS = 0x04


class Unreachable(RuntimeError):
    """No Ray cluster answers at the address."""


def split_address(address: str) -> tuple[str, int]:
    """``host:port`` → ``(host, port)``; ``ValueError`` for anything else."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"address must be host:port, not {address!r}")
    return host, int(port)


def probe(address: str, timeout_s: float) -> None:
    """Raise :class:`Unreachable` unless a gRPC server (HTTP/2) answers at ``address``."""
    host, port = split_address(address)
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            sock.settimeout(timeout_s)
            sock.sendall(_H2_PREFACE)
            head = sock.recv(9)
    except OSError as exc:
        raise Unreachable(f"no Ray cluster at {address}: {exc.strerror or exc}") from exc
    if len(head) < 9 or head[3] != _SETTINGS:
        raise Unreachable(f"no Ray cluster at {address}: something else listens there")


def nodes() -> list[dict[str, Any]]:
    """Every node Ray knows (dead ones too), head first."""
    import ray
    from ray._private.state import available_resources_per_node

    free = available_resources_per_node()
    out = []
    for n in ray.nodes():
        total, avail = n.get("Resources", {}), free.get(n["NodeID"], {})
        out.append(
            {
                "node_id": n["NodeID"],
                "address": n["NodeManagerAddress"],
                "hostname": n.get("NodeManagerHostname"),
                "head": "node:__internal_head__" in total,
                "alive": bool(n["Alive"]),
                "cpus": total.get("CPU", 0.0),
                "cpus_free": avail.get("CPU", 0.0) if n["Alive"] else 0.0,
                "gpus": total.get("GPU", 0.0),
                "gpus_free": avail.get("GPU", 0.0) if n["Alive"] else 0.0,
                "memory_gb": round(total.get("memory", 0.0) / 2**30, 1),
            }
        )
    return sorted(out, key=lambda n: (not n["head"], not n["alive"], n["address"]))


def actors(settings: Settings, addresses: dict[str, str]) -> list[dict[str, Any]]:
    """Each catalogue actor's state and node (``addresses``: node id → address)."""
    from ray._private.state import actors as actor_table

    out = []
    for role in catalogue.roles():
        spec = catalogue.load().spec(role)
        row: dict[str, Any] = {"role": role, "name": spec.name, "state": "missing"}
        row.update(node=None, restarts=None, pid=None)
        handle = catalogue.lookup(role, settings)
        info = actor_table(actor_id=handle._actor_id.hex()) if handle is not None else {}
        if info:
            node = info["Address"]["NodeID"]
            row["state"] = STATES.get(info["State"], info["State"].lower())
            row["node"] = addresses.get(node, node[:12] or None)
            row["restarts"], row["pid"] = info["NumRestarts"], info["Pid"] or None
        out.append(row)
    return out


def _text(value: Any) -> str:
    """An enum's value (``RUNNING``), not its repr (``ApplicationStatus.RUNNING``)."""
    return str(getattr(value, "value", value))


def serve_apps() -> dict[str, Any]:
    """Serve's applications and their deployments' replicas by state (none: not running)."""
    from ray import serve

    return {
        name: {
            "status": _text(app.status),
            "deployments": {
                d: {
                    "status": _text(dep.status),
                    "replicas": {_text(k): v for k, v in dep.replica_states.items()},
                }
                for d, dep in app.deployments.items()
            },
        }
        for name, app in serve.status().applications.items()
    }


def database(settings: Settings, tenant_id: str) -> dict[str, Any]:
    """The queues, the tenant's last learning cycle and champions (``error`` if unreadable)."""
    db = Database(settings.db_url)
    try:
        with db.session() as s:
            cycle = learning.latest_cycle(s, tenant_id=tenant_id)
            return {
                "ok": True,
                "error": None,
                "queue": {
                    "pending_jobs": jobs.open_counts(s),
                    "pending_ad_changes": changes.counts(s, statuses=("pending", "claimed")),
                },
                "last_cycle": None
                if cycle is None
                else {
                    "cycle_id": cycle.cycle_id,
                    "trigger": cycle.trigger,
                    "status": cycle.status,
                    "started_at": cycle.started_at.isoformat(),
                    "duration_seconds": cycle.duration_s,
                },
                "champions": [
                    {
                        "kind": m.kind,
                        "version": m.version,
                        "promoted_at": m.promoted_at.isoformat() if m.promoted_at else None,
                    }
                    for m in model_registry.champions(s, tenant_id=tenant_id)
                ],
            }
    except Exception as exc:
        message = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        return {"ok": False, "error": message, "queue": None, "last_cycle": None, "champions": []}
    finally:
        db.dispose()


def collect(settings: Settings, *, address: str, tenant_id: str) -> dict[str, Any]:
    """The whole report (Ray must be initialised, joined to ``address``)."""
    found = nodes()
    addresses = {n["node_id"]: n["address"] for n in found}
    report = {
        "address": address,
        "namespace": settings.ray.namespace,
        "tenant_id": tenant_id,
        "nodes": found,
        "actors": actors(settings, addresses),
        "serve": serve_apps(),
        "database": database(settings, tenant_id),
    }
    report["healthy"] = healthy(report)
    return report


def healthy(report: dict[str, Any]) -> bool:
    """An alive node, every catalogue actor alive, and the database readable."""
    return (
        any(n["alive"] for n in report["nodes"])
        and all(a["state"] == "alive" for a in report["actors"])
        and report["database"]["ok"]
    )


# --- rich output ------------------------------------------------------------------------
_COLOUR = {"alive": "green", "restarting": "yellow", "pending": "yellow"}


def _free(free: float, total: float) -> str:
    return f"{free:g} / {total:g}" if total else "-"


def render(report: dict[str, Any], console: Console) -> None:
    """The report as tables."""
    found = report["nodes"]
    alive = [n for n in found if n["alive"]]
    cpus = sum(n["cpus"] for n in alive)
    gpus = sum(n["gpus"] for n in alive)
    console.print(
        f"Ray cluster at [bold]{report['address']}[/bold] (namespace {report['namespace']}): "
        f"{len(alive)} of {len(found)} nodes alive, {cpus:g} CPUs, {gpus:g} GPUs"
    )
    t = Table(title="nodes")
    for col in (
        "node",
        "address",
        "role",
        "state",
        "CPUs free/total",
        "GPUs free/total",
        "memory GB",
    ):
        t.add_column(col)
    for n in found:
        t.add_row(
            n["node_id"][:12],
            n["address"],
            "head" if n["head"] else "worker",
            "[green]alive[/green]" if n["alive"] else "[red]dead[/red]",
            _free(n["cpus_free"], n["cpus"]),
            _free(n["gpus_free"], n["gpus"]),
            f"{n['memory_gb']:g}",
        )
    console.print(t)

    t = Table(title="actors (configs/actors.yaml)")
    for col in ("role", "name", "state", "node", "restarts", "pid"):
        t.add_column(col)
    for a in report["actors"]:
        colour = _COLOUR.get(a["state"], "red")
        t.add_row(
            a["role"],
            a["name"],
            f"[{colour}]{a['state']}[/{colour}]",
            a["node"] or "-",
            "-" if a["restarts"] is None else str(a["restarts"]),
            "-" if a["pid"] is None else str(a["pid"]),
        )
    console.print(t)

    if not report["serve"]:
        console.print("serve: [yellow]no application running[/yellow]")
    for name, app in report["serve"].items():
        deployments = ", ".join(
            f"{d} {dep['status']} ({', '.join(f'{n} {s}' for s, n in dep['replicas'].items())})"
            for d, dep in app["deployments"].items()
        )
        console.print(f"serve app [bold]{name}[/bold]: {app['status']}; {deployments}")

    db = report["database"]
    if not db["ok"]:
        console.print(f"database: [red]unreadable[/red] ({db['error']})")
    else:
        queue = db["queue"]
        line = "; ".join(
            f"{q} " + ", ".join(f"{k} {v}" for k, v in counts.items())
            for q, counts in queue.items()
        )
        console.print(f"queues: {line}")
        cycle = db["last_cycle"]
        who = f"tenant {report['tenant_id']}"
        if cycle is None:
            console.print(f"last learning cycle ({who}): none yet")
        else:
            seconds = cycle["duration_seconds"]
            took = "running" if seconds is None else f"{seconds:.2f} s"
            console.print(
                f"last learning cycle ({who}): {cycle['cycle_id']} {cycle['status']} "
                f"({cycle['trigger']}, started {cycle['started_at'][:19]}, {took})"
            )
        champions = ", ".join(f"{m['kind']} {m['version']}" for m in db["champions"])
        console.print(f"champion models ({who}): {champions or 'none yet'}")
    verdict = "[green]healthy[/green]" if report["healthy"] else "[red]not healthy[/red]"
    console.print(f"status: {verdict}")
