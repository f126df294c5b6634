"""The Campaigns & sourcing page on the demo org: sourced pipeline, campaign funnel, drill-downs."""

from __future__ import annotations

from pages._text import as_text


def _open(app, **query):
    at = app(**query).run()
    at.switch_page("pages/campaigns.py").run()
    assert not at.exception
    return at


def _frame(at, key):
    return next(df.value for df in at.dataframe if df.key == key)


def _drill(at, *columns):
    """Drill-down tables holding `columns` (AppTest keys only selectable tables)."""
    return [df.value for df in at.dataframe if df.key is None and set(columns) <= set(df.value)]


def _select(at, key, row):
    at.session_state[key] = {"selection": {"rows": [row], "columns": [], "cells": []}}
    return at.run()


def test_renders_sourced_pipeline_and_campaign_funnel(demo_store, app):
    at = _open(app)
    assert at.title[0].value == "Campaigns & sourcing"
    labels = [m.label for m in at.metric]
    assert labels[:2] == ["Marketing-sourced pipeline", "Sales-sourced pipeline"]
    assert all(m.help for m in at.metric)
    assert len(at.get("vega_lite_chart")) == 3  # sourced, funnel, cost per opportunity
    sourced = _frame(at, "sourced_table")
    assert list(sourced["sourced_by"]) == ["marketing", "partner", "sales", "unknown"]
    funnel = _frame(at, "campaign_table")
    assert {"members", "mqls", "opportunities", "won", "cost_per_mql", "cost_per_won"} <= set(
        funnel.columns
    )
    assert len(at.get("download_button")) == 2


def test_breakdown_switch_and_drill_down_to_opportunities(demo_store, app):
    at = _open(app)
    at.button_group(key="campaigns_dim").set_value("lead_source").run()
    sourced = _frame(at, "sourced_table")
    assert "lead_source" in sourced.columns
    row = int(sourced.index[sourced["lead_source"] == "Paid Social"][0])
    at = _select(at, "sourced_table", row)
    (opps,) = _drill(at, "opp_id", "created_in_period")
    assert set(opps["lead_source"]) == {"Paid Social"}
    # the table's counts are the records behind them
    assert opps["created_in_period"].sum() == sourced.loc[row, "created"]
    assert opps["won_in_period"].sum() == sourced.loc[row, "won"]


def test_campaign_drill_down_lists_member_leads(demo_store, app):
    at = _open(app)
    funnel = _frame(at, "campaign_table")
    at = _select(at, "campaign_table", 0)
    campaign = funnel.loc[0, "campaign_id"]
    leads, opps = _drill(at, "campaign_id")
    assert set(leads["campaign_id"]) == {campaign} and set(opps["campaign_id"]) == {campaign}
    assert len(leads) == funnel.loc[0, "members"]
    assert leads["mql_at"].notna().sum() == funnel.loc[0, "mqls"]


def test_period_filter_changes_the_numbers(demo_store, app):
    q4 = _frame(_open(app), "sourced_table")["created_amount"].tolist()
    at = _open(app, period="2026-Q2")
    assert _frame(at, "sourced_table")["created_amount"].tolist() != q4


def test_tiny_org_without_campaigns_says_what_is_missing(tiny_store, app):
    at = _open(app)
    notices = " ".join(as_text(i.value) for i in at.info)
    assert "campaign_funnel is not available" in notices and "'campaigns'" in notices
    assert "campaign_table" not in [df.key for df in at.dataframe]


def test_a_team_view_counts_its_leads_and_does_not_divide_company_cost_by_them(demo_store, app):
    # A team's view holds its own leads; a campaign's cost is company-wide, so cost per
    # outcome is not measured there (it would set all the cost against one team's MQLs).
    everyone = _frame(_open(app, period="2026-Q2"), "campaign_table").set_index("campaign_id")
    at = _open(app, period="2026-Q2", teams="EMEA")
    emea = _frame(at, "campaign_table").set_index("campaign_id")
    assert emea["cost_per_mql"].isna().all() and everyone["cost_per_mql"].notna().any()
    assert (emea["mqls"] <= everyone.loc[emea.index, "mqls"]).all()
    assert emea["mqls"].sum() < everyone["mqls"].sum()
    assert any("not divided by team" in c.value for c in at.caption)
