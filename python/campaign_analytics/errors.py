"""Every error the project raises on purpose, and what it means to a caller.

    CampaignAnalyticsError            base; `status_code` for HTTP, `exit_code` for the CLI
    ├── ConfigError                   a setting is missing or malformed            (exit 1)
    ├── InvalidSourceData             an input file breaks docs/contract.md §2     (exit 2)
    ├── BuildError                    the build could not finish or check itself   (exit 1)
    ├── RollupUnavailable             no published build can be served             (HTTP 503)
    │   └── BuildCorrupt              a published build fails verification (manifest, sha256, order)
    ├── CampaignNotFound              the campaign id is not in the rollups        (HTTP 404)
    └── BenchmarkUnavailable          thresholds could not be had                  (HTTP 502)

Domain code raises these; `serve/app.py` has the one handler that turns them into
`{"detail": "..."}` responses and `cli.py` the one place that turns them into exit codes.
"""

from __future__ import annotations

from campaign_analytics.messages import shorten


class CampaignAnalyticsError(Exception):
    """Base of the tree; the message is what a user sees, so it must say what and where."""

    status_code = 500
    exit_code = 1

    @property
    def detail(self) -> str:
        return str(self)


class ConfigError(CampaignAnalyticsError):
    """An environment variable or argument is missing or cannot be used."""


class InvalidSourceData(CampaignAnalyticsError):
    """An input file is malformed; the message names the file, the line and the column."""

    exit_code = 2


class BuildError(CampaignAnalyticsError):
    """The build failed for a reason other than bad input (I/O, a failed self-check)."""


class RollupUnavailable(CampaignAnalyticsError):
    """There is no loaded build to answer from."""

    status_code = 503


class BuildCorrupt(RollupUnavailable):
    """A published build fails verification: its manifest is malformed, or an output file is
    missing, differs from its recorded sha256 or row count, or has rows out of key order.
    The message names the build and the first problem found."""


class CampaignNotFound(CampaignAnalyticsError):
    """The campaign id is not one of the campaigns in the published build."""

    status_code = 404

    def __init__(self, campaign_id: str) -> None:
        super().__init__(f"campaign {shorten(campaign_id)!r} not found")
        self.campaign_id = campaign_id


class BenchmarkUnavailable(CampaignAnalyticsError):
    """The benchmark service (or fixture) gave no usable thresholds; the message says why."""

    status_code = 502
