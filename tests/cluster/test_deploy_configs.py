"""The deployment files: ``ray_cluster.yaml`` against Ray's own cluster-launcher schema (what
``ray up`` checks before it starts anything), and the KubeRay ``RayService`` against
``configs/serve.yaml``, the actor catalogue's needs and ``adcluster http-env``."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config
from ray.serve.schema import ServeDeploySchema
from typer.testing import CliRunner

from cluster.cli import app
from core.config import REPO_ROOT
from core.settings import Settings

CLUSTER_YAML = REPO_ROOT / "ray_cluster.yaml"
RAYSERVICE = REPO_ROOT / "deploy" / "kuberay" / "rayservice.yaml"


def launcher_config() -> dict[str, Any]:
    return yaml.safe_load(CLUSTER_YAML.read_text())


def check(config: dict[str, Any]) -> dict[str, Any]:
    """What ``ray up`` does first: fill in the provider's defaults, validate the schema."""
    prepared = prepare_config(copy.deepcopy(config))
    validate_config(prepared)
    return prepared


def test_ray_cluster_yaml_passes_rays_launcher_schema() -> None:
    prepared = check(launcher_config())
    types = prepared["available_node_types"]
    assert prepared["head_node_type"] == "head" and types["head"]["max_workers"] == 0
    gpu = {name for name, t in types.items() if t["resources"].get("GPU", 0) >= 1}
    assert gpu == {"gpu_video", "gpu_training"}
    assert types["cpu_worker"]["resources"]["CPU"] > 0 and "GPU" not in types["cpu_worker"]
    for name in gpu:
        assert types[name]["docker"]["worker_image"].endswith("-gpu")
    assert sum(t["max_workers"] for n, t in types.items() if n != "head") <= prepared["max_workers"]


def test_ray_cluster_yaml_installs_and_starts_this_project() -> None:
    config = launcher_config()
    settings = Settings.load()
    assert config["file_mounts"]["~/adcluster"] == "."
    assert any("pip install" in c and "~/adcluster" in c for c in config["setup_commands"])
    assert any("adcluster db upgrade" in c for c in config["head_setup_commands"])
    head = " ".join(config["head_start_ray_commands"])
    workers = " ".join(config["worker_start_ray_commands"])
    assert f"--port={settings.ray.head_port}" in head and "--num-cpus=0" in head
    assert f"$RAY_HEAD_IP:{settings.ray.head_port}" in workers
    for cmd in (head, workers):  # settings, fast HTTP path, token auth on every node
        assert "adcluster.env" in cmd and "adcluster http-env" in cmd
        assert "RAY_AUTH_MODE=token" in cmd
    assert {".venv", "data", ".git"} <= set(config["rsync_exclude"])
    assert (REPO_ROOT / "deploy" / "adcluster.env.example").is_file()


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("available_node_types", "gpu_video", "resource"), {"GPU": 1}, "was unexpected"),
        (("available_node_types", "cpu_worker", "resources", "CPU"), 0.5, "is not of type"),
        (("max_workers",), "many", "is not of type"),
        (("available_node_types", "head", "node_config"), "m6i.2xlarge", "is not of type"),
    ],
)
def test_the_schema_check_refuses_a_broken_copy(
    path: tuple[str, ...], value: object, message: str
) -> None:
    config = launcher_config()
    target = config
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(Exception, match=message):
        check(config)


def rayservice() -> dict[str, Any]:
    return yaml.safe_load(RAYSERVICE.read_text())


def test_rayservice_serves_the_applications_of_configs_serve_yaml() -> None:
    spec = rayservice()["spec"]
    embedded = yaml.safe_load(spec["serveConfigV2"])
    ServeDeploySchema.model_validate(embedded)
    shipped = yaml.safe_load((REPO_ROOT / "configs" / "serve.yaml").read_text())
    assert embedded["applications"] == shipped["applications"], (
        "deploy/kuberay/rayservice.yaml serveConfigV2 drifted from configs/serve.yaml: "
        "copy the applications block again"
    )
    assert embedded["http_options"]["host"] == "0.0.0.0"  # reachable through the serve Service


def test_rayservice_groups_and_environment() -> None:
    cluster = rayservice()["spec"]["rayClusterConfig"]
    assert cluster["rayVersion"] == "2.60.0"
    assert cluster["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
    groups = {g["groupName"]: g for g in cluster["workerGroupSpecs"]}
    assert set(groups) == {"cpu", "gpu-video", "gpu-training"}
    for name in ("gpu-video", "gpu-training"):
        limits = groups[name]["template"]["spec"]["containers"][0]["resources"]["limits"]
        assert limits["nvidia.com/gpu"] == 1
    printed = CliRunner().invoke(app, ["http-env"])
    assert printed.exit_code == 0, printed.output
    http_env = dict(
        line.removeprefix("export ").split("=", 1) for line in printed.output.splitlines()
    )
    stable = {k: v for k, v in http_env.items() if not k.endswith("_PORT")}  # free ports
    containers = [cluster["headGroupSpec"]["template"]["spec"]["containers"][0]] + [
        g["template"]["spec"]["containers"][0] for g in groups.values()
    ]
    for container in containers:
        env = {e["name"]: e["value"] for e in container["env"]}
        assert {k: env.get(k) for k in stable} == stable, container["name"]
        assert env["RAY_AUTH_MODE"] == "token"
        assert container["envFrom"] == [{"secretRef": {"name": "adcluster-env"}}]
