"""Campaigns & sourcing: who creates the pipeline and the bookings, and what it costs.

Pipeline created and bookings won by who sourced them (or by campaign / lead source), the
campaign funnel from members to won deals with the cost of each outcome, and the leads and
opportunities behind every figure.
"""

from __future__ import annotations

import polars as pl
import streamlit as st

from pages import _chart_specs, _data, _decision_log, _widgets
from pages._text import md_text
from reports import funnel_charts as charts
from scoring import sourcing

DIMS = {"sourced_by": "Sourced by", "campaign_id": "Campaign", "lead_source": "Lead source"}
# How a heading names the breakdown ("… by who sourced it") and one of its values ("sourced
# by marketing"), so no label is built from the column's name ("by sourced by").
BY = {"sourced_by": "who sourced it", "campaign_id": "campaign", "lead_source": "lead source"}
OF = {"sourced_by": "sourced by", "campaign_id": "of campaign", "lead_source": "from lead source"}


def _row(frame: pl.DataFrame, column: str, value: str) -> dict | None:
    rows = frame.filter(pl.col(column) == value)
    return rows.row(0, named=True) if rows.height else None


def _channel_scale(funnel: pl.DataFrame):
    """Channel colors over every lead source of the view, as on the Handoffs page."""
    sources = _data.metric("sourced_pipeline", view, by=("lead_source",))["lead_source"]
    channels = funnel["channel"].fill_null(charts.NO_CHANNEL)
    return charts.channel_scale([*sources.to_list(), *channels.to_list()])


view = _data.current_view()
tables = _data.team_tables(view.data_dir, view.snapshot_id, view.teams)
teams_label = md_text(", ".join(view.teams)) or "all teams"

st.title("Campaigns & sourcing")
st.caption(
    f"{view.period_label} · as of {view.as_of} · {teams_label} · pipeline by creation date, "
    "bookings by close date"
)

# ---------------------------------------------------------------- headline
by_source = _data.metric("sourced_pipeline", view, by=("sourced_by",))
cols = st.columns(4)
for col, who in zip(cols, ("marketing", "sales"), strict=False):
    row = _row(by_source, "sourced_by", who)
    col.metric(
        f"{who.title()}-sourced pipeline",
        _widgets.money(None if row is None else row["created_amount"]),
        help=_widgets.help_for("sourced_pipeline"),
        border=True,
    )
for col, who in zip(cols[2:], ("marketing", "sales"), strict=False):
    row = _row(by_source, "sourced_by", who)
    col.metric(
        f"{who.title()}-sourced bookings",
        _widgets.money(None if row is None else row["won_amount"]),
        help=_widgets.help_for("bookings_by_source"),
        border=True,
    )

# ---------------------------------------------------------------- sourced pipeline
dim = st.segmented_control(
    "Break down by",
    list(DIMS),
    format_func=DIMS.get,
    default="sourced_by",
    required=True,
    key="campaigns_dim",
    help="Who sourced the opportunity (its sourced_by label), its primary campaign, or its "
    "lead source.",
)
dim = dim or "sourced_by"
label = DIMS[dim]
st.subheader(f"Sourced pipeline and bookings by {BY[dim]}")
sourced = _data.metric("sourced_pipeline", view, by=(dim,))
source_state = None
if not sourced.is_empty():
    source_state = _chart_specs.chart(
        charts.sourced_chart,
        sourced,
        dim,
        key="sourced_chart",
        on_select="rerun",
        selection_mode=["pick"],
    )
st.caption(
    "Pipeline created: opportunities created in the period. Bookings: opportunities won with "
    "a close date in the period. Click a bar or select a row for the opportunities behind it."
)
source_row = _widgets.table(
    sourced,
    key="sourced_table",
    name=f"sourced_pipeline_by_{dim}_{view.period}",
    select=True,
    column_config={
        dim: st.column_config.TextColumn(label, pinned=True),
        "created": "Opps created",
        "created_amount": _widgets.money_column("Pipeline created", "sourced_pipeline"),
        "won": "Opps won",
        "won_amount": _widgets.money_column("Bookings", "bookings_by_source"),
    },
)
source_value = charts.picked(source_state, source_row, dim)
if source_value:
    opps = _data.metric("sourced_pipeline_opps", view).filter(pl.col(dim) == source_value)
    st.markdown(f"**Opportunities {OF[dim]} {md_text(source_value)}**: {opps.height:,}")
    _widgets.table(
        opps,
        key="sourced_opps",
        name=f"sourced_opps_{source_value}",
        column_config={"amount": _widgets.money_column("Amount")},
    )

# ---------------------------------------------------------------- campaign funnel
st.subheader("Campaign funnel and cost per outcome")
if not _widgets.not_available(sourcing.sourcing_status(tables, "campaign_funnel")):
    funnel = _data.metric("campaign_funnel", view)
    campaign_state = cost_state = None
    if funnel.is_empty():
        st.caption(f"No campaign ran in {view.period_label}.")
    else:
        left, right = st.columns(2)
        with left:
            campaign_state = _chart_specs.chart(
                charts.campaign_funnel_chart,
                funnel,
                key="campaign_funnel_chart",
                on_select="rerun",
                selection_mode=["pick"],
            )
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
                cost_state = _chart_specs.chart(
                    charts.campaign_cost_chart,
                    funnel,
                    _channel_scale(funnel),
                    key="campaign_cost_chart",
                    on_select="rerun",
                    selection_mode=["pick"],
                )
        st.caption(
            "Campaigns running in the period; members are campaign members plus leads whose own "
            "campaign it is; MQLs, opportunities and wins are counted by the as-of date. "
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
    campaign_row = _widgets.table(
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
    campaign = charts.picked(campaign_state, campaign_row, "campaign_id") or charts.picked(
        cost_state, None, "campaign_id"
    )
    if campaign:
        leads = _data.metric("campaign_funnel_leads", view).filter(
            pl.col("campaign_id") == campaign
        )
        named = funnel.filter(pl.col("campaign_id") == campaign)["name"].drop_nulls()
        campaign_name = named[0] if named.len() else campaign  # names, not IDs
        st.markdown(f"**Member leads of campaign {md_text(campaign_name)}**: {leads.height:,}")
        _widgets.table(
            leads,
            key="campaign_leads",
            name=f"campaign_leads_{campaign}",
            column_config={"amount": _widgets.money_column("Opp amount")},
        )
        opps = _data.metric("sourced_pipeline_opps", view).filter(pl.col("campaign_id") == campaign)
        st.markdown(
            f"**Opportunities with {md_text(campaign_name)} as primary campaign**, created or "
            f"won in {view.period}: {opps.height:,}"
        )
        _widgets.table(
            opps,
            key="campaign_opps",
            name=f"campaign_opps_{campaign}",
            column_config={"amount": _widgets.money_column("Amount")},
        )

_decision_log.record_expander(
    "campaigns", about_kind="metric", about_id="sourced_pipeline_disagreement"
)
