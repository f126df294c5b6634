"""Data & refresh, ops only: upload exports → check → load, and test the Salesforce login.

Layout only; the work is in ops/uploads.py and ops/connection.py. Loading goes through the
page's background refresh (`refresh_job` in the session, watched by pages/refresh.py), so
it is logged and locked like "Refresh now" and the previous snapshot stays current on failure.
"""

from __future__ import annotations

import hashlib
import shutil
from datetime import UTC, datetime

import streamlit as st

from connectors.base import RefreshError
from ops import background, connection, uploads
from ops.config import Settings
from ops.lock import lock_holder
from pages import _auth
from pages._text import md_text
from snapshots.store import storage_problem

_CHECKED = "upload_checked"  # the last check: {digest, ok, folder, preset, ...}


def _digest(files: list, preset: str) -> str:
    """Which upload (and preset) a check was for: a new file or preset needs a new check."""
    parts = [preset, *(f"{f.file_id}:{f.name}:{f.size}" for f in files)]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _run_check(settings: Settings, files: list, preset: str, digest: str) -> dict:
    """Unpack, keep and check the upload; the outcome for the session."""
    try:
        exports = uploads.unpack((f.name, f.getvalue()) for f in files)
        folder = uploads.keep(settings, exports)
    except uploads.UploadError as exc:
        return {"digest": digest, "ok": False, "problem": f"Upload refused: {exc}"}
    except OSError as exc:
        reason = storage_problem(exc, settings.data_dir) or f"the data folder: {exc.strerror}"
        return {"digest": digest, "ok": False, "problem": f"Upload not kept: {reason}"}
    try:
        result = uploads.check_folder(settings, folder, preset)
    except RefreshError as exc:
        shutil.rmtree(folder, ignore_errors=True)  # a failed check keeps nothing
        return {"digest": digest, "ok": False, "problem": f"Check failed: {exc}"}
    return {
        "digest": digest,
        "ok": True,
        "folder": folder,
        "preset": preset,
        "files": [e.name for e in exports],
        "preview": uploads.preview(result),
        "as_of": f"{result.loaded.data_as_of} ({result.loaded.as_of_from})",
        "notes": [*result.loaded.notes, *(f"warning: {w}" for w in result.warnings)],
    }


def upload_exports(settings: Settings) -> None:
    """Upload export files (or a zip) with a preset, check them, then load them."""
    st.subheader("Upload exports")
    st.caption(
        "Export files (CSV, Excel or Parquet, one per table) or one .zip of them, read with a "
        "mapping preset. **Check** shows what a refresh would load and stores nothing; "
        "**Load** refreshes from them like Refresh now."
    )
    names = uploads.presets()
    preset = st.selectbox(
        "Mapping preset",
        names,
        index=names.index("salesforce_export") if "salesforce_export" in names else 0,
        key="upload_preset",
        help="How the export's files and columns map onto the scorecard's tables "
        "(connectors/presets/, described in docs/mapping.md).",
    )
    files = st.file_uploader(
        "Export files or a .zip",
        type=[*sorted(s.lstrip(".") for s in uploads.SUFFIXES), "zip"],
        accept_multiple_files=True,
        key="upload_files",
    )
    files = list(files or [])
    digest = _digest(files, preset)
    left, right, _ = st.columns([1, 1, 6])
    if left.button("Check", key="upload_check", disabled=not files):
        with st.spinner("Checking the upload…"):
            st.session_state[_CHECKED] = _run_check(settings, files, preset, digest)
    checked = st.session_state.get(_CHECKED)
    current = checked if checked is not None and checked["digest"] == digest else None
    job = st.session_state.get("refresh_job")
    busy = lock_holder(settings.data_dir) is not None or (job is not None and job.running())
    ready = current is not None and current["ok"]
    if right.button("Load", key="upload_load", type="primary", disabled=not ready or busy):
        _load(settings, current)
    if current is None:
        if files:
            st.caption("Check the upload before loading it.")
        return
    if not current["ok"]:
        st.error(md_text(current["problem"]), icon=":material/error:")
        return
    kept = ", ".join(current["files"])
    st.success(
        md_text(
            f"Check passed: nothing stored yet. Files kept in {current['folder'].name} "
            f"({kept}); data as of {current['as_of']}. A load would store:"
        ),
        icon=":material/fact_check:",
    )
    st.dataframe(
        current["preview"],
        hide_index=True,
        key="upload_preview",
        column_config={
            "rows": st.column_config.NumberColumn(format="localized"),
            "from": st.column_config.TextColumn(help="The export file, or how it is derived"),
            "columns mapped": st.column_config.TextColumn(
                help="Scorecard column ← the export's column"
            ),
        },
    )
    if current["notes"]:
        st.code("\n".join(current["notes"]), language=None, wrap_lines=True)


def _load(settings: Settings, checked: dict) -> None:
    """Start the refresh from the checked upload in the background (pages/refresh.py
    watches `refresh_job` and shows the outcome)."""
    try:
        job = background.start(
            settings, "files", trigger="page", path=checked["folder"], preset=checked["preset"]
        )
    except OSError as exc:
        reason = storage_problem(exc, settings.data_dir) or f"the data folder: {exc.strerror}"
        st.session_state["refresh_message"] = ("failed", f"Refresh failed: {md_text(reason)}")
    else:
        st.session_state["refresh_job"] = job
        st.session_state["refresh_started"] = datetime.now(UTC).isoformat()
        _auth.record_refresh("files", outcome="started")
        st.session_state.pop(_CHECKED, None)  # loaded: a second click would load it again
    st.rerun()


def salesforce_connection(settings: Settings) -> None:
    """Which SF_* variables are set (never their values) and a login test."""
    st.subheader("Salesforce connection")
    st.caption("Credentials come only from the environment (.env); their values are never shown.")
    st.dataframe(connection.sf_variables(), hide_index=True, key="sf_variables")
    if st.button("Test Salesforce connection", key="sf_test"):
        with st.spinner("Logging in to Salesforce…"):
            st.session_state["sf_test_outcome"] = connection.salesforce_login(settings)
    outcome = st.session_state.get("sf_test_outcome")
    if outcome is None:
        return
    if outcome.ok:
        st.success(md_text(outcome.message), icon=":material/check_circle:")
    else:
        st.error(md_text(outcome.message), icon=":material/error:")
