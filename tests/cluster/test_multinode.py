"""adcluster on a multi-node Ray cluster, on one machine: a head and two worker nodes started
with ``ray start`` (each with its own CPUs, temp dir and ports; one declares a GPU), the app
deployed by ``adcluster up --address`` on PostgreSQL, jobs submitted through Ray's job API.

- Serve replicas and the catalogue's actors spread over the nodes.
- GPU-capable video operations (``cluster.video_job``) and Tune trials (``training.run``),
  both submitted with ``JobSubmissionClient``, run only on the GPU node; the results are read
  back from the jobs' ``RESULT`` lines.
- Killing the worker node that hosts the Thompson sampler (SIGKILL of every process of the
  node, with feedback in flight) brings the sampler, safe executor and winner memory that
  lived there back on another node with their state, and every acknowledged write is there.

The stateful actors are kept off the head by a custom resource (``adc_state``) that both
workers declare: the catalogue's ``resources`` field, as an operator would pin them to a
node group; the gateway's replicas go one a node (``max_replicas_per_node: 1``: Serve's
default SPREAD placed both on one node in some runs here). The proxy (HAProxy, the shipped
mode) runs on the head only: one HTTP port per machine here.
Runs in CI's heavy step: 1.5–2.5 minutes on two idle cores, nearly 4 under heavy load.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import yaml

from cluster import runtime
from core.config import REPO_ROOT
from core.job_entry import parse_result
from core.video import get_video_config
from core.video.synth import square_clip
from tests.support import postgres
from tests.support.executor_world import ACCOUNT, TOKEN, World
from tests.support.fake_graph import FakeGraph
from tests.support.ray_nodes import LocalCluster, free_port, wait_for

pytestmark = [pytest.mark.heavy, pytest.mark.timeout(360)]
BIN = Path(sys.executable).parent
STATE = "adc_state"  # the custom resource both worker nodes declare
PINNED = ("thompson_sampler", "safe_executor", "winner_memory")


@dataclass
class Deployed:
    cluster: LocalCluster
    base: str  # the gateway
    key: str
    data_dir: Path
    db_url: str
    namespace: str
    nodes: dict[str, str]  # node name (head, cpu, gpu) -> Ray node id
    world: World  # ad sets on the fake Graph API that the executor changes

    def client(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.key}"}
        return httpx.Client(base_url=self.base, headers=headers, timeout=30)

    def name_of(self, node_id: str) -> str:
        return next(name for name, nid in self.nodes.items() if nid == node_id)


def config_dir(target: Path) -> Path:
    """A copy of configs/: the proxy on the head only, one gateway replica a node (the HA
    setting docs/operations.md gives for clusters), three actors on ``adc_state`` nodes."""
    shutil.copytree(REPO_ROOT / "configs", target)
    serve = yaml.safe_load((target / "serve.yaml").read_text())
    serve["proxy_location"] = "HeadOnly"
    gateway = next(d for d in serve["applications"][0]["deployments"] if d["name"] == "Gateway")
    gateway["max_replicas_per_node"] = 1
    (target / "serve.yaml").write_text(yaml.safe_dump(serve))
    actors = yaml.safe_load((target / "actors.yaml").read_text())
    for role in PINNED:
        actors["actors"][role]["resources"] = {STATE: 0.01}
    (target / "actors.yaml").write_text(yaml.safe_dump(actors))
    return target


def actors(deployed: Deployed) -> list[Any]:
    """Live actors of the cluster (Ray's state API over the dashboard, as ``ray list``)."""
    from ray.util.state import list_actors

    return list_actors(
        address=deployed.cluster.dashboard_url,
        filters=[("state", "=", "ALIVE")],
        limit=1000,
        raise_on_missing_output=False,
    )


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory, pg_server: str) -> Iterator[Deployed]:
    from ray.util.state import list_nodes

    tmp = tmp_path_factory.mktemp("multinode")
    db_url, schema = postgres.new_schema(pg_server)
    namespace = f"adc-mn-{uuid.uuid4().hex[:6]}"
    api = free_port()
    with pytest.MonkeyPatch.context() as mp, FakeGraph(token=TOKEN) as fake:
        # Ray 2.60 token authentication on every node and in this process (state and job API).
        mp.delenv("RAY_AUTH_MODE", raising=False)
        runtime.use_token_auth(create=True)
        env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
        env.update(
            {
                "RAY_AUTH_MODE": "token",
                "RAY_USAGE_STATS_ENABLED": "0",
                "PYTHONPATH": str(REPO_ROOT),
                "DATABASE_URL": db_url,
                "ADCLUSTER_DATA_DIR": str(tmp / "data"),
                "ADCLUSTER_CONFIG_DIR": str(config_dir(tmp / "configs")),
                "ADCLUSTER_RAY__NAMESPACE": namespace,
                "ADCLUSTER_LEARNING__SCHEDULE__ENABLED": "false",
                # the executor applies changes on a fake Graph API (no dry run, no delay)
                "ADCLUSTER_PLATFORMS__ADAPTER": "meta",
                "ADCLUSTER_PLATFORMS__META__GRAPH_URL": fake.url,
                "ADCLUSTER_PLATFORMS__META__VIDEO_GRAPH_URL": fake.url,
                "META_ACCESS_TOKEN_DEFAULT": TOKEN,
                "META_AD_ACCOUNTS_DEFAULT": ACCOUNT,
                "ADCLUSTER_SAFETY__DRY_RUN": "false",
                "ADCLUSTER_SAFETY__DELAY_MIN_S": "0",
                "ADCLUSTER_SAFETY__DELAY_MAX_S": "0",
                "ADCLUSTER_EXECUTOR__LEASE_S": "10",
                "ADCLUSTER_JOBS__POLL_INTERVAL_S": "0.2",
                "ADCLUSTER_JOBS__LEASE_S": "5",
                # the GCS declares a silent node dead after 3 missed 1 s health checks
                "RAY_health_check_period_ms": "1000",
                "RAY_health_check_failure_threshold": "3",
            }
        )
        printed = subprocess.run(
            [str(BIN / "adcluster"), "http-env"], env=env, capture_output=True, text=True
        )
        assert printed.returncode == 0, printed.stderr
        for line in printed.stdout.splitlines():  # what an operator sources before ray start
            key, _, value = line.removeprefix("export ").partition("=")
            env[key] = value
        cluster = LocalCluster(ray_bin=str(BIN / "ray"), env=env)
        try:
            cluster.start_head(num_cpus=1)
            cluster.add_worker("cpu", num_cpus=1, resources={STATE: 1})
            cluster.add_worker("gpu", num_cpus=2, num_gpus=1, resources={STATE: 1})
            up = subprocess.run(
                [str(BIN / "adcluster"), "up", "--address", cluster.address, "--port", str(api)],
                env=env,
                capture_output=True,
                text=True,
                timeout=240,
            )
            assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
            assert re.search(r"adc_[0-9a-f]{8}_\S+", up.stdout), up.stdout  # the first key
            key = subprocess.run(  # one without a rate limit: the test streams feedback
                [str(BIN / "adcluster"), "keys", "create", "--name", "mn", "--rate-limit", "0"],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert key.returncode == 0, key.stderr
            nodes: dict[str, str] = {}
            for node in list_nodes(address=cluster.dashboard_url, raise_on_missing_output=False):
                total = node.resources_total
                name = "gpu" if total.get("GPU") else "cpu" if total.get(STATE) else "head"
                nodes[name] = node.node_id
            assert set(nodes) == {"head", "cpu", "gpu"}, nodes
            yield Deployed(
                cluster=cluster,
                base=f"http://127.0.0.1:{api}",
                key=key.stdout.strip(),
                data_dir=tmp / "data",
                db_url=db_url,
                namespace=namespace,
                nodes=nodes,
                world=World.build(fake, campaigns=1, adsets_each=5),
            )
        finally:
            cluster.stop()  # the app, its actors and every node: nothing outlives the module
            postgres.drop_schema(pg_server, schema)


def test_replicas_and_actors_spread_over_the_nodes(deployed: Deployed) -> None:
    ready = httpx.get(f"{deployed.base}/readyz", timeout=10)
    assert ready.status_code == 200, ready.text
    assert {a["state"] for a in ready.json()["actors"].values()} == {"alive"}
    live = actors(deployed)
    gateway = [a for a in live if a.class_name == "ServeReplica:adcluster:Gateway"]
    assert len(gateway) == 2
    assert len({a.node_id for a in gateway}) == 2, "one gateway replica a node"
    ours = [a for a in live if a.ray_namespace == deployed.namespace]
    named = {a.name: deployed.name_of(a.node_id) for a in ours}
    for role in PINNED:
        assert named[role] in ("cpu", "gpu"), named  # on an adc_state worker, never the head
    # Which adc_state worker (cpu or gpu) hosts each pinned actor is Ray's choice: all three
    # on one of them happens (a heavy CI run, 2026-11-26), so no node is required to host one.
    hosts = {deployed.name_of(a.node_id) for a in live}
    assert len(hosts) >= 2 and hosts <= {"head", "cpu", "gpu"}, hosts


def submit_and_wait(client: Any, entrypoint: str, env: dict[str, str]) -> str:
    """Submit once the head's job agent answers; the job's id."""
    deadline = time.monotonic() + 60
    while True:
        try:
            return client.submit_job(entrypoint=entrypoint, runtime_env={"env_vars": env})
        except RuntimeError as exc:
            if "No available agent" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def job_result(client: Any, job_id: str, timeout: float = 240) -> dict[str, Any]:
    from ray.job_submission import JobStatus

    done = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.STOPPED)
    status = wait_for(
        lambda: (s := client.get_job_status(job_id)) in done and s, timeout, f"job {job_id}"
    )
    logs = client.get_job_logs(job_id)
    assert status == JobStatus.SUCCEEDED, logs[-3000:]
    return parse_result(logs)


def test_gpu_work_submitted_as_jobs_lands_only_on_the_gpu_node(deployed: Deployed) -> None:
    from ray.job_submission import JobSubmissionClient

    media = deployed.data_dir / "media"
    media.mkdir(parents=True, exist_ok=True)
    square_clip(media / "a.mp4", duration_s=0.5)
    kinds = ["color_grade", "resize", "transcode", "scene_detect", "hook_analysis", "trim"]
    configs = {"color_grade": {"preset": "warm"}, "resize": {"preset": "1:1", "height": 64}}
    ops = [{"type": k, "video_path": "a.mp4", "config": configs.get(k, {})} for k in kinds * 2]
    batch = deployed.data_dir / "batch.json"
    batch.write_text(json.dumps({"operations": ops, "parallel": True}))
    client = JobSubmissionClient(deployed.cluster.dashboard_url)
    env = {"PYTHONPATH": str(REPO_ROOT)}
    video = submit_and_wait(client, f"{sys.executable} -m cluster.video_job {batch}", env)
    training = submit_and_wait(
        client,
        f"{sys.executable} -m training.run --source synthetic --rows 400 --num-samples 2 "
        "--max-rounds 10",
        env,
    )

    result = job_result(client, video)
    assert (result["status"], result["successful"]) == ("completed", len(ops)), result
    gpu_capable = set(get_video_config().gpu_capable)
    placed = {(r["operation"], deployed.name_of(r["node_id"])) for r in result["results"]}
    assert {node for op, node in placed if op in gpu_capable} == {"gpu"}, placed
    assert any(op not in gpu_capable for op, _ in placed)

    trained = job_result(client, training)
    assert trained["status"] == "completed" and trained["decision"]["action"] == "promoted"
    assert len(trained["trials"]) == 2
    for trial in trained["trials"]:  # a GPU asked for (XGBoost falls back: the GPU is declared)
        assert trial["device"] == "cuda" and deployed.name_of(trial["node_id"]) == "gpu", trial


def test_losing_the_node_of_the_stateful_actors_keeps_their_state(deployed: Deployed) -> None:
    """Runs last: it takes a node away."""
    tag = uuid.uuid4().hex[:6]
    launched = (datetime.now(UTC) - timedelta(hours=30)).isoformat()
    acked: dict[str, int] = {}  # winner ad -> metrics id of its acknowledged feedback
    with deployed.client() as c:
        arms = [f"mn-{tag}-arm{i}" for i in range(2)]
        for i, ad in enumerate(arms):
            assert c.post("/api/ads", json={"ad_id": ad, "launched_at": launched}).is_success
            fb = {"ad_id": ad, "impressions": 900, "clicks": 9 * (i + 1)}
            assert c.post("/api/ml/feedback", json=fb).status_code == 200
        exp = c.post("/api/ml/experiments", json={"ad_ids": arms})
        assert exp.status_code == 201, exp.text
        exp_id = exp.json()["experiment_id"]
        adsets = list(deployed.world.adsets)
        changes = [queue_budget(deployed, c, adset) for adset in adsets[:3]]
        for change_id in changes:  # applied before the node goes
            wait_applied(c, change_id)

        victim_id = located(deployed)["thompson_sampler"]
        victim = deployed.name_of(victim_id)
        moved = [r for r, node in located(deployed).items() if deployed.name_of(node) == victim]
        stop = threading.Event()

        def stream() -> None:  # per-row feedback, each one a winner, through the kill
            i = 0
            with deployed.client() as s:
                while not stop.is_set():
                    ad = f"mn-{tag}-w{i}"
                    i += 1
                    body = {
                        "ad_id": ad,
                        "impressions": 3000,
                        "clicks": 300,
                        "launched_at": launched,
                    }
                    try:
                        r = s.post("/api/ml/feedback", json=body)
                    except httpx.HTTPError:
                        continue  # not acknowledged: may or may not be stored
                    if r.status_code == 200 and r.json()["winner"]:
                        acked[ad] = r.json()["metrics_id"]
                    stop.wait(0.01)  # about 50 requests a second: load, not a benchmark

        writer = threading.Thread(target=stream)
        writer.start()
        try:
            wait_for(lambda: len(acked) >= 10, 60, "feedback before the kill")
            assert deployed.cluster.kill(victim) > 0
            killed_at = time.monotonic()
            changes += [queue_budget(deployed, c, adset) for adset in adsets[3:]]
            # Alive again on a surviving node (the state API shows them on the lost node until
            # the GCS has declared it dead).
            back = wait_for(
                lambda: (
                    (where := located(deployed))
                    and all(where.get(r, victim_id) != victim_id for r in moved)
                    and where
                ),
                60,
                "actors of the lost node back",
            )
            recovered_s = time.monotonic() - killed_at
            during = len(acked)
            wait_for(lambda: len(acked) >= during + 20, 60, "feedback after the recovery")
        finally:
            stop.set()
            writer.join(60)
        survivors = {deployed.name_of(back[r]) for r in moved}
        assert victim not in survivors, back

        # Every acknowledged row is stored; the rebuilt winner memory holds every stored winner
        # (acknowledged or not: an answer can be lost after its commit).
        stored = stored_metrics(deployed, f"mn-{tag}-w%")
        assert set(acked.items()) <= stored
        winners = {ad for ad, _ in stored}
        stats = wait_for(
            lambda: (
                (j := c.get("/api/ml/rag/memory-stats").json())["winner_count"] == len(winners)
                and j
            ),
            60,
            "every stored winner indexed",
        )
        # Sampler: the experiment's posteriors were refolded from the metrics.
        body = c.get(f"/api/ml/experiments/{exp_id}").json()
        trials = {a["ad_id"]: (a["trials"], a["successes"]) for a in body["arms"]}
        assert trials == {arms[0]: (900, 9), arms[1]: (900, 18)}, body["arms"]
        selected = c.post(f"/api/ml/experiments/{exp_id}/select")
        assert selected.status_code == 200, selected.text
        # Executor: the changes queued while it was gone are applied too; each reached the
        # platform exactly once (none again after the restart).
        for change_id in changes:
            detail = wait_applied(c, change_id)
            assert [a["action"] for a in detail["audit"]].count("applied") == 1, detail["audit"]
        writes = deployed.world.applied_writes()
        assert {adset: writes[(adset, "daily_budget")] for adset in adsets} == dict.fromkeys(
            adsets, 1
        )

    print(
        f"\nlost node {victim}: {moved} back on {sorted(survivors)} in {recovered_s:.1f}s; "
        f"{len(acked)} acknowledged, {stats['winner_count']} winners indexed"
    )


def stored_metrics(deployed: Deployed, ad_like: str) -> set[tuple[str, int]]:
    """(ad id, metrics id) of the stored feedback rows of matching ads."""
    with psycopg.connect(postgres._libpq(deployed.db_url)) as conn:
        rows = conn.execute(
            "SELECT ad_id, id FROM performance_metrics WHERE ad_id LIKE %s", (ad_like,)
        )
        return {(ad, int(mid)) for ad, mid in rows}


def queue_budget(deployed: Deployed, c: httpx.Client, adset: str) -> int:
    """A +10 % budget change of ``adset`` through the API; its id."""
    body = {
        "kind": "budget",
        "idempotency_key": f"mn-{adset}",
        "account_id": ACCOUNT,
        "campaign_id": deployed.world.adsets[adset],
        "ad_set_id": adset,
        "new_value": round(deployed.world.budget(adset) * 1.1),
    }
    r = c.post("/api/ads/changes", json=body)
    assert r.status_code == 202, r.text
    return r.json()["id"]


def wait_applied(c: httpx.Client, change_id: int) -> dict[str, Any]:
    def applied() -> dict[str, Any] | None:
        detail = c.get(f"/api/ads/changes/{change_id}").json()
        assert detail["status"] in ("pending", "claimed", "applied"), detail
        return detail if detail["status"] == "applied" else None

    return wait_for(applied, 60, f"change {change_id} applied")  # type: ignore[return-value]


def located(deployed: Deployed) -> dict[str, str]:
    """Role -> node id of the pinned actors that are alive now."""
    return {
        a.name: a.node_id
        for a in actors(deployed)
        if a.ray_namespace == deployed.namespace and a.name in PINNED
    }
