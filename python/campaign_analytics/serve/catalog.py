"""The explorer's view of one build: its campaigns to search, sort and page.

`RollupStore` makes one `CampaignCatalog` on the first explorer request for its build (from the
campaign_performance rollup, read and verified then) and holds it, so a newer build loaded at
run time comes with its own and the old one goes with its store; start-up makes none. Campaigns
are kept in the campaign_performance frame's order (campaign_id, as the build writes and the
serving file holds them), so a position here is the store's too: a page is a list of
positions, and its JSON bodies are encoded by the serving file's own expression (`bodies`).

What is made at first is cheap (lower-cased ids and names, one search string per campaign);
each sort key's order (an arg-sort of the campaigns) is made the first time that key is asked
for, and a search's bigram masks as they are met (`matching`).
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
_MAX_MASKS = 8192  # bigram masks kept per build (a bit per campaign each)
_MAX_BIGRAMS = 8  # bigrams of a longer needle ANDed before the exact check
_FEW = 4096  # matches put in order by their ranks; more are found along the sort order


class CampaignCatalog:
    """Derived from one build's frames; never changes while that build is served."""

    def __init__(self, campaign_performance: pl.DataFrame) -> None:
        campaigns = campaign_performance.select(CAMPAIGN_COLUMNS)
        self.campaigns = campaigns
        self.id_lower = campaigns["campaign_id"].str.to_lowercase()
        self.name_lower = campaigns["campaign_name"].fill_null("").str.to_lowercase()
        # one string per campaign to search: a needle without the separator cannot span both
        self.haystack = pl.select(pl.concat_str([self.id_lower, self.name_lower], separator=_SEPARATOR)).to_series()
        self._orders: dict[str, pl.Series] = {}
        self._masks: dict[str, pl.Series] = {}  # needle of 1-2 characters -> which campaigns hold it
        self._ranks: dict[str, pl.Series] = {}

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

    def bodies(self, positions: list[int]) -> bytes:
        """The performance bodies of the campaigns at `positions`, joined by ",": encoded from
        the verified rollup by the expression that wrote the serving file's (one polars call
        for a page, where reading each from the serving file would be two reads a campaign)."""
        if not positions:
            return b""
        page = self.campaigns[positions].select(performance_body().alias("body"))
        return str(page["body"].str.join(",").item()).encode()

    def rank(self, sort: str) -> pl.Series:
        """Each campaign's place in `order(sort)` (its inverse), made when first asked for."""
        found = self._ranks.get(sort)
        if found is None:
            found = self._ranks[sort] = self.order(sort).arg_sort()
        return found

    def page(self, q: str | None, sort: str, offset: int, limit: int) -> tuple[int, list[int]]:
        """(campaigns matching `q`, the positions of this page's campaigns).

        A search never reorders every campaign: few matches (up to _FEW) are put in order by
        their ranks in the sort; many are found by walking the sort order in growing steps
        until the page is covered. Both cost what the page and its matches need, not the
        number of campaigns (at 200,000 campaigns, reordering all of them per search was most
        of a search's time)."""
        order = self.order(sort)
        if not q:
            total = order.len()
            return total, order.slice(min(offset, total), limit).to_list()
        needle = q.lower()
        if _SEPARATOR in needle:
            found = self.id_lower.str.contains(needle, literal=True) | self.name_lower.str.contains(
                needle, literal=True
            )
        else:
            found = self.matching(needle)
        total = int(found.sum())
        if total <= _FEW:
            hits = found.arg_true()
            ranked = hits.gather(self.rank(sort).gather(hits).arg_sort())
            return total, ranked.slice(min(offset, total), limit).to_list()
        wanted, start, step, kept = min(offset, total) + limit, 0, 1024, []
        while wanted > 0 and start < order.len():
            chunk = order.slice(start, step)
            kept.append(chunk.filter(found.gather(chunk)))
            wanted -= kept[-1].len()
            start, step = start + step, step * 4
        matched = pl.concat(kept) if kept else order.clear()
        return total, matched.slice(min(offset, total), limit).to_list()
