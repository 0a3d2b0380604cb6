"""Per-key token buckets, in the memory of one gateway replica.

A key with a limit of ``L`` requests a minute refills at ``L / 60`` tokens a second and
holds at most ``L`` tokens (a burst of one minute's allowance). With ``N`` gateway
replicas each replica enforces ``L / N`` (``share = 1 / N``): the proxy spreads a key's
requests over the replicas (HAProxy ``leastconn``, Serve's power-of-two choices), so the
key's limit holds overall without a shared store on the request path. A client whose
requests all land on one replica is limited a little early, never late.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["RateLimiter"]


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float
    per_min: int


class RateLimiter:
    """``acquire(key_id, per_min)``: 0.0 when allowed, else the seconds until a token."""

    def __init__(
        self,
        *,
        share: float = 1.0,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < share <= 1:
            raise ValueError("share must be in (0, 1]")
        self.share = share
        self.max_keys = max_keys
        self._clock = clock
        self._buckets: dict[object, _Bucket] = {}

    def _capacity(self, per_min: int) -> float:
        return max(1.0, per_min * self.share)

    def acquire(self, key_id: object, per_min: int) -> float:
        """Take one token for ``key_id`` (limit ``per_min``; 0 or less: unlimited)."""
        if per_min <= 0:
            return 0.0
        now = self._clock()
        capacity = self._capacity(per_min)
        rate = capacity / 60.0
        bucket = self._buckets.get(key_id)
        if bucket is None or bucket.per_min != per_min:
            if len(self._buckets) >= self.max_keys:
                self._evict(now)
            bucket = self._buckets[key_id] = _Bucket(capacity, now, per_min)
        else:
            bucket.tokens = min(capacity, bucket.tokens + (now - bucket.updated) * rate)
            bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / rate

    @staticmethod
    def retry_after(wait_s: float) -> str:
        """The ``Retry-After`` value: whole seconds, at least 1."""
        return str(max(1, math.ceil(wait_s)))

    def _evict(self, now: float) -> None:
        """Drop buckets that are full again (they carry no state), else the oldest half."""
        full = [
            k
            for k, b in self._buckets.items()
            if b.tokens + (now - b.updated) * self._capacity(b.per_min) / 60.0
            >= self._capacity(b.per_min)
        ]
        for k in full:
            del self._buckets[k]
        if len(self._buckets) >= self.max_keys:
            for k in list(self._buckets)[: len(self._buckets) // 2]:
                del self._buckets[k]

    def __len__(self) -> int:
        return len(self._buckets)
