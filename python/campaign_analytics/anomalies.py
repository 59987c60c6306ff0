"""The anomaly rules (SPEC §4): a pure function of a campaign's daily rows and its thresholds.

A day is compared only on what it has: the CTR rule needs impressions, the ROAS rules need
spend. Every comparison is exact: thresholds are kept as the decimals the benchmark service
wrote (never binary floats) and ratios are compared by cross-multiplying integers, so a day
exactly at the threshold is never "below" it.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import NamedTuple

CTR_BELOW = "ctr_below_threshold"
ROAS_BELOW = "roas_below_threshold"
SPEND_WITHOUT_CONVERSIONS = "spend_without_conversions"


@dataclass(frozen=True)
class Thresholds:
    """Minimums for one campaign, as exact decimals (finite, >= 0: benchmarks.py checks)."""

    min_ctr: Decimal
    min_roas: Decimal
    # derived once (a fixture's Thresholds serve many requests): their floats, and the JSON
    # object the anomalies body echoes
    floats: tuple[float, float] = field(init=False, repr=False, compare=False)
    json: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        floats = (float(self.min_ctr), float(self.min_roas))
        object.__setattr__(self, "floats", floats)
        object.__setattr__(self, "json", '{{"min_ctr":{!r},"min_roas":{!r}}}'.format(*floats))


class Day(NamedTuple):
    """One row of the daily rollup: a campaign's day, all creators together.

    A NamedTuple, not a dataclass: a tuple holding only numbers and strings is dropped from
    the cyclic GC's tracking, so millions of loaded days add nothing to each collection.
    """

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
    """A campaign's days, plus their positions ordered by CTR and by ROAS, so that "which days
    are below this threshold" is a binary search plus the days found, not a pass over every day.

    The orders are by the float of each ratio (cheap to build for every campaign at load time,
    fast to search). Floats are only used to narrow the search: rounding preserves order, so a
    day whose float is clearly below (above) the threshold's float is below (not below) it
    exactly; the few days within a hair of the threshold are decided by the exact integer rule.
    """

    __slots__ = ("ctr_days", "ctr_keys", "days", "idle", "roas_days", "roas_keys")

    def __init__(
        self,
        days: Sequence[Day],
        ctr_keys: Sequence[float],
        ctr_days: Sequence[int],
        roas_keys: Sequence[float],
        roas_days: Sequence[int],
        idle: Sequence[int],
    ) -> None:
        self.days = days
        self.ctr_keys, self.ctr_days = ctr_keys, ctr_days  # days with impressions, by clicks/impressions
        self.roas_keys, self.roas_days = roas_keys, roas_days  # days with spend, by revenue/spend
        self.idle = frozenset(idle)  # days with spend and no conversions

    @classmethod
    def of(cls, days: Sequence[Day]) -> DayIndex:
        """Build the orders in Python (store.py builds them for all campaigns with polars)."""
        ctr = sorted((d.clicks / d.impressions, i) for i, d in enumerate(days) if d.impressions > 0)
        roas = sorted((d.revenue_micros / d.spend_micros, i) for i, d in enumerate(days) if d.spend_micros > 0)
        idle = [i for i, d in enumerate(days) if d.spend_micros > 0 and d.conversions == 0]
        return cls(days, [k for k, _ in ctr], [i for _, i in ctr], [k for k, _ in roas], [i for _, i in roas], idle)

    def alert_issues(self, thresholds: Thresholds) -> list[tuple[int, tuple[str, ...]]]:
        """Exactly `alert_issues(self.days, thresholds)`."""
        days = self.days
        min_ctr, min_roas = thresholds.floats
        low_ctr = _below(
            self.ctr_keys,
            self.ctr_days,
            thresholds.min_ctr,
            min_ctr,
            lambda i, n, d: days[i].clicks * d < n * days[i].impressions,
        )
        low_roas = _below(
            self.roas_keys,
            self.roas_days,
            thresholds.min_roas,
            min_roas,
            lambda i, n, d: days[i].revenue_micros * d < n * days[i].spend_micros,
        )
        idle = self.idle
        if not (low_ctr or low_roas or idle):
            return []
        ctr_set, roas_set = set(low_ctr), set(low_roas)
        return [(i, _ISSUES[i in ctr_set, i in roas_set, i in idle]) for i in sorted(ctr_set | roas_set | idle)]


_BAND = 1e-12  # relative; float rounding of a ratio of integers is off by a few 1e-16 at most


def _below(
    keys: Sequence[float],
    days: Sequence[int],
    threshold: Decimal,
    target: float,
    exactly_below: Callable[[int, int, int], bool],
) -> list[int]:
    """The days (in `keys` order) whose ratio is below `threshold`; `target` is its float."""
    if not keys:
        return []
    sure = bisect_left(keys, target * (1 - _BAND))
    unsure = bisect_right(keys, target * (1 + _BAND), lo=sure)
    below = list(days[:sure])
    if unsure > sure:
        num, den = threshold.as_integer_ratio()
        below += [i for i in days[sure:unsure] if exactly_below(i, num, den)]
    return below


def find_alerts(days: Sequence[Day], thresholds: Thresholds) -> list[Alert]:
    """The days that break a rule, in the order given (the rollup keeps them by date)."""
    return [
        Alert(days[i].metric_date, issues, days[i].ctr, days[i].roas) for i, issues in alert_issues(days, thresholds)
    ]


# Every combination of broken rules, as the tuple of issue names in SPEC order.
_ISSUES: dict[tuple[bool, bool, bool], tuple[str, ...]] = {
    (ctr, roas, idle): tuple(
        name for name, on in ((CTR_BELOW, ctr), (ROAS_BELOW, roas), (SPEND_WITHOUT_CONVERSIONS, idle)) if on
    )
    for ctr in (False, True)
    for roas in (False, True)
    for idle in (False, True)
}
# The `issues` lists an alert can have (every non-empty combination above).
ISSUE_LISTS: tuple[tuple[str, ...], ...] = tuple(issues for issues in _ISSUES.values() if issues)
