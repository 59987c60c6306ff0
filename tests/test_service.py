"""The app as a service: start-up builds, health states, and the benchmark service failing.

Benchmark faults are served by a real HTTP server on 127.0.0.1 (tests/support/stub_benchmarks.py);
one test injects an httpx.MockTransport instead, as create_app allows.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from campaign_analytics.build.pipeline import build
from campaign_analytics.errors import ConfigError
from campaign_analytics.published.manifest import find_published
from campaign_analytics.serve.app import create_app
from campaign_analytics.settings import Settings
from tests.support.api import settings_for
from tests.support.datasets import VISIBLE, copy_visible
from tests.support.live_server import serve
from tests.support.stub_benchmarks import StubBenchmarks, closed_port_url
from tests.support.waits import wait_for

TIMEOUT = 0.5
VISIBLE_THRESHOLDS = json.loads((VISIBLE / "benchmarks.json").read_text())


@pytest.fixture(scope="module")
def stub() -> Iterator[StubBenchmarks]:
    with StubBenchmarks(VISIBLE_THRESHOLDS) as server:
        yield server


@pytest.fixture
def http_client(stub: StubBenchmarks, visible_rollup_dir: Path) -> Iterator[TestClient]:
    stub.behave()
    settings = Settings.for_data(
        VISIBLE, rollup_dir=visible_rollup_dir, benchmark_api_base=stub.url, benchmark_timeout_seconds=TIMEOUT
    )
    with TestClient(create_app(settings)) as client:
        yield client


def test_anomalies_with_thresholds_from_the_http_service(http_client: TestClient, stub: StubBenchmarks) -> None:
    response = http_client.get("/campaigns/cmp-005/anomalies")
    assert response.status_code == 200
    assert response.json()["thresholds"] == {"min_ctr": 0.03, "min_roas": 1.0}
    assert stub.requests[-1] == "/benchmarks/cmp-005"


def test_thresholds_are_fetched_live_for_every_request(http_client: TestClient, stub: StubBenchmarks) -> None:
    before = len(stub.requests)
    for _ in range(3):
        assert http_client.get("/campaigns/cmp-002/anomalies").status_code == 200
    assert len(stub.requests) - before == 3


def test_unknown_campaign_is_404_before_the_benchmark_is_called(http_client: TestClient, stub: StubBenchmarks) -> None:
    before = len(stub.requests)
    assert http_client.get("/campaigns/nope/anomalies").status_code == 404
    assert len(stub.requests) == before


@pytest.mark.parametrize(
    ("behaviour", "problem"),
    [
        ({"status": 404}, "HTTP 404, no thresholds for campaign 'cmp-002'"),
        ({"status": 500}, "HTTP 500"),
        ({"body": b"not json"}, "body is not JSON"),
        ({"body": b"[]"}, "expected a JSON object, got an array"),
        ({"body": b'{"min_ctr": 0.1}'}, "key 'min_roas' is missing"),
        ({"body": b'{"min_ctr": "0.1", "min_roas": 1}'}, "min_ctr is a string, not a number"),
        ({"body": b'{"min_ctr": true, "min_roas": 1}'}, "min_ctr is a boolean, not a number"),
        ({"body": b'{"min_ctr": 0.1, "min_roas": -3}'}, "min_roas is -3, not a finite number >= 0"),
        ({"delay": 3 * TIMEOUT}, "timed out after 0.5 s"),
        ({"drip": TIMEOUT / 4}, "timed out after 0.5 s"),
    ],
)
def test_every_benchmark_fault_is_a_502_within_the_bound(
    http_client: TestClient, stub: StubBenchmarks, behaviour: dict[str, object], problem: str
) -> None:
    stub.behave(**behaviour)  # type: ignore[arg-type]
    started = time.monotonic()
    response = http_client.get("/campaigns/cmp-002/anomalies")
    elapsed = time.monotonic() - started
    assert response.status_code == 502
    detail = response.json()["detail"]
    assert detail.startswith(f"benchmark service GET {stub.url}/benchmarks/cmp-002: {problem}")
    assert elapsed < 3 * TIMEOUT
    # the other endpoints keep answering
    assert http_client.get("/campaigns/cmp-002/performance").status_code == 200
    assert http_client.get("/health").status_code == 200


def test_unreachable_benchmark_service_is_a_502_and_health_is_degraded(visible_rollup_dir: Path) -> None:
    base = closed_port_url()
    settings = Settings.for_data(VISIBLE, rollup_dir=visible_rollup_dir, benchmark_api_base=base)
    with TestClient(create_app(settings)) as client:
        response = client.get("/campaigns/cmp-002/anomalies")
        assert response.status_code == 502
        assert "unreachable (ConnectError" in response.json()["detail"]
        health = client.get("/health")
        assert health.status_code == 200
        assert health.json() | {"build_id": None} == {
            "status": "degraded",
            "database": "ok",
            "benchmark_service": "error",
            "dataset": "visible",
            "build_id": None,
            "newest_build_refused": None,
        }
        assert client.get("/creators/top?campaign_id=cmp-001").status_code == 200


def test_a_slow_benchmark_does_not_hold_up_other_requests(stub: StubBenchmarks, visible_rollup_dir: Path) -> None:
    stub.behave(delay=1.0)
    settings = Settings.for_data(
        VISIBLE, rollup_dir=visible_rollup_dir, benchmark_api_base=stub.url, benchmark_timeout_seconds=2
    )
    before = len(stub.requests)
    with serve(create_app(settings)) as url, concurrent.futures.ThreadPoolExecutor(2) as pool:
        slow = pool.submit(httpx.get, f"{url}/campaigns/cmp-001/anomalies", timeout=10)
        wait_for(lambda: "/benchmarks/cmp-001" in stub.requests[before:])  # its benchmark call is out
        fast = httpx.get(f"{url}/campaigns/cmp-001/performance", timeout=10)
        assert fast.status_code == 200 and not slow.done()  # answered while the slow one waits
        assert slow.result().status_code == 200
    stub.behave()


def test_health_ok_with_a_live_benchmark_service(http_client: TestClient) -> None:
    body = http_client.get("/health").json()
    assert (body["status"], body["benchmark_service"]) == ("ok", "ok")


def test_benchmark_transport_can_be_injected(visible_rollup_dir: Path) -> None:
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json={"min_ctr": 0.5, "min_roas": 0})

    settings = Settings.for_data(VISIBLE, rollup_dir=visible_rollup_dir, benchmark_api_base="http://bench.test")
    with TestClient(create_app(settings, benchmark_transport=httpx.MockTransport(handler))) as client:
        body = client.get("/campaigns/cmp-005/anomalies").json()
    assert seen == ["http://bench.test/benchmarks/cmp-005"]
    assert [a["issues"] for a in body["alerts"]] == [
        ["ctr_below_threshold"],
        ["ctr_below_threshold", "spend_without_conversions"],
        ["ctr_below_threshold"],
    ]


def test_missing_fixture_entry_is_a_502(tmp_path: Path, visible_rollup_dir: Path) -> None:
    fixture = tmp_path / "benchmarks.json"
    fixture.write_text(json.dumps({"cmp-001": {"min_ctr": 0.01, "min_roas": 1}}))
    settings = Settings.for_data(VISIBLE, rollup_dir=visible_rollup_dir, benchmark_fixtures_file=fixture)
    with TestClient(create_app(settings)) as client:
        assert client.get("/campaigns/cmp-001/anomalies").status_code == 200
        response = client.get("/campaigns/cmp-002/anomalies")
        assert response.status_code == 502
        assert response.json() == {"detail": f"benchmark fixture {fixture} has no thresholds for campaign 'cmp-002'"}
        fixture.write_text("{broken")
        assert client.get("/health").json()["status"] == "degraded"


# --- start-up ------------------------------------------------------------------------------


def test_start_up_builds_when_nothing_is_published(tmp_path: Path) -> None:
    settings = Settings.for_data(
        VISIBLE, rollup_dir=tmp_path / "rollups", benchmark_fixtures_file=VISIBLE / "benchmarks.json"
    )
    with TestClient(create_app(settings)) as client:
        health = client.get("/health").json()
        assert (health["status"], health["database"]) == ("ok", "ok")
        assert client.get("/campaigns/cmp-001/performance").json()["totals"]["total_clicks"] == 212
    published = find_published(tmp_path / "rollups")
    assert published is not None and published.build_id == health["build_id"]


def test_start_up_rebuilds_when_the_inputs_changed(tmp_path: Path) -> None:
    data = copy_visible(tmp_path / "data")
    old = build(data, tmp_path / "rollups").build
    (data / "campaigns.csv").write_text((data / "campaigns.csv").read_text() + "cmp-new,Brand New\n")
    settings = Settings.for_data(
        data, rollup_dir=tmp_path / "rollups", benchmark_fixtures_file=data / "benchmarks.json"
    )
    with TestClient(create_app(settings)) as client:
        assert client.get("/campaigns/cmp-new/performance").json()["campaign_name"] == "Brand New"
        assert client.get("/health").json()["build_id"] != old.build_id


def test_invalid_inputs_at_start_up_keep_serving_the_previous_build(tmp_path: Path) -> None:
    data = copy_visible(tmp_path / "data")
    old = build(data, tmp_path / "rollups").build
    (data / "creators.csv").write_text("creator_id,creator_name\n,nameless\n")
    settings = Settings.for_data(
        data, rollup_dir=tmp_path / "rollups", benchmark_fixtures_file=data / "benchmarks.json"
    )
    with TestClient(create_app(settings)) as client:
        assert client.get("/health").json()["build_id"] == old.build_id
        assert client.get("/campaigns/cmp-001/performance").status_code == 200


def test_without_any_build_health_is_503_and_reads_are_503(tmp_path: Path) -> None:
    data = copy_visible(tmp_path / "data")
    (data / "campaign_daily_metrics.csv").write_text("metric_date\n2026-01-01\n")
    settings = Settings.for_data(
        data, rollup_dir=tmp_path / "rollups", benchmark_fixtures_file=data / "benchmarks.json"
    )
    with TestClient(create_app(settings)) as client:
        health = client.get("/health")
        assert health.status_code == 503
        assert health.json() == {
            "status": "degraded",
            "database": "error",
            "benchmark_service": "fixture",
            "dataset": "data",
            "build_id": None,
            "newest_build_refused": None,
        }
        for url in [
            "/campaigns/cmp-001/performance",
            "/creators/top?campaign_id=cmp-001",
            "/campaigns/cmp-001/anomalies",
        ]:
            response = client.get(url)
            assert response.status_code == 503
            assert "missing column 'campaign_id'" in response.json()["detail"]
        assert client.get("/livez").status_code == 200


def test_create_app_reads_the_environment_when_called(
    monkeypatch: pytest.MonkeyPatch, visible_rollup_dir: Path
) -> None:
    monkeypatch.delenv("DATA_DIR", raising=False)
    with pytest.raises(ConfigError, match="DATA_DIR is not set"):
        create_app()
    monkeypatch.setenv("DATA_DIR", str(VISIBLE))
    monkeypatch.setenv("DATASET", "renamed")
    monkeypatch.setenv("ROLLUP_DIR", str(visible_rollup_dir))
    monkeypatch.setenv("BENCHMARK_FIXTURES_FILE", str(VISIBLE / "benchmarks.json"))
    with TestClient(create_app()) as client:
        assert client.get("/health").json()["dataset"] == "renamed"
    monkeypatch.setenv("BENCHMARK_TIMEOUT_SECONDS", "soon")
    with pytest.raises(ConfigError, match="BENCHMARK_TIMEOUT_SECONDS='soon' is not a number of seconds"):
        create_app()


# --- the app is ready with or without its lifespan -----------------------------------


def test_importing_app_never_raises_and_uvicorn_without_data_dir_says_why() -> None:
    repo = Path(__file__).resolve().parents[1]
    env = {k: v for k, v in os.environ.items() if k not in ("DATA_DIR", "ROLLUP_DIR", "BENCHMARK_FIXTURES_FILE")}
    env["PYTHONPATH"] = str(repo / "python")
    imported = subprocess.run(
        [sys.executable, "-W", "error", "-c", "import app; from app import create_app; print('ok')"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (imported.returncode, imported.stdout.strip(), imported.stderr) == (0, "ok", "")
    started = subprocess.run(
        [sys.executable, "-m", "uvicorn", "app:app", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert started.returncode == 1
    assert started.stderr.strip().splitlines()[-1] == (
        "campaign-analytics: DATA_DIR is not set: point it at a folder of input files (e.g. data/visible)"
    )


@pytest.mark.parametrize("with_lifespan", [False, True], ids=["plain", "with"])
def test_live_thresholds_work_with_or_without_the_lifespan(
    stub: StubBenchmarks, visible_rollup_dir: Path, with_lifespan: bool
) -> None:
    stub.behave()
    settings = Settings.for_data(
        VISIBLE, rollup_dir=visible_rollup_dir, benchmark_api_base=stub.url, benchmark_timeout_seconds=TIMEOUT
    )
    client = TestClient(create_app(settings))
    with contextlib.ExitStack() as stack:
        if with_lifespan:
            stack.enter_context(client)
        # a plain TestClient runs every request on an event loop of its own: each must work
        for _ in range(3):
            response = client.get("/campaigns/cmp-005/anomalies")
            assert (response.status_code, response.json()["thresholds"]) == (200, {"min_ctr": 0.03, "min_roas": 1.0})
        assert client.get("/health").json()["benchmark_service"] == "ok"


def test_many_apps_in_one_process_keep_their_own_settings(stub: StubBenchmarks, visible_rollup_dir: Path) -> None:
    stub.behave()
    fixture = settings_for(visible_rollup_dir)
    live = Settings.for_data(VISIBLE, rollup_dir=visible_rollup_dir, benchmark_api_base=stub.url)
    down = Settings.for_data(VISIBLE, rollup_dir=visible_rollup_dir, benchmark_api_base=closed_port_url())
    apps = [TestClient(create_app(s)) for s in (fixture, live, down)]
    assert [c.get("/health").json()["benchmark_service"] for c in apps] == ["fixture", "ok", "error"]
    assert [c.get("/campaigns/cmp-002/anomalies").status_code for c in apps] == [200, 200, 502]


def test_the_lifespan_closes_the_pool_it_opened(visible_rollup_dir: Path) -> None:
    """Within the lifespan the calls share one kept-alive connection (the pooled client's);
    when it ends, the service sees that connection closed at once, not when it idles out."""
    with StubBenchmarks(VISIBLE_THRESHOLDS) as own:
        settings = Settings.for_data(VISIBLE, rollup_dir=visible_rollup_dir, benchmark_api_base=own.url)
        with TestClient(create_app(settings)) as client:
            for campaign in ("cmp-002", "cmp-003", "cmp-005"):
                assert client.get(f"/campaigns/{campaign}/anomalies").status_code == 200
            assert (own.connections_opened, own.connections_open) == (1, 1)
        wait_for(lambda: own.connections_open == 0, timeout=5)  # aiohttp would keep it 15 s
