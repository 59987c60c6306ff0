"""`campaign-analytics build ...` (the batch build job) and `campaign-analytics serve ...` (the API).

build: exit codes 0 published (or already up to date with --if-stale), 2 invalid input (a
message naming file, line and column, or a data-quality limit exceeded; nothing published),
1 anything else (one line for an OS error such as a full disk; a bug prints its traceback).
While it runs, each step is printed to stderr with the time since the start; the summary
goes to stdout. `--engine spark` (or BUILD_ENGINE=spark) runs the same SQL on Apache Spark,
locally or on `--spark-master URL` (build/engines/spark.py), with the same exit codes.

serve: uvicorn with `create_app()`, the logging set-up of logs.py, and, with several workers,
Prometheus' multiprocess mode (see metrics.py).
"""

from __future__ import annotations

import argparse
import errno
import os
import re
import sys
import tempfile
import threading
import time
import traceback
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from campaign_analytics import __version__
from campaign_analytics.errors import CampaignAnalyticsError

BUILD_DESCRIPTION = """\
Build the rollups of one data folder and publish them, atomically, for the service to serve.

Input (--data-dir): campaigns, creators and campaign_daily_metrics, each as a .csv or a
.parquet file. Every cell is checked; the first bad one is named by file, line and column.
With --engine spark (or BUILD_ENGINE=spark) the same SQL files run on Apache Spark, locally
or on a cluster (--spark-master), and --data-dir may also be a URI Spark reads (hdfs://, s3a://).

Output (--out): a new folder OUT/builds/<build id> holding the three rollups as Parquet files
(campaign_performance, top_creators, daily_anomalies) and a manifest.json (fingerprints of
the inputs, the SQL files and the outputs; data-quality counts); then OUT/current is pointed
at it in one atomic rename. A running service picks it up without a restart. The build before
it is kept, older ones are removed. Progress goes to stderr, a summary to stdout."""

BUILD_EXIT_CODES = """\
exit codes:
  0  published (with --if-stale: or already up to date)
  2  invalid input: a bad file, line or cell, or a --max-*-ratio exceeded; nothing published
  1  anything else (a full disk, a folder that cannot be written...); nothing published"""

_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def _ratio(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a number") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{raw} is not a ratio between 0 and 1")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="campaign-analytics", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    build = commands.add_parser(
        "build",
        help="build the rollups of DATA_DIR and publish them atomically",
        description=BUILD_DESCRIPTION,
        epilog=BUILD_EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    build.add_argument(
        "--data-dir",
        metavar="DIR",
        help="folder of input files (default: $DATA_DIR); with --engine spark also a URI Spark reads (hdfs://, s3a://)",
    )
    build.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="rollup folder to publish into (default: $ROLLUP_DIR, else build/<dataset>)",
    )
    build.add_argument(
        "--dataset",
        metavar="NAME",
        help="dataset name in the manifest (default: $DATASET, else the data folder's name)",
    )
    build.add_argument(
        "--if-stale",
        action="store_true",
        help="build only when needed: when the build in OUT/current was made from these very input files and "
        "SQL files and still verifies, print 'up to date' and exit 0 without building",
    )
    for name, rows in (
        ("duplicate", "repeat a (metric_date, campaign_id, creator_id) key (they are summed)"),
        ("orphan", "belong to campaigns missing from the campaigns file (they are excluded)"),
        ("unknown-creator", "name creators missing from the creators file (they are kept, without a name)"),
    ):
        build.add_argument(
            f"--max-{name}-ratio",
            type=_ratio,
            metavar="R",
            help=f"refuse the build (exit 2, nothing published) when more than R (a share from 0 to 1) "
            f"of the metrics rows {rows}",
        )
    build.add_argument(
        "--engine",
        choices=("polars", "spark"),
        help="polars (one machine) or spark (the same SQL on Apache Spark); default: BUILD_ENGINE, else polars",
    )
    build.add_argument(
        "--spark-master",
        metavar="URL",
        help="with --engine spark: the cluster to run on (spark://host:7077, yarn, k8s://...); default local[*], "
        "or Spark Connect when SPARK_REMOTE is set",
    )
    build.add_argument("--quiet", action="store_true", help="no progress lines on stderr")

    serve = commands.add_parser("serve", help="serve the API with uvicorn (the same app as `uvicorn app:app`)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default: PORT, else 8080)")
    serve.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    # request-head bounds (http/protocol.py): uvicorn's HTTP protocol reads these two settings from
    # MAX_HEADER_BYTES / HEADER_TIMEOUT_SECONDS; the options below set those variables.
    serve.add_argument("--max-header-bytes", type=int, help="largest request head accepted (MAX_HEADER_BYTES)")
    serve.add_argument(
        "--header-timeout", type=float, help="seconds a client has to send its request head (HEADER_TIMEOUT_SECONDS)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "serve":
        return serve(args)
    return build_command(args, parser)


# --- build ---------------------------------------------------------------------------------


class _Progress:
    """Prints `campaign-analytics build: 1.23 s  <step>` to stderr as each step starts."""

    def __init__(self, quiet: bool) -> None:
        self.started = time.perf_counter()
        self.quiet = quiet

    def __call__(self, step: str) -> None:
        if not self.quiet:
            _write(sys.stderr, f"campaign-analytics build: {time.perf_counter() - self.started:6.2f} s  {step}")


def build_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    # Imported here so that `--help` and `--version` answer without loading polars.
    from campaign_analytics.build.pipeline import build
    from campaign_analytics.build.quality import describe
    from campaign_analytics.settings import Settings

    engine = args.engine or os.environ.get("BUILD_ENGINE", "").strip() or "polars"
    if engine not in ("polars", "spark"):
        parser.error(f"BUILD_ENGINE={engine!r}: choose polars or spark")
    if args.spark_master and engine != "spark":
        parser.error("--spark-master needs --engine spark (or BUILD_ENGINE=spark)")
    given = args.data_dir or os.environ.get("DATA_DIR", "").strip()
    uri = given if _URI.match(given) else None
    if uri and engine != "spark":
        parser.error(f"{uri}: only --engine spark reads a URI; the default engine reads a local folder")
    try:
        # a URI's last segment names the dataset (and the default rollup folder), as a folder's name does
        folder = Path(uri.rstrip("/").rsplit("/", 1)[-1]) if uri else (Path(given) if given else None)
        target = Settings.for_build(folder, dataset=args.dataset, rollup_dir=args.out)
    except CampaignAnalyticsError:
        parser.error("build needs the input folder: pass --data-dir DIR or set DATA_DIR")
    data_dir: Path | str = uri or target.data_dir
    dataset, out = target.dataset, target.rollup_dir
    limits = {
        name: value
        for name, value in (
            ("duplicate", args.max_duplicate_ratio),
            ("orphan", args.max_orphan_ratio),
            ("unknown_creator", args.max_unknown_creator_ratio),
        )
        if value is not None
    }
    progress = _Progress(args.quiet)
    try:
        result = build(
            data_dir,
            out,
            dataset=dataset,
            only_if_stale=args.if_stale,
            progress=progress,
            max_ratios=limits,
            engine=engine,
            spark_master=args.spark_master,
        )
    except CampaignAnalyticsError as exc:
        print(f"campaign-analytics build: {exc.detail}", file=sys.stderr)
        return exc.exit_code
    except Exception as exc:
        if _no_space(exc):
            print(f"campaign-analytics build: {out}: no space left on device; nothing was published", file=sys.stderr)
            return 1
        if isinstance(exc, OSError):
            print(f"campaign-analytics build: {exc}; nothing was published", file=sys.stderr)
            return 1
        traceback.print_exc()
        print("campaign-analytics build: failed unexpectedly (see above); nothing was published", file=sys.stderr)
        return 1
    if result.skipped:
        _write(sys.stdout, result.summary())
    else:
        _write(sys.stdout, summary(result, describe))
    return 0


def summary(result: Any, describe: Any) -> str:
    manifest = result.build.manifest
    metric_rows = int(manifest["inputs"].get("campaign_daily_metrics", {}).get("rows", 0))
    rows_in = ", ".join(f"{k} {v['rows']:,}" for k, v in manifest["inputs"].items())
    rows_out = ", ".join(f"{k} {v['rows']:,}" for k, v in manifest["outputs"].items())
    return "\n".join(
        [
            f"published build {result.build.build_id} in {result.seconds:.2f} s",
            f"  rows in:  {rows_in}",
            f"  rows out: {rows_out}",
            f"  data quality: {describe(manifest['data_quality'], metric_rows)}",
            f"  at: {result.build.path}",
        ]
    )


def _no_space(exc: BaseException) -> bool:
    """Is a full disk behind `exc` (an OSError with ENOSPC, or polars' own error saying so)?"""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno == errno.ENOSPC:
            return True
        if "No space left on device" in str(seen) or "os error 28" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _write(stream: Any, text: str) -> None:
    """Print, and when the reader has gone (`... | head`), stop writing quietly: the build is
    published either way, and a BrokenPipe traceback would say otherwise. The line and its
    newline go in one write: `print` writes them apart, and a log line from the server's thread
    (same stream) could land between them."""
    try:
        stream.write(text + "\n")
        stream.flush()
    except BrokenPipeError:
        # Python flushes stdout again at exit; point it at /dev/null so that fails silently too.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)


# --- serve ---------------------------------------------------------------------------------


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from campaign_analytics.http.logs import uvicorn_log_config
    from campaign_analytics.settings import Settings, operations_from_env, port_from_env

    try:
        port = args.port if args.port is not None else port_from_env()
        Settings.from_env()  # a missing DATA_DIR is one clear line, not a traceback per worker
        ops = operations_from_env()
    except CampaignAnalyticsError as exc:
        print(f"campaign-analytics serve: {exc.detail}", file=sys.stderr)
        return 1
    if args.workers < 1:
        print("campaign-analytics serve: --workers must be at least 1", file=sys.stderr)
        return 1
    if args.workers > 1:
        _multiprocess_metrics(ops.get("prometheus_multiproc_dir"))
    if args.max_header_bytes is not None:
        os.environ["MAX_HEADER_BYTES"] = str(args.max_header_bytes)
    if args.header_timeout is not None:
        os.environ["HEADER_TIMEOUT_SECONDS"] = str(args.header_timeout)
    from campaign_analytics.http.protocol import serve_options

    try:
        bounds = serve_options()  # the bounded protocol and keep-alive, limits checked now
    except CampaignAnalyticsError as exc:
        print(f"campaign-analytics serve: {exc.detail}", file=sys.stderr)
        return 1
    if port:  # port 0: the system picks one, and uvicorn's own line says which
        threading.Thread(target=_announce_when_up, args=(args.host, port), name="announce", daemon=True).start()
    uvicorn.run(
        "campaign_analytics.serve.app:create_app_for_server",
        factory=True,
        host=args.host,
        port=port,
        workers=args.workers,
        **bounds,
        log_config=uvicorn_log_config(
            str(ops["log_format"]), str(ops["log_level"]), access_log=bool(ops["access_log"])
        ),
        access_log=False,  # the request log is ours (middleware.py): it has the request id and latency
        server_header=False,
    )
    return 0


def _announce_when_up(host: str, port: int, pause: float = 0.1) -> None:
    """Once the server answers /livez, say where to go: the explorer and the API docs. Asking
    the server itself is the one signal that holds for one worker or several."""
    shown = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "": "127.0.0.1"}.get(host, f"[{host}]" if ":" in host else host)
    base = f"http://{shown}:{port}"
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through an HTTP_PROXY
    while True:
        try:
            with direct.open(base + "/livez", timeout=1) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        time.sleep(pause)
    _write(sys.stderr, f"campaign-analytics serve: explorer {base}/  API docs {base}/docs")


def _multiprocess_metrics(directory: object) -> None:
    """Workers share /metrics through files in PROMETHEUS_MULTIPROC_DIR: use the one given
    (emptied: values of an earlier run would be added in) or make one; the workers inherit it."""
    if isinstance(directory, Path):
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):
            stale.unlink()
    else:
        directory = Path(tempfile.mkdtemp(prefix="campaign-analytics-metrics-"))
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
