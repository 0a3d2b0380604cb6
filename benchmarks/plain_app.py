"""The plain peer of the gateway benchmark: the same FastAPI app under plain uvicorn.

Same ``build_app`` as the Serve gateway (same routes, API-key middleware, rate limiter,
body limit, metrics), same database, no Ray: whatever ``benchmarks/gateway.py`` measures
between the two is the cost of serving through Ray Serve.

    .venv/bin/python -m benchmarks.plain_app --port 8001 --data-dir /tmp/bench
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fastapi import FastAPI  # noqa: E402

from core.db.engine import Database  # noqa: E402
from core.settings import Settings  # noqa: E402
from serve_apps.gateway.app import build_app  # noqa: E402
from serve_apps.gateway.services import Services  # noqa: E402


def build_plain_app(settings: Settings) -> FastAPI:
    """The gateway's app over a database only (no actors: /readyz says so)."""
    return build_app(Services(settings=settings, db=Database(settings.db_url)))


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args(argv)
    settings = Settings.load(data_dir=args.data_dir, database_url=args.database_url)
    uvicorn.run(
        build_plain_app(settings),
        host=args.host,
        port=args.port,
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
