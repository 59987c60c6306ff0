"""A real HTTP benchmark service on 127.0.0.1 for tests, whose behaviour a test sets.

with StubBenchmarks({"cmp-001": {"min_ctr": 0.04, "min_roas": 3}}) as stub:
    stub.behave(status=503)            # every /benchmarks/... answers 503
    stub.behave(body=b"not json")      # ... answers 200 with that body
    stub.behave(delay=5)               # ... answers after 5 s
    stub.behave(drip=0.5)              # ... sends one body byte every 0.5 s
    stub.url                           # http://127.0.0.1:<free port>
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote


class StubBenchmarks:
    def __init__(self, thresholds: dict[str, Any] | None = None) -> None:
        self.thresholds = dict(thresholds or {})
        self.requests: list[str] = []
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
                time.sleep(stub.delay)
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
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if stub.drip is None:
                    self.wfile.write(body)
                    return
                for i in range(len(body)):
                    self.wfile.write(body[i : i + 1])
                    self.wfile.flush()
                    time.sleep(stub.drip)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def behave(
        self,
        *,
        status: int | None = None,
        body: bytes | None = None,
        delay: float = 0.0,
        drip: float | None = None,
        health_status: int = 200,
        health_delay: float = 0.0,
    ) -> None:
        self.status, self.body, self.delay, self.drip = status, body, delay, drip
        self.health_status, self.health_delay = health_status, health_delay

    def __enter__(self) -> StubBenchmarks:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)


def closed_port_url() -> str:
    """A loopback URL nothing listens on: connecting to it is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"
