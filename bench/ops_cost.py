"""CPU cost of the operations layer per request, in-process (no network, no load generator).

    python -m bench.ops_cost [--requests 20000]

Calls the ASGI app directly for one read endpoint, with the HTTP layer left out, installed
with the access log and metrics off, and with each of them on (the log written to a file, text
and JSON). Prints microseconds per request; with the served request's full cost under uvicorn
(about 1e6 / req/s of one core, from `python -m bench.run`) that gives the share. A loopback load
test on a shared 2-core machine is too noisy to see a few percent; this is not.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any
from unittest import mock

from campaign_analytics.build.pipeline import build
from campaign_analytics.http import install as web
from campaign_analytics.http import logs
from campaign_analytics.serve import app as api
from campaign_analytics.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


async def _drive(app: Any, path: str, query: bytes, n: int) -> float:
    scope_base = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1")],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8080),
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        pass

    for _ in range(500):  # warm-up: first touches, label children
        await app(dict(scope_base), receive, send)
    started = time.perf_counter()
    for _ in range(n):
        await app(dict(scope_base), receive, send)
    return (time.perf_counter() - started) / n * 1e6


def _lifespan(app: Any) -> Any:
    async def run() -> None:
        messages = [{"type": "lifespan.startup"}]

        async def receive() -> dict[str, Any]:
            return messages.pop() if messages else await asyncio.sleep(3600)  # type: ignore[func-returns-value]

        async def send(message: dict[str, Any]) -> None:
            pass

        await app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send)

    return run


def _log_to(path: Path, log_format: str) -> None:
    """configure() logs to stderr; send the lines to a file instead, as a container's runtime would."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, logs.StderrHandler | logging.FileHandler):
            root.removeHandler(handler)
            handler.close()
    file_handler = logging.FileHandler(path)
    file_handler.setFormatter(logs.formatter(log_format))
    root.addHandler(file_handler)


def measure(settings: Settings, install: bool, path: str, query: bytes, n: int, log_file: Path) -> float:
    async def main() -> float:
        with mock.patch.object(api, "install_http", web.install_http if install else lambda app, s: None):
            app = api.create_app(settings)
        _log_to(log_file, settings.log_format)
        task = asyncio.ensure_future(_lifespan(app)())
        for _ in range(200):
            await asyncio.sleep(0.01)
            if getattr(app.state, "service", None) is not None:
                break
        try:
            return await _drive(app, path, query, n)
        finally:
            task.cancel()

    return asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    data = ROOT / "data" / "visible"
    work = Path(tempfile.mkdtemp(prefix="ops-cost-"))
    build(data, work / "rollups")
    log_file = work / "access.log"
    base = Settings.for_data(data, rollup_dir=work / "rollups", benchmark_fixtures_file=data / "benchmarks.json")
    cases = [
        ("no HTTP layer (no access log or metrics)", False, {}),
        ("layer, log and metrics off", True, {"access_log": False, "metrics_enabled": False}),
        ("metrics on", True, {"access_log": False, "metrics_enabled": True}),
        ("access log on (text)", True, {"access_log": True, "metrics_enabled": False}),
        ("log + metrics on (text)", True, {"access_log": True, "metrics_enabled": True}),
        ("log + metrics on (json)", True, {"access_log": True, "metrics_enabled": True, "log_format": "json"}),
    ]
    endpoints = [("/campaigns/cmp-001/performance", b""), ("/creators/top", b"campaign_id=cmp-001&limit=10")]
    print(f"us per request, in-process, {args.requests} requests each, best of {args.rounds} interleaved rounds")
    for path, query in endpoints:
        best = {name: float("inf") for name, _, _ in cases}
        for _ in range(args.rounds):  # interleaved, so a busy moment of the machine hits every case
            for name, install, ops in cases:
                settings = replace(base, **ops)  # type: ignore[arg-type]
                best[name] = min(best[name], measure(settings, install, path, query, args.requests, log_file))
        print(f"\n{path}{'?' + query.decode() if query else ''}")
        reference = best[cases[0][0]]
        for name, value in best.items():
            print(f"  {name:<34} {value:7.1f}  (+{value - reference:5.1f})")


if __name__ == "__main__":
    main()
