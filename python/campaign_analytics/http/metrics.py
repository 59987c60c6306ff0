"""Prometheus metrics: what `GET /metrics` shows, and the hooks that feed it.

    observe_request(method, route, status, seconds)   the request middleware, once per request
    observe_benchmark_call(outcome, seconds)          the benchmark client, once per call
    served_build(build_id, built_at, rows)            whoever loads or swaps a build
    build_verification_failed()                       whoever refuses a damaged build
    exposition(multiprocess_dir) -> (bytes, type)     the body of GET /metrics

Labels are bounded: `route` is the route's template (`/campaigns/{campaign_id:path}/performance`,
or `unmatched`), never the raw path; `method` is one of the standard methods or `OTHER`;
`outcome` is one of BENCHMARK_OUTCOMES.

Several uvicorn workers: with PROMETHEUS_MULTIPROC_DIR set (before this module is imported;
`campaign-analytics serve --workers N` does it), prometheus-client keeps every value in a
memory-mapped file per process and /metrics, whichever worker answers, adds them up. Counters
and histograms are summed; the served build's gauges take the maximum over live workers.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

# `*_created` samples (a timestamp per labelled child) double the output and say nothing here.
disable_created_metrics()  # type: ignore[no-untyped-call]  # prometheus-client leaves it unannotated

PREFIX = "campaign_analytics"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
BENCHMARK_OUTCOMES = frozenset({"ok", "timeout", "unreachable", "http_error", "invalid_body", "other"})
# Latency buckets in seconds: the read routes answer in well under a millisecond in-process;
# the benchmark call is bounded by BENCHMARK_TIMEOUT_SECONDS (default 2).
REQUEST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BENCHMARK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)

REQUESTS = Counter(f"{PREFIX}_http_requests", "HTTP requests answered", ["method", "route", "status"])
REQUEST_SECONDS = Histogram(
    f"{PREFIX}_http_request_duration_seconds", "Time to answer a request", ["route"], buckets=REQUEST_BUCKETS
)
BENCHMARK_CALLS = Counter(f"{PREFIX}_benchmark_calls", "Calls to the benchmark service", ["outcome"])
BENCHMARK_SECONDS = Histogram(
    f"{PREFIX}_benchmark_call_duration_seconds", "Time of a benchmark-service call", buckets=BENCHMARK_BUCKETS
)
BUILD_INFO = Gauge(
    f"{PREFIX}_build_info",
    "1 for the build being served, labelled with its id",
    ["build_id"],
    multiprocess_mode="livemax",
)
BUILD_TIMESTAMP = Gauge(
    f"{PREFIX}_build_timestamp_seconds", "When the served build was made (Unix time)", multiprocess_mode="livemax"
)
ROLLUP_ROWS = Gauge(
    f"{PREFIX}_rollup_rows", "Rows of each rollup of the served build", ["rollup"], multiprocess_mode="livemax"
)
VERIFICATION_FAILURES = Counter(
    f"{PREFIX}_build_verification_failures", "Published builds that failed verification and were not served"
)

_served: dict[str, object] = {"build_id": None, "built_at": None}


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """Count one answered request and its latency (prometheus-client keeps the labelled
    children; a cache of our own on top bought under 3 % of a read request, DECISIONS.md)."""
    REQUESTS.labels(method if method in METHODS else "OTHER", route, str(status)).inc()
    REQUEST_SECONDS.labels(route).observe(seconds)


def observe_benchmark_call(outcome: str, seconds: float) -> None:
    """One call to the benchmark service (HTTP mode), however it ended; `outcome` is one of
    BENCHMARK_OUTCOMES (anything else counts as `other`)."""
    BENCHMARK_CALLS.labels(outcome if outcome in BENCHMARK_OUTCOMES else "other").inc()
    BENCHMARK_SECONDS.observe(seconds)


def served_build(build_id: str, built_at: str | datetime | None, rows: Mapping[str, int]) -> None:
    """The process now serves `build_id` (at start-up and after every swap)."""
    previous = _served["build_id"]
    if previous is not None and previous != build_id:
        BUILD_INFO.labels(previous).set(0)
    BUILD_INFO.labels(build_id).set(1)
    stamp = _timestamp(built_at)
    if stamp is not None:
        BUILD_TIMESTAMP.set(stamp)
    for rollup, count in rows.items():
        ROLLUP_ROWS.labels(rollup).set(count)
    _served.update(build_id=build_id, built_at=stamp)


def build_verification_failed() -> None:
    """A published build failed verification (it is not served)."""
    VERIFICATION_FAILURES.inc()


def _timestamp(built_at: str | datetime | None) -> float | None:
    if built_at is None:
        return None
    if isinstance(built_at, str):
        try:
            built_at = datetime.fromisoformat(built_at)
        except ValueError:
            return None
    return built_at.timestamp()


class _BuildAge:
    """`build_age_seconds`, computed when scraped (a gauge set at load time would not age)."""

    def collect(self) -> list[Metric]:
        built_at = _served["built_at"]
        if not isinstance(built_at, float):
            return []
        age = GaugeMetricFamily(f"{PREFIX}_build_age_seconds", "Age of the served build (this process's)")
        age.add_metric([], max(0.0, time.time() - built_at))
        return [age]


REGISTRY.register(_BuildAge())


def exposition(multiprocess_dir: Path | None) -> tuple[bytes, str]:
    """The /metrics body: this process's registry, or every worker's values in multiprocess mode."""
    if multiprocess_dir is None:
        return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(multiprocess_dir))  # type: ignore[no-untyped-call]  # unannotated upstream
    registry.register(_BuildAge())
    return generate_latest(registry), CONTENT_TYPE_LATEST
