"""Serving benchmark of the explorer's endpoints: /campaigns (search, sort, pages, CSV) and
/campaigns/{id}/daily, against /livez on the same server, at a chosen scale.

    python -m bench.explorer --scale L            # 10M metric rows, 20,000 campaigns (Parquet)
    python -m bench.explorer --scale L --in-process   # CPU per request, no HTTP, no load generator

Uses bench/run.py's pieces: the seeded dataset (generated once into bench/out/data), the
build, the real server started as the README starts it, and wrk (or bench/load.py) with 32
connections. Every request of a round draws its query from a seeded list, so searches,
sort keys and page offsets vary. Prints one table; asserts nothing.

On a shared machine the load generator's latencies say as much about the neighbours as about
the service; `--in-process` calls the ASGI app directly, one request at a time, and reports
each request's wall time and the CPU time of the thread that served it.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import subprocess
import time
import urllib.request
import warnings
from pathlib import Path

import polars as pl

from bench.generate import SCALES
from bench.run import BIN, OUT, data, load, machine, server

SORTS = [
    f"{d}{c}"
    for c in (
        "campaign_id",
        "campaign_name",
        "total_impressions",
        "total_clicks",
        "total_conversions",
        "total_spend",
        "total_revenue",
        "ctr",
        "cvr",
        "roas",
    )
    for d in ("", "-")
]


def queries(campaigns: list[str], seed: int = 7) -> dict[str, tuple[str, list[str]]]:
    """name -> (pattern, the values its {id} takes)."""
    rng = random.Random(seed)
    n = len(campaigns)
    pages = [str(rng.randrange(0, n, 50)) for _ in range(500)]
    # names are "Campaign <n>", ids "cmp-<n:06>": digit strings match from one to thousands
    needles = [str(rng.randrange(10 ** rng.randint(1, 4))) for _ in range(500)]
    return {
        "livez": ("/livez", ["-"]),
        "performance (reference)": ("/campaigns/{id}/performance", rng.sample(campaigns, min(2000, n))),
        "campaigns, first page": ("/campaigns", ["-"]),
        "campaigns, sorted page": (
            "/campaigns?{id}",
            [f"sort={rng.choice(SORTS)}&offset={p}" for p in pages],
        ),
        "campaigns, search + sort": (
            "/campaigns?{id}",
            [f"q={q}&sort={rng.choice(SORTS)}" for q in needles],
        ),
        "campaigns, 500 sorted": (
            "/campaigns?{id}",
            [f"sort={rng.choice(SORTS)}&limit=500&offset={p}" for p in pages],
        ),
        "campaigns, 500 as CSV": (
            "/campaigns?{id}",
            [f"format=csv&sort={rng.choice(SORTS)}&limit=500&offset={p}" for p in pages],
        ),
        "daily": ("/campaigns/{id}/daily", rng.sample(campaigns, min(2000, n))),
        "daily + thresholds": ("/campaigns/{id}/daily?with_thresholds=true", rng.sample(campaigns, min(2000, n))),
        "daily as CSV": ("/campaigns/{id}/daily?format=csv", rng.sample(campaigns, min(2000, n))),
    }


def in_process(folder: Path, rollups: Path, plan: dict[str, tuple[str, list[str]]], count: int = 500) -> None:
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient` is deprecated")
    from fastapi.testclient import TestClient

    from campaign_analytics.serve.app import create_app
    from campaign_analytics.settings import Settings

    settings = Settings.for_data(folder, rollup_dir=rollups, benchmark_fixtures_file=folder / "benchmarks.json")
    app = create_app(settings)

    async def call(target: str) -> int:
        path, _, query = target.partition("?")
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": query.encode(),
            "headers": [(b"host", b"bench")],
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 80),
            "state": {},
        }
        sent: list[dict[str, object]] = []

        async def receive() -> dict[str, object]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, object]) -> None:
            sent.append(message)

        await app(scope, receive, send)  # type: ignore[arg-type]
        return int(sent[0]["status"])  # type: ignore[call-overload]

    async def run() -> None:
        rng = random.Random(11)
        print(f"in process, one request at a time, {count} requests each")
        print(f"{'endpoint':28} {'p50 ms':>7} {'p99 ms':>7} {'CPU us':>7}")
        print("-" * 52)
        for name, (pattern, values) in plan.items():
            targets = [pattern.replace("{id}", rng.choice(values)) for _ in range(count)]
            assert await call(targets[0]) == 200, targets[0]
            walls, cpu = [], 0.0
            for target in targets:
                wall, thread = time.perf_counter(), time.thread_time()
                await call(target)
                cpu += time.thread_time() - thread
                walls.append(time.perf_counter() - wall)
            walls.sort()
            p50, p99 = walls[len(walls) // 2], walls[int(len(walls) * 0.99)]
            print(f"{name:28} {p50 * 1000:7.2f} {p99 * 1000:7.2f} {cpu / count * 1e6:7.0f}")

    with TestClient(app):  # runs the lifespan: the build is loaded as when serving
        asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="L")
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--in-process", action="store_true", help="CPU per request instead of a load test")
    parser.add_argument("--data", type=Path, help="a generated Parquet dataset to use instead of --scale's")
    args = parser.parse_args()

    folder = args.data.resolve() if args.data else data(args.scale, "parquet")
    rollups = (
        OUT / "rollups" / (f"ready-{folder.name.removesuffix('-parquet')}" if args.data else f"{args.scale}-parquet")
    )
    subprocess.run(
        [str(BIN / "campaign-analytics"), "build", "--data-dir", str(folder), "--out", str(rollups), "--if-stale"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    campaigns = pl.read_parquet(folder / "campaigns.parquet")["campaign_id"].to_list()
    plan = queries(campaigns)
    if args.in_process:
        print(f"machine: {machine()}; {args.scale}: {len(campaigns):,} campaigns")
        in_process(folder, rollups, plan)
        return
    env = {
        "DATA_DIR": str(folder),
        "ROLLUP_DIR": str(rollups),
        "BENCHMARK_FIXTURES_FILE": str(folder / "benchmarks.json"),
    }
    results: dict[str, list[dict[str, float]]] = {name: [] for name in plan}
    with server("app:app", env) as (url, _):
        started = time.perf_counter()
        with urllib.request.urlopen(url + "/campaigns?limit=1", timeout=60) as response:
            response.read()
        first = time.perf_counter() - started  # includes preparing the build's campaigns table once
        files: dict[str, Path] = {}
        for name, (pattern, values) in plan.items():
            files[name] = OUT / f"explorer-{args.scale}-{len(files)}.txt"
            files[name].write_text("\n".join(values) + "\n")
            load(url, pattern, files[name], 1)  # warm up
        for _ in range(args.rounds):
            for name, (pattern, _values) in plan.items():
                results[name].append(load(url, pattern, files[name], args.seconds))
    print(f"\nmachine: {machine()}")
    print(f"{folder.name}: {len(campaigns):,} campaigns; first /campaigns request after start {first * 1000:.0f} ms")
    print(f"32 connections, median of {args.rounds} x {args.seconds:g} s\n")
    print(f"{'endpoint':28} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7}")
    print("-" * 52)
    for name, runs in results.items():
        mid = sorted(runs, key=lambda r: r["p99_ms"])[len(runs) // 2]
        print(f"{name:28} {mid['rps']:7.0f} {mid['p50_ms']:7.2f} {mid['p99_ms']:7.2f}")


if __name__ == "__main__":
    main()
