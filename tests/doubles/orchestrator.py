"""A test double standing in for an EMCO orchestrator and a CloudEvents sink.

EMCO itself (Go services, MongoDB, etcd) cannot run here, so this real HTTP server on
127.0.0.1 (port 0) speaks the part of EMCO's orchestrator API the controller uses, with
EMCO's validation rules, so the controller's httpx client is tested over real HTTP:

- POST /v2/controllers: creates a controller; 400 when the name does not match EMCO's
  pattern (or is longer than 128), host is empty, port is outside 1..65535, type is not
  "action" or "placement", or priority is outside 1..100; 409 when the name exists.
- PUT /v2/controllers/{name}: updates (200) or creates (201); 400 on a name mismatch with
  the body or on the rules above.
- GET /v2/controllers and /v2/controllers/{name}; DELETE /v2/controllers/{name} (204, or 404).
- POST {sink_path}: a CloudEvent, structured (`application/cloudevents+json`) or binary
  (`ce-*` headers); 400 unless specversion is "1.0" and id, source and type are non-empty
  and time, when present, is RFC 3339; recorded in `events` (as a structured dict).

It can be created down: the port is bound, so it is known and reserved, but not listening,
so connections are refused until `up()`, which is how the retry loop is tested without
races for the port. `fail_next` makes the next requests answer a given status, and
`requests` records every (method, path) received.

What it does not do: the rest of EMCO (projects, apps, intents), authentication, TLS.
"""

from __future__ import annotations

import json
import re
import threading
from datetime import datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
COLLECTION = "/v2/controllers"


class BadRequest(Exception):
    pass


def validate_controller(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    metadata, spec = body.get("metadata"), body.get("spec")
    if not isinstance(metadata, dict) or not isinstance(spec, dict):
        raise BadRequest("metadata and spec are required objects")
    name = metadata.get("name")
    if not isinstance(name, str) or not NAME.match(name) or len(name) > 128:
        raise BadRequest(f"metadata.name {name!r} is invalid")
    if not isinstance(spec.get("host"), str) or not spec["host"]:
        raise BadRequest("spec.host is required")
    port = spec.get("port")
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        raise BadRequest(f"spec.port {port!r} is outside 1..65535")
    if spec.get("type") not in ("action", "placement"):
        raise BadRequest(f"spec.type {spec.get('type')!r} is not action or placement")
    priority = spec.get("priority")
    if not isinstance(priority, int) or isinstance(priority, bool) or not 1 <= priority <= 100:
        raise BadRequest(f"spec.priority {priority!r} is outside 1..100")
    return body


def validate_cloudevent(event: Any) -> dict[str, Any]:
    if not isinstance(event, dict):
        raise BadRequest("a CloudEvent is a JSON object")
    if event.get("specversion") != "1.0":
        raise BadRequest(f"specversion {event.get('specversion')!r} is not 1.0")
    for attribute in ("id", "source", "type"):
        if not isinstance(event.get(attribute), str) or not event[attribute]:
            raise BadRequest(f"{attribute} is required")
    if "time" in event:
        try:
            datetime.fromisoformat(str(event["time"]).replace("Z", "+00:00"))
        except ValueError:
            raise BadRequest(f"time {event['time']!r} is not RFC 3339") from None
    return event


class OrchestratorDouble:
    """Use as a context manager, or call up() / close(); `url` and `sink_url` are fixed."""

    def __init__(self, *, up: bool = True, sink_path: str = "/events") -> None:
        self.sink_path = sink_path
        self.controllers: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.event_content_types: list[str] = []
        self.requests: list[tuple[str, str]] = []
        self._fail: list[int] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler, bind_and_activate=False)
        self._server.daemon_threads = True
        self._server.double = self  # type: ignore[attr-defined]
        self._server.server_bind()
        self.port: int = self._server.server_address[1]
        self._thread: threading.Thread | None = None
        if up:
            self.up()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def sink_url(self) -> str:
        return f"{self.url}{self.sink_path}"

    @property
    def is_up(self) -> bool:
        return self._thread is not None

    def up(self) -> None:
        """Starts listening on the port reserved at construction."""
        if self._thread is not None:
            return
        self._server.server_activate()
        self._thread = threading.Thread(
            # A short poll keeps close() (and every test's teardown) from waiting 0.5 s.
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="orchestrator-double",
            daemon=True,
        )
        self._thread.start()

    def close(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> OrchestratorDouble:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def fail_next(self, status: int = 503, times: int = 1) -> None:
        with self._lock:
            self._fail.extend([status] * times)

    def calls(self, method: str | None = None) -> list[tuple[str, str]]:
        with self._lock:
            return [r for r in self.requests if method is None or r[0] == method]

    def received(self, type_: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self.events if type_ is None or e.get("type") == type_]

    def controller(self, name: str) -> dict[str, Any] | None:
        with self._lock:
            return self.controllers.get(name)

    # -- request handling (server threads) ---------------------------------------------------

    def handle(
        self, method: str, path: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, Any]:
        with self._lock:
            self.requests.append((method, path))
            if self._fail:
                return self._fail.pop(0), {"message": "failing on purpose"}
        try:
            if path == self.sink_path and method == "POST":
                return self._event(headers, raw)
            if path == COLLECTION:
                if method == "GET":
                    with self._lock:
                        return HTTPStatus.OK, list(self.controllers.values())
                if method == "POST":
                    body = validate_controller(_json(raw))
                    name = body["metadata"]["name"]
                    with self._lock:
                        if name in self.controllers:
                            return HTTPStatus.CONFLICT, {"message": f"{name} already exists"}
                        self.controllers[name] = body
                    return HTTPStatus.CREATED, body
            elif path.startswith(COLLECTION + "/") and "/" not in path[len(COLLECTION) + 1 :]:
                return self._item(method, path[len(COLLECTION) + 1 :], raw)
            return HTTPStatus.NOT_FOUND, {"message": f"no route for {method} {path}"}
        except BadRequest as exc:
            return HTTPStatus.BAD_REQUEST, {"message": str(exc)}

    def _item(self, method: str, name: str, raw: bytes) -> tuple[int, Any]:
        with self._lock:
            current = self.controllers.get(name)
        if method == "GET":
            if current is None:
                return HTTPStatus.NOT_FOUND, {"message": f"{name} not found"}
            return HTTPStatus.OK, current
        if method == "PUT":
            body = validate_controller(_json(raw))
            if body["metadata"]["name"] != name:
                raise BadRequest("metadata.name does not match the URL")
            with self._lock:
                existed = name in self.controllers
                self.controllers[name] = body
            return (HTTPStatus.OK if existed else HTTPStatus.CREATED), body
        if method == "DELETE":
            with self._lock:
                if self.controllers.pop(name, None) is None:
                    return HTTPStatus.NOT_FOUND, {"message": f"{name} not found"}
            return HTTPStatus.NO_CONTENT, None
        return HTTPStatus.METHOD_NOT_ALLOWED, {"message": method}

    def _event(self, headers: dict[str, str], raw: bytes) -> tuple[int, Any]:
        content_type = headers.get("content-type", "").split(";")[0].strip()
        if content_type == "application/cloudevents+json":
            event = _json(raw)
        elif "ce-specversion" in headers:
            event = {k[3:]: v for k, v in headers.items() if k.startswith("ce-")}
            event["datacontenttype"] = content_type
            event["data"] = _json(raw) if content_type == "application/json" else raw.decode()
        else:
            return HTTPStatus.UNSUPPORTED_MEDIA_TYPE, {"message": content_type}
        validate_cloudevent(event)
        with self._lock:
            self.events.append(event)
            self.event_content_types.append(content_type)
        return HTTPStatus.ACCEPTED, None


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw or b"null")
    except ValueError as exc:
        raise BadRequest(f"body is not JSON: {exc}") from None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        double: OrchestratorDouble = self.server.double  # type: ignore[attr-defined]
        status, body = double.handle(self.command, self.path.split("?")[0], headers, raw)
        payload = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if payload:
            self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = _serve
