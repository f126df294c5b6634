"""The one command line, `python -m ops COMMAND`:

refresh [--source S] ...     pull a source and store a new snapshot (through the run log)
snapshots                    list stored snapshots, newest first
schedule [--list]            run the [schedule] jobs until interrupted
runs [--limit N]             show the run log, newest first
scorecard, preread, docs, risk   read the current snapshot (ops/cli_scorecard.py)
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from ops import cli_scorecard
from ops.config import ConfigError, Settings, load_settings
from ops.jobs import run_refresh
from ops.refresh import RefreshError
from ops.sources import SOURCES
from snapshots.store import Store, StoreError


def _progress(message: str, fraction: float) -> None:
    print(f"[{fraction:4.0%}] {message}", flush=True)


def main(argv: list[str] | None = None, *, prog: str = "python -m ops") -> int:
    parser = argparse.ArgumentParser(
        prog=prog,
        description=__doc__ + "\n" + cli_scorecard.__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("refresh", help="pull a source and store a new snapshot")
    run.add_argument("--source", choices=sorted(SOURCES), help="default: [sources].default")
    run.add_argument(
        "--as-of",
        type=date.fromisoformat,
        help="the date the data is as of, YYYY-MM-DD (default: demo [sources.demo] as_of or "
        "today; files, warehouse: as_of in [sources.files] / [sources.warehouse] or the latest "
        "event date in the data; salesforce, hubspot: today)",
    )
    run.add_argument("--seed", type=int, help="demo only: random seed")
    run.add_argument("--path", help="files only: the folder holding the export files")
    run.add_argument(
        "--preset",
        help="files, warehouse: the name of a mapping preset in connectors/presets/ (e.g. "
        "salesforce_export; for warehouse: fivetran_salesforce or fivetran_hubspot)",
    )
    run.add_argument(
        "--mapping",
        type=lambda text: str(Path(text).absolute()),
        help="files, warehouse: a mapping .toml file of your own (any path)",
    )
    run.add_argument(
        "--full",
        action="store_true",
        help="salesforce, hubspot, warehouse: pull everything, not only what changed since the "
        "last refresh",
    )
    run.add_argument(
        "--check",
        action="store_true",
        help="files only: validate the mapping and show what would be loaded; store nothing",
    )
    run.add_argument(
        "--trigger",
        choices=("cli", "page", "manual"),
        default="cli",
        help="who asked for the refresh, as recorded in the run log (default: cli)",
    )
    commands.add_parser("snapshots", help="list stored snapshots, newest first")
    sched = commands.add_parser("schedule", help="run the [schedule] jobs until interrupted")
    sched.add_argument("--list", action="store_true", help="show the next runs and exit")
    runs = commands.add_parser("runs", help="show the run log, newest first")
    runs.add_argument("--limit", type=int, default=20)
    reading = cli_scorecard.add_commands(commands)
    args = parser.parse_args(argv)
    if args.command in reading:
        return reading[args.command](args)
    try:
        settings = load_settings()
        if args.command == "snapshots":
            store = Store(settings.data_dir)
            current = store.current_id()
            for snap in store.list():
                mark = "*" if snap.id == current else " "
                rows = sum(t["rows"] for t in snap.manifest["tables"].values())
                print(f"{mark} {snap.id}  {snap.source:<10} as of {snap.data_as_of}  {rows:,} rows")
            return 0
        if args.command in ("schedule", "runs"):
            return _schedule_or_runs(settings, args)
        options = {
            key: value
            for key, value in vars(args).items()
            if key in {"as_of", "seed", "path", "preset", "mapping"} and value is not None
        }
        if args.check:
            if (args.source or settings.default_source) != "files":
                print("--check applies to --source files only", file=sys.stderr)
                return 2
            from connectors.files import check

            print(check(settings, **options).summary())
            return 0
        if args.full:
            options["full"] = True
        record = run_refresh(
            settings, args.source, trigger=args.trigger, progress=_progress, **options
        )
        if record.outcome == "skipped-locked":
            print(f"refresh skipped: {record.error}", file=sys.stderr)
            return 1
        if not record.ok:
            raise RefreshError(record.error or "unknown error")
        print(record.result.summary())
        return 0
    except (RefreshError, StoreError, ConfigError) as exc:
        print(f"refresh failed: {exc}", file=sys.stderr)
        print("The previous snapshot, if any, is still current.", file=sys.stderr)
        return 1


def _schedule_or_runs(settings: Settings, args: argparse.Namespace) -> int:
    """`schedule [--list]` and `runs [--limit N]` (see ops/schedule.py, runlog.py)."""
    from ops import schedule
    from ops.jobs import utc_now
    from ops.runlog import recent_runs

    if args.command == "runs":
        runs = recent_runs(settings.data_dir, args.limit)
        if runs.height == 0:
            print(f"no refresh recorded in {settings.data_dir} yet")
        for run in runs.iter_rows(named=True):
            rows = f"{run['total_rows']:,} rows" if run["total_rows"] is not None else ""
            print(
                f"{run['run_id']:>5}  {run['started_at']:%Y-%m-%d %H:%M:%S} UTC"
                f"  {run['source']:<10} {run['trigger']:<8} {run['outcome']:<14} {rows:>14}"
                f"  {run['error'] or ''}"
            )
        return 0
    try:
        if args.list:
            print(schedule.describe(settings, utc_now()))
        else:
            schedule.serve(settings)
    except ConfigError as exc:
        print(f"schedule: {exc}", file=sys.stderr)
        return 2
    return 0
