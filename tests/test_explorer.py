"""The explorer's API: /campaigns, /campaigns/{id}/daily, CSV export, the page's files.

Exact payloads on the visible sample, cross-checked against the contract endpoints where the
explorer repeats their numbers (a list entry is the performance body; a day's issues are the
anomalies' alerts). A second tiny dataset carries the names CSV must quote, and ties.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.requests import Request

from campaign_analytics.build.pipeline import build
from campaign_analytics.published.manifest import find_published
from campaign_analytics.serve.app import create_app
from campaign_analytics.serve.catalog import CampaignCatalog
from campaign_analytics.serve.routes.explorer import campaigns_query
from campaign_analytics.serve.schemas import CampaignDaily, CampaignDailyChecked, CampaignList, CampaignPerformance
from campaign_analytics.serve.store import RollupStore
from campaign_analytics.settings import Settings
from tests.support.api import body_of
from tests.support.datasets import VISIBLE, write_dataset
from tests.support.stub_benchmarks import StubBenchmarks, closed_port_url

VISIBLE_IDS = ["cmp-001", "cmp-002", "cmp-003", "cmp-004", "cmp-005", "cmp-006"]
CSV_TYPE = "text/csv; charset=utf-8"


# Names and ids that CSV has to quote, two campaigns tied on every total, one with no name.
ODD_CAMPAIGNS = [
    ("c-b", "Tied, second"),
    ("c-a", 'Tied "first"'),
    ("c-c", "Line\nbreak"),
    ('c,"4"', None),
    ("c-e", "  spaced ünïcode\r\nand CRLF  "),
]
ODD_CREATORS = [("k-1", 'Ann "the, creator"'), ("k-2", "Bo\nLines")]


@pytest.fixture(scope="module")
def odd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    folder = tmp_path_factory.mktemp("odd")
    rows = [
        ("2026-02-01", "c-a", "k-1", 1000, 50, 5, "100.005", "300"),
        ("2026-02-01", "c-b", "k-1", 1000, 50, 5, "100.005", "300"),
        ("2026-02-01", "c-c", "k-2", 10, 1, 0, "1", ""),
        ("2026-02-01", 'c,"4"', "k-1", 500, 5, 1, "2.5", "1"),
        ("2026-02-01", 'c,"4"', "k-2", 500, 50, 1, "2.5", "1"),
    ]
    data = write_dataset(folder / "data", campaigns=ODD_CAMPAIGNS, creators=ODD_CREATORS, metrics=rows)
    result = build(data, folder / "rollups")
    settings = Settings.for_data(data, rollup_dir=result.build.path.parents[1])
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def ids(body: dict[str, Any]) -> list[str]:
    return [c["campaign_id"] for c in body["campaigns"]]


def read_csv(response: Any) -> list[list[str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == CSV_TYPE
    assert response.headers["x-build-id"]
    return list(csv.reader(io.StringIO(response.content.decode("utf-8"), newline="")))


# --- /campaigns -----------------------------------------------------------------------------------


def test_campaigns_lists_every_campaign_as_its_performance_body(client: TestClient) -> None:
    response = client.get("/campaigns")
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-build-id"] == client.get("/campaigns/cmp-001/performance").headers["x-build-id"]
    body = body_of(response, CampaignList)
    assert list(body) == ["total", "limit", "offset", "campaigns"]
    assert (body["total"], body["limit"], body["offset"]) == (6, 50, 0)
    assert ids(body) == VISIBLE_IDS  # cmp-006 has no metrics, and is still a campaign
    for entry in body["campaigns"]:
        performance = client.get(f"/campaigns/{entry['campaign_id']}/performance").json()
        assert entry == performance
        assert list(entry) == list(performance) and list(entry["totals"]) == list(performance["totals"])
    # byte for byte: a page's entries are the performance bodies the API serves
    bodies = b",".join(client.get(f"/campaigns/{c}/performance").content for c in VISIBLE_IDS[::-1])
    page = client.get("/campaigns?sort=-campaign_id&limit=500").content
    assert page == b'{"total":6,"limit":500,"offset":0,"campaigns":[' + bodies + b"]}"


@pytest.mark.parametrize("positions", [[], [0], [5, 0, 3], [1, 1, 2], list(range(6))[::-1]])
def test_a_page_of_bodies_is_the_same_read_from_the_file_or_encoded(
    visible_rollup_dir: Path, positions: list[int]
) -> None:
    """Short pages are read from the serving file, long ones encoded with polars: byte for byte
    the performance route's bodies either way."""
    published = find_published(visible_rollup_dir)
    assert published is not None
    store = RollupStore.verified(published)
    expected = b",".join(store.performance(VISIBLE_IDS[p]) for p in positions)
    assert store.performance_bodies(positions) == expected  # from the file (6 <= FROM_FILE_UP_TO)
    assert store.performance_bodies(positions, from_file_up_to=0) == expected  # encoded


def test_search_spring_is_exactly_cmp_001(client: TestClient) -> None:
    assert body_of(client.get("/campaigns?q=spring")) == {
        "total": 1,
        "limit": 50,
        "offset": 0,
        "campaigns": [
            {
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
        ],
    }


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("SPRING", ["cmp-001"]),
        ("sPrInG lAu", ["cmp-001"]),
        ("CMP-005", ["cmp-005"]),  # ids match too
        ("cmp-00", VISIBLE_IDS),
        ("q4, p", ["cmp-006"]),
        ("o", ["cmp-002", "cmp-003", "cmp-004", "cmp-006"]),
        (".", []),  # literal text, not a pattern
        ("(", []),
        ("zzz", []),
        ("001spring", []),  # never across the end of the id and the start of the name
        ("001\x00spring", []),
        ("\x00", []),
        ("", VISIBLE_IDS),  # empty: no filter
    ],
)
def test_search_is_a_case_insensitive_substring_of_name_or_id(client: TestClient, q: str, expected: list[str]) -> None:
    body = body_of(client.get("/campaigns", params={"q": q}), CampaignList)
    assert (ids(body), body["total"]) == (expected, len(expected))


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("-roas", ["cmp-001", "cmp-003", "cmp-004", "cmp-002", "cmp-005", "cmp-006"]),
        ("roas", ["cmp-006", "cmp-005", "cmp-002", "cmp-004", "cmp-003", "cmp-001"]),
        ("-total_spend", ["cmp-001", "cmp-002", "cmp-003", "cmp-004", "cmp-005", "cmp-006"]),
        ("ctr", ["cmp-006", "cmp-002", "cmp-003", "cmp-001", "cmp-005", "cmp-004"]),
        ("campaign_name", ["cmp-004", "cmp-006", "cmp-003", "cmp-002", "cmp-005", "cmp-001"]),
        ("-campaign_id", list(reversed(VISIBLE_IDS))),
        ("campaign_id", VISIBLE_IDS),
    ],
)
def test_sort_by_any_total_rate_or_name(client: TestClient, sort: str, expected: list[str]) -> None:
    assert ids(body_of(client.get("/campaigns", params={"sort": sort}))) == expected


@pytest.mark.parametrize("sort", ["total_spend", "-total_spend", "-ctr", "roas"])
def test_ties_are_broken_by_campaign_id_in_both_directions(odd: TestClient, sort: str) -> None:
    order = ids(body_of(odd.get("/campaigns", params={"sort": sort, "q": "tied"})))
    assert order == ["c-a", "c-b"]


def test_campaigns_without_a_name_sort_last(odd: TestClient) -> None:
    assert ids(body_of(odd.get("/campaigns?sort=campaign_name")))[-1] == 'c,"4"'
    assert ids(body_of(odd.get("/campaigns?sort=-campaign_name")))[-1] == 'c,"4"'


@pytest.mark.parametrize(
    ("query", "total", "expected"),
    [
        ("limit=2", 6, ["cmp-001", "cmp-002"]),
        ("limit=2&offset=2", 6, ["cmp-003", "cmp-004"]),
        ("limit=4&offset=4", 6, ["cmp-005", "cmp-006"]),
        ("offset=6", 6, []),
        ("offset=1000000000000000000000", 6, []),
        ("limit=1&offset=1&sort=-roas", 6, ["cmp-003"]),
        ("q=o&limit=2&offset=2", 4, ["cmp-004", "cmp-006"]),
        ("limit=500", 6, VISIBLE_IDS),
        ("limit=1", 6, ["cmp-001"]),
    ],
)
def test_pages_count_every_match(client: TestClient, query: str, total: int, expected: list[str]) -> None:
    body = body_of(client.get("/campaigns?" + query), CampaignList)
    assert (body["total"], ids(body)) == (total, expected)
    params = dict(p.split("=") for p in query.split("&"))
    assert (body["limit"], body["offset"]) == (int(params.get("limit", 50)), int(params.get("offset", 0)))


def test_pages_in_sequence_cover_every_campaign_once(client: TestClient) -> None:
    seen = []
    for offset in range(0, 6, 4):
        seen += ids(body_of(client.get(f"/campaigns?sort=-cvr&limit=4&offset={offset}")))
    assert seen == ids(body_of(client.get("/campaigns?sort=-cvr")))


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("sort=bogus", "sort"),
        ("sort=roas-", "sort"),
        ("sort=--roas", "sort"),
        ("sort=ROAS", "sort"),
        ("sort=", "sort"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=abc", "limit"),
        ("limit=1.5", "limit"),
        ("offset=-1", "offset"),
        ("offset=x", "offset"),
        ("format=xml", "format"),
        ("format=CSV", "format"),
    ],
)
def test_bad_campaigns_parameters_are_fastapis_422(client: TestClient, query: str, parameter: str) -> None:
    response = client.get("/campaigns?" + query)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert [error["loc"] for error in detail] == [["query", parameter]]
    assert {"type", "msg"} <= set(detail[0])


def test_every_bad_parameter_is_reported_at_once(client: TestClient) -> None:
    response = client.get("/campaigns?sort=x&limit=0&offset=-1&format=xml")
    assert response.status_code == 422
    assert sorted(e["loc"][1] for e in response.json()["detail"]) == ["format", "limit", "offset", "sort"]


# --- /campaigns/{id}/daily ------------------------------------------------------------------------

CMP_002_DAYS = [
    {
        "metric_date": "2026-01-01",
        "total_impressions": 1500,
        "total_clicks": 60,
        "total_conversions": 6,
        "total_spend": 160.0,
        "total_revenue": 480.0,
        "ctr": 0.04,
        "roas": 3.0,
    },
    {
        "metric_date": "2026-01-02",
        "total_impressions": 1200,
        "total_clicks": 48,
        "total_conversions": 5,
        "total_spend": 120.0,
        "total_revenue": 400.0,
        "ctr": 0.04,
        "roas": 3.3333,
    },
    {
        "metric_date": "2026-01-03",
        "total_impressions": 1900,
        "total_clicks": 50,
        "total_conversions": 3,
        "total_spend": 340.0,
        "total_revenue": 750.0,
        "ctr": 0.0263,
        "roas": 2.2059,
    },
    {
        "metric_date": "2026-01-04",
        "total_impressions": 800,
        "total_clicks": 32,
        "total_conversions": 3,
        "total_spend": 90.0,
        "total_revenue": 270.0,
        "ctr": 0.04,
        "roas": 3.0,
    },
]


def test_daily_series_of_cmp_002(client: TestClient) -> None:
    response = client.get("/campaigns/cmp-002/daily")
    assert response.headers["content-type"] == "application/json"
    body = body_of(response, CampaignDaily)
    assert body == {"campaign_id": "cmp-002", "days": CMP_002_DAYS}
    assert list(body) == ["campaign_id", "days"]
    assert [list(day) for day in body["days"]] == [list(CMP_002_DAYS[0])] * 4
    assert '"total_spend":160.0,' in response.text


def test_daily_money_is_rounded_half_up_from_the_exact_micros(client: TestClient) -> None:
    days = body_of(client.get("/campaigns/cmp-003/daily"))["days"]
    assert [(d["metric_date"], d["total_spend"], d["total_revenue"], d["ctr"], d["roas"]) for d in days] == [
        ("2026-01-01", 150.1, 400.25, 0.0333, 2.6666),  # 100.10 + 50.00; 250.25 + 150.00
        ("2026-01-02", 0.0, 0.0, 0.03, 0.0),  # zero spend, null revenue: 0.0, not an error
        ("2026-01-03", 105.0, 320.0, 0.0456, 3.0478),  # 99.995 + 5.00 = 104.995 -> 105.0, not 104.99
    ]


def test_daily_money_adds_up_to_the_performance_totals(client: TestClient) -> None:
    for campaign_id in VISIBLE_IDS:
        days = body_of(client.get(f"/campaigns/{campaign_id}/daily"))["days"]
        totals = client.get(f"/campaigns/{campaign_id}/performance").json()["totals"]
        for key in ("total_impressions", "total_clicks", "total_conversions"):
            assert sum(d[key] for d in days) == totals[key]


def test_a_campaign_without_metrics_has_no_days(client: TestClient) -> None:
    assert body_of(client.get("/campaigns/cmp-006/daily")) == {"campaign_id": "cmp-006", "days": []}
    assert body_of(client.get("/campaigns/cmp-006/daily?with_thresholds=true")) == {
        "campaign_id": "cmp-006",
        "thresholds": {"min_ctr": 0.03, "min_roas": 2.0},
        "days": [],
    }


def test_daily_with_thresholds_of_cmp_002(client: TestClient) -> None:
    body = body_of(client.get("/campaigns/cmp-002/daily?with_thresholds=true"), CampaignDailyChecked)
    assert list(body) == ["campaign_id", "thresholds", "days"]
    assert body["thresholds"] == {"min_ctr": 0.03, "min_roas": 2.5}
    assert body["days"] == [
        {**CMP_002_DAYS[0], "issues": []},
        {**CMP_002_DAYS[1], "issues": []},
        {**CMP_002_DAYS[2], "issues": ["ctr_below_threshold", "roas_below_threshold"]},
        {**CMP_002_DAYS[3], "issues": []},
    ]


def test_daily_with_thresholds_of_cmp_005(client: TestClient) -> None:
    body = body_of(client.get("/campaigns/cmp-005/daily?with_thresholds=1"), CampaignDailyChecked)
    assert body["thresholds"] == {"min_ctr": 0.03, "min_roas": 1.0}
    assert [(d["metric_date"], d["roas"], d["issues"]) for d in body["days"]] == [
        ("2026-01-05", 1.5, []),
        ("2026-01-06", 0.0, ["roas_below_threshold", "spend_without_conversions"]),
        ("2026-01-07", 1.0, []),  # exactly at min_roas is not below
    ]


@pytest.mark.parametrize("campaign_id", VISIBLE_IDS)
def test_every_body_is_compact_json(client: TestClient, campaign_id: str) -> None:
    for url in (
        f"/campaigns/{campaign_id}/daily?with_thresholds=true",
        f"/campaigns/{campaign_id}/daily",
        f"/campaigns/{campaign_id}/anomalies",
        "/campaigns",
    ):
        body = client.get(url).content
        assert body == json.dumps(json.loads(body), separators=(",", ":"), ensure_ascii=False).encode(), url


def test_issues_are_written_as_in_the_anomalies_body(client: TestClient) -> None:
    daily = client.get("/campaigns/cmp-005/daily?with_thresholds=true").content
    assert b'"issues":["roas_below_threshold","spend_without_conversions"]' in daily
    assert b'"issues":[]' in daily


@pytest.mark.parametrize("campaign_id", VISIBLE_IDS)
def test_days_with_issues_are_the_anomalies_alerts(client: TestClient, campaign_id: str) -> None:
    checked = body_of(client.get(f"/campaigns/{campaign_id}/daily?with_thresholds=true"))
    anomalies = client.get(f"/campaigns/{campaign_id}/anomalies").json()
    assert checked["thresholds"] == anomalies["thresholds"]
    flagged = [{k: d[k] for k in ("metric_date", "issues", "ctr", "roas")} for d in checked["days"] if d["issues"]]
    assert flagged == anomalies["alerts"]


@pytest.mark.parametrize(
    "url",
    [
        "/campaigns/cmp-999/daily",
        "/campaigns/cmp-999/daily?with_thresholds=true",
        "/campaigns/cmp-999/daily?format=csv",
    ],
)
def test_unknown_campaign_is_404(client: TestClient, url: str) -> None:
    response = client.get(url)
    assert (response.status_code, response.json()) == (404, {"detail": "campaign 'cmp-999' not found"})


@pytest.mark.parametrize(
    ("path", "campaign_id"),
    [
        ("/campaigns/a%2Fb/daily", "a/b"),
        ("/campaigns/cmp-001%00/daily", "cmp-001\x00"),
        ("/campaigns/%20/daily", " "),
        ("/campaigns/" + "x" * 3000 + "/daily", "x" * 200 + "..."),
    ],
)
def test_odd_ids_are_unknown_campaigns(client: TestClient, path: str, campaign_id: str) -> None:
    response = client.get(path)
    assert (response.status_code, response.json()) == (404, {"detail": f"campaign {campaign_id!r} not found"})


@pytest.mark.parametrize(
    ("query", "parameter"), [("with_thresholds=maybe", "with_thresholds"), ("format=xml", "format")]
)
def test_bad_daily_parameters_are_422(client: TestClient, query: str, parameter: str) -> None:
    response = client.get("/campaigns/cmp-002/daily?" + query)
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == [["query", parameter]]


@pytest.fixture(scope="module")
def stub() -> Iterator[StubBenchmarks]:
    with StubBenchmarks(json.loads((VISIBLE / "benchmarks.json").read_text())) as server:
        yield server


def http_app(visible_rollup_dir: Path, base: str) -> TestClient:
    settings = Settings.for_data(
        VISIBLE, rollup_dir=visible_rollup_dir, benchmark_api_base=base, benchmark_timeout_seconds=0.5
    )
    return TestClient(create_app(settings))


def test_with_thresholds_calls_the_benchmark_service_once_and_unknown_ids_never(
    stub: StubBenchmarks, visible_rollup_dir: Path
) -> None:
    with http_app(visible_rollup_dir, stub.url) as http:
        before = len(stub.requests)
        assert body_of(http.get("/campaigns/cmp-005/daily?with_thresholds=true"))["thresholds"]["min_roas"] == 1.0
        assert stub.requests[before:] == ["/benchmarks/cmp-005"]
        assert http.get("/campaigns/cmp-999/daily?with_thresholds=true").status_code == 404
        assert body_of(http.get("/campaigns/cmp-005/daily"))["days"]  # no thresholds asked: no call
        assert stub.requests[before:] == ["/benchmarks/cmp-005"]


def test_benchmark_service_down_is_502_only_with_thresholds(visible_rollup_dir: Path) -> None:
    with http_app(visible_rollup_dir, closed_port_url()) as http:
        response = http.get("/campaigns/cmp-002/daily?with_thresholds=true")
        assert response.status_code == 502
        assert "benchmark" in response.json()["detail"].lower() or "127.0.0.1" in response.json()["detail"]
        assert http.get("/campaigns/cmp-002/daily?with_thresholds=true&format=csv").status_code == 502
        assert body_of(http.get("/campaigns/cmp-002/daily"))["days"] == CMP_002_DAYS
        assert http.get("/campaigns?q=spring").status_code == 200


def test_benchmark_errors_keep_their_detail(stub: StubBenchmarks, visible_rollup_dir: Path) -> None:
    with http_app(visible_rollup_dir, stub.url) as http:
        try:
            stub.behave(body=b'{"min_ctr": 0.03}')
            response = http.get("/campaigns/cmp-002/daily?with_thresholds=true")
        finally:
            stub.behave()
    assert response.status_code == 502
    assert "min_roas" in response.json()["detail"]


# --- CSV ------------------------------------------------------------------------------------------


def test_campaigns_csv_has_the_json_values(client: TestClient) -> None:
    response = client.get("/campaigns?format=csv&sort=-roas")
    rows = read_csv(response)
    header = ["campaign_id", "campaign_name", "total_impressions", "total_clicks", "total_conversions"]
    assert rows[0] == [*header, "total_spend", "total_revenue", "ctr", "cvr", "roas"]
    expected = [
        [c["campaign_id"], c["campaign_name"], *(json.dumps(v) for v in c["totals"].values())]
        for c in client.get("/campaigns?sort=-roas").json()["campaigns"]
    ]
    assert rows[1:] == expected
    assert rows[1] == ["cmp-001", "Spring Launch", "5000", "212", "21", "890.0", "3230.0", "0.0424", "0.0991", "3.6292"]
    assert response.headers["x-total-count"] == "6"
    assert response.headers["content-disposition"] == 'attachment; filename="campaigns.csv"'
    assert response.text.endswith('cmp-006,"Dormant Q4, paused",0,0,0,0.0,0.0,0.0,0.0,0.0\r\n')


def test_campaigns_csv_is_the_same_page(client: TestClient) -> None:
    rows = read_csv(client.get("/campaigns?format=csv&q=o&limit=2&offset=1"))
    assert [r[0] for r in rows[1:]] == ["cmp-003", "cmp-004"]


def test_names_with_commas_quotes_and_line_breaks_round_trip(odd: TestClient) -> None:
    rows = read_csv(odd.get("/campaigns?format=csv"))
    names = {row[0]: row[1] for row in rows[1:]}
    assert names == {cid: name or "" for cid, name in ODD_CAMPAIGNS}
    raw = odd.get("/campaigns?format=csv").text
    assert '"Tied ""first"""' in raw and '"Line\nbreak"' in raw and '"c,""4"""' in raw


def test_creators_csv_round_trips_names_and_ids(odd: TestClient) -> None:
    response = odd.get("/creators/top", params={"campaign_id": 'c,"4"', "format": "csv"})
    rows = read_csv(response)
    assert [(r[0], r[1], r[2]) for r in rows[1:]] == [
        ('c,"4"', "k-2", "Bo\nLines"),
        ('c,"4"', "k-1", ODD_CREATORS[0][1]),
    ]
    assert response.headers["content-disposition"] == 'attachment; filename="c_4_-top-creators.csv"'


def test_daily_csv_of_an_odd_id(odd: TestClient) -> None:
    rows = read_csv(odd.get("/campaigns/c%2C%224%22/daily?format=csv"))
    assert rows == [
        list(CMP_002_DAYS[0]),
        ["2026-02-01", "1000", "55", "2", "5.0", "2.0", "0.055", "0.4"],
    ]


def test_tied_campaigns_round_half_up_on_the_exact_cents(odd: TestClient) -> None:
    day = body_of(odd.get("/campaigns/c-a/daily"))["days"][0]
    assert (day["total_spend"], day["total_revenue"], day["roas"]) == (100.01, 300.0, 2.9999)


def test_top_creators_csv(client: TestClient) -> None:
    response = client.get("/creators/top?campaign_id=cmp-001&limit=2&format=csv")
    assert response.text == (
        "campaign_id,creator_id,creator_name,total_impressions,total_clicks,total_conversions,total_spend,ctr\r\n"
        "cmp-001,crt-001,Avery,2200,110,12,420.0,0.05\r\n"
        "cmp-001,crt-002,Blake,2000,70,6,350.0,0.035\r\n"
    )
    assert response.headers["content-type"] == CSV_TYPE


def test_top_creators_csv_rows_are_the_json_creators(client: TestClient) -> None:
    for campaign_id in VISIBLE_IDS:
        for limit in (1, 3, 100):
            query = f"/creators/top?campaign_id={campaign_id}&limit={limit}"
            creators = client.get(query).json()["creators"]
            rows = read_csv(client.get(query + "&format=csv"))
            assert rows[1:] == [["" if v is None else str(v) for v in c.values()] for c in creators]


def test_top_creators_format_json_is_the_usual_body(client: TestClient) -> None:
    plain = client.get("/creators/top?campaign_id=cmp-004&limit=2")
    explicit = client.get("/creators/top?campaign_id=cmp-004&limit=2&format=json")
    assert explicit.status_code == 200
    assert explicit.content == plain.content
    assert explicit.headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    ("query", "status", "locs"),
    [
        ("campaign_id=cmp-001&format=xml", 422, [["query", "format"]]),
        ("campaign_id=cmp-001&format=", 422, [["query", "format"]]),
        ("format=csv", 422, [["query", "campaign_id"]]),
        ("campaign_id=cmp-001&limit=101&format=csv", 422, [["query", "limit"]]),
        ("campaign_id=cmp-999&format=csv", 404, None),
    ],
)
def test_top_creators_export_errors(client: TestClient, query: str, status: int, locs: Any) -> None:
    response = client.get("/creators/top?" + query)
    assert response.status_code == status
    if locs is not None:
        assert [e["loc"] for e in response.json()["detail"]] == locs


def test_daily_csv_with_thresholds(client: TestClient) -> None:
    response = client.get("/campaigns/cmp-005/daily?with_thresholds=true&format=csv")
    assert response.text == (
        "metric_date,total_impressions,total_clicks,total_conversions,total_spend,total_revenue,ctr,roas,"
        "min_ctr,min_roas,issues\r\n"
        "2026-01-05,1000,40,2,50.0,75.0,0.04,1.5,0.03,1.0,\r\n"
        "2026-01-06,400,20,0,50.0,0.0,0.05,0.0,0.03,1.0,roas_below_threshold;spend_without_conversions\r\n"
        "2026-01-07,600,30,1,40.0,40.0,0.05,1.0,0.03,1.0,\r\n"
    )
    assert response.headers["content-disposition"] == 'attachment; filename="cmp-005-daily.csv"'


def test_daily_csv_has_the_json_values(client: TestClient) -> None:
    rows = read_csv(client.get("/campaigns/cmp-002/daily?format=csv"))
    assert rows[0] == list(CMP_002_DAYS[0])
    assert rows[1:] == [[d["metric_date"], *(json.dumps(v) for v in list(d.values())[1:])] for d in CMP_002_DAYS]


# --- a newer build replaces the store -------------------------------------------------------------


def test_a_replaced_store_is_prepared_afresh(client: TestClient, odd: TestClient) -> None:
    service = client.app.state.service  # type: ignore[attr-defined]
    visible_store = service.store
    odd_store = odd.app.state.service.store  # type: ignore[attr-defined]
    try:
        service.store = odd_store
        assert ids(body_of(client.get("/campaigns"))) == sorted(cid for cid, _ in ODD_CAMPAIGNS)
        assert body_of(client.get("/campaigns/c-a/daily"))["days"][0]["metric_date"] == "2026-02-01"
    finally:
        service.store = visible_store
    assert ids(body_of(client.get("/campaigns"))) == VISIBLE_IDS


def test_each_loaded_build_comes_with_its_own_catalog(visible_rollup_dir: Path) -> None:
    published = find_published(visible_rollup_dir)
    assert published is not None
    first, second = RollupStore.verified(published), RollupStore.verified(published)
    assert first.catalog is not second.catalog
    assert first.catalog.campaigns["campaign_id"].to_list() == VISIBLE_IDS  # made on first use, in the store's order


# --- the page ----------------------------------------------------------------------------------


def test_the_page_and_its_assets(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text)
    assert sorted(assets) == ["/static/explorer.css", "/static/explorer.js"]
    types = {"/static/explorer.css": "text/css; charset=utf-8", "/static/explorer.js": "text/javascript; charset=utf-8"}
    for asset in assets:
        response = client.get(asset)
        assert (response.status_code, response.headers["content-type"]) == (200, types[asset])
        again = client.get(asset, headers={"If-None-Match": response.headers["etag"]})
        assert (again.status_code, again.content) == (304, b"")


def test_the_page_loads_nothing_from_elsewhere(client: TestClient) -> None:
    for path in ("/", "/static/explorer.css", "/static/explorer.js"):
        text = client.get(path).text
        # the SVG namespace is a name, not a request
        assert re.findall(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text.replace("http://www.w3.org/2000/svg", "")) == []
        assert "@import" not in text


def test_every_file_of_the_page_is_revalidated_under_its_policy(client: TestClient) -> None:
    for path in ("/", "/static/index.html", "/static/explorer.js", "/static/explorer.css"):
        headers = client.get(path).headers
        assert headers["cache-control"] == "no-cache", path
        assert headers["content-security-policy"].startswith("default-src 'self'"), path


def test_unknown_assets_are_404(client: TestClient) -> None:
    assert client.get("/static/nope.js").status_code == 404
    assert client.get("/static/../api.py").status_code == 404


def test_openapi_documents_the_new_endpoints(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    listing = paths["/campaigns"]["get"]
    ok = listing["responses"]["200"]["content"]
    assert ok["application/json"]["schema"]["$ref"].endswith("/CampaignList")
    assert "text/csv" in ok
    parameters = {p["name"]: p for p in listing["parameters"]}
    assert list(parameters) == ["q", "sort", "limit", "offset", "format"]
    assert (parameters["limit"]["schema"]["minimum"], parameters["limit"]["schema"]["maximum"]) == (1, 500)
    assert "-roas" in parameters["sort"]["schema"]["enum"]
    daily = paths["/campaigns/{campaign_id}/daily"]["get"]
    refs = json.dumps(daily["responses"]["200"]["content"]["application/json"]["schema"])
    assert "CampaignDaily" in refs and "CampaignDailyChecked" in refs
    assert {"404", "422", "502"} <= set(daily["responses"])
    assert "/" not in paths and not any(p.startswith("/static") for p in paths)


def test_models_describe_the_bodies() -> None:
    assert list(CampaignList.model_fields) == ["total", "limit", "offset", "campaigns"]
    assert CampaignList.model_fields["campaigns"].annotation == list[CampaignPerformance]


# --- search: the bigram index answers exactly like a scan -----------------------------------


def _catalog_for(
    ids: list[str], names: list[str | None], few: int = 4096, check_in_python: int = 8192
) -> CampaignCatalog:
    import polars as pl

    zeros = {c: [0] * len(ids) for c in ("total_impressions", "total_clicks", "total_conversions")}
    floats = {c: [0.0] * len(ids) for c in ("total_spend", "total_revenue", "ctr", "cvr", "roas")}
    performance = pl.DataFrame({"campaign_id": ids, "campaign_name": names, **zeros, **floats})
    return CampaignCatalog(performance, few=few, check_in_python=check_in_python)


@settings(max_examples=200, deadline=None)
@given(
    names=st.lists(st.text(alphabet="ab1 É-", max_size=8) | st.none(), min_size=1, max_size=30),
    needles=st.lists(st.text(alphabet="ab1 é-", min_size=1, max_size=6), min_size=1, max_size=8),
    check_in_python=st.sampled_from([0, 8192]),
)
def test_search_masks_equal_a_plain_substring_scan(
    names: list[str | None], needles: list[str], check_in_python: int
) -> None:
    """Whichever way the candidates are checked (polars or Python), and whichever form the
    matches are asked in (mask or positions), they are a plain substring scan's."""
    ids = [f"c{i:03d}" for i in range(len(names))]
    catalog = _catalog_for(ids, names, check_in_python=check_in_python)
    for needle in needles:  # in sequence: masks made for one needle serve the next
        expected = [needle in f"{i}\x00{(n or '').lower()}" for i, n in zip(ids, names, strict=True)]
        matches = catalog.matching(needle.lower())
        assert matches.total == sum(expected), needle
        assert matches.mask().to_list() == expected, needle
        assert matches.positions().to_list() == [i for i, hit in enumerate(expected) if hit], needle


@settings(max_examples=150, deadline=None)
@given(
    names=st.lists(st.text(alphabet="ab1", max_size=4) | st.none(), min_size=1, max_size=40),
    needle=st.text(alphabet="ab1", min_size=1, max_size=3),
    descending=st.booleans(),
    offset=st.integers(0, 45),
    limit=st.integers(1, 10),
    few=st.sampled_from([0, 3, 4096]),
    check_in_python=st.sampled_from([0, 8192]),
)
def test_a_search_page_is_the_matches_in_sort_order_sliced(
    names: list[str | None], needle: str, descending: bool, offset: int, limit: int, few: int, check_in_python: int
) -> None:
    """Both ways to a page (matches ranked, or found along the sort order) give the matches
    in sort order (ties by id), sliced: checked against sorting the matches here."""
    ids = [f"c{i:03d}" for i in range(len(names))]
    catalog = _catalog_for(ids, names, few=few, check_in_python=check_in_python)
    sort = "-campaign_name" if descending else "campaign_name"
    matches = [i for i, n in enumerate(names) if needle in f"{ids[i]}\x00{(n or '').lower()}"]
    named = sorted((i for i in matches if names[i] is not None), key=lambda i: (names[i], ids[i]))
    if descending:  # names descending, ties by id ascending; nulls last either way
        named = sorted(named, key=lambda i: ids[i])
        named = sorted(named, key=lambda i: names[i] or "", reverse=True)
    expected = named + [i for i in matches if names[i] is None]
    assert catalog.page(needle, sort, offset, limit) == (len(matches), expected[offset : offset + limit])


def test_a_needle_is_more_than_its_bigrams() -> None:
    # "baab" holds both bigrams of "aba" ("ab", "ba") but not "aba" itself
    catalog = _catalog_for(["c1", "c2", "c3"], ["baab", "Xaba", None])
    assert catalog.matching("aba").mask().to_list() == [False, True, False]
    assert catalog.matching("ab").mask().to_list() == [True, True, False]
    assert catalog.matching("zz").mask().to_list() == [False, False, False]


@pytest.mark.parametrize("name", ["Rams \ua7cb horn", "\u0130stanbul", "Stra\u00dfe", "\u039f\u0394\u039f\u03a3"])
def test_a_search_folds_case_as_str_lower_does(name: str) -> None:
    """The needle is `q.lower()`, so the ids and names are lower-cased the same way: polars'
    to_lowercase follows a newer Unicode than some Pythons (U+A7CB, added in Unicode 16,
    lower-cases to U+0264 there, and stays itself in Python 3.11), and a campaign must be found
    by its own name."""
    names = [name, "plain"]
    catalog = _catalog_for(["c1", "c2"], names)
    for q in (name, name.upper(), name.lower(), name[-3:], "\u0264"):
        expected = [i for i, n in enumerate(names) if q.lower() in f"c{i + 1}" or q.lower() in n.lower()]
        assert catalog.page(q, "campaign_id", 0, 50) == (len(expected), expected), q


# --- the canonical reader of /campaigns -------------------------------------------------------


@pytest.mark.parametrize(
    ("canonical", "declared"),
    [
        # the first of each pair is read by the route's canonical reader, the second (same
        # meaning, another spelling) goes through FastAPI's declared parameters
        ("/campaigns", "/campaigns?unused=1"),
        ("/campaigns?q=SPRING&sort=-ctr", "/campaigns?q=SPRING&sort=-ctr&unused="),
        ("/campaigns?q=&limit=2&offset=1", "/campaigns?q=&limit=+2&offset=01"),
        ("/campaigns?sort=roas&limit=500&offset=0", "/campaigns?sort=roas&limit=500.0&offset=0&sort=roas"),
        ("/campaigns?format=csv&limit=3&offset=2", "/campaigns?format=csv&limit=03&offset=2"),
        ("/campaigns?offset=999999999", "/campaigns?offset=999999999&unused"),
        ("/campaigns?offset=4", "/campaigns?offset=%2B4"),
        ("/campaigns?q=%00", "/campaigns?q=%00&x=1"),
    ],
)
def test_canonical_and_declared_campaign_pages_are_the_same(client: TestClient, canonical: str, declared: str) -> None:
    assert campaigns_query(_request(client, canonical)) is not None
    assert campaigns_query(_request(client, declared)) is None
    fast, slow = client.get(canonical), client.get(declared)
    assert fast.status_code == 200
    assert (fast.status_code, fast.headers["content-type"], fast.content) == (
        slow.status_code,
        slow.headers["content-type"],
        slow.content,
    )


@pytest.mark.parametrize(
    "target",
    [
        "/campaigns?limit=0",
        "/campaigns?limit=501",
        "/campaigns?limit=-1",
        "/campaigns?offset=-1",
        "/campaigns?offset=1e3",
        "/campaigns?sort=spend",
        "/campaigns?format=xml",
        "/campaigns?limit=%EF%BC%93",  # a full-width digit: str.isdigit says yes, int() reads 3
        "/campaigns?limit=2&limit=3",
    ],
)
def test_a_query_the_reader_refuses_gets_the_declared_answer(client: TestClient, target: str) -> None:
    """Refused by the reader, answered by FastAPI: a 422 where the value is invalid, the same
    page as its canonical spelling where it is only spelled otherwise."""
    assert campaigns_query(_request(client, target)) is None
    response = client.get(target)
    if target.endswith("limit=3"):  # repeated: the last one counts, as FastAPI reads it
        assert response.content == client.get("/campaigns?limit=3").content
    else:
        assert response.status_code == 422


def _request(client: TestClient, target: str) -> Request:
    query = target.partition("?")[2]
    return Request({"type": "http", "query_string": query.encode(), "path_params": {}, "app": client.app})
