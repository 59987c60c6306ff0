"""The design the service replaced, as the serving baseline: each request runs the endpoint's
SQL file through DuckDB over the raw CSV files, filtered to the campaign.

    DATA_DIR=... uvicorn bench.baseline_app:app --port 8098

Only the three read endpoints and /livez; thresholds for anomalies are not applied (the
query is the expensive part being measured).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import duckdb
from fastapi import FastAPI
from fastapi.responses import Response

SQL_DIR = Path(__file__).resolve().parents[1] / "sql"
DATA = Path(os.environ["DATA_DIR"])
_local = threading.local()

app = FastAPI()


def connection() -> duckdb.DuckDBPyConnection:
    if not hasattr(_local, "con"):
        con = duckdb.connect()
        con.execute("create macro div(a, b) as a // b")
        csv = "header = true, all_varchar = true"
        con.execute(f"create view campaigns as select * from read_csv('{DATA / 'campaigns.csv'}', {csv})")
        con.execute(f"create view creators as select * from read_csv('{DATA / 'creators.csv'}', {csv})")
        con.execute(
            f"""create view metrics as select cast(metric_date as date) as metric_date, campaign_id, creator_id,
            cast(impressions as bigint) as impressions, cast(clicks as bigint) as clicks,
            cast(conversions as bigint) as conversions,
            cast(cast(spend as decimal(18, 6)) * 1000000 as bigint) as spend_micros,
            cast(cast(nullif(revenue, '') as decimal(18, 6)) * 1000000 as bigint) as revenue_micros
            from read_csv('{DATA / "campaign_daily_metrics.csv"}', {csv})"""
        )
        _local.con = con
    return _local.con


def run(name: str, campaign_id: str, limit: int | None = None) -> Response:
    query = f"select * from ({(SQL_DIR / f'{name}.sql').read_text()}) where campaign_id = ?"
    if limit is not None:
        query += f" order by rank limit {int(limit)}"
    rows = connection().execute(query, [campaign_id]).fetchall()
    if not rows and name == "campaign_performance":
        return Response(b'{"detail":"not found"}', status_code=404)
    return Response(str(rows).encode(), media_type="application/json")


@app.get("/livez")
def livez() -> Response:
    return Response(b'{"status":"alive"}', media_type="application/json")


@app.get("/campaigns/{campaign_id}/performance")
def performance(campaign_id: str) -> Response:
    return run("campaign_performance", campaign_id)


@app.get("/creators/top")
def top(campaign_id: str, limit: int = 10) -> Response:
    return run("top_creators", campaign_id, limit)


@app.get("/campaigns/{campaign_id}/anomalies")
def anomalies(campaign_id: str) -> Response:
    return run("daily_anomalies", campaign_id)
