"""The Data & refresh page's answer, laid out: is the data fresh, did the last refresh work,
when is the next one, and what the current snapshot holds (its rows, with the change since the
previous snapshot); then whether the scheduler runs. Layout only: the facts come from the store,
the run log and the schedule (`ops`, `snapshots`)."""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st

from model import formats
from ops.config import Settings
from ops.heartbeat import START_COMMAND, liveness
from ops.runlog import last_run
from ops.schedule import next_runs
from pages._text import md_text
from snapshots.store import Snapshot, Store, StoreError


def _off(text: str) -> dict[str, str]:
    """A note in the metric's delta slot: grey, no arrow (not a change)."""
    return {"delta": text, "delta_color": "off", "delta_arrow": "off"}


def _rows(snapshot: Snapshot) -> int:
    """Rows of every table of the snapshot, as its manifest records them."""
    return sum(t["rows"] for t in snapshot.manifest["tables"].values())


def _current(store: Store) -> tuple[Snapshot | None, Snapshot | None]:
    """The current snapshot and the one stored before it (None where there is none)."""
    try:
        snapshots, current_id = store.list(), store.current_id()
    except StoreError:  # said in the Snapshots tab
        return None, None
    current = next((s for s in snapshots if s.id == current_id), None)
    return current, (store.previous(current) if current is not None else None)


def status(settings: Settings, store: Store) -> None:
    """The data's freshness at a glance, for ops: the current snapshot's day and rows, the
    last refresh's outcome and the next scheduled one; then the scheduler's liveness."""
    zone = settings.scoring.timezone
    now = datetime.now(UTC)
    current, previous = _current(store)
    try:
        run = last_run(settings.data_dir)
    except (StoreError, OSError):  # an unreadable run log: said in the Last runs tab
        run = None
    upcoming = next_runs(settings, now, n=1)
    k1, k2, k3, k4 = st.columns(4)
    k1.metric(
        "Data as of",
        f"{current.data_as_of}" if current else "no snapshot",
        help="The day the current snapshot's data describes (the pages read it).",
        border=True,
        **(_off(f"stored {formats.fmt_datetime(current.created_at, zone)}") if current else {}),
    )
    k2.metric(
        "Last refresh",
        run.outcome if run else "none yet",
        help="The newest run of the run log (the Last runs tab lists them).",
        border=True,
        **(_off(f"{md_text(run.source)} · {formats.fmt_datetime(run.started_at, zone)}")
           if run else {}),
    )  # fmt: skip
    if upcoming.is_empty():
        k3.metric("Next scheduled refresh", "none", border=True, **_off("no active schedule"),
                  help="Schedules are in the Schedules tab (scorecard.toml).")  # fmt: skip
    else:
        first = upcoming.row(0, named=True)
        at = first["fire_at"]  # in the schedules' time zone
        k3.metric(
            "Next scheduled refresh",
            f"{at:%a %d %b, %H:%M}",
            help="The soonest firing of the active schedules (the Schedules tab), in "
            f"{settings.schedules.timezone}.",
            border=True,
            **_off(f"{md_text(first['job'])} · {at:%Z}"),
        )
    rows = _rows(current) if current else None
    change = rows - _rows(previous) if rows is not None and previous is not None else None
    k4.metric(
        "Rows in the snapshot",
        f"{rows:,}" if rows is not None else "–",
        help="Rows of every table of the current snapshot. The arrow: the change since the "
        "previous snapshot (neither good nor bad: grey).",
        border=True,
        **(
            {}
            if change is None
            else _off("no change since last snapshot")
            if change == 0
            else {"delta": f"{change:+,} since last snapshot", "delta_color": "off"}
        ),
    )
    alive = liveness(settings.data_dir, now, settings.schedules.timezone)
    if alive.running:
        st.success(md_text(alive.text), icon=":material/monitor_heart:")
    elif alive.beat is not None or settings.schedules.jobs or settings.schedules.prereads:
        st.warning(
            f"{md_text(alive.text)} Scheduled refreshes, pre-reads and alerts wait until it "
            f"runs. Start it on the server with `{START_COMMAND}` (or as a service, see the "
            "README).",
            icon=":material/warning:",
        )
