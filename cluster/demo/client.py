"""A small HTTP client of the gateway for the demo: JSON in, JSON out, errors raised with
the answer's ``error`` message."""

from __future__ import annotations

from typing import Any

import httpx


class ApiError(RuntimeError):
    """An answer with a 4xx/5xx status."""

    def __init__(self, method: str, path: str, status: int, body: str) -> None:
        super().__init__(f"{method} {path} answered {status}: {body[:500]}")
        self.status = status


class Api:
    """The gateway at ``url`` with one tenant's API key."""

    def __init__(self, url: str, key: str, timeout_s: float = 120.0) -> None:
        self.url = url
        self.http = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=timeout_s
        )

    def _check(self, r: httpx.Response) -> Any:
        if r.status_code >= 400:
            raise ApiError(r.request.method, r.request.url.path, r.status_code, r.text)
        return r.json()

    def get(self, path: str, **params: Any) -> Any:
        return self._check(self.http.get(path, params=params or None))

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self._check(self.http.post(path, json=body or {}))

    def close(self) -> None:
        self.http.close()
