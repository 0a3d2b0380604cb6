"""A fake Graph API server on 127.0.0.1 for the Meta adapter's tests.

It keeps object state (campaigns, ad sets, ads, creatives, videos), answers batch requests,
the chunked video upload and insights, records every call (batch items included), and can
inject rate-limit / 5xx errors, "lost responses" (applied, then a 500) and usage headers, at
seeded rates. Point the SDK at :attr:`FakeGraph.url` (``FacebookSession.GRAPH``).
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

RATE_LIMIT_CODES = (4, 17, 613, 80004)
UPLOAD_CHUNK = 64 * 1024  # bytes the fake asks for per transfer request


@dataclass
class Call:
    method: str
    path: str  # without the version, e.g. "123" or "act_1/ads"
    params: dict[str, Any]
    version: str
    in_batch: bool
    status: int = 0
    auth: str = ""  # "header" | "param" | ""


@dataclass
class Faults:
    """Injected per call (and per batch item): ``error_rate`` of calls fail before applying
    with a code drawn from ``codes`` (500 means HTTP 500); ``lost_rate`` apply, then answer
    500. ``usage_pct``: the usage headers' value (None: no headers); ``regain_min``: their
    ``estimated_time_to_regain_access``."""

    error_rate: float = 0.0
    codes: tuple[int, ...] = RATE_LIMIT_CODES + (500,)
    lost_rate: float = 0.0
    usage_pct: float | None = None
    regain_min: int = 0
    seed: int = 0


@dataclass
class FakeGraph:
    token: str = "fake-token"
    version: str = "v26.0"
    faults: Faults = field(default_factory=Faults)

    def __post_init__(self) -> None:
        self.calls: list[Call] = []
        self.objects: dict[str, dict[str, Any]] = {}
        self.videos: dict[str, bytearray] = {}
        self.insight_rows: list[dict[str, Any]] = []
        self._ids = itertools.count(1000)
        self._lock = threading.RLock()
        self._rng = random.Random(self.faults.seed)
        self._server: ThreadingHTTPServer | None = None

    # --- lifecycle --------------------------------------------------------------------
    def start(self) -> FakeGraph:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FakeGraph:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # --- state helpers for tests ------------------------------------------------------
    def new_id(self) -> str:
        with self._lock:
            return str(next(self._ids))

    def add(self, kind: str, **fields: Any) -> str:
        oid = self.new_id()
        with self._lock:
            self.objects[oid] = {"id": oid, "type": kind, **fields}
        return oid

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        with self._lock:
            return [o for o in self.objects.values() if o["type"] == kind]

    def api_calls(self, method: str | None = None) -> list[Call]:
        """Calls that did something (not the outer batch POST), optionally of one method."""
        with self._lock:
            return [
                c for c in self.calls if c.path != "" and (method is None or c.method == method)
            ]

    # --- request handling -------------------------------------------------------------
    def _roll(self) -> tuple[int | None, bool]:
        with self._lock:
            f = self.faults
            if f.error_rate and self._rng.random() < f.error_rate:
                return self._rng.choice(f.codes), False
            return None, bool(f.lost_rate and self._rng.random() < f.lost_rate)

    def usage_headers(self) -> dict[str, str]:
        u = self.faults.usage_pct
        if u is None:
            return {}
        buc = {
            "1": [
                {
                    "type": "ads_management",
                    "call_count": u,
                    "total_cputime": u / 2,
                    "total_time": u / 2,
                    "estimated_time_to_regain_access": self.faults.regain_min,
                }
            ]
        }
        return {
            "X-Business-Use-Case-Usage": json.dumps(buc),
            "X-Ad-Account-Usage": json.dumps({"acc_id_util_pct": u, "reset_time_duration": 0}),
        }

    def handle(
        self,
        method: str,
        path: str,
        params: dict[str, Any],
        *,
        version: str,
        auth: str,
        in_batch: bool = False,
    ) -> tuple[int, dict[str, Any] | list[Any]]:
        call = Call(method, path, params, version, in_batch, auth=auth)
        with self._lock:
            self.calls.append(call)
        status, body = self._handle(method, path, params, version, auth, in_batch)
        call.status = status
        return status, body

    def _handle(self, method, path, params, version, auth, in_batch):
        if version != self.version:
            return 400, _error(2635, f"version {version} is not served here", "OAuthException")
        if not auth:
            return 400, _error(190, "Invalid OAuth access token.", "OAuthException")
        if path == "" and method == "POST" and "batch" in params and not in_batch:
            return 200, self._batch(params["batch"], version, auth)
        code, lost = self._roll()
        if code == 500:
            return 500, {
                "error": {
                    "message": "Service temporarily unavailable",
                    "code": 2,
                    "type": "OAuthException",
                    "is_transient": True,
                }
            }
        if code is not None:
            return 400, {
                "error": {
                    "message": "User request limit reached",
                    "code": code,
                    "type": "OAuthException",
                    "is_transient": True,
                    "error_subcode": 2446079,
                }
            }
        try:
            with self._lock:
                status, body = self._route(method, path, params)
        except KeyError as exc:
            return 400, _error(100, f"Missing parameter {exc}", "OAuthException")
        if lost and status == 200:
            return 500, {
                "error": {
                    "message": "An unknown error occurred",
                    "code": 1,
                    "type": "OAuthException",
                    "is_transient": True,
                }
            }
        return status, body

    def _batch(self, raw: str, version: str, auth: str) -> list[dict[str, Any]]:
        items = json.loads(raw)
        if len(items) > 50:
            return [{"code": 400, "body": json.dumps(_error(1, "too many", "GraphBatchException"))}]
        out = []
        for item in items:
            url = urlsplit(item["relative_url"])
            params = dict(parse_qsl(url.query))
            params.update(parse_qsl(item.get("body", "")))
            rel = url.path.strip("/")
            v = version
            if rel.startswith("v") and "/" in rel and rel.split("/", 1)[0][1:2].isdigit():
                v, rel = rel.split("/", 1)
            status, body = self.handle(
                item["method"], rel, params, version=v, auth=auth, in_batch=True
            )
            headers = [{"name": k, "value": v} for k, v in self.usage_headers().items()]
            out.append({"code": status, "headers": headers, "body": json.dumps(body)})
        return out

    def _route(self, method: str, path: str, params: dict[str, Any]):
        parts = path.split("/")
        if len(parts) == 1:
            obj = self.objects.get(parts[0])
            if obj is None:
                return 400, _error(
                    100,
                    f"Object with ID '{parts[0]}' does not exist",
                    "GraphMethodException",
                    subcode=33,
                )
            if method == "GET":
                return 200, _fields(obj, params)
            if method == "POST":
                for key in ("daily_budget", "status", "name"):
                    if key in params:
                        obj[key] = int(params[key]) if key == "daily_budget" else params[key]
                return 200, {"success": True}
        if len(parts) == 2 and parts[1] == "advideos" and method == "POST":
            return self._upload(parts[0], params)
        if len(parts) == 2 and method == "POST" and parts[1] in ("adcreatives", "ads"):
            kind = "creative" if parts[1] == "adcreatives" else "ad"
            fields = {k: v for k, v in params.items() if k != "access_token"}
            if kind == "ad":
                if fields["adset_id"] not in self.objects:
                    return 400, _error(100, "Invalid ad set", "OAuthException")
                fields["creative"] = json.loads(fields["creative"])
                fields.setdefault("status", "ACTIVE")
            else:
                fields["object_story_spec"] = json.loads(fields["object_story_spec"])
            oid = self.new_id()
            self.objects[oid] = {"id": oid, "type": kind, "account_id": parts[0], **fields}
            return 200, {"id": oid}
        if len(parts) == 2 and method == "GET" and parts[1] == "insights":
            return 200, {"data": self._insights(params), "paging": {}}
        if len(parts) == 2 and method == "GET":
            kind = {"ads": "ad", "adcreatives": "creative", "advideos": "video"}[parts[1]]
            key = "adset_id" if parts[1] == "ads" else "account_id"
            rows = [o for o in self.of_type(kind) if o.get(key) == parts[0]]
            for flt in json.loads(params.get("filtering", "[]")):
                if flt["operator"] == "CONTAIN":
                    rows = [o for o in rows if flt["value"] in str(o.get(flt["field"], ""))]
            return 200, {"data": [_fields(o, params) for o in rows], "paging": {}}
        return 400, _error(100, f"Unsupported {method} request: {path}", "GraphMethodException")

    def _upload(self, account: str, params: dict[str, Any]):
        phase = params["upload_phase"]
        if phase == "start":
            vid = self.new_id()
            size = int(params["file_size"])
            self.objects[vid] = {
                "id": vid,
                "type": "video",
                "account_id": account,
                "size": size,
                "status": {"video_status": "processing"},
            }
            self.videos[vid] = bytearray()
            return 200, {
                "video_id": vid,
                "upload_session_id": f"s{vid}",
                "start_offset": "0",
                "end_offset": str(min(UPLOAD_CHUNK, size)),
            }
        vid = params["upload_session_id"][1:]
        video = self.objects[vid]
        if phase == "transfer":
            start = int(params["start_offset"])
            data = self.videos[vid]
            if start != len(data):
                return 400, _error(6001, "bad start_offset", "OAuthException", subcode=1363037)
            data += params["video_file_chunk"]
            end = min(len(data) + UPLOAD_CHUNK, video["size"])
            return 200, {"start_offset": str(len(data)), "end_offset": str(end)}
        if phase == "finish":
            video["title"] = params.get("title", "")
            video["status"] = {"video_status": "ready"}
            return 200, {"success": len(self.videos[vid]) == video["size"]}
        return 400, _error(100, f"bad upload_phase {phase}", "OAuthException")

    def _insights(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        rng = json.loads(params["time_range"])
        ids = None
        for flt in json.loads(params.get("filtering", "[]")):
            if flt["field"] == "ad.id":
                ids = set(flt["value"])
        return [
            r
            for r in self.insight_rows
            if rng["since"] <= r["date_start"] <= rng["until"]
            and (ids is None or r["ad_id"] in ids)
        ]


def _error(code: int, message: str, kind: str, subcode: int | None = None) -> dict[str, Any]:
    err: dict[str, Any] = {"message": message, "type": kind, "code": code}
    if subcode is not None:
        err["error_subcode"] = subcode
    return {"error": err}


def _fields(obj: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    names = [f for f in params.get("fields", "").split(",") if f]
    out = {"id": obj["id"]}
    for name in names:
        if name in obj:
            out[name] = str(obj[name]) if name == "daily_budget" else obj[name]
    if params.get("metadata") in ("1", "true"):
        out["metadata"] = {"type": obj["type"]}
    return out


def _handler(fake: FakeGraph) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes: without this, Nagle's algorithm and the
        # client's delayed ACK add about 40 ms to every keep-alive response.
        disable_nagle_algorithm = True

        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def _params(self) -> dict[str, Any]:
            url = urlsplit(self.path)
            params: dict[str, Any] = dict(parse_qsl(url.query))
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            ctype = self.headers.get("Content-Type", "")
            if ctype.startswith("multipart/form-data"):
                params.update(_multipart(ctype, body))
            elif body:
                params.update(parse_qsl(body.decode()))
            return params

        def _serve(self) -> None:
            params = self._params()
            auth = ""
            header = self.headers.get("Authorization", "")
            if header in (f"OAuth {fake.token}", f"Bearer {fake.token}"):
                auth = "header"
            elif params.pop("access_token", None) == fake.token:
                auth = "param"
            parts = urlsplit(self.path).path.strip("/").split("/", 1)
            version, path = parts[0], parts[1] if len(parts) > 1 else ""
            status, body = fake.handle(self.command, path, params, version=version, auth=auth)
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            for k, v in fake.usage_headers().items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(raw)

        do_GET = do_POST = do_DELETE = _serve

    return Handler


def _multipart(ctype: str, body: bytes) -> Iterator[tuple[str, Any]]:
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {ctype}\r\n\r\n".encode() + body
    )
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        yield name, payload if part.get_filename() else payload.decode()
