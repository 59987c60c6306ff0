"""The serving file: every body a read request needs, prepared once at publish, read in place.

The build writes it beside the Parquet rollups (publish.py, from the same frames) and lists it
in the manifest with its size, sha256 and salt. Every worker of every replica opens the same
file and reads the few hundred bytes a request needs with `os.pread`: the bytes live once, in
the kernel's page cache, shared by all the processes that read the file, so a worker's private
memory and its start-up time do not grow with the number of campaigns.

Why `pread` and not a memory map: reading a page of a mapped file that was truncated (or whose
read fails) raises SIGBUS, which kills a CPython process; a short `pread` is an ordinary error.
A worker must never die of a file it serves, so nothing here is mapped (DECISIONS.md has the
measurements of both).

Layout, all integers little-endian:

    header      64 bytes: magic, format version, salt, campaigns, slots, where the two tables
                start, the file's size, and a CRC-32 of those fields
    records     per campaign, in campaign_id order:
                  creators  u32 n, u32 end[n] (end of each JSON object in the text), the
                            creators' JSON objects joined by "," (rank order): a top k is one slice
                  days      u32 n, then columns of n values each (by date): impressions, clicks,
                            conversions, spend micros, revenue micros (i64); spend, revenue,
                            ctr, roas (f64, as the rollup holds them); date (i32, days since 1970)
                  head      HEAD fields (its own CRC, its position, the sizes of what follows,
                            where the creators and days records are and their CRCs), then the
                            campaign id (UTF-8), the id as JSON, the performance body
    positions   per campaign (campaign_id order): head offset, head length, CRC-32
    slots       an open-addressing hash table (linear probing, no wrap-around, at most half
                full) on crc32(campaign id): hash, head length, head offset, CRC-32; an empty
                slot has length 0 and a valid CRC too; the table ends with 4 empty slots

Verification: every record and table entry carries a CRC-32 seeded with the file's salt, and
every read checks the CRC of exactly the bytes it returns, so a changed byte is never served
(CRC-32 catches every error burst of up to 32 bits, so any single damaged byte). The salt is
derived from the rollups' sha256s and recorded in the manifest: a record copied in from
another build's serving file fails its CRC here. At open, only the header is read and checked
against the manifest (size, salt, campaigns): that is the cheap check at "map" time; the
file's sha256 is checked when a build is verified in full (`manifest.verify`, the build side).

    write_serving(rollups, path, salt)   the file, from the three rollups (frames or Parquet scans); its entry
    serving_bytes(rollups, salt)         the same bytes in memory (builds published without one)
    ServingFile.open(path, entry)        the cheap check; then find / head_at / creators / days
"""

from __future__ import annotations

import hashlib
import io
import os
import struct
import zlib
from array import array
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

import polars as pl

from campaign_analytics.errors import BuildCorrupt
from campaign_analytics.published.manifest import ROLLUP_ORDER, check_rollup_frame

SERVING_FILE = "serving.bin"
FORMAT = "campaign-analytics-serving/1"
MAGIC = b"CASERVE1"
VERSION = 1
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
CREATOR_FIELDS = (
    "campaign_id",
    "creator_id",
    "creator_name",
    "total_impressions",
    "total_clicks",
    "total_conversions",
    "total_spend",
    "ctr",
)
DAY_COUNTS = (
    "total_impressions",
    "total_clicks",
    "total_conversions",
    "total_spend_micros",
    "total_revenue_micros",
)
DAY_FLOATS = ("total_spend", "total_revenue", "ctr", "roas")
# What each rollup must hold for the bodies to be made from it.
REQUIRED_COLUMNS = {
    "campaign_performance": ("campaign_id", "campaign_name", *PERFORMANCE_TOTALS),
    "top_creators": (*CREATOR_FIELDS, "rank"),
    "daily_anomalies": ("campaign_id", "metric_date", *DAY_COUNTS, *DAY_FLOATS),
}

_HEADER = struct.Struct("<8sIIQQQQQ")  # magic, version, salt, campaigns, slots, positions at, slots at, size
_HEADER_SIZE = 64
_SLOT = struct.Struct("<IIQI")  # hash, head length (0: empty), head offset, crc of the 16 bytes before
_POSITION = struct.Struct("<QII")  # head offset, head length, crc of the 12 bytes before
# crc (of all that follows), position, id bytes, id JSON bytes, performance bytes,
# creators at, creators length, creators crc, days at, days length, days crc
_HEAD = struct.Struct("<IIIIIQIIQII")
_COUNT = struct.Struct("<I")
_PROBE = 4  # slots read per pread while probing
_PROBE_AT = tuple(range(0, _PROBE * _SLOT.size, _SLOT.size))
_BLOCK = 8192  # campaigns prepared per step when writing (bounds the writer's memory)


# --- writing ---------------------------------------------------------------------------------


def write_serving(rollups: Mapping[str, pl.DataFrame | pl.LazyFrame], path: Path, salt: int) -> dict[str, Any]:
    """Write the serving file of `rollups` (the three rollups, each in key order: frames, or
    lazy scans of their Parquet parts, read a chunk of campaigns at a time) to `path`,
    fsync it, and return its manifest entry. A failed write (a full disk) raises OSError and
    leaves a partial file for the caller's clean-up (publish removes its staging folder)."""
    with path.open("wb") as handle:
        campaigns = _write(rollups, handle, salt)
        handle.flush()
        os.fsync(handle.fileno())
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return {
        "file": path.name,
        "format": FORMAT,
        "bytes": path.stat().st_size,
        "sha256": digest.hexdigest(),
        "campaigns": campaigns,
        "salt": salt,
    }


def serving_bytes(rollups: Mapping[str, pl.DataFrame | pl.LazyFrame], salt: int) -> bytes:
    """The serving file of `rollups`, in memory: byte for byte what `write_serving` writes."""
    buffer = io.BytesIO()
    _write(rollups, buffer, salt)
    return buffer.getvalue()


def performance_body() -> pl.Expr:
    """A campaign_performance row's performance body (docs/contract.md §4), as polars encodes it:
    the one definition, used here and for the explorer's long pages of campaigns."""
    return pl.struct("campaign_id", "campaign_name", pl.struct(PERFORMANCE_TOTALS).alias("totals")).struct.json_encode()


def salt_of(sha256s: list[str]) -> int:
    """A salt that ties a serving file to the rollups it was made from (their sha256s)."""
    return int(hashlib.sha256("".join(sha256s).encode()).hexdigest()[:8], 16)


def _write(rollups: Mapping[str, pl.DataFrame | pl.LazyFrame], out: BinaryIO, salt: int) -> int:
    performance = rollups["campaign_performance"].lazy().collect()  # one row per campaign
    check_rollup_frame("campaign_performance", performance)
    creators, days = rollups["top_creators"].lazy(), rollups["daily_anomalies"].lazy()
    n = performance.height
    encoded_id = pl.struct(pl.col("campaign_id").alias("i")).struct.json_encode()
    heads = performance.select(
        pl.col("campaign_id"),
        # {"i":<id>} -> <id>: the campaign id as JSON, by the same encoder as the bodies
        encoded_id.str.slice(5, encoded_id.str.len_chars() - 6).alias("id_json"),
        performance_body().alias("body"),
    )
    creator_json = pl.struct(CREATOR_FIELDS).struct.json_encode().alias("json")
    day_columns = (*DAY_COUNTS, *DAY_FLOATS, pl.col("metric_date").cast(pl.Int32).alias("date"))  # days since 1970
    creator_first, creator_count = _runs(performance, creators, "top_creators")
    day_first, day_count = _runs(performance, days, "daily_anomalies")

    out.write(bytes(_HEADER_SIZE))  # the header is written last, when the tables are placed
    at = _HEADER_SIZE
    positions: list[tuple[int, int]] = []
    for lo in range(0, n, _BLOCK):
        hi = min(n, lo + _BLOCK)
        block = heads.slice(lo, hi - lo)
        ids, id_json, bodies = (block[c].to_list() for c in ("campaign_id", "id_json", "body"))
        c_lo = creator_first[lo] if hi > lo else 0
        c_hi = max((creator_first[c] + creator_count[c] for c in range(lo, hi)), default=c_lo)
        # each chunk starts and ends at a campaign's edge: its key order is checked whole
        chunk = creators.slice(c_lo, c_hi - c_lo).collect()
        check_rollup_frame("top_creators", chunk)
        objects = [text.encode() for text in chunk.select(creator_json)["json"].to_list()]
        d_lo = day_first[lo]
        d_hi = max((day_first[c] + day_count[c] for c in range(lo, hi)), default=d_lo)
        chunk = days.slice(d_lo, d_hi - d_lo).collect()
        check_rollup_frame("daily_anomalies", chunk)
        part = chunk.select(day_columns)
        columns = [
            *(memoryview(array("q", part[c].to_list()).tobytes()) for c in DAY_COUNTS),
            *(memoryview(array("d", part[c].to_list()).tobytes()) for c in DAY_FLOATS),
        ]
        dates = memoryview(array("i", part["date"].to_list()).tobytes())
        for i, c in enumerate(range(lo, hi)):
            mine = objects[creator_first[c] - c_lo : creator_first[c] - c_lo + creator_count[c]]
            ends, end = array("I"), -1
            for text in mine:
                end += len(text) + 1
                ends.append(end)
            creators_record = _COUNT.pack(len(mine)) + ends.tobytes() + b",".join(mine)
            first, count = day_first[c] - d_lo, day_count[c]
            days_record = b"".join(
                [
                    _COUNT.pack(count),
                    *(column[first * 8 : (first + count) * 8] for column in columns),
                    dates[first * 4 : (first + count) * 4],
                ]
            )
            raw_id, json_id, body = ids[i].encode(), id_json[i].encode(), bodies[i].encode()
            creators_at, days_at = at, at + len(creators_record)
            head_at = days_at + len(days_record)
            fields = _HEAD.pack(
                0,
                c,
                len(raw_id),
                len(json_id),
                len(body),
                creators_at,
                len(creators_record),
                zlib.crc32(creators_record, salt),
                days_at,
                len(days_record),
                zlib.crc32(days_record, salt),
            )[4:]
            head = fields + raw_id + json_id + body
            head = _COUNT.pack(zlib.crc32(head, salt)) + head
            out.write(creators_record)
            out.write(days_record)
            out.write(head)
            positions.append((head_at, len(head)))
            at = head_at + len(head)

    positions_at = at
    for offset, length in positions:
        entry = struct.pack("<QI", offset, length)
        out.write(entry + _COUNT.pack(zlib.crc32(entry, salt)))
    slots_at = positions_at + n * _POSITION.size
    table = _slots(heads["campaign_id"].to_list(), positions, salt)
    out.write(b"".join(table))
    size = slots_at + len(table) * _SLOT.size
    header = _HEADER.pack(MAGIC, VERSION, salt, n, len(table), positions_at, slots_at, size)
    out.seek(0)
    out.write(header + _COUNT.pack(zlib.crc32(header, salt)))
    out.seek(size)
    return n


def _slots(ids: list[str], positions: list[tuple[int, int]], salt: int) -> list[bytes]:
    """The hash table: 2^k home slots (at least twice the campaigns), linear probing forward,
    extended at the end instead of wrapping, with _PROBE empty slots last."""
    home = 8
    while home < 2 * len(ids):
        home *= 2
    entries: list[tuple[int, int, int] | None] = [None] * home
    for campaign_id, (offset, length) in zip(ids, positions, strict=True):
        hashed = zlib.crc32(campaign_id.encode())
        i = hashed & (home - 1)
        while i < len(entries) and entries[i] is not None:
            i += 1
        if i == len(entries):
            entries.append(None)
        entries[i] = (hashed, length, offset)
    entries += [None] * _PROBE  # a probe reads _PROBE slots at a time and stops at an empty one
    empty = struct.pack("<IIQ", 0, 0, 0)
    empty += _COUNT.pack(zlib.crc32(empty, salt))
    table = []
    for entry in entries:
        if entry is None:
            table.append(empty)
        else:
            packed = struct.pack("<IIQ", *entry)
            table.append(packed + _COUNT.pack(zlib.crc32(packed, salt)))
    return table


def _runs(campaigns: pl.DataFrame, rollup: pl.LazyFrame, name: str) -> tuple[list[int], list[int]]:
    """Per campaign (in `campaigns` order), its first row in `rollup` and its row count. Every
    rollup is in key order (campaign_id first; checked before publishing), so a campaign's rows
    are one run."""
    runs = rollup.select(pl.col("campaign_id").rle()).collect().unnest("campaign_id")
    ids = runs["value"]
    if ids.null_count() or not (ids.len() < 2 or bool((ids.slice(1) > ids.slice(0, ids.len() - 1)).all())):
        key = ", ".join(ROLLUP_ORDER[name])
        raise BuildCorrupt(f"{name}: rows are not in ({key}) order: a campaign's rows are not one run")
    unknown = ids.filter(~ids.is_in(campaigns["campaign_id"].implode()))
    if unknown.len():
        raise BuildCorrupt(f"{name}: rows of campaign {unknown[0]!r}, which campaign_performance lacks")
    runs = runs.with_columns(first=runs["len"].cum_sum() - runs["len"]).rename({"value": "campaign_id"})
    placed = campaigns.select("campaign_id").join(runs, on="campaign_id", how="left", maintain_order="left")
    # a campaign without rows starts where the next rows would: its empty run is in order
    first = placed["first"].fill_null(strategy="backward").fill_null(int(runs["len"].sum()))
    return first.to_list(), placed["len"].fill_null(0).to_list()


# --- reading ---------------------------------------------------------------------------------


class Head(NamedTuple):
    """One campaign's head record, verified: what a performance request needs, and where the
    rest of the campaign is."""

    position: int
    id_json: bytes
    performance: bytes
    creators_at: int
    creators_length: int
    creators_crc: int
    days_at: int
    days_length: int
    days_crc: int


_new_head = tuple.__new__  # a Head from its fields without NamedTuple's Python-level __new__


class Days(NamedTuple):
    """A campaign's days, by date, as read-only views of one verified record."""

    impressions: memoryview[int]
    clicks: memoryview[int]
    conversions: memoryview[int]
    spend_micros: memoryview[int]
    revenue_micros: memoryview[int]
    spend: memoryview[float]
    revenue: memoryview[float]
    ctr: memoryview[float]
    roas: memoryview[float]
    dates: memoryview[int]  # days since 1970-01-01


class ServingFile:
    """A serving file opened for reading; every method verifies the bytes it returns.

    Damage found while serving (a CRC that fails, a read that comes back short because the
    file was truncated, an I/O error) raises BuildCorrupt and is remembered in `damaged`, so
    the service can stop answering from this build."""

    def __init__(self, source: int | bytes, header: bytes, salt: int, label: str) -> None:
        """`source`: an open file descriptor (read with pread) or the file's bytes."""
        self._fd = source if isinstance(source, int) else -1
        self._data: bytes | None = None if isinstance(source, int) else source
        self._open = isinstance(source, int)
        self.label = label
        self.salt = salt
        self.damaged: str | None = None
        fields = header[: _HEADER.size]
        crc = _COUNT.unpack_from(header, _HEADER.size)[0]
        if zlib.crc32(fields, salt) != crc:
            raise BuildCorrupt(f"{label}: its header fails its checksum (damaged, or not the file of this build)")
        magic, version, found_salt, campaigns, slots, positions_at, slots_at, size = _HEADER.unpack(fields)
        if magic != MAGIC or version != VERSION or found_salt != salt:
            raise BuildCorrupt(f"{label}: not a serving file of format {VERSION} for this build")
        self.campaigns: int = campaigns
        self.slots: int = slots
        self.size: int = size
        self._positions_at: int = positions_at
        self._positions: bytes | None = None  # the positions table, read on first `head_at`
        self._slots_at: int = slots_at
        home = 8
        while home < 2 * campaigns:
            home *= 2
        self._mask = home - 1

    @classmethod
    def open(cls, path: Path, entry: Mapping[str, Any], label: str) -> ServingFile:
        """Open the serving file of a manifest `entry` after the cheap check: its size and its
        header's salt and campaign count are the manifest's. BuildCorrupt otherwise."""
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError:
            raise BuildCorrupt(f"{label} is missing") from None
        except OSError as exc:
            raise BuildCorrupt(f"{label}: cannot open it: {exc.strerror or exc}") from None
        try:
            size = os.fstat(fd).st_size
            if size != entry["bytes"]:
                raise BuildCorrupt(f"{label} has {size} bytes; the manifest says {entry['bytes']} (cut short?)")
            header = os.pread(fd, _HEADER_SIZE, 0)
            if len(header) < _HEADER_SIZE:
                raise BuildCorrupt(f"{label} is shorter than its header")
            served = cls(fd, header, entry["salt"], label)
            if served.campaigns != entry["campaigns"] or served.size != size:
                raise BuildCorrupt(f"{label}: its header does not match the manifest")
        except BaseException:
            os.close(fd)
            raise
        return served

    @classmethod
    def of_bytes(cls, data: bytes, salt: int, label: str) -> ServingFile:
        """A serving file held in memory (what `serving_bytes` made)."""
        return cls(data, data[:_HEADER_SIZE], salt, label)

    def close(self) -> None:
        if self._open:
            self._open = False
            os.close(self._fd)

    def __len__(self) -> int:
        return self.campaigns

    def _read(self, offset: int, length: int) -> bytes:
        try:
            data = os.pread(self._fd, length, offset) if self._data is None else self._data[offset : offset + length]
        except OSError as exc:
            raise self._damage(f"cannot read {length} bytes at {offset}: {exc.strerror or exc}") from None
        if len(data) != length:
            raise self._damage(f"{length} bytes at {offset} read back as {len(data)} (the file was cut short)")
        return data

    def _damage(self, problem: str) -> BuildCorrupt:
        message = f"{self.label}: {problem}"
        self.damaged = self.damaged or message
        return BuildCorrupt(message)

    def find(self, campaign_id: str) -> Head | None:
        """The head of `campaign_id`, or None when the build has no such campaign."""
        try:
            key = campaign_id.encode()
        except UnicodeEncodeError:  # a lone surrogate: no campaign id is one
            return None
        hashed = zlib.crc32(key)
        i = hashed & self._mask
        salt, read, unpack, crc32 = self.salt, self._read, _SLOT.unpack_from, zlib.crc32
        # the table ends with _PROBE empty slots, so a probe stops before its end
        while i + _PROBE <= self.slots:
            data = read(self._slots_at + i * _SLOT.size, _PROBE * _SLOT.size)
            for k in _PROBE_AT:
                found, length, offset, crc = unpack(data, k)
                if crc32(data[k : k + 16], salt) != crc:
                    raise self._damage(f"hash slot {i + k // _SLOT.size} fails its checksum")
                if not length:
                    return None
                if found == hashed:
                    head, raw_id = self._head(offset, length)
                    if raw_id == key:
                        return head
            i += _PROBE
        raise self._damage("the hash table does not end with empty slots")

    def head_at(self, position: int) -> Head:
        """The head of the campaign at `position` (0 .. campaigns - 1, campaign_id order).

        The positions table (16 bytes a campaign) is read whole on first use and kept: a page
        of the explorer then costs one read a campaign, not two (50 campaigns at 200,000: ~90
        us less). Each entry is still checked by its CRC when used, and the head it leads to by
        its own CRC and position, so a table kept from a file changed since is found out."""
        if not 0 <= position < self.campaigns:
            raise IndexError(position)
        if self._positions is None:
            self._positions = self._read(self._positions_at, self.campaigns * _POSITION.size)
        at = position * _POSITION.size
        entry = self._positions[at : at + _POSITION.size]
        offset, length, crc = _POSITION.unpack(entry)
        if zlib.crc32(entry[:12], self.salt) != crc:
            raise self._damage(f"position {position} fails its checksum")
        head, _ = self._head(offset, length)
        if head.position != position:
            raise self._damage(f"position {position} leads to the head of position {head.position}")
        return head

    def _head(self, offset: int, length: int) -> tuple[Head, bytes]:
        data = self._read(offset, length)
        if length < _HEAD.size or zlib.crc32(data[4:], self.salt) != _COUNT.unpack_from(data)[0]:
            raise self._damage(f"the record at {offset} fails its checksum")
        fields = _HEAD.unpack_from(data)
        id_end = _HEAD.size + fields[2]
        json_end = id_end + fields[3]
        head = _new_head(Head, (fields[1], data[id_end:json_end], data[json_end : json_end + fields[4]], *fields[5:]))
        return head, data[_HEAD.size : id_end]

    def _record(self, offset: int, length: int, crc: int, what: str) -> bytes:
        data = self._read(offset, length)
        if zlib.crc32(data, self.salt) != crc:
            raise self._damage(f"the {what} record at {offset} fails its checksum")
        return data

    def creators(self, head: Head) -> tuple[memoryview[int], bytes]:
        """(where each creator's JSON object ends in the text, the text): the creators of
        `head`'s campaign, best first, joined by ","."""
        data = self._record(head.creators_at, head.creators_length, head.creators_crc, "creators")
        count = _COUNT.unpack_from(data)[0]
        text_at = 4 + 4 * count
        return memoryview(data)[4:text_at].cast("I"), data[text_at:]

    def top(self, head: Head, limit: int) -> bytes:
        """The JSON objects of the best `limit` creators of `head`'s campaign, joined by ","."""
        data = self._record(head.creators_at, head.creators_length, head.creators_crc, "creators")
        count = _COUNT.unpack_from(data)[0]
        if not count:
            return b""
        end = _COUNT.unpack_from(data, 4 * min(limit, count))[0]  # end[k - 1], after the count
        return data[4 + 4 * count : 4 + 4 * count + end]

    def days(self, head: Head) -> Days:
        """The days of `head`'s campaign, by date."""
        data = memoryview(self._record(head.days_at, head.days_length, head.days_crc, "days"))
        count = _COUNT.unpack_from(data)[0]
        size = 8 * count

        def ints(k: int) -> memoryview[int]:
            return data[4 + k * size : 4 + (k + 1) * size].cast("q")

        def floats(k: int) -> memoryview[float]:
            return data[4 + k * size : 4 + (k + 1) * size].cast("d")

        dates = data[4 + 9 * size : 4 + 9 * size + 4 * count].cast("i")
        return Days(ints(0), ints(1), ints(2), ints(3), ints(4), floats(5), floats(6), floats(7), floats(8), dates)
