"""A small load generator for when wrk is not installed: N keep-alive connections, GET only.

    python -m bench.load --url http://127.0.0.1:8080 --pattern '/campaigns/{id}/performance' \
        --ids ids.txt --connections 32 --seconds 5

Prints one JSON line: requests per second, p50 and p99 latency in ms, non-2xx count. It runs
in its own process; being Python it is slower than wrk, which bench/run.py prefers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from urllib.parse import urlsplit


async def worker(host: str, port: int, paths: list[str], stop: float, latencies: list[float], bad: list[int]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    rng = random.Random(len(latencies))
    try:
        while time.perf_counter() < stop:
            path = rng.choice(paths)
            started = time.perf_counter()
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
            status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if not status_line.split()[1].startswith(b"2"):
                bad.append(1)
    finally:
        writer.close()


async def run(url: str, paths: list[str], connections: int, seconds: float) -> dict[str, float]:
    parts = urlsplit(url)
    latencies: list[float] = []
    bad: list[int] = []
    started = time.perf_counter()
    stop = started + seconds
    await asyncio.gather(
        *(
            worker(parts.hostname or "127.0.0.1", parts.port or 80, paths, stop, latencies, bad)
            for _ in range(connections)
        )
    )
    elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else 0.0

    return {"rps": len(latencies) / elapsed, "p50_ms": pct(0.50), "p99_ms": pct(0.99), "non_2xx": len(bad)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--pattern", required=True)
    parser.add_argument("--ids", required=True)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=5)
    args = parser.parse_args()
    with open(args.ids, encoding="utf-8") as handle:
        ids = handle.read().split()
    paths = [args.pattern.replace("{id}", i) for i in ids]
    print(json.dumps(asyncio.run(run(args.url, paths, args.connections, args.seconds))))


if __name__ == "__main__":
    main()
