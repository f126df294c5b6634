"""Stage spells and what they reveal: days in stage, stalled deals, handoff stalls and the
stage-history data-trust KPIs (skips, regressions, reopens, close-date churn, stale dates).

A **stage spell** is one uninterrupted stay of an opportunity in one stage, rebuilt from
`stage_history` (Salesforce OpportunityHistory). History rows also fire on amount, close
date and category changes, so consecutive rows with the same stage are collapsed into one
spell. The opportunity's `created_at` starts its first spell, in the stage of its first
history row (or its current stage when it has no history).

As of a date: rows entered after the **end of the as-of day** (midnight that ends `as_of`
in the reporting time zone) are ignored, as are opportunities created after it, and the
current spell of an open deal runs to that same instant. Durations are fractional days.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from functools import partial

import narwhals as nw
import polars as pl

from model.calendar import Calendar, local_date, period_of, previous, trailing
from model.graph import Node, get, sorted_by
from model.params import StallParams
from model.tables import ALL_TEAMS, ENGINE, Tables
from scoring import ordered
from scoring.definitions import MetricDefinition
from scoring.history import (
    ORDER_BY,
    STATES,
    instant_us,
    opp_state_at,
    opportunities_with_team_nw,
    with_event_order,
)
from scoring.ordered import first_row, last_row_holds, row_number, with_sequence
from scoring.portable_time import epoch_us

_DAY_US = 86_400_000_000
# The code a stored spell or close-date change was derived by (its version).
_CODE = (
    "scoring/stages.py",
    "scoring/ordered.py",
    "scoring/windows.py",
    "scoring/portable_time.py",
    "model/calendar.py",
)
# Deterministic order of history events: same-instant rows fall back to pipeline position,
# so results never depend on the row order of the input.

SPELL_COLUMNS = (
    "opp_id",
    "team",
    "owner_id",
    "stage",
    "position",
    "stage_owner_function",
    "is_closed_stage",
    "is_won_stage",
    "spell_no",
    "entered_at",
    "left_at",
    "days_in_stage",
    "is_current",
    "is_open_deal",
    "prev_stage",
    "is_handoff",
    "is_skip",
    "is_regression",
    "is_reopen",
)


# ---------------------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------------------


def as_of_cutoff(as_of: date, timezone: str = "UTC") -> datetime:
    """The end of the `as_of` day in `timezone`, as a UTC instant (exclusive bound)."""
    return Calendar(timezone).end_of(as_of)


def _stage_lookup(tables: Tables) -> pl.LazyFrame:
    """Stages with `open_rank`: 1, 2, … over open stages in pipeline order (null if closed).

    Skips and regressions compare `open_rank`, so gaps in `position` numbering don't matter.
    """
    return tables.stages.select(
        "stage",
        "position",
        pl.col("owner_function").alias("stage_owner_function"),
        pl.col("is_closed").alias("is_closed_stage"),
        pl.col("is_won").alias("is_won_stage"),
    ).with_columns(
        open_rank=pl.when(~pl.col("is_closed_stage")).then(
            pl.col("position").rank("dense").over("is_closed_stage").cast(pl.Int32)
        )
    )


# ---------------------------------------------------------------------------------------
# Stage spells and days in stage
# ---------------------------------------------------------------------------------------


def stage_spells(tables: Tables, *, as_of: date, timezone: str = "UTC") -> pl.DataFrame:
    """One row per opportunity per stage spell, as of the end of `as_of`.

    How long each deal sat in each stage, and how it got there (handoff between functions,
    skipped stages, moved backwards, reopened after closing). Grain: (opp_id, spell_no).
    A node of the derivation graph (`SPELLS`): stored with the snapshot, clipped for an
    earlier as-of day, cut for a team view.
    """
    return get(tables, SPELLS, as_of, timezone).collect(engine=ENGINE)


def _stage_lookup_nw(stages: nw.LazyFrame) -> nw.LazyFrame:
    """`_stage_lookup` for node bodies (narwhals, any engine)."""
    return stages.select(
        "stage",
        "position",
        nw.col("owner_function").alias("stage_owner_function"),
        nw.col("is_closed").alias("is_closed_stage"),
        nw.col("is_won").alias("is_won_stage"),
    ).with_columns(
        open_rank=nw.when(~nw.col("is_closed_stage")).then(
            nw.col("position").rank("dense").over("is_closed_stage").cast(nw.Int32)
        )
    )


# Spells of a deal in the order their events happened: the event's time before its first
# row was moved to the deal's creation (`_at`), then EVENT_ORDER's tie-breakers.
_SPELL_ORDER = ("_at", *ORDER_BY[1:])


def spells_body(
    opportunities: nw.LazyFrame,
    stage_history: nw.LazyFrame,
    stages: nw.LazyFrame,
    users: nw.LazyFrame,
    *,
    as_of: date,
    timezone: str,
) -> nw.LazyFrame:
    """One row per opportunity per stage spell as of the end of `as_of` (`stage_spells`).

    A deal's events in event order (`_SPELL_ORDER`): its history rows, the first one moved
    to the deal's creation, those after the cut-off dropped; a deal without history has one
    event in its current stage at its creation. The first event of each run of equal stages
    starts a spell, which lasts until the next spell starts."""
    engine = opportunities.implementation
    cutoff = instant_us(as_of_cutoff(as_of, timezone))
    lookup = _stage_lookup_nw(stages)
    deal = (
        opportunities_with_team_nw(opportunities, users, stages)
        .filter(epoch_us("created_at", engine) < cutoff)
        .select("opp_id", "created_at", "team", "owner_id", "stage")
    )
    stage_columns = ("stage_owner_function", "is_closed_stage", "is_won_stage", "open_rank")
    columns = ["opp_id", "team", "owner_id", "entered_at", *_SPELL_ORDER, *stage_columns]
    history = (
        stage_history.select(
            "opp_id", "stage", "entered_at", "close_date", "amount", "forecast_category"
        )
        .join(deal.drop("stage"), on="opp_id", how="inner")
        .with_columns(nw.max_horizontal("entered_at", "created_at").alias("_at"))
        .pipe(with_event_order)
        .join(lookup, on="stage", how="left")
    )
    first = nw.col("_first")
    events = (
        with_sequence(history, "opp_id", _SPELL_ORDER, _first=first_row())
        .with_columns(entered_at=nw.when(first).then(nw.col("created_at")).otherwise(nw.col("_at")))
        .filter(epoch_us("entered_at", engine) < cutoff)
        .select(columns)
    )
    without_history = (
        deal.join(stage_history.select("opp_id"), on="opp_id", how="anti")
        .join(lookup, on="stage", how="left")
        .with_columns(
            nw.col("created_at").alias("entered_at"),
            nw.col("created_at").alias("_at"),
            nw.lit(None).cast(nw.Date).alias("close_date"),
            nw.lit(None).cast(nw.Float64).alias("amount"),
            nw.lit(None).cast(nw.Int32).alias(ORDER_BY[-1]),
        )
        .select(columns)
    )
    # Each deal's events stay together and in event order (on polars: as sorted above, the
    # deals without history after them), so the steps below read them as they stand.
    in_order = partial(with_sequence, partition="opp_id", order_by=_SPELL_ORDER, presorted=True)
    changed = nw.col("_prev").is_null() | (nw.col("stage") != nw.col("_prev"))
    events = nw.concat([events, without_history])
    spells = in_order(events, _prev=ordered.previous("stage")).filter(changed)
    return (
        in_order(
            spells,
            spell_no=row_number(),
            left_at=ordered.previous("entered_at", -1),
            prev_stage=ordered.previous("stage"),
            _prev_function=ordered.previous("stage_owner_function"),
            _prev_closed=ordered.previous("is_closed_stage"),
            _prev_rank=ordered.previous("open_rank"),
        )
        .with_columns(
            nw.col("spell_no").cast(nw.Int32), _step=nw.col("open_rank") - nw.col("_prev_rank")
        )
        .pipe(_durations, cutoff)
        .pipe(_moves)
        .select(SPELL_COLUMNS)
        .sort("opp_id", "spell_no")
    )


def _durations(spells: nw.LazyFrame, cutoff: int) -> nw.LazyFrame:
    """`days_in_stage`, `is_current`, `is_open_deal` of spells whose `left_at` is set (the
    spells of each deal together and in spell order on polars): the current spell of an open
    deal runs to `cutoff` (epoch microseconds); a terminal closed spell has no duration
    (reaching Closed Won is an outcome, not time spent in a stage)."""
    engine = spells.implementation
    end = nw.coalesce(
        epoch_us("left_at", engine), nw.when(~nw.col("is_closed_stage")).then(nw.lit(cutoff))
    )
    last_closed = last_row_holds("is_closed_stage")
    return with_sequence(
        spells, "opp_id", ("spell_no",), presorted=True, _last_closed=last_closed
    ).with_columns(
        days_in_stage=(end - epoch_us("entered_at", engine)) / _DAY_US,
        is_current=nw.col("left_at").is_null(),
        is_open_deal=~nw.col("_last_closed"),
    )


def _moves(spells: nw.LazyFrame) -> nw.LazyFrame:
    """Flags on how each spell was entered (handoff, skip, regression or reopen), from the
    previous spell's columns (`_prev_*`, `_step`: the change of open rank)."""
    closed, prev_closed = nw.col("is_closed_stage"), nw.col("_prev_closed")
    both_open = ~closed & ~prev_closed
    flags = ("is_handoff", "is_skip", "is_regression", "is_reopen")
    return spells.with_columns(
        is_handoff=nw.col("stage_owner_function") != nw.col("_prev_function"),
        is_skip=both_open & (nw.col("_step") > 1),
        is_regression=both_open & (nw.col("_step") < 0),
        is_reopen=prev_closed & ~closed,
    ).with_columns(nw.col(*flags).fill_null(False))


def _clip_spells(spells: pl.LazyFrame, as_of: date, timezone: str) -> pl.LazyFrame:
    """The spells as of an earlier day, from later ones: the spells entered by its end, a
    spell left after it still current, its duration running to that end.

    The same as deriving them then: a deal created later has no spell entered before (its
    first spell starts at its creation), and how a spell was entered (handoff, skip, …)
    depends only on the spells before it. The later spells are in (opp_id, spell_no) order:
    the node's result ends in that sort, or is put in it (`arrange`), and a filter keeps it.
    """
    cutoff = as_of_cutoff(as_of, timezone)
    clipped = spells.filter(pl.col("entered_at") < cutoff).with_columns(
        left_at=pl.when(pl.col("left_at") < cutoff).then("left_at")
    )
    return _durations(nw.from_native(clipped), instant_us(cutoff)).to_native().select(SPELL_COLUMNS)


SPELLS = Node(
    name="stage_spells",
    grain="one row per opportunity per stage spell (opp_id, spell_no), as of a day",
    reads=("opportunities", "stage_history", "stages", "users"),
    body=spells_body,
    arrange=sorted_by("opp_id", "spell_no"),
    coords=("as_of", "timezone"),
    team="team",
    clip=_clip_spells,
    persist=True,
    code=_CODE,
)


def _group_with_all_teams(
    frame: pl.LazyFrame, keys: Sequence[str], aggs: Sequence[pl.Expr]
) -> pl.LazyFrame:
    """Aggregate by `keys`, plus the same aggregate over all teams (team = "All teams")."""
    per_group = frame.group_by(list(keys)).agg(aggs)
    if "team" not in keys:
        return per_group
    others = [k for k in keys if k != "team"]
    all_teams = (frame.group_by(others).agg(aggs) if others else frame.select(aggs)).with_columns(
        team=pl.lit(ALL_TEAMS)
    )
    return pl.concat([per_group, all_teams], how="diagonal")


def days_in_stage_distribution(
    spells: pl.DataFrame,
    *,
    by: Sequence[str] = ("stage", "team"),
    include_current: bool = True,
) -> pl.DataFrame:
    """How long deals sit in each stage: n, median, p75, p90 and mean days per group.

    Open (non-closed) stages only. With `include_current`, open deals' current spells count
    with their age so far; otherwise only finished spells. Adds "All teams" rows when
    grouping by team. Quantiles use linear interpolation. Grain: `by`.
    """
    days = pl.col("days_in_stage")
    aggs = [
        pl.len().alias("n"),
        days.median().alias("median_days"),
        days.quantile(0.75, "linear").alias("p75_days"),
        days.quantile(0.90, "linear").alias("p90_days"),
        days.mean().alias("mean_days"),
    ]
    rows = spells.lazy().filter(~pl.col("is_closed_stage") & days.is_not_null())
    if not include_current:
        rows = rows.filter(~pl.col("is_current"))
    return (
        _group_with_all_teams(rows, by, aggs)
        .select(*by, *_names(aggs))
        .sort(*by)
        .collect(engine=ENGINE)
    )


def _names(aggs: Sequence[pl.Expr]) -> list[str]:
    return [a.meta.output_name() for a in aggs]


# ---------------------------------------------------------------------------------------
# Stalled deals
# ---------------------------------------------------------------------------------------


def won_close_window(
    as_of: date, *, lookback_quarters: int, fiscal_start_month: int = 1
) -> tuple[date, date]:
    """`[start, end)` of the `lookback_quarters` full quarters before the quarter of `as_of`.

    Full quarters keep thresholds stable within a quarter.
    """
    current = period_of(as_of, fiscal_start_month=fiscal_start_month)
    last_full = previous(current, fiscal_start_month=fiscal_start_month)
    quarters = trailing(last_full, lookback_quarters, fiscal_start_month=fiscal_start_month)
    return quarters[0].start, current.start


def _won_samples(spells: pl.LazyFrame, *, start: date, end: date, timezone: str) -> pl.LazyFrame:
    """Open-stage spells of deals won (per history) in `[start, end)`."""
    won_on = local_date(pl.col("entered_at"), timezone)
    won = spells.filter(
        pl.col("is_current") & pl.col("is_won_stage") & won_on.is_between(start, end, "left")
    ).select("opp_id")
    return spells.join(won, on="opp_id", how="semi").filter(
        ~pl.col("is_closed_stage") & pl.col("days_in_stage").is_not_null()
    )


def stall_thresholds(
    spells: pl.DataFrame,
    *,
    tables: Tables,
    as_of: date,
    params: StallParams,
    fiscal_start_month: int = 1,
    timezone: str = "UTC",
) -> pl.DataFrame:
    """Per open stage, how many days in it count as stalled, and why.

    Default: the `params.quantile` (p75) of days-in-stage spells of deals won in the
    trailing `params.lookback_quarters` full quarters (linear interpolation); a configured
    value wins; with fewer than `params.min_won_samples` won deals, `params.fallback_days`.
    `basis` is the kind (configured, p75 of won deals, fallback, not measured) and `source`
    says it in words: "p75 of 37 won deals' days in stage", "configured", "fallback 30 days:
    only 2 won deals passed through (5 needed)". When the stage history is a reconstruction
    (`stall_status`), won deals' days in a stage are unknown: a stage without a configured
    value has no threshold (null, basis "not measured"). Grain: stage (sorted by position).
    """
    start, end = won_close_window(
        as_of, lookback_quarters=params.lookback_quarters, fiscal_start_month=fiscal_start_month
    )
    won = _won_quantiles(spells.lazy(), start=start, end=end, q=params.quantile, timezone=timezone)
    configured = pl.LazyFrame(
        {
            "stage": list(params.thresholds_days),
            "configured_days": list(params.thresholds_days.values()),
        },
        schema={"stage": pl.String, "configured_days": pl.Float64},
    )
    return (
        _stage_lookup(tables)
        .filter(~pl.col("is_closed_stage"))
        .select("stage", "position")
        .join(won, on="stage", how="left")
        .join(configured, on="stage", how="left")
        .with_columns(pl.col("n_won_deals").fill_null(0))
        .with_columns(_threshold_and_basis(params, unknown=stall_status(tables)))
        .drop("configured_days")
        .sort("position", "stage")
        .collect(engine=ENGINE)
    )


def _won_quantiles(
    spells: pl.LazyFrame, *, start: date, end: date, q: float, timezone: str
) -> pl.LazyFrame:
    """Per stage: won deals in `[start, end)` that passed through it, and quantile `q` of
    their days in it (linear interpolation, one sample per spell)."""
    return (
        _won_samples(spells, start=start, end=end, timezone=timezone)
        .group_by("stage")
        .agg(
            n_won_deals=pl.col("opp_id").n_unique().cast(pl.Int64),
            won_quantile_days=pl.col("days_in_stage").quantile(q, "linear"),
        )
    )


def _won_deals(n: pl.Expr) -> pl.Expr:
    return pl.when(n == 1).then(pl.lit("1 won deal")).otherwise(pl.format("{} won deals", n))


def _threshold_and_basis(params: StallParams, unknown: str | None = None) -> list[pl.Expr]:
    """`threshold_days`, its kind (`basis`) and where it comes from in words (`source`);
    with `unknown` (why won deals' days in stage are unknown) only configured values hold."""
    configured = pl.col("configured_days").is_not_null()
    enough = pl.col("n_won_deals") >= params.min_won_samples
    n = pl.col("n_won_deals")
    quantile = f"p{round(params.quantile * 100)}"
    threshold = (
        pl.when(configured)
        .then(pl.col("configured_days"))
        .when(pl.lit(unknown is not None))
        .then(pl.lit(None, pl.Float64))
        .when(enough)
        .then(pl.col("won_quantile_days"))
        .otherwise(pl.lit(float(params.fallback_days)))
    )
    basis = (
        pl.when(configured)
        .then(pl.lit("configured"))
        .when(pl.lit(unknown is not None))
        .then(pl.lit("not measured"))
        .when(enough)
        .then(pl.lit(f"{quantile} of won deals"))
        .otherwise(pl.lit("fallback"))
    )
    few = pl.when(n == 0).then(pl.lit("no won deal")).otherwise(pl.format("only {}", _won_deals(n)))
    source = (
        pl.when(configured)
        .then(pl.lit("configured"))
        .when(pl.lit(unknown is not None))
        .then(pl.lit(unknown or ""))
        .when(enough)
        .then(pl.format(f"{quantile} of {{}}' days in stage", _won_deals(n)))
        .otherwise(
            pl.format(
                f"fallback {params.fallback_days:g} days: {{}} passed through "
                f"({params.min_won_samples} needed)",
                few,
            )
        )
    )
    return [threshold.alias("threshold_days"), basis.alias("basis"), source.alias("source")]


STALLS_DERIVED = (
    "Stalls are not measured: the stage history was derived from each deal's current stage, "
    "created and close dates (the export has no history file), so how long deals sat in a "
    "stage is unknown."
)
STALLS_NO_HISTORY = (
    "Stalls are not measured: the data source provides no 'stage_history' table, so how long "
    "deals sat in a stage is unknown."
)


def stall_status(tables: Tables) -> str | None:
    """Why stalls (and the thresholds learnt from won deals) are not measured on `tables`,
    or None when they are: without a recorded stage history, time in an open stage is
    unknown, and a reconstruction would call most open deals stalled (ages run from
    creation, thresholds come from whole lifetimes)."""
    if tables.is_derived("stage_history"):
        return STALLS_DERIVED
    if not tables.has("stage_history"):
        return STALLS_NO_HISTORY
    return None


def open_current_spells(spells: pl.DataFrame) -> pl.DataFrame:
    """The current spell of each open deal: where every open deal sits now and for how long."""
    return (
        spells.lazy()
        .filter(pl.col("is_current") & pl.col("is_open_deal"))
        .sort("opp_id")
        .collect(engine=ENGINE)
    )


def _deal_state(tables: Tables, *, as_of: date, timezone: str) -> pl.LazyFrame:
    """Name, amount and close date of each deal as of `as_of` (see `scoring.history`)."""
    at = as_of_cutoff(as_of, timezone) - timedelta(microseconds=1)
    return opp_state_at(tables, at=at).select("opp_id", "name", "amount", "close_date")


def stalled_deals(
    tables: Tables,
    *,
    as_of: date,
    params: StallParams,
    fiscal_start_month: int = 1,
    timezone: str = "UTC",
) -> pl.DataFrame:
    """Open deals sitting in their stage longer than the stage's stall threshold (the
    company's, also in a bundle filtered to some teams: `Tables.company`).

    Drill-down: one row per stalled deal, worst first (`times_threshold` = age / threshold),
    with amount and close date as of `as_of`. `is_handoff` marks deals stalled right after a
    handoff between functions; `threshold_source` says where the threshold comes from (see
    `stall_thresholds`). Empty (full schema) when `stall_status` says stalls are not
    measured: a deal is not called stalled on an age nobody recorded.
    """
    spells = stage_spells(tables, as_of=as_of, timezone=timezone)
    # Thresholds always come from the whole company's won deals: a team's view judges its
    # deals by the same bar as the company view does.
    company = tables.company
    if company is not tables:
        base_spells = stage_spells(company, as_of=as_of, timezone=timezone)
    else:
        base_spells = spells
    thresholds = stall_thresholds(
        base_spells,
        tables=company,
        as_of=as_of,
        params=params,
        fiscal_start_month=fiscal_start_month,
        timezone=timezone,
    )
    state = _deal_state(tables, as_of=as_of, timezone=timezone)
    stalled = _over_threshold(open_current_spells(spells), thresholds, state)
    return stalled.clear() if stall_status(tables) else stalled


def _over_threshold(
    open_spells: pl.DataFrame, thresholds: pl.DataFrame, state: pl.LazyFrame
) -> pl.DataFrame:
    """Open deals' current spells longer than their stage threshold, worst first."""
    age = pl.col("days_in_stage")
    return (
        open_spells.lazy()
        .join(
            thresholds.lazy().select("stage", "threshold_days", threshold_source="source"),
            on="stage",
            how="inner",
        )
        .filter(age > pl.col("threshold_days"))
        .join(state, on="opp_id", how="left")
        .select(
            "opp_id",
            "name",
            "team",
            "owner_id",
            "stage",
            age.alias("age_days"),
            "threshold_days",
            (age / pl.col("threshold_days")).alias("times_threshold"),
            "threshold_source",
            "amount",
            "is_handoff",
            "close_date",
        )
        .sort(["times_threshold", "opp_id"], descending=[True, False])
        .collect(engine=ENGINE)
    )


def _open_with_stall(stalled: pl.DataFrame, spells: pl.DataFrame) -> pl.LazyFrame:
    flags = stalled.lazy().select("opp_id", "amount", is_stalled=pl.lit(True))
    return (
        open_current_spells(spells)
        .lazy()
        .join(flags, on="opp_id", how="left")
        .with_columns(pl.col("is_stalled").fill_null(False))
    )


def _known_sum(amounts: pl.Expr) -> pl.Expr:
    """The sum of the known amounts; null when there are amounts and none is known."""
    return (
        pl.when(amounts.len() > amounts.null_count())
        .then(amounts.sum())
        .when(amounts.len() == 0)
        .then(pl.lit(0.0))
    )


def stalls_by_team(
    stalled: pl.DataFrame,
    spells: pl.DataFrame,
    *,
    company: tuple[pl.DataFrame, pl.DataFrame] | None = None,
) -> pl.DataFrame:
    """Per team × open stage: how many deals are stalled, their amount, their share of the
    team's open deals there, and how long the team's deals sit vs the company median.

    `stalled_amount` sums the known amounts only; `stalled_without_amount` counts the stalled
    deals whose amount is unknown (never summed as $0: the amount is null when none is known).

    Feeds drivers like "EMEA: 14 deals stalled in Negotiation, 2.1× the company median".
    `age_vs_company` = team median current-spell age / company median in that stage;
    `company_stalled_share` = the company's stalled share in that stage. The company is
    `company` = (stalled, spells) of the whole company when `stalled` and `spells` are a
    team's view, else these rows themselves. Includes "All teams" rows (the teams in
    `spells`). Grain: (team, stage).
    """
    stalled_now = pl.col("is_stalled")
    aggs = [
        pl.len().alias("open_deals"),
        stalled_now.sum().cast(pl.Int64).alias("stalled_count"),
        _known_sum(pl.col("amount").filter(stalled_now)).alias("stalled_amount"),
        (stalled_now & pl.col("amount").is_null())
        .sum()
        .cast(pl.Int64)
        .alias("stalled_without_amount"),
        pl.col("days_in_stage").median().alias("median_age_days"),
    ]
    rows = _open_with_stall(stalled, spells)
    base = rows if company is None else _open_with_stall(*company)
    baseline = base.group_by("stage").agg(
        company_median_age_days=pl.col("days_in_stage").median(),
        company_stalled_share=stalled_now.sum() / pl.len(),
    )
    return (
        _group_with_all_teams(rows, ["team", "stage", "position"], aggs)
        .join(baseline, on="stage", how="left")
        .with_columns(
            stalled_share=pl.col("stalled_count") / pl.col("open_deals"),
            age_vs_company=pl.col("median_age_days") / pl.col("company_median_age_days"),
        )
        .sort("team", "position", "stage")
        .collect(engine=ENGINE)
    )


def handoff_stalls_by_team(stalled: pl.DataFrame, spells: pl.DataFrame) -> pl.DataFrame:
    """Per team: open deals whose current stage was entered through a handoff between
    functions, how many of them are stalled, and their amount. Includes "All teams".
    Grain: team.
    """
    handoff_stall = pl.col("is_handoff") & pl.col("is_stalled")
    aggs = [
        pl.col("is_handoff").sum().cast(pl.Int64).alias("open_handoff_deals"),
        handoff_stall.sum().cast(pl.Int64).alias("handoff_stalled_count"),
        _known_sum(pl.col("amount").filter(handoff_stall)).alias("handoff_stalled_amount"),
    ]
    return (
        _group_with_all_teams(_open_with_stall(stalled, spells), ["team"], aggs)
        .with_columns(
            handoff_stalled_share=pl.when(pl.col("open_handoff_deals") > 0).then(
                pl.col("handoff_stalled_count") / pl.col("open_handoff_deals")
            )
        )
        .sort("team")
        .collect(engine=ENGINE)
    )


# ---------------------------------------------------------------------------------------
# Data-trust KPIs from stage history
# ---------------------------------------------------------------------------------------

TRUST_FLAGS = {
    "stage_skip_rate": "n_skips",
    "stage_regression_rate": "n_regressions",
    "reopened_deals": "n_reopens",
    "close_date_churn": "n_close_date_changes",
    "stale_close_dates": "n_stale",
}
_MOVE_COUNTS = {"is_skip": "n_skips", "is_regression": "n_regressions", "is_reopen": "n_reopens"}


def close_date_changes_body(
    opportunities: nw.LazyFrame,
    stage_history: nw.LazyFrame,
    stages: nw.LazyFrame,
    users: nw.LazyFrame,
    *,
    as_of: date,
    timezone: str,
) -> nw.LazyFrame:
    """One row per history row (before the end of `as_of`, of a deal that existed then)
    whose close date differs from the row before's (`close_date_changes`)."""
    engine = opportunities.implementation
    cutoff = instant_us(as_of_cutoff(as_of, timezone))
    created = opportunities.filter(epoch_us("created_at", engine) < cutoff).select(
        "opp_id", "created_at"
    )
    positions = stages.select("stage", "position")
    rows = (
        stage_history.filter(epoch_us("entered_at", engine) < cutoff)
        .join(created, on="opp_id", how="inner")
        .join(positions, on="stage", how="left")
        .with_columns(nw.max_horizontal("entered_at", "created_at").alias("entered_at"))
        .pipe(with_event_order)
    )
    prev, date_ = nw.col("_prev"), nw.col("close_date")
    # In (opp_id, entered_at) order on polars, as `with_sequence` sorts; an engine's rows are
    # put in it once collected (`arrange`).
    return (
        with_sequence(rows, "opp_id", ORDER_BY, _prev=ordered.previous("close_date"))
        .filter(~prev.is_null() & (date_.is_null() | (date_ != prev)))
        .select("opp_id", "entered_at")
    )


def _clip_changes(changes: pl.LazyFrame, as_of: date, timezone: str) -> pl.LazyFrame:
    """The changes made by the end of an earlier day: whether a row changed the date depends
    only on the rows before it."""
    return changes.filter(pl.col("entered_at") < as_of_cutoff(as_of, timezone))


CLOSE_DATE_CHANGES = Node(
    name="close_date_changes",
    grain="one row per change of a deal's close date (a history row whose close date differs "
    "from the row before; a date first set is not a change, a date cleared is), as of a day",
    reads=("opportunities", "stage_history", "stages", "users"),
    body=close_date_changes_body,
    arrange=sorted_by("opp_id", "entered_at"),
    coords=("as_of", "timezone"),
    team="deal",
    clip=_clip_changes,
    persist=True,
    code=_CODE,
)


def _trust_per_deal(tables: Tables, *, as_of: date, timezone: str) -> pl.LazyFrame:
    """One row per deal: counts of skips, regressions, reopens, close-date changes, stale."""
    return get(tables, TRUST_PER_DEAL, as_of, timezone)


def trust_per_deal_body(
    stage_spells: nw.LazyFrame,
    close_date_changes: nw.LazyFrame,
    opp_state_at: nw.LazyFrame,
    *,
    as_of: date,
    timezone: str,
) -> nw.LazyFrame:
    """One row per deal: counts of skips, regressions, reopens, close-date changes, stale.
    (A deal's team and openness are the same on each of its spells: group keys.)"""
    per_deal = stage_spells.group_by("opp_id", "team", "is_open_deal").agg(
        # via Int32: PostgreSQL casts a boolean to integer, not to bigint
        *(nw.col(f).cast(nw.Int32).sum().cast(nw.Int64).alias(n) for f, n in _MOVE_COUNTS.items())
    )
    changes = close_date_changes.group_by("opp_id").agg(
        nw.len().cast(nw.Int64).alias("n_close_date_changes")
    )
    state = opp_state_at.select("opp_id", "close_date")
    stale = nw.col("is_open_deal") & (nw.col("close_date") < as_of).fill_null(False)
    return (
        per_deal.join(changes, on="opp_id", how="left")
        .join(state, on="opp_id", how="left")
        .with_columns(
            nw.col("n_close_date_changes").fill_null(0), n_stale=stale.cast(nw.Int32).cast(nw.Int64)
        )
    )  # in no particular order (an engine's rows are sorted by opp_id: `arrange`)


def _trust_inputs(as_of: date, timezone: str) -> dict[str, tuple[Node, tuple]]:
    return {
        "stage_spells": (SPELLS, (as_of, timezone)),
        "close_date_changes": (CLOSE_DATE_CHANGES, (as_of, timezone)),
        "opp_state_at": (STATES, (as_of_cutoff(as_of, timezone) - timedelta(microseconds=1),)),
    }


TRUST_PER_DEAL = Node(
    name="trust_per_deal",
    grain="one row per deal existing at the end of the as-of day: its skips, regressions, "
    "reopens, close-date changes and whether its close date is past",
    reads=("stage_spells", "close_date_changes", "opp_state_at"),
    body=trust_per_deal_body,
    upstream=_trust_inputs,
    arrange=sorted_by("opp_id"),
    coords=("as_of", "timezone"),
    team="team",
    persist=True,
    code=("scoring/stages.py",),
)


def stage_trust_flags(tables: Tables, *, as_of: date, timezone: str = "UTC") -> pl.DataFrame:
    """Drill-down behind the trust KPIs: one row per (deal, kpi) the deal is flagged for.

    `kpi` is a definition id (stage_skip_rate, stage_regression_rate, reopened_deals,
    close_date_churn, stale_close_dates); `events` how often it happened (1 for stale).
    Grain: (opp_id, kpi).
    """
    return (
        _trust_per_deal(tables, as_of=as_of, timezone=timezone)
        .select("opp_id", "team", "close_date", *TRUST_FLAGS.values())
        .unpivot(index=["opp_id", "team", "close_date"], variable_name="count", value_name="events")
        .filter(pl.col("events") > 0)
        .with_columns(kpi=pl.col("count").replace_strict({v: k for k, v in TRUST_FLAGS.items()}))
        .select("opp_id", "team", "kpi", "events", "close_date")
        .sort("opp_id", "kpi")
        .collect(engine=ENGINE)
    )


def stage_trust_kpis(tables: Tables, *, as_of: date, timezone: str = "UTC") -> pl.DataFrame:
    """Per team (and "All teams"): can the stage history be trusted as one version of the data?

    stage_skip_rate / stage_regression_rate: share of deals with ≥1 skipped stage / backward
    move; reopened_deals: deals moved from a closed stage back to an open one;
    close_date_churn: mean close-date changes per deal; stale_close_date_share: open deals
    whose close date is before `as_of`. Grain: team.

    On a stage history the connector derived (no history in the source) the moves it would
    count never happened on record: the history-based columns (skips, regressions, reopens,
    close-date churn) are null, not 0; stale close dates read current fields and stay.
    """
    aggs = [
        pl.len().cast(pl.Int64).alias("deals"),
        pl.col("is_open_deal").sum().cast(pl.Int64).alias("open_deals"),
        (pl.col("n_skips") > 0).mean().alias("stage_skip_rate"),
        (pl.col("n_regressions") > 0).mean().alias("stage_regression_rate"),
        (pl.col("n_reopens") > 0).sum().cast(pl.Int64).alias("reopened_deals"),
        pl.col("n_close_date_changes").mean().alias("close_date_churn"),
        pl.col("n_stale").sum().cast(pl.Int64).alias("stale_close_dates"),
    ]
    open_deals = pl.col("open_deals")
    return (
        _group_with_all_teams(
            _trust_per_deal(tables, as_of=as_of, timezone=timezone), ["team"], aggs
        )
        .with_columns(
            stale_close_date_share=pl.when(open_deals > 0).then(
                pl.col("stale_close_dates") / open_deals
            )
        )
        .with_columns(
            pl.lit(None, dtype=dtype).alias(name)
            for name, dtype in HISTORY_TRUST_COLUMNS.items()
            if tables.is_derived("stage_history")
        )
        .sort("team")
        .collect(engine=ENGINE)
    )


# `stage_trust_kpis` columns only a recorded stage history can tell.
HISTORY_TRUST_COLUMNS = {
    "stage_skip_rate": pl.Float64,
    "stage_regression_rate": pl.Float64,
    "reopened_deals": pl.Int64,
    "close_date_churn": pl.Float64,
}


# ---------------------------------------------------------------------------------------
# Definitions
# ---------------------------------------------------------------------------------------

_SPELL_NOTE = (
    "Spells rebuilt from stage history (rows that only change amount/close date/category do "
    "not split a spell); created_at starts the first spell; as of the end of the as-of day."
)

DEFINITIONS: tuple[MetricDefinition, ...] = (
    MetricDefinition(
        id="days_in_stage",
        name="Days in stage",
        formula="spell end − spell start (fractional days); current spell of an open deal ends "
        "at the end of the as-of day; n, median, p75, p90, mean per stage × team",
        unit="days",
        grain="stage × team (one sample per stage spell)",
        date_anchor="spell start (stage entered)",
        good="short and steady; close to won deals' p75",
        question="handoff_ownership",
        owner_team="sales",
        filters="open (non-closed) stages only; " + _SPELL_NOTE,
        higher_is_better=False,
    ),
    MetricDefinition(
        id="stalled_deals",
        name="Stalled deals",
        formula="open deal with current-spell age > stall threshold of its stage; threshold = "
        "configured, else p75 of won deals' days in stage (trailing 4 full quarters), else "
        "fallback when fewer than min_won_samples won deals",
        unit="count",
        grain="team × stage (drill-down: one row per stalled deal)",
        date_anchor="as-of date (won deals by the date they entered Closed Won)",
        good="few; stalled share well under 25%",
        question="handoff_ownership",
        owner_team="sales",
        filters="open deals as of the as-of date; not measured when the stage history is "
        "derived from current stage and dates, or absent (stall_status); " + _SPELL_NOTE,
        higher_is_better=False,
    ),
    MetricDefinition(
        id="handoff_stall",
        name="Handoff stalls",
        formula="stalled deals whose current stage was entered from a stage owned by another "
        "function / open deals whose current stage was entered through such a handoff",
        unit="count",
        grain="team",
        date_anchor="as-of date",
        good="none: every handoff is picked up promptly",
        question="handoff_ownership",
        owner_team="ops",
        filters="open deals; handoff = stage owner function differs from the previous spell's",
        higher_is_better=False,
    ),
    MetricDefinition(
        id="stage_skip_rate",
        name="Stage skip rate",
        formula="deals with ≥1 forward move past more than one open stage / deals",
        unit="ratio",
        grain="team",
        date_anchor="opportunity created on or before the as-of date",
        good="low: deals pass through the stages as defined",
        question="shared_data",
        owner_team="ops",
        filters="moves into or out of closed stages are not skips; " + _SPELL_NOTE,
        higher_is_better=False,
    ),
    MetricDefinition(
        id="stage_regression_rate",
        name="Stage regression rate",
        formula="deals with ≥1 move to an earlier open stage / deals",
        unit="ratio",
        grain="team",
        date_anchor="opportunity created on or before the as-of date",
        good="low",
        question="shared_data",
        owner_team="ops",
        filters="reopens (closed → open) are counted separately; " + _SPELL_NOTE,
        higher_is_better=False,
    ),
    MetricDefinition(
        id="reopened_deals",
        name="Reopened deals",
        formula="count of deals moved from a closed stage back to an open stage",
        unit="count",
        grain="team",
        date_anchor="opportunity created on or before the as-of date",
        good="rare",
        question="shared_data",
        owner_team="ops",
        filters=_SPELL_NOTE,
        higher_is_better=False,
    ),
    MetricDefinition(
        id="close_date_churn",
        name="Close-date churn",
        formula="mean over deals of the number of history rows whose close date differs from "
        "the previous row's",
        unit="count",
        grain="team",
        date_anchor="history row on or before the as-of date",
        good="under 1 change per deal",
        question="shared_data",
        owner_team="sales",
        filters="a close date first set (null → date) is not a change; deals without history "
        "count as 0",
        higher_is_better=False,
    ),
    MetricDefinition(
        id="stale_close_dates",
        name="Stale close dates",
        formula="open deals with close date before the as-of date / open deals",
        unit="ratio",
        grain="team",
        date_anchor="as-of date (close date as of then)",
        good="near 0%",
        question="shared_data",
        owner_team="sales",
        filters="open as of the as-of date; deals without a close date are not stale",
        higher_is_better=False,
    ),
)
