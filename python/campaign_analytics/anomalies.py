"""The anomaly rules (docs/contract.md §4): a pure function of a campaign's daily totals and its thresholds.

A day is compared only on what it has: the CTR rule needs impressions, the ROAS rules need
spend. Every comparison is exact: thresholds are kept as the decimals the benchmark service
wrote (never binary floats; benchmarks.py bounds their size) and a ratio is compared by
cross-multiplying integers, so a day exactly at the threshold is never "below" it.

A campaign's days are given as columns (`DayColumns`: five sequences of ints, one value per
day, by date); the store hands over slices of its `array('q')` columns, which the cyclic GC
does not track, so the days of every campaign cost a collection nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property

CTR_BELOW = "ctr_below_threshold"
ROAS_BELOW = "roas_below_threshold"
SPEND_WITHOUT_CONVERSIONS = "spend_without_conversions"

# impressions, clicks, conversions, spend_micros, revenue_micros: one value per day
DayColumns = tuple[Sequence[int], Sequence[int], Sequence[int], Sequence[int], Sequence[int]]


@dataclass(frozen=True)
class Thresholds:
    """Minimums for one campaign, as exact decimals (finite, >= 0, bounded: benchmarks.py checks)."""

    min_ctr: Decimal
    min_roas: Decimal

    # Derived on first use and kept (a fixture's Thresholds serve many requests).
    @cached_property
    def ctr_ratio(self) -> tuple[int, int]:
        """min_ctr as (numerator, denominator)."""
        return self.min_ctr.as_integer_ratio()

    @cached_property
    def roas_ratio(self) -> tuple[int, int]:
        return self.min_roas.as_integer_ratio()

    @cached_property
    def json(self) -> str:
        """The `thresholds` object the bodies echo (compact, floats by their shortest repr)."""
        return f'{{"min_ctr":{float(self.min_ctr)!r},"min_roas":{float(self.min_roas)!r}}}'


def alert_issues(days: DayColumns, thresholds: Thresholds) -> list[tuple[int, tuple[str, ...]]]:
    """(position, issues) of every day that breaks a rule, in the order of the columns.

    Issues are listed in the contract's order: ctr_below_threshold, roas_below_threshold,
    spend_without_conversions.
    """
    ctr_num, ctr_den = thresholds.ctr_ratio
    roas_num, roas_den = thresholds.roas_ratio
    found = []
    for i, (impressions, clicks, conversions, spend, revenue) in enumerate(zip(*days, strict=True)):
        # clicks / impressions < num / den, without division or rounding
        ctr_low = impressions > 0 and clicks * ctr_den < ctr_num * impressions
        if spend > 0:
            roas_low = revenue * roas_den < roas_num * spend
            idle = conversions == 0
            if ctr_low or roas_low or idle:
                found.append((i, _ISSUES[ctr_low, roas_low, idle]))
        elif ctr_low:
            found.append((i, (CTR_BELOW,)))
    return found


# Every combination of broken rules, as the tuple of issue names in the contract's order.
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
