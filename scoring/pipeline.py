"""Pipeline health: win rate, sales cycle, coverage, velocity and the pipeline waterfall.

All figures are per team (the team of the deal's current owner) plus an "All teams" row.
A deal is **qualified pipeline** when its stage position is at least
`PipelineParams.qualified_from_position`; it is **in range** for a period when it is open,
qualified and its close date falls inside the period. As-of figures rebuild each deal's
state from `stage_history` at the end of the as-of day (UTC), via `scoring.history`.
"Trailing 4 quarters" means the twelve months before the period starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

import polars as pl

from model.calendar import Calendar, Period, last_day, local_date
from model.params import PipelineParams
from model.schema import SourcedBy
from model.tables import ALL_TEAMS, ENGINE, Tables, opportunities_with_team
from scoring.definitions import MetricDefinition
from scoring.history import end_of_day, opp_state_at

QUOTAS_MISSING = "quotas not available"

BUCKETS = (
    "start",
    "created",
    "pulled_in",
    "increased",
    "decreased",
    "pushed_out",
    "won",
    "lost",
    "end",
)
Bucket = pl.Enum(BUCKETS)
WATERFALL_GROUPS = ("team", "sourced_by")


# --- shared building blocks -------------------------------------------------------------


def _in_period(column: str, period: Period) -> pl.Expr:
    return pl.col(column).is_between(period.start, period.end, closed="left").fill_null(False)


def _ratio(num: pl.Expr, den: pl.Expr) -> pl.Expr:
    """num / den, null when the denominator is zero or null."""
    return pl.when(den > 0).then(num / den)


def _with_all_teams(rows: pl.LazyFrame) -> pl.LazyFrame:
    """`rows` plus a copy of each row under team "All teams", so one group_by gives both."""
    return pl.concat([rows, rows.with_columns(team=pl.lit(ALL_TEAMS))])


def _teams(tables: Tables) -> pl.LazyFrame:
    """Every team that owns a deal, plus "All teams": the rows of a per-team result."""
    owning = opportunities_with_team(tables).select("team").unique()
    return pl.concat([owning, pl.LazyFrame({"team": [ALL_TEAMS]})]).unique()


def _trailing_year(period: Period) -> Period:
    """The four quarters (twelve months) before `period`, as one window."""
    start = period.start.replace(year=period.start.year - 1)
    return Period(start, period.start, f"4 quarters before {period.name}", "custom")


def _closed(
    tables: Tables, period: Period, timezone: str, as_of: date | None = None
) -> pl.LazyFrame:
    """Deals closed (won or lost) with a close date in `period`, with their cycle days: as
    they stood at the end of `as_of` (a deal lost after that day is still open then), or as
    they are now when no as-of is given."""
    created_date = local_date(pl.col("created_at"), timezone)
    deals = (
        opportunities_with_team(tables)
        if as_of is None
        else opp_state_at(tables, at=end_of_day(as_of, timezone)).with_columns(
            pl.col("is_closed", "is_won").fill_null(False)
        )
    )
    return deals.filter(pl.col("is_closed") & _in_period("close_date", period)).select(
        "opp_id",
        "team",
        "sourced_by",
        "is_won",
        "amount",
        "created_at",
        "close_date",
        cycle_days=(pl.col("close_date") - created_date).dt.total_days(),
    )


def _state_at(tables: Tables, at: datetime, params: PipelineParams) -> pl.LazyFrame:
    """Each deal's state at `at` with `position` and a `qualified` flag; nulls made explicit."""
    positions = tables.stages.select("stage", "position")
    return (
        opp_state_at(tables, at=at)
        .join(positions, on="stage", how="left")
        .with_columns(
            pl.col("is_closed", "is_won").fill_null(False),
            # a typed literal: filling an Enum with a plain string makes the streaming engine
            # panic in later joins (polars 2.1)
            pl.col("sourced_by").fill_null(pl.lit("unknown", dtype=SourcedBy)),
            qualified=(pl.col("position") >= params.qualified_from_position).fill_null(False),
        )
    )


def _in_range(period: Period) -> pl.Expr:
    return ~pl.col("is_closed") & pl.col("qualified") & _in_period("close_date", period)


# --- win rate and sales cycle -----------------------------------------------------------


def closed_deals(
    tables: Tables, *, period: Period, timezone: str = "UTC", as_of: date | None = None
) -> pl.DataFrame:
    """Drill-down for win rate and sales cycle: one row per deal closed in `period` by the
    end of `as_of` (opp_id, team, sourced_by, is_won, amount, created_at, close_date,
    cycle_days)."""
    return _closed(tables, period, timezone, as_of).sort("opp_id").collect(engine=ENGINE)


def _win_rate(closed: pl.LazyFrame, teams: pl.LazyFrame) -> pl.LazyFrame:
    won, amount = pl.col("is_won"), pl.col("amount").fill_null(0.0)
    counts = (
        _with_all_teams(closed)
        .group_by("team")
        .agg(
            won=won.sum().cast(pl.Int64),
            lost=(~won).sum().cast(pl.Int64),
            won_amount=amount.filter(won).sum(),
            lost_amount=amount.filter(~won).sum(),
        )
    )
    return (
        teams.join(counts, on="team", how="left")
        .with_columns(pl.col("won", "lost").fill_null(0))
        .with_columns(pl.col("won_amount", "lost_amount").fill_null(0.0))
        .with_columns(
            win_rate_count=_ratio(pl.col("won"), pl.col("won") + pl.col("lost")),
            win_rate_amount=_ratio(
                pl.col("won_amount"), pl.col("won_amount") + pl.col("lost_amount")
            ),
        )
    )


def win_rate(
    tables: Tables, *, period: Period, as_of: date | None = None, timezone: str = "UTC"
) -> pl.DataFrame:
    """Of the deals that closed in the period (as known at the end of `as_of`), the share
    won — by count and by amount.

    Grain: team. Columns: won, lost, won_amount, lost_amount, win_rate_count,
    win_rate_amount (null when nothing closed). A gap between the two rates means big
    deals are won (or lost) more often than small ones.
    """
    closed = _closed(tables, period, timezone, as_of)
    return _win_rate(closed, _teams(tables)).sort("team").collect(engine=ENGINE)


def _cycle(valid: bool = True) -> pl.Expr:
    """Cycle days of the deals whose cycle is possible (`valid`: close date on or after the
    created date), or of those whose cycle is negative (`valid=False`, a data-quality failure:
    `quality` check `opp_close_before_created`), which no cycle median or mean may include."""
    cycle = pl.col("cycle_days")
    return cycle.filter(cycle >= 0 if valid else cycle < 0)


def sales_cycle(
    tables: Tables, *, period: Period, timezone: str = "UTC", as_of: date | None = None
) -> pl.DataFrame:
    """How long winning takes: days from creation to close of the deals won in the period.

    Grain: team. Columns: won, cycle_days_median, cycle_days_mean over the won deals whose
    close date is not before their creation (null when there is none), and
    cycle_days_excluded = won deals left out for an impossible, negative cycle.
    """
    stats = (
        _with_all_teams(_closed(tables, period, timezone, as_of).filter("is_won"))
        .group_by("team")
        .agg(
            won=pl.len().cast(pl.Int64),
            cycle_days_median=_cycle().median(),
            cycle_days_mean=_cycle().mean(),
            cycle_days_excluded=_cycle(valid=False).len().cast(pl.Int64),
        )
    )
    return (
        _teams(tables)
        .join(stats, on="team", how="left")
        .with_columns(pl.col("won", "cycle_days_excluded").fill_null(0))
        .sort("team")
        .collect(engine=ENGINE)
    )


# --- coverage and velocity --------------------------------------------------------------


def open_pipeline_rows(
    tables: Tables,
    *,
    period: Period,
    as_of: date,
    params: PipelineParams,
    timezone: str = "UTC",
) -> pl.DataFrame:
    """Drill-down for coverage: the qualified deals open at the end of `as_of` with a close
    date in `period` (opp_id, team, sourced_by, stage, amount, close_date)."""
    return (
        _state_at(tables, end_of_day(as_of, timezone), params)
        .filter(_in_range(period))
        .select("opp_id", "team", "sourced_by", "stage", "amount", "close_date")
        .sort("opp_id")
        .collect(engine=ENGINE)
    )


def _quota(tables: Tables, period: Period) -> pl.LazyFrame:
    """Quota per team (team-level row, else the sum of its reps' rows) and for all teams."""
    rows = tables.quotas.filter(pl.col("period") == period.name)
    team_level = (
        rows.filter(pl.col("owner_id").is_null())
        .group_by("team")
        .agg(team_quota=pl.col("amount").sum())
    )
    per_rep = (
        rows.filter(pl.col("owner_id").is_not_null())
        .group_by("team")
        .agg(rep_quota=pl.col("amount").sum())
    )
    per_team = team_level.join(per_rep, on="team", how="full", coalesce=True).select(
        "team", quota=pl.coalesce("team_quota", "rep_quota")
    )
    total = per_team.select(
        team=pl.lit(ALL_TEAMS), quota=pl.when(pl.len() > 0).then(pl.col("quota").sum())
    )
    return pl.concat([per_team, total])


def _required_coverage(
    tables: Tables, period: Period, timezone: str = "UTC", as_of: date | None = None
) -> pl.LazyFrame:
    closed = _closed(tables, _trailing_year(period), timezone, as_of)
    return _win_rate(closed, _teams(tables)).select(
        "team", required_coverage=_ratio(pl.lit(1.0), pl.col("win_rate_count"))
    )


_SPANS = {"fiscal_year": "a fiscal year", "custom": "a custom range",
          "ttm": "the trailing twelve months", "all": "all data"}  # fmt: skip


def _coverage_notes(tables: Tables, period: Period) -> pl.Expr:
    if not tables.has("quotas"):
        return pl.lit(QUOTAS_MISSING)
    if not period.is_quarter:  # quotas are set per quarter; no quarter row matches
        span = _SPANS[period.kind]
        return pl.lit(f"not measured for {span}: quotas are set per quarter")
    return pl.when(pl.col("quota").is_null()).then(pl.lit(f"no quota for {period.name}"))


def _coverage_totals(state: pl.LazyFrame, period: Period) -> pl.LazyFrame:
    """Per team: open qualified pipeline closing in the period, and closed-won so far."""
    amount = pl.col("amount").fill_null(0.0)
    won_in_period = pl.col("is_won") & _in_period("close_date", period)
    return (
        _with_all_teams(state)
        .group_by("team")
        .agg(
            open_pipeline=amount.filter(_in_range(period)).sum(),
            closed_won_to_date=amount.filter(won_in_period).sum(),
            # Counted apart, never summed as $0: the pipeline is the known amounts only.
            open_without_amount=(_in_range(period) & pl.col("amount").is_null())
            .sum()
            .cast(pl.Int64),
        )
    )


_COVERAGE_COLUMNS = (
    "team",
    "open_pipeline",
    "quota",
    "closed_won_to_date",
    "remaining_quota",
    "coverage",
    "coverage_salesforce_inverse",
    "required_coverage",
    "open_without_amount",
    "notes",
)


def coverage(
    tables: Tables,
    *,
    period: Period,
    as_of: date,
    params: PipelineParams,
    timezone: str = "UTC",
) -> pl.DataFrame:
    """Is there enough qualified pipeline left to make the number?

    coverage = open qualified pipeline closing in the period (as of `as_of`) / remaining
    quota, where remaining = max(quota − closed-won so far, 0). Compare it with
    required_coverage = 1 / trailing-4-quarter win rate: "3×" is only enough at a 33 % win
    rate. Grain: team. Columns: open_pipeline, quota, closed_won_to_date, remaining_quota,
    coverage, coverage_salesforce_inverse (remaining / open), required_coverage,
    open_without_amount (open deals in range whose amount is unknown: not in the pipeline),
    notes.
    """
    totals = _coverage_totals(_state_at(tables, end_of_day(as_of, timezone), params), period)
    quota = _quota(tables, period)
    teams = pl.concat([_teams(tables), quota.select("team")]).unique()
    remaining = (pl.col("quota") - pl.col("closed_won_to_date")).clip(lower_bound=0.0)
    return (
        teams.join(totals, on="team", how="left")
        .join(quota, on="team", how="left")
        .join(_required_coverage(tables, period, timezone, as_of), on="team", how="left")
        .with_columns(pl.col("open_pipeline", "closed_won_to_date").fill_null(0.0))
        .with_columns(pl.col("open_without_amount").fill_null(0))
        .with_columns(remaining_quota=remaining)
        .with_columns(
            coverage=_ratio(pl.col("open_pipeline"), pl.col("remaining_quota")),
            coverage_salesforce_inverse=_ratio(pl.col("remaining_quota"), pl.col("open_pipeline")),
            notes=_coverage_notes(tables, period),
        )
        .select(*_COVERAGE_COLUMNS[:-1], pl.col("notes").cast(pl.String))
        .sort("team")
        .collect(engine=ENGINE)
    )


def velocity(
    tables: Tables,
    *,
    period: Period,
    as_of: date,
    params: PipelineParams,
    timezone: str = "UTC",
) -> pl.DataFrame:
    """Sales velocity: dollars of revenue the open pipeline produces per day.

    velocity = qualified open opps at `as_of` (any close date) × win rate (count) × average
    won amount / average sales-cycle days, the last three over the trailing 4 quarters
    before `period` (deals closed before their creation left out of the cycle average).
    Grain: team. Columns: qualified_open_opps, win_rate_count, avg_won_amount,
    avg_cycle_days, velocity ($/day; null without trailing wins).
    """
    state = _state_at(tables, end_of_day(as_of, timezone), params)
    opps = (
        _with_all_teams(state.filter(~pl.col("is_closed") & pl.col("qualified")))
        .group_by("team")
        .agg(qualified_open_opps=pl.len().cast(pl.Int64))
    )
    closed = _closed(tables, _trailing_year(period), timezone, as_of)
    won = (
        _with_all_teams(closed.filter("is_won"))
        .group_by("team")
        .agg(avg_won_amount=pl.col("amount").mean(), avg_cycle_days=_cycle().mean())
    )
    rate = _win_rate(closed, _teams(tables)).select("team", "win_rate_count")
    speed = pl.col("qualified_open_opps") * pl.col("win_rate_count") * pl.col("avg_won_amount")
    return (
        _teams(tables)
        .join(opps, on="team", how="left")
        .join(rate, on="team", how="left")
        .join(won, on="team", how="left")
        .with_columns(pl.col("qualified_open_opps").fill_null(0))
        .with_columns(velocity=_ratio(speed, pl.col("avg_cycle_days")))
        .sort("team")
        .collect(engine=ENGINE)
    )


# --- pipeline waterfall -----------------------------------------------------------------


def _window(period: Period, as_of: date, timezone: str = "UTC") -> tuple[datetime, datetime]:
    """[start of the period, end of min(as_of, last day of the period)], never reversed."""
    start = Calendar(timezone).start_of(period.start)
    return start, max(start, end_of_day(min(as_of, last_day(period)), timezone))


_STATE = ("stage", "amount", "close_date", "is_closed", "in_range")


def _deal_moves(
    tables: Tables, period: Period, as_of: date, params: PipelineParams, timezone: str = "UTC"
) -> pl.LazyFrame:
    """One row per deal existing at window end, with its state at both ends and the flags
    existed (at start), closed_in_window (newly closed, close date in the period)."""
    start_at, end_at = _window(period, as_of, timezone)

    def ends(at: datetime, suffix: str) -> pl.LazyFrame:
        state = _state_at(tables, at, params).with_columns(in_range=_in_range(period))
        return state.select(
            "opp_id", "team", "sourced_by", "is_won", pl.col(_STATE).name.suffix(suffix)
        )

    start = ends(start_at, "_start").drop("team", "sourced_by", "is_won")
    return (
        ends(end_at, "_end")
        .join(start, on="opp_id", how="left")
        .with_columns(
            existed=pl.col("stage_start").is_not_null(),
            closed_in_window=pl.col("is_closed_end")
            & ~pl.col("is_closed_start").fill_null(False)
            & _in_period("close_date_end", period),
            in_range_start=pl.col("in_range_start").fill_null(False),
        )
    )


def _bucket_columns() -> dict[str, pl.Expr]:
    """Each bucket's signed amount for one deal, null when the deal is not in that bucket."""
    r0, r1, closed = pl.col("in_range_start"), pl.col("in_range_end"), pl.col("closed_in_window")
    existed, enters = pl.col("existed"), pl.col("in_range_end") | pl.col("closed_in_window")
    a0 = pl.col("amount_start").fill_null(0.0)
    a1 = pl.col("amount_end").fill_null(0.0)
    delta = a1 - a0
    return {
        "start": pl.when(r0).then(a0),
        "created": pl.when(~existed & enters).then(a1),
        "pulled_in": pl.when(existed & ~r0 & enters).then(a0),
        "increased": pl.when(existed & enters & (delta > 0)).then(delta),
        "decreased": pl.when(existed & enters & (delta < 0)).then(delta),
        "pushed_out": pl.when(r0 & ~enters).then(-a0),
        "won": pl.when(closed & pl.col("is_won")).then(-a1),
        "lost": pl.when(closed & ~pl.col("is_won")).then(-a1),
        "end": pl.when(r1).then(a1),
    }


_ROW_DETAIL = ("amount_start", "amount_end", "stage_start", "stage_end")
_ROW_DATES = ("close_date_start", "close_date_end")


def _waterfall_rows(
    tables: Tables, period: Period, as_of: date, params: PipelineParams, timezone: str = "UTC"
) -> pl.LazyFrame:
    index = ["opp_id", "team", "sourced_by", *_ROW_DETAIL, *_ROW_DATES]
    return (
        _deal_moves(tables, period, as_of, params, timezone)
        .with_columns(**_bucket_columns())
        .unpivot(index=index, on=list(BUCKETS), variable_name="bucket", value_name="amount_delta")
        .drop_nulls("amount_delta")
        .with_columns(pl.col("bucket").cast(Bucket))
        .select("opp_id", "team", "sourced_by", "bucket", "amount_delta", *index[3:])
    )


def waterfall_rows(
    tables: Tables,
    *,
    period: Period,
    as_of: date,
    params: PipelineParams,
    timezone: str = "UTC",
) -> pl.DataFrame:
    """Drill-down of the pipeline waterfall: one row per deal × bucket it falls in, with
    the signed `amount_delta` and its stage, amount and close date at both window ends.
    Grain: (opp_id, bucket)."""
    return (
        _waterfall_rows(tables, period, as_of, params, timezone)
        .sort("opp_id", "bucket")
        .collect(engine=ENGINE)
    )


def pipeline_waterfall(
    tables: Tables,
    *,
    period: Period,
    as_of: date,
    params: PipelineParams,
    by: Sequence[str] = ("team",),
    timezone: str = "UTC",
) -> pl.DataFrame:
    """How the period's pipeline got from where it started to where it is now (the bridge).

    Window: from the start of the period to the end of min(`as_of`, last day of the period).
    In range = open, qualified, close date inside the period. Each deal is placed by a fixed
    precedence — existence, then in-range transitions, then amount change, then outcome:

    1. start: in range at window start, +amount at start.
    2. created: did not exist at start, and in range at end or closed in the window with a
       close date in the period: +amount at end.
    3. pulled_in: existed at start but not in range (other period, unqualified stage, or
       closed and later reopened), and in range at end or closed as in 2: +amount at start.
    4. increased / decreased: existed at start and counted as in 3 or in range at both ends
       or closed from in range: amount at end − amount at start.
    5. pushed_out: in range at start, neither in range at end nor closed in the period (close
       date moved out, fell back below qualified, or closed with an out-of-period date):
       −amount at start.
    6. won / lost: closed in the window with a close date in the period: −amount at end.
    7. end: in range at window end, +amount at end.

    So start + created + pulled_in + increased + decreased + pushed_out + won + lost == end
    for every deal, hence for every group. Only the two window ends are compared: a deal
    that closed and reopened inside the window shows no outcome. `by` is ("team",),
    ("sourced_by",) or both (the source-aware waterfall); with "team", "All teams" rows are
    added. Grain: (*by, bucket). Columns: amount (signed), deals.
    """
    keys = list(by)
    if not keys or not set(keys) <= set(WATERFALL_GROUPS) or len(set(keys)) != len(keys):
        raise ValueError(f"by must be a non-empty subset of {WATERFALL_GROUPS}, got {by!r}")
    rows = _waterfall_rows(tables, period, as_of, params, timezone)
    if "team" in keys:
        rows = _with_all_teams(rows)
    sums = rows.group_by(*keys, "bucket").agg(
        amount=pl.col("amount_delta").sum(), deals=pl.len().cast(pl.Int64)
    )
    grid = (
        rows.select(keys)
        .unique()
        .join(pl.LazyFrame({"bucket": BUCKETS}, schema={"bucket": Bucket}), how="cross")
    )
    return (
        grid.join(sums, on=[*keys, "bucket"], how="left")
        .with_columns(pl.col("amount").fill_null(0.0), pl.col("deals").fill_null(0))
        .sort(*keys, "bucket")
        .collect(engine=ENGINE)
    )


_CLOSED_IN_PERIOD = "close_date in the period"
_TEAM = "team × period (plus All teams)"

DEFINITIONS: tuple[MetricDefinition, ...] = (
    MetricDefinition(
        id="win_rate.count",
        name="Win rate (by count)",
        formula="#won / (#won + #lost)",
        unit="ratio",
        grain=_TEAM,
        date_anchor=_CLOSED_IN_PERIOD,
        good="stable or rising; the base of required coverage",
        question="shared_outcomes",
        owner_team="sales",
        filters="deals closed (won or lost) in the period; null when none closed",
        variants=("win_rate.amount", "win_rate.cohort"),
    ),
    MetricDefinition(
        id="win_rate.amount",
        name="Win rate (by amount)",
        formula="Σ amount won / (Σ amount won + Σ amount lost)",
        unit="ratio",
        grain=_TEAM,
        date_anchor=_CLOSED_IN_PERIOD,
        good="close to the count win rate; far below it means big deals are lost",
        question="shared_outcomes",
        owner_team="sales",
        filters="deals closed (won or lost) in the period; null amounts count as 0",
        variants=("win_rate.count", "win_rate.cohort"),
    ),
    MetricDefinition(
        id="sales_cycle_days",
        name="Sales cycle (days)",
        formula="median and mean of (close_date − created date) over won deals",
        unit="days",
        grain=_TEAM,
        date_anchor=_CLOSED_IN_PERIOD,
        good="short and stable",
        question="shared_outcomes",
        owner_team="sales",
        filters="deals won in the period; a deal whose close date is before its creation date "
        "(a negative cycle: data-quality check opp_close_before_created) is left out and "
        "counted in cycle_days_excluded",
        higher_is_better=False,
    ),
    MetricDefinition(
        id="coverage",
        name="Pipeline coverage",
        formula="open qualified pipeline closing in period / max(quota − closed won, 0)",
        unit="ratio",
        grain=_TEAM,
        date_anchor="deal state at the end of the as-of day; close_date in the period",
        good="at or above required coverage (1 / win rate)",
        question="shared_outcomes",
        owner_team="sales",
        filters="open deals at stage position ≥ qualified_from_position; null without quota",
        variants=("coverage.salesforce_inverse",),
    ),
    MetricDefinition(
        id="coverage.salesforce_inverse",
        name="Pipe coverage (Salesforce Forecast Insights)",
        formula="max(quota − closed won, 0) / open qualified pipeline closing in period",
        unit="ratio",
        grain=_TEAM,
        date_anchor="deal state at the end of the as-of day; close_date in the period",
        good="at or below the trailing win rate",
        question="shared_outcomes",
        owner_team="sales",
        filters="as coverage; null when there is no open pipeline",
        variants=("coverage",),
        higher_is_better=False,
    ),
    MetricDefinition(
        id="required_coverage",
        name="Required coverage",
        formula="1 / win_rate.count over the trailing 4 quarters",
        unit="ratio",
        grain=_TEAM,
        date_anchor="close_date in the 12 months before the period",
        good="the bar coverage must clear; lower means a better win rate",
        question="shared_outcomes",
        owner_team="sales",
        filters="deals closed in the trailing 4 quarters; null when none won",
        higher_is_better=False,
    ),
    MetricDefinition(
        id="pipeline_velocity",
        name="Pipeline velocity",
        formula="#qualified open opps × win rate × avg won amount / avg cycle days",
        unit="$/day",
        grain=_TEAM,
        date_anchor="open deals at the end of the as-of day; rates over the trailing 4 quarters",
        good="rising",
        question="shared_outcomes",
        owner_team="sales",
        filters="open deals at stage position ≥ qualified_from_position, any close date; won "
        "deals closed before their creation left out of the average cycle",
    ),
    MetricDefinition(
        id="pipeline_waterfall",
        name="Pipeline waterfall (bridge)",
        formula=(
            "start + created + pulled_in + increased + decreased + pushed_out + won + lost"
            " = end (decreased, pushed_out, won, lost negative)"
        ),
        unit="currency",
        grain="team (or sourced_by) × bucket × period",
        date_anchor="deal state at period start and at the end of min(as_of, period end)",
        good="little pushed out or decreased; wins larger than losses",
        question="forecast_integrity",
        owner_team="sales",
        filters="open deals at stage position ≥ qualified_from_position, close_date in period",
        higher_is_better=None,
    ),
)
