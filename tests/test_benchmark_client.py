"""The live benchmark client against hostile and slow services.

Every service here is a real HTTP server on 127.0.0.1 (tests/support/stub_benchmarks.py), except where a
test says otherwise. Time bounds are generous: they catch a freeze or a wedge, not a slow run.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import http.client
import socket
import threading
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from campaign_analytics.anomalies import Thresholds
from campaign_analytics.errors import BenchmarkUnavailable
from campaign_analytics.serve.app import create_app
from campaign_analytics.serve.benchmarks import HttpBenchmarks, decode_json, parse_thresholds
from campaign_analytics.settings import Settings
from tests.support.datasets import VISIBLE
from tests.support.live_server import serve
from tests.support.stub_benchmarks import StubBenchmarks
from tests.support.waits import wait_for, wait_for_async

TIMEOUT = 0.5
IDS = [f"cmp-{i:03d}" for i in range(200)]
GOOD = {"min_ctr": 0.03, "min_roas": 2.5}


@pytest.fixture(scope="module")
def stub() -> Iterator[StubBenchmarks]:
    with StubBenchmarks({cid: GOOD for cid in IDS}) as server:
        yield server


@pytest.fixture(autouse=True)
def reset(request: pytest.FixtureRequest) -> None:
    if "stub" in request.fixturenames:
        request.getfixturevalue("stub").behave()


def run(source: HttpBenchmarks, *campaign_ids: str) -> list[Thresholds | BenchmarkUnavailable]:
    """thresholds() for each id, one after the other, on one pooled client."""

    async def go() -> list[Thresholds | BenchmarkUnavailable]:
        results: list[Thresholds | BenchmarkUnavailable] = []
        async with source.pooled():
            for cid in campaign_ids:
                try:
                    results.append(await source.thresholds(cid))
                except BenchmarkUnavailable as exc:
                    results.append(exc)
        return results

    return asyncio.run(go())


def calls_to(stub: StubBenchmarks, before: int) -> int:
    return sum(1 for path in stub.requests[before:] if path.startswith("/benchmarks/"))


# --- hostile numbers ---------------------------------------------------------------------------

HOSTILE = [
    (b"1e-10000000", "min_ctr is 1E-10000000, outside the accepted thresholds"),
    (b"1e+100000000", "min_ctr is 1E+100000000, not a finite number >= 0"),
    (b"1e-13", "min_ctr is 1E-13, outside the accepted thresholds"),
    (b"1e13", "min_ctr is 1E+13, outside the accepted thresholds"),
    (b"1000000000001", "min_ctr is 1000000000001, outside the accepted thresholds"),
    (b"0." + b"1" * 31, "min_ctr is 0." + "1" * 31 + ", outside the accepted thresholds"),
    (b"0." + b"7" * 60_000, "min_ctr is 0.777777777777777777...77777777 (60002 characters), outside"),
    (b"0." + b"3" * 65_000, "min_ctr is 0.333333333333333333...33333333 (65002 characters), outside"),
    (b"1" * 60_000, "min_ctr is 11111111111111111111...11111111 (60000 characters), not a finite number >= 0"),
    (b"-0", "min_ctr is -0, not a finite number >= 0"),
    (b"-0.0", "min_ctr is -0.0, not a finite number >= 0"),
    (b"-0e-5", "min_ctr is -0.00000, not a finite number >= 0"),
]


@pytest.mark.parametrize(("number", "problem"), HOSTILE, ids=[n[:16].decode() for n, _ in HOSTILE])
def test_hostile_thresholds_are_refused_quickly_naming_the_value(
    stub: StubBenchmarks, number: bytes, problem: str
) -> None:
    stub.behave(body=b'{"min_ctr": ' + number + b', "min_roas": 1}')
    started = time.monotonic()
    [result] = run(HttpBenchmarks(stub.url, TIMEOUT), "cmp-001")
    assert isinstance(result, BenchmarkUnavailable)
    assert str(result).startswith(f"benchmark service GET {stub.url}/benchmarks/cmp-001: {problem}")
    assert time.monotonic() - started < 2  # a freeze took 7 s to 20 s


@pytest.mark.parametrize(
    ("number", "kept"),
    [
        (b"0", Decimal(0)),
        (b"0e-100000000", Decimal(0)),
        (b"1e-12", Decimal("1e-12")),
        (b"1e12", Decimal("1e12")),
        (b"0." + b"9" * 30, Decimal("0." + "9" * 30)),
        (b"1." + b"0" * 60_000, Decimal(1)),  # trailing zeros are not significant
        (b"2500" + b"0" * 8, Decimal("2.5e11")),
    ],
)
def test_thresholds_in_range_are_kept_exactly_and_compare_cheaply(number: bytes, kept: Decimal) -> None:
    started = time.monotonic()
    parsed = parse_thresholds(decode_json(b'{"min_ctr": ' + number + b', "min_roas": ' + number + b"}", "x"), "x")
    assert parsed.min_ctr == kept and parsed.min_roas == kept
    numerator, denominator = parsed.min_ctr.as_integer_ratio()  # what anomalies.py compares with
    assert numerator.bit_length() < 200 and denominator.bit_length() < 200
    assert time.monotonic() - started < 1


def test_an_integer_past_pythons_digit_limit_is_a_clean_refusal() -> None:
    with pytest.raises(
        BenchmarkUnavailable,
        match=r"^x: min_roas is 99999999999999999999\.\.\.99999999 \(5000 characters\), not a finite",
    ):
        parse_thresholds(decode_json(b'{"min_ctr": 0, "min_roas": ' + b"9" * 5000 + b"}", "x"), "x")


# --- identity only: an encoded body is refused unread, a plain one read up to the cap ----------

PLAIN = b'{"min_ctr": 0.03, "min_roas": 2.5}'


def gzip_of_zeros(megabytes: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    block = bytes(1 << 20)
    return b"".join([*(packer.compress(block) for _ in range(megabytes)), packer.flush()])


@pytest.mark.parametrize("encoding", [None, "identity", "IDENTITY", ""])
def test_the_client_asks_for_identity_and_reads_it(stub: StubBenchmarks, encoding: str | None) -> None:
    stub.behave(body=PLAIN, headers={} if encoding is None else {"Content-Encoding": encoding})
    assert run(HttpBenchmarks(stub.url, TIMEOUT), "cmp-001") == [Thresholds(Decimal("0.03"), Decimal("2.5"))]
    assert stub.request_headers[-1]["accept-encoding"] == "identity"


@pytest.mark.parametrize(
    ("encoding", "body"),
    [
        ("gzip", gzip.compress(PLAIN)),
        ("x-gzip", gzip.compress(PLAIN)),
        ("deflate", zlib.compress(PLAIN)),
        ("br", b"\x0b\x10\x80" + PLAIN + b"\x03"),
        ("gzip, gzip", gzip.compress(gzip.compress(PLAIN))),
        ("identity, gzip", gzip.compress(PLAIN)),
        ("gzip", PLAIN),  # mislabelled: refused all the same, the body is never looked at
    ],
)
def test_an_encoded_answer_is_a_502_naming_its_coding(stub: StubBenchmarks, encoding: str, body: bytes) -> None:
    stub.behave(body=body, headers={"Content-Encoding": encoding})
    [result] = run(HttpBenchmarks(stub.url, TIMEOUT), "cmp-001")
    assert str(result) == (
        f"benchmark service GET {stub.url}/benchmarks/cmp-001: "
        f"Content-Encoding '{encoding}', but only identity was asked for"
    )


@pytest.mark.parametrize(
    ("body", "encoding", "length", "problem"),
    [
        ("gzip bomb", "gzip", True, "Content-Encoding 'gzip', but only identity was asked for"),
        ("gzip bomb", "gzip", False, "Content-Encoding 'gzip', but only identity was asked for"),
        ("20 MB", None, True, "body is larger than 65536 bytes"),  # announced: refused before reading
        ("20 MB", None, False, "body is larger than 65536 bytes"),  # read only up to the cap
    ],
)
def test_a_big_or_encoded_body_is_a_502_read_within_the_cap(
    stub: StubBenchmarks, body: str, encoding: str | None, length: bool, problem: str
) -> None:
    payload = gzip_of_zeros(50) if body == "gzip bomb" else b" " * (20 << 20)
    assert body != "gzip bomb" or len(payload) < 64 * 1024  # small on the wire, 50 MB unpacked
    stub.behave(body=payload, headers={"Content-Encoding": encoding} if encoding else {}, length=length)
    started = time.monotonic()
    tracemalloc.start()
    try:
        [result] = run(HttpBenchmarks(stub.url, TIMEOUT), "cmp-001")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert str(result) == f"benchmark service GET {stub.url}/benchmarks/cmp-001: {problem}"
    assert peak < 8 * 1024 * 1024  # the whole body is 20 MB, or 50 MB once unpacked
    assert time.monotonic() - started < 3 * TIMEOUT


# --- only a plain 200 is thresholds, as the anomalies endpoint answers -------------------------

# valid thresholds, far from cmp-002's own, so an answer that used them would show it
OTHER = b'{"min_ctr": 0.5, "min_roas": 9.0}'
ELSEWHERE = "http://benchmarks.example/benchmarks/cmp-002"


@pytest.fixture(scope="module")
def anomalies_client(stub: StubBenchmarks, visible_rollup_dir: Path) -> Iterator[TestClient]:
    settings = Settings.for_data(
        VISIBLE, rollup_dir=visible_rollup_dir, benchmark_api_base=stub.url, benchmark_timeout_seconds=TIMEOUT
    )
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.mark.parametrize(
    ("behaviour", "problem"),
    [
        ({"status": 201, "body": OTHER}, "HTTP 201 Created: only a 200 answer carries thresholds"),
        ({"status": 206, "body": OTHER}, "HTTP 206 Partial Content: only a 200 answer carries thresholds"),
        (
            {"status": 302, "body": OTHER, "headers": {"Location": ELSEWHERE}},
            f"HTTP 302 Found, a redirect to '{ELSEWHERE}' (redirects are not followed)",
        ),
        (
            {"status": 302, "body": b"", "headers": {"Location": ELSEWHERE}},
            f"HTTP 302 Found, a redirect to '{ELSEWHERE}' (redirects are not followed)",
        ),
        ({"status": 399, "body": OTHER}, "HTTP 399: only a 200 answer carries thresholds"),
        (
            {"body": b'{"min_ctr": 0.03, "min_roas": 2.5, "min_ctr": 0.5}'},
            "key 'min_ctr' appears more than once in an object, so the body is ambiguous",
        ),
    ],
    ids=["201", "206", "302", "302-empty", "399", "200-repeated-key"],
)
def test_anomalies_take_thresholds_only_from_a_plain_200(
    anomalies_client: TestClient, stub: StubBenchmarks, behaviour: dict[str, Any], problem: str
) -> None:
    stub.behave(**behaviour)
    before = len(stub.requests)
    response = anomalies_client.get("/campaigns/cmp-002/anomalies")
    assert response.status_code == 502
    assert response.json() == {"detail": f"benchmark service GET {stub.url}/benchmarks/cmp-002: {problem}"}
    assert stub.requests[before:] == ["/benchmarks/cmp-002"]


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", None])
def test_anomalies_use_a_200_with_the_same_body(
    anomalies_client: TestClient, stub: StubBenchmarks, content_type: str | None
) -> None:
    stub.behave(body=OTHER, content_type=content_type)
    response = anomalies_client.get("/campaigns/cmp-002/anomalies")
    assert response.status_code == 200
    assert response.json()["thresholds"] == {"min_ctr": 0.5, "min_roas": 9.0}


# --- one call in flight per campaign -----------------------------------------------------------


def test_concurrent_calls_for_one_campaign_share_one_request(stub: StubBenchmarks) -> None:
    stub.behave(delay=0.3)
    source = HttpBenchmarks(stub.url, 2)
    before = len(stub.requests)

    async def go() -> list[Thresholds]:
        async with source.pooled():
            return await asyncio.gather(*(source.thresholds("cmp-007") for _ in range(20)))

    assert asyncio.run(go()) == [Thresholds(Decimal("0.03"), Decimal("2.5"))] * 20
    assert calls_to(stub, before) == 1


def test_a_shared_call_fails_for_every_waiter(stub: StubBenchmarks) -> None:
    stub.behave(delay=0.3, status=503)
    source = HttpBenchmarks(stub.url, 2)
    before = len(stub.requests)

    async def go() -> list[Any]:
        async with source.pooled():
            return await asyncio.gather(*(source.thresholds("cmp-007") for _ in range(20)), return_exceptions=True)

    results = asyncio.run(go())
    assert {str(r) for r in results} == {f"benchmark service GET {stub.url}/benchmarks/cmp-007: HTTP 503"}
    assert calls_to(stub, before) == 1


def test_a_waiter_that_leaves_does_not_cancel_the_call_for_the_others(stub: StubBenchmarks) -> None:
    stub.behave(delay=0.3)
    source = HttpBenchmarks(stub.url, 2)
    before = len(stub.requests)

    async def go() -> list[Any]:
        async with source.pooled():
            first = asyncio.create_task(source.thresholds("cmp-008"))
            await wait_for_async(lambda: calls_to(stub, before) == 1)  # the call is at the service
            others = [asyncio.create_task(source.thresholds("cmp-008")) for _ in range(5)]
            await asyncio.sleep(0)  # one loop turn: each of them starts waiting on that call
            first.cancel()  # the caller that started the call goes away
            others[0].cancel()
            return await asyncio.gather(first, *others, return_exceptions=True)

    first, cancelled, *rest = asyncio.run(go())
    assert isinstance(first, asyncio.CancelledError) and isinstance(cancelled, asyncio.CancelledError)
    assert rest == [Thresholds(Decimal("0.03"), Decimal("2.5"))] * 4
    assert calls_to(stub, before) == 1


def test_calls_one_after_another_are_not_shared(stub: StubBenchmarks) -> None:
    before = len(stub.requests)
    assert len(run(HttpBenchmarks(stub.url, TIMEOUT), "cmp-001", "cmp-001", "cmp-001")) == 3
    assert calls_to(stub, before) == 3


# --- HTTP caching ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "etag", "expected_calls"),
    [
        ({}, None, 3),  # no caching headers: every call goes to the service
        ({"Cache-Control": "max-age=60"}, None, 1),
        ({"Cache-Control": "private, max-age=60"}, None, 1),  # a private cache may keep it
        ({"Cache-Control": "max-age=60", "Age": "60"}, None, 3),  # already as old as allowed
        ({"Cache-Control": "max-age=60", "Age": "50"}, None, 1),
        ({"Cache-Control": "max-age=60, no-store"}, None, 3),
        ({"Cache-Control": "max-age=60, no-cache"}, None, 3),
        ({"Cache-Control": "max-age=60, max-age=30"}, None, 3),  # contradictory: stale
        ({"Cache-Control": "max-age=soon"}, None, 3),
        ({"Cache-Control": "max-age=60", "Vary": "*"}, None, 3),
        ({"Cache-Control": "s-maxage=60"}, None, 3),  # for shared caches only
        ({"Expires": "Thu, 01 Jan 2099 00:00:00 GMT"}, None, 3),  # not honoured: see the docstring
    ],
)
def test_responses_are_reused_only_as_their_headers_allow(
    stub: StubBenchmarks, headers: dict[str, str], etag: str | None, expected_calls: int
) -> None:
    stub.behave(headers=headers, etag=etag)
    before = len(stub.requests)
    results = run(HttpBenchmarks(stub.url, TIMEOUT), "cmp-001", "cmp-001", "cmp-001")
    assert results == [Thresholds(Decimal("0.03"), Decimal("2.5"))] * 3
    assert calls_to(stub, before) == expected_calls


def test_a_fresh_response_goes_stale_after_max_age(stub: StubBenchmarks) -> None:
    stub.behave(headers={"Cache-Control": "max-age=1"})
    source = HttpBenchmarks(stub.url, TIMEOUT)
    before = len(stub.requests)

    async def go() -> None:
        async with source.pooled():
            await source.thresholds("cmp-001")
            await source.thresholds("cmp-001")
            assert calls_to(stub, before) == 1
            await asyncio.sleep(1.1)  # the answer's max-age=1 runs out: time passing is the behaviour
            await source.thresholds("cmp-001")
            assert calls_to(stub, before) == 2

    asyncio.run(go())


def test_an_etag_is_revalidated_and_a_304_reuses_the_stored_thresholds(stub: StubBenchmarks) -> None:
    stub.behave(etag='"v1"', headers={"Cache-Control": "no-cache"})
    source = HttpBenchmarks(stub.url, TIMEOUT)
    before = len(stub.requests)

    async def go() -> list[Thresholds]:
        async with source.pooled():
            first = await source.thresholds("cmp-002")
            stub.thresholds["cmp-002"] = {"min_ctr": 0.5, "min_roas": 5}  # a 304 never sends it
            return [first, await source.thresholds("cmp-002"), await source.thresholds("cmp-002")]

    try:
        results = asyncio.run(go())
    finally:
        stub.thresholds["cmp-002"] = GOOD
    assert results == [Thresholds(Decimal("0.03"), Decimal("2.5"))] * 3
    assert calls_to(stub, before) == 3  # no-cache: asked every time, answered 304 twice
    sent = [h.get("if-none-match") for h in stub.request_headers[-3:]]
    assert sent == [None, '"v1"', '"v1"']


def test_a_304_refreshes_the_freshness(stub: StubBenchmarks) -> None:
    stub.behave(etag='"v1"')  # first answer: an ETag and no max-age
    source = HttpBenchmarks(stub.url, TIMEOUT)
    before = len(stub.requests)

    async def go() -> None:
        async with source.pooled():
            await source.thresholds("cmp-003")
            stub.behave(etag='"v1"', headers={"Cache-Control": "max-age=60"})  # the 304 says: fresh for 60 s
            await source.thresholds("cmp-003")
            await source.thresholds("cmp-003")

    asyncio.run(go())
    assert calls_to(stub, before) == 2
    assert stub.request_headers[-1].get("if-none-match") == '"v1"'


def test_a_changed_body_replaces_the_stored_one(stub: StubBenchmarks) -> None:
    stub.behave(etag='"v1"')
    source = HttpBenchmarks(stub.url, TIMEOUT)

    async def go() -> list[Thresholds]:
        async with source.pooled():
            first = await source.thresholds("cmp-004")
            stub.thresholds["cmp-004"] = {"min_ctr": 0.5, "min_roas": 5}
            stub.behave(etag='"v2"')
            return [first, await source.thresholds("cmp-004")]

    try:
        first, second = asyncio.run(go())
    finally:
        stub.thresholds["cmp-004"] = GOOD
    assert (first.min_ctr, second.min_ctr) == (Decimal("0.03"), Decimal("0.5"))


def test_an_unsolicited_304_is_a_502(stub: StubBenchmarks) -> None:
    stub.behave(status=304)
    [result] = run(HttpBenchmarks(stub.url, TIMEOUT), "cmp-001")
    assert "HTTP 304 Not Modified, but no stored response was asked about" in str(result)


def test_only_valid_bodies_are_stored(stub: StubBenchmarks) -> None:
    stub.behave(body=b'{"min_ctr": "x", "min_roas": 1}', headers={"Cache-Control": "max-age=60"}, etag='"v1"')
    source = HttpBenchmarks(stub.url, TIMEOUT)
    before = len(stub.requests)
    results = run(source, "cmp-001", "cmp-001")
    assert all(isinstance(r, BenchmarkUnavailable) for r in results)
    assert calls_to(stub, before) == 2
    assert len(source.cache) == 0
    assert [h.get("if-none-match") for h in stub.request_headers[-2:]] == [None, None]


def test_the_cache_is_bounded(stub: StubBenchmarks) -> None:
    stub.behave(headers={"Cache-Control": "max-age=60"})
    source = HttpBenchmarks(stub.url, TIMEOUT, cache_entries=3)
    before = len(stub.requests)
    run(source, *IDS[:10], *IDS[7:10])
    assert len(source.cache) == 3
    assert calls_to(stub, before) == 10  # the last three were still stored


# --- a hanging service: no wedge, a responsive loop --------------------------------------------


def test_bursts_against_a_hanging_service_do_not_wedge_the_client(stub: StubBenchmarks) -> None:
    source = HttpBenchmarks(stub.url, TIMEOUT)

    async def go() -> tuple[list[set[str]], int, list[Any]]:
        ticks = 0
        stop = asyncio.Event()

        async def ticker() -> None:  # a 10 ms sleep, again and again, while the bursts run
            nonlocal ticks
            while not stop.is_set():
                await asyncio.sleep(0.01)
                ticks += 1

        async with source.pooled():
            ticking = asyncio.create_task(ticker())
            stub.behave(hang=True)
            bursts = []
            for _ in range(2):
                results = await asyncio.gather(*(source.thresholds(cid) for cid in IDS), return_exceptions=True)
                bursts.append({str(r).split(": ", 1)[1] for r in results})
            stop.set()
            await ticking
            stub.behave()
            after = await asyncio.gather(*(source.thresholds(cid) for cid in IDS[:50]), return_exceptions=True)
        return bursts, ticks, after

    started = time.monotonic()
    bursts, ticks, after = asyncio.run(go())
    assert bursts == [{f"timed out after {TIMEOUT:g} s"}] * 2
    assert after == [Thresholds(Decimal("0.03"), Decimal("2.5"))] * 50
    # The 200 calls of a burst time out together (serialised they would take 100 s each), and
    # the loop kept running other tasks meanwhile. No bound on how late a tick wakes: that
    # follows the machine's load, not the client (it failed under load, never for a wedge).
    assert time.monotonic() - started < 10
    assert ticks >= 10


def test_a_client_that_makes_no_progress_is_rebuilt(stub: StubBenchmarks, caplog: pytest.LogCaptureFixture) -> None:
    """20 calls time out against a hanging service: with a rebuild after 10 the pooled client
    is replaced once (the WARNING says so), with a rebuild after 21 it is kept; either way the
    calls succeed as soon as the service answers again."""

    def twenty_timeouts_then_five_calls(rebuild_after_timeouts: int) -> list[Any]:
        source = HttpBenchmarks(stub.url, 0.3, rebuild_after_timeouts=rebuild_after_timeouts, rebuild_after_seconds=0.0)

        async def go() -> list[Any]:
            async with source.pooled():
                stub.behave(hang=True)
                await asyncio.gather(*(source.thresholds(cid) for cid in IDS[:20]), return_exceptions=True)
                stub.behave()
                return await asyncio.gather(*(source.thresholds(cid) for cid in IDS[:5]), return_exceptions=True)

        return asyncio.run(go())

    def replaced() -> list[str]:
        return [r.getMessage() for r in caplog.records if "replaces the pooled one" in r.getMessage()]

    caplog.set_level("WARNING", logger="campaign_analytics")
    assert twenty_timeouts_then_five_calls(10) == [Thresholds(Decimal("0.03"), Decimal("2.5"))] * 5
    [line] = replaced()
    assert line.startswith("benchmark service: 10 calls in a row timed out and nothing answered for ")
    caplog.clear()
    assert twenty_timeouts_then_five_calls(21) == [Thresholds(Decimal("0.03"), Decimal("2.5"))] * 5
    assert replaced() == []


def test_livez_answers_during_a_burst_against_a_hanging_service(stub: StubBenchmarks, visible_rollup_dir: Path) -> None:
    settings = Settings.for_data(
        VISIBLE, rollup_dir=visible_rollup_dir, benchmark_api_base=stub.url, benchmark_timeout_seconds=2
    )
    stub.behave(hang=True)
    before = len(stub.requests)
    campaigns = ["cmp-001", "cmp-002", "cmp-003", "cmp-004", "cmp-005"]
    with serve(create_app(settings)) as url:
        host, port = url.removeprefix("http://").split(":")
        statuses: list[int] = []

        async def burst() -> None:
            async def one(i: int) -> None:
                reader, writer = await asyncio.open_connection(host, int(port))
                try:
                    target = f"/campaigns/{campaigns[i % 5]}/anomalies"
                    writer.write(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
                    statuses.append(int((await reader.readline()).split()[1]))
                    await reader.read()
                finally:
                    writer.close()
                    with contextlib.suppress(ConnectionError):
                        await writer.wait_closed()

            await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(200))), 20)

        loader = threading.Thread(target=asyncio.run, args=(burst(),))
        loader.start()
        # the five campaigns' calls hang at the service: the burst's 200 requests wait 2 s on them
        wait_for(lambda: calls_to(stub, before) >= 5, message=lambda: f"{calls_to(stub, before)} calls")
        for _ in range(5):
            connection = http.client.HTTPConnection(host, int(port), timeout=10)
            try:
                connection.request("GET", "/livez")
                assert connection.getresponse().status == 200
            finally:
                connection.close()
        assert statuses == []  # /livez answered while every request of the burst was still waiting
        loader.join(30)
        stub.behave()
    assert statuses == [502] * 200


# --- answers that are not HTTP -----------------------------------------------------------------


@contextlib.contextmanager
def raw_server(answer: bytes) -> Iterator[str]:
    """A loopback server that reads a request, writes `answer` (raw bytes) and hangs up."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve_forever() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            with connection:
                connection.recv(65536)
                connection.sendall(answer)

    thread = threading.Thread(target=serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(5)
        listener.close()


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        (b"", "connection failed (ServerDisconnectedError"),
        (b"HELLO\r\n\r\n", "connection failed ("),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{}", "connection failed ("),  # cut short
        (b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n", "connection failed ("),
    ],
    ids=["hang-up", "not-http", "short-body", "huge-header"],
)
def test_answers_that_are_not_http_are_502s(answer: bytes, problem: str) -> None:
    with raw_server(answer) as url:
        started = time.monotonic()
        [result] = run(HttpBenchmarks(url, TIMEOUT), "cmp-001")
    assert isinstance(result, BenchmarkUnavailable)
    assert str(result).startswith(f"benchmark service GET {url}/benchmarks/cmp-001: {problem}")
    assert time.monotonic() - started < 3 * TIMEOUT
