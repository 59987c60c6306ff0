"""`campaign-analytics build --data-dir DIR [--out DIR]`: the batch build job.

Exit codes: 0 published (or already up to date with --if-stale), 2 invalid input (a message
naming file, line and column; nothing published), 1 anything else.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from campaign_analytics.errors import CampaignAnalyticsError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="campaign-analytics", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="build the rollups of DATA_DIR and publish them atomically")
    build.add_argument("--data-dir", required=True, type=Path, help="folder of raw input files")
    build.add_argument("--out", type=Path, help="rollup folder (default: ROLLUP_DIR, else build/<dataset>)")
    build.add_argument("--dataset", help="dataset name in the manifest (default: DATASET, else the folder name)")
    build.add_argument(
        "--if-stale", action="store_true", help="do nothing when the published build already matches the inputs"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # Imported here so that `--help` answers without loading polars.
    from campaign_analytics.build import build
    from campaign_analytics.settings import dataset_from_env, rollup_dir_from_env

    dataset = args.dataset or dataset_from_env(args.data_dir)
    out = args.out or rollup_dir_from_env(dataset)
    try:
        result = build(args.data_dir, out, dataset=dataset, only_if_stale=args.if_stale)
    except CampaignAnalyticsError as exc:
        print(f"campaign-analytics build: {exc.detail}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:
        print(f"campaign-analytics build: {exc}; nothing was published", file=sys.stderr)
        return 1
    except Exception:
        traceback.print_exc()
        print("campaign-analytics build: failed unexpectedly (see above); nothing was published", file=sys.stderr)
        return 1
    print(result.summary())
    return 0
