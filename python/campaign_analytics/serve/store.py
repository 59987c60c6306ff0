"""A published build, opened for serving: its serving file, read in place.

The build prepared every response body when it published (published/serving.py): the
performance bodies, each campaign's creators as JSON objects in rank order, and its day
columns. A request finds its campaign in the file's hash table and reads those bytes with
`pread`, each piece checked against its CRC; the anomalies body, whose alerts depend on the
live thresholds, is assembled here from the day columns. Nothing is copied per worker: the
file's pages live once in the kernel's page cache, so a worker's memory and its start-up do
not grow with the number of campaigns, and the first request to a campaign costs what its
hundredth does.

This module is also the one renderer of the read bodies (docs/contract.md §4): compact JSON, keys in
contract order, numbers as the shortest text that reads back as the same double (`0.0991`,
`5663.4`). The parts that depend on the build alone were encoded by polars when the serving
file was written.

A build published without a serving file (or a store made from frames, in tests) gets the same
file made in memory from its verified rollups: one code path, byte-identical bodies.
"""

from __future__ import annotations

import json
import weakref
from datetime import date
from decimal import Decimal
from typing import Any

import polars as pl

from campaign_analytics.anomalies import ISSUE_LISTS, DayColumns, Thresholds, alert_issues
from campaign_analytics.errors import BuildCorrupt, CampaignNotFound, RollupUnavailable
from campaign_analytics.published.manifest import (
    ROLLUPS,
    SERVING,
    PublishedBuild,
    check_manifest,
    read_verified,
    read_verified_rollup,
)
from campaign_analytics.published.serving import (
    CREATOR_FIELDS,
    PERFORMANCE_TOTALS,
    REQUIRED_COLUMNS,
    Days,
    Head,
    ServingFile,
    salt_of,
    serving_bytes,
)
from campaign_analytics.serve.catalog import CampaignCatalog

__all__ = ["CREATOR_FIELDS", "ISSUES_JSON", "PERFORMANCE_TOTALS", "RollupStore"]

# Each `issues` list an alert or a checked day can have, as compact JSON (every body writes it so).
ISSUES_JSON = {issues: ("[" + ",".join(f'"{name}"' for name in issues) + "]") for issues in ISSUE_LISTS}
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
# Anomalies bodies kept per store, keyed by campaign and thresholds (in fixture mode the
# thresholds repeat): bounded, so a worker's memory does not grow with the campaigns asked for.
_KEPT_ANOMALIES = 4096


# Reading a body from the serving file costs ~3.8 us; encoding a page with polars ~230 us plus
# ~0.5 us a body (one core, 200,000 campaigns): pages up to this many are read from the file
# (5 bodies: 21 us against 236; 50: 199 against 267; 500: 1,910 against 487).
FROM_FILE_UP_TO = 64


class RollupStore:
    """One build's serving file and what each read request makes of it (module docstring)."""

    def __init__(self, build: PublishedBuild, serving: ServingFile, frames: dict[str, pl.DataFrame] | None = None):
        self.build = build
        self.build_id = build.build_id
        self.build_id_header = self.build_id.encode("latin-1")  # sent with every read response
        self.serving = serving
        self._frames = frames
        self._campaigns: pl.DataFrame | None = None
        self._catalog: CampaignCatalog | None = None
        self._last_anomalies: dict[int, tuple[Decimal, Decimal, bytes]] = {}
        weakref.finalize(self, serving.close)  # the file stays open while a request holds the store

    @classmethod
    def of_frames(cls, build: PublishedBuild, frames: dict[str, pl.DataFrame]) -> RollupStore:
        """A store of `frames` (however they were read): their serving file made in memory.
        RollupUnavailable when a rollup lacks a column the bodies are made of."""
        for name, frame in frames.items():
            missing = [c for c in REQUIRED_COLUMNS[name] if c not in frame.columns]
            if missing:
                file = ", ".join(part.name for part in build.rollup_parts(name))
                raise RollupUnavailable(f"build {build.build_id}: {file} lacks column(s) {', '.join(missing)}")
        salt = salt_of([build.build_id])
        data = serving_bytes(frames, salt)
        return cls(build, ServingFile.of_bytes(data, salt, f"build {build.build_id}: serving file"), frames)

    @classmethod
    def verified(cls, build: PublishedBuild) -> RollupStore:
        """What the service loads. A build with a serving file: the manifest checked, then the
        file opened after the cheap check (its size, salt and campaigns are the manifest's),
        every later read checked by its CRC. A build without one: its rollups read and verified
        in full (manifest.read_verified), and the serving file made from them in memory."""
        label = f"build {build.build_id}"
        if build.problem is not None:
            raise BuildCorrupt(f"{label}: {build.problem}")
        check_manifest(build.manifest, f"{label}: manifest.json")
        entry = build.manifest.get(SERVING)
        if entry is None:
            return cls.of_frames(build, read_verified(build))
        return cls(build, ServingFile.open(build.path / entry["file"], entry, f"{label}: {entry['file']}"))

    def __len__(self) -> int:
        return len(self.serving)

    @property
    def damaged(self) -> str | None:
        """What was found wrong with the serving file while serving, if anything."""
        return self.serving.damaged

    def rows(self) -> dict[str, int]:
        """Rows per rollup, as the manifest records them."""
        outputs = self.build.manifest.get("outputs", {})
        if self._frames is not None:
            return {name: frame.height for name, frame in self._frames.items()}
        return {name: int(outputs[name]["rows"]) for name in ROLLUPS}

    def campaigns(self) -> pl.DataFrame:
        """The campaign_performance rollup (campaign_id order: a row is a position here), read
        and verified on first use: what the explorer searches and sorts."""
        if self._campaigns is None:
            if self._frames is not None:
                self._campaigns = self._frames["campaign_performance"]
            else:
                try:
                    self._campaigns = read_verified_rollup(self.build, "campaign_performance")
                except BuildCorrupt as exc:  # the build is left as when a read of its serving file fails
                    self.serving.damaged = self.serving.damaged or exc.detail
                    raise
        return self._campaigns

    @property
    def catalog(self) -> CampaignCatalog:
        """What the explorer pages, searches and sorts (catalog.py), made on its first request
        from the campaign_performance rollup (`campaigns`), not at start-up."""
        if self._catalog is None:
            self._catalog = CampaignCatalog(self.campaigns())
        return self._catalog

    def head(self, campaign_id: str) -> Head:
        head = self.serving.find(campaign_id)
        if head is None:
            raise CampaignNotFound(campaign_id)
        return head

    def position(self, campaign_id: str) -> int:
        """The campaign's position in the build, or CampaignNotFound (404)."""
        return self.head(campaign_id).position

    def performance(self, campaign_id: str) -> bytes:
        return self.head(campaign_id).performance

    def performance_at(self, c: int) -> bytes:
        """The performance body of the campaign at position `c` (campaign_id order)."""
        return self.serving.head_at(c).performance

    def performance_bodies(self, positions: list[int], from_file_up_to: int = FROM_FILE_UP_TO) -> bytes:
        """The performance bodies of the campaigns at `positions`, joined by ",": the bytes the
        performance route serves. Up to `from_file_up_to` of them are read from the serving
        file (each checked by its CRC), a longer page is encoded from the verified rollup by the
        expression that wrote them (`CampaignCatalog.bodies`): the same bytes either way."""
        if len(positions) > from_file_up_to:
            return self.catalog.bodies(positions)
        head_at = self.serving.head_at
        return b",".join([head_at(c).performance for c in positions])

    def top_creators(self, campaign_id: str, limit: int) -> bytes:
        head = self.head(campaign_id)
        return b'{"campaign_id":%s,"limit":%d,"creators":[%s]}' % (head.id_json, limit, self.serving.top(head, limit))

    def creators(self, campaign_id: str, limit: int) -> list[dict[str, Any]]:
        """The campaign's best `limit` creators as the objects of its top-creators body."""
        return list(json.loads(self.top_creators(campaign_id, limit))["creators"])

    def days(self, campaign_id: str) -> DayColumns:
        """The campaign's day columns, by date (impressions, clicks, conversions, spend and
        revenue micros): what the anomaly rules compare."""
        days = self.serving.days(self.head(campaign_id))
        return days.impressions, days.clicks, days.conversions, days.spend_micros, days.revenue_micros

    def daily(self, campaign_id: str) -> Days:
        """Every column of the campaign's days, by date."""
        return self.serving.days(self.head(campaign_id))

    def anomalies(self, campaign: str | Head, thresholds: Thresholds) -> bytes:
        """The anomalies body of a campaign (by id, or the head a request already looked up)."""
        head = self.head(campaign) if isinstance(campaign, str) else campaign
        c = head.position
        last = self._last_anomalies.get(c)
        if last is not None and last[0] == thresholds.min_ctr and last[1] == thresholds.min_roas:
            return last[2]
        days = self.serving.days(head)
        ctr, roas, dates = days.ctr, days.roas, days.dates
        epoch = _EPOCH_ORDINAL
        columns = (days.impressions, days.clicks, days.conversions, days.spend_micros, days.revenue_micros)
        alerts = ",".join(
            '{"metric_date":"%s","issues":%s,"ctr":%r,"roas":%r}'  # noqa: UP031 (the fastest here)
            % (date.fromordinal(epoch + dates[i]).isoformat(), ISSUES_JSON[issues], ctr[i], roas[i])
            for i, issues in alert_issues(columns, thresholds)
        )
        body = b'{"campaign_id":%s,"thresholds":%s,"alerts":[%s]}' % (
            head.id_json,
            thresholds.json.encode(),
            alerts.encode(),
        )
        if len(self._last_anomalies) >= _KEPT_ANOMALIES:
            self._last_anomalies.clear()
        self._last_anomalies[c] = (thresholds.min_ctr, thresholds.min_roas, body)
        return body
