"""POST /api/ml/predict/roas through the Serve gateway vs the same app under plain uvicorn.

Both sides run the same ``build_app`` (routes, API-key middleware, rate limiter, body
limit, metrics) with the same key and body, driven by the same load generator in the
same run: wrk (``apt-get install -y wrk``) when it is installed, else a bounded async
httpx client (which saturates first: its figures say more about httpx than the server).

Order: the plain app starts first, then ``adcluster up``'s gateway for each proxy mode
asked for (``haproxy``: the default; ``default``: Serve's Python proxy). Rounds of three
sides then alternate, the order rotating every round: the plain app, measured with every
Ray process stopped (SIGSTOP: as if Ray were not running); the gateway, which logs every
prediction (``prediction_log``); and the gateway with the log turned off through its
``user_config`` (no restart: the same replicas), both measured with the plain process
stopped. Interleaving keeps this machine's drift (other tenants: its speed has been seen
to change by 2x within minutes) out of the ratios. Targets: gateway >= 0.8x the plain
app's throughput, p99 <= 2x, and >= 0.95x of itself without the prediction log.

    .venv/bin/python benchmarks/gateway.py [--duration 10] [--rounds 5] [--modes haproxy,default]

Writes ``benchmarks/results/gateway.json``: ``ratio`` (gateway/plain requests per
second), ``p99_ratio`` (gateway/plain p99), ``prediction_log_ratio`` (gateway with/without
the log), and the raw figures of every side.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psutil
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import paused, ray_processes, with_cpu, write_result  # noqa: E402
from cluster import serve_mode  # noqa: E402
from core.db.engine import Database  # noqa: E402
from core.db.keys import create_key  # noqa: E402
from core.db.migrate import prepare  # noqa: E402
from core.settings import Settings  # noqa: E402

PATH = "/api/ml/predict/roas"
BODY = {
    "ad_id": "bench-ad-1",
    "current_ctr": 0.021,
    "current_roas": 2.4,
    "hours_live": 96.0,
    "daily_spend": 150.0,
    "days_forward": 7,
}
# High enough never to answer 429 under load, yet the token bucket still runs.
BENCH_RATE_LIMIT = 1_000_000_000

WRK_DONE = """\
done = function(summary, latency, requests)
  io.write(string.format(
    "WRKJSON {{\\"requests\\":%d,\\"duration_us\\":%d,\\"connect\\":%d,\\"read\\":%d," ..
    "\\"write\\":%d,\\"status\\":%d,\\"timeout\\":%d,\\"p50_us\\":%d,\\"p90_us\\":%d," ..
    "\\"p99_us\\":%d,\\"max_us\\":%d,\\"mean_us\\":%.1f}}\\n",
    summary.requests, summary.duration, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.status, summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
"""  # one JSON line with the figures (str.format-escaped)

WRK_SCRIPT = (
    """\
wrk.method = "POST"
wrk.body = [[{body}]]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {key}"
"""
    + WRK_DONE
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- load generators -------------------------------------------------------------------


def find_wrk(install: bool) -> str | None:
    wrk = shutil.which("wrk")
    if wrk or not install:
        return wrk
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing wrk (apt-get) ...", flush=True)
        subprocess.run(["apt-get", "update", "-qq"], check=False, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False, capture_output=True)
    return shutil.which("wrk")


def run_wrk(
    wrk: str, url: str, script: Path, *, connections: int, threads: int, duration_s: float
) -> dict[str, Any]:
    out = subprocess.run(
        [wrk, f"-t{threads}", f"-c{connections}", f"-d{duration_s:g}s", "-s", str(script), url],
        capture_output=True,
        text=True,
        timeout=duration_s + 60,
    ).stdout
    match = re.search(r"^WRKJSON (.*)$", out, re.M)
    if not match:
        raise RuntimeError(f"wrk gave no summary: {out[-500:]}")
    raw = json.loads(match.group(1))
    seconds = raw["duration_us"] / 1e6
    errors = raw["connect"] + raw["read"] + raw["write"] + raw["timeout"]
    return {
        "requests": raw["requests"],
        "seconds": round(seconds, 3),
        "requests_per_s": round(raw["requests"] / seconds, 1),
        "p50_ms": raw["p50_us"] / 1000,
        "p90_ms": raw["p90_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "max_ms": raw["max_us"] / 1000,
        "mean_ms": round(raw["mean_us"] / 1000, 3),
        "non_2xx": raw["status"],
        "socket_errors": errors,
    }


async def _httpx_load(
    url: str, headers: dict[str, str], *, connections: int, duration_s: float
) -> dict[str, Any]:
    body = json.dumps(BODY).encode()
    headers = {**headers, "Content-Type": "application/json"}
    latencies: list[float] = []
    counts = {"non_2xx": 0, "socket_errors": 0}
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        start = time.perf_counter()
        deadline = start + duration_s

        async def worker() -> None:
            while (t0 := time.perf_counter()) < deadline:
                try:
                    r = await client.post(url, content=body, headers=headers)
                except httpx.HTTPError:
                    counts["socket_errors"] += 1
                    continue
                latencies.append(time.perf_counter() - t0)
                if not r.is_success:
                    counts["non_2xx"] += 1

        await asyncio.gather(*(worker() for _ in range(connections)))
        seconds = time.perf_counter() - start
    latencies.sort()

    def pct(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000, 3)

    return {
        "requests": len(latencies),
        "seconds": round(seconds, 3),
        "requests_per_s": round(len(latencies) / seconds, 1),
        "p50_ms": pct(0.50),
        "p90_ms": pct(0.90),
        "p99_ms": pct(0.99),
        "max_ms": round(latencies[-1] * 1000, 3),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 3),
        **counts,
    }


class Load:
    """One load generator for every side of the run."""

    def __init__(self, args: argparse.Namespace, key: str, workdir: Path) -> None:
        self.args = args
        self.key = key
        self.wrk = None if args.generator == "httpx" else find_wrk(args.install_wrk)
        if args.generator == "wrk" and self.wrk is None:
            raise SystemExit("wrk not found (apt-get install -y wrk, or --generator httpx)")
        self.script = workdir / "roas.lua"
        if self.wrk:
            self.script.write_text(WRK_SCRIPT.format(body=json.dumps(BODY), key=key))
            self.script.chmod(0o600)

    @property
    def name(self) -> str:
        if not self.wrk:
            return f"httpx {httpx.__version__} (async, bounded)"
        version = subprocess.run([self.wrk, "-v"], capture_output=True, text=True)
        first = (version.stdout or version.stderr).splitlines()
        return first[0].split(" [")[0] if first else "wrk"

    def run(self, url: str, duration_s: float) -> dict[str, Any]:
        if self.wrk:
            return run_wrk(
                self.wrk,
                url,
                self.script,
                connections=self.args.connections,
                threads=self.args.threads,
                duration_s=duration_s,
            )
        return asyncio.run(
            _httpx_load(
                url,
                {"Authorization": f"Bearer {self.key}"},
                connections=self.args.connections,
                duration_s=duration_s,
            )
        )

    def check(self, url: str) -> None:
        check = httpx.post(url, json=BODY, headers={"Authorization": f"Bearer {self.key}"})
        if check.status_code != 200:
            raise RuntimeError(f"{url}: {check.status_code} {check.text[:200]}")

    def one_round(self, url: str) -> dict[str, Any]:
        r = self.run(url, self.args.duration)
        print(
            f"  {r['requests_per_s']:>9.1f} req/s  p50 {r['p50_ms']:.2f} ms"
            f"  p99 {r['p99_ms']:.2f} ms  non-2xx {r['non_2xx']}",
            flush=True,
        )
        return r


def summarise(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over rounds (not the best round), with every round's figures."""
    return {
        "requests_per_s": statistics.median(r["requests_per_s"] for r in rounds),
        "p50_ms": statistics.median(r["p50_ms"] for r in rounds),
        "p99_ms": statistics.median(r["p99_ms"] for r in rounds),
        "non_2xx": sum(r["non_2xx"] for r in rounds),
        "socket_errors": sum(r["socket_errors"] for r in rounds),
        "cpu_ms_per_request": median_cpu(rounds),
        "rounds": rounds,
    }


def median_cpu(rounds: list[dict[str, Any]]) -> dict[str, float]:
    """Each process label's median CPU ms per request over ``rounds`` (0 where a round
    left it out), largest first."""
    labels = {k for r in rounds for k in r.get("cpu_ms_per_request", {})}
    med = {
        k: round(statistics.median(r.get("cpu_ms_per_request", {}).get(k, 0.0) for r in rounds), 3)
        for k in labels
    }
    return dict(sorted(med.items(), key=lambda kv: -kv[1]))


# -- the two sides ---------------------------------------------------------------------


def wait_http(url: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(url)


@contextmanager
def local_gateway(settings: Settings, port: int | None = None) -> Iterator[Any]:
    """``adcluster up`` on a local Ray started in this process (its processes are this
    script's descendants: ``ray_processes``); yields ``runtime.Running``. On exit: down,
    Serve and Ray shut down, and this process's environment as it was before (``up`` sets
    the Serve variables of its mode)."""
    import ray
    from ray import serve

    from cluster import runtime

    saved = dict(os.environ)
    try:
        yield runtime.up(settings, "local", port=port or free_port())
    finally:
        try:
            runtime.down(settings)
            serve.shutdown()
        finally:
            ray.shutdown()
            os.environ.clear()
            os.environ.update(saved)


class PeerProcess:
    """A benchmark's peer server: ``python -m <module> --port <free port> <args>`` from the
    repository root (no Ray), ready once its ``/healthz`` answers; ``close()`` stops it."""

    def __init__(self, module: str, *args: str) -> None:
        port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module, "--port", str(port), *args],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.base_url = f"http://127.0.0.1:{port}"
        wait_http(f"{self.base_url}/healthz")

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


PLAIN_SERVER = "uvicorn (1 process, uvloop + httptools), same build_app"


def set_user_config(settings: Settings, port: int, changes: dict[str, dict[str, Any]]) -> None:
    """Redeploy ``configs/serve.yaml`` with the named deployments' ``user_config`` updated by
    ``changes`` (deployment name -> keys), live: Serve calls ``reconfigure()``, no restart."""
    from ray.serve._private.api import serve_start

    config = serve_mode.load_serve_config(port=port, settings=settings)
    for app in config.applications:
        for deployment in app.deployments:
            if deployment.name in changes:
                deployment.user_config = {
                    **(deployment.user_config or {}),
                    **changes[deployment.name],
                }
    serve_start(http_options=config.http_options.model_dump()).deploy_apps(config, _blocking=True)


def set_prediction_log(settings: Settings, port: int, on: bool) -> None:
    """The Gateway's prediction log on or off (``user_config``, no restart)."""
    set_user_config(settings, port, {"Gateway": {"log_predictions": on}})


def measure_gateway(
    settings: Settings, load: Load, mode: str, plain: PeerProcess
) -> dict[str, Any]:
    """Rounds of three sides, interleaved on one machine: the plain app (with every Ray
    process stopped), and the gateway with the prediction log on and off (``user_config``,
    the same replicas; the plain process stopped). The order rotates every round."""
    settings = settings.replace(http={"proxy": mode})
    port = free_port()
    started = time.monotonic()
    with local_gateway(settings, port) as running:
        startup_s = time.monotonic() - started
        effective = serve_mode.current_proxy()
        print(f"gateway, proxy={effective} (up in {startup_s:.1f} s)", flush=True)
        url, plain_url = f"{running.url}{PATH}", f"{plain.base_url}{PATH}"
        load.check(url)
        load.run(url, load.args.warmup)
        plain_proc = psutil.Process(plain.proc.pid)
        sides: dict[str, list[dict[str, Any]]] = {"plain": [], "on": [], "off": []}
        order = ["plain", "on", "off"]
        for i in range(load.args.rounds):
            for side in order[i % 3 :] + order[: i % 3]:
                if side == "plain":
                    print("  plain uvicorn (Ray stopped):", end="", flush=True)
                    with paused(ray_processes(exclude={plain.proc.pid})):
                        load.run(plain_url, load.args.settle)
                        sides["plain"].append(
                            with_cpu(lambda: [plain_proc], lambda: load.one_round(plain_url))
                        )
                    continue
                set_prediction_log(settings, port, side == "on")
                print(f"  gateway, prediction log {side}:", end="", flush=True)
                with paused([plain_proc]):
                    load.run(url, load.args.settle)
                    sides[side].append(
                        with_cpu(
                            lambda: ray_processes(exclude={plain.proc.pid}),
                            lambda: load.one_round(url),
                        )
                    )
    on, off, peer = (summarise(sides[k]) for k in ("on", "off", "plain"))
    return {
        "server": f"Ray Serve gateway, proxy={effective}",
        "proxy": effective,
        "startup_s": round(startup_s, 1),
        "serve_config": yaml.safe_load((ROOT / "configs" / "serve.yaml").read_text()),
        **on,
        "without_prediction_log": off,
        "plain": {"server": PLAIN_SERVER, **peer},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument(
        "--settle", type=float, default=1.0, help="seconds of load before each round, not counted"
    )
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--modes", default="haproxy", help="gateway proxy modes, comma-separated")
    parser.add_argument("--generator", choices=["auto", "wrk", "httpx"], default="auto")
    parser.add_argument("--install-wrk", action="store_true", help="apt-get it when missing")
    parser.add_argument("--out", default="gateway", help="benchmarks/results/<out>.json")
    args = parser.parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not modes or any(m not in ("haproxy", "default") for m in modes):
        raise SystemExit("--modes: haproxy and/or default")

    with tempfile.TemporaryDirectory(prefix="adc-bench-gw-") as tmp:
        workdir = Path(tmp)
        settings = Settings.load(
            data_dir=str(workdir / "data"),
            database_url=f"sqlite:///{workdir / 'data' / 'adcluster.db'}",
            ray={"namespace": f"bench-gw-{os.getpid()}"},
        )
        db = Database(settings.db_url)
        prepare(db, settings)
        key = create_key(
            db, tenant_id=settings.tenant_id, name="bench", rate_limit_per_min=BENCH_RATE_LIMIT
        )
        db.dispose()
        # The plain app gets a copy of the database (same key): a Ray process stopped while it
        # holds SQLite's write lock must not stall the plain side's key lookups.
        plain_settings = settings.replace(
            data_dir=str(workdir / "plain"),
            database_url=f"sqlite:///{workdir / 'plain' / 'adcluster.db'}",
        )
        (workdir / "plain").mkdir()
        with (
            sqlite3.connect(workdir / "data" / "adcluster.db") as src,
            sqlite3.connect(workdir / "plain" / "adcluster.db") as dst,
        ):
            src.backup(dst)
        load = Load(args, key, workdir)
        load_before = [round(x, 2) for x in os.getloadavg()]  # other work on the machine
        print(f"load: {load.name}, {args.connections} connections", flush=True)
        server = PeerProcess(  # started before Ray: not one of its processes
            "benchmarks.plain_app",
            "--data-dir",
            plain_settings.data_dir,
            "--database-url",
            plain_settings.db_url,
        )
        try:
            load.check(f"{server.base_url}{PATH}")
            load.run(f"{server.base_url}{PATH}", args.warmup)
            gateways = {mode: measure_gateway(settings, load, mode, server) for mode in modes}
        finally:
            server.close()

    gateway = gateways[modes[0]]
    plain = gateway.pop("plain")
    result: dict[str, Any] = {
        "benchmark": f"POST {PATH}",
        "ratio": round(gateway["requests_per_s"] / plain["requests_per_s"], 3),
        "p99_ratio": round(gateway["p99_ms"] / plain["p99_ms"], 3),
        "p50_ratio": round(gateway["p50_ms"] / plain["p50_ms"], 3),
        "prediction_log_ratio": round(
            gateway["requests_per_s"] / gateway["without_prediction_log"]["requests_per_s"], 3
        ),
        "targets": {"ratio": 0.8, "p99_ratio": {"max": 2.0}, "prediction_log_ratio": 0.95},
        "load_average": {"before": load_before, "after": [round(x, 2) for x in os.getloadavg()]},
        "generator": load.name,
        "connections": args.connections,
        "duration_s": args.duration,
        "rounds": args.rounds,
        "summary": (
            "medians over rounds; the plain app, the gateway with the prediction log on and"
            " off (same replicas) interleaved in one run, the order rotating each round; each"
            " side measured with the other's processes stopped (SIGSTOP)"
        ),
        "plain": plain,
        "gateway": gateway,
    }
    for mode in modes[1:]:
        other = gateways[mode]
        peer = other.pop("plain")
        result[f"gateway_{mode}"] = {
            **other,
            "ratio": round(other["requests_per_s"] / peer["requests_per_s"], 3),
            "p99_ratio": round(other["p99_ms"] / peer["p99_ms"], 3),
            "plain": peer,
        }
    path = write_result(args.out, result)
    print(
        f"gateway/plain throughput {result['ratio']:.3f}x "
        f"({gateway['requests_per_s']:.0f} vs {plain['requests_per_s']:.0f} req/s), "
        f"p99 {result['p99_ratio']:.2f}x ({gateway['p99_ms']:.1f} vs {plain['p99_ms']:.1f} ms)"
        f" -> {path}"
    )


if __name__ == "__main__":
    main()
