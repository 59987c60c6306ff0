"""Run an ASGI app under a real uvicorn server on 127.0.0.1 (a free port) for the test's span."""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
from collections.abc import Iterator
from typing import Any

import uvicorn

from tests.support.waits import wait_for


def free_port() -> int:
    """A loopback port nothing listens on now (the kernel's pick; free until someone takes it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def serve(app: Any, **config: Any) -> Iterator[str]:
    """`app` under uvicorn on a free port of 127.0.0.1 (lifespan on; `config`: more
    `uvicorn.Config` arguments, log_level "warning" unless given); yields the base URL."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, **{"log_level": "warning", "lifespan": "on", **config}))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    wait_for(lambda: server.started or not thread.is_alive(), timeout=30, message="uvicorn did not start")
    if not server.started:
        raise RuntimeError("uvicorn did not start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        sock.close()


def raw_get(base_url: str, target: str) -> tuple[int, bytes]:
    """GET `target` exactly as written (no normalisation of dots or escapes by a client)."""
    host, port = base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.putrequest("GET", target, skip_accept_encoding=True)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()
