"""The app's pages, written once: each script's file, title, icon, address and menu section.

`app.py` builds the navigation from it; pages that link to another page (the Scorecard's
drivers) read titles and files from it, so a page is added or renamed in one place.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PageSpec:
    """One page: its script, the title in the menu, a Material icon name, its URL path and
    the menu section it sits in."""

    path: str
    title: str
    icon: str
    url: str
    section: str


PAGES: tuple[PageSpec, ...] = (
    PageSpec("pages/scorecard.py", "Scorecard", "dashboard", "scorecard", "Review"),
    PageSpec("pages/pipeline.py", "Pipeline flow", "water", "pipeline", "Review"),
    PageSpec("pages/handoffs.py", "Handoffs", "swap_horiz", "handoffs", "Review"),
    PageSpec("pages/forecast.py", "Forecast", "trending_up", "forecast", "Review"),
    PageSpec("pages/campaigns.py", "Campaigns & sourcing", "campaign", "campaigns", "Review"),
    PageSpec("pages/data_trust.py", "Data trust", "verified", "data_trust", "Review"),
    PageSpec("pages/deal.py", "Deal", "handshake", "deal", "Review"),
    PageSpec("pages/decisions.py", "Decisions", "gavel", "decisions", "Review"),
    PageSpec("pages/leaders.py", "Leaders' answers", "record_voice_over", "leaders", "Review"),
    PageSpec("pages/refresh.py", "Data & refresh", "sync", "refresh", "Ops"),
)
# What an empty store offers (no snapshot yet): a start page, and the refresh page.
GET_STARTED = PageSpec("pages/get_started.py", "Get started", "flag", "start", "")
EMPTY_STORE = (GET_STARTED, next(p for p in PAGES if p.url == "refresh"))
BY_URL = {page.url: page for page in PAGES}
