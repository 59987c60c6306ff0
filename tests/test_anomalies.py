"""The anomaly rules: exact comparisons, zero denominators, issue order.

The tests call `alert_issues`, the function the store calls for every anomalies request, and
check it against an oracle written with `fractions.Fraction` (a different way to be exact).
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from campaign_analytics.anomalies import DayColumns, Thresholds, alert_issues

Row = tuple[int, int, int, int, int]  # impressions, clicks, conversions, spend_micros, revenue_micros


def columns(rows: list[Row]) -> DayColumns:
    imps, clicks, convs, spend, revenue = (tuple(r[k] for r in rows) for k in range(5))
    return imps, clicks, convs, spend, revenue


def issues(row: Row, min_ctr: str = "0.03", min_roas: str = "2.5") -> tuple[str, ...]:
    found = alert_issues(columns([row]), Thresholds(Decimal(min_ctr), Decimal(min_roas)))
    return found[0][1] if found else ()


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ((1000, 30, 1, 100, 250), ()),  # exactly at both thresholds: not below
        ((1000, 29, 1, 100, 250), ("ctr_below_threshold",)),
        ((1000, 30, 1, 100, 249), ("roas_below_threshold",)),
        ((1000, 30, 0, 100, 250), ("spend_without_conversions",)),
        ((1000, 1, 0, 100, 0), ("ctr_below_threshold", "roas_below_threshold", "spend_without_conversions")),
        ((0, 0, 0, 100, 0), ("roas_below_threshold", "spend_without_conversions")),  # no impressions: no CTR rule
        ((1000, 1, 0, 0, 0), ("ctr_below_threshold",)),  # no spend: no ROAS or spend rule
        ((0, 5, 0, 0, 0), ()),  # clicks without impressions: nothing to compare
    ],
)
def test_rules(row: Row, expected: tuple[str, ...]) -> None:
    assert issues(row) == expected


@pytest.mark.parametrize(
    ("clicks", "impressions", "min_ctr", "below"),
    [
        (7, 100, "0.07", False),  # 0.07 as a float is 0.07000000000000000666: a float compare says below
        (1, 3, "0.3333", False),
        (1, 3, "0.33333333333333333334", True),
        (3, 160, "0.01875", False),  # the exact value, not the rounded 0.0188
        (3, 160, "0.0188", True),
        (0, 1, "0", False),  # a zero threshold: nothing is below it
    ],
)
def test_ctr_is_compared_exactly(clicks: int, impressions: int, min_ctr: str, below: bool) -> None:
    assert (issues((impressions, clicks, 1, 0, 0), min_ctr=min_ctr) == ("ctr_below_threshold",)) is below


def test_alerts_keep_the_order_of_the_days() -> None:
    days = columns([(100, 1, 0, 5, 0), (100, 9, 1, 5, 50), (100, 2, 1, 0, 0)])
    assert alert_issues(days, Thresholds(Decimal("0.05"), Decimal("1"))) == [
        (0, ("ctr_below_threshold", "roas_below_threshold", "spend_without_conversions")),
        (2, ("ctr_below_threshold",)),
    ]
    assert alert_issues(columns([]), Thresholds(Decimal(1), Decimal(1))) == []


def oracle(rows: list[Row], min_ctr: Decimal, min_roas: Decimal) -> list[tuple[int, tuple[str, ...]]]:
    found = []
    for i, (imps, clicks, convs, spend, revenue) in enumerate(rows):
        names = []
        if imps > 0 and Fraction(clicks, imps) < Fraction(min_ctr):
            names.append("ctr_below_threshold")
        if spend > 0 and Fraction(revenue, spend) < Fraction(min_roas):
            names.append("roas_below_threshold")
        if spend > 0 and convs == 0:
            names.append("spend_without_conversions")
        if names:
            found.append((i, tuple(names)))
    return found


small = st.integers(0, 6)
row = st.tuples(small, small, st.integers(0, 2), small, small)
threshold = st.one_of(
    st.sampled_from(["0", "0.5", "1", "1.5", "2", "0.3333", "0.33333333333333333334", "0.33333333333333331483"]),
    st.fractions(0, 3, max_denominator=7).map(lambda f: str(f.numerator / f.denominator)),
).map(Decimal)


@settings(max_examples=300, deadline=None)
@given(rows=st.lists(row, max_size=25), min_ctr=threshold, min_roas=threshold)
def test_the_rules_agree_with_exact_fractions(rows: list[Row], min_ctr: Decimal, min_roas: Decimal) -> None:
    assert alert_issues(columns(rows), Thresholds(min_ctr, min_roas)) == oracle(rows, min_ctr, min_roas)
