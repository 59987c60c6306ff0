"""The comparison build: the same three SQL files run by DuckDB over the same input files.

    python -m bench.duckdb_build DATA_DIR OUT_DIR

Makes the three views docs/contract.md §3a describes (`campaigns`, `creators`, `campaign_daily_metrics`)
over the raw files (CSV as read_csv_auto types it, or Parquet), runs each file's all-campaign
query exactly as the build does (the text above its per-campaign marker, then
`select * from <rollup>`, from `campaign_analytics.build.pipeline.read_sql`), and writes the result as
Parquet in the build's row order. It validates nothing: it is a speed reference only.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import duckdb

from campaign_analytics.build.sql import read_sql


def source(data: Path, table: str) -> str:
    parquet = data / f"{table}.parquet"
    if parquet.exists():
        return f"read_parquet('{parquet}')"
    return f"read_csv_auto('{data / f'{table}.csv'}', header = true)"


def main() -> None:
    data, out = Path(sys.argv[1]), Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    con = duckdb.connect()
    for table in ("campaigns", "creators", "campaign_daily_metrics"):
        con.execute(f"create view {table} as select * from {source(data, table)}")
    for name, sql in read_sql().items():
        order = ", ".join(sql.order)
        query = f"select * from ({sql.rollup_query}) order by {order}"
        con.execute(f"copy ({query}) to '{out / f'{name}.parquet'}' (format parquet, compression zstd)")
    print(f"duckdb build {time.perf_counter() - started:.2f} s")


if __name__ == "__main__":
    main()
