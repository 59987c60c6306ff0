"""The explorer's view of one build: its campaigns to search, sort and page.

`RollupStore` makes one `CampaignCatalog` on the first explorer request for its build (from the
campaign_performance rollup, read and verified then) and holds it, so a newer build loaded at
run time comes with its own and the old one goes with its store; start-up makes none. Campaigns
are kept in the campaign_performance frame's order (campaign_id, as the build writes and the
serving file holds them), so a position here is the store's too: a page is a list of
positions, and its JSON bodies are the performance bodies at those positions
(`RollupStore.performance_bodies`: read from the serving file, or for a long page encoded here
by the expression that wrote them, `bodies`).

What is made at first is cheap (lower-cased ids and names, one search string per campaign);
each sort key's order (an arg-sort of the campaigns) is made the first time that key is asked
for, and a search's bigram masks as they are met (`matching`).

Costs, measured in process at 200,000 campaigns (2 cores, polars 2.1): every polars call costs
tens of microseconds whatever its size (`str.contains` ~120 us, `arg_true` of 200,000 flags
~110 us), while Python's `in` over a few thousand short strings costs a few microseconds per
hundred. So the few candidates a longer needle's bigrams leave are checked in Python, and the
matches are kept as positions, with a mask made only when the page is found along the sort
order.
"""

from __future__ import annotations

import polars as pl

from campaign_analytics.published.serving import PERFORMANCE_TOTALS, performance_body

CAMPAIGN_COLUMNS = ("campaign_id", "campaign_name", *PERFORMANCE_TOTALS)
# the daily_anomalies.sql contract columns; the rollup holds them under the same names
DAY_COLUMNS = (
    "metric_date",
    "total_impressions",
    "total_clicks",
    "total_conversions",
    "total_spend",
    "total_revenue",
    "ctr",
    "roas",
)

_SEPARATOR = "\x00"
_MASK_BUDGET_BYTES = 32 << 20  # bigram masks kept per build, a bit per campaign each
_MAX_BIGRAMS = 8  # bigrams of a longer needle ANDed before the exact check
FEW = 4096  # matches put in order by their ranks; more are found along the sort order
CHECK_IN_PYTHON = 2048  # candidates of a longer needle checked with `in`; more with polars


def _lowered(texts: pl.Series) -> pl.Series:
    """`texts` lower-cased by `str.lower` (ASCII ones by polars: the same there, and faster)."""
    lowered = texts.str.to_lowercase()
    odd = texts.str.len_bytes() != texts.str.len_chars()
    if not odd.any():
        return lowered
    where = odd.arg_true()
    return lowered.scatter(where, [text.lower() for text in texts.gather(where).to_list()])


class Matches:
    """The campaigns a search matched: a count, and their positions (ascending) or a mask,
    each made from the other when first asked for."""

    def __init__(self, every: pl.Series, *, mask: pl.Series | None = None, positions: pl.Series | None = None) -> None:
        """`every`: the positions of all the campaigns (0, 1, ... as UInt32)."""
        self._every = every
        self._mask, self._positions = mask, positions
        if positions is not None:
            self.total = len(positions)
        elif mask is not None:
            self.total = int(mask.sum())
        else:
            raise ValueError("Matches takes a mask or positions")

    def positions(self) -> pl.Series:
        if self._positions is None:
            assert self._mask is not None
            self._positions = self._every.filter(self._mask)  # a quarter of `arg_true`'s time
        return self._positions

    def mask(self) -> pl.Series:
        if self._mask is None:
            assert self._positions is not None
            self._mask = pl.repeat(False, len(self._every), dtype=pl.Boolean, eager=True).scatter(self._positions, True)
        return self._mask


class CampaignCatalog:
    """Derived from one build's frames; never changes while that build is served.

    `few` and `check_in_python` are where the ways of searching change (see `page` and
    `matching`); tests set them low to drive every way with a few campaigns."""

    def __init__(
        self, campaign_performance: pl.DataFrame, *, few: int = FEW, check_in_python: int = CHECK_IN_PYTHON
    ) -> None:
        campaigns = campaign_performance.select(CAMPAIGN_COLUMNS)
        self.campaigns = campaigns
        self.few, self.check_in_python = few, check_in_python
        # lower-cased by Python's str.lower, as the needle is (`page`): polars' to_lowercase
        # follows a newer Unicode than this Python, and the two must fold a letter alike
        self.id_lower = _lowered(campaigns["campaign_id"])
        self.name_lower = _lowered(campaigns["campaign_name"].fill_null(""))
        # one string per campaign to search: a needle without the separator cannot span both
        self.haystack = pl.select(pl.concat_str([self.id_lower, self.name_lower], separator=_SEPARATOR)).to_series()
        self.positions = pl.int_range(0, campaigns.height, dtype=pl.UInt32, eager=True)
        self._orders: dict[str, pl.Series] = {}
        self._ranks: dict[str, pl.Series] = {}
        self._masks: dict[str, pl.Series] = {}  # needle of 1-2 characters -> which campaigns hold it
        self._max_masks = max(64, _MASK_BUDGET_BYTES // max(1, campaigns.height // 8))

    def order(self, sort: str) -> pl.Series:
        """Positions of the campaigns ordered by `sort` ("-" first: descending), ties by id."""
        found = self._orders.get(sort)
        if found is None:
            column, descending = sort.removeprefix("-"), sort.startswith("-")
            found = self.campaigns.select(
                pl.arg_sort_by([column, "campaign_id"], descending=[descending, False], nulls_last=True)
            ).to_series()
            self._orders[sort] = found
        return found

    def rank(self, sort: str) -> pl.Series:
        """Each campaign's place in `order(sort)` (its inverse), made when first asked for."""
        found = self._ranks.get(sort)
        if found is None:
            found = self._ranks[sort] = self.order(sort).arg_sort()
        return found

    def _mask_of(self, needle: str) -> pl.Series:
        """Which haystacks contain a needle of one or two characters, kept once made (a lazily
        built bigram index: at most one mask per distinct pair in the data, within a memory
        budget of _MASK_BUDGET_BYTES per build)."""
        mask = self._masks.get(needle)
        if mask is None:
            mask = self.haystack.str.contains(needle, literal=True)
            if len(self._masks) < self._max_masks:
                self._masks[needle] = mask
        return mask

    def matching(self, needle: str) -> Matches:
        """The campaigns whose haystacks contain `needle` (lower-case, no separator).

        A scan of every haystack costs ~2.7 ms at 200,000 campaigns, and under load searches
        queue behind it. A needle of one or two characters is one kept mask. A longer one ANDs
        the masks of up to eight of its bigrams (every campaign holding the needle holds each
        of them) and checks only those candidates for the whole needle: in Python when they
        are few (up to `check_in_python`), else with polars.
        """
        n = self.positions
        if len(needle) <= 2:
            return Matches(n, mask=self._mask_of(needle))
        bigrams = list(dict.fromkeys(needle[i : i + 2] for i in range(len(needle) - 1)))
        candidates = self._mask_of(bigrams[0])
        for bigram in bigrams[1:_MAX_BIGRAMS]:
            candidates = candidates & self._mask_of(bigram)
        where, haystacks = self.positions.filter(candidates), self.haystack.filter(candidates)
        if len(where) <= self.check_in_python:
            hits = [p for p, text in zip(where.to_list(), haystacks.to_list(), strict=True) if needle in text]
            return Matches(n, positions=pl.Series(hits, dtype=pl.UInt32))
        return Matches(n, positions=where.filter(haystacks.str.contains(needle, literal=True)))

    def bodies(self, positions: list[int]) -> bytes:
        """The performance bodies of the campaigns at `positions`, joined by ",": encoded from
        the verified rollup by the expression that wrote the serving file's, in one polars call."""
        if not positions:
            return b""
        page = self.campaigns[positions].select(performance_body().alias("body"))
        return str(page["body"].str.join(",").item()).encode()

    def page(self, q: str | None, sort: str, offset: int, limit: int) -> tuple[int, list[int]]:
        """(campaigns matching `q`, the positions of this page's campaigns).

        A search never reorders every campaign: few matches (up to `few`) are put in order by
        their ranks in the sort; more are found by walking the sort order in growing steps
        until the page is covered. Both cost what the page and its matches need, not the
        number of campaigns (at 200,000 campaigns, reordering all of them per search was most
        of a search's time)."""
        order = self.order(sort)
        if not q:
            total = order.len()
            return total, order.slice(min(offset, total), limit).to_list()
        needle = q.lower()
        if _SEPARATOR in needle:
            found = Matches(
                self.positions,
                mask=self.id_lower.str.contains(needle, literal=True)
                | self.name_lower.str.contains(needle, literal=True),
            )
        else:
            found = self.matching(needle)
        total = found.total
        if total <= self.few:
            hits = found.positions()
            ranked = hits.gather(self.rank(sort).gather(hits).arg_sort())
            return total, ranked.slice(min(offset, total), limit).to_list()
        mask = found.mask()
        wanted, start, step, kept = min(offset, total) + limit, 0, 1024, []
        while wanted > 0 and start < order.len():
            chunk = order.slice(start, step)
            kept.append(chunk.filter(mask.gather(chunk)))
            wanted -= kept[-1].len()
            start, step = start + step, step * 4
        matched = pl.concat(kept) if kept else order.clear()
        return total, matched.slice(min(offset, total), limit).to_list()
