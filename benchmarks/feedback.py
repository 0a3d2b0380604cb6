"""Per-row feedback (POST /api/ml/feedback) through the gateway vs a hand-written peer.

The peer (``benchmarks/feedback_peer.py``) is what a user would write instead: FastAPI +
psycopg under one uvicorn process, the same key check and body limit, one transaction a
request (ad upsert + metrics insert; the winner trigger does the rest). The gateway is
``adcluster up``'s (Ray Serve behind HAProxy, two replicas, the sampler and the job consumer
running). Same wrk load on both sides, in the same run: a new ad id every request, every
row a winner (CTR 4% after 48 h), 16 and 64 connections, then rows that never win at 16
(the write path alone); PostgreSQL for both, each on a fresh schema. The two sides are
interleaved: at every setting their rounds alternate, the peer measured with every Ray
process stopped (SIGSTOP, as if Ray were not running) and the gateway with the peer's
process stopped, so that both meet the same machine (its speed drifts within minutes).
Before every round, not counted, the side's growing tables get ``VACUUM ANALYZE`` (this
machine's PostgreSQL runs without autovacuum; see ``autovacuum``), and a setting starts only
when the gateway has indexed every winner of the one before. The learning schedule is off (an
hourly cycle is no part of the feedback path). Each round records the CPU its side used per
request, by process (PostgreSQL's backends counted for both sides).
Then the embedded default (SQLite) through the gateway at 16 connections: throughput and p99.

Nothing acknowledged may be lost: after each gateway side the script counts the stored rows
against wrk's 2xx answers and waits until every queued winner is indexed.

    .venv/bin/python benchmarks/feedback.py [--duration 10] [--rounds 5] [--connections 16,64]

Writes ``benchmarks/results/feedback.json``: ``ratio`` (gateway/peer requests per second at
the first connection count, every row a winner), ``ratio_c64``, ``ratio_no_winners``,
``sqlite_p99_ms`` and every side's figures.
Targets: ratio >= 0.8, sqlite_p99_ms <= 250.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402
from sqlalchemy import text  # noqa: E402

from benchmarks.common import (  # noqa: E402
    paused,
    postgres_processes,
    ray_processes,
    with_cpu,
    write_result,
)
from benchmarks.gateway import (  # noqa: E402
    WRK_DONE,
    PeerProcess,
    find_wrk,
    local_gateway,
    run_wrk,
    summarise,
)
from core.db.engine import Database  # noqa: E402
from core.db.keys import create_key  # noqa: E402
from core.db.migrate import prepare  # noqa: E402
from core.settings import Settings  # noqa: E402
from tests.support import postgres  # noqa: E402

PATH = "/api/ml/feedback"
RATE_LIMIT = 1_000_000_000  # never 429 under load; the token bucket still runs

WRK_SCRIPT = (
    """\
local counter = 0
local made = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {key}"
function setup(thread)
  thread:set("tid", made)  -- a global of the thread's own state
  made = made + 1
end
function init(args)
  prefix = "{run}-" .. tid .. "-"
end
request = function()
  counter = counter + 1
  local body = '{{"ad_id":"' .. prefix .. counter .. '","impressions":2000,"clicks":{clicks},' ..
    '"spend":20.0,"revenue":{revenue},"launched_at":"{launched}"}}'
  return wrk.format(nil, "{path}", nil, body)
end
"""
    + WRK_DONE
)


class Load:
    """wrk with a fresh ad-id prefix every run; counts what each prefix was acknowledged."""

    def __init__(self, wrk: str, key: str, workdir: Path, args: argparse.Namespace) -> None:
        self.wrk, self.key, self.workdir, self.args = wrk, key, workdir, args
        self.launched = (datetime.now(UTC) - timedelta(hours=48)).isoformat()
        self.acknowledged: dict[str, int] = {}
        self.winner_tags: set[str] = set()

    def run(
        self, base_url: str, connections: int, duration_s: float, winners: bool = True
    ) -> dict[str, Any]:
        """``winners``: CTR 4% and ROAS 4.5 (every row queues a job), else CTR 0.5% and
        ROAS 1.0 (none does)."""
        tag = f"r{uuid.uuid4().hex[:8]}"
        script = self.workdir / f"{tag}.lua"
        clicks, revenue = (80, 90.0) if winners else (10, 20.0)
        script.write_text(
            WRK_SCRIPT.format(
                key=self.key,
                run=tag,
                launched=self.launched,
                path=PATH,
                clicks=clicks,
                revenue=revenue,
            )
        )
        result = run_wrk(
            self.wrk,
            base_url + PATH,
            script,
            connections=connections,
            threads=self.args.threads,
            duration_s=duration_s,
        )
        script.unlink()
        self.acknowledged[tag] = result["requests"] - result["non_2xx"]
        if winners:
            self.winner_tags.add(tag)
        return result

    def one_round(
        self,
        label: str,
        base_url: str,
        connections: int,
        winners: bool = True,
        metered: Callable[[], list[psutil.Process]] | None = None,
    ) -> dict[str, Any]:
        """One counted round; ``metered``: the processes whose CPU per request is recorded
        (``cpu_ms_per_request``, by process; it includes work that the round's requests left
        to finish after it, such as winners still being indexed)."""

        def run() -> dict[str, Any]:
            return self.run(base_url, connections, self.args.duration, winners)

        r = with_cpu(metered, run) if metered else run()
        cpu = r.get("cpu_ms_per_request", {}).get("total")
        print(
            f"  {label:<8}c={connections:<3}{'' if winners else ' (no winners)'}"
            f" {r['requests_per_s']:>8.1f} req/s  p50 {r['p50_ms']:.1f} ms"
            f"  p99 {r['p99_ms']:.1f} ms  non-2xx {r['non_2xx']}  errors {r['socket_errors']}"
            + (f"  cpu {cpu:.2f} ms/req" if cpu is not None else ""),
            flush=True,
        )
        return r


def new_key(settings: Settings) -> str:
    db = Database(settings.db_url)
    try:
        prepare(db, settings)
        return create_key(
            db, tenant_id=settings.tenant_id, name="bench", rate_limit_per_min=RATE_LIMIT
        )
    finally:
        db.dispose()


def wait_indexed(settings: Settings, wait_s: float = 180.0) -> tuple[int, float]:
    """Poll until no winner job is pending or running; (jobs left, seconds waited)."""
    db = Database(settings.db_url)
    started = time.monotonic()
    left = -1
    try:
        while time.monotonic() - started < wait_s:
            with db.engine.connect() as conn:
                left = conn.execute(
                    text(
                        "SELECT count(*) FROM pending_jobs WHERE job_type = 'rag_index_winner'"
                        " AND status IN ('pending', 'running')"
                    )
                ).scalar_one()
            if left == 0:
                break
            time.sleep(0.5)
    finally:
        db.dispose()
    return left, round(time.monotonic() - started, 1)


def check_no_loss(settings: Settings, load: Load, wait_s: float = 180.0) -> dict[str, Any]:
    """Stored rows >= acknowledged answers, and every queued winner indexed (polled)."""
    db = Database(settings.db_url)
    try:
        with db.engine.connect() as conn:
            stored = {
                tag: conn.execute(
                    text("SELECT count(*) FROM performance_metrics WHERE ad_id LIKE :p"),
                    {"p": f"{tag}-%"},
                ).scalar_one()
                for tag in load.acknowledged
            }
        lost = sum(max(0, n - stored[tag]) for tag, n in load.acknowledged.items())
        pending, drain_s = wait_indexed(settings, wait_s)
        with db.engine.connect() as conn:
            jobs = dict(
                conn.execute(
                    text("SELECT status, count(*) FROM pending_jobs GROUP BY status")
                ).all()
            )
            unindexed = sum(
                conn.execute(
                    text(
                        "SELECT count(DISTINCT m.ad_id) FROM performance_metrics m"
                        " WHERE m.ad_id LIKE :p AND NOT EXISTS (SELECT 1 FROM pending_jobs j"
                        " WHERE j.dedupe_key = m.tenant_id || ':' || m.ad_id"
                        " AND j.status = 'done')"
                    ),
                    {"p": f"{tag}-%"},
                ).scalar_one()
                for tag in load.winner_tags
            )
    finally:
        db.dispose()
    return {
        "acknowledged": sum(load.acknowledged.values()),
        "stored": sum(stored.values()),
        "lost": lost,
        "winner_jobs": jobs,
        "winners_not_indexed": unindexed,
        "winner_jobs_left": pending,
        "drain_s": drain_s,
    }


HOT_TABLES = ("ads", "performance_metrics", "pending_jobs", "winners")


def autovacuum(settings: Settings) -> None:
    """``VACUUM ANALYZE`` the tables the load grows, as autovacuum would.

    This machine's PostgreSQL runs with autovacuum off. Without this, the tables are never
    analysed: every connection keeps the plans it prepared while they were empty (the
    foreign-key check of each metrics insert and the winner trigger's ad lookup among them),
    and a plan that picked ``ix_ads_tenant_created`` over the primary key walks every ad of
    the tenant on each insert; and they are never vacuumed: the job queue's indexes keep an
    entry for every old version of every job (pending, running, done). Both sides slowed
    down round after round. ``ANALYZE`` also invalidates the stale plans."""
    db = Database(settings.db_url)
    try:
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in HOT_TABLES:
                conn.exec_driver_sql(f"VACUUM ANALYZE {table}")
    finally:
        db.dispose()


def settings_list(counts: list[int]) -> list[tuple[str, int, bool]]:
    """Every row a winner at each connection count; then, at the first, rows that never
    win (the write path alone: no job queued, nothing for the consumer to index)."""
    return [(f"c{c}", c, True) for c in counts] + [(f"c{counts[0]}_no_winners", counts[0], False)]


def measure_postgres(
    peer_settings: Settings,
    gw_settings: Settings,
    wrk: str,
    workdir: Path,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """Peer and gateway interleaved on PostgreSQL, each on its own fresh schema: at every
    setting, rounds alternate (the order swapping each round), the peer measured with every
    Ray process stopped (SIGSTOP: as if Ray were not running), the gateway with the peer's
    process stopped. Then the gateway's no-loss check."""
    counts = [int(c) for c in args.connections.split(",")]
    peer_load = Load(wrk, new_key(peer_settings), workdir, args)
    gw_load = Load(wrk, new_key(gw_settings), workdir, args)
    # Started before Ray: not one of its processes.
    peer = PeerProcess("benchmarks.feedback_peer", "--database-url", peer_settings.db_url)
    result: dict[str, Any] = {"peer": {}, "gateway": {}}
    try:
        with local_gateway(gw_settings) as running:
            print("peer: FastAPI + psycopg under uvicorn; gateway: adcluster up", flush=True)
            peer_proc = psutil.Process(peer.proc.pid)
            sides = {
                "peer": (peer_load, peer.base_url, lambda: ray_processes(exclude={peer_proc.pid})),
                "gateway": (gw_load, running.url, lambda: [peer_proc]),
            }
            metered = {  # whose CPU each side's rounds count (PostgreSQL's for both)
                "peer": lambda: [peer_proc, *postgres_processes()],
                "gateway": lambda: [*ray_processes(exclude={peer_proc.pid}), *postgres_processes()],
            }
            schemas = {"peer": peer_settings, "gateway": gw_settings}
            for name, connections, winners in settings_list(counts):
                rounds: dict[str, list[dict[str, Any]]] = {"peer": [], "gateway": []}
                for side, (load, url, others) in sides.items():
                    with paused(others()):
                        load.run(url, connections, args.warmup, winners)
                        autovacuum(schemas[side])
                for i in range(args.rounds):
                    for side in ("peer", "gateway") if i % 2 == 0 else ("gateway", "peer"):
                        load, url, others = sides[side]
                        with paused(others()):
                            autovacuum(schemas[side])
                            load.run(url, connections, args.settle, winners)
                            rounds[side].append(
                                load.one_round(side, url, connections, winners, metered[side])
                            )
                for side in rounds:
                    result[side][name] = summarise(rounds[side])
                # The next setting starts with no backlog: what this one queued is indexed
                # now, with the peer stopped, not during the next setting's gateway rounds.
                with paused([peer_proc]):
                    left, waited = wait_indexed(gw_settings)
                result["gateway"][name]["indexed_after_s"] = waited
                if left:  # still queued after the wait: the next setting starts with them
                    result["gateway"][name]["winner_jobs_left_after_wait"] = left
            result["gateway"]["no_loss"] = check_no_loss(gw_settings, gw_load)
            print(f"  no-loss check: {result['gateway']['no_loss']}", flush=True)
    finally:
        peer.close()
    return result


def measure_sqlite(settings: Settings, load: Load, connections: int) -> dict[str, Any]:
    """The embedded default through the gateway: throughput and tail, then no-loss."""
    with local_gateway(settings) as running:
        print("gateway (SQLite)", flush=True)
        load.run(running.url, connections, load.args.warmup)
        rounds = [
            load.one_round("sqlite", running.url, connections) for _ in range(load.args.rounds)
        ]
        result: dict[str, Any] = {f"c{connections}": summarise(rounds)}
        result["no_loss"] = check_no_loss(settings, load)
        print(f"  no-loss check: {result['no_loss']}", flush=True)
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument(
        "--settle", type=float, default=1.0, help="seconds of load before each round, not counted"
    )
    parser.add_argument("--connections", default="16,64")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument(
        "--sides", default="peer,gateway,sqlite", help="peer,gateway (together) and/or sqlite"
    )
    parser.add_argument("--install-wrk", action="store_true", help="apt-get it when missing")
    parser.add_argument("--out", default="feedback")
    args = parser.parse_args(argv)
    counts = [int(c) for c in args.connections.split(",")]
    sides = set(args.sides.split(","))
    wrk = find_wrk(args.install_wrk)
    if wrk is None:
        raise SystemExit("wrk not found (apt-get install -y wrk, or --install-wrk)")
    base, needs_throwaway = postgres.server_url()
    if needs_throwaway:
        raise SystemExit(f"PostgreSQL does not answer at {base}; set DATABASE_URL")

    # The hourly learning cycle (first run a minute after a tenant is first seen) is no part
    # of the feedback path, and the peer has none: off, so it does not land in some round.
    os.environ["ADCLUSTER_LEARNING__SCHEDULE__ENABLED"] = "false"
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="adc-bench-fb-") as tmp:
        workdir = Path(tmp)
        if {"peer", "gateway"} <= sides:  # each on a fresh schema: no backlog from the other
            schemas = [postgres.new_schema(base) for _ in range(2)]
            try:
                peer_pg, gw_pg = (
                    Settings.load(
                        data_dir=str(workdir / side),
                        database_url=url,
                        ray={"namespace": f"bench-fb-{os.getpid()}"},
                    )
                    for side, (url, _) in zip(("peer", "gateway"), schemas, strict=True)
                )
                result.update(measure_postgres(peer_pg, gw_pg, wrk, workdir, args))
            finally:
                for _, schema in schemas:
                    postgres.drop_schema(base, schema)
        if "sqlite" in sides:
            lite = Settings.load(
                data_dir=str(workdir / "lite"),
                database_url=f"sqlite:///{workdir / 'lite' / 'adcluster.db'}",
                ray={"namespace": f"bench-fb-lite-{os.getpid()}"},
            )
            lite_load = Load(wrk, new_key(lite), workdir, args)
            result["sqlite"] = measure_sqlite(lite, lite_load, counts[0])

    c0 = f"c{counts[0]}"
    out: dict[str, Any] = {"benchmark": f"POST {PATH}, one row a request, every row a winner"}
    if "peer" in result and "gateway" in result:
        out["ratio"] = round(
            result["gateway"][c0]["requests_per_s"] / result["peer"][c0]["requests_per_s"], 3
        )
        for c in counts[1:]:
            out[f"ratio_c{c}"] = round(
                result["gateway"][f"c{c}"]["requests_per_s"]
                / result["peer"][f"c{c}"]["requests_per_s"],
                3,
            )
        nw = f"{c0}_no_winners"
        out["ratio_no_winners"] = round(
            result["gateway"][nw]["requests_per_s"] / result["peer"][nw]["requests_per_s"], 3
        )
    if "sqlite" in result:
        out["sqlite_p99_ms"] = result["sqlite"][c0]["p99_ms"]
        out["sqlite_requests_per_s"] = result["sqlite"][c0]["requests_per_s"]
    out.update(
        {
            "targets": {"ratio": 0.8, "sqlite_p99_ms": {"max": 250}},
            "connections": counts,
            "duration_s": args.duration,
            "rounds": args.rounds,
            "summary": (
                "medians over rounds; a new ad id every request; on PostgreSQL, peer and"
                " gateway rounds interleaved, each on a fresh schema, each side measured with"
                " the other's processes stopped (SIGSTOP); then the gateway on SQLite"
            ),
            **result,
        }
    )
    path = write_result(args.out, out)
    print(
        f"ratio {out.get('ratio')}  sqlite p99 {out.get('sqlite_p99_ms')} ms -> {path}", flush=True
    )


if __name__ == "__main__":
    main()
