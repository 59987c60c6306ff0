"""The explorer's view of one build: its campaigns to search, sort and page, and its days.

`RollupStore` makes one `CampaignCatalog` when it loads a build and holds it, so a newer build
loaded at run time comes with its own and the old one goes with its store. Campaigns are kept
in the campaign_performance frame's order (campaign_id, as the build writes and the service
verifies it), so a position here is the store's too: a page is a list of positions, and its
JSON bodies are the store's (`performance_at`).

What is made at load is cheap (lower-cased ids and names, one search string per campaign);
each sort key's order (an arg-sort of the campaigns) is made the first time that key is asked
for, and a search's bigram masks as they are met (`matching`).
"""

from __future__ import annotations

import polars as pl

PERFORMANCE_TOTALS = (
    "total_impressions",
    "total_clicks",
    "total_conversions",
    "total_spend",
    "total_revenue",
    "ctr",
    "cvr",
    "roas",
)
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
_MAX_MASKS = 8192  # bigram masks kept per build (a bit per campaign each)
_MAX_BIGRAMS = 8  # bigrams of a longer needle ANDed before the exact check


class CampaignCatalog:
    """Derived from one build's frames; never changes while that build is served."""

    def __init__(self, frames: dict[str, pl.DataFrame]) -> None:
        campaigns = frames["campaign_performance"].select(CAMPAIGN_COLUMNS)
        self.campaigns = campaigns
        self.id_lower = campaigns["campaign_id"].str.to_lowercase()
        self.name_lower = campaigns["campaign_name"].fill_null("").str.to_lowercase()
        # one string per campaign to search: a needle without the separator cannot span both
        self.haystack = pl.select(pl.concat_str([self.id_lower, self.name_lower], separator=_SEPARATOR)).to_series()
        self._orders: dict[str, pl.Series] = {}
        self._masks: dict[str, pl.Series] = {}  # needle of 1-2 characters -> which campaigns hold it
        self.days = frames["daily_anomalies"].select(DAY_COLUMNS)

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

    def matching(self, needle: str) -> pl.Series:
        """Which campaigns' haystacks contain `needle` (lower-case, no separator), as a mask.

        A scan of every haystack costs ~270 us at 20,000 campaigns, and under load searches
        queue behind it. So the masks of 1- and 2-character needles are kept once made (a
        lazily built bigram index: at most one per distinct pair in the data, a bit per
        campaign each), and a longer needle ANDs the masks of up to eight of its bigrams (every
        campaign holding the needle holds each of them), then checks only those candidates for
        the whole needle.
        """
        if len(needle) <= 2:
            mask = self._masks.get(needle)
            if mask is None:
                mask = self.haystack.str.contains(needle, literal=True)
                if len(self._masks) < _MAX_MASKS:
                    self._masks[needle] = mask
            return mask
        bigrams = list(dict.fromkeys(needle[i : i + 2] for i in range(len(needle) - 1)))
        candidates = self.matching(bigrams[0])
        for bigram in bigrams[1:_MAX_BIGRAMS]:
            candidates = candidates & self.matching(bigram)
        rows = candidates.arg_true()
        if not len(rows):
            return candidates  # all False
        hits = rows.filter(self.haystack.gather(rows).str.contains(needle, literal=True))
        return pl.repeat(False, len(candidates), dtype=pl.Boolean, eager=True).scatter(hits, True)

    def page(self, q: str | None, sort: str, offset: int, limit: int) -> tuple[int, list[int]]:
        """(campaigns matching `q`, the positions of this page's campaigns)."""
        order = self.order(sort)
        if q:
            needle = q.lower()
            if _SEPARATOR in needle:
                found = self.id_lower.str.contains(needle, literal=True) | self.name_lower.str.contains(
                    needle, literal=True
                )
            else:
                found = self.matching(needle)
            order = order.filter(found.gather(order))
        total = order.len()
        return total, order.slice(min(offset, total), limit).to_list()
