"""The anomaly rules (SPEC §4): a pure function of a campaign's daily rows and its thresholds.

A day is compared only on what it has: the CTR rule needs impressions, the ROAS rules need
spend. Every comparison is exact: thresholds are kept as the decimals the benchmark service
wrote (never binary floats) and ratios are compared by cross-multiplying integers (or as
`Fraction`s), so a day exactly at the threshold is never "below" it.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

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


def alert_issues(days: Sequence[Day], thresholds: Thresholds) -> list[tuple[int, tuple[str, ...]]]:
    """(position in `days`, issues) of every day that breaks a rule, in the order given.

    The rules written out day by day; `DayIndex` answers the same question faster and is
    tested against this.
    """
    ctr_num, ctr_den = thresholds.min_ctr.as_integer_ratio()
    roas_num, roas_den = thresholds.min_roas.as_integer_ratio()
    found = []
    for i, day in enumerate(days):
        impressions, spend = day.impressions, day.spend_micros
        # clicks / impressions < num / den, without division or rounding
        ctr_low = impressions > 0 and day.clicks * ctr_den < ctr_num * impressions
        if spend > 0:
            roas_low = day.revenue_micros * roas_den < roas_num * spend
            idle = day.conversions == 0
            if ctr_low or roas_low or idle:
                found.append((i, _ISSUES[ctr_low, roas_low, idle]))
        elif ctr_low:
            found.append((i, (CTR_BELOW,)))
    return found


class DayIndex:
    """A campaign's days, ordered by exact CTR and by exact ROAS, so that "which days are below
    this threshold" is a binary search plus the days found, not a pass over every day.

    The orders are made on first use (a few microseconds a day) and kept: the days never change.
    """

    __slots__ = ("_ctr_days", "_ctr_keys", "_idle", "_roas_days", "_roas_keys", "days")

    def __init__(self, days: Sequence[Day]) -> None:
        self.days = days
        self._ctr_keys: list[Fraction] | None = None

    def _prepare(self) -> list[Fraction]:
        days = self.days
        ctr = sorted((Fraction(d.clicks, d.impressions), i) for i, d in enumerate(days) if d.impressions > 0)
        roas = sorted((Fraction(d.revenue_micros, d.spend_micros), i) for i, d in enumerate(days) if d.spend_micros > 0)
        self._ctr_days = [i for _, i in ctr]
        self._roas_days = [i for _, i in roas]
        self._roas_keys = [key for key, _ in roas]
        self._idle = frozenset(i for i, d in enumerate(days) if d.spend_micros > 0 and d.conversions == 0)
        self._ctr_keys = [key for key, _ in ctr]
        return self._ctr_keys

    def alert_issues(self, thresholds: Thresholds) -> list[tuple[int, tuple[str, ...]]]:
        """Exactly `alert_issues(self.days, thresholds)`."""
        ctr_keys = self._ctr_keys if self._ctr_keys is not None else self._prepare()
        # bisect_left counts the keys strictly below the threshold: equal is not below
        low_ctr = self._ctr_days[: bisect_left(ctr_keys, Fraction(thresholds.min_ctr))]
        low_roas = self._roas_days[: bisect_left(self._roas_keys, Fraction(thresholds.min_roas))]
        idle = self._idle
        if not (low_ctr or low_roas or idle):
            return []
        ctr_set, roas_set = set(low_ctr), set(low_roas)
        return [(i, _ISSUES[i in ctr_set, i in roas_set, i in idle]) for i in sorted(ctr_set | roas_set | idle)]


def find_alerts(days: Sequence[Day], thresholds: Thresholds) -> list[Alert]:
    """The days that break a rule, in the order given (the rollup keeps them by date)."""
    return [
        Alert(days[i].metric_date, issues, days[i].ctr, days[i].roas) for i, issues in alert_issues(days, thresholds)
    ]


# Every combination of broken rules, as the tuple of issue names in SPEC order.
_ISSUES = {
    (ctr, roas, idle): tuple(
        name for name, on in ((CTR_BELOW, ctr), (ROAS_BELOW, roas), (SPEND_WITHOUT_CONVERSIONS, idle)) if on
    )
    for ctr in (False, True)
    for roas in (False, True)
    for idle in (False, True)
}
