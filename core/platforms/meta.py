"""The Meta (Facebook/Instagram) adapter on the official ``facebook-business`` SDK.

- Graph API version pinned in ``configs/platforms.yaml`` (``meta.api_version``).
- Ad set ``daily_budget`` (minor units) and ad / ad set ``status``; several changes go out as
  Graph batch requests of up to ``meta.batch_size`` (50) calls.
- ``create_ad``: chunked video upload (through this adapter's own session, at
  ``meta.video_graph_url``: the SDK's uploader hard-codes graph-video.facebook.com), the ad
  creative and the ad (paused unless asked). Each object's name carries ``[adc:<key>]`` and
  is looked up before it is created, so a retried publish creates nothing twice.
- Reads ``X-Business-Use-Case-Usage`` / ``X-Ad-Account-Usage`` / ``X-App-Usage`` and pauses
  before each call above ``slow_down_at_pct``; backs off on rate-limit codes and retries
  transient errors (5xx, ``is_transient``, network) up to ``max_attempts``.
- The access token travels in the ``Authorization`` header (never in a URL, so no request
  log or error message holds it) and is never logged or returned.
"""

from __future__ import annotations

import json
import logging
import os
import random
import stat
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import requests
import yaml
from facebook_business.api import FacebookAdsApi, FacebookResponse
from facebook_business.exceptions import FacebookRequestError
from facebook_business.session import FacebookSession

from core.platforms.base import (
    INSIGHT_FIELDS,
    AdPlatform,
    AdSpec,
    ApplyResult,
    BudgetChange,
    Change,
    InsightRow,
    NotFoundError,
    ObjectState,
    PermanentError,
    PlatformError,
    PublishResult,
    RateLimitedError,
    StatusChange,
    TransientError,
    parse_insight,
)
from core.platforms.config import MetaConfig, PlatformsConfig

log = logging.getLogger("adcluster.platforms.meta")

# Graph error codes of throttling (API, app, account, ad-account and business use cases).
RATE_LIMIT_CODES = frozenset({4, 17, 32, 613, *range(80000, 80015)})
TRANSIENT_CODES = frozenset({1, 2})
USAGE_HEADERS = ("x-business-use-case-usage", "x-ad-account-usage", "x-app-usage")


class CredentialsError(PermissionError):
    """Credentials missing, or kept in a file others can read."""


class Secret:
    """A string that does not show itself (repr, str, logs)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not value:
            raise CredentialsError("empty access token")
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


@dataclass(frozen=True)
class MetaCredentials:
    tenant_id: str
    access_token: Secret
    ad_account_ids: tuple[str, ...]
    page_id: str | None = None


def _check_private(path: Path) -> None:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise CredentialsError(
            f"{path} is readable by others (mode {stat.S_IMODE(mode):04o}); chmod 600 it"
        )


def load_credentials(
    tenant_id: str, config: MetaConfig, environ: Mapping[str, str] | None = None
) -> MetaCredentials:
    """A tenant's token, ad accounts and page: from ``<prefix><TENANT>`` environment
    variables, else from ``meta.secrets_file`` (YAML ``tenants: {<id>: {access_token,
    ad_accounts, page_id}}``, mode 0600: a file that group or others can read is refused)."""
    environ = os.environ if environ is None else environ
    suffix = tenant_id.upper().replace("-", "_")
    token = environ.get(config.token_env_prefix + suffix)
    if token:
        accounts = environ.get(config.accounts_env_prefix + suffix, "")
        page = environ.get(config.page_env_prefix + suffix)
        return _credentials(tenant_id, token, accounts.split(","), page)
    if config.secrets_file is None:
        raise CredentialsError(
            f"no Meta credentials for tenant {tenant_id}: set {config.token_env_prefix}{suffix}"
            " or meta.secrets_file"
        )
    path = Path(config.secrets_file).expanduser()
    if not path.is_file():
        raise CredentialsError(f"secrets file not found: {path}")
    _check_private(path)
    data = yaml.safe_load(path.read_text()) or {}
    entry = (data.get("tenants") or {}).get(tenant_id)
    if not isinstance(entry, dict) or not entry.get("access_token"):
        raise CredentialsError(f"{path}: no access_token for tenant {tenant_id}")
    return _credentials(
        tenant_id, str(entry["access_token"]), entry.get("ad_accounts") or [], entry.get("page_id")
    )


def _credentials(tenant_id: str, token: str, accounts: Sequence[Any], page: Any) -> MetaCredentials:
    ids = tuple(str(a).strip() for a in accounts if str(a).strip())
    if not ids:
        raise CredentialsError(f"no ad accounts for tenant {tenant_id}")
    bad = [a for a in ids if not a.startswith("act_")]
    if bad:
        raise CredentialsError(f"ad account ids must start with act_: {', '.join(bad)}")
    return MetaCredentials(tenant_id, Secret(token), ids, str(page) if page else None)


# --- usage headers --------------------------------------------------------------------
class UsageThrottle:
    """Pauses before a call when the last usage headers said the limit is near.

    Usage ``u`` is the largest percentage in the headers; above ``slow_down_at`` the pause
    grows linearly from 0 to ``max_slow_down_s`` at 100%. A non-zero
    ``estimated_time_to_regain_access`` (minutes) blocks calls until then (capped).
    """

    def __init__(
        self, config: MetaConfig, *, sleep: Callable[[float], None], clock: Callable[[], float]
    ) -> None:
        self.config, self._sleep, self._clock = config, sleep, clock
        self.usage_pct = 0.0
        self.blocked_until = 0.0

    def observe(self, headers: Mapping[str, str] | None) -> None:
        if not headers:
            return
        lower = {str(k).lower(): v for k, v in headers.items()}
        found = [lower[h] for h in USAGE_HEADERS if h in lower]
        if not found:
            return
        usage, regain_min = 0.0, 0.0
        for raw in found:
            try:
                data = json.loads(raw)
            except (TypeError, ValueError):
                continue
            entries = [e for v in data.values() for e in v] if _is_buc(data) else [data]
            for e in entries:
                for key in ("call_count", "total_cputime", "total_time", "acc_id_util_pct"):
                    if isinstance(e.get(key), int | float):
                        usage = max(usage, float(e[key]))
                regain = e.get("estimated_time_to_regain_access")
                if isinstance(regain, int | float):
                    regain_min = max(regain_min, float(regain))
        self.usage_pct = usage
        if regain_min > 0:
            wait = min(regain_min * 60, self.config.max_throttle_wait_s)
            self.blocked_until = max(self.blocked_until, self._clock() + wait)

    def delay(self) -> float:
        blocked = self.blocked_until - self._clock()
        if blocked > 0:
            return blocked
        start = self.config.slow_down_at_pct
        if self.usage_pct < start:
            return 0.0
        frac = min((self.usage_pct - start) / max(100 - start, 1e-9), 1.0)
        return self.config.max_slow_down_s * frac

    def wait(self) -> None:
        d = self.delay()
        if d > 0:
            log.info("meta slow down", extra={"usage_pct": self.usage_pct, "sleep_s": round(d, 3)})
            self._sleep(d)


def _is_buc(data: Any) -> bool:
    return isinstance(data, dict) and bool(data) and all(isinstance(v, list) for v in data.values())


class _Api(FacebookAdsApi):
    """The SDK's API object, with the throttle consulted before and fed after every call."""

    def __init__(self, session: FacebookSession, api_version: str, throttle: UsageThrottle):
        super().__init__(session, api_version)
        self.throttle = throttle

    def call(self, *args: Any, **kwargs: Any) -> FacebookResponse:
        self.throttle.wait()
        try:
            response = super().call(*args, **kwargs)
        except FacebookRequestError as exc:
            self.throttle.observe(exc.http_headers())
            raise
        self.throttle.observe(response.headers())
        return response


def classify(exc: FacebookRequestError, fallback_wait_s: float) -> PlatformError:
    """The adapter's error for a Graph error (message and code only: no request, no token)."""
    code, status = exc.api_error_code(), exc.http_status() or 0
    message = f"Graph error {code}: {exc.api_error_message() or exc.get_message()}"
    if code in RATE_LIMIT_CODES or status == 429:
        return RateLimitedError(message, code=code, retry_after_s=fallback_wait_s)
    if status >= 500 or code in TRANSIENT_CODES or exc.api_transient_error():
        return TransientError(message, code=code)
    if code == 100 and exc.api_error_subcode() == 33:
        return NotFoundError(message, code=code)
    return PermanentError(message, code=code)


def _tag(key: str) -> str:
    return f"[adc:{key}]"


class MetaAdapter(AdPlatform):
    """One tenant's ad account on Meta. ``sleep``/``clock``/``rng``: injected for tests."""

    name = "meta"

    def __init__(
        self,
        config: MetaConfig,
        credentials: MetaCredentials,
        *,
        account_id: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.tenant_id = credentials.tenant_id
        self.account_id = account_id or credentials.ad_account_ids[0]
        if self.account_id not in credentials.ad_account_ids:
            raise CredentialsError(f"{self.account_id} is not an ad account of {self.tenant_id}")
        self.page_id = credentials.page_id
        self._sleep = sleep
        self._rng = rng or random.Random()
        session = FacebookSession(access_token=None, timeout=config.timeout_s)
        session.GRAPH = config.graph_url.rstrip("/")
        session.requests.params.pop("access_token", None)
        session.requests.headers["Authorization"] = f"OAuth {credentials.access_token.reveal()}"
        self.throttle = UsageThrottle(config, sleep=sleep, clock=clock)
        self._api = _Api(session, config.api_version, self.throttle)

    @classmethod
    def for_tenant(cls, tenant_id: str, **kwargs: Any) -> MetaAdapter:
        cfg = PlatformsConfig.load().meta
        return cls(cfg, load_credentials(tenant_id, cfg), **kwargs)

    def __repr__(self) -> str:
        return f"MetaAdapter(tenant={self.tenant_id!r}, account={self.account_id!r})"

    # --- calls with retries -----------------------------------------------------------
    def _backoff(self, attempt: int) -> float:
        c = self.config
        return min(c.backoff_base_s * 2 ** (attempt - 1), c.backoff_max_s) * self._rng.uniform(
            0.5, 1.0
        )

    def _retrying(self, what: str, fn: Callable[[], Any]) -> Any:
        for attempt in range(1, self.config.max_attempts + 1):
            try:
                return fn()
            except FacebookRequestError as exc:
                err = classify(exc, self._backoff(attempt))
            except requests.RequestException as exc:
                err = TransientError(f"network error: {type(exc).__name__}")
            if not err.retryable or attempt == self.config.max_attempts:
                log.warning(
                    "meta call failed",
                    extra={"call": what, "code": err.code, "attempts": attempt, "error": str(err)},
                )
                raise err
            wait = err.retry_after_s if err.retry_after_s is not None else self._backoff(attempt)
            log.info(
                "meta retry", extra={"call": what, "code": err.code, "sleep_s": round(wait, 3)}
            )
            self._sleep(wait)
        raise AssertionError("unreachable")

    def _call(
        self,
        method: str,
        path: tuple[str, ...] | str,
        params: Mapping[str, Any] | None = None,
        *,
        files: Mapping[str, Any] | None = None,
        url_override: str | None = None,
    ) -> Any:
        what = f"{method} {path if isinstance(path, str) else '/'.join(path)}"
        return self._retrying(
            what,
            lambda: self._api.call(
                method, path, params=dict(params or {}), files=files, url_override=url_override
            ).json(),
        )

    # --- changes ----------------------------------------------------------------------
    @staticmethod
    def _params(change: Change) -> tuple[str, dict[str, Any]]:
        if isinstance(change, BudgetChange):
            return "daily_budget", {"daily_budget": change.daily_budget_minor}
        return "status", {"status": change.status}

    def _result(self, change: Change, response: Any) -> ApplyResult:
        field, params = self._params(change)
        body = response if isinstance(response, dict) else {"response": response}
        return ApplyResult(change.object_id, field, params[field], change.idempotency_key, body)

    def _apply(self, change: Change) -> ApplyResult:
        _, params = self._params(change)
        return self._result(change, self._call("POST", (change.object_id,), params))

    def set_budget(self, change: BudgetChange) -> ApplyResult:
        return self._apply(change)

    def set_status(self, change: StatusChange) -> ApplyResult:
        return self._apply(change)

    def apply_batch(self, changes: Sequence[Change]) -> list[ApplyResult | PlatformError]:
        """One Graph batch request per ``batch_size`` changes; failed items whose error is
        retryable go again (with backoff) in the next round, up to ``max_attempts``."""
        results: dict[int, ApplyResult | PlatformError] = {}
        size = self.config.batch_size
        for lo in range(0, len(changes), size):
            pending = list(range(lo, min(lo + size, len(changes))))
            for attempt in range(1, self.config.max_attempts + 1):
                if not pending:
                    break
                failed = self._batch_round(changes, pending, results, attempt)
                if failed and attempt < self.config.max_attempts:
                    waits = [
                        e.retry_after_s for e in failed.values() if e.retry_after_s is not None
                    ]
                    self._sleep(max(waits, default=self._backoff(attempt)))
                pending = list(failed)
                results.update(failed)
        return [results[i] for i in range(len(changes))]

    def _batch_round(
        self,
        changes: Sequence[Change],
        pending: list[int],
        results: dict[int, ApplyResult | PlatformError],
        attempt: int,
    ) -> dict[int, PlatformError]:
        """Send ``pending`` in one request; fill ``results``; the retryable failures."""
        batch = self._api.new_batch()
        failed: dict[int, PlatformError] = {}

        def ok(i: int) -> Callable[[FacebookResponse], None]:
            return lambda r: results.__setitem__(i, self._result(changes[i], r.json()))

        def bad(i: int) -> Callable[[FacebookResponse], None]:
            def record(r: FacebookResponse) -> None:
                err = classify(r.error(), self._backoff(attempt))
                (failed if err.retryable else results)[i] = err

            return record

        for i in pending:
            _, params = self._params(changes[i])
            batch.add("POST", (changes[i].object_id,), params, success=ok(i), failure=bad(i))
        try:
            left = batch.execute()
        except FacebookRequestError as exc:
            err = classify(exc, self._backoff(attempt))
            return {i: err for i in pending} if err.retryable else _all(pending, err, results)
        except requests.RequestException as exc:
            return {i: TransientError(f"network error: {type(exc).__name__}") for i in pending}
        if left is not None:  # items Graph did not answer
            for i in pending:
                if i not in results and i not in failed:
                    failed[i] = TransientError("no answer in the batch response")
        return failed

    # --- reads ------------------------------------------------------------------------
    def read_state(self, object_id: str) -> ObjectState:
        head = self._call("GET", (object_id,), {"fields": "id,name,status", "metadata": 1})
        kind = (head.get("metadata") or {}).get("type")
        if kind not in ("ad", "adset", "campaign"):
            raise PermanentError(f"{object_id} is a {kind}, not an ad, ad set or campaign")
        budget = None
        if kind in ("adset", "campaign"):
            raw = self._call("GET", (object_id,), {"fields": "daily_budget"}).get("daily_budget")
            budget = int(raw) if raw not in (None, "", "0") else None
        return ObjectState(object_id, kind, head.get("status", ""), budget, head.get("name"))

    def read_states(
        self, object_ids: Sequence[str], *, budgets: Sequence[bool] | None = None
    ) -> list[ObjectState | PlatformError]:
        """One Graph batch request of GETs per ``batch_size`` ids (an object whose budget is
        asked for is read with ``daily_budget`` in the same call); retryable failures go
        again, with backoff, up to ``max_attempts``."""
        wants = list(budgets) if budgets is not None else [False] * len(object_ids)
        results: dict[int, ObjectState | PlatformError] = {}
        size = self.config.batch_size
        for lo in range(0, len(object_ids), size):
            pending = list(range(lo, min(lo + size, len(object_ids))))
            for attempt in range(1, self.config.max_attempts + 1):
                failed = self._read_round(object_ids, wants, pending, results, attempt)
                results.update(failed)
                if not failed or attempt == self.config.max_attempts:
                    break
                waits = [e.retry_after_s for e in failed.values() if e.retry_after_s is not None]
                self._sleep(max(waits, default=self._backoff(attempt)))
                pending = list(failed)
        return [results[i] for i in range(len(object_ids))]

    def _read_round(
        self,
        ids: Sequence[str],
        wants: Sequence[bool],
        pending: list[int],
        results: dict[int, ObjectState | PlatformError],
        attempt: int,
    ) -> dict[int, PlatformError]:
        batch = self._api.new_batch()
        failed: dict[int, PlatformError] = {}

        def ok(i: int) -> Callable[[FacebookResponse], None]:
            def record(r: FacebookResponse) -> None:
                body = r.json()
                kind = (body.get("metadata") or {}).get("type")
                if kind not in ("ad", "adset", "campaign"):
                    results[i] = PermanentError(f"{ids[i]} is a {kind}, not an ad or ad set")
                    return
                raw = body.get("daily_budget")
                budget = int(raw) if raw not in (None, "", "0") else None
                results[i] = ObjectState(
                    ids[i], kind, body.get("status", ""), budget, body.get("name")
                )

            return record

        def bad(i: int) -> Callable[[FacebookResponse], None]:
            def record(r: FacebookResponse) -> None:
                err = classify(r.error(), self._backoff(attempt))
                (failed if err.retryable else results)[i] = err

            return record

        for i in pending:
            fields = "id,name,status,daily_budget" if wants[i] else "id,name,status"
            params = {"fields": fields, "metadata": 1}
            batch.add("GET", (ids[i],), params, success=ok(i), failure=bad(i))
        try:
            left = batch.execute()
        except FacebookRequestError as exc:
            err = classify(exc, self._backoff(attempt))
            return {i: err for i in pending} if err.retryable else _all(pending, err, results)
        except requests.RequestException as exc:
            return {i: TransientError(f"network error: {type(exc).__name__}") for i in pending}
        if left is not None:
            for i in pending:
                if i not in results and i not in failed:
                    failed[i] = TransientError("no answer in the batch response")
        return failed

    def insights(self, ad_ids: Sequence[str], since: date, until: date) -> list[InsightRow]:
        if not ad_ids:
            return []
        params = {
            "level": "ad",
            "fields": ",".join(f for f in INSIGHT_FIELDS if not f.startswith("date_")),
            "time_range": {"since": since.isoformat(), "until": until.isoformat()},
            "time_increment": 1,
            "filtering": [{"field": "ad.id", "operator": "IN", "value": list(ad_ids)}],
            "limit": 500,
        }
        page = self._call("GET", (self.account_id, "insights"), params)
        rows = list(page.get("data", []))
        while (page.get("paging") or {}).get("next"):
            page = self._call("GET", page["paging"]["next"])
            rows += page.get("data", [])
        return [parse_insight(r) for r in rows]

    # --- publishing -------------------------------------------------------------------
    def _find(self, parent: str, edge: str, field: str, key: str, fields: str) -> dict | None:
        flt = [{"field": field, "operator": "CONTAIN", "value": _tag(key)}]
        found = self._call("GET", (parent, edge), {"fields": fields, "filtering": flt})
        return next(iter(found.get("data") or []), None)

    def create_ad(self, spec: AdSpec) -> PublishResult:
        if not self.page_id:
            raise PermanentError(f"no Facebook page configured for tenant {self.tenant_id}")
        key, name = spec.idempotency_key, f"{spec.name} {_tag(spec.idempotency_key)}"
        ad = self._find(spec.adset_id, "ads", "name", key, "id,name,status,creative")
        if ad is not None:
            creative_id = str((ad.get("creative") or {}).get("creative_id") or "")
            video = self._find(self.account_id, "advideos", "title", key, "id,title")
            video_id = str(video["id"]) if video else ""
            log.info("meta ad exists", extra={"ad_id": ad["id"], "idempotency_key": key})
            return PublishResult(str(ad["id"]), creative_id, video_id, ad.get("status", ""), False)
        video = self._find(self.account_id, "advideos", "title", key, "id,title")
        video_id = str(video["id"]) if video else self._upload(spec.video_path, name)
        creative = self._find(self.account_id, "adcreatives", "name", key, "id,name")
        if creative is None:
            story = {
                "page_id": self.page_id,
                "video_data": {
                    "video_id": video_id,
                    "message": spec.primary_text,
                    "title": spec.headline,
                    "call_to_action": {
                        "type": spec.call_to_action,
                        "value": {"link": spec.link_url},
                    },
                },
            }
            creative = self._call(
                "POST",
                (self.account_id, "adcreatives"),
                {"name": name, "object_story_spec": story},
            )
        creative_id = str(creative["id"])
        made = self._call(
            "POST",
            (self.account_id, "ads"),
            {
                "name": name,
                "adset_id": spec.adset_id,
                "creative": {"creative_id": creative_id},
                "status": spec.status,
            },
        )
        log.info("meta ad created", extra={"ad_id": made["id"], "idempotency_key": key})
        return PublishResult(str(made["id"]), creative_id, video_id, spec.status, True)

    def _upload(self, video_path: str, title: str) -> str:
        """Chunked upload (start, transfer..., finish) at ``video_graph_url``; the video id."""
        path = Path(video_path)
        if not path.is_file():
            raise PermanentError(f"video not found: {video_path}")
        size = path.stat().st_size
        edge, url = (self.account_id, "advideos"), self.config.video_graph_url.rstrip("/")
        start = self._call(
            "POST", edge, {"upload_phase": "start", "file_size": size}, url_override=url
        )
        video_id, session = str(start["video_id"]), start["upload_session_id"]
        lo, hi = int(start["start_offset"]), int(start["end_offset"])
        with path.open("rb") as f:
            while lo < hi:
                f.seek(lo)
                chunk = f.read(hi - lo)
                step = self._call(
                    "POST",
                    edge,
                    {"upload_phase": "transfer", "upload_session_id": session, "start_offset": lo},
                    files={"video_file_chunk": (path.name, chunk, "application/octet-stream")},
                    url_override=url,
                )
                lo, hi = int(step["start_offset"]), int(step["end_offset"])
        done = self._call(
            "POST",
            edge,
            {"upload_phase": "finish", "upload_session_id": session, "title": title},
            url_override=url,
        )
        if not done.get("success"):
            raise TransientError(f"video upload of {path.name} did not finish")
        return video_id


def _all(
    pending: list[int], err: PlatformError, results: dict[int, ApplyResult | PlatformError]
) -> dict[int, PlatformError]:
    for i in pending:
        results[i] = err
    return {}


__all__ = [
    "CredentialsError",
    "MetaAdapter",
    "MetaCredentials",
    "RATE_LIMIT_CODES",
    "Secret",
    "UsageThrottle",
    "classify",
    "load_credentials",
]
