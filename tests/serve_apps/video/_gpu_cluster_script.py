"""Run by test_gpu_cluster.py in its own process: a two-node local cluster where one node
declares a GPU; prints where each operation ran, as JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import ray
from ray.cluster_utils import Cluster

from core.video import MediaRoots
from core.video.synth import square_clip
from serve_apps.video.batch import OperationSpec, run_batch_sync
from serve_apps.video.tasks import RunContext


def main(workdir: Path) -> None:
    media = workdir / "media"
    media.mkdir(parents=True, exist_ok=True)
    square_clip(media / "a.mp4", duration_s=0.5)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2})
    try:
        gpu_node = cluster.add_node(num_cpus=2, num_gpus=1)
        ray.init(address=cluster.address, log_to_driver=False)
        cluster.wait_for_nodes()
        roots = MediaRoots(media_root=media, output_root=workdir / "out")
        ctx = RunContext(roots=roots, output_dir=roots.output_root / "t")
        ops = [
            OperationSpec(type=t, video_path="a.mp4", config=c)
            for t, c in [
                ("color_grade", {"preset": "warm"}),
                ("resize", {"preset": "1:1", "height": 64}),
                ("transcode", {}),
                ("scene_detect", {}),
                ("hook_analysis", {}),
                ("trim", {}),
            ]
            * 2
        ]
        result = run_batch_sync(ops, ctx, parallel=True)
        print(
            json.dumps(
                {
                    "gpu_node": gpu_node.node_id,
                    "head_node": cluster.head_node.node_id,
                    "cluster_gpus": ray.cluster_resources().get("GPU", 0),
                    "results": [
                        {
                            "operation": r["operation"],
                            "status": r["status"],
                            "node_id": r["node_id"],
                            "error": r["error"],
                            "codecs": r["data"].get("codecs"),
                        }
                        for r in result.results
                    ],
                }
            )
        )
    finally:
        ray.shutdown()
        cluster.shutdown()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
