"""The build on three engines: the default (polars), DuckDB, and Spark in local mode.

    python -m bench.spark --scales S M L          # what `make bench-spark` runs
    python -m bench.spark --scales M --formats parquet

Each command runs as its own process tree; its wall time and the peak of the summed resident
memory of every process in the tree (Spark's JVM included, which a child's ru_maxrss misses:
the JVM is a grandchild of the CLI under pyspark) are sampled from /proc every 50 ms. One run
per case, the engines interleaved; nothing asserts, it prints a table (also bench/out/spark.txt).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from bench.generate import SCALES
from bench.run import BIN, OUT, PY, ROOT, data, machine

_PAGE = os.sysconf("SC_PAGE_SIZE")


def _tree(root: int) -> list[int]:
    """`root` and every process below it, from /proc's parent links."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE
        except (OSError, IndexError, ValueError):
            continue
    return total / 2**20


def measure_tree(command: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Wall time and peak summed RSS of the whole process tree of `command`."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    peak = 0.0
    while process.poll() is None:
        peak = max(peak, _rss_mb(_tree(process.pid)))
        time.sleep(0.05)
    seconds = time.perf_counter() - started
    err = process.stderr.read().decode(errors="replace") if process.stderr else ""
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({process.returncode}): {err[-2000:]}")
    return {"seconds": seconds, "peak_mb": peak}


def commands(folder: Path, case: str) -> dict[str, list[str]]:
    cli = str(BIN / "campaign-analytics")
    return {
        "polars": [cli, "build", "--data-dir", str(folder), "--out", str(OUT / "rollups-engines" / f"{case}-polars")],
        "duckdb": [PY, "-m", "bench.duckdb_build", str(folder), str(OUT / "duckdb" / case)],
        "spark": [
            cli,
            "build",
            "--engine",
            "spark",
            "--data-dir",
            str(folder),
            "--out",
            str(OUT / "rollups-engines" / f"{case}-spark"),
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", nargs="+", default=["S", "M", "L"], choices=sorted(SCALES))
    parser.add_argument("--formats", nargs="+", default=["csv", "parquet"], choices=["csv", "parquet"])
    args = parser.parse_args()
    rows = []
    for scale in args.scales:
        for fmt in args.formats:
            folder = data(scale, fmt)
            case = f"{scale}-{fmt}"
            result = {name: measure_tree(command) for name, command in commands(folder, case).items()}
            rows.append((scale, fmt, result))
            shown = ", ".join(f"{k} {v['seconds']:.1f} s {v['peak_mb']:.0f} MB" for k, v in result.items())
            print(f"  {case}: {shown}", flush=True)
    lines = [
        f"machine: {machine()}; Spark in local mode on every core (local[*])",
        "",
        "build                          polars s  peak MB  duckdb s  peak MB  spark s  peak MB  spark/polars",
        "-" * 100,
    ]
    for scale, fmt, r in rows:
        cells = "  ".join(f"{r[e]['seconds']:7.2f} {r[e]['peak_mb']:8.0f}" for e in ("polars", "duckdb", "spark"))
        ratio = r["spark"]["seconds"] / r["polars"]["seconds"]
        lines.append(f"{scale} {SCALES[scale]:>10,} rows {fmt:<8} {cells}  {ratio:11.1f}x")
    report = "\n".join(lines)
    (OUT / "spark.txt").write_text(report + "\n")
    print()
    print(report)


if __name__ == "__main__":
    main()
