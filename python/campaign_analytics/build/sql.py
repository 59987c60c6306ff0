"""The SQL files as the build uses them: each file's all-campaign text, its key and its row order.

Each `sql/<rollup>.sql` is one statement, written for two uses (docs/contract.md, "The SQL files"):
standalone in DuckDB with `?` parameters, for one campaign, and in the build, for every campaign.
Its last CTE, named after the file, is the all-campaign rollup; a marked final select below it
takes the parameters. The build runs the verbatim text above the marker followed by
`select * from <rollup>`, and reads the rollup's key and row order from the file's header.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from campaign_analytics.errors import BuildError
from campaign_analytics.published.manifest import (
    ROLLUPS,
    SQL_DIR,
)

# The line that ends a SQL file's all-campaign part; what follows is the per-campaign select.
PER_CAMPAIGN_MARKER = "-- per-campaign select"
_HEADER_RE = re.compile(r"^-- (key|order):[ ]*(\w+(?:, \w+)*)[ ]*$", re.MULTILINE)


@dataclass(frozen=True)
class RollupSql:
    """One SQL file, as the build uses it.

    `key` (`-- key:` header) is checked unique before publishing; `order` (`-- order:` header,
    unique too) is the order rows are written in, which the service relies on.
    """

    name: str
    path: Path
    key: tuple[str, ...]
    order: tuple[str, ...]
    rollup_query: str  # the text above the marker, verbatim, then `select * from <name>`

    @classmethod
    def read(cls, name: str, path: Path) -> RollupSql:
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines(keepends=True)
        marks = [i for i, line in enumerate(lines) if line.startswith(PER_CAMPAIGN_MARKER)]
        if len(marks) != 1:
            raise BuildError(f"{path.name}: needs exactly one line starting {PER_CAMPAIGN_MARKER!r}")
        headers: dict[str, tuple[str, ...]] = {}
        for field, columns in _HEADER_RE.findall(text):
            if field in headers:
                raise BuildError(f"{path.name}: more than one '-- {field}:' header")
            headers[field] = tuple(columns.split(", "))
        missing = [f"-- {field}:" for field in ("key", "order") if field not in headers]
        if missing:
            raise BuildError(f"{path.name}: no {' or '.join(missing)} header (a comma-separated column list)")
        above = "".join(lines[: marks[0]])
        return cls(name, path, headers["key"], headers["order"], f"{above}select * from {name}\n")


def read_sql(sql_dir: Path = SQL_DIR) -> dict[str, RollupSql]:
    return {name: RollupSql.read(name, sql_dir / f"{name}.sql") for name in ROLLUPS}


def __getattr__(name: str) -> Any:
    """`ROLLUP_KEYS`: each rollup's key, as its SQL file's header says (the golden files are
    sorted by it). Read when asked for (PEP 562), so importing this module reads no file."""
    if name == "ROLLUP_KEYS":
        return {rollup: sql.key for rollup, sql in read_sql().items()}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
