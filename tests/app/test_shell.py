"""The app shell: empty store, navigation, filters from the URL."""

from __future__ import annotations

from datetime import date

import pytest


def test_empty_store_offers_the_demo(empty_store, app):
    at = app().run()
    assert not at.exception
    assert any("store is empty" in i.value for i in at.info)
    assert at.button(key="load_demo").label == "Load the demo org"


def test_snapshot_loads_with_filters(tiny_store, app):
    at = app().run()
    assert not at.exception
    assert at.selectbox(key="period").value == "2026-Q1"
    assert at.multiselect(key="teams").options == ["EMEA"]
    assert any("Data as of" in c.value for c in at.sidebar.caption)


def test_period_from_the_url(tiny_store, app):
    at = app(period="2025-Q4").run()
    assert not at.exception
    assert at.selectbox(key="period").value == "2025-Q4"


def test_first_start_on_an_empty_store_builds_the_demo_org(data_dir, app, monkeypatch):
    monkeypatch.setenv("SCORECARD_AUTO_DEMO", "1")
    at = app().run()
    assert not at.exception
    from snapshots.store import Store

    snap = Store(data_dir).current()
    assert snap.source == "demo" and snap.manifest["tables"]["opportunities"]["rows"] > 1000
    from ops.runlog import recent_runs

    runs = recent_runs(data_dir)  # built like any refresh: logged, under the lock
    assert runs["outcome"].to_list() == ["ok"] and runs["snapshot_id"][0] == snap.id
    assert at.title[0].value == "Revenue alignment scorecard"


def test_sidebar_warns_when_the_last_refresh_failed(tiny_store, app, monkeypatch):
    from ops.config import load_settings
    from ops.jobs import run_refresh
    from ops.refresh import RefreshError
    from ops.sources import SOURCES

    def broken(settings, progress, **options):
        raise RefreshError("salesforce: login failed (bad credentials)")

    monkeypatch.setitem(SOURCES, "broken", broken)
    assert run_refresh(load_settings(), "broken", trigger="manual").outcome == "failed"
    at = app().run()
    assert not at.exception
    warnings = [w.value for w in at.sidebar.warning]
    assert warnings and warnings[0].startswith("The last refresh (broken,")
    assert "last good snapshot" in warnings[0]


def test_sidebar_says_when_an_earlier_snapshot_is_pinned(tiny_store, app):
    from snapshots.store import Store

    at = app()
    at.session_state["pinned_snapshot"] = Store(tiny_store).current_id()
    at.run()
    assert not at.exception
    # the tiny store's only snapshot: nothing newer to point to
    assert [i.value for i in at.sidebar.info] == [
        "Viewing an earlier snapshot: data as of **2026-03-01**."
    ]
    assert at.sidebar.button(key="sidebar_unpin").label == "Back to the current snapshot"


def test_load_the_demo_org_from_the_empty_store(empty_store, app):
    from ops.runlog import recent_runs
    from snapshots.store import Store

    at = app().run()
    at.button(key="load_demo").click().run()
    assert not at.exception
    assert Store(empty_store).current().source == "demo"
    assert recent_runs(empty_store)["trigger"].to_list() == ["page"]


def test_each_rerun_logs_its_server_time_when_asked(tiny_store, app, monkeypatch, tmp_path):
    timings = tmp_path / "timings.tsv"
    monkeypatch.setenv("SCORECARD_TIMINGS", str(timings))
    at = app().run()
    assert not at.exception
    seconds = at.session_state["run_seconds"]
    assert 0 < seconds < 120
    [line] = timings.read_text(encoding="utf-8").splitlines()
    title, logged = line.split("\t")
    assert title == "Scorecard" and float(logged) == pytest.approx(seconds, abs=1e-5)


def test_no_timing_file_unless_asked(tiny_store, app, monkeypatch, tmp_path):
    monkeypatch.delenv("SCORECARD_TIMINGS", raising=False)
    at = app().run()
    assert not at.exception and at.session_state["run_seconds"] > 0
    assert list(tmp_path.glob("*.tsv")) == []


def _caption(at) -> str:
    return " ".join(c.value for c in at.caption)


def test_custom_period_from_the_url(tiny_store, app):
    at = app(period="2025-12-01..2026-02-15").run()
    assert not at.exception
    assert at.selectbox(key="period").value == "2025-12-01..2026-02-15"
    assert at.session_state["view"].period == "2025-12-01..2026-02-15"
    # The scorecard says which days it covers, and the custom picker shows them.
    assert "custom range (2025-12-01 – 2026-02-15)" in _caption(at)
    assert at.date_input(key="period_custom").value == (date(2025, 12, 1), date(2026, 2, 15))


@pytest.mark.parametrize(
    ("asked", "shown"),
    [
        # the snapshot is as of 2026-03-01: the twelve months ending that day
        ("ttm", "trailing twelve months (2025-03-02 – 2026-03-01)"),
        # the earliest event in the tiny org is lead L1, created 2026-01-01 08:00 UTC
        ("all", "all data (2026-01-01 – 2026-03-01)"),
        ("FY2025", "FY2025"),
        ("2025", "FY2025"),
    ],
)
def test_longer_periods_from_the_url(tiny_store, app, asked, shown):
    at = app(period=asked).run()
    assert not at.exception
    assert shown in _caption(at)
    assert at.selectbox(key="period").value == ("FY2025" if asked == "2025" else asked)


def test_a_custom_range_in_the_session_is_written_to_the_url(tiny_store, app):
    # AppTest reruns only the page script of an st.navigation app, so the sidebar choice is
    # seeded before the first run (the Chromium test picks it in the browser).
    at = app()
    at.session_state["period"] = "2026-01-10..2026-02-20"
    at.run()
    assert not at.exception
    assert at.selectbox(key="period").value == "2026-01-10..2026-02-20"
    assert at.query_params["period"] == "2026-01-10..2026-02-20"
    assert "custom range (2026-01-10 – 2026-02-20)" in _caption(at)


def test_the_picker_offers_every_kind_of_period(tiny_store, app):
    at = app().run()
    options = at.selectbox(key="period").options
    # 8 quarters newest first (labels), then this and the two fiscal years before, ttm, all
    assert options[0] == "2026-Q1" and options[7] == "2024-Q2"
    assert options[8:] == [
        "FY2026 (fiscal year)", "FY2025 (fiscal year)", "FY2024 (fiscal year)",
        "Trailing twelve months", "All data",
    ]  # fmt: skip
