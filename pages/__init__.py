"""The app's pages, registered explicitly by `app.py` with `st.navigation`.

Streamlit treats a folder named `pages/` beside the entrypoint as a legacy multipage app
until the first `st.navigation` call of the server process. If a deep link such as
`/forecast` is the server's very first request, Streamlit would run that page on its own,
without `app.py` (no filters, no auth gate) and with an auto-generated menu of every file
here. Importing this package during such a run switches the legacy mode off and reruns, so
`app.py` always runs first and the link still opens its page.
"""

from __future__ import annotations

import sys


def _leave_legacy_pages_mode() -> None:
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    if get_script_run_ctx() is None or not PagesManager.uses_pages_directory:
        return
    import streamlit as st

    PagesManager.uses_pages_directory = False
    st.rerun()


if "streamlit" in sys.modules:  # outside the app (pre-read, tests) there is nothing to leave
    _leave_legacy_pages_mode()
