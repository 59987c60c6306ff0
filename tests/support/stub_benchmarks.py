"""A real HTTP benchmark service on 127.0.0.1 for tests, whose behaviour a test sets.

with StubBenchmarks({"cmp-001": {"min_ctr": 0.04, "min_roas": 3}}) as stub:
    stub.behave(status=503)            # every /benchmarks/... answers 503
    stub.behave(body=b"not json")      # ... answers 200 with that body
    stub.behave(delay=5)               # ... answers after 5 s
    stub.behave(drip=0.5)              # ... sends one body byte every 0.5 s
    stub.behave(hang=True)             # ... reads the request and never answers, until the
                                       #     next behave() (then it drops the connection)
    stub.behave(headers={"Cache-Control": "max-age=60"})   # extra response headers
    stub.behave(etag='"v1"')           # sends ETag "v1"; answers If-None-Match "v1" with a 304
    stub.behave(length=False)          # no Content-Length: the body ends when the connection does
    stub.behave(content_type=None)     # no Content-Type header (or "text/plain", ...)
    stub.url                           # http://127.0.0.1:<free port>
    stub.connections_opened            # connections accepted so far
    stub.connections_open              # ... and not yet closed (by either side)
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from tests.support.live_server import free_port


class StubBenchmarks:
    def __init__(self, thresholds: dict[str, Any] | None = None) -> None:
        self.thresholds = dict(thresholds or {})
        self.requests: list[str] = []
        self.request_headers: list[dict[str, str]] = []  # of each /benchmarks/... request
        self._released = threading.Event()
        self.behave()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep pytest output clean
                pass

            def do_GET(self) -> None:
                stub.requests.append(self.path)
                if self.path == "/health":
                    time.sleep(stub.health_delay)
                    self._send(stub.health_status, b'{"status":"ok"}')
                    return
                if not self.path.startswith("/benchmarks/"):
                    self._send(404, b"{}")
                    return
                stub.request_headers.append({k.lower(): v for k, v in self.headers.items()})
                if stub.hang:
                    stub._released.wait(30)  # bounded, whatever the test does
                    self.close_connection = True
                    return
                time.sleep(stub.delay)
                if stub.etag is not None and self.headers.get("If-None-Match") == stub.etag:
                    self._send(304, b"")
                    return
                campaign_id = unquote(self.path.removeprefix("/benchmarks/"))
                if stub.status is not None:
                    self._send(stub.status, stub.body or b'{"detail":"stub"}')
                elif stub.body is not None:
                    self._send(200, stub.body)
                elif campaign_id in stub.thresholds:
                    self._send(200, json.dumps(stub.thresholds[campaign_id]).encode())
                else:
                    self._send(404, b'{"detail":"no such campaign"}')

            def _send(self, status: int, body: bytes) -> None:
                self.send_response(status)
                if stub.content_type is not None:
                    self.send_header("Content-Type", stub.content_type)
                if stub.length and status != 304:
                    self.send_header("Content-Length", str(len(body)))
                elif status != 304:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                if stub.etag is not None:
                    self.send_header("ETag", stub.etag)
                for name, value in stub.extra_headers.items():
                    self.send_header(name, value)
                self.end_headers()
                if status == 304:
                    return
                if stub.drip is None:
                    self.wfile.write(body)
                    return
                for i in range(len(body)):
                    self.wfile.write(body[i : i + 1])
                    self.wfile.flush()
                    time.sleep(stub.drip)

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def connections_opened(self) -> int:
        return self.server.opened

    @property
    def connections_open(self) -> int:
        return self.server.open

    def behave(
        self,
        *,
        status: int | None = None,
        body: bytes | None = None,
        delay: float = 0.0,
        drip: float | None = None,
        health_status: int = 200,
        health_delay: float = 0.0,
        hang: bool = False,
        headers: Mapping[str, str] | None = None,
        etag: str | None = None,
        length: bool = True,
        content_type: str | None = "application/json",
    ) -> None:
        self.status, self.body, self.delay, self.drip = status, body, delay, drip
        self.health_status, self.health_delay = health_status, health_delay
        self.extra_headers, self.etag, self.length = dict(headers or {}), etag, length
        self.content_type = content_type
        # the handlers hanging now are let go (they drop their connections unanswered)
        self._released.set()
        self._released = threading.Event()
        self.hang = hang

    def __enter__(self) -> StubBenchmarks:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._released.set()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)


class _Server(ThreadingHTTPServer):
    request_queue_size = 512  # bursts of concurrent connects are not dropped by the backlog

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._counting = threading.Lock()
        self.opened = 0  # connections accepted
        self.open = 0  # ... whose handler has not finished (the connection is closed then)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._counting:
            self.opened += 1
            self.open += 1
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        super().shutdown_request(request)
        with self._counting:
            self.open -= 1

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client that gave up: expected
            super().handle_error(request, client_address)


def closed_port_url() -> str:
    """A loopback URL nothing listens on: connecting to it is refused at once."""
    return f"http://127.0.0.1:{free_port()}"
