"""Sourcing and campaigns: who creates the pipeline and the bookings, and what a campaign's
pipeline costs.

**Not available.** As in `scoring.funnel`: without a table in `NEEDS` a metric returns an empty
frame with its full schema and `sourcing_status(tables, "<function name>")` says why.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import polars as pl

from model.calendar import Period
from model.tables import ENGINE, UNASSIGNED_TEAM, Tables, missing_message, opportunities_with_team
from scoring.definitions import MetricDefinition
from scoring.funnel import (
    as_of_end,
    check_dims,
    collect_available,
    in_period,
    ratio,
    sorted_by,
    steps_lazy,
    summarize,
)

# Grouping dimensions of opportunity metrics and the label used when an opp has no value.
OPP_DIMENSIONS = {
    "sourced_by": "unknown",
    "campaign_id": "(no campaign)",
    "lead_source": "(no source)",
    "team": UNASSIGNED_TEAM,
}

_CAMPAIGNS = ("campaigns", "leads")
NEEDS: dict[str, tuple[str, ...]] = {
    "sourced_pipeline": (),
    "sourced_pipeline_opps": (),
    "campaign_funnel": _CAMPAIGNS,
    "campaign_funnel_leads": _CAMPAIGNS,
}


def sourcing_status(tables: Tables, metric: str) -> str | None:
    """The "not available" message for the sourcing metric named `metric`, or None."""
    return missing_message(tables, metric, NEEDS[metric])


def _opp_rows(tables: Tables, period: Period, as_of: date, timezone: str) -> pl.LazyFrame:
    """Opportunities created in `period` or won in it (by close_date), both known by as_of."""
    created = in_period(pl.col("created_at"), period, timezone) & (
        pl.col("created_at") < as_of_end(as_of, timezone)
    )
    won = (
        pl.col("is_won")
        & pl.col("close_date").is_between(period.start, period.end, closed="left")
        & (pl.col("close_date") <= as_of)
    )
    labels = [pl.col(d).cast(pl.String).fill_null(label) for d, label in OPP_DIMENSIONS.items()]
    return (
        opportunities_with_team(tables)
        .with_columns(*labels, created_in_period=created, won_in_period=won)
        .filter(pl.col("created_in_period") | pl.col("won_in_period"))
    )


def sourced_pipeline(
    tables: Tables,
    *,
    period: Period,
    as_of: date,
    by: Sequence[str] = ("sourced_by",),
    timezone: str = "UTC",
) -> pl.DataFrame:
    """Pipeline created and bookings won in `period`, by who sourced them (marketing, sales,
    partner) or by campaign: the shared outcome both teams answer for, not MQL or call counts.

    Grain: `by` dims (sourced_by, campaign_id, lead_source, team). Columns: *by, created,
    created_amount (opps created in period), won, won_amount (won with close_date in period).
    """
    by = check_dims(by, OPP_DIMENSIONS)
    created, won = pl.col("created_in_period"), pl.col("won_in_period")
    aggs = [
        created.sum().cast(pl.Int64).alias("created"),
        pl.col("amount").filter(created).sum().alias("created_amount"),
        won.sum().cast(pl.Int64).alias("won"),
        pl.col("amount").filter(won).sum().alias("won_amount"),
    ]
    rows = _opp_rows(tables, period, as_of, timezone)
    return summarize(rows, by, aggs).pipe(sorted_by, by).collect(engine=ENGINE)


def sourced_pipeline_opps(
    tables: Tables, *, period: Period, as_of: date, timezone: str = "UTC"
) -> pl.DataFrame:
    """Drill-down of `sourced_pipeline`: one row per opportunity created or won in the period."""
    return (
        _opp_rows(tables, period, as_of, timezone)
        .select(
            "opp_id",
            *OPP_DIMENSIONS,
            "amount",
            "created_at",
            "close_date",
            "is_won",
            "created_in_period",
            "won_in_period",
        )
        .sort("opp_id")
        .collect(engine=ENGINE)
    )


# ---------------------------------------------------------------- campaigns


def _members(tables: Tables, as_of: date, timezone: str) -> pl.LazyFrame:
    """Campaign × lead pairs: campaign members plus each lead's own campaign_id, de-duplicated."""
    cutoff = as_of_end(as_of, timezone)
    responded = pl.col("responded_at").is_null() | (pl.col("responded_at") < cutoff)
    from_members = tables.campaign_members.filter(responded).select("campaign_id", "lead_id")
    from_leads = tables.leads.filter(pl.col("campaign_id").is_not_null()).select(
        "campaign_id", "lead_id"
    )
    return pl.concat([from_members, from_leads]).unique()


def _member_rows(tables: Tables, period: Period, as_of: date, timezone: str) -> pl.LazyFrame:
    """One row per member lead of each campaign running in `period` (campaigns with no members
    keep one row with a null lead_id)."""
    running = (pl.col("start_date").is_null() | (pl.col("start_date") < period.end)) & (
        pl.col("end_date").is_null() | (pl.col("end_date") >= period.start)
    )
    steps = steps_lazy(tables, as_of=as_of, timezone=timezone).select(
        "lead_id", "mql_at", "opp_at", "won_at", "converted_opp_id"
    )
    amounts = tables.opportunities.select(pl.col("opp_id").alias("converted_opp_id"), "amount")
    return (
        tables.campaigns.filter(running)
        .select("campaign_id", "name", "channel", "cost")
        .join(_members(tables, as_of, timezone), on="campaign_id", how="left")
        .join(steps, on="lead_id", how="left")
        .join(amounts, on="converted_opp_id", how="left")
    )


def campaign_funnel(
    tables: Tables, *, period: Period, as_of: date, timezone: str = "UTC"
) -> pl.DataFrame:
    """Per campaign running in `period`: members, MQLs, opportunities and wins from its members'
    leads (by as_of), and what each cost — cost per MQL, per opportunity, and per won dollar.

    Grain: campaign_id. Columns: campaign_id, name, channel, cost, members, mqls, opportunities,
    won, won_amount, cost_per_mql, cost_per_opportunity, cost_per_won (= cost / won_amount);
    a ratio whose denominator is zero is null. A lead in two campaigns counts in both; an
    opportunity converted from two member leads counts once per campaign. In a view filtered
    to some teams the counts are their leads' and the cost ratios are null: a campaign's cost
    is not divided by team, so it cannot be set against one team's leads.
    """
    opp = pl.col("converted_opp_id")
    won_opps = pl.struct(opp, "amount").filter(pl.col("won_at").is_not_null()).unique()

    def cost_per(den: str) -> pl.Expr:
        return pl.lit(None, pl.Float64) if tables.team_scope else ratio("cost", den)

    return (
        _member_rows(tables, period, as_of, timezone)
        .group_by("campaign_id")
        .agg(
            pl.col("name", "channel", "cost").first(),
            members=pl.col("lead_id").count().cast(pl.Int64),
            mqls=pl.col("mql_at").count().cast(pl.Int64),
            opportunities=opp.filter(pl.col("opp_at").is_not_null()).n_unique().cast(pl.Int64),
            won=won_opps.len().cast(pl.Int64),
            won_amount=won_opps.struct.field("amount").sum(),
        )
        .with_columns(
            cost_per_mql=cost_per("mqls"),
            cost_per_opportunity=cost_per("opportunities"),
            cost_per_won=cost_per("won_amount"),
        )
        .sort("campaign_id")
        .pipe(collect_available, tables, NEEDS["campaign_funnel"])
    )


def campaign_funnel_leads(
    tables: Tables, *, period: Period, as_of: date, timezone: str = "UTC"
) -> pl.DataFrame:
    """Drill-down of `campaign_funnel`: one row per campaign × member lead with its MQL,
    opportunity and win dates and the converted opportunity's amount."""
    return (
        _member_rows(tables, period, as_of, timezone)
        .filter(pl.col("lead_id").is_not_null())
        .select(
            "campaign_id", "lead_id", "mql_at", "opp_at", "converted_opp_id", "won_at", "amount"
        )
        .sort("campaign_id", "lead_id")
        .pipe(collect_available, tables, NEEDS["campaign_funnel_leads"])
    )


# ---------------------------------------------------------------- definitions

_OUTCOMES = "shared_outcomes"

DEFINITIONS: tuple[MetricDefinition, ...] = (
    MetricDefinition(
        id="sourced_pipeline",
        name="Sourced pipeline",
        formula="Σ amount (and count) of opportunities created in period, by sourced_by",
        unit="currency",
        grain="sourced_by (or campaign / lead source / team) × period",
        date_anchor="opportunity created_at",
        good="each source grows pipeline in line with its plan",
        question=_OUTCOMES,
        owner_team="marketing",
        filters="sourced_by null counts as unknown",
        variants=("bookings_by_source",),
    ),
    MetricDefinition(
        id="bookings_by_source",
        name="Bookings by source",
        formula="Σ amount (and count) of opportunities won, close_date in period, by sourced_by",
        unit="currency",
        grain="sourced_by (or campaign / lead source / team) × period",
        date_anchor="opportunity close_date",
        good="marketing- and sales-sourced bookings both on plan: one revenue outcome",
        question=_OUTCOMES,
        owner_team="sales",
        variants=("sourced_pipeline",),
    ),
    MetricDefinition(
        id="cost_per_mql",
        name="Cost per MQL",
        formula="campaign cost / |member leads that reached MQL by as_of|",
        unit="currency",
        grain="campaign",
        date_anchor="campaign running in period; funnel steps by as_of",
        good="falling, without falling MQL→SAL conversion",
        question=_OUTCOMES,
        owner_team="marketing",
        filters="members = campaign members ∪ leads' own campaign; null when no MQLs",
        higher_is_better=False,
    ),
    MetricDefinition(
        id="cost_per_opportunity",
        name="Cost per opportunity",
        formula="campaign cost / |distinct opportunities converted from member leads by as_of|",
        unit="currency",
        grain="campaign",
        date_anchor="campaign running in period; conversions by as_of",
        good="falling; compare across channels",
        question=_OUTCOMES,
        owner_team="marketing",
        filters="null when no opportunities",
        higher_is_better=False,
    ),
    MetricDefinition(
        id="cost_per_won",
        name="Cost per won dollar",
        formula="campaign cost / Σ amount of distinct won opportunities from member leads",
        unit="ratio",
        grain="campaign",
        date_anchor="campaign running in period; wins (close_date) by as_of",
        good="well below 1: a campaign returns more than it costs",
        question=_OUTCOMES,
        owner_team="marketing",
        filters="null when nothing won",
        higher_is_better=False,
    ),
)
