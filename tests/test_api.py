"""The HTTP contract (docs/contract.md §4) on the visible sample: exact payloads, errors, hostile input.

Runs as documented: `PYTHONPATH=python pytest tests/test_api.py -q`. Two styles:

- first, the contract's own: `from app import create_app` at the top, environment variables
  set inside each test, `TestClient(create_app())` without `with` (the ASGI lifespan never
  runs), exactly how the people who adopt the service test it;
- then the richer tests, on an app built with explicit Settings over data/visible (its fixture
  thresholds), so their payloads hold whatever the shell's DATA_DIR says.

TestClient re-raises any server exception, so a request that would answer 500 fails the test
that sent it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from starlette.requests import Request

from app import create_app
from campaign_analytics.build.pipeline import BuildResult
from campaign_analytics.serve.routes.canonical import top_query
from campaign_analytics.serve.schemas import CampaignAnomalies, CampaignPerformance, TopCreators
from tests.support.api import body_of
from tests.support.live_server import raw_get, serve

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _restore_environment() -> Iterator[None]:
    """The contract-style tests set os.environ themselves; put it back after each test."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


# --- the contract's own style: plain TestClient(create_app()), environment set in the test ---


def test_contract_health_ok_in_fixture_mode() -> None:
    os.environ["DATA_DIR"] = f"{REPO}/data/visible"
    os.environ["BENCHMARK_FIXTURES_FILE"] = f"{REPO}/data/visible/benchmarks.json"
    client = TestClient(create_app())
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert {k: body[k] for k in ("status", "database", "benchmark_service", "dataset")} == {
        "status": "ok",
        "database": "ok",
        "benchmark_service": "fixture",
        "dataset": "visible",
    }


def test_contract_cmp_001_performance() -> None:
    os.environ["DATA_DIR"] = f"{REPO}/data/visible"
    os.environ["BENCHMARK_FIXTURES_FILE"] = f"{REPO}/data/visible/benchmarks.json"
    client = TestClient(create_app())
    response = client.get("/campaigns/cmp-001/performance")
    assert response.status_code == 200
    assert response.json() == {
        "campaign_id": "cmp-001",
        "campaign_name": "Spring Launch",
        "totals": {
            "total_impressions": 5000,
            "total_clicks": 212,
            "total_conversions": 21,
            "total_spend": 890.0,
            "total_revenue": 3230.0,
            "ctr": 0.0424,
            "cvr": 0.0991,
            "roas": 3.6292,
        },
    }


def test_contract_cmp_001_top_two_creators() -> None:
    os.environ["DATA_DIR"] = f"{REPO}/data/visible"
    os.environ["BENCHMARK_FIXTURES_FILE"] = f"{REPO}/data/visible/benchmarks.json"
    client = TestClient(create_app())
    response = client.get("/creators/top?campaign_id=cmp-001&limit=2")
    assert response.status_code == 200
    assert response.json() == {
        "campaign_id": "cmp-001",
        "limit": 2,
        "creators": [
            {
                "campaign_id": "cmp-001",
                "creator_id": "crt-001",
                "creator_name": "Avery",
                "total_impressions": 2200,
                "total_clicks": 110,
                "total_conversions": 12,
                "total_spend": 420.0,
                "ctr": 0.05,
            },
            {
                "campaign_id": "cmp-001",
                "creator_id": "crt-002",
                "creator_name": "Blake",
                "total_impressions": 2000,
                "total_clicks": 70,
                "total_conversions": 6,
                "total_spend": 350.0,
                "ctr": 0.035,
            },
        ],
    }


def test_contract_cmp_004_tie_is_broken_by_creator_id() -> None:
    os.environ["DATA_DIR"] = f"{REPO}/data/visible"
    os.environ["BENCHMARK_FIXTURES_FILE"] = f"{REPO}/data/visible/benchmarks.json"
    client = TestClient(create_app())
    creators = client.get("/creators/top?campaign_id=cmp-004&limit=2").json()["creators"]
    assert [(c["creator_id"], c["total_conversions"], c["total_clicks"]) for c in creators] == [
        ("crt-003", 3, 30),
        ("crt-004", 3, 30),
    ]


def test_contract_cmp_002_anomalies() -> None:
    os.environ["DATA_DIR"] = f"{REPO}/data/visible"
    os.environ["BENCHMARK_FIXTURES_FILE"] = f"{REPO}/data/visible/benchmarks.json"
    client = TestClient(create_app())
    response = client.get("/campaigns/cmp-002/anomalies")
    assert response.status_code == 200
    assert response.json() == {
        "campaign_id": "cmp-002",
        "thresholds": {"min_ctr": 0.03, "min_roas": 2.5},
        "alerts": [
            {
                "metric_date": "2026-01-03",
                "issues": ["ctr_below_threshold", "roas_below_threshold"],
                "ctr": 0.0263,
                "roas": 2.2059,
            }
        ],
    }


def test_contract_cmp_005_spend_without_conversions() -> None:
    os.environ["DATA_DIR"] = f"{REPO}/data/visible"
    os.environ["BENCHMARK_FIXTURES_FILE"] = f"{REPO}/data/visible/benchmarks.json"
    client = TestClient(create_app())
    response = client.get("/campaigns/cmp-005/anomalies")
    assert response.status_code == 200
    assert response.json() == {
        "campaign_id": "cmp-005",
        "thresholds": {"min_ctr": 0.03, "min_roas": 1.0},
        "alerts": [
            {
                "metric_date": "2026-01-06",
                "issues": ["roas_below_threshold", "spend_without_conversions"],
                "ctr": 0.05,
                "roas": 0.0,
            }
        ],
    }


def test_contract_cmp_003_has_no_alerts() -> None:
    os.environ["DATA_DIR"] = f"{REPO}/data/visible"
    os.environ["BENCHMARK_FIXTURES_FILE"] = f"{REPO}/data/visible/benchmarks.json"
    client = TestClient(create_app())
    response = client.get("/campaigns/cmp-003/anomalies")
    assert response.status_code == 200
    assert response.json()["alerts"] == []


def test_contract_unreachable_benchmark_service_is_502() -> None:
    os.environ["DATA_DIR"] = f"{REPO}/data/visible"
    os.environ.pop("BENCHMARK_FIXTURES_FILE", None)
    os.environ["BENCHMARK_API_BASE"] = "http://localhost:19999"
    client = TestClient(create_app())
    response = client.get("/campaigns/cmp-001/anomalies")
    assert response.status_code == 502
    assert "unreachable" in response.json()["detail"]


# --- the richer tests: `client` (tests/conftest.py), explicit Settings, one app per module ------------


# --- the contract's examples, exactly --------------------------------------------------------------


def test_campaign_performance_complete_payload(client: TestClient) -> None:
    response = client.get("/campaigns/cmp-001/performance")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-build-id"]
    body = body_of(response, CampaignPerformance)
    assert body == {
        "campaign_id": "cmp-001",
        "campaign_name": "Spring Launch",
        "totals": {
            "total_impressions": 5000,
            "total_clicks": 212,
            "total_conversions": 21,
            "total_spend": 890.0,
            "total_revenue": 3230.0,
            "ctr": 0.0424,
            "cvr": 0.0991,
            "roas": 3.6292,
        },
    }
    assert list(body) == ["campaign_id", "campaign_name", "totals"]
    assert list(body["totals"]) == [
        "total_impressions",
        "total_clicks",
        "total_conversions",
        "total_spend",
        "total_revenue",
        "ctr",
        "cvr",
        "roas",
    ]
    assert '"total_spend":890.0' in response.text and '"cvr":0.0991,' in response.text


def test_a_campaign_without_metrics_has_zero_totals(client: TestClient) -> None:
    body = body_of(client.get("/campaigns/cmp-006/performance"), CampaignPerformance)
    assert body["totals"] == {
        "total_impressions": 0,
        "total_clicks": 0,
        "total_conversions": 0,
        "total_spend": 0.0,
        "total_revenue": 0.0,
        "ctr": 0.0,
        "cvr": 0.0,
        "roas": 0.0,
    }


def test_money_is_rounded_half_up_on_the_exact_sum(client: TestClient) -> None:
    # cmp-003 spends 100.10 + 50 + 0 + 99.995 + 5 = 255.095: floats would print 255.09
    body = body_of(client.get("/campaigns/cmp-003/performance"))
    assert (body["totals"]["total_spend"], body["totals"]["total_revenue"]) == (255.1, 720.25)


def test_top_creators_payload(client: TestClient) -> None:
    response = client.get("/creators/top", params={"campaign_id": "cmp-001", "limit": 2})
    body = body_of(response, TopCreators)
    assert body == {
        "campaign_id": "cmp-001",
        "limit": 2,
        "creators": [
            {
                "campaign_id": "cmp-001",
                "creator_id": "crt-001",
                "creator_name": "Avery",
                "total_impressions": 2200,
                "total_clicks": 110,
                "total_conversions": 12,
                "total_spend": 420.0,
                "ctr": 0.05,
            },
            {
                "campaign_id": "cmp-001",
                "creator_id": "crt-002",
                "creator_name": "Blake",
                "total_impressions": 2000,
                "total_clicks": 70,
                "total_conversions": 6,
                "total_spend": 350.0,
                "ctr": 0.035,
            },
        ],
    }
    assert list(body["creators"][0]) == [
        "campaign_id",
        "creator_id",
        "creator_name",
        "total_impressions",
        "total_clicks",
        "total_conversions",
        "total_spend",
        "ctr",
    ]


def test_top_creators_ties_break_on_creator_id(client: TestClient) -> None:
    body = body_of(client.get("/creators/top?campaign_id=cmp-004&limit=2"), TopCreators)
    assert [(c["creator_id"], c["total_conversions"], c["total_clicks"]) for c in body["creators"]] == [
        ("crt-003", 3, 30),
        ("crt-004", 3, 30),
    ]
    everyone = body_of(client.get("/creators/top?campaign_id=cmp-004"))
    assert everyone["limit"] == 10
    assert [c["creator_id"] for c in everyone["creators"]] == ["crt-003", "crt-004", "crt-006", "crt-001"]


def test_unknown_creators_are_listed_with_a_null_name(client: TestClient) -> None:
    body = body_of(client.get("/creators/top?campaign_id=cmp-003"), TopCreators)
    assert [(c["creator_id"], c["creator_name"]) for c in body["creators"]] == [
        ("crt-001", "Avery"),
        ("crt-004", "Devon"),
        ("crt-099", None),
    ]


def test_a_campaign_without_metrics_has_no_creators(client: TestClient) -> None:
    assert body_of(client.get("/creators/top?campaign_id=cmp-006&limit=100")) == {
        "campaign_id": "cmp-006",
        "limit": 100,
        "creators": [],
    }


def test_anomalies_payload(client: TestClient) -> None:
    body = body_of(client.get("/campaigns/cmp-002/anomalies"), CampaignAnomalies)
    assert body == {
        "campaign_id": "cmp-002",
        "thresholds": {"min_ctr": 0.03, "min_roas": 2.5},
        "alerts": [
            {
                "metric_date": "2026-01-03",
                "issues": ["ctr_below_threshold", "roas_below_threshold"],
                "ctr": 0.0263,
                "roas": 2.2059,
            }
        ],
    }
    assert list(body) == ["campaign_id", "thresholds", "alerts"]
    assert list(body["alerts"][0]) == ["metric_date", "issues", "ctr", "roas"]


@pytest.mark.parametrize(
    ("campaign_id", "alerts"),
    [
        ("cmp-003", []),  # includes a day exactly at min_ctr and a zero-spend day
        ("cmp-006", []),  # no metrics at all
        (
            "cmp-005",
            [
                {
                    "metric_date": "2026-01-06",
                    "issues": ["roas_below_threshold", "spend_without_conversions"],
                    "ctr": 0.05,
                    "roas": 0.0,
                }
            ],
        ),
        (
            "cmp-001",
            [{"metric_date": "2026-01-02", "issues": ["roas_below_threshold"], "ctr": 0.0416, "roas": 2.6769}],
        ),
    ],
)
def test_anomalies_of_the_visible_campaigns(client: TestClient, campaign_id: str, alerts: list[Any]) -> None:
    body = body_of(client.get(f"/campaigns/{campaign_id}/anomalies"), CampaignAnomalies)
    assert body["alerts"] == alerts


def test_cmp_005_thresholds_are_echoed(client: TestClient) -> None:
    assert body_of(client.get("/campaigns/cmp-005/anomalies"))["thresholds"] == {"min_ctr": 0.03, "min_roas": 1.0}


def readme_examples() -> list[tuple[str, bytes]]:
    """Each `$ curl -s URL` of a read endpoint in README.md, with the line printed under it."""
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    found = []
    for i, line in enumerate(lines):
        url = line.removeprefix("$ curl -s ").strip("'")
        if line.startswith(("$ curl -s http", "$ curl -s 'http")) and any(
            k in url for k in ("/performance", "/anomalies", "/creators/top")
        ):
            found.append((url.split(":8080", 1)[1], lines[i + 1].encode("utf-8")))
    return found


def test_readme_examples_are_the_exact_bytes_served(client: TestClient) -> None:
    examples = readme_examples()
    assert len(examples) >= 5
    for target, expected in examples:
        assert client.get(target).content == expected, target


# --- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/campaigns/cmp-999/performance",
        "/campaigns/cmp-999/anomalies",
        "/creators/top?campaign_id=cmp-999",
    ],
)
def test_unknown_campaign_is_404_on_every_endpoint(client: TestClient, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 404
    assert response.json() == {"detail": "campaign 'cmp-999' not found"}


def test_orphan_metrics_do_not_make_a_campaign(client: TestClient) -> None:
    assert client.get("/campaigns/cmp-404/performance").status_code == 404


@pytest.mark.parametrize(
    "limit", ["0", "101", "-1", "abc", "1.5", "", "1e2", "99999999999999999999999", "9" * 5000, "²", "007x"]
)
def test_limit_outside_1_to_100_or_not_an_integer_is_422(client: TestClient, limit: str) -> None:
    response = client.get(f"/creators/top?campaign_id=cmp-001&limit={limit}")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "limit"]


@pytest.mark.parametrize(("limit", "count"), [("1", 1), ("100", 3), ("3", 3)])
def test_limit_bounds_are_inclusive(client: TestClient, limit: str, count: int) -> None:
    body = body_of(client.get(f"/creators/top?campaign_id=cmp-001&limit={limit}"), TopCreators)
    assert (body["limit"], len(body["creators"])) == (int(limit), count)


@pytest.mark.parametrize(
    ("query", "creator_count"),
    [
        ("campaign_id=cmp-001&limit=1&limit=2", 2),  # the last repeat wins, as in starlette
        ("campaign_id=cmp-00%31&limit=%32", 2),  # percent-encoded
        ("limit=1&campaign_id=cmp-001&extra=x", 1),
        ("campaign_id=cmp-001&limit=+2", 2),  # '+' is a space; pydantic strips it
    ],
)
def test_query_strings_are_read_like_starlette_reads_them(client: TestClient, query: str, creator_count: int) -> None:
    body = body_of(client.get(f"/creators/top?{query}"), TopCreators)
    assert (body["campaign_id"], len(body["creators"])) == ("cmp-001", creator_count)


@pytest.mark.parametrize(
    ("url", "loc"),
    [
        ("/creators/top?campaign_id=", ["query", "campaign_id"]),
        ("/campaigns//performance", ["path", "campaign_id"]),
        ("/campaigns//anomalies", ["path", "campaign_id"]),
    ],
)
def test_an_empty_campaign_id_is_422_naming_the_parameter(client: TestClient, url: str, loc: list[str]) -> None:
    response = client.get(url)
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == [loc]


@pytest.mark.parametrize(
    "url",
    [
        "/campaigns/cmp-001/performance?format=csv",
        "/campaigns/cmp-001/anomalies?format=csv",
        "/creators/top?campaign_id=cmp-001&format=xml",
        "/campaigns?format=xml",
        "/campaigns/cmp-001/daily?format=xml",
    ],
)
def test_a_format_the_route_does_not_offer_is_the_same_422_everywhere(client: TestClient, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert (error["loc"], error["type"]) == (["query", "format"], "literal_error")


@pytest.mark.parametrize("url", ["/campaigns/cmp-001/performance", "/campaigns/cmp-002/anomalies"])
def test_format_json_is_the_usual_body(client: TestClient, url: str) -> None:
    assert client.get(url + "?format=json").content == client.get(url).content


@pytest.mark.parametrize(
    ("canonical", "declared"),
    [
        # the first of each pair is read by the route's canonical reader, the second (same
        # meaning, another spelling) goes through FastAPI's declared parameters
        ("/campaigns/cmp-001/performance", "/campaigns/cmp-001/performance?format=json"),
        ("/campaigns/cmp-002/anomalies", "/campaigns/cmp-002/anomalies?unused=1"),
        ("/creators/top?campaign_id=cmp-001&limit=2", "/creators/top?campaign_id=cmp-001&limit=+2"),
        ("/creators/top?campaign_id=cmp-004", "/creators/top?campaign_id=cmp-004&limit=10&unused="),
        (
            "/creators/top?campaign_id=cmp-004&limit=3&format=csv",
            "/creators/top?campaign_id=cmp-004&limit=03.0&format=csv",
        ),
        ("/campaigns/cmp-404/performance", "/campaigns/cmp-404/performance?format=json"),
    ],
)
def test_canonical_and_declared_requests_get_the_same_answer(client: TestClient, canonical: str, declared: str) -> None:
    fast, slow = client.get(canonical), client.get(declared)
    assert (fast.status_code, fast.headers["content-type"], fast.content) == (
        slow.status_code,
        slow.headers["content-type"],
        slow.content,
    )


@pytest.mark.parametrize(
    ("query", "read"),
    [
        ("campaign_id=cmp-001", True),
        ("campaign_id=cmp-001&limit=100&format=csv", True),
        ("campaign_id=cmp-001&limit=+2", False),
        ("campaign_id=cmp-001&limit=101", False),
        ("campaign_id=cmp-001&limit=0100", False),
        ("campaign_id=&limit=2", False),
        ("limit=2", False),
        ("campaign_id=cmp-001&format=xml", False),
        ("campaign_id=cmp-001&unused=1", False),
    ],
)
def test_the_top_reader_takes_only_canonical_queries(client: TestClient, query: str, read: bool) -> None:
    scope = {"type": "http", "query_string": query.encode(), "path_params": {}, "app": client.app}
    assert (top_query(1, 100, 10)(Request(scope)) is not None) is read


def test_campaign_id_is_required(client: TestClient) -> None:
    response = client.get("/creators/top?limit=2")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "campaign_id"]


HOSTILE_IDS = [
    "../../etc/passwd",
    "cmp-001' OR '1'='1",
    'cmp-001"; drop table campaigns; --',
    "<script>alert(1)</script>",
    "ü漢字🙂\u202e",
    " cmp-001",
    "CMP-001",
    "cmp-001/performance",
    "x" * 5000,
]


def shown(campaign_id: str) -> str:
    return campaign_id if len(campaign_id) <= 200 else campaign_id[:200] + "..."


@pytest.mark.parametrize("campaign_id", HOSTILE_IDS, ids=range(len(HOSTILE_IDS)))
@pytest.mark.parametrize("endpoint", ["performance", "anomalies", "top"])
def test_hostile_ids_are_just_unknown_campaigns(client: TestClient, campaign_id: str, endpoint: str) -> None:
    if endpoint == "top":
        response = client.get("/creators/top", params={"campaign_id": campaign_id})
    else:
        response = client.get(f"/campaigns/{quote(campaign_id, safe='')}/{endpoint}")
    assert response.status_code == 404
    assert response.json() == {"detail": f"campaign {shown(campaign_id)!r} not found"}


# Raw request targets sent to a real uvicorn server, byte for byte (TestClient would decode
# escapes twice and a client library would fold the dot segments), with the id the server sees.
RAW_TARGETS = [
    ("/campaigns/../performance", ".."),
    ("/campaigns/./anomalies", "."),
    ("/campaigns/%2e%2e%2fsecret/performance", "../secret"),
    ("/campaigns/%252e%252e/performance", "%2e%2e"),
    ("/campaigns/cmp-001%00/performance", "cmp-001\x00"),
    ("/campaigns/%ff%fe/anomalies", "\ufffd\ufffd"),
    ("/campaigns/%C3%BC/performance", "ü"),
    ("/creators/top?campaign_id=%ff&limit=1", "\ufffd"),
    ("/creators/top?campaign_id=cmp-001%27--&limit=1", "cmp-001'--"),
    ("/campaigns/" + "%41" * 3000 + "/anomalies", "A" * 3000),
]


@pytest.fixture(scope="module")
def live_url(client: TestClient) -> Iterator[str]:
    with serve(client.app) as url:
        yield url


@pytest.mark.parametrize(("target", "campaign_id"), RAW_TARGETS, ids=range(len(RAW_TARGETS)))
def test_raw_hostile_requests_on_a_real_server(live_url: str, target: str, campaign_id: str) -> None:
    status, body = raw_get(live_url, target)
    decoded = campaign_id.encode().decode("unicode_escape").encode("latin-1").decode("utf-8")
    assert (status, json.loads(body)) == (404, {"detail": f"campaign {shown(decoded)!r} not found"})


@pytest.mark.parametrize(
    "target",
    [
        "/creators/top?campaign_id=cmp-001&limit=%ff",
        "/creators/top?campaign_id=cmp-001&limit=1&limit=abc",
        "/creators/top?campaign_id",
        "/creators/top?%zz=1",
        "/campaigns//performance",
        "/campaigns/%/performance",
        "/" + "a" * 10000,
    ],
)
def test_malformed_requests_never_answer_500(live_url: str, target: str) -> None:
    status, _ = raw_get(live_url, target)
    assert 400 <= status < 500


def test_unknown_routes_and_methods(client: TestClient) -> None:
    assert client.get("/campaigns/cmp-001").status_code == 404
    assert client.get("/nope").json() == {"detail": "Not Found"}
    assert client.post("/campaigns/cmp-001/performance").status_code == 405


# --- health, liveness, schema --------------------------------------------------------------


def test_livez(client: TestClient) -> None:
    response = client.get("/livez")
    assert (response.status_code, response.json()) == (200, {"status": "alive"})


def test_health_in_fixture_mode(client: TestClient, visible_build: BuildResult) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "benchmark_service": "fixture",
        "dataset": "visible",
        "build_id": visible_build.build.build_id,  # the build the session's fixture published
        "newest_build_refused": None,
    }
    assert client.get("/campaigns/cmp-001/performance").headers["x-build-id"] == visible_build.build.build_id


def test_openapi_documents_the_response_models(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]

    def ok_schema(path: str) -> str:
        return paths[path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]

    assert ok_schema("/campaigns/{campaign_id}/performance").endswith("/CampaignPerformance")
    assert ok_schema("/creators/top").endswith("/TopCreators")
    assert ok_schema("/campaigns/{campaign_id}/anomalies").endswith("/CampaignAnomalies")
    assert "502" in paths["/campaigns/{campaign_id}/anomalies"]["get"]["responses"]
    for path in ("/campaigns/{campaign_id}/performance", "/campaigns/{campaign_id}/anomalies"):
        assert [(p["name"], p["in"], p["required"]) for p in paths[path]["get"]["parameters"]] == [
            ("campaign_id", "path", True),
            ("format", "query", False),
        ]
    assert [(p["name"], p["required"]) for p in paths["/creators/top"]["get"]["parameters"]] == [
        ("campaign_id", True),
        ("limit", False),
        ("format", False),
    ]
    assert "422" in paths["/creators/top"]["get"]["responses"]  # limit and campaign_id are validated
    top = {p["name"]: p for p in paths["/creators/top"]["get"]["parameters"]}
    assert top["limit"]["schema"] | {"minimum": 1, "maximum": 100, "default": 10} == top["limit"]["schema"]
    assert top["format"]["schema"]["enum"] == ["json", "csv"]
    assert top["campaign_id"]["schema"]["minLength"] == 1
    assert "text/csv" in paths["/creators/top"]["get"]["responses"]["200"]["content"]


def test_docs_group_the_routes_by_tag(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    tags = {path: item["get"]["tags"] for path, item in paths.items()}
    assert tags == {
        "/livez": ["operations"],
        "/health": ["operations"],
        "/campaigns/{campaign_id}/performance": ["rollups"],
        "/creators/top": ["rollups"],
        "/campaigns/{campaign_id}/anomalies": ["rollups"],
        "/campaigns": ["explorer"],
        "/campaigns/{campaign_id}/daily": ["explorer"],
    }
