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

    uvicorn app:app --http campaign_analytics.http.protocol:BoundedHttpToolsProtocol --timeout-keep-alive 5

`BoundedHttpToolsProtocol` is made when uvicorn looks it up, from the environment at that
moment (`ServerLimits.from_env`): a malformed value stops the server at start-up with a
message, not at its first connection. Tests use `bounded_protocol(ServerLimits(...))`.

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
import re
from collections.abc import Mapping
from typing import Any, ClassVar

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from campaign_analytics.settings import ServerLimits

TIMEOUT_KEEP_ALIVE_SECONDS = 5  # uvicorn's default, written down so the README command shows it
PROTOCOL_IMPORT = "campaign_analytics.http.protocol:BoundedHttpToolsProtocol"
# The README's production command and the CLI's `serve` add these to `uvicorn app:app ...`.
UVICORN_ARGS = ("--http", PROTOCOL_IMPORT, "--timeout-keep-alive", str(TIMEOUT_KEEP_ALIVE_SECONDS))

# After a 431 or 408 the connection is half-closed and what the client still sends is read and
# dropped for this long: closing a socket with unread data resets it, and the client would
# lose the answer it has not read yet (nginx's "lingering close").
LINGER_SECONDS = 1.0
_HTTP_VERSION_LINE = len(" HTTP/1.1\r\n")  # after the target; "1.0" has the same length
_HEAD_END = len("\r\n")


class _HeadTooLarge(Exception):
    """Raised inside a parser callback to stop parsing a head over the limit."""


class HeadLimitedHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol with a bounded request head: size (431) and time to complete (408).
    The limits are a class attribute (uvicorn makes one protocol object per connection from
    the class it is given): see `bounded_protocol`."""

    limits: ClassVar[ServerLimits] = ServerLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_started = 0.0  # loop time the clock of the current head runs from
        self._in_head = False  # between a request's first byte and the end of its headers
        self._head_read = 0  # bytes of reads that arrived while the head was still incomplete
        self._refused = False  # answered 431/408: drop what still arrives until the close

    # -- connection ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # uvicorn annotates BaseTransport
        super().connection_made(transport)
        # the first request's clock runs from the connection: one that never sends a byte
        # is not held either
        self._head_started = self.loop.time()
        self._head_timer = self.loop.call_later(self.limits.header_timeout_seconds, self._head_clock_rings)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        super().connection_lost(exc)

    def eof_received(self) -> None:
        if self._refused:  # the client has nothing more to send: no need to linger
            self.transport.close()
        super().eof_received()

    def data_received(self, data: bytes) -> None:
        # Same steps as uvicorn's own, except that a head over the limit is a 431, not a 400.
        if self._refused:
            return
        self._unset_keepalive_if_required()
        was_in_head = self._in_head
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError as exc:
            if isinstance(exc.__context__, _HeadTooLarge):
                self._refuse_large_head()
            else:
                self.logger.warning("Invalid HTTP request received.")
                self.send_400_response("Invalid HTTP request received.")
            return
        if was_in_head and self._in_head:
            # the whole read belongs to a head that is still not complete, and the parser may
            # hold an unfinished header line: count what arrived, not what was parsed
            self._head_read += len(data)
            if self._head_read > self.limits.max_header_bytes:
                self._refuse_large_head()

    # -- parser callbacks --------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._in_head = True
        self._head_read = 0
        if self.cycle is not None:  # not the connection's first request
            self._head_started = self.loop.time()
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.limits.header_timeout_seconds, self._head_clock_rings)
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        # The head's canonical size: "METHOD target HTTP/1.1\r\n", "name: value\r\n" each, "\r\n".
        # (Counted once here: what a single read can bring is bounded by the read's size, and
        # longer heads are counted read by read in data_received.)
        size = len(self.parser.get_method()) + 1 + len(self.url) + _HTTP_VERSION_LINE + _HEAD_END
        for name, value in self.headers:
            size += len(name) + len(value) + 4
        if size > self.limits.max_header_bytes:
            raise _HeadTooLarge  # httptools stops parsing; data_received answers 431
        self._in_head = False
        super().on_headers_complete()

    # -- the two refusals --------------------------------------------------------------------

    def _refuse_large_head(self) -> None:
        limit = self.limits.max_header_bytes
        self.logger.warning("%sRequest head over %d bytes: answered 431.", self._peer(), limit)
        self._answer_and_close(431, f"Request line and headers exceed {limit} bytes.")

    def _head_clock_rings(self) -> None:
        """The clock is lazy: it is not stopped when a head completes, nor restarted for every
        request of a kept-alive connection (a timer per request cost more than the rest of
        this class); when it rings, it looks at where the connection is."""
        self._head_timer = None
        if self.transport.is_closing():
            return
        timeout = self.limits.header_timeout_seconds
        if not self._in_head:
            if self.cycle is None:  # not a byte of a request since the connection opened
                self.transport.close()
            return  # between requests (uvicorn's keep-alive timeout) or in a body or response
        left = self._head_started + timeout - self.loop.time()
        if left > 0 or (self.cycle is not None and not self.cycle.response_complete):
            # a later head's own time is not up yet; or a pipelined head waits behind a
            # response still being made, which is never cut
            self._head_timer = self.loop.call_later(left if left > 0 else timeout, self._head_clock_rings)
            return
        self.logger.warning("%sRequest headers not complete within %g s: answered 408.", self._peer(), timeout)
        self._answer_and_close(408, f"Request headers not complete within {timeout:g} s.")

    def _answer_and_close(self, status: int, message: str) -> None:
        body = message.encode("ascii")
        head = [STATUS_LINE[status]]
        head += [name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers]
        head += [
            b"content-type: text/plain; charset=utf-8\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + body)
        self._in_head = False
        self._refused = True
        if self.transport.can_write_eof():
            self.transport.write_eof()  # the answer, then FIN; the reading side stays open a moment
            self.loop.call_later(LINGER_SECONDS, self.transport.close)
        else:  # pragma: no cover - TLS transports cannot half-close
            self.transport.close()

    def _peer(self) -> str:
        return f"{self.client[0]}:{self.client[1]} - " if self.client else ""


def bounded_protocol(limits: ServerLimits) -> type[HeadLimitedHttpToolsProtocol]:
    """The protocol class with these limits, for `uvicorn.Config(http=...)`."""
    install_log_escaping()
    return type("BoundedHttpToolsProtocol", (HeadLimitedHttpToolsProtocol,), {"limits": limits})


def serve_options(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Keyword arguments for `uvicorn.run` / `uvicorn.Config` that apply the bounds.

    The limits are checked here, so a malformed MAX_HEADER_BYTES or HEADER_TIMEOUT_SECONDS in
    `environ` (the process environment by default) is a ConfigError before anything starts.
    The protocol is given by its import string, as on the command line: each uvicorn process
    (`--workers`) imports it and reads the same environment, and nothing has to be pickled.
    """
    ServerLimits.from_env(environ)
    return {"http": PROTOCOL_IMPORT, "timeout_keep_alive": TIMEOUT_KEEP_ALIVE_SECONDS}


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

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def escape_controls(text: str) -> str:
    r"""Control characters as visible escapes: ESC -> `\x1b`, newline -> `\n`."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


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
