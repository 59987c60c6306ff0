"""The comparison build: the same three SQL files run by DuckDB over the same input files.

    python -m bench.duckdb_build DATA_DIR OUT_DIR

Loads the inputs into DuckDB tables of the same shape the polars build gives its SQL (money
as integer micros), defines `div` (polars SQL's integer division) as a macro, runs each SQL
file and writes its result as Parquet. It validates nothing: it is a speed reference only.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import duckdb

SQL_DIR = Path(__file__).resolve().parents[1] / "sql"
ROLLUPS = ("campaign_performance", "top_creators", "daily_anomalies")


def source(data: Path, table: str) -> str:
    parquet = data / f"{table}.parquet"
    if parquet.exists():
        return f"read_parquet('{parquet}')"
    return f"read_csv('{data / f'{table}.csv'}', header = true, all_varchar = true)"


def main() -> None:
    data, out = Path(sys.argv[1]), Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    con = duckdb.connect()
    con.execute("create macro div(a, b) as a // b")
    con.execute(f"create table campaigns as select campaign_id, campaign_name from {source(data, 'campaigns')}")
    con.execute(f"create table creators as select creator_id, creator_name from {source(data, 'creators')}")
    con.execute(
        f"""
        create table metrics as
        select
            cast(metric_date as date) as metric_date, campaign_id, creator_id,
            cast(impressions as bigint) as impressions, cast(clicks as bigint) as clicks,
            cast(conversions as bigint) as conversions,
            cast(cast(spend as decimal(18, 6)) * 1000000 as bigint) as spend_micros,
            cast(cast(nullif(cast(revenue as varchar), '') as decimal(18, 6)) * 1000000 as bigint) as revenue_micros
        from {source(data, "campaign_daily_metrics")}
        """
    )
    for name in ROLLUPS:
        query = (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")
        con.execute(f"copy ({query}) to '{out / f'{name}.parquet'}' (format parquet, compression zstd)")
    print(f"duckdb build {time.perf_counter() - started:.2f} s")


if __name__ == "__main__":
    main()
