"""The Data & refresh page's sections, laid out: the answer (is the data fresh, did the last
refresh work, when is the next one, what the current snapshot holds with the change since the
previous snapshot, whether the scheduler runs), "Refresh now", and one function per tab: the
run log, the snapshots, the schedules, the sources. Layout only: the facts come from the store,
the run log and the schedule (`ops`, `snapshots`)."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import polars as pl
import streamlit as st

from model import formats
from model.schema import UTC_DATETIME
from ops import background
from ops.alerts import recent_alerts
from ops.config import Settings
from ops.credentials import environment_status
from ops.heartbeat import START_COMMAND, liveness
from ops.lock import lock_holder
from ops.runlog import last_run, recent_runs
from ops.schedule import next_runs
from ops.sources import SOURCES
from pages import _auth, _failures, _schedules, _upload, _widgets
from pages._text import md_text
from snapshots.store import Snapshot, Store, StoreError, storage_problem

RUNS_READ = 500  # runs read to group failures (how often, since when)
RUNS_SHOWN = 50  # runs listed


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
            f"{at:%a %H:%M}",  # the day and month below: the whole date is cut off in the card
            help="The soonest firing of the active schedules (the Schedules tab), in "
            f"{settings.schedules.timezone}.",
            border=True,
            **_off(f"{at:%d %b} · {md_text(first['job'])} · {at:%Z}"),
        )
    rows = _rows(current) if current else None
    change = rows - _rows(previous) if rows is not None and previous is not None else None
    k4.metric(
        "Rows in the snapshot",
        f"{rows:,}" if rows is not None else "—",
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


def refresh_now(settings: Settings) -> tuple[str, str] | None:
    """Refresh a source now, in the background, with its progress; returns the outcome of a
    refresh just finished ("ok" or "failed", and its message), shown here."""
    # One block, so that a message or progress bar shown in it never moves the tabs below (a
    # moved tab bar opens on its first tab again).
    with st.container():
        st.subheader("Refresh now")
        holder = lock_holder(settings.data_dir)
        choices = sorted(SOURCES)
        source = st.selectbox(
            "Source",
            choices,
            index=choices.index(settings.default_source)
            if settings.default_source in choices
            else 0,
            key="refresh_source",
            help="Sources are configured in scorecard.toml; credentials come from the environment.",
        )
        job: background.BackgroundRefresh | None = st.session_state.get("refresh_job")
        busy = holder is not None or (job is not None and job.running())
        if holder is not None:
            st.info(f"A refresh is running: {md_text(holder.describe())}.", icon=":material/sync:")
        if st.button("Refresh now", type="primary", key="refresh_now", disabled=busy):
            try:
                st.session_state["refresh_job"] = background.start(settings, source, trigger="page")
            except OSError as exc:  # the data folder cannot take even the refresh's log file
                problem = storage_problem(exc, settings.data_dir)
                reason = problem or f"the data folder {settings.data_dir.name}: {exc.strerror}"
                st.session_state["refresh_message"] = (
                    "failed",
                    f"Refresh failed: {md_text(reason)}",
                )
            else:
                _auth.record_refresh(source, outcome="started")
                st.session_state["refresh_started"] = datetime.now(UTC).isoformat()
            st.rerun()

        _watch(settings)
        outcome = st.session_state.pop("refresh_message", None)
        if outcome is not None:
            kind, text = outcome
            if kind == "ok":
                st.success(text, icon=":material/check_circle:")
            else:
                st.error(
                    text + "\n\nThe previous snapshot is still current.", icon=":material/error:"
                )
        alert_failures(settings)
    return outcome


def _child_error(job: background.BackgroundRefresh) -> str | None:
    """The refresh process's own last word ("refresh failed: ..."), for a run the run log
    could not record (a full or read-only data folder)."""
    try:
        lines = job.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    failed = [line.removeprefix("refresh failed: ") for line in lines if
              line.startswith("refresh failed: ")]  # fmt: skip
    return failed[-1] if failed else None


@st.fragment(run_every="1s")
def _watch(settings: Settings) -> None:
    """Progress of the refresh this session started; the outcome from the run log."""
    job = st.session_state.get("refresh_job")
    if job is None:
        return
    fraction, message = job.progress()
    if job.running():
        st.progress(fraction, text=message or "Starting…")
        return
    st.session_state.pop("refresh_job")
    run = last_run(settings.data_dir, source=job.source)
    started = st.session_state.get("refresh_started")
    if run is not None and started and run.started_at < datetime.fromisoformat(started):
        run = None  # an earlier run: this one was not recorded
    _auth.record_refresh(job.source, run.run_id if run else None, run.outcome if run else "lost")
    if run is not None and run.outcome == "ok":
        st.session_state["refresh_message"] = (
            "ok",
            f"Stored snapshot {md_text(run.snapshot_id)}.",
        )
    else:
        error = (
            run.error
            if run is not None
            else (_child_error(job) or "the refresh process ended without a result")
        )
        st.session_state["refresh_message"] = ("failed", f"Refresh failed: {md_text(error)}")
    st.rerun(scope="app")


def alert_failures(settings: Settings) -> None:
    """The latest alert that could not be sent, if any."""
    try:
        failed_alerts = recent_alerts(settings.data_dir, limit=20).filter(
            pl.col("outcome") == "failed"
        )
    except Exception:  # an unreadable run log is reported above
        failed_alerts = None
    if failed_alerts is not None and not failed_alerts.is_empty():
        latest = failed_alerts.row(0, named=True)
        zone = settings.scoring.timezone
        st.warning(
            f"An alert could not be sent on {md_text(latest['channel'])} "
            f"({md_text(latest['event'])}, {formats.fmt_datetime(latest['sent_at'], zone)}): "
            f"{md_text(latest['error'])}",
            icon=":material/notifications_off:",
        )


def runs(settings: Settings, outcome: tuple[str, str] | None) -> None:
    """The run log, newest first, and each distinct failure once."""
    st.subheader("Last runs")
    try:
        runs = recent_runs(settings.data_dir, limit=RUNS_READ)
    except StoreError as exc:
        st.error(str(exc), icon=":material/error:")
        runs = None
    if runs is not None and runs.is_empty():
        st.caption("No refresh recorded yet.")
    elif runs is not None:
        # the error is hidden (kept in the CSV): each failure's message is under Failures, once
        _widgets.table(
            runs.head(RUNS_SHOWN).select(
                "run_id", "started_at", "source", "trigger", "job", "outcome", "total_rows",
                "seconds", "snapshot_id", "error",
            ),
            key="run_log",
            name="run_log",
            column_config={
                "error": None, "run_id": "Run", "source": "Source", "trigger": "Started by",
                "job": "Schedule", "outcome": "Outcome", "total_rows": "Rows",
                "snapshot_id": "Snapshot",
                "started_at": _widgets.datetime_column("Started"),
            },
        )  # fmt: skip
        _failures.failures(runs, just_shown=outcome is not None and outcome[0] == "failed")


def snapshots(store: Store) -> None:
    """The stored snapshots, the manifest of one, and viewing the scorecard as of it."""
    st.subheader("Snapshots")
    snapshots = store.list()
    if not snapshots:
        st.info("No snapshots yet: refresh a source above.")
    else:
        try:
            current = store.current_id()
        except StoreError as exc:
            st.error(f"{exc}. Refresh above to store a new snapshot.", icon=":material/error:")
            current = None
        pinned = st.session_state.get("pinned_snapshot")
        problems = {s.id: store.damage(s) for s in snapshots}
        listing = pl.DataFrame(
            {
                "current": [s.id == current for s in snapshots],
                "snapshot": [s.id for s in snapshots],
                "readable": [
                    f"no: {problems[s.id]}" if problems[s.id] else "yes" for s in snapshots
                ],
                "source": [s.source for s in snapshots],
                "data as of": [s.data_as_of for s in snapshots],
                "stored at": pl.Series([s.created_at for s in snapshots], dtype=UTC_DATETIME),
                "rows": [sum(t["rows"] for t in s.manifest["tables"].values()) for s in snapshots],
                "missing tables": [
                    ", ".join(s.manifest.get("missing_tables", [])) for s in snapshots
                ],
            }
        )
        chosen = _widgets.table(listing, key="snapshot_list", name="snapshots", select=True)
        listed = {s.id: s for s in snapshots}
        picked = chosen["snapshot"][0] if chosen is not None else (pinned or current)
        if picked not in listed:
            st.warning(
                f"The current snapshot {current} is not listed: its folder or manifest.json is "
                "missing. Refresh above to store a new one.",
                icon=":material/warning:",
            )
            picked = snapshots[0].id
        st.markdown(f"**Manifest of** `{picked}`")
        st.json(listed[picked].manifest, expanded=False)
        if (
            picked != current
            and not problems[picked]
            and st.button("View the scorecard as of this snapshot", key="pin_snapshot")
        ):
            st.session_state["pinned_snapshot"] = picked
            st.switch_page("pages/scorecard.py")
        if pinned and st.button("Back to the current snapshot", key="unpin_snapshot"):
            st.session_state.pop("pinned_snapshot")
            st.rerun()


def schedules(settings: Settings, *, editable: bool) -> None:
    """The schedules (ops change them here) and the next runs."""
    st.subheader("Schedules")
    _schedules.schedules(settings, editable=editable)
    upcoming = next_runs(settings, datetime.now(UTC), n=5)
    if not upcoming.is_empty():
        st.markdown("**Next scheduled runs** (refreshes and pre-reads)")
        st.dataframe(
            upcoming,
            hide_index=True,
            placeholder=_widgets.MISSING,
            key="next_runs",
            column_config={
                "fire_at": st.column_config.DatetimeColumn(
                    "When", format="ddd D MMM YYYY, HH:mm", timezone=settings.schedules.timezone
                ),
                "job": "Schedule", "source": "Source",
                "full": st.column_config.CheckboxColumn("Full refresh"), "cron": "Cron",
            },
        )  # fmt: skip
        st.caption(
            f"Times in {md_text(settings.schedules.timezone)}. The scheduler runs as "
            "`python -m ops schedule` (or cron / a systemd timer, see the README)."
        )


def _source_status(settings: Settings, name: str) -> str:
    """Whether a source is set up, without ever showing a credential."""
    if name == "demo":
        return "built in (generated org, no credentials)"
    if name == "files":
        path = settings.sources.get("files", {}).get("path")
        return (
            f"folder `{path}`" if path else "no folder configured (use --path or [sources.files])"
        )
    if name == "warehouse":
        schema = settings.sources.get("warehouse", {}).get("schema", "public")
        found = os.environ.get("WAREHOUSE_URL") or os.environ.get("WAREHOUSE_HOST")
        return f"schema `{schema}`; connection in the environment" if found else (
            "no connection in the environment (.env): WAREHOUSE_URL or WAREHOUSE_HOST ..."
        )  # fmt: skip
    if name == "hubspot":
        return "token present in the environment" if os.environ.get("HUBSPOT_TOKEN") else (
            "no token in the environment (.env): HUBSPOT_TOKEN"
        )  # fmt: skip
    has_login = all(os.environ.get(k) for k in ("SF_USERNAME", "SF_PASSWORD"))
    has_session = all(os.environ.get(k) for k in ("SF_SESSION_ID", "SF_INSTANCE_URL"))
    return "credentials present in the environment" if has_login or has_session else (
        "no credentials in the environment (.env): SF_USERNAME / SF_PASSWORD / SF_SECURITY_TOKEN"
    )  # fmt: skip


def sources(settings: Settings) -> None:
    """Each source, whether it is set up, which credentials the environment holds; uploads of
    exports and the Salesforce login test."""
    st.subheader("Sources")
    st.dataframe(
        pl.DataFrame(
            {
                "source": sorted(SOURCES),
                "default": [s == settings.default_source for s in sorted(SOURCES)],
                "status": [_source_status(settings, s) for s in sorted(SOURCES)],
            }
        ),
        hide_index=True,
        placeholder=_widgets.MISSING,
        key="sources",
    )
    st.markdown("**HubSpot and warehouse credentials in the environment**")
    st.dataframe(
        environment_status(os.environ),
        hide_index=True,
        key="credentials",
        column_config={"source": "Source", "variable": "Variable", "for": "For",
                       "status": "In the environment"},
    )  # fmt: skip
    st.caption(
        "Names only: values are never shown. Set them in the server's environment or in the "
        "app folder's `.env`, then restart the app. Salesforce's are listed under Salesforce "
        "connection below."
    )
    _upload.upload_exports(settings)
    _upload.salesforce_connection(settings)
