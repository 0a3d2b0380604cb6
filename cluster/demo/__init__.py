"""``adcluster demo``: a simulated campaign end to end on the embedded defaults (docs/demo.md)."""

from cluster.demo.run import DemoOptions, run_demo

__all__ = ["DemoOptions", "run_demo"]
