"""HTTP semantics: ETag and 304, Cache-Control, HEAD on every GET route, CORS, nosniff."""

from __future__ import annotations

import http.client
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from campaign_analytics.http.middleware import etag_for, none_match
from campaign_analytics.serve.app import create_app
from campaign_analytics.settings import Settings
from tests.support.api import MakeClient, settings_for
from tests.support.datasets import VISIBLE
from tests.support.live_server import serve

READS = [
    "/campaigns/cmp-001/performance",
    "/creators/top?campaign_id=cmp-001&limit=2",
    "/campaigns/cmp-002/anomalies",
]


# --- ETag and 304 --------------------------------------------------------------------------


@pytest.mark.parametrize("target", READS)
def test_read_answers_carry_a_strong_etag_that_is_stable(client: TestClient, target: str) -> None:
    first, second = client.get(target), client.get(target)
    assert first.status_code == 200
    etag = first.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"') and not etag.startswith("W/")
    assert second.headers["etag"] == etag


def test_etags_differ_by_request(client: TestClient) -> None:
    tags = {
        client.get(t).headers["etag"]
        for t in [
            "/campaigns/cmp-001/performance",
            "/campaigns/cmp-002/performance",
            "/creators/top?campaign_id=cmp-001&limit=2",
            "/creators/top?campaign_id=cmp-001&limit=3",
            "/campaigns/cmp-002/anomalies",
            "/campaigns/cmp-003/anomalies",
        ]
    }
    assert len(tags) == 6


def test_the_etag_depends_on_the_build_as_well_as_the_body() -> None:
    body = b'{"campaign_id":"cmp-001"}'
    assert etag_for(b"build-a", body) != etag_for(b"build-b", body)
    assert etag_for(b"build-a", body) == etag_for(b"build-a", body)
    assert etag_for(b"build-a", body) != etag_for(b"build-a", body + b" ")


def test_anomalies_etag_follows_the_live_thresholds(tmp_path: Path, make_client: MakeClient) -> None:
    fixture = tmp_path / "benchmarks.json"
    fixture.write_text(json.dumps({"cmp-002": {"min_ctr": 0.03, "min_roas": 2.5}}))
    client = make_client(benchmark_fixtures_file=fixture)
    before = client.get("/campaigns/cmp-002/anomalies").headers["etag"]
    fixture.write_text(json.dumps({"cmp-002": {"min_ctr": 0.031, "min_roas": 2.5}}))
    after = client.get("/campaigns/cmp-002/anomalies", headers={"If-None-Match": before})
    assert after.status_code == 200  # new thresholds: the old tag no longer matches
    assert after.headers["etag"] != before


@pytest.mark.parametrize("target", READS)
def test_matching_if_none_match_is_a_304_without_a_body(client: TestClient, target: str) -> None:
    full = client.get(target)
    etag = full.headers["etag"]
    for header in [etag, "*", f'"nope", {etag}', f"W/{etag}", f'  {etag} ,"other"']:
        response = client.get(target, headers={"If-None-Match": header})
        assert response.status_code == 304, header
        assert response.content == b""
        assert response.headers["etag"] == etag
        assert response.headers["x-build-id"] == full.headers["x-build-id"]
        assert response.headers["cache-control"] == full.headers["cache-control"]
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "content-type" not in response.headers


@pytest.mark.parametrize("header", ['"nope"', 'W/"nope"', '"a", "b"', ""])
def test_other_if_none_match_values_get_the_full_answer(client: TestClient, header: str) -> None:
    response = client.get(READS[0], headers={"If-None-Match": header})
    assert response.status_code == 200 and response.json()["campaign_id"] == "cmp-001"


@pytest.mark.parametrize(
    ("header", "matches"),
    [('"x"', True), ('W/"x"', True), ('"y", "x"', True), ("*", True), ('"y"', False), ("x", False), ('"x ', False)],
)
def test_if_none_match_parsing(header: str, matches: bool) -> None:
    assert none_match(header.encode(), b'"x"') is matches


def test_errors_and_health_have_no_etag(client: TestClient) -> None:
    for target in ["/campaigns/cmp-999/performance", "/creators/top", "/health", "/livez", "/metrics"]:
        assert "etag" not in client.get(target).headers, target


# --- Cache-Control -------------------------------------------------------------------------


def test_cache_control_of_read_answers(client: TestClient) -> None:
    assert client.get(READS[0]).headers["cache-control"] == "public, max-age=5"
    assert client.get(READS[1]).headers["cache-control"] == "public, max-age=5"
    # thresholds are live: a cache must revalidate (the ETag makes that cheap)
    assert client.get(READS[2]).headers["cache-control"] == "no-cache"


def test_cache_max_age_is_a_setting(make_client: MakeClient) -> None:
    client = make_client(cache_max_age_seconds=30)
    assert client.get(READS[0]).headers["cache-control"] == "public, max-age=30"
    settings = Settings.from_env({"DATA_DIR": str(VISIBLE), "CACHE_MAX_AGE_SECONDS": "0"})
    assert settings.cache_max_age_seconds == 0


# --- HEAD ----------------------------------------------------------------------------------


def get_targets(client: TestClient) -> list[str]:
    """A concrete URL for every GET route: the documented ones (from the schema) and the
    app's other routes (docs, schema, metrics), path parameters filled in."""
    documented = [p for p, item in client.get("/openapi.json").json()["paths"].items() if "get" in item]
    others = [r.path for r in client.app.routes if "GET" in (getattr(r, "methods", None) or ())]  # type: ignore[attr-defined]
    targets = []
    for path in documented + others:
        path = path.replace("{campaign_id}", "cmp-001")
        targets.append(path + ("?campaign_id=cmp-001" if path == "/creators/top" else ""))
    return targets


def test_every_get_route_answers_head_with_the_same_status_and_headers(client: TestClient) -> None:
    targets = get_targets(client)
    assert {"/livez", "/health", "/metrics", "/docs", "/redoc", "/openapi.json"} <= set(targets)
    assert len(targets) >= 10
    for target in targets:
        get, head = client.get(target), client.head(target)
        assert head.status_code == get.status_code == 200, target
        assert head.content == b"", target
        ignored = {"x-request-id", "content-length"} | ({"content-length"} if target == "/metrics" else set())
        assert {k: v for k, v in head.headers.items() if k not in ignored} == {
            k: v for k, v in get.headers.items() if k not in ignored
        }, target
        if target != "/metrics":  # the metrics text grows between the two requests
            assert head.headers["content-length"] == get.headers["content-length"], target


def test_head_of_an_unknown_campaign_is_a_404_without_body(client: TestClient) -> None:
    response = client.head("/campaigns/cmp-999/performance")
    assert response.status_code == 404 and response.content == b""


def test_head_through_a_real_server(visible_rollup_dir: Path) -> None:
    """uvicorn must accept a HEAD answer that announces a length and sends no body."""
    with serve(create_app(settings_for(visible_rollup_dir))) as base:
        host, port = base.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        try:
            for target in [*READS, "/livez"]:
                connection.request("HEAD", target)
                response = connection.getresponse()
                assert response.status == 200 and response.read() == b""
                assert int(response.headers["content-length"]) > 0
            connection.request("GET", READS[0])  # the connection is still usable
            assert connection.getresponse().read().startswith(b'{"campaign_id":"cmp-001"')
        finally:
            connection.close()


# --- CORS ----------------------------------------------------------------------------------


def test_cors_is_off_by_default(client: TestClient) -> None:
    response = client.get(READS[0], headers={"Origin": "https://dashboard.example"})
    assert "access-control-allow-origin" not in response.headers
    preflight = client.options(
        READS[0], headers={"Origin": "https://dashboard.example", "Access-Control-Request-Method": "GET"}
    )
    assert "access-control-allow-origin" not in preflight.headers


def test_cors_for_the_configured_origins(make_client: MakeClient) -> None:
    origins = ("https://dashboard.example", "http://127.0.0.1:3000")
    client = make_client(cors_allow_origins=origins)
    allowed = client.get(READS[0], headers={"Origin": "https://dashboard.example"})
    assert allowed.headers["access-control-allow-origin"] == "https://dashboard.example"
    assert "etag" in allowed.headers["access-control-expose-headers"].lower()
    assert "x-build-id" in allowed.headers["access-control-expose-headers"].lower()
    other = client.get(READS[0], headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
    preflight = client.options(
        READS[0], headers={"Origin": "http://127.0.0.1:3000", "Access-Control-Request-Method": "GET"}
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "http://127.0.0.1:3000"
    assert preflight.headers["x-content-type-options"] == "nosniff"


def test_cors_origins_from_the_environment() -> None:
    env = {"DATA_DIR": str(VISIBLE), "CORS_ALLOW_ORIGINS": " https://a.example/, http://b.example:8080 ,,"}
    assert Settings.from_env(env).cors_allow_origins == ("https://a.example", "http://b.example:8080")
    assert Settings.from_env({"DATA_DIR": str(VISIBLE)}).cors_allow_origins == ()


# --- nosniff -------------------------------------------------------------------------------


def test_nosniff_on_every_response(tmp_path: Path, make_client: MakeClient) -> None:
    client = make_client()
    fixture = tmp_path / "benchmarks.json"
    fixture.write_text("{}")
    broken = make_client(benchmark_fixtures_file=fixture)
    empty = tmp_path / "no-rollups"
    data = tmp_path / "data"
    data.mkdir()  # no input files: the start-up build fails and nothing is served (503)
    unavailable = make_client(Settings.for_data(data, rollup_dir=empty, benchmark_fixtures_file=fixture))
    cases = [
        (client.get(READS[0]), 200),
        (client.get(READS[0], headers={"If-None-Match": "*"}), 304),
        (client.get("/campaigns/cmp-999/performance"), 404),
        (client.get("/no/such/route"), 404),
        (client.get("/creators/top?campaign_id=cmp-001&limit=0"), 422),
        (client.post("/livez"), 405),
        (client.head("/livez"), 200),
        (client.get("/docs"), 200),
        (client.get("/metrics"), 200),
        (broken.get("/campaigns/cmp-002/anomalies"), 502),
        (unavailable.get(READS[0]), 503),
        (unavailable.get("/health"), 503),
    ]
    for response, status in cases:
        assert response.status_code == status, response.request.url
        assert response.headers["x-content-type-options"] == "nosniff", response.request.url
