"""A Ray cluster of several nodes on this machine, started with ``ray start`` as an operator
would: a head and worker nodes, each with its own CPUs, GPUs, custom resources, temp dir and
ports. A node's processes are those that name its temp dir on their command line and what
they started, so a node can be killed (as a machine that disappears) and the whole cluster
stopped without touching any other Ray instance on the machine (``ray stop`` would stop
them all).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Node:
    name: str
    temp_dir: Path
    num_cpus: int
    num_gpus: int
    resources: dict[str, float]

    def processes(self) -> list[psutil.Process]:
        """This node's processes: those that name its temp dir on their command line (GCS,
        raylet, dashboard, log monitor) and everything they started (workers, agents)."""
        marker = str(self.temp_dir)
        found: dict[int, psutil.Process] = {}
        for proc in psutil.process_iter(["cmdline"]):
            with contextlib.suppress(psutil.Error):
                if any(marker in arg for arg in proc.info["cmdline"] or []):
                    found[proc.pid] = proc
                    found.update({c.pid: c for c in proc.children(recursive=True)})
        return list(found.values())


@dataclass
class LocalCluster:
    """``ray start`` nodes under one short root folder (Unix socket paths must stay short)."""

    ray_bin: str
    env: dict[str, str]
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="adc-", dir="/tmp")))
    nodes: dict[str, Node] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    dashboard_port: int = field(default_factory=free_port)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def dashboard_url(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"

    def _start(self, node: Node, extra: list[str]) -> None:
        node.temp_dir.mkdir(parents=True)
        cmd = [
            self.ray_bin,
            "start",
            "--node-ip-address=127.0.0.1",
            f"--temp-dir={node.temp_dir}",
            f"--num-cpus={node.num_cpus}",
            f"--num-gpus={node.num_gpus}",
            f"--resources={json.dumps(node.resources)}",
            # the agent's default port (52365) is one per machine: each node takes its own
            f"--dashboard-agent-listen-port={free_port()}",
            f"--metrics-export-port={free_port()}",
            f"--runtime-env-agent-port={free_port()}",
            "--disable-usage-stats",
            *extra,
        ]
        self.nodes[node.name] = node
        started = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=180)
        if started.returncode != 0:
            raise RuntimeError(f"ray start ({node.name}) failed: {started.stderr[-3000:]}")

    def start_head(self, *, num_cpus: int, resources: dict[str, float] | None = None) -> Node:
        node = Node("head", self.root / "head", num_cpus, 0, resources or {})
        self._start(
            node,
            [
                "--head",
                f"--port={self.port}",
                "--include-dashboard=true",  # the job server (ray job submit) lives there
                f"--dashboard-port={self.dashboard_port}",
            ],
        )
        return node

    def add_worker(
        self, name: str, *, num_cpus: int, num_gpus: int = 0, resources: dict[str, float]
    ) -> Node:
        node = Node(name, self.root / name, num_cpus, num_gpus, resources)
        self._start(node, [f"--address={self.address}"])
        return node

    def kill(self, name: str) -> int:
        """SIGKILL every process of the node, as if its machine vanished; returns how many."""
        procs = self.nodes[name].processes()
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                proc.send_signal(signal.SIGKILL)
        psutil.wait_procs(procs, timeout=10)
        return len(procs)

    def stop(self, grace_s: float = 10.0) -> None:
        """Stop every process of every node (workers first, the head last); remove the root."""
        for name in sorted(self.nodes, key=lambda n: n == "head"):
            procs = self.nodes[name].processes()
            for proc in procs:
                with contextlib.suppress(psutil.Error):
                    proc.terminate()
            _, alive = psutil.wait_procs(procs, timeout=grace_s)
            for proc in alive:
                with contextlib.suppress(psutil.Error):
                    proc.kill()
        shutil.rmtree(self.root, ignore_errors=True)


def wait_for(check: Callable[[], object], timeout: float, what: str, every: float = 0.25) -> object:
    """Poll ``check`` until it returns something truthy (and return it)."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except Exception as exc:  # the cluster is settling: keep the reason for the message
            last = exc
        else:
            if last:
                return last
        time.sleep(every)
    raise AssertionError(f"{what}: not within {timeout:.0f}s (last: {last!r})"[:2000])
