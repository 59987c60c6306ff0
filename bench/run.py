"""The benchmarks: build (ours vs DuckDB) and serving (each endpoint vs /livez), one table.

    python -m bench.run --scales S M          # what `make bench` runs (a few minutes)
    python -m bench.run --scales L --no-serve # the 10M-row build comparison and L start-up
    python -m bench.run --scales L L3 XL --no-serve --repeats 1   # 10M, 30M, 100M rows (Parquet)
    python -m bench.run --no-build --no-serve --ops-overhead S   # logging and metrics on vs off
    python -m bench.run --no-build --no-serve --ready visible 10M  # start-up and memory per worker
    python -m bench.run --no-build --serving-data DIR         # the serving rows on a generated dataset

Everything is measured in this run, on this machine, and reported as ratios to a baseline
measured alongside it: the build against DuckDB running the same SQL files on the same
inputs; each read endpoint against /livez on the same server; and the design this service
replaced (DuckDB over the CSV files on every request). Nothing here asserts; it prints.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl

from bench import ready_memory
from bench.generate import CSV_SCALES, SCALES
from campaign_analytics.http.protocol import UVICORN_ARGS

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
PY = sys.executable
BIN = Path(PY).parent

# Runs a command and reports its wall time and peak RSS (of that command alone).
_MEASURE = """
import json, resource, subprocess, sys, time
t = time.perf_counter()
done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
s = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps({"seconds": s, "peak_mb": peak, "rc": done.returncode, "err": done.stderr[-500:]}))
"""


def measure(command: list[str]) -> dict[str, Any]:
    out = subprocess.run([PY, "-c", _MEASURE, *command], capture_output=True, text=True, check=True, cwd=ROOT)
    result: dict[str, Any] = json.loads(out.stdout)
    if result["rc"] != 0:
        raise SystemExit(f"{' '.join(command)} failed: {result['err']}")
    return result


def data(scale: str, fmt: str) -> Path:
    """The seeded dataset of `scale` in `fmt`, generated once into bench/out/data/<scale>-<fmt>
    (XL: 100M rows, 1.1 GB of Parquet, about 11 GB of memory for 80 s while it is generated)."""
    folder = OUT / "data" / f"{scale}-{fmt}"
    stamp = folder / ".generated"
    if not stamp.exists():
        subprocess.run(
            [PY, "-m", "bench.generate", "--scale", scale, "--format", fmt, "--out", str(folder)], check=True, cwd=ROOT
        )
        stamp.write_text("seed 7\n")
    return folder


# --- build ---------------------------------------------------------------------------------


def bench_build(scales: list[str], repeats: int) -> list[dict[str, Any]]:
    rows = []
    for scale in scales:
        for fmt in ("csv", "parquet") if scale in CSV_SCALES else ("parquet",):
            folder = data(scale, fmt)
            ours, duck = [], []
            for _ in range(repeats):  # interleaved, best of `repeats`
                out = OUT / "rollups" / f"{scale}-{fmt}"
                ours.append(
                    measure([str(BIN / "campaign-analytics"), "build", "--data-dir", str(folder), "--out", str(out)])
                )
                duck.append(
                    measure([PY, "-m", "bench.duckdb_build", str(folder), str(OUT / "duckdb" / f"{scale}-{fmt}")])
                )
            best_ours = min(ours, key=lambda r: r["seconds"])
            best_duck = min(duck, key=lambda r: r["seconds"])
            rows.append(
                {
                    "scale": scale,
                    "rows": SCALES[scale],
                    "format": fmt,
                    "seconds": best_ours["seconds"],
                    "peak_mb": max(r["peak_mb"] for r in ours),
                    "duckdb_seconds": best_duck["seconds"],
                    "duckdb_peak_mb": max(r["peak_mb"] for r in duck),
                    "rollup_rows": rollup_rows(OUT / "rollups" / f"{scale}-{fmt}"),
                }
            )
            print(
                f"  build {scale} {fmt}: {best_ours['seconds']:.2f} s vs duckdb {best_duck['seconds']:.2f} s",
                flush=True,
            )
    return rows


def rollup_rows(rollup_dir: Path) -> dict[str, int]:
    """Rows of each rollup of the build published in `rollup_dir` (its manifest says)."""
    manifest = json.loads((rollup_dir / "current" / "manifest.json").read_text())
    return {name: int(entry["rows"]) for name, entry in manifest["outputs"].items()}


# --- serving -------------------------------------------------------------------------------
#
# The server gets core 0 to itself; the load generator and the benchmark stub share core 1, so
# what the server spends on a request is what limits its rate (on one core, nothing else pinned).
_PIN = shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2
SERVER_CORE = ["taskset", "-c", "0"] if _PIN else []
LOAD_CORE = ["taskset", "-c", "1"] if _PIN else []
# The serving dataset: 3,000 campaigns (500 metric rows each), the size every serving row has been measured at.
SERVING_ROWS = 1_500_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_up(url: str, process: subprocess.Popen[bytes], timeout: float = 120) -> float:
    started = time.perf_counter()
    while True:
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return time.perf_counter() - started
        except OSError:
            pass
        if time.perf_counter() - started > timeout:
            raise SystemExit(f"{url} did not answer in {timeout} s")
        time.sleep(0.01)


@contextlib.contextmanager
def server(app: str, env: dict[str, str], stderr: Any = subprocess.DEVNULL) -> Iterator[tuple[str, float]]:
    """`uvicorn APP` as the README's production command starts it (the bounded protocol, asyncio's
    event loop: UVICORN_ARGS); yields (base url, seconds until /livez answered)."""
    port = free_port()
    command = [*SERVER_CORE, str(BIN / "uvicorn"), app, "--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
    command += UVICORN_ARGS
    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": "python", **env},
        stdout=subprocess.DEVNULL,
        stderr=stderr,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(url + "/livez", process)
        yield url, time.perf_counter() - started
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # the old design may still be busy with queries
            process.kill()
            process.wait()


def load(url: str, pattern: str, ids: Path, seconds: float, timeout: float = 2) -> dict[str, float]:
    if shutil.which("wrk"):
        out = subprocess.run(
            [
                *LOAD_CORE,
                "wrk",
                "-t1",
                "-c32",
                f"-d{seconds:g}s",
                f"--timeout={timeout:g}s",
                "--latency",
                "-s",
                str(ROOT / "bench" / "ids.lua"),
                url,
            ],
            env={**os.environ, "IDS_FILE": str(ids), "PATTERN": pattern},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return {"rps": _wrk(out, "Requests/sec:"), "p50_ms": _wrk_ms(out, "50%"), "p99_ms": _wrk_ms(out, "99%")}
    out = subprocess.run(
        [
            *LOAD_CORE,
            PY,
            "-m",
            "bench.load",
            "--url",
            url,
            "--pattern",
            pattern,
            "--ids",
            str(ids),
            "--seconds",
            str(seconds),
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    return dict(json.loads(out))


def _wrk(out: str, label: str) -> float:
    return float(next(line.split()[1] for line in out.splitlines() if line.strip().startswith(label)))


def _wrk_ms(out: str, label: str) -> float:
    value = next(line.split()[1] for line in out.splitlines() if line.strip().startswith(label))
    for unit, factor in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if value.endswith(unit):
            return float(value[: -len(unit)]) * factor
    return float(value)


ENDPOINTS = {
    "livez": "/livez",
    "performance": "/campaigns/{id}/performance",
    "top creators": "/creators/top?campaign_id={id}&limit=10",
    "anomalies (fixture)": "/campaigns/{id}/anomalies",
}


def rounds(
    url: str, names: list[str], patterns: dict[str, str], ids: Path, count: int, seconds: float, timeout: float = 2
) -> dict[str, Any]:
    """Interleave the endpoints `count` times; the median round of each is reported."""
    seen: dict[str, list[dict[str, float]]] = {n: [] for n in names}
    for _ in range(count):
        for name in names:
            seen[name].append(load(url, patterns[name], ids, seconds, timeout))
    return {n: sorted(r, key=lambda x: x["rps"])[len(r) // 2] for n, r in seen.items()}


# The anomalies rows served with live thresholds: (row, the stub app in bench/stub_benchmarks.py).
HTTP_ROWS = [("anomalies (HTTP stub)", "app"), ("anomalies (HTTP, max-age)", "app_max_age")]


def bench_http_stub(
    name: str, stub_app: str, base_env: dict[str, str], ids: Path, count: int, seconds: float
) -> dict[str, Any]:
    """`name` and that server's /livez, with thresholds from the stub app `stub_app`."""
    with (
        stub_service(stub_app) as stub_url,
        server("app:app", {**base_env, "BENCHMARK_API_BASE": stub_url}) as (url, _),
    ):
        patterns = {"livez": "/livez", name: "/campaigns/{id}/anomalies"}
        load(url, patterns[name], ids, 2)
        return rounds(url, list(patterns), patterns, ids, count, seconds)


@contextlib.contextmanager
def stub_service(stub_app: str = "app") -> Iterator[str]:
    """The benchmark stub `bench.stub_benchmarks:<stub_app>` on the load generator's core;
    yields its base URL."""
    port = free_port()
    quiet = ["--no-access-log", "--log-level", "warning"]
    stub = subprocess.Popen(
        [*LOAD_CORE, str(BIN / "uvicorn"), f"bench.stub_benchmarks:{stub_app}", "--port", str(port), *quiet], cwd=ROOT
    )
    try:
        wait_until_up(f"http://127.0.0.1:{port}/health", stub)
        yield f"http://127.0.0.1:{port}"
    finally:
        stub.terminate()
        stub.wait(timeout=10)


def serving_data() -> Path:
    folder = OUT / "data" / "serving-csv"
    stamp = folder / ".generated"
    if not stamp.exists():
        subprocess.run(
            [PY, "-m", "bench.generate", "--rows", str(SERVING_ROWS), "--format", "csv", "--out", str(folder)],
            check=True,
            cwd=ROOT,
        )
        stamp.write_text("seed 7\n")
    return folder


def bench_serving(scale: str, count: int, seconds: float, folder: Path | None = None) -> dict[str, Any]:
    """The serving rows on the serving dataset (or `folder`, a generated dataset of any size)."""
    if folder is None:
        folder = serving_data() if scale == "serving" else data(scale, "csv")
        rollups = OUT / "rollups" / f"{scale}-csv"
    else:
        scale, rollups = folder.name, OUT / "rollups" / f"ready-{folder.name.removesuffix('-parquet')}"
    subprocess.run(
        [str(BIN / "campaign-analytics"), "build", "--data-dir", str(folder), "--out", str(rollups), "--if-stale"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    ids = OUT / f"ids-{scale}.txt"
    table = folder / "campaigns.parquet"
    campaigns = pl.read_parquet(table) if table.exists() else pl.read_csv(folder / "campaigns.csv", infer_schema=False)
    ids.write_text("\n".join(campaigns["campaign_id"].to_list()) + "\n")
    base_env = {"DATA_DIR": str(folder), "ROLLUP_DIR": str(rollups)}
    results: dict[str, Any] = {"campaigns": len(ids.read_text().split())}
    fixture_env = {**base_env, "BENCHMARK_FIXTURES_FILE": str(folder / "benchmarks.json")}
    results["cold"] = bench_cold(fixture_env, base_env, ids, seconds)
    with server("app:app", fixture_env) as (url, startup):
        results["startup_seconds"] = startup
        for pattern in ENDPOINTS.values():  # warm: every campaign asked for before measuring
            load(url, pattern, ids, 2)
        results["ours"] = rounds(url, list(ENDPOINTS), ENDPOINTS, ids, count, seconds)
    results["http"] = {
        name: bench_http_stub(name, stub_app, base_env, ids, count, seconds) for name, stub_app in HTTP_ROWS
    }
    if not (folder / "campaigns.csv").exists():  # the old design reads CSV files only
        results["baseline"] = {name: {"rps": float("nan")} for name in ENDPOINTS}
        return results
    with server("bench.baseline_app:app", {"DATA_DIR": str(folder)}) as (url, _):
        # every request reads the CSV files: long rounds and a long timeout, or nothing completes
        results["baseline"] = rounds(url, list(ENDPOINTS), ENDPOINTS, ids, 1, 2 * seconds, timeout=60)
    return results


def bench_cold(fixture_env: dict[str, str], base_env: dict[str, str], ids: Path, seconds: float) -> dict[str, Any]:
    """Each row on a server started for it and loaded at once: the first touch of every
    campaign is inside the measurement (one round of `seconds`)."""
    cold: dict[str, Any] = {}
    for name, pattern in ENDPOINTS.items():
        with server("app:app", fixture_env) as (url, _):
            cold[name] = load(url, pattern, ids, seconds)
    with stub_service() as stub_url, server("app:app", {**base_env, "BENCHMARK_API_BASE": stub_url}) as (url, _):
        cold["anomalies (HTTP stub)"] = load(url, "/campaigns/{id}/anomalies", ids, seconds)
    return cold


# Logging and metrics: the same server with its access log and request metrics on
# (the default, writing its log to a file as a container's runtime would) and off.
OPS_ENDPOINTS = {k: ENDPOINTS[k] for k in ("livez", "performance", "top creators")}


def bench_ops_overhead(scale: str, count: int, seconds: float) -> dict[str, Any]:
    folder = data(scale, "csv")
    rollups = OUT / "rollups" / f"{scale}-csv"
    subprocess.run(
        [str(BIN / "campaign-analytics"), "build", "--data-dir", str(folder), "--out", str(rollups), "--if-stale"],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ids = OUT / f"ids-{scale}.txt"
    ids.write_text("\n".join(pl.read_csv(folder / "campaigns.csv")["campaign_id"].to_list()) + "\n")
    env = {
        "DATA_DIR": str(folder),
        "ROLLUP_DIR": str(rollups),
        "BENCHMARK_FIXTURES_FILE": str(folder / "benchmarks.json"),
    }
    names = list(OPS_ENDPOINTS)
    seen: dict[str, dict[str, list[dict[str, float]]]] = {"on": {n: [] for n in names}, "off": {n: [] for n in names}}
    with (
        (OUT / "ops-access.log").open("w") as log_file,
        server("app:app", env, stderr=log_file) as (on_url, _),
        server("app:app", {**env, "ACCESS_LOG": "0", "METRICS": "0"}) as (off_url, _),
    ):
        for url in (on_url, off_url):
            for pattern in OPS_ENDPOINTS.values():
                load(url, pattern, ids, 1)
        for _ in range(count):  # interleaved: on and off see the same machine noise
            for name in names:
                seen["on"][name].append(load(on_url, OPS_ENDPOINTS[name], ids, seconds))
                seen["off"][name].append(load(off_url, OPS_ENDPOINTS[name], ids, seconds))
    return {
        mode: {n: sorted(r, key=lambda x: x["rps"])[len(r) // 2] for n, r in results.items()}
        for mode, results in seen.items()
    } | {"scale": scale}


def ops_table(ops: dict[str, Any], seconds: float, n: int) -> list[str]:
    lines = [
        f"logging and metrics, {ops['scale']} rollups, 32 connections, median of {n} x {seconds:g} s",
        "endpoint                 on req/s  off req/s  on/off  on p99 ms  off p99 ms",
        "-" * 78,
    ]
    for name in OPS_ENDPOINTS:
        on, off = ops["on"][name], ops["off"][name]
        lines.append(
            f"{name:<24} {on['rps']:9.0f} {off['rps']:10.0f} {on['rps'] / off['rps']:7.1%} "
            f"{on['p99_ms']:9.2f} {off['p99_ms']:11.2f}"
        )
    return [*lines, ""]


def bench_startup(scale: str) -> float:
    folder = data(scale, "parquet")
    rollups = OUT / "rollups" / f"{scale}-parquet"
    if not (rollups / "current").exists():
        subprocess.run(
            [str(BIN / "campaign-analytics"), "build", "--data-dir", str(folder), "--out", str(rollups)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    env = {
        "DATA_DIR": str(folder),
        "ROLLUP_DIR": str(rollups),
        "BENCHMARK_FIXTURES_FILE": str(folder / "benchmarks.json"),
    }
    with server("app:app", env) as (_, seconds):
        return seconds


# --- report --------------------------------------------------------------------------------


def machine() -> str:
    models = [
        ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines() if "model name" in ln
    ]
    loadgen = "wrk" if shutil.which("wrk") else "bench/load.py (wrk not installed)"
    cpu = models[0] if models else platform.processor()
    return (
        f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, polars {pl.__version__}, load: {loadgen}"
    )


def _serving_line(name: str, r: dict[str, float], reference: float, extra: str) -> str:
    share = r["rps"] / reference
    return f"{name:<24} {r['rps']:8.0f} {share:8.0%} {r['p50_ms']:7.2f} {r['p99_ms']:7.2f}   {extra}"


def table(
    build: list[dict[str, Any]], serving: dict[str, Any], startups: dict[str, float], seconds: float, n: int
) -> str:
    lines = [f"machine: {machine()}", ""]
    if build:
        lines += [
            "build                           ours s  peak MB  duckdb s  peak MB  time  memory  rollup rows",
            "-" * 100,
        ]
        for r in build:
            case = f"{r['scale']:<2} {r['rows']:>11,} rows {r['format']:<8}"
            ours = f"{r['seconds']:6.2f} {r['peak_mb']:8.0f}"
            duck = f"{r['duckdb_seconds']:8.2f} {r['duckdb_peak_mb']:8.0f}"
            ratios = f"{r['seconds'] / r['duckdb_seconds']:5.2f}x {r['peak_mb'] / r['duckdb_peak_mb']:6.2f}x"
            rollups = r.get("rollup_rows", {})
            lines.append(f"{case} {ours}  {duck}  {ratios}  {' / '.join(f'{n:,}' for n in rollups.values())}")
        lines.append("(rollup rows: campaign_performance / top_creators / daily_anomalies)")
        lines.append("")
    if serving.get("cold"):
        cold = serving["cold"]
        lines += [
            f"serving cold: {serving['campaigns']:,} campaigns, a fresh server per row, loaded at once"
            f" for {seconds:g} s (first touches included)",
            "endpoint                    req/s  of livez  p50 ms  p99 ms",
            "-" * 64,
        ]
        for name, r in cold.items():
            lines.append(_serving_line(name, r, cold["livez"]["rps"], ""))
        lines.append("")
    if serving.get("ours"):
        ours, http, old = serving["ours"], serving["http"], serving["baseline"]
        livez = ours["livez"]["rps"]
        lines += [
            f"serving warm: {serving['campaigns']:,} campaigns, 32 connections, median of {n} x {seconds:g} s"
            f"{'; server on core 0, load and stub on core 1' if _PIN else ''}",
            "endpoint                    req/s  of livez  p50 ms  p99 ms   old design (DuckDB per request) req/s",
            "-" * 100,
        ]
        for name, r in ours.items():
            lines.append(_serving_line(name, r, livez, f"{old[name]['rps']:.1f}"))
        for name, row in http.items():
            lines.append(_serving_line(name, row[name], row["livez"]["rps"], "(of that server's livez)"))
        lines.append("")
    if serving.get("ops"):
        lines += ops_table(serving["ops"], seconds, n)
    if startups:
        lines.append("start-up until /livez answers: " + ", ".join(f"{k} {v:.2f} s" for k, v in startups.items()))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", nargs="+", default=["S", "M"], choices=sorted(SCALES))
    parser.add_argument("--no-serve", action="store_true", help="skip the serving benchmark")
    parser.add_argument("--seconds", type=float, default=5, help="length of one load round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2, help="build runs per case (best is kept)")
    parser.add_argument("--no-build", action="store_true", help="skip the build benchmark")
    parser.add_argument(
        "--ops-overhead", choices=sorted(SCALES), help="also compare logging and metrics on vs off at this scale"
    )
    parser.add_argument(
        "--ready",
        nargs="*",
        default=[],
        choices=list(ready_memory.SCALES),
        help="also the start-up and private memory per worker at these scales (bench/ready_memory.py)",
    )
    parser.add_argument("--serving-data", type=Path, help="run the serving rows on this generated dataset instead")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    build = [] if args.no_build else bench_build(args.scales, args.repeats)
    serving = {} if args.no_serve else bench_serving("serving", args.rounds, args.seconds, args.serving_data)
    if args.ops_overhead:
        serving["ops"] = bench_ops_overhead(args.ops_overhead, args.rounds, args.seconds)
    startups = {} if args.no_build else {f"{s} rollups": bench_startup(s) for s in args.scales if s in ("M", "L")}
    if serving.get("startup_seconds"):
        startups[f"serving rollups ({serving['campaigns']:,} campaigns)"] = serving["startup_seconds"]
    report = table(build, serving, startups, args.seconds, args.rounds)
    if args.ready:
        ready = ready_memory.run(args.ready, [1, 2])
        report += "\n\n" + ready_memory.table(ready)
        serving["ready"] = ready
    (OUT / "results.txt").write_text(report + "\n")
    (OUT / "results.json").write_text(json.dumps({"build": build, "serving": serving, "startup": startups}, indent=2))
    print()
    print(report)
    print(f"\n(total {time.perf_counter() - started:.0f} s; also in bench/out/results.txt)")


if __name__ == "__main__":
    main()
