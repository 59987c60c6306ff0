"""Thresholds from the fixture file and from a real HTTP service: every failure is one error."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from campaign_analytics.anomalies import Thresholds
from campaign_analytics.errors import BenchmarkUnavailable
from campaign_analytics.serve.benchmarks import (
    FixtureBenchmarks,
    HttpBenchmarks,
    decode_json,
    fixture_thresholds,
    parse_thresholds,
)
from tests.support.stub_benchmarks import StubBenchmarks, closed_port_url

TIMEOUT = 0.5
# a valid thresholds body, sent below with statuses that must not make it thresholds
OTHER = b'{"min_ctr": 0.5, "min_roas": 9.0}'
REPEATED = "appears more than once in an object, so the body is ambiguous"


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"<html>", "body is not JSON"),
        (b"", "body is not JSON"),
        (b'{"min_ctr": NaN, "min_roas": 1}', "body is not JSON"),
        (b'{"min_ctr": Infinity, "min_roas": 1}', "body is not JSON"),
        (b"[0.1, 2]", "expected a JSON object, got an array"),
        (b"null", "expected a JSON object, got null"),
        (b'{"min_ctr": 0.03}', "key 'min_roas' is missing"),
        (b'{"min_roas": 1}', "key 'min_ctr' is missing"),
        (b'{"min_ctr": true, "min_roas": 1}', "min_ctr is a boolean, not a number"),
        (b'{"min_ctr": "0.03", "min_roas": 1}', "min_ctr is a string, not a number"),
        (b'{"min_ctr": null, "min_roas": 1}', "min_ctr is null, not a number"),
        (b'{"min_ctr": 0.03, "min_roas": -1}', "min_roas is -1, not a finite number >= 0"),
        (b'{"min_ctr": 1e999, "min_roas": 1}', "min_ctr is 1E+999, not a finite number >= 0"),
        (b'{"min_ctr": -0.0, "min_roas": 1}', "min_ctr is -0.0, not a finite number >= 0"),
        (b'{"min_ctr": 0.03, "min_roas": -0}', "min_roas is -0, not a finite number >= 0"),
        (b'{"min_ctr": 1e-10000000, "min_roas": 1}', "min_ctr is 1E-10000000, outside the accepted thresholds"),
        (b'{"min_ctr": 0.03, "min_roas": 2e12}', "min_roas is 2E+12, outside the accepted thresholds"),
        (b'{"min_ctr": 0.03, "min_roas": 2.5, "min_ctr": 0.5}', f"key 'min_ctr' {REPEATED}"),
        (b'{"min_ctr": 0.5, "min_roas": 2.5, "min_ctr": 0.5}', f"key 'min_ctr' {REPEATED}"),  # even the same value
        (b'{"min_ctr": 0.03, "min_roas": 2.5, "note": 1, "note": 2}', f"key 'note' {REPEATED}"),  # an extra key too
        (b'{"min_ctr": 0.03, "min_roas": 2.5, "extra": [{"a": 1, "a": 2}]}', f"key 'a' {REPEATED}"),  # at any depth
        (b'{"\\u001b[2J": 1, "\\u001b[2J": 2}', f"key '\\x1b[2J' {REPEATED}"),  # shown escaped
        (
            b'{"' + b"k" * 100 + b'": 1, "' + b"k" * 100 + b'": 2}',
            f"key 'kkkkkkkkkkkkkkkkkkk...kkkkkkk' (102 characters) {REPEATED}",
        ),
    ],
)
def test_bad_threshold_bodies_are_refused_with_a_reason(body: bytes, problem: str) -> None:
    with pytest.raises(BenchmarkUnavailable) as caught:
        parse_thresholds(decode_json(body, "svc"), "svc")
    assert str(caught.value).startswith(f"svc: {problem}")


def test_thresholds_keep_the_written_decimal() -> None:
    parsed = parse_thresholds(decode_json(b'{"min_ctr": 0.07, "min_roas": 3, "extra": "ignored"}', "x"), "x")
    assert parsed == Thresholds(Decimal("0.07"), Decimal(3))


# --- fixture mode ----------------------------------------------------------------------------


def test_fixture_file_answers_and_sees_edits(tmp_path: Path) -> None:
    path = tmp_path / "benchmarks.json"
    path.write_text(json.dumps({"cmp-1": {"min_ctr": 0.03, "min_roas": 2.5}}))
    source = FixtureBenchmarks(path)
    assert asyncio.run(source.thresholds("cmp-1")) == Thresholds(Decimal("0.03"), Decimal("2.5"))
    assert asyncio.run(source.health()) == "fixture"

    path.write_text(json.dumps({"cmp-1": {"min_ctr": 0.05, "min_roas": 1}}))
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 1_000_000))  # a new mtime even on coarse clocks
    assert asyncio.run(source.thresholds("cmp-1")) == Thresholds(Decimal("0.05"), Decimal(1))


def test_a_fixture_entry_shared_by_many_campaigns_is_checked_by_its_exact_spelling(tmp_path: Path) -> None:
    """Entries are checked once per distinct spelling: a value written otherwise (a huge
    exponent, a boolean for 1) is still checked, and refused, with its campaign named."""
    path = tmp_path / "benchmarks.json"
    entries = {f"c{i}": {"min_ctr": 0.02, "min_roas": 1} for i in range(1000)}
    path.write_text(json.dumps(entries))
    source = FixtureBenchmarks(path)
    assert asyncio.run(source.thresholds("c999")) == Thresholds(Decimal("0.02"), Decimal(1))
    path.write_text(json.dumps(entries)[:-1] + ', "huge": {"min_ctr": 2e+100000000, "min_roas": 1}}')
    with pytest.raises(BenchmarkUnavailable, match="campaign 'huge': min_ctr"):
        asyncio.run(FixtureBenchmarks(path).thresholds("c1"))
    path.write_text(json.dumps({**entries, "bool": {"min_ctr": 0.02, "min_roas": True}}))
    with pytest.raises(BenchmarkUnavailable, match="campaign 'bool': min_roas is a boolean"):
        asyncio.run(FixtureBenchmarks(path).thresholds("c1"))


@pytest.mark.parametrize(
    ("content", "campaign", "problem"),
    [
        (None, "cmp-1", "cannot be read (No such file or directory)"),
        ("{not json", "cmp-1", "body is not JSON"),
        ("[1]", "cmp-1", "expected an object of campaign ids, got an array"),
        ('{"cmp-1": {"min_ctr": "x", "min_roas": 1}}', "cmp-1", "campaign 'cmp-1': min_ctr is a string, not a number"),
        ('{"cmp-1": {"min_ctr": 0.1, "min_roas": 1}}', "cmp-2", "has no thresholds for campaign 'cmp-2'"),
        (
            '{"cmp-1": {"min_ctr": 0.1, "min_roas": 1}, "cmp-1": {"min_ctr": 0.2, "min_roas": 1}}',
            "cmp-1",
            f"key 'cmp-1' {REPEATED}",
        ),
        ('{"cmp-1": {"min_ctr": 0.1, "min_roas": 1, "min_roas": 2}}', "cmp-1", f"key 'min_roas' {REPEATED}"),
    ],
)
def test_fixture_failures(tmp_path: Path, content: str | None, campaign: str, problem: str) -> None:
    path = tmp_path / "benchmarks.json"
    if content is not None:
        path.write_text(content)
    source = FixtureBenchmarks(path)
    with pytest.raises(BenchmarkUnavailable, match=problem.replace("(", r"\(").replace(")", r"\)")):
        asyncio.run(source.thresholds(campaign))
    expected_health = "fixture" if campaign == "cmp-2" else "error"
    assert asyncio.run(source.health()) == expected_health


def _careful(body: bytes) -> dict[str, Thresholds] | str:
    try:
        table = fixture_thresholds(body, "f", quick=False)
    except BenchmarkUnavailable as exc:
        return str(exc)
    assert table is not None
    return table


# pieces of fixture text: keys that repeat, hold a colon or an escape; values of every kind
_KEYS = st.sampled_from(['"a"', '"b"', '"a:b"', '"\\u0061"', '"min_ctr"', '"min_roas"', '"note"'])
_NUMBERS = st.sampled_from(["0.02", "1", "2.5e0", "0", "-1", "1e999", "true", '"0.1"', "null"])
_ENTRIES = st.sampled_from(['{"min_ctr": 0.02, "min_roas": 1}', '{"min_roas": 2.5, "min_ctr": 0, "n": "x:y"}'])


@st.composite
def _objects(draw: st.DrawFn, depth: int) -> str:
    members = []
    for _ in range(draw(st.integers(0, 4))):
        key = draw(_KEYS)
        if depth > 0 and draw(st.booleans()):
            value = draw(_ENTRIES | _objects(depth - 1))
        elif draw(st.integers(0, 5)) == 0:
            value = "[" + ", ".join(draw(st.lists(_NUMBERS | _objects(0), max_size=2))) + "]"
        else:
            value = draw(_NUMBERS)
        members.append(f"{key}: {value}")
    return "{" + ", ".join(members) + "}"


@given(_objects(2))
@settings(max_examples=400, deadline=None)
def test_the_quick_fixture_decode_answers_as_the_careful_one_or_not_at_all(text: str) -> None:
    """Whatever the text (repeated keys at any depth, colons in strings, escapes, nested
    objects, bad values), the quick decode either gives the careful decode's table or leaves
    the answer to it: never a table the careful decode would refuse, never other words."""
    body = text.encode()
    quick = fixture_thresholds(body, "f", quick=True)
    if quick is not None:
        assert quick == _careful(body)


def test_a_fixture_of_many_plain_entries_takes_the_quick_decode_and_a_repeated_key_does_not() -> None:
    entries = {f"cmp-{i}": {"min_ctr": 0.02 + i % 3, "min_roas": 1.5} for i in range(2000)}
    body = json.dumps(entries).encode()
    quick = fixture_thresholds(body, "f", quick=True)
    assert quick is not None and quick == _careful(body)
    assert quick["cmp-1"] == Thresholds(Decimal("1.02"), Decimal("1.5"))
    repeated = body[:-1] + b', "cmp-7": {"min_ctr": 0.5, "min_roas": 1}}'
    assert fixture_thresholds(repeated, "f", quick=True) is None
    assert _careful(repeated) == f"f: key 'cmp-7' {REPEATED}"
    inner = body[:-1] + b', "x": {"min_ctr": "bad", "min_ctr": 0.5, "min_roas": 1}}'
    assert fixture_thresholds(inner, "f", quick=True) is None
    assert _careful(inner) == f"f: key 'min_ctr' {REPEATED}"


def test_a_fixture_nested_near_the_recursion_limit_is_left_to_the_careful_decode() -> None:
    """The careful decode runs a frame deeper than the quick one (and calls its hook in every
    object): at a nesting the quick decode just passes it can meet the recursion limit, so a
    quick table is never kept for a nested document (a careful refusal stays a refusal)."""
    limit = sys.getrecursionlimit()
    for inner in ("0", "{}"):
        for depth in range(max(1, limit - 400), limit + 10):
            body = ('{"c":{"min_ctr":0.5,"min_roas":1,"x":' + "[" * depth + inner + "]" * depth + "}}").encode()
            quick = fixture_thresholds(body, "f", quick=True)
            if quick is not None:
                assert quick == _careful(body), (inner, depth)


# --- HTTP mode, against a real server on 127.0.0.1 -------------------------------------------


@pytest.fixture(scope="module")
def stub() -> Iterator[StubBenchmarks]:
    with StubBenchmarks(
        {"cmp-1": {"min_ctr": 0.03, "min_roas": 2.5}, "a/b c?": {"min_ctr": 0, "min_roas": 0}}
    ) as server:
        yield server


@pytest.fixture(autouse=True)
def reset(request: pytest.FixtureRequest) -> None:
    if "stub" in request.fixturenames:
        request.getfixturevalue("stub").behave()


def fetch(base: str, campaign_id: str = "cmp-1") -> Thresholds:
    async def go() -> Thresholds:
        source = HttpBenchmarks(base, TIMEOUT)
        async with source.pooled():
            return await source.thresholds(campaign_id)

    return asyncio.run(go())


def test_http_thresholds(stub: StubBenchmarks) -> None:
    assert fetch(stub.url) == Thresholds(Decimal("0.03"), Decimal("2.5"))


def test_campaign_ids_are_url_encoded(stub: StubBenchmarks) -> None:
    assert fetch(stub.url, "a/b c?") == Thresholds(Decimal(0), Decimal(0))
    assert stub.requests[-1] == "/benchmarks/a%2Fb%20c%3F"


@pytest.mark.parametrize(
    ("behaviour", "problem"),
    [
        ({"status": 404}, "HTTP 404, no thresholds for campaign 'cmp-1'"),
        ({"status": 500}, "HTTP 500"),
        ({"status": 503}, "HTTP 503"),
        ({"status": 201, "body": OTHER}, "HTTP 201 Created: only a 200 answer carries thresholds"),
        (
            {"status": 206, "body": OTHER, "headers": {"Content-Range": "bytes 0-32/100"}},
            "HTTP 206 Partial Content: only a 200 answer carries thresholds",
        ),
        (
            {"status": 203, "body": OTHER},
            "HTTP 203 Non-Authoritative Information: only a 200 answer carries thresholds",
        ),
        ({"status": 399, "body": OTHER}, "HTTP 399: only a 200 answer carries thresholds"),
        ({"status": 300, "body": OTHER}, "HTTP 300 Multiple Choices: only a 200 answer carries thresholds"),
        (
            {"status": 302, "body": OTHER, "headers": {"Location": "http://benchmarks.example/benchmarks/cmp-1"}},
            "HTTP 302 Found, a redirect to 'http://benchmarks.example/benchmarks/cmp-1' (redirects are not followed)",
        ),
        (
            {"status": 302, "body": b"", "headers": {"Location": "http://benchmarks.example/benchmarks/cmp-1"}},
            "HTTP 302 Found, a redirect to 'http://benchmarks.example/benchmarks/cmp-1' (redirects are not followed)",
        ),
        (
            {"status": 308, "body": OTHER, "headers": {"Location": "/benchmarks/elsewhere"}},
            "HTTP 308 Permanent Redirect, a redirect to '/benchmarks/elsewhere' (redirects are not followed)",
        ),
        (
            {"status": 301, "body": OTHER, "headers": {"Location": "/" + "x" * 300}},
            "HTTP 301 Moved Permanently, a redirect to '/" + "x" * 199 + "' (redirects are not followed)",
        ),
        ({"body": b"<html>oops</html>"}, "body is not JSON (Expecting value: line 1 column 1 (char 0))"),
        ({"body": b'"0.03"'}, "expected a JSON object, got a string"),
        ({"body": b'{"min_ctr": 0.03}'}, "key 'min_roas' is missing"),
        ({"body": b'{"min_ctr": false, "min_roas": 1}'}, "min_ctr is a boolean, not a number"),
        ({"body": b'{"min_ctr": 0.1, "min_roas": "2"}'}, "min_roas is a string, not a number"),
        ({"body": b'{"min_ctr": -0.1, "min_roas": 2}'}, "min_ctr is -0.1, not a finite number >= 0"),
        ({"body": b'{"min_ctr": 0.03, "min_roas": 2.5, "min_ctr": 0.5}'}, f"key 'min_ctr' {REPEATED}"),
        ({"body": b" " * 70_000 + b"{}"}, "body is larger than 65536 bytes"),
        ({"delay": 2 * TIMEOUT}, f"timed out after {TIMEOUT:g} s"),
        ({"drip": TIMEOUT / 5}, f"timed out after {TIMEOUT:g} s"),  # each byte in time, the whole too slow
    ],
)
def test_http_failures_become_one_error_saying_what_went_wrong(
    stub: StubBenchmarks, behaviour: dict[str, object], problem: str
) -> None:
    stub.behave(**behaviour)  # type: ignore[arg-type]
    started = time.monotonic()
    with pytest.raises(BenchmarkUnavailable) as caught:
        fetch(stub.url)
    assert str(caught.value) == f"benchmark service GET {stub.url}/benchmarks/cmp-1: {problem}"
    assert time.monotonic() - started < 3 * TIMEOUT
    assert stub.requests[-1] == "/benchmarks/cmp-1"  # one call, no redirect followed


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", "application/octet-stream", None])
def test_a_200_is_thresholds_whatever_its_content_type(stub: StubBenchmarks, content_type: str | None) -> None:
    stub.behave(body=OTHER, content_type=content_type)
    assert fetch(stub.url) == Thresholds(Decimal("0.5"), Decimal("9.0"))


def test_unreachable_service() -> None:
    base = closed_port_url()
    with pytest.raises(
        BenchmarkUnavailable, match=r"benchmark service GET .*/benchmarks/cmp-1: unreachable \(ConnectError"
    ):
        fetch(base)


def test_http_health(stub: StubBenchmarks) -> None:
    async def health(base: str) -> str:
        return await HttpBenchmarks(base, TIMEOUT).health()  # no pool: a client of its own

    assert asyncio.run(health(stub.url)) == "ok"
    stub.behave(health_status=404)  # any answer below 500 means the service is there
    assert asyncio.run(health(stub.url)) == "ok"
    stub.behave(health_status=500)
    assert asyncio.run(health(stub.url)) == "error"
    stub.behave(health_delay=2 * TIMEOUT)
    assert asyncio.run(health(stub.url)) == "error"
    assert asyncio.run(health(closed_port_url())) == "error"
