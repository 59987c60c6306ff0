"""Data-quality counts as numbers a reader can judge, and limits that turn them into failures.

The build accepts rows of unknown campaigns (excluded), of unknown creators, odd funnels and
repeated keys (summed), and counts them (docs/contract.md §2). Whether 20 % of repeated keys is fine is the
operator's call: `--max-duplicate-ratio 0.05` makes it a failed build (exit 2, nothing published).

    RATIOS        limit name -> the data-quality count it bounds (a share of the metrics rows)
    check_quality(counts, rows, limits)   raises InvalidSourceData when a share is above its limit
    describe(counts, rows)                "orphan_campaign_rows 1,200 (0.12 %), ..." for the summary
"""

from __future__ import annotations

from collections.abc import Mapping

from campaign_analytics.errors import InvalidSourceData

RATIOS = {
    "duplicate": "duplicate_key_rows_summed",
    "orphan": "orphan_campaign_rows",
    "unknown_creator": "unknown_creator_rows",
}
_WHAT = {
    "duplicate_key_rows_summed": "repeat a (metric_date, campaign_id, creator_id) key and were summed",
    "orphan_campaign_rows": "belong to campaigns missing from campaigns.csv and were excluded",
    "unknown_creator_rows": "name creators missing from creators.csv",
}


def share(count: int, rows: int) -> float:
    return count / rows if rows else 0.0


def percent(count: int, rows: int) -> str:
    value = 100 * share(count, rows)
    return f"{value:.2f} %" if value >= 0.01 or value == 0 else "<0.01 %"


def check_quality(counts: Mapping[str, int], rows: int, limits: Mapping[str, float]) -> None:
    for name, limit in limits.items():
        key = RATIOS[name]
        count = int(counts.get(key, 0))
        if share(count, rows) > limit:
            raise InvalidSourceData(
                f"campaign_daily_metrics: {count:,} of {rows:,} rows ({percent(count, rows)}) {_WHAT[key]}, "
                f"more than --max-{name.replace('_', '-')}-ratio {limit:g}"
            )


def describe(counts: Mapping[str, int], rows: int) -> str:
    """Non-zero counts; row counts also as a share of the metrics rows (ids are just counted)."""
    parts = []
    for key, count in counts.items():
        if not count:
            continue
        parts.append(f"{key} {count:,}" + (f" ({percent(count, rows)})" if "_rows" in key else ""))
    return ", ".join(parts) or "no findings"
