"""The Campaigns & sourcing page's sections: pipeline and bookings by who sourced them with
their change since the previous snapshot, the sourced-pipeline chart (the answer's) and its
opportunities, and the campaign funnel with the cost of each outcome and its leads. Layout
only: figures from `_data.metric`; every chart → selection → records through `_drill`."""

from __future__ import annotations

import polars as pl
import streamlit as st

from pages import _data, _drill, _since, _widgets
from reports import funnel_charts as charts
from scoring import sourcing

DIMS = {"sourced_by": "Sourced by", "campaign_id": "Campaign", "lead_source": "Lead source"}
# How a heading names the breakdown ("… by who sourced it"), so no label is built from the
# column's name ("by sourced by").
BY = {"sourced_by": "who sourced it", "campaign_id": "campaign", "lead_source": "lead source"}


def _amount(frame: pl.DataFrame | None, who: str, column: str) -> float | None:
    """`column` of the `sourced_by` row `who` (None when absent)."""
    if frame is None:
        return None
    rows = frame.filter(pl.col("sourced_by") == who)
    return rows[column][0] if rows.height else None


def headline(view: _data.View) -> None:
    """Marketing- and sales-sourced pipeline created and bookings won, each with its change
    since the previous snapshot (more is better)."""
    now = _data.metric("sourced_pipeline", view, by=("sourced_by",))
    before = _since.metric_before("sourced_pipeline", view, by=("sourced_by",))
    compared = _since.previous_view(view) is not None
    cards = [
        (f"{who.title()}-sourced {what}", who, column, definition)
        for what, column, definition in (
            ("pipeline", "created_amount", "sourced_pipeline"),
            ("bookings", "won_amount", "bookings_by_source"),
        )
        for who in ("marketing", "sales")
    ]
    for col, (label, who, column, definition) in zip(st.columns(4), cards, strict=True):
        value = _amount(now, who, column)
        col.metric(
            label,
            _widgets.money(value),
            help=_widgets.help_for(definition) + _since.SINCE_HELP,
            border=True,
            **_since.delta(
                value, _amount(before, who, column), "$", higher_is_better=True, compared=compared
            ),
        )


def sourced_chart(sourced: pl.DataFrame, dim: str) -> _drill.Picks:
    """The answer's chart: pipeline created and bookings by `dim`; a click picks a bar."""
    if sourced.is_empty():
        st.caption("No opportunity was created or won in this view.")
        return {dim: None}
    return _drill.chart(
        charts.sourced_chart, sourced, dim, key=f"sourced_chart_{dim}", fields=(dim,)
    )


def sourced_detail(
    view: _data.View, sourced: pl.DataFrame, dim: str, chart_picks: _drill.Picks
) -> None:
    """The sourced pipeline table and the opportunities behind the picked bar or row."""
    st.caption(
        "Pipeline created: opportunities created in the period. Bookings: opportunities won "
        "with a close date in the period. Click a bar or select a row for the opportunities "
        "behind it."
    )
    row = _widgets.table(
        sourced,
        key="sourced_table",
        name=f"sourced_pipeline_by_{dim}_{view.period}",
        select=True,
        column_config={
            dim: st.column_config.TextColumn(DIMS[dim], pinned=True),
            "created": "Opps created",
            "created_amount": _widgets.money_column("Pipeline created", "sourced_pipeline"),
            "won": "Opps won",
            "won_amount": _widgets.money_column("Bookings", "bookings_by_source"),
        },
    )
    picks = _drill.either(_drill.row_picks(row, (dim,)), chart_picks)
    if picks[dim]:
        _drill.records(
            _data.metric("sourced_pipeline_opps", view),
            picks,
            key="sourced_opps",
            name=f"sourced_opps_{picks[dim]}",
            what=f"opportunities by {BY[dim]}",
            column_config={"amount": _widgets.money_column("Amount")},
        )


def _channel_scale(view: _data.View, funnel: pl.DataFrame):
    """Channel colors over every lead source of the view, as on the Handoffs page."""
    sources = _data.metric("sourced_pipeline", view, by=("lead_source",))["lead_source"]
    channels = funnel["channel"].fill_null(charts.NO_CHANNEL)
    return charts.channel_scale([*sources.to_list(), *channels.to_list()])


def campaign_funnel(view: _data.View, tables) -> None:
    """Each campaign from members to won deals, the cost of each outcome, and the member
    leads and opportunities of a picked campaign."""
    if _widgets.not_available(sourcing.sourcing_status(tables, "campaign_funnel")):
        return
    funnel = _data.metric("campaign_funnel", view)
    funnel_picks: _drill.Picks = {"campaign_id": None}
    cost_picks: _drill.Picks = {"campaign_id": None}
    if funnel.is_empty():
        st.caption(f"No campaign ran in {view.period_label}.")
    else:
        left, right = st.columns(2)
        with left:
            funnel_picks = _drill.chart(
                charts.campaign_funnel_chart, funnel, key="campaign_funnel_chart",
                fields=("campaign_id",),
            )  # fmt: skip
        with right:
            if view.teams:
                st.markdown(
                    "**Cost per opportunity**", help=_widgets.help_for("cost_per_opportunity")
                )
                st.caption(
                    "Not measured for a team view: a campaign's cost is not divided by team, "
                    "so it cannot be set against one team's opportunities."
                )
            else:
                cost_picks = _drill.chart(
                    charts.campaign_cost_chart, funnel, _channel_scale(view, funnel),
                    key="campaign_cost_chart", fields=("campaign_id",),
                )  # fmt: skip
        st.caption(
            "Campaigns running in the period; members are campaign members plus leads whose "
            "own campaign it is; MQLs, opportunities and wins are counted by the as-of date. "
            "Cost per won $ below 1 means the campaign returned more than it cost. A campaign "
            "with no opportunity yet is listed first on the cost chart with what it spent, not "
            "drawn as a cheap bar."
            + (
                " For the selected teams: their member leads; cost per outcome is not measured "
                "(a campaign's cost is not divided by team)."
                if view.teams
                else ""
            )
        )
    row = _widgets.table(
        funnel,
        key="campaign_table",
        name=f"campaign_funnel_{view.period}",
        select=True,
        column_config={
            "campaign_id": st.column_config.TextColumn("Campaign", pinned=True),
            "name": "Name",
            "channel": "Channel",
            "cost": _widgets.money_column("Cost"),
            "members": "Members",
            "mqls": "MQLs",
            "opportunities": "Opps",
            "won": "Won",
            "won_amount": _widgets.money_column("Won $"),
            "cost_per_mql": _widgets.money_column("Cost per MQL", "cost_per_mql"),
            "cost_per_opportunity": _widgets.money_column("Cost per opp", "cost_per_opportunity"),
            "cost_per_won": st.column_config.NumberColumn(
                "Cost per won $", format="%.2f", help=_widgets.help_for("cost_per_won")
            ),
        },
    )
    campaign = _drill.either(
        _drill.row_picks(row, ("campaign_id",)), _drill.either(funnel_picks, cost_picks)
    )["campaign_id"]
    if not campaign:
        return
    named = funnel.filter(pl.col("campaign_id") == campaign)["name"].drop_nulls()
    shown = {"campaign": named[0] if named.len() else campaign}  # names, not IDs
    leads = _data.metric("campaign_funnel_leads", view).filter(pl.col("campaign_id") == campaign)
    _drill.listed(
        leads,
        shown,
        key="campaign_leads",
        name=f"campaign_leads_{campaign}",
        what="member leads of the campaign",
        column_config={"amount": _widgets.money_column("Opp amount")},
    )
    opps = _data.metric("sourced_pipeline_opps", view).filter(pl.col("campaign_id") == campaign)
    _drill.listed(
        opps,
        shown,
        key="campaign_opps",
        name=f"campaign_opps_{campaign}",
        what=f"opportunities with it as primary campaign, created or won in {view.period}",
        column_config={"amount": _widgets.money_column("Amount")},
    )
