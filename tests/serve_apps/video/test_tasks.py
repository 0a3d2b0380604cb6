"""Resource declaration of operation tasks."""

from __future__ import annotations

from core.video import get_video_config
from serve_apps.video.tasks import task_options


def test_gpu_capable_ops_ask_for_gpus_only_when_the_cluster_has_them():
    vc = get_video_config()
    assert "color_grade" in vc.gpu_capable and "scene_detect" not in vc.gpu_capable
    gpu = task_options("color_grade", has_gpu=True)
    assert gpu["num_gpus"] == vc.resources.gpu.num_gpus > 0
    assert "num_gpus" not in task_options("color_grade", has_gpu=False)
    assert "num_gpus" not in task_options("scene_detect", has_gpu=True)
    assert task_options("scene_detect", has_gpu=True)["num_cpus"] == vc.resources.cpu.num_cpus
    assert task_options("trim", has_gpu=False)["retry_exceptions"] is False
