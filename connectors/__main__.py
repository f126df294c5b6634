"""Command line: `python -m connectors refresh --source demo`, `python -m connectors snapshots`."""

from __future__ import annotations

import argparse
import sys
from datetime import date

from connectors.config import ConfigError, load_settings
from connectors.refresh import RefreshError, refresh
from connectors.sources import SOURCES
from connectors.store import Store, StoreError


def _progress(message: str, fraction: float) -> None:
    print(f"[{fraction:4.0%}] {message}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m connectors", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("refresh", help="pull a source and store a new snapshot")
    run.add_argument("--source", choices=sorted(SOURCES), help="default: [sources].default")
    run.add_argument("--as-of", type=date.fromisoformat, help="demo only: the org's as-of date")
    run.add_argument("--seed", type=int, help="demo only: random seed")
    run.add_argument("--path", help="files only: the folder holding the export files")
    run.add_argument("--preset", help="files only: a mapping preset name or .toml file")
    run.add_argument(
        "--check",
        action="store_true",
        help="files only: validate the mapping and show what would be loaded; store nothing",
    )
    commands.add_parser("snapshots", help="list stored snapshots, newest first")
    args = parser.parse_args(argv)
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
        options = {
            key: value
            for key, value in vars(args).items()
            if key in {"as_of", "seed", "path", "preset"} and value is not None
        }
        if args.check:
            if (args.source or settings.default_source) != "files":
                print("--check applies to --source files only", file=sys.stderr)
                return 2
            from connectors.files import check

            print(check(settings, **options).summary())
            return 0
        result = refresh(settings, args.source, progress=_progress, **options)
        print(result.summary())
        return 0
    except (RefreshError, StoreError, ConfigError) as exc:
        print(f"refresh failed: {exc}", file=sys.stderr)
        print("The previous snapshot, if any, is still current.", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
