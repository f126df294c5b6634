"""The Scorecard page on the demo org: pillars, drivers, headline, filters, changes."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pytest

from pages._text import as_text


def _metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_renders_pillars_drivers_and_headline(demo_store, app):
    at = app().run()
    assert not at.exception
    metrics = _metrics(at)
    assert set(metrics) == {
        "Alignment score", "Shared outcomes", "Shared data", "Handoff ownership",
        "Forecast integrity",
    }  # fmt: skip
    assert all(0 <= int(v) <= 100 for v in metrics.values())
    drivers = [m.value for m in at.markdown if m.value.startswith("**1.**")]
    assert drivers and "Paid Social" in drivers[0]
    headline = at.dataframe[0].value
    assert list(headline["team"]) == ["APAC", "EMEA", "NA Enterprise", "NA Mid-Market", "All teams"]
    assert at.caption[0].value.startswith("2026-Q4 · as of 2026-11-16 · all teams")
    assert any("first snapshot" in c.value for c in at.caption)


def test_team_filter_from_the_url_changes_the_numbers(demo_store, app):
    everyone = _metrics(app().run())
    at = app(teams="APAC").run()
    assert not at.exception
    assert at.multiselect(key="teams").value == ["APAC"]
    # the team's row, then the company's own (not a total of APAC alone, which repeats it)
    assert list(at.dataframe[0].value["team"]) == ["APAC", "Company (all teams)"]
    assert _metrics(at)["Forecast integrity"] != everyone["Forecast integrity"]


def test_a_team_view_compares_the_team_with_the_company(demo_store, app):
    company = app().run().dataframe[0].value.set_index("team")
    mine = app(teams="APAC").run().dataframe[0].value.set_index("team")
    columns = ["won", "lost", "win_rate_count", "stalled_deals"]
    # APAC's row is the company view's APAC row; the company row is the company's All teams
    assert mine.loc["APAC", columns].to_dict() == company.loc["APAC", columns].to_dict()
    assert (
        mine.loc["Company (all teams)", columns].to_dict()
        == company.loc["All teams", columns].to_dict()
    )
    both = app(teams="APAC")
    both.query_params["teams"] = ["APAC", "EMEA"]
    shown = both.run().dataframe[0].value
    assert list(shown["team"]) == ["APAC", "EMEA", "Selected teams", "Company (all teams)"]
    apac, emea, selected = (
        shown.set_index("team").loc[t] for t in ("APAC", "EMEA", "Selected teams")
    )
    assert selected["won"] == apac["won"] + emea["won"]  # the selection's total


def test_period_filter_changes_the_numbers(demo_store, app):
    # AppTest reruns only the page script of an st.navigation app, so sidebar filters are
    # seeded before the first run (as a shared link would), not changed in place.
    q4 = app().run().dataframe[0].value["win_rate_count"].tolist()
    at = app()
    at.session_state["period"] = "2026-Q2"
    at.run()
    assert not at.exception
    assert at.caption[0].value.startswith("2026-Q2")
    assert at.dataframe[0].value["win_rate_count"].tolist() != q4


def test_changes_since_the_previous_snapshot(two_snapshots, app):
    at = app(as_of="2026-11-16").run()
    assert not at.exception
    assert any("changes since the snapshot of 2026-11-16" in as_text(c.value) for c in at.caption)
    deltas = [m.delta for m in at.metric if m.label != "Alignment score"]
    assert any(d not in (None, "") for d in deltas)
    moved = [as_text(m.value) for m in at.markdown if m.value.startswith(("▲", "▼", "•"))]
    assert moved and "; score " in moved[0]
    for line in moved:
        # "▼ **Slip rate**: 41.8% → 22.5% (−19.3 pts); score +42.8, better": the arrow is the
        # value's direction, the rate's change in points, never raw decimals like 0.4178
        before, after = re.search(r": (\S+)% → (\S+)% \(", line).groups()
        went = float(after) - float(before)
        assert line[0] == ("▲" if went > 0 else "▼" if went < 0 else "•"), line
        assert re.search(r"\([+−]?\d+\.\d pts\); score [+−]\d+\.\d, (better|worse)$", line)
        assert not re.search(r"\d\.\d{3}", line), line


def test_headline_table_has_one_style_per_kind(demo_store, app):
    # Before: "$9807" (velocity), "1.5M" (stalled $, no "$") and "21.37%" in one table.
    at = app().run()
    table = at.dataframe[0]  # the headline table, first on the page
    config = json.loads(table.proto.columns)
    shown = [c for c in table.proto.column_order if c in table.value.columns]
    style = {c: (config[c]["type_config"]["format"], config[c]["type_config"].get("step"))
             for c in shown if c != "team"}  # fmt: skip
    kinds = {
        ("percent", 0.001): {"win_rate_count", "handoff_stalled_share", "forecast_accuracy",
                             "forecast_bias"},
        ("dollar", 1): {"velocity", "stalled_amount"},
        ("%.1f×", None): {"coverage", "required_coverage"},
        ("localized", 1): {"won", "lost", "open_without_amount", "stalled_deals",
                           "stalled_without_amount"},
    }  # fmt: skip
    assert {c: s for s, cols in kinds.items() for c in cols} == style
    labels = [config[c]["label"] for c in shown]
    assert "Velocity $/day" in labels and "Stalled $" in labels
    assert not any("_" in label for label in labels)


def test_downloads(demo_store, app):
    at = app().run()
    labels = [b.label for b in at.get("download_button")]
    assert "Download CSV" in labels and "Download the scorecard (JSON)" in labels


def test_rerun_recomputes_nothing(demo_store, app, fresh_caches, monkeypatch):
    import scoring.scorecard

    at = app().run()
    calls = []
    real = scoring.scorecard.compute
    monkeypatch.setattr(
        scoring.scorecard, "compute", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    at.run()
    assert not at.exception and calls == []


def test_the_scorecard_a_refresh_precomputed_is_served_as_is(data_dir, app, monkeypatch):
    import pages._data
    from ops.config import load_settings
    from ops.refresh import refresh

    snapshot = refresh(load_settings(), "demo", as_of=date(2026, 11, 16)).snapshot
    assert snapshot.artifact("scorecard.json") is not None
    calls = []
    real = pages._data.compute
    monkeypatch.setattr(pages._data, "compute", lambda *a, **k: calls.append(1) or real(*a, **k))
    at = app().run()
    assert not at.exception and calls == []  # default view: nothing computed on the page
    assert at.metric[0].label == "Alignment score"
    other = app(teams="EMEA").run()  # another view: computed, then cached
    assert not other.exception and calls == [1]


@pytest.fixture
def closed_only_store(data_dir: Path) -> Path:
    from tests.closed_only import write_store

    return write_store(data_dir)


def test_closed_deals_only_says_what_is_missing(closed_only_store, app):
    # Closed deals only, no leads, forecasts or quotas, a derived stage history (tests/
    # closed_only.py). Measured: the 2026-Q3 win rate (O1, O2, O4 won, O3 lost → 3/4) and data
    # quality; handoff ownership and forecast integrity have no input. Before: "100" overall
    # and "No driver stands out".
    at = app().run()
    assert not at.exception
    metrics = _metrics(at)
    deltas = {m.label: m.delta for m in at.metric}
    for label in ("Handoff ownership", "Forecast integrity"):
        assert (metrics[label], deltas[label]) == ("—", "not measured")
    assert metrics["Shared outcomes"] == "100"  # 3/4 won, above the 40 % that scores 100
    overall = next(m for m in at.metric if m.label == "Alignment score")
    assert overall.delta == "2 of 4 pillars"
    warning = at.warning[0].value
    assert "covers 2 of 4 pillars" in warning
    assert "**Handoff ownership** is not measured: no lead has a recorded MQL date" in warning
    assert "**Forecast integrity** is not measured: the source has no forecast submissions" in (
        warning
    )
    assert not at.success  # never "No driver stands out" when pillars are not measured
    assert "No driver among the measured signals (2 of 4 pillars)" in at.info[0].value
    headline = at.dataframe[0].value
    company = headline[headline["team"] == "All teams"].iloc[0]
    # The headline is of the selected quarter, 2026-Q4: O5 won (Oct 5), O6 lost (Nov 2).
    assert (company["won"], company["lost"], company["win_rate_count"]) == (1, 1, 0.5)


def test_changes_since_last_review_are_the_pipeline_pages_rows(demo_store, app):
    # The compact table (the last week, per team) shows the Pipeline flow page's totals for
    # the same window: the same cells, a few columns of them.
    at = app().run()
    assert not at.exception
    assert any(m.value.startswith("**Changes since last review** — 1 week: 2026-11-09 – ")
               for m in at.markdown)  # fmt: skip
    compact = next(d.value for d in at.dataframe if "Pushed out" in d.value.columns)
    assert list(compact.columns) == ["team", "New", "Won", "Lost", "Pushed out", "Slipped", "Idle"]
    pipeline = app().run()
    pipeline.switch_page("pages/pipeline.py").run()
    full = next(d.value for d in pipeline.dataframe if "Trend up" in d.value.columns)
    assert compact.to_dict("list") == full[list(compact.columns)].to_dict("list")
    assert list(compact["team"])[-1] == "All teams"
