"""Metrics rows cell by cell, for the tests of reading the inputs on either engine
(test_sources.py, test_spark_engine.py): a good row, one bad cell and what the build says
about it, and values at the edge of each column's type."""

from __future__ import annotations

from tests.support.datasets import METRIC_COLUMNS

GOOD = ("2026-01-01", "cmp-1", "crt-1", "10", "2", "1", "1.50", "3")


def with_cell(column: str, value: str) -> tuple[str, ...]:
    """GOOD with one cell changed."""
    row = list(GOOD)
    row[METRIC_COLUMNS.index(column)] = value
    return tuple(row)


# One bad cell, and what the build says about it (test_sources.py and test_spark_engine.py run this table).
BAD_CELLS = [
    ("impressions", "12x", "'12x' is not a whole number"),
    ("clicks", "-5", "'-5' is negative"),
    ("conversions", "1.5", "'1.5' is not a whole number"),
    ("conversions", "", "value is empty (a whole number >= 0 is required)"),
    ("impressions", "99999999999999999999", "'99999999999999999999' is too large"),
    ("spend", "abc", "'abc' is not a decimal number"),
    ("spend", "-0.01", "'-0.01' is negative"),
    ("spend", "1.1234567", "'1.1234567' has more than 6 decimal places"),
    ("spend", "1e3", "'1e3' is not a decimal number"),
    ("spend", "", "value is empty (a decimal number >= 0 is required)"),
    ("revenue", "-2", "'-2' is negative"),
    ("revenue", "NaN", "'NaN' is not a decimal number"),
    ("metric_date", "2026-02-30", "'2026-02-30' is not a date (YYYY-MM-DD)"),
    ("metric_date", "2026/01/01", "'2026/01/01' is not a date (YYYY-MM-DD)"),
    ("metric_date", "2026-1-1", "'2026-1-1' is not a date (YYYY-MM-DD)"),
    ("campaign_id", "", "value is empty (an id is required)"),
    ("creator_id", "", "value is empty (an id is required)"),
]


# Values at the edge of each column's type, good and bad mixed.
TRICKY = {
    "metric_date": ["2026-01-03", "2026-1-3", "2026-02-30", "+2026-01-03", "20260103", " 2026-01-03", "", None],
    "campaign_id": ["c", "", " ", None, "ü"],
    "creator_id": ["c", "", None],
    "impressions": ["5", "+5", "-0", "-5", "05", " 5", "5.0", "1e3", "", None, "99999999999999999999", "٣"],
    "clicks": ["0"],
    "conversions": ["0"],
    "spend": ["1.5", "1.", ".5", "-0.5", "1e3", "1.1234567", "1.123456", "00.10", "", None, "NaN", "9" * 20],
    "revenue": ["1.5", "", None, "-1", "1.1234567", "x"],
}
