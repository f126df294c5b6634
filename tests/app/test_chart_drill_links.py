"""Chart drill-downs read from a link (issue #16): a click on a chart on Handoffs, Campaigns &
sourcing and Data trust goes into the URL as `?drill=<chart key>:<value>|<value>`
(`pages._drill`; a chart drawn per breakdown is keyed by it: `conversion_chart_source`), so a
shared link opens the same records. AppTest cannot click a Vega mark:
each test opens the page with the link a click would have made and checks the records listed
are those of the picked mark — the same as selecting that mark's row in the table beside it."""

from __future__ import annotations

import pandas as pd

from pages._text import as_text


def _open(app, page: str, **query: str):
    at = app(**query).run()
    at.switch_page(f"pages/{page}.py").run()
    assert not at.exception
    return at


def _frame(at, key: str) -> pd.DataFrame:
    return next(df.value for df in at.dataframe if df.key == key)


def _tables_with(at, column: str, without: str | None = None) -> list[pd.DataFrame]:
    frames = [df.value for df in at.dataframe if column in df.value.columns]
    return [f for f in frames if without is None or without not in f.columns]


def _drill(at) -> list[str]:
    value = at.query_params.get("drill", [])
    return value if isinstance(value, list) else [value]


def test_handoffs_conversion_bar_from_a_link_lists_its_leads(demo_store, app):
    at = _open(app, "handoffs", drill="conversion_chart_source:Paid Social|mql")
    conv = _frame(at, "conversion_table")
    cell = conv[(conv["source"] == "Paid Social") & (conv["from_step"] == "mql")].iloc[0]
    [leads] = _tables_with(at, "days_to_convert")
    # the bar's cohort: Paid Social's leads that reached MQL in the period, and its converts
    assert len(leads) == cell["cohort"] > 0
    assert set(leads["source"]) == {"Paid Social"} and set(leads["from_step"]) == {"mql"}
    assert leads["converted"].sum() == cell["converted"]
    assert any("Paid Social · MQL →" in m.value for m in at.markdown)
    assert "conversion_chart_source:Paid Social|mql" in _drill(at)  # kept for the next link


def test_handoffs_sla_bar_from_a_link_lists_its_mqls(demo_store, app):
    at = _open(app, "handoffs", drill="sla_chart_source:Paid Social")
    sla = _frame(at, "sla_table").set_index("source")
    [leads] = _tables_with(at, "deadline_at", without="hours_untouched")
    assert len(leads) == sla.loc["Paid Social", "mqls"] and set(leads["source"]) == {"Paid Social"}
    assert (leads["status"] == "breached").sum() == sla.loc["Paid Social", "breached"]


def test_a_link_without_a_drill_lists_no_leads(demo_store, app):
    at = _open(app, "handoffs")
    assert _tables_with(at, "days_to_convert") == []
    assert _tables_with(at, "deadline_at") == []


def test_campaigns_sourced_bar_from_a_link_lists_its_opportunities(demo_store, app):
    at = _open(app, "campaigns", drill="sourced_chart_sourced_by:marketing")
    sourced = _frame(at, "sourced_table").set_index("sourced_by")
    [opps] = [f for f in _tables_with(at, "created_in_period") if "opp_id" in f.columns]
    assert set(opps["sourced_by"]) == {"marketing"}
    # the bar's figures are its records: opportunities created, and won, in the period
    assert opps["created_in_period"].sum() == sourced.loc["marketing", "created"] > 0
    assert opps["won_in_period"].sum() == sourced.loc["marketing", "won"]


def test_campaigns_funnel_bar_from_a_link_lists_the_campaign_s_leads_by_name(demo_store, app):
    funnel = _frame(_open(app, "campaigns"), "campaign_table")
    campaign, name = funnel.loc[0, "campaign_id"], funnel.loc[0, "name"]
    at = _open(app, "campaigns", drill=f"campaign_funnel_chart:{campaign}")
    leads, opps = [f for f in _tables_with(at, "campaign_id") if "members" not in f.columns]
    assert set(leads["campaign_id"]) == {campaign} and set(opps["campaign_id"]) == {campaign}
    assert len(leads) == funnel.loc[0, "members"]
    # the campaign by its name, not its ID
    assert any(f"{name}: {len(leads):,}" in as_text(m.value) for m in at.markdown)


def test_data_trust_quality_bar_from_a_link_lists_the_failing_records(demo_store, app):
    at = _open(app, "data_trust", drill="quality_chart:open_past_close_date")
    checks = _frame(at, "quality_table").set_index("check_id")
    [failing] = _tables_with(at, "is_closed")
    assert len(failing) == checks.loc["open_past_close_date", "failing"] > 0
    assert not failing["is_closed"].any()  # open deals past their close date


def test_data_trust_gap_bar_from_a_link_lists_one_side_s_records(demo_store, app):
    everything = _open(app, "data_trust", drill="reconciliation_diff_chart:")
    assert _tables_with(everything, "in_marketing_count") == []  # an empty pick: nothing
    at = _open(app, "data_trust", drill="reconciliation_diff_chart:marketing only")
    [rows] = _tables_with(at, "in_marketing_count")
    assert set(rows["diff"]) == {"marketing only"}
    recon = _frame(at, "reconciliations_table").set_index("id")
    # the pipeline gap's records are those of both directions: this bar holds some of them
    assert 0 < len(rows) < recon.loc["reconcile.marketing_sourced_pipeline.amount", "records"]


def test_a_team_s_pick_is_not_read_as_a_channel(demo_store, app):
    # a link made with the team breakdown names its chart; the page opening on channels (its
    # default) lists no leads for it rather than a channel "EMEA"'s empty list
    at = _open(app, "handoffs", drill="conversion_chart_team:EMEA|mql")
    assert _tables_with(at, "days_to_convert") == []
    at.button_group(key="handoffs_dim").set_value("team").run()
    [leads] = _tables_with(at, "days_to_convert")
    conv = _frame(at, "conversion_table")
    cell = conv[(conv["team"] == "EMEA") & (conv["from_step"] == "mql")].iloc[0]
    assert len(leads) == cell["cohort"] > 0


def test_a_link_carries_the_breakdown_with_its_pick(demo_store, app):
    # the breakdown is part of the view: `?by=team` opens on teams, so the team pick the link
    # names lists its leads at once (before, the page opened on channels and listed nothing)
    at = _open(app, "handoffs", by="team", drill="conversion_chart_team:EMEA|mql")
    assert at.button_group(key="handoffs_dim").value == "team"
    [leads] = _tables_with(at, "days_to_convert")
    conv = _frame(at, "conversion_table")
    cell = conv[(conv["team"] == "EMEA") & (conv["from_step"] == "mql")].iloc[0]
    assert len(leads) == cell["cohort"] > 0
    assert at.query_params.get("by") in ("team", ["team"])
    at.button_group(key="handoffs_dim").set_value("source").run()  # back to the default
    assert "by" not in at.query_params


def test_a_breakdown_chosen_on_screen_goes_into_the_url(demo_store, app):
    at = _open(app, "campaigns")
    assert "by" not in at.query_params  # the default is left out
    at.button_group(key="campaigns_dim").set_value("campaign_id").run()
    assert at.query_params.get("by") in ("campaign_id", ["campaign_id"])


def test_a_breakdown_the_page_does_not_have_opens_the_default(demo_store, app):
    at = _open(app, "campaigns", by="nonsense")
    assert at.button_group(key="campaigns_dim").value == "sourced_by"
    assert not at.warning  # no "value set via Session State and default" warning either
