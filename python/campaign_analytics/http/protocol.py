"""The HTTP protocol the service is served with: uvicorn's httptools protocol, bounded.

uvicorn reads a request's head (request line and header fields) for as long and as large as
the client likes: a 200 MB header is buffered, and a connection that sends one byte a second,
or nothing at all, is held forever. `BoundedHttpToolsProtocol` adds two bounds, both applied
before the app sees anything, and nothing else:

- **size**: a head over `MAX_HEADER_BYTES` (default 16 KiB, nginx's and many proxies'
  order of magnitude) is answered `431` and the connection closed. The size is the canonical
  form of what was parsed (`METHOD target HTTP/1.1`, `name: value` lines, CRLFs), checked
  when the head is complete; bytes of a head still incomplete after a read are counted as
  they arrive, so at most the limit plus one socket read is ever held.
- **time**: a head not complete within `HEADER_TIMEOUT_SECONDS` (default 10 s) of the
  connection opening, or of the next request's first byte, gets `408` and a close (a
  connection that never sent a byte is just closed). The clock stops when the headers are
  complete: a slow request body or a long response is never cut by it. Idle keep-alive
  connections are uvicorn's own `--timeout-keep-alive`.

How to run it (`serve_options()` gives the same to `uvicorn.run`; `--workers` works too):

    uvicorn app:app --http campaign_analytics.http.protocol:BoundedHttpToolsProtocol --timeout-keep-alive 5 \\
        --loop asyncio

`BoundedHttpToolsProtocol` is made when uvicorn looks it up, from the environment at that
moment (`ServerLimits.from_env`): a malformed value stops the server at start-up with a
message, not at its first connection. Tests use `bounded_protocol(ServerLimits(...))`.

How, with no private uvicorn API: `HeadLimitedHttpToolsProtocol` is an `asyncio.Protocol`
that holds the protocol `--http httptools` selects and hands it every event unchanged (made
with the arguments uvicorn gave, whatever they are). It reads the same bytes first with a
parser of its own (httptools' public `HttpRequestParser`, the parser uvicorn uses), which
only tracks where each request head starts and ends; a refused head is never handed on, and
the answer is written to the asyncio transport. A malformed request or an upgrade is left
entirely to uvicorn, which answers it as it always does.

Logging: uvicorn 0.54 itself logs invalid requests without their bytes and quotes the path in
its access log, but the access log prints the query string as sent, and whatever a future
version or another protocol logs is out of our hands. `EscapeControlCharacters` is a
logging filter, installed on uvicorn's loggers with the protocol, that rewrites control
characters (C0, DEL, C1: terminal escapes among them) in the arguments of a log record as
`\\x1b`-style escapes, so nothing a client sends reaches a terminal raw.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any, ClassVar, cast

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from campaign_analytics.messages import escape_controls
from campaign_analytics.settings import ServerLimits

TIMEOUT_KEEP_ALIVE_SECONDS = 5  # uvicorn's default, written down so the README command shows it
PROTOCOL_IMPORT = "campaign_analytics.http.protocol:BoundedHttpToolsProtocol"
# asyncio's own event loop, not uvloop (uvicorn's choice when uvloop is installed): with one
# worker saturated by 32 connections and requests of about 0.6 ms (the explorer's pages),
# uvloop served some connections late, p99 94-106 ms against p50 18 ms, where asyncio's loop
# gave p99 28-29 ms at the same throughput (1,600-1,700 req/s). On the API's short requests
# the two were within noise of each other (livez 6,350-7,050 req/s, performance 5,400-5,760).
EVENT_LOOP = "asyncio"
# The README's production command and the CLI's `serve` add these to `uvicorn app:app ...`.
UVICORN_ARGS = (
    "--http",
    PROTOCOL_IMPORT,
    "--timeout-keep-alive",
    str(TIMEOUT_KEEP_ALIVE_SECONDS),
    "--loop",
    EVENT_LOOP,
)

# After a 431 or 408 the connection is half-closed and what the client still sends is read and
# dropped for this long: closing a socket with unread data resets it, and the client would
# lose the answer it has not read yet (nginx's "lingering close").
LINGER_SECONDS = 1.0
_HTTP_VERSION_LINE = len(" HTTP/1.1\r\n")  # after the target; "1.0" has the same length
_HEAD_END = len("\r\n")

log = logging.getLogger("uvicorn.error")


class HeadLimitedHttpToolsProtocol(asyncio.Protocol):
    """uvicorn's httptools protocol behind a bounded request head: size (431) and time to
    complete (408). The limits are a class attribute (uvicorn makes one protocol object per
    connection from the class it is given): see `bounded_protocol`."""

    limits: ClassVar[ServerLimits] = ServerLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.inner = HttpToolsProtocol(*args, **kwargs)
        self.parser: httptools.HttpRequestParser | None = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.peer = ""
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_started = 0.0  # loop time the clock of the current head runs from
        self._in_head = False  # between a request's first byte and the end of its headers
        self._heads = 0  # requests begun on this connection
        self._head_size = 0  # the current head's canonical size so far (target and headers)
        self._head_read = 0  # bytes of reads that arrived while the head was still incomplete
        self._too_large = False  # set by a parser callback, acted on after the feed
        self._refused = False  # answered 431/408: drop what still arrives until the close

    # -- the asyncio.Protocol events, handed on ---------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is one, without subclassing it
        self.loop = asyncio.get_running_loop()
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]} - " if isinstance(peer, tuple) and len(peer) >= 2 else ""
        self.inner.connection_made(self.transport)
        # the first request's clock runs from the connection: one that never sends a byte is
        # not held either
        self._head_started = self.loop.time()
        self._head_timer = self.loop.call_later(self.limits.header_timeout_seconds, self._head_clock_rings)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        self.inner.connection_lost(exc)

    def eof_received(self) -> None:
        if self._refused and self.transport is not None:  # nothing more to read: no need to linger
            self.transport.close()
        self.inner.eof_received()

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self.parser is not None:
            was_in_head = self._in_head
            try:
                self.parser.feed_data(data)
            except (httptools.HttpParserError, httptools.HttpParserUpgrade):
                self.parser = None  # a malformed request (uvicorn's 400) or an upgrade: uvicorn's alone
                self._in_head = False
            if self._too_large:
                self._refuse_large_head()
                return
            if was_in_head and self._in_head:
                # the whole read belongs to a head that is still not complete, and the parser
                # may hold an unfinished header line: count what arrived, not what was parsed
                self._head_read += len(data)
                if self._head_read > self.limits.max_header_bytes:
                    self._refuse_large_head()
                    return
        self.inner.data_received(data)

    # -- parser callbacks (httptools calls them while feed_data runs) ------------------------

    def on_message_begin(self) -> None:
        assert self.loop is not None
        self._in_head = True
        self._head_size = self._head_read = 0
        if self._heads:  # not the connection's first request: its clock starts now
            self._head_started = self.loop.time()
        self._heads += 1
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.limits.header_timeout_seconds, self._head_clock_rings)

    def on_url(self, url: bytes) -> None:
        self._head_size += len(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_size += len(name) + len(value) + 4  # "name: value\r\n"

    def on_headers_complete(self) -> None:
        # The head's canonical size: "METHOD target HTTP/1.1\r\n", "name: value\r\n" each, "\r\n".
        # (Counted once here: what a single read can bring is bounded by the read's size, and
        # longer heads are counted read by read in data_received.)
        assert self.parser is not None
        size = len(self.parser.get_method()) + 1 + self._head_size + _HTTP_VERSION_LINE + _HEAD_END
        self._in_head = False
        if size > self.limits.max_header_bytes:
            self._too_large = True

    # -- the two refusals --------------------------------------------------------------------

    def _refuse_large_head(self) -> None:
        limit = self.limits.max_header_bytes
        log.warning("%sRequest head over %d bytes: answered 431.", self.peer, limit)
        self._answer_and_close(
            HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, f"Request line and headers exceed {limit} bytes."
        )

    def _head_clock_rings(self) -> None:
        """The clock is lazy: it is not stopped when a head completes, nor restarted for every
        request of a kept-alive connection (a timer per request would cost more than the rest
        of this class); when it rings, it looks at where the connection is."""
        self._head_timer = None
        transport, loop = self.transport, self.loop
        if transport is None or loop is None or transport.is_closing():
            return
        timeout = self.limits.header_timeout_seconds
        if not self._in_head:
            if not self._heads:  # not a byte of a request since the connection opened
                transport.close()
            return  # between requests (uvicorn's keep-alive timeout) or in a body or response
        left = self._head_started + timeout - loop.time()
        if left > 0 or not transport.is_reading():
            # a later head's own time is not up yet; or uvicorn has paused reading (a pipelined
            # request waits behind a response still being made), which is not the client's delay
            self._head_timer = loop.call_later(left if left > 0 else timeout, self._head_clock_rings)
            return
        log.warning("%sRequest headers not complete within %g s: answered 408.", self.peer, timeout)
        self._answer_and_close(HTTPStatus.REQUEST_TIMEOUT, f"Request headers not complete within {timeout:g} s.")

    def _answer_and_close(self, status: HTTPStatus, message: str) -> None:
        transport, loop = self.transport, self.loop
        assert transport is not None and loop is not None
        body = message.encode("ascii")
        transport.write(
            b"HTTP/1.1 %d %s\r\n" % (status.value, status.phrase.encode("ascii"))
            + b"content-type: text/plain; charset=utf-8\r\n"
            + b"content-length: %d\r\n" % len(body)
            + b"connection: close\r\n\r\n"
            + body
        )
        self._in_head = False
        self._refused = True
        if transport.can_write_eof():
            transport.write_eof()  # the answer, then FIN; the reading side stays open a moment
            loop.call_later(LINGER_SECONDS, transport.close)
        else:  # pragma: no cover - TLS transports cannot half-close
            transport.close()


def bounded_protocol(limits: ServerLimits) -> type[HeadLimitedHttpToolsProtocol]:
    """The protocol class with these limits, for `uvicorn.Config(http=...)`."""
    install_log_escaping()
    return type("BoundedHttpToolsProtocol", (HeadLimitedHttpToolsProtocol,), {"limits": limits})


def serve_options(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Keyword arguments for `uvicorn.run` / `uvicorn.Config` that apply the bounds (and the
    event loop, EVENT_LOOP).

    The limits are checked here, so a malformed MAX_HEADER_BYTES or HEADER_TIMEOUT_SECONDS in
    `environ` (the process environment by default) is a ConfigError before anything starts.
    The protocol is given by its import string, as on the command line: each uvicorn process
    (`--workers`) imports it and reads the same environment, and nothing has to be pickled.
    """
    ServerLimits.from_env(environ)
    return {"http": PROTOCOL_IMPORT, "timeout_keep_alive": TIMEOUT_KEEP_ALIVE_SECONDS, "loop": EVENT_LOOP}


@functools.cache
def _from_environment() -> type[HeadLimitedHttpToolsProtocol]:
    return bounded_protocol(ServerLimits.from_env())


def __getattr__(name: str) -> Any:
    # `--http campaign_analytics.http.protocol:BoundedHttpToolsProtocol`: uvicorn looks the name up
    # once, when it loads its config; the limits are read from the environment then.
    if name == "BoundedHttpToolsProtocol":
        return _from_environment()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --- logging -----------------------------------------------------------------------------------


class EscapeControlCharacters(logging.Filter):
    """Escape control characters in a record's arguments: the data a log line carries (paths,
    queries, header values) comes from clients; the format string comes from code."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple):
            record.args = tuple(escape_controls(a) if isinstance(a, str) else a for a in args)
        elif isinstance(args, Mapping):
            record.args = {k: escape_controls(v) if isinstance(v, str) else v for k, v in args.items()}
        if isinstance(record.msg, str) and not args:  # a message that may be data: keep its line breaks
            record.msg = "\n".join(escape_controls(line) for line in record.msg.split("\n"))
        return True


_ESCAPING = EscapeControlCharacters()


def install_log_escaping(loggers: tuple[str, ...] = ("uvicorn.error", "uvicorn.access")) -> None:
    """Put the filter on uvicorn's loggers (idempotent). A filter on a logger sees the records
    logged to it directly, which is how uvicorn logs requests."""
    for name in loggers:
        logger = logging.getLogger(name)
        if _ESCAPING not in logger.filters:
            logger.addFilter(_ESCAPING)
