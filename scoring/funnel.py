"""The demand funnel: conversion at each handoff, MQL follow-up, leakage, bounce-backs, ownership.

Steps, in order: lead → MQL → SAL (accepted by SDR/sales) → SQL → opportunity → won.
"Reached" semantics: a lead that reached a later step counts as having reached every earlier
one; a skipped step takes the timestamp of the next step reached and is flagged `inferred_<step>`
(Full Circle back-population, Looker fill-in). Everything is judged with the data known by the end
of the `as_of` day in the reporting time zone.

**Not available.** When a table a metric needs is missing (see `NEEDS`), the metric returns an
empty frame with its full schema and `funnel_status(tables, "<function name>")` returns the
message to show (None when the metric can be computed). The ownership ledger without owner
history is partly available: see `lead_ownership_ledger`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from itertools import pairwise
from typing import Any

import narwhals as nw
import polars as pl

from model.calendar import Calendar, Period, last_day
from model.graph import Node, get
from model.graph import sorted_by as arranged_by
from model.params import FunnelParams
from model.tables import (
    UNASSIGNED_TEAM,
    Tables,
    collect_available,
    lead_teams,
    left_join_few,
    missing_message,
)
from scoring.definitions import MetricDefinition
from scoring.ordered import filled, with_sequence
from scoring.portable_time import hours_between, known, start_of_local_day
from scoring.portable_time import in_period as portable_in_period
from scoring.windows import (
    any_before,
    any_so_far,
    ends_group,
    last_index_where,
    shift_in,
)

STEPS = ("lead", "mql", "sal", "sql", "opp", "won")
Step = pl.Enum(STEPS)
TRANSITIONS = tuple(pairwise(STEPS))
INFERABLE = ("mql", "sal", "sql", "opp")  # steps a lead can skip (lead and won cannot)
# Grouping dimensions of lead metrics and the label used when a lead has no value.
DIMENSIONS = {"source": "(no source)", "campaign_id": "(no campaign)", "team": UNASSIGNED_TEAM}
SlaStatus = pl.Enum(("met", "breached", "pending"))
_US_PER_HOUR = 3_600_000_000


_LEADS = ("leads",)
# The tables each public metric needs; without one the metric returns an empty frame (full
# schema) and `funnel_status` says why.
NEEDS: dict[str, tuple[str, ...]] = {
    "funnel_steps": _LEADS,
    "funnel_skip_rate": _LEADS,
    "conversion": _LEADS,
    "conversion_leads": _LEADS,
    "conversion_period": _LEADS,
    "conversion_compare": _LEADS,
    "follow_up_sla": _LEADS,
    "follow_up_sla_leads": _LEADS,
    "leakage": _LEADS,
    "leakage_leads": _LEADS,
    "bounce_backs": ("leads", "lead_history"),
    "bounce_back_leads": ("leads", "lead_history"),
    "lead_ownership_ledger": _LEADS,
    "ownership_by_team": _LEADS,
    "goal_conflict": _LEADS,
}


def funnel_status(tables: Tables, metric: str) -> str | None:
    """The "not available" message for the funnel metric named `metric`, or None."""
    return missing_message(tables, metric, NEEDS[metric])


# ---------------------------------------------------------------- time helpers


def instant(day: date, timezone: str = "UTC") -> datetime:
    """The UTC instant at which `day` starts in the reporting time zone."""
    return Calendar(timezone).start_of(day)


def as_of_end(as_of: date, timezone: str = "UTC") -> datetime:
    """The UTC instant the `as_of` day ends: events before it are known."""
    return Calendar(timezone).end_of(as_of)


def in_period(ts: pl.Expr, period: Period, timezone: str = "UTC") -> pl.Expr:
    """True where the timestamp's local date falls in `period`."""
    return Calendar(timezone).in_period(ts, period)


def hours(end: pl.Expr, start: pl.Expr) -> pl.Expr:
    """Hours from `start` to `end` (fractional)."""
    return (end - start).dt.total_microseconds() / _US_PER_HOUR


def ratio(num: str | pl.Expr, den: str | pl.Expr) -> pl.Expr:
    """`num / den`, null when the denominator is zero or null (an empty cohort has no rate)."""
    num = pl.col(num) if isinstance(num, str) else num
    den = pl.col(den) if isinstance(den, str) else den
    return pl.when(den > 0).then(num / den).otherwise(None).cast(pl.Float64)


def check_dims(by: Sequence[str], allowed: Mapping[str, str] = DIMENSIONS) -> list[str]:
    """`by` as a list, after checking every name is a known grouping dimension."""
    unknown = [d for d in by if d not in allowed]
    if unknown:
        raise ValueError(f"unknown dimension(s) {unknown}; choose from {sorted(allowed)}")
    return list(by)


def summarize(frame: pl.LazyFrame, by: Sequence[str], aggs: Sequence[pl.Expr]) -> pl.LazyFrame:
    """Aggregate per group of `by`, or into one row when `by` is empty (even with no input)."""
    return frame.group_by(*by).agg(aggs) if by else frame.select(aggs)


def sorted_by(frame: pl.LazyFrame, by: Sequence[str]) -> pl.LazyFrame:
    """`frame` sorted by `by` (a single summary row needs no sort)."""
    return frame.sort(*by) if by else frame


# ---------------------------------------------------------------- funnel steps


def _known(ts: pl.Expr, cutoff: datetime) -> pl.Expr:
    """The timestamp if it happened before `cutoff`, else null (not yet reached)."""
    return pl.when(ts < cutoff).then(ts)


# The funnel nodes' bodies (`Node.body`) are narwhals functions of their inputs (named as the
# node's `reads`) and coordinates, written once for every engine (docs/ARCHITECTURE.md). On
# polars the node's `build` wraps the bundle's frames (`_on_polars`) and unwraps the result.


def funnel_steps_body(
    leads: nw.LazyFrame,
    opportunities: nw.LazyFrame,
    users: nw.LazyFrame,
    *,
    as_of: date,
    timezone: str,
) -> nw.LazyFrame:
    """`funnel_steps`: one row per lead created by the end of `as_of` with the time it
    reached each step, skipped steps back-filled (see `funnel_steps`)."""
    cutoff = as_of_end(as_of, timezone)
    engine = leads.implementation
    opps = opportunities.select(
        nw.col("opp_id").alias("converted_opp_id"),
        nw.col("created_at").alias("opp_created_at"),
        won_date=nw.when(nw.col("is_won") & (nw.col("close_date") <= nw.lit(as_of))).then(
            nw.col("close_date")
        ),
    )
    # close_date has no time: a win counts from the start of that local day.
    won_at = start_of_local_day(nw.col("won_date"), timezone, engine, as_of)
    opp_at = nw.when(~nw.col("converted_opp_id").is_null()).then(
        nw.coalesce("converted_at", "opp_created_at")
    )
    teams = users.select(nw.col("user_id").alias("owner_id"), "team")
    return _back_fill(
        leads.filter(nw.col("created_at") < nw.lit(cutoff))
        .join(teams, on="owner_id", how="left")
        .join(opps, on="converted_opp_id", how="left")
        .select(
            "lead_id",
            *(nw.col(d).fill_null(label) for d, label in DIMENSIONS.items()),
            "owner_id",
            "converted_opp_id",
            lead_at=nw.col("created_at"),
            mql_at=known(nw.col("mql_at"), cutoff),
            sal_at=known(nw.col("sal_at"), cutoff),
            sql_at=known(nw.col("sql_at"), cutoff),
            opp_at=known(opp_at, cutoff),
            won_at=won_at,
        )
    )


def _back_fill(raw: nw.LazyFrame) -> nw.LazyFrame:
    """Reached semantics: a skipped step takes the timestamp of the next step reached."""
    filled = {
        f"{s}_at": nw.coalesce([f"{t}_at" for t in STEPS[STEPS.index(s) :]]) for s in INFERABLE
    }
    inferred = {
        f"inferred_{s}": nw.col(f"{s}_at").is_null() & ~filled[f"{s}_at"].is_null()
        for s in INFERABLE
    }
    return (
        raw.with_columns(**inferred)
        .with_columns(**filled)
        .with_columns(skipped=nw.any_horizontal(*inferred, ignore_nulls=False))
    )


def clip_steps_body(steps: nw.LazyFrame, *, as_of: date, timezone: str) -> nw.LazyFrame:
    """The steps as of an earlier day, from later ones: the leads created by its end, each
    step as recorded (a back-filled one was not), kept when reached by then, back-filled
    again. A win counts from the start of its close date's local day, so it is known by the
    end of the day exactly when that date is on or before it."""
    cutoff = as_of_end(as_of, timezone)
    recorded = {
        f"{s}_at": nw.when(~nw.col(f"inferred_{s}")).then(nw.col(f"{s}_at")) for s in INFERABLE
    }
    reached = {f"{s}_at": known(nw.col(f"{s}_at"), cutoff) for s in STEPS[1:]}
    return _back_fill(
        steps.filter(nw.col("lead_at") < nw.lit(cutoff))
        .with_columns(**recorded)
        .with_columns(**reached)
        .drop(*(f"inferred_{s}" for s in INFERABLE), "skipped")
    )


def _on_polars(
    body: Callable[..., nw.LazyFrame], /, *frames: pl.LazyFrame, **coords: Any
) -> pl.LazyFrame:
    """Run a node body on polars lazy frames (given in the body's order) and return polars."""
    return body(*(nw.from_native(f) for f in frames), **coords).to_native()


def steps_lazy(tables: Tables, *, as_of: date, timezone: str = "UTC") -> pl.LazyFrame:
    """`funnel_steps` (unsorted), a node of the derivation graph (`STEPS_NODE`). In a bundle
    filtered to some teams: the company's rows of its leads (a lead may have converted into
    another team's deal, which the bundle does not hold)."""
    return get(tables, STEPS_NODE, as_of, timezone)


def _steps_lazy(tables: Tables, as_of: date, timezone: str) -> pl.LazyFrame:
    frames = (tables.leads, tables.opportunities, tables.users)
    return _on_polars(funnel_steps_body, *frames, as_of=as_of, timezone=timezone)


def _clip_steps(steps: pl.LazyFrame, as_of: date, timezone: str) -> pl.LazyFrame:
    return _on_polars(clip_steps_body, steps, as_of=as_of, timezone=timezone)


STEPS_NODE = Node(
    name="funnel_steps",
    grain="one row per lead created by the as-of day: when it reached each step",
    reads=("leads", "opportunities", "users"),
    build=_steps_lazy,
    body=funnel_steps_body,
    arrange=arranged_by("lead_id"),
    coords=("as_of", "timezone"),
    team="lead",
    company_only=True,
    clip=_clip_steps,
    persist=True,
    code=("scoring/funnel.py", "scoring/portable_time.py", "model/calendar.py"),
)


def by_lead_team(rows: pl.LazyFrame, tables: Tables, by: Sequence[str]) -> pl.LazyFrame:
    """`rows` (with a lead_id) ready to group by `by`: when `by` has "team", each row once
    per team its lead belongs to (`tables.lead_teams`: every team that owned it, and the team
    of the deal it converted into). A lead handed from the SDR team to EMEA counts in both
    rows, so team rows need not add up to the total; a view filtered to a team holds
    exactly the leads of that team's row."""
    if "team" not in by:
        return rows
    return rows.drop("team").join(lead_teams(tables), on="lead_id", how="inner")


def of_team(rows: pl.LazyFrame, tables: Tables, team: str | None) -> pl.LazyFrame:
    """The drill-down `rows` of one team's row in a breakdown by team (`by_lead_team`): the
    rows of its leads, shown under its name. All rows when `team` is None."""
    if team is None:
        return rows
    members = lead_teams(tables).filter(pl.col("team") == team).select("lead_id")
    return rows.join(members, on="lead_id", how="semi").with_columns(team=pl.lit(team))


def funnel_steps(tables: Tables, *, as_of: date, timezone: str = "UTC") -> pl.DataFrame:
    """Each lead's journey: when it reached lead, MQL, SAL, SQL, opportunity and won.

    Grain: one row per lead created by `as_of`. Columns: lead_id, source, campaign_id, team,
    owner_id, converted_opp_id, `<step>_at` for each step (null = not reached by as_of),
    `inferred_<step>` (step was skipped and back-filled), `skipped` (any step back-filled).
    """
    return (
        steps_lazy(tables, as_of=as_of, timezone=timezone)
        .sort("lead_id")
        .pipe(collect_available, tables, NEEDS["funnel_steps"])
    )


def funnel_skip_rate(tables: Tables, *, as_of: date, timezone: str = "UTC") -> pl.DataFrame:
    """How often leads jump a funnel step, a data-trust signal: high skip rates mean the step
    dates are not being stamped and the handoff it stands for is invisible.

    Grain: one row per skippable step (mql, sal, sql, opp). Columns: step, reached, inferred,
    skip_rate = inferred / reached.
    """
    steps = steps_lazy(tables, as_of=as_of, timezone=timezone)
    long = pl.concat(
        [
            steps.select(
                step=pl.lit(s, Step),
                reached=pl.col(f"{s}_at").is_not_null(),
                inferred=pl.col(f"inferred_{s}"),
            )
            for s in INFERABLE
        ]
    )
    grid = pl.LazyFrame({"step": INFERABLE}, schema={"step": Step})
    counts = long.group_by("step").agg(pl.col("reached", "inferred").sum().cast(pl.Int64))
    return (
        grid.join(counts, on="step", how="left")
        .with_columns(pl.col("reached", "inferred").fill_null(0))
        .with_columns(skip_rate=ratio("inferred", "reached"))
        .sort("step")
        .pipe(collect_available, tables, NEEDS["funnel_skip_rate"])
    )


# ---------------------------------------------------------------- conversion


def _inferred(step: str) -> pl.Expr:
    return pl.col(f"inferred_{step}") if step in INFERABLE else pl.lit(False)


def step_at(step: str) -> pl.Expr:
    """When a lead reached `step`, as counted in cohorts. A lead without a recorded MQL is not
    an MQL anywhere (conversion, SLA, leakage and goal conflicts count the same MQLs); the
    other steps keep reached semantics (a skipped step takes the next step's time)."""
    at = pl.col(f"{step}_at")
    return pl.when(~pl.col("inferred_mql")).then(at) if step == "mql" else at


def _cohorts(steps: pl.LazyFrame, period: Period, timezone: str) -> pl.LazyFrame:
    """One row per lead per transition X→X+1 whose step X was reached in `period`."""
    parts = [
        steps.filter(in_period(step_at(a), period, timezone)).select(
            "lead_id",
            *DIMENSIONS,
            from_step=pl.lit(a, Step),
            to_step=pl.lit(b, Step),
            from_at=step_at(a),
            to_at=step_at(b),
            inferred_from=_inferred(a),
            inferred_to=_inferred(b),
        )
        for a, b in TRANSITIONS
    ]
    # Step dates can be out of order (won is day-precise): durations never go below zero.
    return pl.concat(parts).with_columns(
        converted=pl.col("to_at").is_not_null(),
        days_to_convert=(hours(pl.col("to_at"), pl.col("from_at")) / 24).clip(lower_bound=0),
    )


def _grid(frame: pl.LazyFrame, by: Sequence[str]) -> pl.LazyFrame:
    """Every transition for every group present, so empty cohorts show as rows."""
    froms, tos = zip(*TRANSITIONS, strict=True)
    grid = pl.LazyFrame(
        {"from_step": froms, "to_step": tos}, schema={"from_step": Step, "to_step": Step}
    )
    return frame.select(by).unique().join(grid, how="cross") if by else grid


def _conversion_lazy(
    tables: Tables, period: Period, as_of: date, by: Sequence[str], timezone: str
) -> pl.LazyFrame:
    cohorts = _cohorts(steps_lazy(tables, as_of=as_of, timezone=timezone), period, timezone).pipe(
        by_lead_team, tables, by
    )
    agg = cohorts.group_by(*by, "from_step").agg(
        cohort=pl.len(),
        converted=pl.col("converted").sum(),
        median_days=pl.col("days_to_convert").median(),
        p90_days=pl.col("days_to_convert").quantile(0.9, "linear"),
    )
    return (
        _grid(cohorts, by)
        .join(agg, on=[*by, "from_step"], how="left")
        .with_columns(pl.col("cohort", "converted").fill_null(0).cast(pl.Int64))
        .with_columns(rate=ratio("converted", "cohort"), immature=pl.lit(as_of < last_day(period)))
    )


def conversion(
    tables: Tables,
    *,
    period: Period,
    as_of: date,
    by: Sequence[str] = (),
    timezone: str = "UTC",
) -> pl.DataFrame:
    """Cohort conversion at each handoff: of the leads that reached step X in `period`, the share
    that went on to reach X+1 by `as_of`, and how long it took (median / p90 days).

    Grain: `by` dims (source, campaign_id, team) × from_step. Columns: *by, from_step, to_step,
    cohort, converted, rate (null for an empty cohort), median_days, p90_days, immature (the
    period has not ended, so recent leads have not had time to convert). By team, a lead
    counts for every team it belongs to (`by_lead_team`).
    """
    by = check_dims(by)
    return (
        _conversion_lazy(tables, period, as_of, by, timezone)
        .sort(*by, "from_step")
        .pipe(collect_available, tables, NEEDS["conversion"])
    )


def conversion_leads(
    tables: Tables,
    *,
    period: Period,
    as_of: date,
    step: str | None = None,
    group: Mapping[str, str] | None = None,
    timezone: str = "UTC",
) -> pl.DataFrame:
    """Drill-down of `conversion`: the leads behind one (from_step, group) cell.

    Grain: one row per lead per transition. Columns: lead_id, source, campaign_id, team,
    from_step, to_step, from_at, to_at, inferred_from, inferred_to, converted, days_to_convert.
    """
    check_dims(list(group or {}))
    rows = _cohorts(steps_lazy(tables, as_of=as_of, timezone=timezone), period, timezone)
    if step is not None:
        rows = rows.filter(pl.col("from_step") == pl.lit(step, Step))
    for dim, value in (group or {}).items():
        # a team's cell holds the leads of that team (`by_lead_team`)
        is_team = dim == "team"
        rows = of_team(rows, tables, value) if is_team else rows.filter(pl.col(dim) == value)
    return rows.sort("from_step", "lead_id").pipe(
        collect_available, tables, NEEDS["conversion_leads"]
    )


def _period_lazy(
    tables: Tables, period: Period, as_of: date, by: Sequence[str], timezone: str
) -> pl.LazyFrame:
    steps = steps_lazy(tables, as_of=as_of, timezone=timezone).pipe(by_lead_team, tables, by)
    entered = (
        pl.concat(
            [
                steps.filter(in_period(step_at(s), period, timezone)).select(
                    "lead_id", *by, step=pl.lit(s, Step)
                )
                for s in STEPS
            ]
        )
        .group_by(*by, "step")
        .agg(n=pl.len().cast(pl.Int64))
    )
    ins = entered.rename({"step": "from_step", "n": "entered_from"})
    outs = entered.rename({"step": "to_step", "n": "entered_to"})
    return (
        _grid(entered, by)
        .join(ins, on=[*by, "from_step"], how="left")
        .join(outs, on=[*by, "to_step"], how="left")
        .with_columns(pl.col("entered_from", "entered_to").fill_null(0))
        .with_columns(rate=ratio("entered_to", "entered_from"))
    )


def conversion_period(
    tables: Tables,
    *,
    period: Period,
    as_of: date,
    by: Sequence[str] = (),
    timezone: str = "UTC",
) -> pl.DataFrame:
    """Period (run-rate) conversion: leads entering step X+1 in `period` over leads entering X in
    `period`. Quick to read but mixes cohorts, so it can exceed 1 and differ from the cohort rate.

    Grain: `by` dims × from_step. Columns: *by, from_step, to_step, entered_from, entered_to, rate.
    """
    by = check_dims(by)
    return (
        _period_lazy(tables, period, as_of, by, timezone)
        .sort(*by, "from_step")
        .pipe(collect_available, tables, NEEDS["conversion_period"])
    )


def conversion_compare(
    tables: Tables,
    *,
    period: Period,
    as_of: date,
    by: Sequence[str] = (),
    timezone: str = "UTC",
) -> pl.DataFrame:
    """Cohort and period conversion side by side, so a gap between the two numbers is explained.

    Grain: `by` dims × from_step. Columns: *by, from_step, to_step, cohort_rate, period_rate,
    difference (period_rate − cohort_rate).
    """
    by = check_dims(by)
    keys = [*by, "from_step", "to_step"]
    cohort = _conversion_lazy(tables, period, as_of, by, timezone).select(*keys, cohort_rate="rate")
    run_rate = _period_lazy(tables, period, as_of, by, timezone).select(*keys, period_rate="rate")
    return (
        cohort.join(run_rate, on=keys, how="full", coalesce=True)
        .with_columns(difference=pl.col("period_rate") - pl.col("cohort_rate"))
        .sort(*by, "from_step")
        .pipe(collect_available, tables, NEEDS["conversion_compare"])
    )


# ---------------------------------------------------------------- follow-up SLA and leakage


def _sla_hours(params: FunnelParams) -> nw.Expr:
    """Each lead's SLA in hours: the per-source override, else the default (a CASE over the
    sources: SQL warehouses through SQLFrame have no map literal for `replace_strict`)."""
    hours = nw.lit(params.sla_hours, nw.Float64)
    for source, sla_hours in params.sla_hours_by_source.items():
        override = nw.lit(sla_hours, nw.Float64)
        hours = nw.when(nw.col("source") == source).then(override).otherwise(hours)
    return hours


def _deadline(params: FunnelParams) -> nw.Expr:
    """When each MQL's SLA runs out: mql_at plus its source's SLA hours (whole microseconds),
    one fixed offset per source (every engine shifts a timestamp by a constant)."""

    def plus(sla_hours: float) -> nw.Expr:
        return nw.col("mql_at").dt.offset_by(f"{int(sla_hours * _US_PER_HOUR)}us")

    deadline = plus(params.sla_hours)
    for source, sla_hours in params.sla_hours_by_source.items():
        deadline = nw.when(nw.col("source") == source).then(plus(sla_hours)).otherwise(deadline)
    return deadline


def _sla_rows(
    tables: Tables, period: Period, as_of: date, params: FunnelParams, timezone: str
) -> pl.LazyFrame:
    """One row per lead with a recorded (not back-filled) MQL in `period`, judged by its SLA.
    Derived once per bundle and view (the SLA, leakage and ownership metrics share it)."""
    return get(tables, SLA_ROWS, period, as_of, params, timezone)


def sla_rows_body(
    funnel_steps: nw.LazyFrame,
    leads: nw.LazyFrame,
    *,
    period: Period,
    as_of: date,
    params: FunnelParams,
    timezone: str,
) -> nw.LazyFrame:
    """`sla_rows`: one row per lead with a recorded (not back-filled) MQL in `period`, with
    its first touch, SLA deadline and status (met / breached / pending) as of `as_of`."""
    cutoff = as_of_end(as_of, timezone)
    engine = funnel_steps.implementation
    mqls = funnel_steps.filter(
        portable_in_period(nw.col("mql_at"), period, timezone) & ~nw.col("inferred_mql")
    )
    # Only the MQLs' rows of the (much longer) leads table: a semi join first, then the left
    # join builds its hash table on the few (`model.tables.left_join_few`).
    extra = leads.select("lead_id", "first_touch_at", "disqualified_at").join(
        mqls.select("lead_id"), on="lead_id", how="semi"
    )
    # A touch is the first recorded sales activity or acceptance (SAL), whichever is first.
    # A back-filled SAL (the time of a later step, e.g. the won date) is not a touch: when
    # the lead was followed up is unknown, so it does not meet the SLA.
    recorded_sal = nw.when(~nw.col("inferred_sal")).then(nw.col("sal_at"))
    touch = nw.min_horizontal(known(nw.col("first_touch_at"), cutoff), recorded_sal)
    to_touch = hours_between("touch_at", "mql_at", engine)
    rows = (
        mqls.join(extra, on="lead_id", how="left")
        .with_columns(touch_at=touch, sla_hours=_sla_hours(params))
        .with_columns(
            deadline_at=_deadline(params),
            hours_to_touch=to_touch.clip(lower_bound=0),
            disqualified=~known(nw.col("disqualified_at"), cutoff).is_null(),
        )
    )
    touched_in_time = nw.col("hours_to_touch") <= nw.col("sla_hours")
    waiting = nw.col("touch_at").is_null() & (nw.col("deadline_at") >= nw.lit(cutoff))
    status = (
        nw.when(touched_in_time)
        .then(nw.lit("met"))
        .otherwise(nw.when(waiting).then(nw.lit("pending")).otherwise(nw.lit("breached")))
    )
    return rows.with_columns(
        status=_as_status(status, engine),
        untouched=nw.col("touch_at").is_null(),
        moved_on=~nw.col("sal_at").is_null(),
    ).with_columns(breached=nw.col("status") == "breached", pending=nw.col("status") == "pending")


def _as_status(status: nw.Expr, engine: nw.Implementation) -> nw.Expr:
    """The SLA status as its Enum where the engine has enums (Spark-like engines keep the
    text; the result's types are the polars schema's once collected)."""
    return (
        status if engine.is_spark_like() else status.cast(nw.Enum(SlaStatus.categories.to_list()))
    )


def _sla_rows_lazy(
    tables: Tables, period: Period, as_of: date, params: FunnelParams, timezone: str
) -> pl.LazyFrame:
    steps = steps_lazy(tables, as_of=as_of, timezone=timezone)
    coords = {"period": period, "as_of": as_of, "params": params, "timezone": timezone}
    return _on_polars(sla_rows_body, steps, tables.leads, **coords)


_SLA_COLUMNS = (
    "lead_id", "source", "campaign_id", "team", "owner_id", "mql_at", "touch_at", "sla_hours",
    "deadline_at", "hours_to_touch", "status", "breached", "pending", "untouched", "disqualified",
)  # fmt: skip


SLA_ROWS = Node(
    name="sla_rows",
    grain="one row per lead with a recorded MQL in the period, judged by its follow-up SLA",
    reads=("funnel_steps", "leads"),
    build=_sla_rows_lazy,
    body=sla_rows_body,
    upstream=lambda period, as_of, params, timezone: {
        "funnel_steps": (STEPS_NODE, (as_of, timezone))
    },
    arrange=arranged_by("lead_id"),
    reads_company=True,  # its funnel steps are the company's (a lead's deal may be another team's)
    coords=("period", "as_of", "params", "timezone"),
    code=("scoring/funnel.py", "scoring/portable_time.py"),
)


def follow_up_sla(
    tables: Tables,
    *,
    period: Period,
    as_of: date,
    params: FunnelParams,
    by: Sequence[str] = ("source",),
    timezone: str = "UTC",
) -> pl.DataFrame:
    """MQL follow-up SLA: of the MQLs created in `period` whose deadline has come, the share that
    sales touched or accepted within the SLA hours; speed to lead as median / p90 hours.
    Only recorded touches count (a first touch or a recorded SAL time, never a back-filled one).

    Grain: `by` dims. Columns: *by, mqls, due (mqls − pending), met, breached, pending,
    untouched, sla_compliance = met / due, median_hours_to_touch, p90_hours_to_touch.
    """
    by = check_dims(by)
    rows = _sla_rows(tables, period, as_of, params, timezone).pipe(by_lead_team, tables, by)
    counts = [pl.col(c).sum().cast(pl.Int64) for c in ("breached", "pending", "untouched")]
    aggs = [
        pl.len().cast(pl.Int64).alias("mqls"),
        (pl.col("status") == "met").sum().cast(pl.Int64).alias("met"),
        *counts,
        pl.col("hours_to_touch").median().alias("median_hours_to_touch"),
        pl.col("hours_to_touch").quantile(0.9, "linear").alias("p90_hours_to_touch"),
    ]
    return (
        summarize(rows, by, aggs)
        .with_columns(due=pl.col("mqls") - pl.col("pending"))
        .with_columns(sla_compliance=ratio("met", "due"))
        .select(
            *by,
            "mqls",
            "due",
            "met",
            "breached",
            "pending",
            "untouched",
            "sla_compliance",
            "median_hours_to_touch",
            "p90_hours_to_touch",
        )
        .pipe(sorted_by, by)
        .pipe(collect_available, tables, NEEDS["follow_up_sla"])
    )


def follow_up_sla_leads(
    tables: Tables,
    *,
    period: Period,
    as_of: date,
    params: FunnelParams,
    timezone: str = "UTC",
    team: str | None = None,
) -> pl.DataFrame:
    """Drill-down of `follow_up_sla`: one row per MQL with hours_to_touch, deadline and status
    (met / breached / pending); with `team`, the MQLs of that team's row. Sorted by lead_id."""
    rows = _sla_rows(tables, period, as_of, params, timezone).pipe(of_team, tables, team)
    return (
        rows.select(_SLA_COLUMNS)
        .sort("lead_id")
        .pipe(collect_available, tables, NEEDS["follow_up_sla_leads"])
    )


def _leaked(
    tables: Tables, period: Period, as_of: date, params: FunnelParams, tz: str
) -> pl.LazyFrame:
    rows = _sla_rows(tables, period, as_of, params, tz)
    cutoff = as_of_end(as_of, tz)
    # A lead that moved on (reached SAL or a later step) was not dropped, even when its touch
    # was never recorded.
    leaked = (
        pl.col("untouched") & pl.col("breached") & ~pl.col("disqualified") & ~pl.col("moved_on")
    )
    return rows.with_columns(
        leaked=leaked, hours_untouched=pl.when(leaked).then(hours(pl.lit(cutoff), pl.col("mql_at")))
    )


def leakage(
    tables: Tables,
    *,
    period: Period,
    as_of: date,
    params: FunnelParams,
    by: Sequence[str] = ("source", "team"),
    timezone: str = "UTC",
) -> pl.DataFrame:
    """Leakage: MQLs from `period` that nobody touched, accepted or disqualified by `as_of` though
    their SLA has passed — demand paid for and dropped at the handoff. A lead that reached SAL
    or a later step moved on and is not leaked, even without a recorded touch.

    Grain: `by` dims. Columns: *by, mqls, leaked, leak_share = leaked / mqls.
    """
    by = check_dims(by)
    aggs = [pl.len().cast(pl.Int64).alias("mqls"), pl.col("leaked").sum().cast(pl.Int64)]
    return (
        summarize(
            _leaked(tables, period, as_of, params, timezone).pipe(by_lead_team, tables, by),
            by,
            aggs,
        )
        .with_columns(leak_share=ratio("leaked", "mqls"))
        .pipe(sorted_by, by)
        .pipe(collect_available, tables, NEEDS["leakage"])
    )


def leakage_leads(
    tables: Tables,
    *,
    period: Period,
    as_of: date,
    params: FunnelParams,
    timezone: str = "UTC",
    team: str | None = None,
) -> pl.DataFrame:
    """Drill-down of `leakage`: the leaked MQLs with how many hours they have waited untouched;
    with `team`, those of that team's row."""
    rows = (
        _leaked(tables, period, as_of, params, timezone)
        .filter("leaked")
        .pipe(of_team, tables, team)
    )
    return (
        rows.select(*_SLA_COLUMNS, "hours_untouched")
        .sort("lead_id")
        .pipe(collect_available, tables, NEEDS["leakage_leads"])
    )


# ---------------------------------------------------------------- bounce-backs


def _history(tables: Tables, as_of: date, timezone: str) -> pl.LazyFrame:
    """lead_history rows before cutoff, sorted by lead and time (ties by status, so the order
    never depends on the input's). A row without owner_id keeps the lead's last known owner
    (status rows need not repeat it); before any owner is known the owner is null (nobody).
    A node of the derivation graph (`LEAD_HISTORY`): bounce-backs and the ownership ledger
    share it.
    """
    return get(tables, LEAD_HISTORY, as_of, timezone)


def lead_history_body(lead_history: nw.LazyFrame, *, as_of: date, timezone: str) -> nw.LazyFrame:
    """`lead_history_sorted`: the lead-history rows before the end of `as_of`, in lead and
    time order (ties by status, then the recorded owner, none first), a row without an owner
    carrying its lead's last known owner (SQL's `last_value(owner_id ignore nulls)`)."""
    rows = lead_history.filter(nw.col("entered_at") < nw.lit(as_of_end(as_of, timezone)))
    order = ("entered_at", "status", "owner_id")  # the recorded owner: none first
    return with_sequence(rows, "lead_id", order, owner_id=filled("owner_id"), sort=True)


def clip_history_body(history: nw.LazyFrame, *, as_of: date, timezone: str) -> nw.LazyFrame:
    """The rows before the end of an earlier day: an owner carried forward comes from rows
    before it."""
    return history.filter(nw.col("entered_at") < nw.lit(as_of_end(as_of, timezone)))


def _clip_history(history: pl.LazyFrame, as_of: date, timezone: str) -> pl.LazyFrame:
    return _on_polars(clip_history_body, history, as_of=as_of, timezone=timezone)


LEAD_HISTORY = Node(
    name="lead_history_sorted",
    grain="one row per lead-history row before the end of the as-of day, in lead and time "
    "order, owners carried forward",
    reads=("lead_history",),
    body=lead_history_body,
    # No `arrange`: the body ends in its sort (ties by the recorded owner, which the result
    # no longer holds), an order every engine keeps when its rows are collected.
    coords=("as_of", "timezone"),
    team="lead",
    clip=_clip_history,
    persist=True,
    code=("scoring/funnel.py", "scoring/ordered.py", "scoring/windows.py", "model/calendar.py"),
)


def _per_lead_bounces(
    tables: Tables, period: Period, as_of: date, params: FunnelParams, tz: str
) -> pl.LazyFrame:
    """One row per lead with history: did sales hold it during `period` (`with_sales`), was it
    recycled back to marketing in `period` after sales had it (`bounced`, first `recycled_at`
    and `recycle_status`), and its last sales owner.

    The history is sorted by lead and time, so each lead's answer is read off its last row
    (running flags, indexes of the rows to take values from) instead of a group_by with
    millions of groups.
    """
    start, end = instant(period.start, tz), instant(period.end, tz)
    key = "lead_id"
    is_sales = pl.col("status").is_in(params.sales_statuses)
    overlaps = (pl.col("entered_at") < end) & (
        pl.col("left_at").is_null() | (pl.col("left_at") >= start)
    )
    bounce_in = (
        pl.col("status").is_in(params.recycle_statuses)
        & any_before(is_sales, key)
        & in_period(pl.col("entered_at"), period, tz)
    )
    first_bounce = last_index_where(bounce_in & ~any_before(bounce_in, key), key)
    last_sales = last_index_where(is_sales, key)
    last = ends_group(key)
    # Only sales and recycle rows decide the answer; the others go once each row knows when
    # it ended (the next row's time).
    relevant = pl.col("status").is_in((*params.sales_statuses, *params.recycle_statuses))
    rows = (
        _history(tables, as_of, tz)
        .with_columns(left_at=shift_in("entered_at", key, -1))
        .filter(relevant)
    )
    # Leads with a sales row overlapping the period or a recycle row in it: no other lead
    # can have been held or bounced in the period. (Their earlier rows still count.)
    touched = (is_sales & overlaps) | (
        pl.col("status").is_in(params.recycle_statuses)
        & in_period(pl.col("entered_at"), period, tz)
    )
    candidates = rows.filter(touched).select(key).unique()
    return rows.join(candidates, on=key, how="semi", maintain_order="left").select(
        pl.col(key).filter(last),
        with_sales=any_so_far(is_sales & overlaps, key).filter(last),
        bounced=any_so_far(bounce_in, key).filter(last),
        recycled_at=pl.col("entered_at").gather(first_bounce.filter(last)),
        recycle_status=pl.col("status").gather(first_bounce.filter(last)),
        sales_owner_id=pl.col("owner_id").gather(last_sales.filter(last)),
    )


def _bounce_rows(
    tables: Tables, period: Period, as_of: date, params: FunnelParams, tz: str
) -> pl.LazyFrame:
    """One row per lead that sales held during `period` or that bounced back in it."""
    users = tables.users.select(pl.col("user_id").alias("team_owner_id"), "team")
    leads = tables.leads.select(
        "lead_id", "owner_id", pl.col("source").fill_null(DIMENSIONS["source"])
    )
    return (
        _per_lead_bounces(tables, period, as_of, params, tz)
        .filter(pl.col("with_sales") | pl.col("bounced"))
        .pipe(left_join_few, leads, "lead_id")
        .with_columns(team_owner_id=pl.coalesce("sales_owner_id", "owner_id"))
        .join(users, on="team_owner_id", how="left")
        .with_columns(pl.col("team").fill_null(UNASSIGNED_TEAM))
    )


def bounce_backs(
    tables: Tables,
    *,
    period: Period,
    as_of: date,
    params: FunnelParams,
    by: Sequence[str] = ("team", "source"),
    timezone: str = "UTC",
) -> pl.DataFrame:
    """Bounce-backs: leads sales had in `period` that were recycled back to marketing (a sales
    status followed later by a recycle status). A high rate means the handoff criteria are not
    agreed: marketing passes leads that sales will not work.

    Grain: `by` dims (team = each team the lead belongs to, `by_lead_team`; source).
    Columns: *by, leads_with_sales, bounced, bounce_back_rate = bounced / leads_with_sales.
    Needs lead_history.
    """
    by = check_dims(by)
    rows = _bounce_rows(tables, period, as_of, params, timezone).pipe(by_lead_team, tables, by)
    aggs = [
        pl.len().cast(pl.Int64).alias("leads_with_sales"),
        pl.col("bounced").sum().cast(pl.Int64),
    ]
    return (
        summarize(rows, by, aggs)
        .with_columns(bounce_back_rate=ratio("bounced", "leads_with_sales"))
        .pipe(sorted_by, by)
        .pipe(collect_available, tables, NEEDS["bounce_backs"])
    )


def bounce_back_leads(
    tables: Tables,
    *,
    period: Period,
    as_of: date,
    params: FunnelParams,
    timezone: str = "UTC",
    team: str | None = None,
) -> pl.DataFrame:
    """Drill-down of `bounce_backs`: one row per lead sales held in the period, with whether and
    when it was recycled, to which status, and the sales owner (`team`: the sales owner's
    team; with `team` given, the leads of that team's row). Sorted by lead_id."""
    rows = _bounce_rows(tables, period, as_of, params, timezone).pipe(of_team, tables, team)
    return rows.select(
        "lead_id", "source", "team", "sales_owner_id", "with_sales", "bounced", "recycled_at",
        "recycle_status",
    ).sort("lead_id").pipe(collect_available, tables, NEEDS["bounce_back_leads"])  # fmt: skip


# ---------------------------------------------------------------- ownership ledger


def _owner_rows(tables: Tables, as_of: date, timezone: str) -> pl.LazyFrame:
    """lead_history owner rows up to cutoff: is the owner a person, and did the owner change
    (from one known owner to another; a first assignment is not a change)."""
    queues = tables.users.select("user_id", "is_queue")
    previous = shift_in("owner_id", "lead_id")  # _history is sorted by lead_id, entered_at
    return (
        _history(tables, as_of, timezone)
        .with_columns(changed=previous.is_not_null() & (pl.col("owner_id") != previous))
        .join(queues, left_on="owner_id", right_on="user_id", how="left")  # order not needed
        .with_columns(
            is_person=pl.col("owner_id").is_not_null() & ~pl.col("is_queue").fill_null(False)
        )
    )


def _assignment(mqls: pl.LazyFrame, owners: pl.LazyFrame) -> pl.LazyFrame:
    """Per MQL: when a person first owned it (at or after the MQL), and the owner changes."""
    before = pl.col("entered_at") <= pl.col("mql_at")
    after = pl.col("is_person") & (pl.col("entered_at") > pl.col("mql_at"))
    return (
        mqls.select("lead_id", "mql_at")
        .join(owners, on="lead_id", how="inner")
        .group_by("lead_id")
        .agg(
            person_at_mql=pl.col("is_person")
            .filter(before)
            .sort_by(pl.col("entered_at").filter(before))
            .last(),
            first_person_at=pl.col("entered_at").filter(after).min(),
            owner_changes=pl.col("changed").sum().cast(pl.Int64),
        )
    )


def _ledger_lazy(
    tables: Tables, period: Period, as_of: date, params: FunnelParams, tz: str
) -> pl.LazyFrame:
    cutoff = as_of_end(as_of, tz)
    mqls = _sla_rows(tables, period, as_of, params, tz)
    owners = _owner_rows(tables, as_of, tz)
    # Whether the source records owners at all: a property of the whole company's history.
    available = tables.company.lead_history.select(
        owner_history_available=pl.col("owner_id").is_not_null().any()
    )
    queues = tables.users.select(pl.col("user_id").alias("owner_id"), "is_queue")
    assigned = pl.when(pl.col("person_at_mql")).then("mql_at").otherwise("first_person_at")
    end = pl.min_horizontal(
        assigned, pl.when("disqualified").then("disqualified_at"), pl.lit(cutoff)
    )
    known = pl.col("owner_history_available")
    return (
        mqls.join(_assignment(mqls, owners), on="lead_id", how="left")
        .join(available, how="cross")
        .join(queues, on="owner_id", how="left")
        .with_columns(
            currently_unowned=pl.col("owner_id").is_null() | pl.col("is_queue").fill_null(False),
            assigned_at=pl.when(known).then(assigned),
            unowned_hours=pl.when(known).then(hours(end, pl.col("mql_at")).clip(lower_bound=0)),
            owner_changes=pl.when(known).then(pl.col("owner_changes").fill_null(0)),
        )
    )


def lead_ownership_ledger(
    tables: Tables,
    *,
    period: Period,
    as_of: date,
    params: FunnelParams | None = None,
    timezone: str = "UTC",
) -> pl.DataFrame:
    """The handoff ownership ledger: for each MQL of `period`, how long it sat with nobody or a
    queue before a person owned it ("no-man's-land" time), how often its owner changed, and whether
    its follow-up SLA was breached.

    Grain: one row per MQL. Columns: lead_id, source, team, owner_id, currently_unowned, mql_at,
    assigned_at, unowned_hours (until a person owned it, the lead was disqualified, or as_of),
    owner_changes, status (SLA), breached, owner_history_available. When lead_history has no
    owner_id (or is missing), assigned_at, unowned_hours and owner_changes are null and
    owner_history_available is false; the other columns are still computed.
    """
    params = params or FunnelParams()
    return (
        _ledger_lazy(tables, period, as_of, params, timezone)
        .select(
            "lead_id",
            "source",
            "team",
            "owner_id",
            "currently_unowned",
            "mql_at",
            "assigned_at",
            "unowned_hours",
            "owner_changes",
            "status",
            "breached",
            pl.col("owner_history_available").fill_null(False),
        )
        .sort("lead_id")
        .pipe(collect_available, tables, NEEDS["lead_ownership_ledger"])
    )


def ownership_by_team(
    tables: Tables,
    *,
    period: Period,
    as_of: date,
    params: FunnelParams | None = None,
    timezone: str = "UTC",
) -> pl.DataFrame:
    """The ownership ledger summarized per team (each team the lead belongs to: `by_lead_team`).

    Grain: team. Columns: team, mqls, currently_unowned, never_assigned, median_unowned_hours,
    p90_unowned_hours, owner_changes, sla_breaches, sla_breach_rate (breached / due),
    owner_history_available. Ownership columns are null when owner history is not available.
    """
    params = params or FunnelParams()
    rows = _ledger_lazy(tables, period, as_of, params, timezone).pipe(
        by_lead_team, tables, ["team"]
    )
    known = pl.col("owner_history_available").fill_null(False).all()
    count = {"mqls": pl.len(), "currently_unowned": pl.col("currently_unowned").sum()}
    return (
        rows.group_by("team")
        .agg(
            **{name: expr.cast(pl.Int64) for name, expr in count.items()},
            never_assigned=pl.when(known).then(
                (pl.col("assigned_at").is_null()).sum().cast(pl.Int64)
            ),
            median_unowned_hours=pl.col("unowned_hours").median(),
            p90_unowned_hours=pl.col("unowned_hours").quantile(0.9, "linear"),
            owner_changes=pl.when(known).then(pl.col("owner_changes").sum().cast(pl.Int64)),
            sla_breaches=pl.col("breached").sum().cast(pl.Int64),
            due=(~pl.col("pending")).sum().cast(pl.Int64),
            owner_history_available=known,
        )
        .with_columns(sla_breach_rate=ratio("sla_breaches", "due"))
        .drop("due")
        .sort("team")
        .pipe(collect_available, tables, NEEDS["ownership_by_team"])
    )


# ---------------------------------------------------------------- goal conflict


def goal_conflict(
    tables: Tables,
    *,
    periods: list[Period],
    as_of: date,
    tolerance: float = 0.05,
    timezone: str = "UTC",
) -> pl.DataFrame:
    """Incentive conflict between teams: each team's own output next to the conversion it feeds.
    Flags a period when marketing's MQL count rose while MQL→SAL conversion fell by more than
    `tolerance` (marketing_conflict), or SDR's SAL count rose while SAL→SQL fell (sdr_conflict):
    one team hits its number by passing weaker leads downstream.

    Grain: period (oldest first). Columns: period, period_start, is_complete (the period has
    ended by as_of; a period still in progress holds partial counts), mqls, mql_to_sal, sals,
    sal_to_sql, marketing_conflict, sdr_conflict, conflict. The first period has nothing to
    compare (false).
    """
    if not periods:
        raise ValueError("goal_conflict needs at least one period")
    # One pass over the funnel steps for every period: cohort sizes and conversions of the
    # MQL→SAL and SAL→SQL transitions (the same numbers `conversion` gives for them).
    sums = []
    for i, p in enumerate(periods):
        for step, nxt in (("mql", "sal"), ("sal", "sql")):
            cohort = in_period(step_at(step), p, timezone)
            converted = cohort & step_at(nxt).is_not_null()
            sums += [cohort.sum().alias(f"{step}_{i}"), converted.sum().alias(f"{step}_to_{i}")]
    totals = steps_lazy(tables, as_of=as_of, timezone=timezone).select(sums)

    def cohort_and_rate(step: str, i: int, names: tuple[str, str]) -> list[pl.Expr]:
        n, to = pl.col(f"{step}_{i}").cast(pl.Int64), pl.col(f"{step}_to_{i}").cast(pl.Int64)
        return [n.alias(names[0]), pl.when(n > 0).then(to / n).alias(names[1])]

    rows = [
        totals.select(
            pl.lit(p.name).alias("period"),
            pl.lit(p.start).alias("period_start"),
            pl.lit(as_of >= last_day(p)).alias("is_complete"),
            *cohort_and_rate("mql", i, ("mqls", "mql_to_sal")),
            *cohort_and_rate("sal", i, ("sals", "sal_to_sql")),
        )
        for i, p in enumerate(periods)
    ]
    table = pl.concat(rows).sort("period_start")  # small: one row per period
    table = collect_available(table, tables, NEEDS["goal_conflict"])

    def rose_while_fell(volume: str, rate: str) -> pl.Expr:
        fell = pl.col(rate) < pl.col(rate).shift(1) - tolerance
        return (pl.col(volume) > pl.col(volume).shift(1)) & fell

    return table.with_columns(
        marketing_conflict=rose_while_fell("mqls", "mql_to_sal").fill_null(False),
        sdr_conflict=rose_while_fell("sals", "sal_to_sql").fill_null(False),
    ).with_columns(conflict=pl.col("marketing_conflict") | pl.col("sdr_conflict"))


# ---------------------------------------------------------------- definitions

_HANDOFF = "handoff_ownership"
_AS_OF = "steps reached by the end of the as-of day (reporting time zone)"

DEFINITIONS: tuple[MetricDefinition, ...] = (
    MetricDefinition(
        id="conversion.cohort",
        name="Funnel conversion (cohort)",
        formula="|reached X in period and X+1 by as_of| / |reached X in period|",
        unit="ratio",
        grain="funnel step × optional source / campaign / team",
        date_anchor="date the lead reached step X; " + _AS_OF,
        good="stable or rising at each handoff; read immature cohorts with care",
        question=_HANDOFF,
        owner_team="ops",
        filters="reached semantics: skipped steps back-filled from the next step reached",
        variants=("conversion.period",),
    ),
    MetricDefinition(
        id="conversion.period",
        name="Funnel conversion (period)",
        formula="|entered X+1 in period| / |entered X in period|",
        unit="ratio",
        grain="funnel step × optional source / campaign / team",
        date_anchor="date each step was entered",
        good="close to the cohort rate; a large gap means volumes are shifting",
        question=_HANDOFF,
        owner_team="ops",
        filters="mixes cohorts, can exceed 1; reached semantics as in the cohort variant",
        variants=("conversion.cohort",),
    ),
    MetricDefinition(
        id="follow_up_sla",
        name="MQL follow-up SLA compliance",
        formula="|MQLs touched or accepted within SLA hours| / |MQLs whose SLA deadline passed|",
        unit="ratio",
        grain="source (or campaign / team)",
        date_anchor="mql_at in period; touches known by as_of",
        good="≥ 90 % within SLA; speed to lead in hours, not days",
        question=_HANDOFF,
        owner_team="sdr",
        filters="recorded (not back-filled) MQLs; touch = earlier of first_touch_at and SAL; "
        "untouched MQLs before their deadline are pending, not breached",
    ),
    MetricDefinition(
        id="leakage",
        name="MQL leakage",
        formula="|MQLs untouched, not accepted, not disqualified, past SLA| / |MQLs|",
        unit="ratio",
        grain="source × team",
        date_anchor="mql_at in period; state as of the as-of day",
        good="near 0: every MQL gets a disposition",
        question=_HANDOFF,
        owner_team="sdr",
        higher_is_better=False,
    ),
    MetricDefinition(
        id="bounce_back_rate",
        name="Bounce-back rate",
        formula="|leads recycled to marketing after a sales status, in period| / "
        "|leads sales held during period|",
        unit="ratio",
        grain="team (each team the lead belonged to) × source",
        date_anchor="lead_history.entered_at of the recycle status",
        good="low and falling: sales works what marketing passes",
        question=_HANDOFF,
        owner_team="sales",
        filters="sales / recycle statuses from FunnelParams",
        higher_is_better=False,
    ),
    MetricDefinition(
        id="unowned_hours",
        name="Unowned time after MQL",
        formula="hours from mql_at until a person (not a queue) owns the lead, "
        "it is disqualified, or as_of",
        unit="hours",
        grain="lead (median / p90 per owning team)",
        date_anchor="mql_at in period",
        good="hours, not days; nobody left in a queue",
        question=_HANDOFF,
        owner_team="ops",
        filters="needs lead_history.owner_id; else not available",
        higher_is_better=False,
    ),
    MetricDefinition(
        id="lead_owner_changes",
        name="Lead owner changes",
        formula="count of lead_history rows whose owner_id differs from the previous row's",
        unit="count",
        grain="lead (sum per owning team)",
        date_anchor="mql_at in period; history up to as_of",
        good="0–1 per lead: one clean handoff",
        question=_HANDOFF,
        owner_team="ops",
        filters="needs lead_history.owner_id; else not available",
        higher_is_better=False,
    ),
    MetricDefinition(
        id="funnel_skip_rate",
        name="Funnel skip rate",
        formula="|leads whose step X was back-filled| / |leads that reached X|",
        unit="ratio",
        grain="funnel step",
        date_anchor=_AS_OF,
        good="low: step dates are stamped when the handoff happens",
        question="shared_data",
        owner_team="ops",
        higher_is_better=False,
    ),
    MetricDefinition(
        id="goal_conflict",
        name="Goal conflict (volume up, next conversion down)",
        formula="upstream volume > previous period AND "
        "next-step cohort conversion < previous − 5 pts",
        unit="count",
        grain="period",
        date_anchor="date the lead reached the upstream step",
        good="no flagged periods: teams hit targets without degrading the next handoff",
        question="shared_outcomes",
        owner_team="ops",
        filters="marketing: MQL count vs MQL→SAL; SDR: SAL count vs SAL→SQL",
        higher_is_better=False,
    ),
)
