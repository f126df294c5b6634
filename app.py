"""Revenue Alignment Scorecard — the Streamlit entrypoint.

Builds the page list, draws the shared sidebar (filters, data freshness) and runs the page.
On an empty store it builds the embedded demo org first (turn off with SCORECARD_AUTO_DEMO=0).
With sign-in configured (`[auth]` in .streamlit/secrets.toml) a signed-out visitor gets only the
sign-in page and the page list is built per role (pages/_auth.py); otherwise a banner says the
app is open. A broken scorecard.toml or sign-in configuration closes every page with one message
for the operator (fails closed).
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

import streamlit as st
from streamlit.runtime.scriptrunner import RerunException

from pages import GATE_PASSED, _auth, _data, _filters, _registry
from pages._text import md_text
from snapshots.store import StoreError

st.set_page_config(page_title="Revenue Alignment Scorecard", page_icon="📐", layout="wide")


def _page(spec: _registry.PageSpec) -> st.Page:
    return st.Page(spec.path, title=spec.title, icon=f":material/{spec.icon}:", url_path=spec.url)


def query_items() -> dict[str, list[str]]:
    """The URL's query parameters, each with all its values (`teams` repeats)."""
    return {key: st.query_params.get_all(key) for key in st.query_params}


def with_root(pages: list[st.Page]) -> list[st.Page]:
    """`pages` after a hidden default page that opens the first of them at its own address.

    Streamlit serves the default page at the app root but still reserves its path, so a
    default Scorecard leaves `/scorecard` answering "Page not found"; with the root a page of
    its own, the app root and every page's path open. The switch keeps the URL's parameters,
    and runs before the filters bind theirs to widgets (Streamlit refuses to set a bound
    parameter by hand)."""
    first = pages[0]

    def root() -> None:
        st.switch_page(first, query_params=query_items())

    return [st.Page(root, title=first.title, url_path=ROOT, default=True, visibility="hidden"),
            *pages]  # fmt: skip


ROOT = "home"  # the reserved path of the root page (`with_root`); nothing links to it
PAGES = {
    section: [_page(p) for p in _registry.PAGES if p.section == section]
    for section in dict.fromkeys(p.section for p in _registry.PAGES)
}
EMPTY_PAGES = [_page(p) for p in _registry.EMPTY_STORE]


def build_demo_on_first_start() -> None:
    bar = st.progress(0.0, text="Building the demo org for a first look…")
    error = _data.build_demo(bar)
    if error:
        st.error(f"Could not build the demo org: {md_text(error)}")
        st.stop()
    bar.empty()


def freshness_caption(snapshot) -> str:
    age = datetime.now(UTC) - snapshot.created_at
    hours = age.total_seconds() / 3600
    ago = f"{hours:.0f} h ago" if hours >= 1 else f"{age.total_seconds() / 60:.0f} min ago"
    if hours >= 48:
        ago = f"{hours / 24:.0f} days ago"
    return (
        f"Data as of **{snapshot.data_as_of}** · refreshed {ago} from "
        f"**{md_text(snapshot.source)}**  \nSnapshot `{snapshot.id}`"
    )


def data_notices(snapshot, settings) -> None:
    """Warn when the newest refresh failed, and say when an earlier snapshot is on view."""
    from ops.runlog import last_run

    latest = last_run(settings.data_dir)
    if latest is not None and latest.outcome == "failed":
        st.warning(
            f"The last refresh ({md_text(latest.source)}, {latest.started_at:%Y-%m-%d %H:%M} UTC) "
            "failed; "
            "the data shown is from the last good snapshot. Details on Data & refresh.",
            icon=":material/warning:",
        )
    if st.session_state.get(_filters.PINNED) == snapshot.id:
        st.info(earlier_snapshot_notice(snapshot), icon=":material/history:")
        if st.button("Back to the current snapshot", key="sidebar_unpin"):
            st.session_state.pop(_filters.PINNED)
            st.rerun()


def earlier_snapshot_notice(snapshot) -> str:
    """What the sidebar says on an earlier snapshot (a shared link's, or one pinned on Data &
    refresh): its data date, and the newer snapshot with a link to this view on it."""
    text = f"Viewing an earlier snapshot: data as of **{snapshot.data_as_of}**."
    try:
        newest = _data.store().current()
    except StoreError:
        return text
    if newest.id == snapshot.id:
        return text
    # the same page, period, teams and drill-downs; the newest data's own as-of date
    link = _filters.view_link(
        st.context.url, as_of=newest.data_as_of, drop=(_filters.SNAPSHOT, "as_of")
    )
    return (
        f"{text} A newer snapshot exists: data as of **{newest.data_as_of}**. "
        f"[Open this view on the newest data]({link})"
    )


def share_link(view: _data.View) -> None:
    """The link to this view: the page, its filters and drill-downs, the as-of date and the
    snapshot, so it shows the same numbers after later refreshes (while the snapshot is kept)."""
    st.caption(
        "Link to this view",
        help="Period, as-of date, teams, drill-downs and the snapshot: the link shows these "
        "numbers after later refreshes too, while retention keeps this snapshot, and says when "
        "newer data exists.",
    )
    link = _filters.view_link(st.context.url, as_of=view.as_of_date, snapshot_id=view.snapshot_id)
    st.code(link, language=None, wrap_lines=True)


def run() -> str:
    """Draw the sidebar and filters, then the page the URL asks for; returns its title."""
    if problem := _auth.setup_problem():  # broken configuration: no page at all (fail closed)
        return _run(st.navigation([_auth.setup_problem_page(problem)]))
    user = _auth.current_user()
    _auth.sidebar(user)
    if not user.may_view:
        return _run(st.navigation([_auth.gate_page(user)]))
    st.session_state[GATE_PASSED] = True
    _filters.open_linked_snapshot(lambda: [s.id for s in _data.store().list()])
    snapshot = _data.current_snapshot()
    if snapshot is None and _data.auto_demo_enabled() and user.may_refresh:
        build_demo_on_first_start()
        snapshot = _data.current_snapshot()
    if snapshot is None:
        return _run(st.navigation(with_root(_auth.no_data_pages(user, EMPTY_PAGES))))
    pages = {section: _auth.visible(user, entries) for section, entries in PAGES.items()}
    first = next(iter(pages))
    pages[first] = with_root(pages[first])
    page = st.navigation({section: entries for section, entries in pages.items() if entries})
    if page.url_path == "":  # the root: on to the Scorecard before anything is drawn
        return _run(page)
    settings = _data.settings()
    data_dir = str(settings.data_dir)
    teams = _data.sales_teams(data_dir, snapshot.id)
    _auth.seed_team_filter(user, teams)
    filters = _filters.render(
        snapshot,
        teams,
        fiscal_start_month=settings.scoring.fiscal_start_month,
        data_start=lambda: _data.data_start(data_dir, snapshot.id),
    )
    st.session_state["view"] = _data.View(
        data_dir=data_dir,
        snapshot_id=snapshot.id,
        period=filters.period.name,
        as_of=filters.as_of.isoformat(),
        teams=filters.teams,
        params_key=_data.params_key(settings.scoring),
    )
    st.session_state["all_teams"] = teams
    pinned = st.session_state.get(_filters.PINNED)
    _filters.keep_snapshot_in_url(pinned if pinned == snapshot.id else None)
    with st.sidebar:
        st.caption(freshness_caption(snapshot))
        data_notices(snapshot, settings)
        for notice in _filters.notices_once():
            st.warning(notice, icon=":material/warning:")
        link = st.container()  # filled after the page: its drill-downs go into the link
    title = _run(page)
    _filters.said()  # on the page drawn
    with link:
        share_link(st.session_state["view"])
    return title


def _run(page: st.Page) -> str:
    page.run()
    return page.title


RUN_SECONDS = "run_seconds"  # session key: how long the last rerun took on the server


def timed_run() -> None:
    """`run`, keeping its server-side duration (the whole script: sidebar, filters, page) in
    the session; with ``SCORECARD_TIMINGS=<file>`` also appended to that file as
    ``<page title><TAB><seconds>`` lines (the app benchmark reads them). A run cut short by a
    rerun (the app root moving on to the Scorecard, `st.rerun`) is not a page drawn: not logged."""
    started, title = time.perf_counter(), "?"
    try:
        title = run()
    except RerunException:
        title = None
        raise
    finally:
        seconds = time.perf_counter() - started
        st.session_state[RUN_SECONDS] = seconds
        if title is not None and (path := os.environ.get("SCORECARD_TIMINGS")):
            with open(path, "a", encoding="utf-8") as log:
                log.write(f"{title}\t{seconds:.6f}\n")


timed_run()
