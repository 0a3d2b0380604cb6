"""Several requests' creatives scored together, per tenant, and each request's answer back.

Shared by the CtrModel's ``@serve.batch`` (one model call per tenant) and the gateway's
``CtrClient`` (one handle call per tenant). An answer is ``{"model_version", "predictions"}``
or ``{"error": ...}``; each request gets its own slice, or the error.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Request = tuple[str, list[dict[str, Any]]]  # (tenant, creatives of one request)


def by_tenant(requests: Sequence[Request]) -> dict[str, list[int]]:
    """Request indices per tenant, in request order."""
    out: dict[str, list[int]] = {}
    for i, (tenant_id, _) in enumerate(requests):
        out.setdefault(tenant_id, []).append(i)
    return out


def creatives_of(requests: Sequence[Request], idx: list[int]) -> list[dict[str, Any]]:
    """The creatives of the requests ``idx``, concatenated in that order."""
    return [c for i in idx for c in requests[i][1]]


def spread(
    answer: dict[str, Any], requests: Sequence[Request], idx: list[int], out: list[Any]
) -> None:
    """Put each request of ``idx`` its slice of ``answer`` (scored over ``creatives_of``)."""
    start = 0
    for i in idx:
        n = len(requests[i][1])
        if "error" in answer:
            out[i] = answer
        else:
            out[i] = {
                "model_version": answer["model_version"],
                "predictions": answer["predictions"][start : start + n],
            }
        start += n
