"""Random datasets for the property tests (hypothesis): ids drawn from pools that look like
text or like numbers (read_csv_auto sniffs the latter as BIGINT), small ranges that make ties
and exact halves common, revenue sometimes empty on every row; and writing one as input files."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from tests.support.datasets import write_dataset

CAMPAIGN_POOLS = [["c1", "c2", "c3"], ["1", "10", "9"]]
CREATOR_POOLS = [["a", "b", "B", "é"], ["7", "10", "9", "100"]]
ORPHANS = ["orphan", "999"]  # campaigns that do not exist
UNKNOWN_CREATORS = ["unknown", "12"]
DATES = ["2026-01-01", "2026-01-02", "2026-02-28"]

# Small ranges make ties (rankings) and exact halves (rounding) common, not one in ten thousand.
micros = st.one_of(st.integers(0, 400).map(lambda half_cents: half_cents * 5_000), st.integers(0, 10**8))
money = micros.map(lambda m: f"{Decimal(m) / 1_000_000:f}")


@st.composite
def datasets(draw: st.DrawFn) -> tuple[list[str], list[str], list[tuple[Any, ...]]]:
    """(campaign ids, creator ids, metric rows) with ties, exact halves and awkward types common."""
    campaigns = draw(st.sampled_from(CAMPAIGN_POOLS))
    creators = draw(st.sampled_from(CREATOR_POOLS))
    no_revenue = draw(st.booleans())
    metric_row = st.tuples(
        st.sampled_from(DATES),
        st.sampled_from([*campaigns, *ORPHANS]),
        st.sampled_from([*creators, *UNKNOWN_CREATORS]),
        st.integers(0, 20),
        st.integers(0, 8),
        st.integers(0, 3),
        money,
        st.just("") if no_revenue else st.one_of(st.just(""), money),
    )
    return campaigns, creators, draw(st.lists(metric_row, max_size=40))


def write(folder: Path, campaign_ids: list[str], names: dict[str, str], rows: list[tuple[Any, ...]]) -> Path:
    return write_dataset(
        folder,
        campaigns=[(c, f"name {c}") for c in campaign_ids],
        creators=names.items(),
        metrics=rows,
    )
