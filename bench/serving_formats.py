"""How a worker reads a prepared body: the alternatives measured on one published build.

    python -m bench.serving_formats ROLLUP_DIR [--lookups 200000]

Per lookup of a random campaign's performance body (the smallest read, so the access path is
most of the cost), and per open of the build:

    private copy   the design this replaced: a dict of id -> position, one bytes blob (built at open)
    pread          the serving file as served: hash slot + head record by os.pread, CRC-checked
    mmap           the same file through mmap.mmap (the same lookups and CRCs, slices of the map)
    arrow ipc      the bodies as an Arrow IPC file, memory-mapped by pyarrow (only when pyarrow is
                   installed; it is not a dependency of the service), looked up by a dict index

Nothing asserts; it prints one table.
"""

from __future__ import annotations

import argparse
import json
import mmap
import os
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from campaign_analytics.published.manifest import find_published
from campaign_analytics.published.serving import ServingFile


def timed(function: Callable[[], Any], repeat: int = 1) -> float:
    started = time.perf_counter()
    for _ in range(repeat):
        function()
    return (time.perf_counter() - started) / repeat


def per_lookup(lookup: Callable[[str], bytes], ids: list[str]) -> float:
    started = time.perf_counter()
    for campaign_id in ids:
        lookup(campaign_id)
    return (time.perf_counter() - started) / len(ids) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rollup_dir", type=Path)
    parser.add_argument("--lookups", type=int, default=200_000)
    args = parser.parse_args()
    build = find_published(args.rollup_dir)
    assert build is not None, f"nothing published in {args.rollup_dir}"
    entry = build.manifest["serving"]
    path = build.path / entry["file"]
    served = ServingFile.open(path, entry, "serving.bin")
    bodies = [served.head_at(c).performance for c in range(len(served))]
    ids = [json.loads(body)["campaign_id"] for body in bodies]
    picked = random.Random(7).choices(ids, k=args.lookups)
    rows: list[tuple[str, float, float]] = []

    def private_copy() -> tuple[dict[str, int], bytes, list[int]]:
        index = {campaign_id: c for c, campaign_id in enumerate(ids)}
        at = [0]
        for body in bodies:
            at.append(at[-1] + len(body))
        return index, b"".join(bodies), at

    index, blob, at = private_copy()

    def from_copy(campaign_id: str) -> bytes:
        c = index[campaign_id]
        return blob[at[c] : at[c + 1]]

    rows.append(("private copy", timed(private_copy) * 1e3, per_lookup(from_copy, picked)))

    def by_pread(campaign_id: str) -> bytes:
        head = served.find(campaign_id)
        assert head is not None
        return head.performance

    opened = timed(lambda: ServingFile.open(path, entry, "x").close(), 20)
    rows.append(("pread", opened * 1e3, per_lookup(by_pread, picked)))

    with path.open("rb") as handle:
        mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    via_map = ServingFile(mapped, mapped[:64], entry["salt"], "mmap")  # type: ignore[arg-type]

    def by_map(campaign_id: str) -> bytes:
        head = via_map.find(campaign_id)
        assert head is not None
        return head.performance

    def open_map() -> None:
        with path.open("rb") as handle:
            mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ).close()

    rows.append(("mmap", timed(open_map, 20) * 1e3, per_lookup(by_map, picked)))

    try:
        import pyarrow as pa  # type: ignore[import-not-found, unused-ignore]
        import pyarrow.ipc as ipc  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        print("(pyarrow is not installed: no Arrow IPC row)")
    else:
        with tempfile.TemporaryDirectory() as folder:
            arrow = Path(folder) / "bodies.arrow"
            table = pa.table({"campaign_id": ids, "body": pa.array(bodies, pa.binary())})
            with pa.OSFile(str(arrow), "wb") as sink, ipc.new_file(sink, table.schema) as writer:
                writer.write_table(table, max_chunksize=65536)

            def open_arrow() -> tuple[Any, dict[str, tuple[int, int]]]:
                reader = ipc.open_file(pa.memory_map(str(arrow)))
                found: dict[str, tuple[int, int]] = {}
                for b in range(reader.num_record_batches):
                    for row, campaign_id in enumerate(reader.get_batch(b).column(0).to_pylist()):
                        found[campaign_id] = (b, row)
                return reader, found

            reader, found = open_arrow()
            batches = [reader.get_batch(b).column(1) for b in range(reader.num_record_batches)]

            def by_arrow(campaign_id: str) -> bytes:
                b, row = found[campaign_id]
                value: bytes = batches[b][row].as_py()
                return value

            rows.append(("arrow ipc (mapped)", timed(open_arrow) * 1e3, per_lookup(by_arrow, picked)))
    served.close()
    print(f"{len(ids):,} campaigns, serving file {os.path.getsize(path) / 1e6:.0f} MB, {args.lookups:,} lookups")
    print("access path            open ms   per lookup us")
    print("-" * 48)
    for name, opened, lookup in rows:
        print(f"{name:<20} {opened:9.2f} {lookup:15.2f}")


if __name__ == "__main__":
    main()
