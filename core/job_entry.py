"""What every ``ray job submit`` entry point shares: one ``RESULT `` line and its exit code.

Each entry point (``training.run``, ``cluster.learning_job``, ``cluster.video_job``,
``cluster.import_job``) prints exactly one line ``RESULT {json}`` on stdout, as its last
line, whatever happens (``--help`` aside), and exits with one of:

| code | ``status`` in the result | meaning |
| --- | --- | --- |
| 0 | ``completed`` | everything was done |
| 1 | ``failed`` | it ran and failed (the error is in ``error``) |
| 2 | ``invalid`` | bad arguments, settings or input file; nothing was done |
| 3 | ``partial`` | some of the work failed (a video batch, a cycle's loops) |
| 4 | ``already_running`` | a learning cycle of the tenant was already running |

Logs are JSON lines on stderr; ``ray job logs`` shows both streams, and
``JobSubmissionClient.get_job_logs`` returns them, so a caller reads the last ``RESULT `` line.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable
from typing import Any, NoReturn

from core.config import ConfigError

log = logging.getLogger("adcluster.jobs")

PREFIX = "RESULT "
EXIT_CODES = {"completed": 0, "failed": 1, "invalid": 2, "partial": 3, "already_running": 4}


class JobInputError(ValueError):
    """Bad input to a job (arguments, a file): exit 2, each problem listed in the result."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class JobArgumentParser(argparse.ArgumentParser):
    """``argparse`` whose errors become a ``RESULT`` line and exit 2, like every other error."""

    def error(self, message: str) -> NoReturn:
        raise JobInputError(f"{self.prog}: {message}")


def emit(result: dict[str, Any]) -> None:
    """Print the result line (``default=str`` for datetimes and paths)."""
    print(PREFIX + json.dumps(result, default=str), flush=True)


def exit_code(status: str) -> int:
    return EXIT_CODES.get(status, 1)


def run_job(body: Callable[[], dict[str, Any]]) -> int:
    """Run ``body`` (returns a result with ``status``), print its ``RESULT`` line, return the
    exit code; bad input and errors become a result too."""
    try:
        result = body()
    except JobInputError as exc:
        result = {"status": "invalid", "error": str(exc), "problems": exc.problems}
    except ConfigError as exc:
        result = {"status": "invalid", "error": f"invalid settings: {exc}", "problems": []}
    except Exception as exc:
        log.exception("job failed")
        first = str(exc).splitlines()[0] if str(exc) else ""
        result = {"status": "failed", "error": f"{type(exc).__name__}: {first}"}
    emit(result)
    return exit_code(str(result.get("status")))


def parse_result(logs: str) -> dict[str, Any]:
    """The last ``RESULT`` line of a job's output (``KeyError`` when there is none)."""
    for line in reversed(logs.splitlines()):
        if line.startswith(PREFIX):
            return json.loads(line[len(PREFIX) :])
    raise KeyError("no RESULT line in the job's output")
