"""Seeded generator of docs/contract.md §2 input files at a chosen scale, as CSV or Parquet.

    python -m bench.generate --rows 1000000 --out bench/out/data/M-csv --format csv --seed 7

Shape: one campaign per 500 metric rows (S 200, M 2,000, L 20,000 campaigns), 5,000 creators,
each campaign running 30-120 days with 5-30 creators of its own. Realistic blemishes, at fixed
rates: 5 % null revenue, 2 % zero impressions (and clicks), 3 % zero spend, 1 % rows that repeat
an earlier row's key (summed by the build), 0.5 % rows of unknown campaigns (excluded), 1 % rows
of creators missing from creators.csv. Parquet files use native types (Int64, Date,
Decimal(18, 6) money), CSV files plain text. Everything derives from the seed with polars'
hash, so the same arguments write the same files.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import polars as pl

ROWS_PER_CAMPAIGN = 500
CREATORS = 5_000
SCALES = {"S": 100_000, "M": 1_000_000, "L": 10_000_000, "L3": 30_000_000, "XL": 100_000_000}
# CSV files past L would be 2-6 GB of text: the larger scales are generated as Parquet only
CSV_SCALES = ("S", "M", "L")


def _rand(seed: int, salt: int, modulus: int) -> pl.Expr:
    """A deterministic pseudo-random integer in [0, modulus) per row."""
    return (pl.col("i").hash(seed=seed * 1_000_003 + salt) % modulus).cast(pl.Int64)


def _decimal_text(micros: pl.Expr) -> pl.Expr:
    whole = (micros // 1_000_000).cast(pl.String)
    frac = (micros % 1_000_000).cast(pl.String).str.zfill(6).str.strip_chars_end("0")
    return pl.when(frac == "").then(whole).otherwise(pl.concat_str(whole, pl.lit("."), frac))


def metrics(rows: int, seed: int) -> pl.DataFrame:
    campaigns = max(1, rows // ROWS_PER_CAMPAIGN)
    base = pl.DataFrame({"i": pl.int_range(0, rows, eager=True, dtype=pl.Int64)}).lazy()
    frame = base.with_columns(
        campaign=pl.col("i") % campaigns,
        impressions=_rand(seed, 1, 20_000),
        ctr_permille=_rand(seed, 2, 80),
        cvr_permille=_rand(seed, 3, 150),
        spend_micros=_rand(seed, 4, 500_000_000),
        roas_percent=_rand(seed, 5, 600),
        blemish=_rand(seed, 6, 1000),
        pick=_rand(seed, 7, 1_000_000),
    ).with_columns(
        # each campaign works with its own 5-30 creators
        creator=(pl.col("campaign") * 7_919 + pl.col("pick") % (5 + pl.col("campaign") % 26)) % CREATORS,
        # each campaign runs for 30-120 days from its own start; rows walk through those days
        day=(pl.col("i") // campaigns) % (30 + (pl.col("campaign") * 7919 + seed) % 91),
        start=(pl.col("campaign") * 104_729 + seed) % 300,
    )
    frame = frame.with_columns(
        impressions=pl.when(pl.col("blemish") < 20).then(0).otherwise(pl.col("impressions")),
        spend_micros=pl.when(pl.col("blemish").is_between(20, 49)).then(0).otherwise(pl.col("spend_micros")),
    ).with_columns(
        clicks=pl.col("impressions") * pl.col("ctr_permille") // 1000,
    )
    frame = frame.with_columns(
        conversions=pl.col("clicks") * pl.col("cvr_permille") // 1000,
        revenue_micros=pl.when(pl.col("blemish").is_between(50, 99))
        .then(None)
        .otherwise(pl.col("spend_micros") * pl.col("roas_percent") // 100),
        metric_date=pl.date(2025, 1, 1) + pl.duration(days=pl.col("start") + pl.col("day")),
        campaign_id=pl.when(pl.col("blemish").is_between(100, 104))
        .then(pl.format("cmp-x{}", pl.col("campaign")))  # not in campaigns.csv
        .otherwise(pl.format("cmp-{}", pl.col("campaign").cast(pl.String).str.zfill(6))),
        creator_id=pl.when(pl.col("blemish").is_between(105, 114))
        .then(pl.format("crt-x{}", pl.col("creator")))  # not in creators.csv
        .otherwise(pl.format("crt-{}", pl.col("creator").cast(pl.String).str.zfill(5))),
    )
    out = frame.select(
        "metric_date",
        "campaign_id",
        "creator_id",
        "impressions",
        "clicks",
        "conversions",
        "spend_micros",
        "revenue_micros",
        "blemish",
        "i",
    ).collect()
    # 1 %: rows that repeat the key of an earlier row, with their own numbers
    repeats = out.filter(pl.col("blemish").is_between(115, 124)).with_columns(
        impressions=pl.col("impressions") // 2, clicks=pl.col("clicks") // 2, conversions=pl.col("conversions") // 2
    )
    keep = rows - repeats.height
    return pl.concat([out.head(keep), repeats]).drop("blemish", "i")


def write(rows: int, out: Path, fmt: str, seed: int) -> dict[str, float]:
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    frame = metrics(rows, seed)
    campaigns = pl.DataFrame({"n": pl.int_range(0, max(1, rows // ROWS_PER_CAMPAIGN), eager=True)}).select(
        campaign_id=pl.format("cmp-{}", pl.col("n").cast(pl.String).str.zfill(6)),
        campaign_name=pl.format("Campaign {}", pl.col("n")),
    )
    creators = pl.DataFrame({"n": pl.int_range(0, CREATORS, eager=True)}).select(
        creator_id=pl.format("crt-{}", pl.col("n").cast(pl.String).str.zfill(5)),
        creator_name=pl.format("Creator {}", pl.col("n")),
    )
    for stale in out.glob("*.*"):
        stale.unlink()
    if fmt == "parquet":
        money = pl.Decimal(18, 6)
        frame = frame.with_columns(
            spend=(pl.col("spend_micros").cast(pl.Decimal(18, 0)) / 1_000_000).cast(money),
            revenue=(pl.col("revenue_micros").cast(pl.Decimal(18, 0)) / 1_000_000).cast(money),
        ).drop("spend_micros", "revenue_micros")
        frame.write_parquet(out / "campaign_daily_metrics.parquet")
        campaigns.write_parquet(out / "campaigns.parquet")
        creators.write_parquet(out / "creators.parquet")
    else:
        frame = frame.with_columns(
            spend=_decimal_text(pl.col("spend_micros")), revenue=_decimal_text(pl.col("revenue_micros"))
        ).drop("spend_micros", "revenue_micros")
        frame.write_csv(out / "campaign_daily_metrics.csv")
        campaigns.write_csv(out / "campaigns.csv")
        creators.write_csv(out / "creators.csv")
    ids = campaigns["campaign_id"].to_list()
    (out / "benchmarks.json").write_text(
        "{" + ",".join(f'"{cid}": {{"min_ctr": 0.02, "min_roas": 1.5}}' for cid in ids) + "}\n"
    )
    return {"rows": frame.height, "campaigns": campaigns.height, "seconds": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, help="metric rows (or use --scale)")
    parser.add_argument("--scale", choices=sorted(SCALES), help="S=100k, M=1M, L=10M, L3=30M, XL=100M rows")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--format", choices=("csv", "parquet"), default="csv")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rows = args.rows or SCALES[args.scale or "S"]
    info = write(rows, args.out, args.format, args.seed)
    print(
        f"wrote {info['rows']:,} metric rows, {info['campaigns']:,} campaigns to {args.out} in {info['seconds']:.1f} s"
    )


if __name__ == "__main__":
    main()
