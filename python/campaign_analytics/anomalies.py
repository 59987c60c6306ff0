"""The anomaly rules (SPEC §4): a pure function of a campaign's daily rows and its thresholds.

A day is compared only on what it has: the CTR rule needs impressions, the ROAS rules need
spend. Every comparison is exact: thresholds are kept as the decimals the benchmark service
wrote (never binary floats) and ratios are compared by cross-multiplying integers, so a day
exactly at the threshold is never "below" it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

CTR_BELOW = "ctr_below_threshold"
ROAS_BELOW = "roas_below_threshold"
SPEND_WITHOUT_CONVERSIONS = "spend_without_conversions"


@dataclass(frozen=True)
class Thresholds:
    """Minimums for one campaign, as exact decimals (finite, >= 0: benchmarks.py checks)."""

    min_ctr: Decimal
    min_roas: Decimal


@dataclass(frozen=True)
class Day:
    """One row of the daily rollup: a campaign's day, all creators together."""

    metric_date: str
    impressions: int
    clicks: int
    conversions: int
    spend_micros: int
    revenue_micros: int
    ctr: float  # rounded, for display only
    roas: float  # rounded, for display only


@dataclass(frozen=True)
class Alert:
    metric_date: str
    issues: tuple[str, ...]
    ctr: float
    roas: float


def find_alerts(days: Sequence[Day], thresholds: Thresholds) -> list[Alert]:
    """The days that break a rule, in the order given (the rollup keeps them by date)."""
    ctr_num, ctr_den = thresholds.min_ctr.as_integer_ratio()
    roas_num, roas_den = thresholds.min_roas.as_integer_ratio()
    alerts = []
    for day in days:
        issues = []
        # clicks / impressions < num / den, without division or rounding
        if day.impressions > 0 and day.clicks * ctr_den < ctr_num * day.impressions:
            issues.append(CTR_BELOW)
        if day.spend_micros > 0:
            if day.revenue_micros * roas_den < roas_num * day.spend_micros:
                issues.append(ROAS_BELOW)
            if day.conversions == 0:
                issues.append(SPEND_WITHOUT_CONVERSIONS)
        if issues:
            alerts.append(Alert(day.metric_date, tuple(issues), day.ctr, day.roas))
    return alerts
