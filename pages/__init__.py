"""The app's pages, registered explicitly by `app.py` with `st.navigation`.

Streamlit treats a folder named `pages/` beside the entrypoint as a legacy multipage app
until the first `st.navigation` call of the server process: a run that starts in that mode
runs the page the URL names on its own, without `app.py` (no gate, no filters), under a menu
of every file here. On a fresh server several first sessions start such runs at once, so a
one-time switch is not enough. Every page script (and `app.py`) imports from this package
first thing, so the package checks on *each* such import whether the run is a legacy one
(Streamlit's legacy runner is on the call stack); if so it leaves the mode and reruns, and
`app.py` runs first while the link still opens its page.

The first import in the server also imports the libraries and modules the pages use, once,
while every other session waits for this package: the first sessions no longer import numpy,
polars and altair in parallel threads (which could hand one of them a half-initialised module).
"""

from __future__ import annotations

import sys
import types

GATE_PASSED = "_app_gate_passed"  # session key: app.py let this session see pages


def _legacy_runner_code() -> types.CodeType | None:
    from streamlit.runtime.scriptrunner import script_runner

    runner = getattr(script_runner, "_mpa_v1", None)
    return getattr(runner, "__code__", None)


def _in_legacy_run() -> bool:
    """Whether this thread runs a page script through Streamlit's legacy `pages/` runner,
    without the entrypoint (`app.py` run by that runner still does its own navigation)."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    if ctx is None:
        return False
    legacy, entrypoint = _legacy_runner_code(), ctx.pages_manager.main_script_path
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_filename == entrypoint:
            return False
        if frame.f_code is legacy:
            return True
        frame = frame.f_back
    return False


def _leave_legacy_run() -> None:
    if not _in_legacy_run():
        return
    import streamlit as st

    if st.session_state.get(GATE_PASSED):
        # This session already passed app.py's gate: only AppTest, which starts every run in
        # legacy mode, gets here (the server leaves the mode for good on its first app.py run).
        return
    from streamlit.runtime.pages_manager import PagesManager

    PagesManager.uses_pages_directory = False
    st.rerun()  # app.py runs next, and opens the page the URL names


class _Pages(types.ModuleType):
    """This package; `from pages import _x` checks the run before handing out a module."""

    def __getattribute__(self, name: str) -> object:
        if name[:1] == "_" and name[:2] != "__":
            _leave_legacy_run()
        return super().__getattribute__(name)


def _warm() -> None:
    """Import what the pages import, once, at the first import in the server."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    if get_script_run_ctx() is None:  # a script or test importing a module: nothing to warm
        return
    import altair, numpy, pandas, polars, pyarrow  # noqa: E401, F401, I001

    import ops.background, ops.runlog, ops.schedule, ops.sources  # noqa: E401, F401
    import reports.funnel_charts, reports.metrics, reports.pipeline_charts  # noqa: E401, F401
    import scoring.deal, scoring.forecast, scoring.funnel, scoring.quality  # noqa: E401
    import scoring.sourcing, scoring.stages  # noqa: E401, F401
    import pages._auth, pages._chart_specs, pages._data, pages._deal_charts  # noqa: E401
    import pages._filters, pages._widgets  # noqa: E401, F401


if "streamlit" in sys.modules:  # outside the app (pre-read, tests) there is nothing to check
    _warm()  # before the check is on: the modules warmed import from this package too
    sys.modules[__name__].__class__ = _Pages
