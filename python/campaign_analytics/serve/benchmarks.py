"""Benchmark thresholds, from a fixture file or the live HTTP service (docs/contract.md §5).

Both sources return `Thresholds` or raise `BenchmarkUnavailable` with a message that says what
went wrong; there is no default threshold anywhere. Numbers are parsed as `Decimal`, so the
comparisons in anomalies.py use exactly the value that was written.

- `FixtureBenchmarks` reads BENCHMARK_FIXTURES_FILE. The parsed file is kept only while the
  file's (size, mtime, inode) stay the same, so an edit is seen by the next request.
- `HttpBenchmarks` calls GET {base}/benchmarks/{campaign_id} through httpx on an aiohttp
  transport (httpx-aiohttp), one pooled client per serving loop; one deadline bounds connect,
  send and the capped body read. Calls for the same campaign on the same loop share one
  in-flight request, and a response is reused only as its own HTTP caching headers allow.

Accepted thresholds. A threshold is a rate or a ratio, and the exact comparison in anomalies.py
multiplies integers as large as its digits and exponent, so the value is held to a range where
that costs nothing measurable: `0`, or from `1E-12` to `1E+12` inclusive, with at most 30
significant digits (trailing zeros do not count). No real CTR or ROAS floor lies outside it
(a CTR threshold of 1e-12 is one click in a trillion impressions), and a value such as
`1e-10000000` would otherwise cost seconds of event-loop time per comparison. The checks look at
the exponent and the digit count only, never at the value's full expansion, so refusing
`1e+100000000` or a 60,000-digit number is as cheap as accepting `0.03`. A negative zero (`-0`,
`-0.0`) is refused like any negative number. JSON integers are parsed as `Decimal` too, so a
number with more digits than `int()` allows is a range error, not a parser crash.

What a failed call says: every failure is `BenchmarkUnavailable` (HTTP 502), its detail
`benchmark service GET <url>: <reason>`, with <reason> one of

    timed out after <T> s             no complete answer within BENCHMARK_TIMEOUT_SECONDS
                                      (connect, send, headers and body together)
    unreachable (ConnectError: ...)   the connection could not be made (refused, no route, DNS)
    connection failed (<Error>: ...)  the connection broke, or the answer was not valid HTTP
    HTTP 404, no thresholds for ...   the service has no thresholds for the campaign
    HTTP <status>                     any other status >= 400
    HTTP 304 Not Modified, ...        a 304 that matches no stored response
    HTTP <status> <phrase>, a redirect to '<Location>' (redirects are not followed)
    HTTP <status> <phrase>: only a 200 answer carries thresholds   any other status below 400
    Content-Encoding '<c>', but ...   any coding but identity: the request asks for identity only
    body is larger than <N> bytes     more than MAX_BODY_BYTES (announced, or on the wire)
    body is not JSON (...)            json.loads failed (NaN and Infinity are not JSON)
    key 'k' appears more than once in an object, ...    the body is ambiguous (any object in it)
    expected a JSON object, got ...   a valid JSON value that is not an object
    key 'min_ctr' is missing          (or min_roas)
    min_ctr is a string, not a number (booleans and null likewise)
    min_ctr is <v>, not a finite number >= 0             negative, negative zero, or beyond a float
    min_ctr is <v>, outside the accepted thresholds ...  the range and digit rule above

The response cache (`ResponseCache`) is a private HTTP cache for these calls, a subset of
RFC 9111: a 200 with a valid body is stored only when `Cache-Control: max-age` makes it fresh or
an `ETag` allows revalidation; `no-store` and `Vary: *` are never stored; `no-cache` means
revalidate every time; `Age` is subtracted; `private` is fine (this cache serves one client);
stale entries with an ETag are revalidated with `If-None-Match`, and a 304 reuses the stored
thresholds with the freshness its own headers give. Without such headers nothing is stored and
every call goes to the service. Entries are thresholds already checked, at most
`cache_entries` of them, least recently used out first. hishel (the lead library for this) was
measured and not used: see `ResponseCache`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from decimal import Decimal
from http import HTTPStatus
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

from campaign_analytics.anomalies import Thresholds
from campaign_analytics.errors import BenchmarkUnavailable
from campaign_analytics.http import metrics

THRESHOLD_KEYS = ("min_ctr", "min_roas")
MAX_BODY_BYTES = 64 * 1024  # a thresholds body is about 35 bytes
SMALLEST_THRESHOLD = Decimal("1E-12")  # below this only 0 is accepted
LARGEST_THRESHOLD = Decimal("1E+12")
MAX_SIGNIFICANT_DIGITS = 30
CACHE_ENTRIES = 4096
MAX_CONNECTIONS = 64
# Rebuild the pooled client after this many timed-out calls in a row with no answer of any
# kind in between, and at least REBUILD_AFTER_SECONDS since the last answer (see HttpBenchmarks).
REBUILD_AFTER_TIMEOUTS = 2 * MAX_CONNECTIONS
REBUILD_AFTER_SECONDS = 5.0

log = logging.getLogger("campaign_analytics")


class BenchmarkSource(Protocol):
    async def thresholds(self, campaign_id: str) -> Thresholds: ...

    def pooled(self) -> contextlib.AbstractAsyncContextManager[None]:
        """Hold long-lived resources (a connection pool) for the running loop while open."""
        ...

    async def health(self) -> str:
        """'fixture' or 'ok' when usable, else 'error'."""
        ...


# --- parsing -----------------------------------------------------------------------------------


def parse_thresholds(value: Any, where: str) -> Thresholds:
    """Check one {"min_ctr": n, "min_roas": n} object decoded with Decimal numbers."""
    if not isinstance(value, dict):
        raise BenchmarkUnavailable(f"{where}: expected a JSON object, got {_json_type(value)}")
    numbers = {}
    for key in THRESHOLD_KEYS:
        if key not in value:
            raise BenchmarkUnavailable(f"{where}: key {key!r} is missing")
        numbers[key] = _threshold(value[key], key, where)
    return Thresholds(min_ctr=numbers["min_ctr"], min_roas=numbers["min_roas"])


def _threshold(number: Any, key: str, where: str) -> Decimal:
    """The accepted value, exact and normalised, or the reason it is refused (module docstring).

    Only the exponent and the digit count are looked at, so the cost does not grow with the
    value's magnitude; the digits themselves are bounded by the body size cap.
    """
    # bool is an int subclass in Python, and not a number in JSON
    if isinstance(number, bool) or not isinstance(number, (int, Decimal)):
        raise BenchmarkUnavailable(f"{where}: {key} is {_json_type(number)}, not a number")
    number = Decimal(number)
    if not number.is_finite() or number.is_signed() or (number and number.adjusted() > 308):
        raise BenchmarkUnavailable(f"{where}: {key} is {_shown(str(number))}, not a finite number >= 0")
    if not number:
        return Decimal(0)  # 0E-100000000 is 0 too; keep no exponent around
    _, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)  # finite
    significant = len(digits)
    while significant > 1 and digits[significant - 1] == 0:
        significant -= 1
    if not SMALLEST_THRESHOLD <= number <= LARGEST_THRESHOLD or significant > MAX_SIGNIFICANT_DIGITS:
        raise BenchmarkUnavailable(
            f"{where}: {key} is {_shown(str(number))}, outside the accepted thresholds (0, or "
            f"{SMALLEST_THRESHOLD} to {LARGEST_THRESHOLD} with at most {MAX_SIGNIFICANT_DIGITS} significant digits)"
        )
    # without its trailing zeros, so the exact comparison's integers stay as small as the value
    return Decimal((0, digits[:significant], exponent + len(digits) - significant))


def _shown(text: str) -> str:
    if len(text) <= 40:
        return text
    return f"{text[:20]}...{text[-8:]} ({len(text)} characters)"


def decode_json(body: bytes, where: str) -> Any:
    try:
        return json.loads(
            body,
            parse_float=Decimal,
            parse_int=Decimal,
            parse_constant=_reject_constant,
            object_pairs_hook=_unique_keys,
        )
    except _RepeatedKey as exc:
        raise BenchmarkUnavailable(
            f"{where}: key {_shown(repr(exc.key))} appears more than once in an object, so the body is ambiguous"
        ) from None
    except (ValueError, RecursionError) as exc:
        raise BenchmarkUnavailable(f"{where}: body is not JSON ({exc})") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


class _RepeatedKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """One JSON object, refused if a key repeats: json.loads would keep the last value without
    a word, and which value the writer meant cannot be known. Extra keys are fine."""
    value = dict(pairs)
    if len(value) < len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _RepeatedKey(key)
            seen.add(key)
    return value


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


# --- fixture mode ------------------------------------------------------------------------------


def _spelling(entry: Any) -> tuple[str, str] | None:
    """What `parse_thresholds` reads of an entry: its two numbers, exactly as written (numbers
    are decoded as Decimal, whose text keeps every digit and the exponent), or None."""
    if type(entry) is not dict:
        return None
    ctr, roas = entry.get("min_ctr"), entry.get("min_roas")
    if type(ctr) is not Decimal or type(roas) is not Decimal:
        return None
    spelled = (str(ctr), str(roas))
    return spelled if len(spelled[0]) <= 40 and len(spelled[1]) <= 40 else None


def fixture_thresholds(body: bytes, where: str, *, quick: bool) -> dict[str, Thresholds] | None:
    """A fixture's thresholds per campaign, or the BenchmarkUnavailable saying what is wrong.

    `quick=False` decodes as `decode_json` does, refusing a repeated key in any object. That
    check is a Python call per object, half of the decoding's time (at 200,000 campaigns, 9.8 MB:
    ~0.45 s against ~0.25 s without it). So the file is first decoded with `quick=True`, without
    the check, and the answer kept only when no key can have been dropped: every member of
    every object is written with a colon, so the file holds at least as many colons as members;
    when it holds exactly as many as the decoded top level and its entries have, no object
    lost a member, no deeper object has any and no string holds a colon. Otherwise (or when
    the quick decode fails at all) this returns None and the careful decode decides, with its
    own words for what is wrong.

    A fixture has an entry per campaign and few distinct ones: each distinct entry (by the type
    and exact text of its two values, so a long or odd spelling is never taken for an accepted
    short one) is checked once and its Thresholds shared (at 200,000 campaigns ~120 MB per
    worker instead of ~220 MB)."""
    if quick:
        try:
            document = json.loads(body, parse_float=Decimal, parse_int=Decimal, parse_constant=_reject_constant)
        except (ValueError, RecursionError):
            return None
    else:
        document = decode_json(body, where)
    if not isinstance(document, dict):
        if quick:
            return None
        raise BenchmarkUnavailable(f"{where}: expected an object of campaign ids, got {_json_type(document)}")
    table: dict[str, Thresholds] = {}
    made: dict[tuple[str, str], Thresholds] = {}
    members, objects = len(document), 0
    for cid, entry in document.items():
        if type(entry) is dict:
            members += len(entry)
            objects += 1
        spelled = _spelling(entry)
        thresholds = made.get(spelled) if spelled is not None else None
        if thresholds is None:
            try:
                thresholds = parse_thresholds(entry, f"{where}, campaign {cid!r}")
            except BenchmarkUnavailable:
                if quick:  # the entry may have lost a repeated key: the careful decode says
                    return None
                raise
            if spelled is not None:
                made[spelled] = thresholds
        table[cid] = thresholds
    # nesting: with no "[" and no "{" but the document's and its object entries', nothing is
    # deeper than 2, so the careful decode cannot meet a RecursionError this one did not
    # (its deeper call stack and its hook's calls would, at a nesting this one just passed)
    if quick and (members != body.count(b":") or body.count(b"{") != 1 + objects or b"[" in body):
        return None
    return table


class FixtureBenchmarks:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._cache: tuple[tuple[int, int, int], dict[str, Thresholds]] | None = None

    def _load(self) -> dict[str, Thresholds]:
        where = f"benchmark fixture {self.path}"
        try:
            stat = os.stat(self.path)
            key = (stat.st_size, stat.st_mtime_ns, stat.st_ino)
            if self._cache is not None and self._cache[0] == key:
                return self._cache[1]
            body = self.path.read_bytes()
        except OSError as exc:
            raise BenchmarkUnavailable(f"{where}: cannot be read ({exc.strerror})") from None
        table = fixture_thresholds(body, where, quick=True)
        if table is None:  # a key may repeat somewhere: decode again, refusing repeated keys
            table = fixture_thresholds(body, where, quick=False)
            assert table is not None
        self._cache = (key, table)
        return table

    @contextlib.asynccontextmanager
    async def pooled(self) -> AsyncIterator[None]:
        yield  # nothing to hold: the file is read per request (cached by its stat)

    async def thresholds(self, campaign_id: str) -> Thresholds:
        table = self._load()
        try:
            return table[campaign_id]
        except KeyError:
            raise BenchmarkUnavailable(
                f"benchmark fixture {self.path} has no thresholds for campaign {campaign_id!r}"
            ) from None

    async def health(self) -> str:
        try:
            self._load()
        except BenchmarkUnavailable:
            return "error"
        return "fixture"


# --- the body: identity only, capped on the wire ---------------------------------------------


async def read_body(response: httpx.Response, where: str) -> bytes:
    """The body of a 200, held only up to MAX_BODY_BYTES.

    The request asks for `Accept-Encoding: identity`: a body of about 35 bytes gains nothing
    from compression, and a compressed one could unpack to far more than it weighs on the wire.
    An answer in any other coding is refused before its body is read.
    """
    codings = [c.strip() for value in response.headers.get_list("content-encoding") for c in value.split(",")]
    if any(c and c.lower() != "identity" for c in codings):
        shown = ", ".join(response.headers.get_list("content-encoding"))
        raise BenchmarkUnavailable(f"{where}: Content-Encoding {shown[:100]!r}, but only identity was asked for")
    length = response.headers.get("content-length", "").strip()
    if length.isascii() and length.isdigit() and (len(length) > 12 or int(length) > MAX_BODY_BYTES):
        raise BenchmarkUnavailable(f"{where}: body is larger than {MAX_BODY_BYTES} bytes")
    body = bytearray()
    # identity only, so these are the bytes as sent; unlike aiter_raw() it also serves a body a
    # given transport already holds in memory (httpx.MockTransport's)
    async for chunk in response.aiter_bytes():
        if len(body) + len(chunk) > MAX_BODY_BYTES:
            raise BenchmarkUnavailable(f"{where}: body is larger than {MAX_BODY_BYTES} bytes")
        body += chunk
    return bytes(body)


# --- the response cache ------------------------------------------------------------------------


@dataclass(slots=True)
class Stored:
    thresholds: Thresholds
    etag: str | None
    fresh_until: float  # time.monotonic(); stale from then on (revalidated if it has an ETag)


@dataclass(frozen=True, slots=True)
class Freshness:
    """What a response's headers allow: store it?, until when fresh?, which validator?"""

    storable: bool
    fresh_until: float
    etag: str | None
    forbidden: bool = False  # no-store or Vary: *: never keep, not even what was stored before

    @classmethod
    def of(cls, headers: httpx.Headers, requested_at: float) -> Freshness:
        """`requested_at` is when the request was sent: counting the age from then also
        counts the time the answer took to arrive, as RFC 9111 §4.2.3 asks."""
        etag = headers.get("etag")
        if etag is not None and not (len(etag) <= 256 and etag.isascii() and etag.isprintable()):
            etag = None  # not something we could send back in If-None-Match
        directives: dict[str, str | None] = {}
        repeated = False
        for value in headers.get_list("cache-control"):
            for part in value.split(","):
                name, equals, argument = part.partition("=")
                name = name.strip().lower()
                if name:
                    repeated |= name in directives
                    directives[name] = argument.strip().strip('"') if equals else None
        vary = [v.strip() for value in headers.get_list("vary") for v in value.split(",")]
        if "no-store" in directives or "*" in vary:
            return cls(False, requested_at, None, forbidden=True)
        lifetime = 0
        if "no-cache" not in directives and "max-age" in directives and not repeated:
            lifetime = _delta_seconds(directives["max-age"])
        age = _delta_seconds(headers.get("age", "0"))
        if lifetime < 0 or age < 0:  # malformed: a stale response (RFC 9111 §4.2.1, §5.1)
            lifetime, age = 0, 0
        fresh_until = requested_at + max(0, lifetime - age)
        return cls(fresh_until > requested_at or etag is not None, fresh_until, etag)


def _delta_seconds(text: str | None) -> int:
    """RFC 9111 §1.2.2 delta-seconds, capped at 2**31; -1 when malformed."""
    text = (text or "").strip()
    if not (text.isascii() and text.isdigit()):
        return -1
    return 2**31 if len(text) > 10 else min(int(text), 2**31)


class ResponseCache:
    """Checked thresholds by campaign id, kept as long as the service's headers allow.

    Why not hishel 2.0 (the lead caching library): it ships SQLite and Redis storages only, so
    an in-memory storage would have to be written anyway; it stores response bytes before the
    body is validated, so a bad body would be cached and re-parsed on every hit; and measured
    over httpx.MockTransport (so only the cache's own work counts), its RFC 9111 layer adds
    94 us per call to a response without caching headers (the common case: every call still
    goes out, and hishel still runs its state machine and stores the response), 117 us with
    `no-cache` + ETag, and a fresh hit still costs 121 us (the httpx request it answers). A
    hit here is a dict lookup (about 1 us) and a miss costs nothing when nothing is stored.
    """

    def __init__(self, max_entries: int = CACHE_ENTRIES) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[str, Stored] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def fresh(self, key: str, now: float) -> Thresholds | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if now < entry.fresh_until:
            self._entries.move_to_end(key)
            return entry.thresholds
        if entry.etag is None:
            del self._entries[key]  # stale and no way to revalidate it
        return None

    def stored(self, key: str) -> Stored | None:
        return self._entries.get(key)

    def store(self, key: str, thresholds: Thresholds, freshness: Freshness) -> None:
        if not freshness.storable:
            self._entries.pop(key, None)  # a newer answer that may not be reused replaces it
            return
        self._entries[key] = Stored(thresholds, freshness.etag, freshness.fresh_until)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def revalidated(self, key: str, entry: Stored, headers: httpx.Headers, requested_at: float) -> None:
        """A 304 for `entry`: its freshness (and validator, if a new one came) from the 304."""
        freshness = Freshness.of(headers, requested_at)
        if freshness.forbidden:
            self.forget(key)
            return
        etag = freshness.etag or entry.etag
        self.store(key, entry.thresholds, Freshness(True, freshness.fresh_until, etag))

    def forget(self, key: str) -> None:
        self._entries.pop(key, None)


def _opaque(etag: str) -> str:
    """The ETag without its weakness flag, for the weak comparison If-None-Match uses."""
    return etag.removeprefix("W/")


# --- HTTP mode ---------------------------------------------------------------------------------


@dataclass(eq=False)
class _Usage:
    """How many calls use a pooled client, and how its last calls went."""

    users: int = 0
    timeouts_in_a_row: int = 0
    last_answer: float = 0.0
    retired: bool = False


class HttpBenchmarks:
    """The live benchmark service over HTTP.

    A pooled client belongs to one event loop. `pooled()` (entered by the app's lifespan)
    opens one on the loop that serves requests and closes it on exit; a call made on any other
    loop, e.g. by `TestClient(app)` without `with`, which runs each request on a short-lived
    loop of its own, uses a client of its own that is closed before the call returns.

    The transport is aiohttp's (through httpx-aiohttp) unless one is given: measured against
    bench/stub_benchmarks.py it costs a third to a seventh of httpx's default transport in
    client CPU per call, and cancelled calls do not strand its pool. Should the pooled client
    still stop making progress, it is replaced (with a WARNING): after `rebuild_after_timeouts`
    timed-out calls in a row with no answer of any kind (even an error status) in between, and
    no answer for `rebuild_after_seconds` (defaults REBUILD_AFTER_TIMEOUTS and
    REBUILD_AFTER_SECONDS), the next call gets a fresh client; the old one is closed once the
    calls still using it are done. Against a service that is merely down this costs one new
    client every few seconds at most. A transport passed in (a test's MockTransport) is shared
    by every client made from it, so it is never rebuilt.
    """

    def __init__(
        self,
        base_url: str,
        timeout_seconds: float,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        user_agent: str = "campaign-analytics",
        cache_entries: int = CACHE_ENTRIES,
        rebuild_after_timeouts: int = REBUILD_AFTER_TIMEOUTS,
        rebuild_after_seconds: float = REBUILD_AFTER_SECONDS,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout_seconds
        self.rebuild_after_timeouts = rebuild_after_timeouts
        self.rebuild_after_seconds = rebuild_after_seconds
        self._transport = transport
        self._user_agent = user_agent
        self._pool: tuple[asyncio.AbstractEventLoop, httpx.AsyncClient] | None = None
        self._usage: dict[httpx.AsyncClient, _Usage] = {}  # of the pooled client(s)
        self.cache = ResponseCache(cache_entries)
        self._flights: dict[tuple[asyncio.AbstractEventLoop, str], asyncio.Task[Thresholds]] = {}

    def _new_client(self) -> httpx.AsyncClient:
        transport = self._transport
        if transport is None:
            # The session is made by us: httpx-aiohttp's own would build an SSL context per
            # transport (50 ms); aiohttp's connector verifies TLS with its shared default one.
            # No cookie jar: nothing the service sets is ever sent back.
            transport = AiohttpTransport(verify=False, client=_aiohttp_session)
        return httpx.AsyncClient(
            transport=transport,
            timeout=None,  # one deadline, asyncio.timeout(self.timeout), bounds the whole call
            follow_redirects=False,  # a redirect is a failure that says where it pointed
            headers={"User-Agent": self._user_agent, "Accept-Encoding": "identity"},  # see read_body
        )

    @contextlib.asynccontextmanager
    async def pooled(self) -> AsyncIterator[None]:
        """Keep one pooled client for the running loop until the block ends."""
        self._pool = self._open_pool(asyncio.get_running_loop())
        try:
            yield
        finally:
            pool, self._pool = self._pool, None
            if pool is not None:
                self._usage.pop(pool[1], None)
                await pool[1].aclose()
            await _closed_sockets_settle()

    def _open_pool(self, loop: asyncio.AbstractEventLoop) -> tuple[asyncio.AbstractEventLoop, httpx.AsyncClient]:
        client = self._new_client()
        self._usage[client] = _Usage(last_answer=time.monotonic())
        return loop, client

    @contextlib.asynccontextmanager
    async def _client(self) -> AsyncIterator[tuple[httpx.AsyncClient, _Usage]]:
        pool = self._pool
        if pool is not None and pool[0] is asyncio.get_running_loop():
            client = pool[1]
            usage = self._usage.setdefault(client, _Usage())
            usage.users += 1
            try:
                yield client, usage
            finally:
                usage.users -= 1
                if usage.retired and usage.users == 0:
                    self._usage.pop(client, None)
                    await client.aclose()
            return
        try:
            async with self._new_client() as client:
                yield client, _Usage()
        finally:
            await _closed_sockets_settle()

    def _made_no_progress(self, client: httpx.AsyncClient, usage: _Usage) -> None:
        """A call on `client` timed out: replace the pooled client if it has stopped making progress."""
        usage.timeouts_in_a_row += 1
        pool = self._pool
        if (
            pool is not None
            and pool[1] is client
            and self._transport is None  # a given transport is shared: a new client would not help
            and usage.timeouts_in_a_row >= self.rebuild_after_timeouts
            and (silent := time.monotonic() - usage.last_answer) >= self.rebuild_after_seconds
        ):
            usage.retired = True  # closed by its last user (this call is one of them)
            self._pool = self._open_pool(pool[0])
            log.warning(
                "benchmark service: %d calls in a row timed out and nothing answered for %.1f s;"
                " a new HTTP client replaces the pooled one",
                usage.timeouts_in_a_row,
                silent,
            )

    def url_for(self, campaign_id: str) -> str:
        segment = quote(campaign_id, safe="")
        if segment in (".", ".."):  # would be read as a relative path step
            segment = segment.replace(".", "%2E")
        return f"{self.base_url}/benchmarks/{segment}"

    async def thresholds(self, campaign_id: str) -> Thresholds:
        """Fresh stored thresholds, or the result of the one call in flight for this campaign
        on this loop (started now if there is none). A caller that is cancelled stops waiting;
        the call goes on for the others, and its outcome, error included, is theirs."""
        cached = self.cache.fresh(campaign_id, time.monotonic())
        if cached is not None:
            return cached
        loop = asyncio.get_running_loop()
        key = (loop, campaign_id)
        flight = self._flights.get(key)
        if flight is None:
            flight = loop.create_task(self._observed(campaign_id))
            self._flights[key] = flight
            flight.add_done_callback(self._landed(key))
        return await asyncio.shield(flight)

    def _landed(self, key: tuple[asyncio.AbstractEventLoop, str]) -> Callable[[asyncio.Task[Thresholds]], None]:
        def done(flight: asyncio.Task[Thresholds]) -> None:
            if self._flights.get(key) is flight:
                del self._flights[key]
            if not flight.cancelled():
                flight.exception()  # retrieved: waiters that left early must not leave a warning

        return done

    async def _observed(self, campaign_id: str) -> Thresholds:
        """`_fetch`, counted in /metrics by outcome, with its duration."""
        started = time.perf_counter()
        outcome = "ok"
        try:
            return await self._fetch(campaign_id)
        except BenchmarkUnavailable as exc:
            outcome = _outcome(exc.detail)
            raise
        finally:
            metrics.observe_benchmark_call(outcome, time.perf_counter() - started)

    async def _fetch(self, campaign_id: str) -> Thresholds:
        url = self.url_for(campaign_id)
        where = f"benchmark service GET {url}"
        entry = self.cache.stored(campaign_id)
        conditional = {"If-None-Match": entry.etag} if entry is not None and entry.etag else None
        async with self._client() as (client, usage):
            requested_at = time.monotonic()
            try:
                async with asyncio.timeout(self.timeout):
                    status, headers, body = await self._get(client, url, conditional, where)
            except TimeoutError:
                self._made_no_progress(client, usage)
                raise BenchmarkUnavailable(f"{where}: timed out after {self.timeout:g} s") from None
            except (httpx.HTTPError, aiohttp.ClientError) as exc:
                raise _transport_failure(exc, where, self.timeout) from None
            usage.timeouts_in_a_row, usage.last_answer = 0, time.monotonic()
        if status == 304:
            return self._not_modified(campaign_id, entry if conditional else None, headers, requested_at, where)
        if status != 200:
            raise BenchmarkUnavailable(f"{where}: {_not_thresholds(status, headers, campaign_id)}")
        thresholds = parse_thresholds(decode_json(body, where), where)
        self.cache.store(campaign_id, thresholds, Freshness.of(headers, requested_at))
        return thresholds

    def _not_modified(
        self, campaign_id: str, entry: Stored | None, headers: httpx.Headers, requested_at: float, where: str
    ) -> Thresholds:
        if entry is None or entry.etag is None:
            raise BenchmarkUnavailable(f"{where}: HTTP 304 Not Modified, but no stored response was asked about")
        etag = headers.get("etag")
        if etag is not None and _opaque(etag) != _opaque(entry.etag):
            self.cache.forget(campaign_id)
            raise BenchmarkUnavailable(f"{where}: HTTP 304 Not Modified for ETag {etag[:100]}, not the stored one")
        self.cache.revalidated(campaign_id, entry, headers, requested_at)
        return entry.thresholds

    async def _get(
        self, client: httpx.AsyncClient, url: str, headers: dict[str, str] | None, where: str
    ) -> tuple[int, httpx.Headers, bytes]:
        async with client.stream("GET", url, headers=headers) as response:
            status = response.status_code
            if status != 200:
                return status, response.headers, b""  # only a 200's body is ever used
            return status, response.headers, await read_body(response, where)

    async def health(self) -> str:
        url = f"{self.base_url}/health"
        async with self._client() as (client, _):
            try:
                async with asyncio.timeout(self.timeout), client.stream("GET", url) as response:
                    status = response.status_code  # the body is not read: any answer will do
            except (TimeoutError, httpx.HTTPError, aiohttp.ClientError):
                return "error"
        return "ok" if status < 500 else "error"


def _not_thresholds(status: int, headers: httpx.Headers, campaign_id: str) -> str:
    """Why an answer with this status (not 200, not a 304) carries no thresholds.

    A 201, a 206 or any other 2xx or 3xx may carry a body that parses, but only a 200 says the
    body is the resource asked for (a 206 is a part of it, a 201 describes something just made,
    a 3xx points elsewhere): using it would be a silent substitute. Redirects are not followed,
    since the service's address is configured, not discovered; where one pointed is shown as
    the server wrote it, cut at 200 characters and quoted by repr() so no control character
    reaches a response or a log line.
    """
    if status == 404:
        return f"HTTP 404, no thresholds for campaign {campaign_id!r}"
    if status >= 400:
        return f"HTTP {status}"
    try:
        named = f"HTTP {status} {HTTPStatus(status).phrase}"
    except ValueError:  # a status with no registered name, such as 399
        named = f"HTTP {status}"
    location = headers.get("location")
    if 300 <= status < 400 and location is not None:
        return f"{named}, a redirect to {location[:200]!r} (redirects are not followed)"
    return f"{named}: only a 200 answer carries thresholds"


def _aiohttp_session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=MAX_CONNECTIONS),
        cookie_jar=aiohttp.DummyCookieJar(),
    )


async def _closed_sockets_settle() -> None:
    """One loop turn: a closed connection's socket is released by a callback the loop runs next,
    and a short-lived loop (TestClient's) could otherwise end first and warn about it."""
    await asyncio.sleep(0)


def _transport_failure(exc: Exception, where: str, timeout: float) -> BenchmarkUnavailable:
    """The same words whatever the transport. httpx-aiohttp maps aiohttp's errors to httpx's
    loosely (a refused connection arrives as ConnectTimeout), so the cause decides."""
    cause = exc.__cause__ if isinstance(exc.__cause__, aiohttp.ClientError) else exc
    if isinstance(cause, httpx.TimeoutException):  # from a transport with timeouts of its own
        return BenchmarkUnavailable(f"{where}: timed out after {timeout:g} s")
    said = " ".join(str(cause).split())  # one line, however the parser wrote it
    said = said if len(said) <= 300 else said[:300] + "..."
    if isinstance(cause, (aiohttp.ClientConnectorError, httpx.ConnectError)):
        return BenchmarkUnavailable(f"{where}: unreachable (ConnectError: {said})")
    return BenchmarkUnavailable(f"{where}: connection failed ({type(cause).__name__}: {said})")


def _outcome(detail: str) -> str:
    """The /metrics outcome of a failed call, from its detail (see the table above)."""
    reason = detail.split(": ", 1)[-1]
    if reason.startswith("timed out"):
        return "timeout"
    if reason.startswith(("unreachable", "connection failed")):
        return "unreachable"
    if reason.startswith("HTTP "):
        return "http_error"
    return "invalid_body"
