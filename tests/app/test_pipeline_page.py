"""The Pipeline flow page on the demo org: days in stage, stalls, handoff stalls, the
waterfall, team health, filters and drill-downs; and on the tiny org (few tables)."""

from __future__ import annotations

from datetime import date

import pytest

from connectors.validate import validate_tables
from pages._text import as_text
from scoring.stages import STALLS_DERIVED
from snapshots.store import Store

PAGE = "pages/pipeline.py"


def _run(app, state: dict | None = None, **query):
    at = app(**query)
    for key, value in (state or {}).items():
        at.session_state[key] = value
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def _table(at, column: str):
    """The first table showing `column` (pandas)."""
    found = [d.value for d in at.dataframe if column in d.value.columns]
    assert found, f"no table with {column}"
    return found[0]


def _select(row: int) -> dict:
    return {"selection": {"rows": [row], "columns": [], "cells": []}}


@pytest.fixture
def page(demo_store, app):
    return _run(app)


def test_renders_sections_charts_tables_and_downloads(page):
    assert page.title[0].value == "Pipeline flow"
    heads = [s.value for s in page.subheader]
    # the stalls first (the answer's heatmap drills into them), then a tab per question
    assert heads[:3] == ["Stalls by team and stage", "Changes since last review",
                         "Days in stage"]  # fmt: skip
    assert any(m.value.startswith("**Stalled deals — all: ") for m in page.markdown)
    assert any(h.startswith("Pipeline waterfall — 2026-Q4") for h in heads)
    assert [m.label for m in page.metric] == [
        "Stalled deals", "Stalled pipeline", "Stalled at a handoff", "Coverage",
        "Trend up", "Trend down", "Slipped", "Idle",
    ]  # fmt: skip
    # days in stage, heatmap, waterfall, forecast-category flow
    assert len(page.get("vega_lite_chart")) == 4
    stalled = _table(page, "times_threshold")
    assert {"owner", "stage", "age_days", "threshold_days", "amount", "is_handoff"} <= set(
        stalled.columns
    )
    assert set(_table(page, "basis")["stage"]) >= {"Negotiation", "Qualification"}
    assert {"win_rate_count", "coverage", "velocity", "cycle_days_median"} <= set(
        _table(page, "win_rate_count").columns
    )
    assert len(page.get("download_button")) >= 6


def test_emea_deals_sit_longest_in_negotiation(page):
    # The demo plants EMEA deals sitting about twice as long in Negotiation.
    stalls = _table(page, "age_vs_company")
    negotiation = stalls[(stalls["stage"] == "Negotiation") & (stalls["team"] != "All teams")]
    worst = negotiation.sort_values("age_vs_company").iloc[-1]
    assert worst["team"] == "EMEA" and worst["age_vs_company"] > 1.4
    stalled = _table(page, "times_threshold")
    emea_neg = stalled[(stalled["team"] == "EMEA") & (stalled["stage"] == "Negotiation")]
    other_neg = stalled[(stalled["team"] != "EMEA") & (stalled["stage"] == "Negotiation")]
    assert len(emea_neg) > len(other_neg)


def test_handoff_stalls_are_shown_apart(page):
    handoff = [d.value for d in page.dataframe if "is_handoff" in d.value.columns][1]
    assert len(handoff) > 0 and handoff["is_handoff"].all()
    assert "handoff_stalled_share" in _table(page, "handoff_stalled_share").columns


def test_team_filter_changes_the_numbers(demo_store, app):
    everyone = _run(app)
    emea = _run(app, teams="EMEA")
    assert set(_table(emea, "times_threshold")["team"]) == {"EMEA"}
    assert emea.metric[0].value != everyone.metric[0].value
    # one team: its row only, not a total repeating it (model.team_rows)
    assert list(_table(emea, "win_rate_count")["team"]) == ["EMEA"]


def test_period_filter_changes_the_waterfall_and_win_rate(demo_store, app):
    q4 = _table(_run(app), "win_rate_count")["win_rate_count"].tolist()
    at = _run(app, {"period": "2026-Q2"})
    assert any(s.value == "Pipeline waterfall — 2026-Q2" for s in at.subheader)
    assert _table(at, "win_rate_count")["win_rate_count"].tolist() != q4


def test_selecting_a_team_stage_row_lists_its_stalled_deals(page):
    stalls = _table(page, "age_vs_company")
    row = int(((stalls["team"] == "EMEA") & (stalls["stage"] == "Negotiation")).argmax())
    page.session_state["stalls_by_team"] = _select(row)
    page.run()
    assert not page.exception
    assert any(m.value.startswith("**Stalled deals — EMEA · Negotiation: ") for m in page.markdown)
    shown = _table(page, "times_threshold")
    assert len(shown) == int(stalls.iloc[row]["stalled_count"]) > 0
    assert set(zip(shown["team"], shown["stage"], strict=True)) == {("EMEA", "Negotiation")}


def test_choosing_a_waterfall_bucket_lists_its_deals(demo_store, app):
    at = _run(app, {"waterfall_bucket": "won"})
    rows = _table(at, "amount_delta")
    assert set(rows["bucket"]) == {"won"} and (rows["amount_delta"] < 0).all()
    heading = f"**Won (closed) — All teams: {len(rows)}**"
    assert any(as_text(m.value).startswith(heading) for m in at.markdown)


def test_selecting_a_team_lists_its_closed_and_open_deals(page):
    summary = _table(page, "win_rate_count")
    row = int((summary["team"] == "APAC").argmax())
    page.session_state["team_summary"] = _select(row)
    page.run()
    closed = _table(page, "cycle_days")
    assert set(closed["team"]) == {"APAC"}
    assert len(closed) == int(summary.iloc[row]["won"] + summary.iloc[row]["lost"])
    open_rows = [d.value for d in page.dataframe if list(d.value.columns)[-1] == "close_date"]
    assert open_rows and set(open_rows[-1]["team"]) == {"APAC"}


def test_tiny_org_renders_without_error(tiny_store, app):
    at = _run(app)
    assert at.title[0].value == "Pipeline flow"
    assert not at.error
    notes = _table(at, "win_rate_count")["notes"].dropna().tolist()
    assert notes and all("quotas" in n for n in notes)  # coverage says what is missing


def test_derived_stage_history_says_stalls_are_not_measured(data_dir, tiny_org, app):
    # The tiny org stored as a files refresh would store an export without a history file:
    # its stage history marked derived in the manifest. Stalls are then not measured: the
    # KPIs say so and an info box gives the reason, instead of calling deals stalled.
    frames = validate_tables(tiny_org).frames
    origin = {"stage_history": "derived: no history file, so each deal is open from creation"}
    Store(data_dir).write(
        frames, source="files", data_as_of=date(2026, 3, 1), extra={"detail": {"origin": origin}}
    )
    at = _run(app)
    values = {m.label: m.value for m in at.metric}
    assert values["Stalled deals"] == "—"  # with "not measured: <reason>" beside it
    assert values["Stalled at a handoff"] == "—"
    assert any(STALLS_DERIVED in as_text(i.value) for i in at.info)
    assert set(_table(at, "source")["basis"]) <= {"not measured", "configured"}


def test_stalls_are_not_measured_on_a_derived_history(data_dir, app):
    # tests/closed_only.py: the files connector's one-row-per-deal history cannot date stage
    # changes, so stalls say "not measured" with the reason (before: 0 and $0).
    from tests.closed_only import write_store

    write_store(data_dir)
    at = _run(app)
    metrics = {m.label: (m.value, m.delta) for m in at.metric}
    reason = (
        "not measured: the source has no recorded stage history (a derived one-row-per-deal "
        "history cannot date stage changes)"
    )
    assert metrics["Stalled deals"] == ("—", reason)
    assert metrics["Stalled pipeline"] == ("—", reason)


def test_stalled_deals_without_an_amount_are_counted_not_summed_as_zero(data_dir, app):
    # The closed deals of tests/closed_only.py with their history recorded (no derived note),
    # plus two open deals in Discovery since June 1: O7 without amount, O8 $5,000. Fewer
    # than 5 won samples per stage → the 30-day fallback threshold: both stalled by Nov 16.
    # Stalled pipeline: $5k known + 1 deal without amount (before: "$5k").
    from datetime import UTC, datetime

    import polars as pl

    from connectors.validate import validate_tables
    from snapshots.store import Store
    from tests.closed_only import AS_OF, frames

    tables = frames()
    opened = datetime(2026, 6, 1, 9, tzinfo=UTC)
    opens = pl.DataFrame(
        {"opp_id": ["O7", "O8"], "owner_id": ["ae1"] * 2, "stage": ["Discovery"] * 2,
         "amount": [None, 5000.0], "created_at": [opened] * 2,
         "close_date": [AS_OF.replace(month=12)] * 2, "is_closed": [False] * 2,
         "is_won": [False] * 2},
        schema_overrides={"amount": pl.Float64},
    )  # fmt: skip
    opps = pl.concat([tables["opportunities"], opens], how="diagonal_relaxed")
    history = pl.concat(
        [tables["stage_history"], opens.select("opp_id", "stage", entered_at="created_at",
                                               amount="amount", close_date="close_date")],
        how="diagonal_relaxed",
    )  # fmt: skip
    frames_ = {**tables, "opportunities": opps, "stage_history": history}
    Store(data_dir).write(validate_tables(frames_).frames, source="test", data_as_of=AS_OF)
    at = _run(app)
    metrics = {m.label: (m.value, m.delta) for m in at.metric}
    assert metrics["Stalled deals"][0] == "2"
    assert metrics["Stalled pipeline"] == ("$5k", "+ 1 without amount")


# --- Changes since last review ------------------------------------------------------------


def _changes(at) -> dict[str, list]:
    """The "Totals by team" table as {team: row}."""
    table = _table(at, "Trend up")
    return {row["team"]: list(row) for _, row in table.iterrows()}


def _source(at) -> str:
    return next(m.value for m in at.markdown if m.value.startswith("**") and "–" in m.value)


def test_a_window_in_the_url_is_the_review_window(demo_store, app):
    at = _run(app, window="2w")
    assert at.selectbox(key="review_window").value == "2w"
    assert _source(at).startswith("**2 weeks: 2026-11-02 – 2026-11-16**")
    # one snapshot in the store: read from the history, and the page says so
    assert "Read from the stage history" in as_text(_source(at))
    assert at.query_params["window"] == "2w"
    totals = _changes(at)
    assert list(totals) == ["APAC", "EMEA", "NA Enterprise", "NA Mid-Market", "All teams"]
    labels = {m.label: (m.value, m.delta) for m in at.metric}
    # the trend groups are the All teams row of the table, amounts formatted for people
    up = totals["All teams"][1]  # "278 · $13.5M"
    assert labels["Trend up"] == (f"{up.split(' · ')[0]} deals", up.split(" · ")[1])
    assert any(h.startswith("#### Forecast-category flow — 2 weeks") for h in
               (m.value for m in at.markdown))  # fmt: skip
    # a longer window sees more change than the default week
    week = _changes(_run(app))
    assert int(week["All teams"][5].split(" · ")[0]) < int(totals["All teams"][5].split(" · ")[0])


def test_a_day_in_the_url_is_the_start_of_the_window(demo_store, app):
    at = _run(app, since="2026-11-10")
    assert at.selectbox(key="review_window").value == "2026-11-10"
    assert _source(at).startswith("**since 2026-11-10: 2026-11-10 – 2026-11-16**")
    assert at.query_params["since"] == "2026-11-10" and "window" not in at.query_params


def test_a_bad_window_in_the_url_says_so_and_shows_a_week(demo_store, app):
    at = _run(app, since="yesterday")
    assert any("since='yesterday' is not a day" in as_text(w.value) for w in at.warning)
    assert _source(at).startswith("**1 week: 2026-11-09 – 2026-11-16**")
    assert at.query_params["window"] == "1w" and "since" not in at.query_params


def test_choosing_a_window_writes_it_to_the_url(demo_store, app):
    at = _run(app)
    at.selectbox(key="review_window").select("13w").run()
    assert not at.exception
    assert at.query_params["window"] == "13w"
    assert _source(at).startswith("**13 weeks (a quarter): 2026-08-17 – 2026-11-16**")


def test_selecting_a_change_lists_its_deals_by_name(demo_store, app):
    at = _run(app, window="2w")
    kinds = _table(at, "change")
    row = int((kinds["kind"] == "close_pushed").argmax())
    at.session_state["changes_kinds"] = _select(row)
    at.run()
    assert not at.exception
    deals = _table(at, "close_date_before")
    assert len(deals) == int(kinds.iloc[row]["deals"]) > 0
    assert (deals["close_date_after"] > deals["close_date_before"]).all()
    assert deals["amount_after"].is_monotonic_decreasing
    # names, not IDs: the deal's and the owner's name
    assert not deals["name"].str.fullmatch(r"O\d+").any()
    assert not deals["owner"].str.fullmatch(r"U\d+").any()
    assert any(m.value.startswith(f"**Pushed out — All teams: {len(deals)} deals") for m in
               at.markdown)  # fmt: skip


def test_a_team_view_shows_the_company_views_row(demo_store, app):
    company = _changes(_run(app, window="2w"))
    emea = _changes(_run(app, window="2w", teams="EMEA"))
    # one team: its row, the company view's row for it, without a total repeating it
    assert list(emea) == ["EMEA"]
    assert emea["EMEA"] == company["EMEA"]


def test_two_snapshots_are_compared_when_the_store_holds_an_earlier_one(data_dir, app):
    # The demo org stored as of 2026-11-09 and again as of 2026-11-16: a one-week window
    # starts on 2026-11-09, so the page compares the two snapshots and names the earlier.
    from connectors.demo import generate_demo_org

    store = Store(data_dir)
    for day in (date(2026, 11, 9), date(2026, 11, 16)):
        frames = validate_tables(generate_demo_org(as_of=day)).frames
        store.write(frames, source="demo", data_as_of=day)
    at = _run(app)
    text = as_text(_source(at))
    assert "Compared with the snapshot of 2026-11-09" in text
    assert "what happened in between is not seen" in text
    assert _changes(at)["All teams"][5] != "—"  # new deals seen
    # a window starting before the earlier snapshot: back to the history, saying why
    older = as_text(_source(_run(app, window="2w")))
    assert "Read from the stage history (no snapshot as of 2026-11-02 or earlier" in older


def test_changes_are_not_measured_on_a_derived_history_without_a_snapshot(data_dir, tiny_org, app):
    from scoring.changes import CHANGES_DERIVED

    frames = validate_tables(tiny_org).frames
    origin = {"stage_history": "derived: no history file, so each deal is open from creation"}
    Store(data_dir).write(
        frames, source="files", data_as_of=date(2026, 3, 1), extra={"detail": {"origin": origin}}
    )
    at = _run(app)
    infos = [as_text(i.value) for i in at.info]
    assert any(CHANGES_DERIVED in i and "no snapshot as of 2026-02-22" in i for i in infos)
    assert "Not measured" in as_text(_source(at))
    assert not [m for m in at.metric if m.label in ("Trend up", "Idle")]  # no zeros shown


# --- Chart drill-downs read from a link (pages._drill: ?drill=<chart>:<values>) -------------


def test_a_heatmap_cell_in_the_link_lists_its_stalled_deals(demo_store, app):
    # A shared link of a click on the heatmap's EMEA · Negotiation cell: the demo org's cell
    # reads "44% · 24 of 54 stalled" (test_chart_pages), so 24 deals, all EMEA Negotiation.
    at = _run(app, drill="stall_heatmap:EMEA|Negotiation")
    assert any(m.value == "**Stalled deals — EMEA · Negotiation: 24**" for m in at.markdown)
    shown = _table(at, "times_threshold")
    assert len(shown) == 24
    assert set(zip(shown["team"], shown["stage"], strict=True)) == {("EMEA", "Negotiation")}


def test_a_days_in_stage_mark_in_the_link_lists_its_spells(demo_store, app):
    plain = _run(app)  # nothing picked: a hint, no spell list
    assert any(c.value.startswith("Click a mark of the chart") for c in plain.caption)
    at = _run(app, drill="days_chart:APAC|Discovery")
    spells = _table(at, "days_in_stage")
    assert len(spells) > 0 and set(spells["team"]) == {"APAC"}
    assert set(spells["stage"]) == {"Discovery"}
    assert spells["days_in_stage"].is_monotonic_decreasing  # longest first
    assert any(m.value == f"**Spells — APAC · Discovery: {len(spells)}**" for m in at.markdown)


def test_a_waterfall_bar_in_the_link_lists_its_deals(demo_store, app):
    at = _run(app, drill="waterfall_chart:lost")
    rows = _table(at, "amount_delta")
    assert len(rows) > 0 and set(rows["bucket"]) == {"lost"}
    assert any(as_text(m.value) == f"**Lost — All teams: {len(rows)}**" for m in at.markdown)
