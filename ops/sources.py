"""The registry of data sources a refresh can pull from (see connectors/base.py for what a
source is). A source's module is imported when it is used, so that its optional
dependencies are only needed then; what a source needs of the store is read here and
passed in.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from connectors.base import LastPull, Progress, Pulled, Source, no_progress
from ops.config import Settings
from snapshots.store import Store, StoreError

# Re-exported: callers of the registry build and report with these.
__all__ = ["SOURCES", "Progress", "Pulled", "Source", "no_progress"]


def pull_demo(settings: Settings, progress: Progress, **options: Any) -> Pulled:
    """The embedded demo org (no credentials needed)."""
    from connectors.demo import generate_demo_org

    as_of: date = options.get("as_of") or settings.demo.as_of or date.today()
    seed = int(options.get("seed") or settings.demo.seed)
    progress(f"Generating the demo org (seed {seed}, as of {as_of})", 0.1)
    frames = generate_demo_org(
        as_of=as_of, seed=seed, quarters=settings.demo.quarters, scale=settings.demo.scale
    )
    return Pulled(frames=frames, data_as_of=as_of, detail={"seed": seed})


def pull_files(settings: Settings, progress: Progress, **options: Any) -> Pulled:
    """Exported files (CSV / Excel) read through a mapping (connectors/files.py)."""
    from connectors import files

    return files.pull(settings, progress, **options)


def _last_pull(settings: Settings) -> LastPull | None:
    """The current snapshot as an incremental source sees it (None when there is none)."""
    try:
        snap = Store(settings.data_dir).current()
    except StoreError:
        return None
    return LastPull(snap.source, snap.manifest.get("detail") or {}, snap.read_all)


def pull_salesforce(settings: Settings, progress: Progress, **options: Any) -> Pulled:
    """A Salesforce org; incremental on the current snapshot, which is read here and passed
    in (`LastPull`), so the connector never opens the store."""
    from connectors import salesforce

    return salesforce.pull(settings, progress, last=_last_pull(settings), **options)


def pull_hubspot(settings: Settings, progress: Progress, **options: Any) -> Pulled:
    """A HubSpot portal over its v3 CRM API; incremental on the current snapshot (read here,
    passed in as for Salesforce)."""
    from connectors import hubspot

    return hubspot.pull(settings, progress, last=_last_pull(settings), **options)


def pull_warehouse(settings: Settings, progress: Progress, **options: Any) -> Pulled:
    """Tables Fivetran syncs into a PostgreSQL warehouse, mapped by the file presets;
    incremental on the current snapshot (read here, passed in as for Salesforce)."""
    from connectors import warehouse

    return warehouse.pull(settings, progress, last=_last_pull(settings), **options)


SOURCES: dict[str, Source] = {
    "demo": pull_demo,
    "files": pull_files,
    "salesforce": pull_salesforce,
    "hubspot": pull_hubspot,
    "warehouse": pull_warehouse,
}
