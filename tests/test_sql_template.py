"""The SQL files repeat themselves on purpose (docs/contract.md §3a: each runs alone, one statement, no shared
view or macro); these tests pin every copy of a repeated piece to one template, so the copies
cannot drift apart. Also: the shape the build relies on (headers, one marker, the rollup CTE).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from campaign_analytics.build.sql import PER_CAMPAIGN_MARKER, ROLLUP_KEYS, RollupSql, read_sql
from campaign_analytics.errors import BuildError
from campaign_analytics.published.manifest import ROLLUPS, SQL_DIR

TEXTS = {name: (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8") for name in ROLLUPS}

# Half-up to cents from integer micros; half-up to 4 places from an exact ratio; 0.0 on a zero
# denominator. `{den}` appears three times in the rate and must be the same column each time.
MONEY = "cast(cast((cast({micros} as hugeint) + 5000) // 10000 as decimal(38, 0)) / 100 as double) as {name}"
RATE = (
    "case when {den} = 0 then 0.0 else cast(cast((20000 * cast({num} as hugeint) + {den}) // "
    "(2 * cast({den} as hugeint)) as decimal(38, 0)) / 10000 as double) end as {name}"
)
# What each output column is made of, in every file that has it.
MONEY_OF = {"total_spend": "total_spend_micros", "total_revenue": "total_revenue_micros"}
RATE_OF = {
    "ctr": ("total_clicks", "total_impressions"),
    "cvr": ("total_conversions", "total_clicks"),
    "roas": ("total_revenue_micros", "total_spend_micros"),
}
# Reading the raw columns and turning decimal sums into micros: the same words everywhere.
SUM_LINES = {
    "sum(cast(impressions as bigint)) as total_impressions",
    "sum(cast(clicks as bigint)) as total_clicks",
    "sum(cast(conversions as bigint)) as total_conversions",
    "sum(cast(spend as decimal(38, 6))) as total_spend",
    "sum(cast(revenue as decimal(38, 6))) as total_revenue",
}
MICROS_LINES = {
    "coalesce(cast(total_spend * 1000000 as bigint), 0) as total_spend_micros",
    "coalesce(cast(total_revenue * 1000000 as bigint), 0) as total_revenue_micros",
}
KNOWN_JOINS = {
    # rows of campaigns missing from campaigns match nothing and drop out
    "inner join known_campaigns on known_campaigns.campaign_id = metric_totals.campaign_id",
    # every known campaign, with or without metrics
    "left join metric_totals on metric_totals.campaign_id = known_campaigns.campaign_id",
}


def pattern(template: str) -> re.Pattern[str]:
    """The template as a regex: each {field} a column name, the same name at every repeat."""
    seen: set[str] = set()

    def field(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in seen:
            return f"(?P={name})"
        seen.add(name)
        return rf"(?P<{name}>\w+)"

    return re.compile(re.sub(r"\\\{(\w+)\\\}", field, re.escape(template)))


def statements(text: str) -> list[str]:
    """The file's lines without comments, each stripped of indentation and a trailing comma."""
    lines = (line.split("--", 1)[0].strip().removesuffix(",") for line in text.splitlines())
    return [line for line in lines if line]


def cte(text: str, name: str) -> str:
    match = re.search(rf"^{name} as \(\n(.*?)\n\)", text, re.MULTILINE | re.DOTALL)
    assert match, f"no CTE {name}"
    return match.group(1)


@pytest.mark.parametrize("name", ROLLUPS)
def test_every_rounding_expression_is_the_template(name: str) -> None:
    money, rate = pattern(MONEY), pattern(RATE)
    rounded = [line for line in statements(TEXTS[name]) if "hugeint" in line]
    assert rounded
    for line in rounded:
        if found := money.fullmatch(line):
            assert MONEY_OF[found["name"]] == found["micros"], line
        elif found := rate.fullmatch(line):
            assert RATE_OF[found["name"]] == (found["num"], found["den"]), line
        else:
            pytest.fail(f"{name}.sql: a rounding expression that is not the template:\n  {line}")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("campaign_performance", ["total_spend", "total_revenue", "ctr", "cvr", "roas"]),
        ("top_creators", ["total_spend", "ctr"]),
        ("daily_anomalies", ["total_spend", "total_revenue", "ctr", "roas"]),
    ],
)
def test_every_rounded_column_comes_from_the_template(name: str, expected: list[str]) -> None:
    money, rate = pattern(MONEY), pattern(RATE)
    made = [
        found["name"]
        for line in statements(TEXTS[name])
        if (found := money.fullmatch(line) or rate.fullmatch(line)) is not None
    ]
    assert made == expected


@pytest.mark.parametrize("name", ROLLUPS)
def test_raw_columns_are_read_and_summed_the_same_way(name: str) -> None:
    lines = statements(TEXTS[name])
    assert {line for line in lines if line.startswith("sum(")} == SUM_LINES
    assert {line for line in lines if "1000000" in line} == MICROS_LINES
    # money is read as a decimal in exactly one place: where it is summed
    assert {line for line in lines if "decimal(38, 6)" in line} == {s for s in SUM_LINES if "decimal" in s}


def test_known_campaigns_is_the_same_cte_in_every_file() -> None:
    copies = {cte(text, "known_campaigns") for text in TEXTS.values()}
    assert len(copies) == 1


@pytest.mark.parametrize("name", ROLLUPS)
def test_the_join_to_known_campaigns_is_one_of_two_forms(name: str) -> None:
    joins = [line for line in statements(TEXTS[name]) if "join" in line and "known_campaigns" in line]
    assert len(joins) == 1 and joins[0] in KNOWN_JOINS


@pytest.mark.parametrize("name", ROLLUPS)
def test_the_rollup_is_the_last_cte_and_named_after_the_file(name: str) -> None:
    above, marker, below = TEXTS[name].partition(f"\n{PER_CAMPAIGN_MARKER}")
    assert marker and PER_CAMPAIGN_MARKER not in below
    assert re.findall(r"^(\w+) as \($", above, re.MULTILINE)[-1] == name
    assert above.rstrip().endswith(")")
    assert re.search(rf"^from {name}$", below, re.MULTILINE)
    assert "?" in below and "?" not in " ".join(statements(above))  # parameters only below the marker


def test_the_build_runs_the_text_above_the_marker_verbatim() -> None:
    for name, sql in read_sql().items():
        above = TEXTS[name].split(f"\n{PER_CAMPAIGN_MARKER}")[0]
        assert sql.rollup_query == f"{above}\nselect * from {name}\n"


def test_keys_and_order_come_from_the_headers() -> None:
    assert ROLLUP_KEYS == {
        "campaign_performance": ("campaign_id",),
        "top_creators": ("campaign_id", "creator_id"),
        "daily_anomalies": ("campaign_id", "metric_date"),
    }
    assert {name: sql.order for name, sql in read_sql().items()} == {
        "campaign_performance": ("campaign_id",),
        "top_creators": ("campaign_id", "rank"),
        "daily_anomalies": ("campaign_id", "metric_date"),
    }


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace(PER_CAMPAIGN_MARKER, "-- the end"), "exactly one line starting"),
        (lambda t: t + f"\n{PER_CAMPAIGN_MARKER} again\n", "exactly one line starting"),
        (lambda t: t.replace("-- key:", "-- keys:"), r"no -- key: header"),
        (lambda t: t.replace("-- order:", "-- sorted:"), r"no -- order: header"),
        (lambda t: t.replace("-- key:   campaign_id, creator_id", "-- key: (campaign_id)"), r"no -- key: header"),
        (lambda t: t.replace("-- key:", "-- key: rank\n-- key:"), "more than one '-- key:' header"),
    ],
)
def test_a_file_the_build_cannot_read_is_a_build_error(tmp_path: Path, edit: object, message: str) -> None:
    path = tmp_path / "top_creators.sql"
    path.write_text(edit(TEXTS["top_creators"]), encoding="utf-8")  # type: ignore[operator]
    with pytest.raises(BuildError, match=message):
        RollupSql.read("top_creators", path)
