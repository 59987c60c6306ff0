"""The bounded HTTP protocol against a real uvicorn server on 127.0.0.1, over raw sockets.

A request head (request line and headers) over the limit is a 431 and a close, a head not
complete in time is a 408 and a close; a slow body, a slow response and ordinary requests
are untouched. Timeouts are small here (0.5 s); time bounds in assertions are generous.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import pickle
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from campaign_analytics.errors import ConfigError
from campaign_analytics.http import protocol as server_module
from campaign_analytics.http.protocol import (
    UVICORN_ARGS,
    EscapeControlCharacters,
    HeadLimitedHttpToolsProtocol,
    bounded_protocol,
    serve_options,
)
from campaign_analytics.messages import escape_controls
from campaign_analytics.serve.app import create_app
from campaign_analytics.settings import ServerLimits, Settings
from tests.support.datasets import REPO, VISIBLE
from tests.support.live_server import free_port, serve
from tests.support.waits import wait_for

LIMITS = ServerLimits(max_header_bytes=16 * 1024, header_timeout_seconds=0.5)
GENEROUS = 5.0  # seconds: an upper bound on anything that should take well under one


@contextlib.contextmanager
def running(app: Any, limits: ServerLimits = LIMITS) -> Iterator[int]:
    """uvicorn with the bounded protocol on a free port of 127.0.0.1; yields the port."""
    config = {"http": bounded_protocol(limits), "log_config": None, "log_level": "info", "timeout_keep_alive": 5}
    with serve(app, **config) as url:
        yield int(url.rsplit(":", 1)[1])


@pytest.fixture(scope="module")
def service_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    settings = Settings.for_data(
        VISIBLE,
        rollup_dir=tmp_path_factory.mktemp("server") / "rollups",
        benchmark_fixtures_file=VISIBLE / "benchmarks.json",
    )
    with running(create_app(settings)) as port:
        yield port


def connect(port: int) -> socket.socket:
    conn = socket.create_connection(("127.0.0.1", port), timeout=GENEROUS)
    _unread.pop(conn.fileno(), None)
    return conn


def read_until_closed(conn: socket.socket) -> bytes:
    """Everything the server sends until it closes (a timeout here fails the test)."""
    received = _unread.pop(conn.fileno(), b"")
    while chunk := conn.recv(65536):
        received += chunk
    return received


_unread: dict[int, bytes] = {}  # bytes received past the response read last, per socket


def read_response(conn: socket.socket) -> tuple[int, bytes]:
    """One response with a content-length body, leaving the connection open (and any bytes
    of a following response for the next call)."""
    received = _unread.pop(conn.fileno(), b"")
    while b"\r\n\r\n" not in received:
        chunk = conn.recv(65536)
        assert chunk, f"closed after {received!r}"
        received += chunk
    head, _, rest = received.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    length = next(int(line.split(b":")[1]) for line in lines if line.lower().startswith(b"content-length"))
    while len(rest) < length:
        chunk = conn.recv(65536)
        assert chunk, f"closed after {received!r}"
        rest += chunk
    if rest[length:]:
        _unread[conn.fileno()] = rest[length:]
    return int(lines[0].split(b" ")[1]), rest[:length]


def head_of(size: int, target: str = "/livez") -> bytes:
    """A GET whose request line and headers are exactly `size` bytes, blank line included."""
    start = f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: ".encode()
    end = b"\r\n\r\n"
    padding = size - len(start) - len(end)
    assert padding >= 0
    return start + b"a" * padding + end


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


# --- size ----------------------------------------------------------------------------------------


def test_a_one_megabyte_header_is_refused_with_431_at_once(service_port: int) -> None:
    started = time.monotonic()
    with connect(service_port) as conn:
        conn.sendall(b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 1_000_000 + b"\r\n\r\n")
        response = read_until_closed(conn)
    assert status_of(response) == 431
    assert response.endswith(b"Request line and headers exceed 16384 bytes.")
    assert b"connection: close" in response
    assert time.monotonic() - started < GENEROUS


@pytest.mark.parametrize(("size", "status"), [(16 * 1024 - 1, 200), (16 * 1024, 200), (16 * 1024 + 1, 431)])
def test_the_limit_counts_request_line_and_headers(service_port: int, size: int, status: int) -> None:
    with connect(service_port) as conn:
        conn.sendall(head_of(size))
        if status == 200:
            assert read_response(conn) == (200, b'{"status":"alive"}')
        else:
            assert status_of(read_until_closed(conn)) == status


@pytest.mark.parametrize("size", [16 * 1024, 16 * 1024 + 1])
def test_the_limit_is_the_same_when_the_head_arrives_in_pieces(service_port: int, size: int) -> None:
    data = head_of(size)
    with connect(service_port) as conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for start in range(0, len(data), 1000):
            conn.sendall(data[start : start + 1000])
            time.sleep(0.002)  # the pieces arrive one by one: the slow client is the behaviour
        if size <= 16 * 1024:
            assert read_response(conn)[0] == 200
        else:
            assert status_of(read_until_closed(conn)) == 431


def test_an_endless_header_line_is_refused_before_it_ends(service_port: int) -> None:
    """The server must not wait for (and buffer) the end of a header line to count it."""
    with connect(service_port) as conn:
        conn.sendall(b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Endless: ")
        for _ in range(8):  # 64 KiB of one header value, the line never finished
            conn.sendall(b"a" * 8192)
            time.sleep(0.01)  # in pieces, like a slow client
        response = read_until_closed(conn)
    assert status_of(response) == 431


@pytest.mark.parametrize(
    "request_",
    [
        b"GET /livez HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(3000)) + b"\r\n",  # many small
        b"GET /livez?" + b"q=1&" * 5000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",  # a long target
    ],
    ids=["many-headers", "long-target"],
)
def test_many_small_headers_or_a_long_target_add_up(service_port: int, request_: bytes) -> None:
    with connect(service_port) as conn:
        conn.sendall(request_)
        assert status_of(read_until_closed(conn)) == 431


# --- time ----------------------------------------------------------------------------------------


def test_a_head_dripping_one_byte_at_a_time_is_closed_after_the_timeout(service_port: int) -> None:
    request = b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    started = time.monotonic()
    with connect(service_port) as conn:
        sent = 0
        with contextlib.suppress(OSError):  # the server may have closed before the drip ends
            for byte in request:
                conn.sendall(bytes([byte]))
                sent += 1
                time.sleep(0.1)  # the whole head would take 4 s
        response = read_until_closed(conn)
    elapsed = time.monotonic() - started
    assert status_of(response) == 408, response
    assert response.endswith(b"Request headers not complete within 0.5 s.")
    assert sent < len(request)  # cut before the head was complete
    assert elapsed < GENEROUS


def test_a_connection_that_sends_nothing_is_closed_without_an_answer(service_port: int) -> None:
    started = time.monotonic()
    with connect(service_port) as conn:
        assert read_until_closed(conn) == b""
    assert time.monotonic() - started < GENEROUS


def test_the_clock_restarts_with_each_request_on_a_kept_alive_connection(service_port: int) -> None:
    with connect(service_port) as conn:
        conn.sendall(b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert read_response(conn)[0] == 200
        time.sleep(1.0)  # idle longer than the head timeout: keep-alive's business (5 s), not the head's
        conn.sendall(b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert read_response(conn)[0] == 200
        conn.sendall(b"GET /livez HTTP/1.1\r\n")  # a next head that stalls
        assert status_of(read_until_closed(conn)) == 408


async def slow_app(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
    """Echoes the body's length; `/slow` answers after 1.2 s (longer than the head timeout)."""
    import asyncio

    if scope["type"] != "http":
        return
    size, more = 0, True
    while more:
        message = await receive()
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    if scope["path"] == "/slow":
        await asyncio.sleep(1.2)
    body = json.dumps({"received": size}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(body))]})
    await send({"type": "http.response.body", "body": body})


def test_a_slow_body_is_not_cut_by_the_head_timeout() -> None:
    with running(slow_app) as port, connect(port) as conn:
        conn.sendall(b"POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 12\r\n\r\n")
        for byte in b"hello, world":  # 1.2 s of body, at one byte per 0.1 s
            conn.sendall(bytes([byte]))
            time.sleep(0.1)
        assert read_response(conn) == (200, b'{"received": 12}')


def test_a_long_response_is_not_cut_by_the_head_timeout() -> None:
    with running(slow_app) as port, connect(port) as conn:
        conn.sendall(b"GET /slow HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert read_response(conn) == (200, b'{"received": 0}')


def test_a_pipelined_request_waiting_behind_a_long_response_is_not_cut() -> None:
    with running(slow_app) as port, connect(port) as conn:
        conn.sendall(b"GET /slow HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /fast HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert read_response(conn) == (200, b'{"received": 0}')
        assert read_response(conn) == (200, b'{"received": 0}')


# --- everything else is as before -------------------------------------------------------------


def test_ordinary_requests_are_answered_as_before(service_port: int) -> None:
    with connect(service_port) as conn:
        conn.sendall(b"GET /campaigns/cmp-001/performance HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        status, body = read_response(conn)
        assert status == 200 and json.loads(body)["totals"]["total_impressions"] == 5000
        # two requests in one write (pipelining), then one more on the same connection
        conn.sendall(
            b"GET /livez HTTP/1.1\r\nHost: a\r\n\r\nGET /campaigns/nope/performance HTTP/1.1\r\nHost: a\r\n\r\n"
        )
        assert read_response(conn) == (200, b'{"status":"alive"}')
        assert read_response(conn)[0] == 404
        conn.sendall(b"POST /livez HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc")
        assert read_response(conn)[0] == 405


def test_a_malformed_request_is_still_a_400(service_port: int) -> None:
    with connect(service_port) as conn:
        conn.sendall(b"GET /livez HTTP/1.1\r\nHost: a\r\nBad\x1bHeader: x\r\n\r\n")
        assert status_of(read_until_closed(conn)) == 400


# --- configuration ---------------------------------------------------------------------------


def test_limits_come_from_the_environment() -> None:
    assert ServerLimits.from_env({}) == ServerLimits(16384, 10.0)
    assert ServerLimits.from_env({"MAX_HEADER_BYTES": "8192", "HEADER_TIMEOUT_SECONDS": "2.5"}) == ServerLimits(
        8192, 2.5
    )


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"MAX_HEADER_BYTES": "16k"}, "MAX_HEADER_BYTES='16k' must be a whole number of bytes, at least 1024"),
        ({"MAX_HEADER_BYTES": "100"}, "MAX_HEADER_BYTES='100' must be a whole number of bytes, at least 1024"),
        ({"HEADER_TIMEOUT_SECONDS": "soon"}, "HEADER_TIMEOUT_SECONDS='soon' is not a number of seconds"),
        ({"HEADER_TIMEOUT_SECONDS": "0"}, "HEADER_TIMEOUT_SECONDS='0' must be a finite number > 0"),
        ({"HEADER_TIMEOUT_SECONDS": "inf"}, "HEADER_TIMEOUT_SECONDS='inf' must be a finite number > 0"),
    ],
)
def test_malformed_limits_are_a_config_error(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        serve_options(environ)
    assert str(caught.value) == message


def test_serve_options_name_the_protocol_that_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_HEADER_BYTES", "4096")
    server_module._from_environment.cache_clear()
    try:
        options = serve_options()
        assert options == {
            "http": "campaign_analytics.http.protocol:BoundedHttpToolsProtocol",
            "timeout_keep_alive": 5,
            "loop": "asyncio",
        }
        config = uvicorn.Config(slow_app, **options)
        config.load()
        protocol = config.http_protocol_class
        assert issubclass(protocol, HeadLimitedHttpToolsProtocol)
        assert protocol.limits == ServerLimits(4096, 10.0)
        assert pickle.loads(pickle.dumps(protocol)) is protocol  # `--workers` processes get it by name
    finally:
        server_module._from_environment.cache_clear()


def test_the_documented_command_applies_the_limits_from_the_environment(tmp_path: Path) -> None:
    """`uvicorn app:app` + UVICORN_ARGS, as the README runs it, with a 2 KiB limit from the environment."""
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO / "python"),
        "DATA_DIR": str(VISIBLE),
        "ROLLUP_DIR": str(tmp_path / "rollups"),
        "BENCHMARK_FIXTURES_FILE": str(VISIBLE / "benchmarks.json"),
        "MAX_HEADER_BYTES": "2048",
    }
    command = [sys.executable, "-m", "uvicorn", "app:app", "--host", "127.0.0.1", "--port", str(port), *UVICORN_ARGS]
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:

        def connected() -> socket.socket:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            return socket.create_connection(("127.0.0.1", port), timeout=GENEROUS)

        conn = wait_for(connected, timeout=60, interval=0.05, ignoring=(OSError,), message="the server did not start")
        with conn:
            conn.sendall(head_of(2048))
            assert read_response(conn)[0] == 200
            conn.sendall(head_of(2049))
            assert status_of(read_until_closed(conn)) == 431
    finally:
        process.terminate()
        _, err = process.communicate(timeout=GENEROUS)
    assert "Request head over 2048 bytes: answered 431." in err.decode()


def test_a_malformed_limit_stops_the_documented_command_at_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_HEADER_BYTES", "lots")
    server_module._from_environment.cache_clear()
    try:
        with pytest.raises(ConfigError, match="MAX_HEADER_BYTES='lots'"):
            uvicorn.Config("app:app", http=UVICORN_ARGS[1]).load()
    finally:
        server_module._from_environment.cache_clear()


# --- logs ----------------------------------------------------------------------------------------


def test_control_characters_are_escaped_in_log_arguments() -> None:
    assert escape_controls("a\x1b[31mb\x00\x7f\x9b\n") == "a\\x1b[31mb\\x00\\x7f\\x9b\\n"
    assert escape_controls("plain, é ✓") == "plain, é ✓"
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("1.2.3.4:5", "GET", "/x?\x1b[2J", "1.1", 200),
        None,
    )
    assert EscapeControlCharacters().filter(record)
    assert record.getMessage() == '1.2.3.4:5 - "GET /x?\\x1b[2J HTTP/1.1" 200'
    assert isinstance(record.args, tuple) and record.args[-1] == 200  # uvicorn's access formatter unpacks them
    bare = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1, "line one\nline\x1b two", None, None)
    EscapeControlCharacters().filter(bare)
    assert bare.getMessage() == "line one\nline\\x1b two"


def test_uvicorn_logs_reach_no_terminal_raw(service_port: int, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d', "1.2.3.4:5", "GET", "/?\x1b]0;owned\x07", "1.1", 200
    )
    with connect(service_port) as conn:
        conn.sendall(b"GET /livez HTTP/1.1\r\nX-Evil: \x1b[31mred\r\n\r\n")
        assert status_of(read_until_closed(conn)) == 400
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "\\x1b]0;owned\\x07" in text
    assert not any(ch in text for ch in "\x1b\x07\x9b")
