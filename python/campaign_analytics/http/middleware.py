"""Pure ASGI middleware around the routes (no BaseHTTPMiddleware: it would copy every body).

    RequestLogMiddleware    outermost: request id, `X-Content-Type-Options: nosniff`, one access
                            log line and the request metrics for every request, errors included
    HttpCachingMiddleware   innermost: HEAD for every GET route; on read answers (those that carry
                            X-Build-Id) a strong ETag, Cache-Control, and 304 on If-None-Match

Both run on every request: header lists are scanned once, nothing is parsed that is not
needed, and a message from the app is copied when a header is added, never changed in place
(an ASGI message belongs to whoever sent it).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import time
from collections.abc import Callable
from typing import Any

from campaign_analytics.http import metrics
from campaign_analytics.messages import SHOWN_CHARS, escape_controls, shorten

Scope = dict[str, Any]
Message = dict[str, Any]
ASGIApp = Callable[..., Any]

access_log = logging.getLogger("campaign_analytics.access")

REQUEST_ID_HEADER = b"x-request-id"
NOSNIFF = (b"x-content-type-options", b"nosniff")
# A client's request id is echoed and logged, so it must be short and harmless.
_SANE_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:\-]{1,128}")
# a request target is logged whole up to here (a query string may be longer than any one value)
_MAX_LOGGED_TARGET = 512
_INFO = logging.INFO


def request_id_from(headers: list[tuple[bytes, bytes]]) -> str:
    """The client's X-Request-ID when it is 1-128 characters of [A-Za-z0-9._:-], else a new one."""
    for name, value in headers:
        if name == REQUEST_ID_HEADER:
            if _SANE_REQUEST_ID.fullmatch(value):
                return value.decode("ascii")
            break
    return os.urandom(12).hex()


def route_template(scope: Scope) -> str:
    """The matched route's path template (bounded label), or `unmatched`."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


def printable(text: str, limit: int = SHOWN_CHARS) -> str:
    """Text as it may be written to a log: control characters escaped (no terminal escapes from a
    client reach stderr), length capped."""
    return escape_controls(shorten(text, limit))


class RequestLogMiddleware:
    def __init__(self, app: ASGIApp, *, log_requests: bool = True, count_requests: bool = True) -> None:
        self.app = app
        self.log_requests = log_requests
        self.count_requests = count_requests

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = request_id_from(scope["headers"])
        scope.setdefault("state", {})["request_id"] = request_id  # request.state.request_id
        extra = ((REQUEST_ID_HEADER, request_id.encode("ascii")), NOSNIFF)
        status = 500

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), *extra]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            seconds = time.perf_counter() - started
            route = route_template(scope)
            if self.count_requests:
                metrics.observe_request(scope["method"], route, status, seconds)
            if self.log_requests and access_log.isEnabledFor(_INFO):
                self._log(scope, status, seconds, request_id, route)

    @staticmethod
    def _log(scope: Scope, status: int, seconds: float, request_id: str, route: str) -> None:
        query = scope.get("query_string", b"")
        target = scope["path"] + ("?" + query.decode("latin-1") if query else "")
        target = printable(target, _MAX_LOGGED_TARGET)
        ms = round(seconds * 1000, 3)
        message = f"{scope['method']} {target} {status} {ms:.2f} ms id={request_id}"
        # makeRecord + handle, not .info(): the same record without the stack walk that finds
        # the caller's file and line (nobody reads them for an access line); 5 us, 4 % of a
        # read request end to end (DECISIONS.md, the tricks table).
        record = access_log.makeRecord(access_log.name, _INFO, "(access)", 0, message, (), None)
        client = scope.get("client")
        record.fields = {
            "request_id": request_id,
            "method": scope["method"],
            "path": target,
            "route": route,
            "status": status,
            "duration_ms": ms,
            "client": client[0] if client else None,
        }
        access_log.handle(record)


# --- HTTP caching and HEAD -----------------------------------------------------------------

BUILD_ID_HEADER = b"x-build-id"
_DROPPED_ON_304 = frozenset({b"content-length", b"content-type"})


def etag_for(build_id: bytes, body: bytes) -> bytes:
    """A strong validator: the same build and the same body bytes give the same tag."""
    digest = hashlib.blake2b(build_id, digest_size=16)
    digest.update(b"\0")
    digest.update(body)
    return b'"' + digest.hexdigest().encode("ascii") + b'"'


def none_match(header: bytes, etag: bytes) -> bool:
    """Does If-None-Match `header` match `etag`? `*`, lists, and W/ tags (RFC 9110 uses the weak
    comparison for If-None-Match)."""
    if header.strip() == b"*":
        return True
    for candidate in header.split(b","):
        candidate = candidate.strip()
        if candidate.startswith(b"W/"):
            candidate = candidate[2:]
        if candidate == etag:
            return True
    return False


class HttpCachingMiddleware:
    """HEAD answered as GET without the body; read answers get ETag and Cache-Control.

    `cache_control(route_template)` says how long a read answer stays valid for that route
    (e.g. `public, max-age=5`, or `no-cache` where the answer depends on live thresholds).
    """

    def __init__(self, app: ASGIApp, *, cache_control: Callable[[str], bytes]) -> None:
        self.app = app
        self.cache_control = cache_control

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        head = method == "HEAD"
        if head:
            # A copy: the server's own scope must still say HEAD (it then sends no body).
            inner = {**scope, "method": "GET"}
        elif method == "GET":
            inner = scope
        else:
            await self.app(scope, receive, send)
            return
        if_none_match: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"if-none-match":
                if_none_match = value
                break
        held: Message | None = None
        build_id = b""

        async def send_cached(message: Message) -> None:
            nonlocal held, build_id
            if message["type"] == "http.response.start":
                if message["status"] == 200:
                    for name, value in message.get("headers", ()):
                        if name == BUILD_ID_HEADER:
                            held, build_id = message, value  # a read answer: wait for its body
                            return
                await send(message)
                return
            if held is None:
                if head and message["type"] == "http.response.body":
                    message = {"type": "http.response.body", "body": b"", "more_body": message.get("more_body", False)}
                await send(message)
                return
            start, held = held, None
            body = message.get("body", b"")
            if message.get("more_body", False):  # streamed: no validator without the whole body
                await send(start)
                await send({**message, "body": b""} if head else message)
                return
            etag = etag_for(build_id, body)
            headers = [
                *start.get("headers", ()),
                (b"etag", etag),
                (b"cache-control", self.cache_control(route_template(inner))),
            ]
            if if_none_match is not None and none_match(if_none_match, etag):
                headers = [(k, v) for k, v in headers if k not in _DROPPED_ON_304]
                await send({"type": "http.response.start", "status": 304, "headers": headers})
                await send({"type": "http.response.body", "body": b""})
                return
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": b"" if head else body})

        try:
            await self.app(inner, receive, send_cached)
        finally:
            if inner is not scope and "route" in inner:
                scope["route"] = inner["route"]  # for the metrics' route label outside
