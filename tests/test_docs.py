"""/docs and /redoc offline, and an OpenAPI schema that documents every field, status and header."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

import pytest
from fastapi.testclient import TestClient

from campaign_analytics.serve.schemas import CampaignAnomalies, CampaignPerformance, TopCreators


@pytest.fixture(scope="module")
def schema(client: TestClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [v for k, v in attrs if k in ("src", "href") and v]


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_load_every_asset_from_the_app(client: TestClient, page: str) -> None:
    response = client.get(page)
    assert response.status_code == 200
    html = response.text
    assert not re.search(r"https?://|//cdn|fonts\.googleapis", html), "the page must not reach the network"
    links = _Links()
    links.feed(html)
    scripts = [u for u in links.urls if u.endswith(".js")]
    assert scripts and all(u.startswith("/") for u in links.urls), links.urls
    for url in links.urls:
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 1000, url
    assert "/openapi.json" in html


def test_swagger_ui_assets_have_their_content_types(client: TestClient) -> None:
    assert client.get("/docs-assets/swagger-ui-bundle.js").headers["content-type"].startswith("text/javascript")
    assert client.get("/docs-assets/swagger-ui.css").headers["content-type"].startswith("text/css")
    assert client.get("/docs-assets/../settings.py").status_code == 404


def _properties(schema: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for model, definition in schema["components"]["schemas"].items():
        if model in ("ValidationError", "HTTPValidationError") or model.startswith("ValidationError"):
            continue  # FastAPI's own
        for field, spec in definition.get("properties", {}).items():
            yield model, field, spec


def test_every_field_is_described(schema: dict[str, Any]) -> None:
    undocumented = [f"{m}.{f}" for m, f, spec in _properties(schema) if len(spec.get("description", "")) < 10]
    assert undocumented == []


@pytest.mark.parametrize(
    ("model", "field", "words"),
    [
        ("CampaignTotals", "ctr", ["clicks / impressions", "4 decimals", "half-up"]),
        ("CampaignTotals", "cvr", ["conversions / clicks", "4 decimals"]),
        ("CampaignTotals", "roas", ["revenue / spend", "4 decimals"]),
        ("CampaignTotals", "total_spend", ["2 decimals", "currency"]),
        ("AnomalyAlert", "issues", ["unrounded"]),
    ],
)
def test_definitions_rounding_and_units_are_in_the_schema(
    schema: dict[str, Any], model: str, field: str, words: list[str]
) -> None:
    description = schema["components"]["schemas"][model]["properties"][field]["description"]
    for word in words:
        assert word in description


@pytest.mark.parametrize(
    ("model", "target"),
    [
        (CampaignPerformance, "/campaigns/cmp-001/performance"),
        (TopCreators, "/creators/top?campaign_id=cmp-001&limit=2"),
        (CampaignAnomalies, "/campaigns/cmp-002/anomalies"),
    ],
)
def test_examples_are_real_answers_of_the_visible_sample(
    schema: dict[str, Any], client: TestClient, model: type, target: str
) -> None:
    (example,) = schema["components"]["schemas"][model.__name__]["examples"]
    assert example == client.get(target).json()


STATUSES = {
    "/campaigns/{campaign_id}/performance": {"200", "304", "404", "422", "503"},
    "/creators/top": {"200", "304", "404", "422", "503"},
    "/campaigns/{campaign_id}/anomalies": {"200", "304", "404", "422", "502", "503"},
    "/health": {"200", "503"},
    "/livez": {"200"},
}


@pytest.mark.parametrize(("path", "statuses"), STATUSES.items())
def test_every_status_code_is_documented(schema: dict[str, Any], path: str, statuses: set[str]) -> None:
    assert set(schema["paths"][path]["get"]["responses"]) == statuses


def test_the_422_has_fastapis_validation_body(schema: dict[str, Any]) -> None:
    ref = schema["paths"]["/creators/top"]["get"]["responses"]["422"]["content"]["application/json"]["schema"]
    assert ref == {"$ref": "#/components/schemas/HTTPValidationError"}
    assert "HTTPValidationError" in schema["components"]["schemas"]


@pytest.mark.parametrize("path", [p for p in STATUSES if p.startswith(("/campaigns", "/creators"))])
def test_response_headers_are_documented(schema: dict[str, Any], path: str) -> None:
    responses = schema["paths"][path]["get"]["responses"]
    assert {"X-Build-Id", "ETag", "Cache-Control", "X-Request-ID"} <= set(responses["200"]["headers"])
    assert "X-Request-ID" in responses["404"]["headers"]
    assert "HEAD" in schema["paths"][path]["get"]["description"]
