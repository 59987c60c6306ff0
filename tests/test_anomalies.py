"""The anomaly rules as a pure function: exact comparisons, zero denominators, issue order."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from campaign_analytics.anomalies import Alert, Day, DayIndex, Thresholds, alert_issues, find_alerts


def day(impressions: int, clicks: int, conversions: int, spend_micros: int, revenue_micros: int) -> Day:
    return Day("2026-01-01", impressions, clicks, conversions, spend_micros, revenue_micros, 0.0, 0.0)


def issues(d: Day, min_ctr: str = "0.03", min_roas: str = "2.5") -> tuple[str, ...]:
    alerts = find_alerts([d], Thresholds(Decimal(min_ctr), Decimal(min_roas)))
    return alerts[0].issues if alerts else ()


@pytest.mark.parametrize(
    ("d", "expected"),
    [
        (day(1000, 30, 1, 100, 250), ()),  # exactly at both thresholds: not below
        (day(1000, 29, 1, 100, 250), ("ctr_below_threshold",)),
        (day(1000, 30, 1, 100, 249), ("roas_below_threshold",)),
        (day(1000, 30, 0, 100, 250), ("spend_without_conversions",)),
        (day(1000, 1, 0, 100, 0), ("ctr_below_threshold", "roas_below_threshold", "spend_without_conversions")),
        (day(0, 0, 0, 100, 0), ("roas_below_threshold", "spend_without_conversions")),  # no impressions: no CTR rule
        (day(1000, 1, 0, 0, 0), ("ctr_below_threshold",)),  # no spend: no ROAS or spend rule
        (day(0, 5, 0, 0, 0), ()),  # clicks without impressions: nothing to compare
    ],
)
def test_rules(d: Day, expected: tuple[str, ...]) -> None:
    assert issues(d) == expected


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
    assert (issues(day(impressions, clicks, 1, 0, 0), min_ctr=min_ctr) == ("ctr_below_threshold",)) is below


def test_alerts_keep_the_order_and_display_values_of_the_days() -> None:
    days = [
        Day("2026-01-01", 100, 1, 0, 5, 0, 0.01, 0.0),
        Day("2026-01-02", 100, 9, 1, 5, 50, 0.09, 10.0),
        Day("2026-01-03", 100, 2, 1, 0, 0, 0.02, 0.0),
    ]
    assert find_alerts(days, Thresholds(Decimal("0.05"), Decimal("1"))) == [
        Alert("2026-01-01", ("ctr_below_threshold", "roas_below_threshold", "spend_without_conversions"), 0.01, 0.0),
        Alert("2026-01-03", ("ctr_below_threshold",), 0.02, 0.0),
    ]
    assert find_alerts([], Thresholds(Decimal(1), Decimal(1))) == []


small = st.integers(0, 6)
random_day = st.builds(
    lambda i, c, v, s, r: Day("d", i, c, v, s, r, 0.0, 0.0), small, small, st.integers(0, 2), small, small
)
threshold = st.one_of(
    st.sampled_from(["0", "0.5", "1", "1.5", "2", "0.3333", "0.33333333333333333334", "0.33333333333333331483"]),
    st.fractions(0, 3, max_denominator=7).map(lambda f: str(f.numerator / f.denominator)),
).map(Decimal)


@settings(max_examples=300, deadline=None)
@given(days=st.lists(random_day, max_size=25), min_ctr=threshold, min_roas=threshold)
def test_the_day_index_answers_exactly_like_the_rules_written_out(
    days: list[Day], min_ctr: Decimal, min_roas: Decimal
) -> None:
    thresholds = Thresholds(min_ctr, min_roas)
    index = DayIndex.of(days)
    assert index.alert_issues(thresholds) == alert_issues(days, thresholds)
    assert index.alert_issues(thresholds) == alert_issues(days, thresholds)  # and again, prepared
