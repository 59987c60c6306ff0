"""Start-up and memory per worker at scale: what one worker costs as the campaigns grow.

    python -m bench.ready_memory                       # visible, 10M, 30M, 100M rows; 1 and 2 workers
    python -m bench.ready_memory --scales visible 10M  # fewer

For each dataset: a published build (made once), then a fresh `uvicorn app:app` (with
`--workers 2` for the two-worker rows). Ready is process start to the first `/health` 200.
Then 2,000 random campaigns are asked for on the three read endpoints (6,000 requests, a new
connection each, so the kernel spreads them over the workers), and each worker's private
memory is read: Private_Clean + Private_Dirty of /proc/PID/smaps_rollup, the memory that is
that process's alone (pages it shares with other processes, such as the page cache of a file
every worker reads, are not in it).

Then a pick-up under requests: the build copied to a newer folder and `current` swapped to it,
requests timed one at a time until every worker serves the copy (its p99, and each worker's
private memory after it), and `current` swapped back.

Each row runs with the thresholds from the dataset's fixture file (as `make run` serves; every
worker parses the whole file, one entry per campaign) and again from the benchmark stub
service over HTTP (how production runs), which leaves only what serving the rollups costs.

Datasets come from bench/generate.py (seed 7): `<label>-parquet` folders in $BENCH_DATA when
that is set and holds them, else generated into bench/out/data/ (the 100M rows take minutes and
about 11 GB of memory to generate).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import itertools
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
BIN = Path(sys.executable).parent
SCALES: dict[str, int | None] = {"visible": None, "10M": 10_000_000, "30M": 30_000_000, "100M": 100_000_000}
WARM_UP_CAMPAIGNS = 2_000
PATHS = ("/campaigns/{id}/performance", "/creators/top?campaign_id={id}&limit=10", "/campaigns/{id}/anomalies")


def dataset(label: str) -> Path:
    rows = SCALES[label]
    if rows is None:
        return ROOT / "data" / label
    for root in (os.environ.get("BENCH_DATA"), str(OUT / "data")):
        if root and (Path(root) / f"{label}-parquet" / "campaigns.parquet").exists():
            return Path(root) / f"{label}-parquet"
    folder = OUT / "data" / f"{label}-parquet"
    command = [sys.executable, "-m", "bench.generate", "--rows", str(rows), "--format", "parquet", "--out", str(folder)]
    subprocess.run(command, check=True, cwd=ROOT)
    return folder


def published(label: str, folder: Path) -> Path:
    rollups = OUT / "rollups" / f"ready-{label}"
    command = [str(BIN / "campaign-analytics"), "build", "--data-dir", str(folder), "--out", str(rollups), "--if-stale"]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return rollups


def campaign_ids(folder: Path) -> list[str]:
    table = folder / "campaigns.parquet"
    frame = pl.read_parquet(table) if table.exists() else pl.read_csv(folder / "campaigns.csv", infer_schema=False)
    return frame["campaign_id"].to_list()


def get(port: int, path: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def private_mb(pid: int) -> float:
    fields = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value, *_ = line.split()
        fields[name.rstrip(":")] = int(value)
    return (fields["Private_Clean"] + fields["Private_Dirty"]) / 1024


def workers_of(pid: int) -> list[int]:
    """The serving processes: `pid` itself, or with --workers its spawned children (not the
    multiprocessing resource tracker)."""
    children = [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    serving = []
    for child in children:
        command = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")
        if b"resource_tracker" not in command:
            serving.append(child)
    return serving or [pid]


def measure(label: str, workers: int, code: Path, benchmarks: str = "fixture", seed: int = 7) -> dict[str, Any]:
    """One row. `benchmarks`: "fixture" (the dataset's benchmarks.json, parsed by every
    worker) or "http" (the stub service of bench/stub_benchmarks.py)."""
    folder = dataset(label)
    rollups = published(label, folder)
    ids = campaign_ids(folder)
    with socket_port() as port, contextlib.ExitStack() as stack:
        env = {**os.environ, "PYTHONPATH": str(code), "DATA_DIR": str(folder), "ROLLUP_DIR": str(rollups)}
        if benchmarks == "fixture":
            env["BENCHMARK_FIXTURES_FILE"] = str(folder / "benchmarks.json")
        else:
            from bench.run import stub_service

            env.pop("BENCHMARK_FIXTURES_FILE", None)
            env["BENCHMARK_API_BASE"] = stack.enter_context(stub_service())
        command = [str(BIN / "uvicorn"), "app:app", "--port", str(port), "--no-access-log", "--log-level", "warning"]
        if workers > 1:
            command += ["--workers", str(workers)]
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while True:
                if process.poll() is not None:
                    raise SystemExit(f"uvicorn exited with {process.returncode}")
                try:
                    if get(port, "/health") == 200:
                        break
                except OSError:
                    pass
                time.sleep(0.005)
            ready = time.perf_counter() - started
            time.sleep(1.0)  # every worker up (the first answer may come from one of them)
            picked = random.Random(seed).sample(ids, min(WARM_UP_CAMPAIGNS, len(ids)))
            statuses = [get(port, path.format(id=cid)) for cid in picked for path in PATHS]
            bad = [s for s in statuses if s != 200]
            if bad:
                raise SystemExit(f"{len(bad)} warm-up requests failed ({bad[:5]})")
            memory = [private_mb(pid) for pid in workers_of(process.pid)]
            pick_up = pick_up_under_requests(port, rollups, picked)
            pick_up["private_mb"] = [private_mb(pid) for pid in workers_of(process.pid)]
        finally:
            process.terminate()
            process.wait(timeout=30)
            shutil.rmtree(rollups / "builds" / COPY, ignore_errors=True)
            if (rollups / "current").resolve().name == COPY:
                raise SystemExit(f"{rollups}/current was left on the copy")
    return {
        "pick_up": pick_up,
        "data": label,
        "benchmarks": benchmarks,
        "campaigns": len(ids),
        "workers": workers,
        "ready_seconds": ready,
        "private_mb": memory,
        "serving_file_mb": serving_file_mb(rollups),
    }


COPY = "zz-pick-up-copy"  # sorts after every build id: the newest folder


def pick_up_under_requests(port: int, rollups: Path, ids: list[str]) -> dict[str, Any]:
    """A pick-up while requests run: the published build copied to a new folder, `current`
    swapped to it, requests (one at a time, timed) until every worker serves the copy, then
    `current` swapped back. The copy holds the same bytes under another build id."""
    link = rollups / "current"
    original = link.resolve()
    copy = rollups / "builds" / COPY
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(original, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    (copy / "manifest.json").write_text(json.dumps(manifest | {"build_id": COPY}))
    swap(link, Path("builds") / COPY)
    latencies: list[float] = []
    seen: list[str] = []
    started = time.perf_counter()
    try:
        for campaign_id in itertools.cycle(ids):
            if time.perf_counter() - started > 120:
                break
            t = time.perf_counter()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            connection.request("GET", f"/campaigns/{campaign_id}/performance")
            response = connection.getresponse()
            response.read()
            connection.close()
            latencies.append(time.perf_counter() - t)
            seen.append(response.getheader("x-build-id") or "")
            if seen[-20:] == [COPY] * 20:
                break
    finally:
        swap(link, Path("builds") / original.name)
    latencies.sort()
    return {
        "seconds": time.perf_counter() - started,
        "requests": len(latencies),
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
        "picked_up": seen[-1:] == [COPY],
    }


def swap(link: Path, target: Path) -> None:
    temporary = link.with_name(".current-bench")
    temporary.unlink(missing_ok=True)
    temporary.symlink_to(target)
    os.replace(temporary, link)


def serving_file_mb(rollups: Path) -> float | None:
    manifest = json.loads((rollups / "current" / "manifest.json").read_text())
    entry = manifest.get("serving")
    return entry["bytes"] / 1e6 if entry else None


class socket_port:
    def __enter__(self) -> int:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])

    def __exit__(self, *_: object) -> None:
        return None


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        f"start-up and private memory per worker (after {WARM_UP_CAMPAIGNS:,} campaigns x 3 read endpoints)",
        "data      benchmarks  campaigns  workers  ready s  private MB per worker  serving file MB"
        "  after a pick-up MB  p99 ms during it",
        "-" * 127,
    ]
    for r in rows:
        memory = ", ".join(f"{m:.0f}" for m in r["private_mb"])
        size = f"{r['serving_file_mb']:.0f}" if r["serving_file_mb"] is not None else "-"
        head = f"{r['data']:<9} {r['benchmarks']:<8} {r['campaigns']:>10,} {r['workers']:>8}"
        pick = r["pick_up"]
        after = ", ".join(f"{m:.0f}" for m in pick["private_mb"]) + ("" if pick["picked_up"] else " (not seen)")
        lines.append(f"{head} {r['ready_seconds']:8.2f}  {memory:<21}  {size:>15}  {after:<18} {pick['p99_ms']:8.1f}")
    return "\n".join(lines)


def run(
    scales: list[str], workers: list[int], code: Path = ROOT / "python", modes: tuple[str, ...] = ("fixture", "http")
) -> list[dict[str, Any]]:
    rows = []
    for mode in modes:
        for label in scales:
            for count in workers:
                rows.append(measure(label, count, code, mode))
                print(f"  ready/memory {mode} {label} x{count}: {rows[-1]['ready_seconds']:.2f} s", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", nargs="+", default=list(SCALES), choices=list(SCALES))
    parser.add_argument("--workers", nargs="+", type=int, default=[1, 2])
    parser.add_argument(
        "--code", type=Path, default=ROOT / "python", help="the python/ folder served (another checkout's, to compare)"
    )
    args = parser.parse_args()
    rows = run(args.scales, args.workers, args.code.resolve())
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"ready_memory-{args.code.resolve().parent.name}.json").write_text(json.dumps(rows, indent=2))
    print()
    print(table(rows))


if __name__ == "__main__":
    main()
