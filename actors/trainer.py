"""The model trainer: runs training runs (Ray Tune, evaluation, promotion) one at a time.

A thin shell over ``training.pipeline``: ``start`` queues a run (whose ``training_runs`` row
the caller created) on one worker thread and returns at once; progress and the result live
in the row. A run interrupted by a restart stays ``running``/``queued`` in the row; start
it again to retry.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from core.logs import configure_logging
from core.settings import Settings

log = logging.getLogger("adcluster.trainer")


class ModelTrainer:
    def __init__(self, settings: dict[str, Any]) -> None:
        configure_logging("INFO")
        self.settings = Settings.from_overrides(settings)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="training")
        self.queued = 0

    def ping(self) -> str:
        return "pong"

    def start(
        self,
        run_id: str,
        *,
        tenant_id: str,
        kind: str,
        source: str,
        synthetic_rows: int,
        seed: int,
        tune_overrides: dict[str, Any] | None = None,
    ) -> str:
        """Queue a run; returns its id at once."""
        self.queued += 1
        self._pool.submit(
            self._run, run_id, tenant_id, kind, source, synthetic_rows, seed, tune_overrides or {}
        )
        return run_id

    def _run(
        self,
        run_id: str,
        tenant_id: str,
        kind: str,
        source: str,
        rows: int,
        seed: int,
        tune_overrides: dict[str, Any],
    ) -> None:
        from core.ml.config import TrainingConfig
        from training.pipeline import SyntheticSpec, run

        try:
            config = TrainingConfig.load(**({"tune": tune_overrides} if tune_overrides else {}))
            run(
                self.settings,
                config,
                tenant_id=tenant_id,
                kind=kind,  # type: ignore[arg-type]
                source=source,
                run_id=run_id,  # type: ignore[arg-type]
                synthetic=SyntheticSpec(rows, seed),
            )
        except Exception:  # recorded on the run's row by the pipeline
            log.warning("training run failed", extra={"run_id": run_id})
        finally:
            self.queued -= 1
