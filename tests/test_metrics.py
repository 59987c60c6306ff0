"""GET /metrics: Prometheus text, bounded labels, the served build, and several workers."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from campaign_analytics.http import metrics
from campaign_analytics.serve.app import create_app
from campaign_analytics.settings import Settings
from tests.support.api import MakeClient
from tests.support.datasets import REPO, VISIBLE
from tests.support.stub_benchmarks import StubBenchmarks

PERFORMANCE = "/campaigns/{campaign_id:path}/performance"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(sample name, sorted labels): value} of a Prometheus text exposition."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, tuple(sorted(labels.items()))), 0.0)


def scrape(client: TestClient) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    return response.text


def test_requests_are_counted_by_route_template_and_status(client: TestClient) -> None:
    before = scrape(client)
    for campaign in ("cmp-001", "cmp-002", "cmp-999"):
        client.get(f"/campaigns/{campaign}/performance")
    client.get("/creators/top?campaign_id=cmp-001&limit=0")
    after = scrape(client)
    requests = "campaign_analytics_http_requests_total"

    def grew(**labels: str) -> float:
        return value(after, requests, **labels) - value(before, requests, **labels)

    assert grew(method="GET", route=PERFORMANCE, status="200") == 2
    assert grew(method="GET", route=PERFORMANCE, status="404") == 1
    assert grew(method="GET", route="/creators/top", status="422") == 1
    assert "cmp-001" not in after and "cmp-999" not in after  # ids are never labels
    hist = "campaign_analytics_http_request_duration_seconds_count"
    assert value(after, hist, route=PERFORMANCE) - value(before, hist, route=PERFORMANCE) == 3


def test_unknown_paths_share_one_label(client: TestClient) -> None:
    def label_sets() -> set[tuple[tuple[str, str], ...]]:
        return {
            labels for (name, labels) in samples(scrape(client)) if name == "campaign_analytics_http_requests_total"
        }

    before = label_sets()
    for n in range(30):
        client.get(f"/random/path/{n}")
        client.get(f"/campaigns/cmp-{n}/performance")
    new = label_sets() - before
    assert {dict(labels)["route"] for labels in new} <= {"unmatched", PERFORMANCE}
    assert len(new) <= 2


def test_the_served_build_its_age_and_row_counts(client: TestClient) -> None:
    build_id = client.get("/health").json()["build_id"]
    text = scrape(client)
    assert value(text, "campaign_analytics_build_info", build_id=build_id) == 1
    assert 0 <= value(text, "campaign_analytics_build_age_seconds") < 24 * 3600
    assert value(text, "campaign_analytics_rollup_rows", rollup="campaign_performance") == 6
    assert value(text, "campaign_analytics_rollup_rows", rollup="top_creators") == 14


def test_a_new_build_replaces_the_old_label() -> None:
    metrics.served_build("build-old", "2026-01-01T00:00:00+00:00", {"campaign_performance": 1})
    metrics.served_build("build-new", "2026-01-02T00:00:00+00:00", {"campaign_performance": 2})
    text, _ = metrics.exposition(None)
    decoded = text.decode()
    assert value(decoded, "campaign_analytics_build_info", build_id="build-old") == 0
    assert value(decoded, "campaign_analytics_build_info", build_id="build-new") == 1
    assert value(decoded, "campaign_analytics_build_timestamp_seconds") == 1767312000


def test_benchmark_calls_by_outcome_and_latency() -> None:
    before = metrics.exposition(None)[0].decode()
    metrics.observe_benchmark_call("ok", 0.002)
    metrics.observe_benchmark_call("timeout", 2.0)
    metrics.observe_benchmark_call("made-up outcome", 0.1)
    after = metrics.exposition(None)[0].decode()
    calls = "campaign_analytics_benchmark_calls_total"
    for outcome in ("ok", "timeout", "other"):
        assert value(after, calls, outcome=outcome) - value(before, calls, outcome=outcome) == 1
    assert value(after, calls, **{"outcome": "made-up outcome"}) == 0
    count = "campaign_analytics_benchmark_call_duration_seconds_count"
    assert value(after, count) - value(before, count) == 3


def test_builds_that_failed_verification_are_counted() -> None:
    name = "campaign_analytics_build_verification_failures_total"
    before = value(metrics.exposition(None)[0].decode(), name)
    metrics.build_verification_failed()
    assert value(metrics.exposition(None)[0].decode(), name) == before + 1


def test_request_metrics_can_be_turned_off(make_client: MakeClient) -> None:
    client = make_client(metrics_enabled=False)
    name = "campaign_analytics_http_requests_total"
    before = value(scrape(client), name, method="GET", route="/livez", status="200")
    client.get("/livez")
    assert value(scrape(client), name, method="GET", route="/livez", status="200") == before


# Each child process is a "worker": it counts requests into PROMETHEUS_MULTIPROC_DIR.
_WORKER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from campaign_analytics.http import metrics
    for _ in range(int(sys.argv[1])):
        metrics.observe_request("GET", "/livez", 200, 0.001)
    metrics.served_build("b-1", "2026-01-01T00:00:00+00:00", {"campaign_performance": 6})
    if len(sys.argv) > 2:
        print(metrics.exposition(Path(sys.argv[2]))[0].decode())
    """
)


def test_several_workers_add_up_in_multiprocess_mode(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PYTHONPATH": str(REPO / "python")}

    def worker(*args: str) -> str:
        return subprocess.run(
            [sys.executable, "-c", _WORKER, *args], env=env, capture_output=True, text=True, check=True
        ).stdout

    worker("3")
    worker("4")
    text = worker("5", str(tmp_path))  # the worker that answers the scrape
    assert value(text, "campaign_analytics_http_requests_total", method="GET", route="/livez", status="200") == 12
    assert value(text, "campaign_analytics_http_request_duration_seconds_count", route="/livez") == 12
    assert value(text, "campaign_analytics_build_info", build_id="b-1") == 1
    assert value(text, "campaign_analytics_build_age_seconds") > 0


def test_benchmark_calls_are_counted_by_outcome(visible_rollup_dir: Path) -> None:
    thresholds = json.loads((VISIBLE / "benchmarks.json").read_text())
    with StubBenchmarks(thresholds) as stub:
        settings = Settings.for_data(VISIBLE, rollup_dir=visible_rollup_dir, benchmark_api_base=stub.url)
        client = TestClient(create_app(settings))

        def count(outcome: str) -> float:
            text = client.get("/metrics").text
            pattern = rf'^campaign_analytics_benchmark_calls_total\{{outcome="{outcome}"\}} (\S+)$'
            found = re.search(pattern, text, re.M)
            return float(found.group(1)) if found else 0.0

        ok, http_error = count("ok"), count("http_error")
        assert client.get("/campaigns/cmp-002/anomalies").status_code == 200
        stub.behave(status=503)
        assert client.get("/campaigns/cmp-002/anomalies").status_code == 502
        assert (count("ok") - ok, count("http_error") - http_error) == (1.0, 1.0)
