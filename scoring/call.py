"""This quarter's call: where each team stands against its number today, and what it said.

- **The call period** is the quarter containing the as-of date (`call_period`), unless one
  is given. Deals are read as they stood at the end of the as-of day (`opp_state_at`, as win
  rate and coverage do): a deal won after that day is still open in the call.
- **Buckets** (`CALL_BUCKETS`), over deals with a close date in the period, by the owner's
  team: *won* = closed won; *commit* = open in forecast category commit; *best case* = open
  in best case; *pipeline* = open in any other category (pipeline, most likely, or none
  recorded). Open deals in *omitted* and lost deals are in no bucket. Each bucket carries its
  deal count and `*_unknown`, the deals whose amount is unknown: counted, never summed as
  $0 (a bucket whose every deal lacks an amount has a null sum).
- **Gap to quota** = quota − won, signed: below 0 the team is *above quota* by that much
  (never clipped to 0). **Coverage of the gap** = open pipeline / gap, where open pipeline
  = commit + best case + pipeline (every open category except omitted, any stage: Salesforce
  Forecast Insights' "Open Pipe"), with both as columns. Without a quota the gap and the
  coverage are null and `notes` says why; above quota the coverage is null (no gap to cover).
- **Submissions**: each submitter's latest forecast for the period up to the as-of instant
  (`forecast.submission_levels`: a team call — no owner, or the team's manager — or an
  owner's own), with its age in days at as-of and `stale` when older than
  `ForecastParams.stale_days` (HubSpot: "submission not updated"). A team's call is its
  latest team-level submission, else the sum of its owners' latest ones.
- **Manager adjustment** = team call − Σ the team's owners' latest submissions, per
  category, where both exist: the layer a manager puts on top of the reps' numbers.
- **Trend**: at the end of each week of the period up to as-of, won so far, commit and best
  case as the deals stood then (rebuilt from the stage history), and the team's call then.
  Not measured (empty, with `call_trend_status`) when the stage history was derived by the
  connector rather than recorded: a derived history cannot say what a deal was last week.

Every frame has one row per team plus an "All teams" row that adds the teams up.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import polars as pl

from model.calendar import Calendar, Period
from model.params import ForecastParams
from model.tables import ALL_TEAMS, ENGINE, Tables, missing_message
from scoring.definitions import MetricDefinition
from scoring.forecast import TEAM_CALL, submission_levels
from scoring.history import _state_at, end_of_day, opp_state_at
from scoring.pipeline import QUOTAS_MISSING, _quota

DEFAULT_CALENDAR = Calendar()  # UTC, fiscal year from January
CALL_BUCKETS = ("won", "commit", "best_case", "pipeline")
OPEN_BUCKETS = ("commit", "best_case", "pipeline")
CATEGORIES = ("commit", "best_case", "pipeline")  # of a submission
TREND_NOT_MEASURED = (
    "the source has no recorded stage history (a derived one-row-per-deal history cannot "
    "say what a deal was at the end of an earlier week)"
)

_DEAL_COLUMNS = (
    "team",
    "opp_id",
    "name",
    "owner_id",
    "bucket",
    "stage",
    "forecast_category",
    "amount",
    "close_date",
)


def call_period(as_of: date, calendar: Calendar) -> Period:
    """The quarter the call is about: the one containing the as-of date."""
    return calendar.quarter_of(as_of)


def call_status(tables: Tables) -> str | None:
    """Why submissions are empty (no forecasts table), or None."""
    return missing_message(tables, "This quarter's submitted call", ("forecasts",))


def call_trend_status(tables: Tables) -> str | None:
    """Why the weekly trend is not measured, or None when the stage history is recorded."""
    if tables.is_derived("stage_history") or not tables.has("stage_history"):
        return TREND_NOT_MEASURED
    return None


# ---------------------------------------------------------------------------------------
# Deals in the call
# ---------------------------------------------------------------------------------------


def _bucket() -> pl.Expr:
    category = pl.col("forecast_category").cast(pl.String)
    return (
        pl.when(pl.col("is_won"))
        .then(pl.lit("won"))
        .when(pl.col("is_closed") | (category == "omitted").fill_null(False))
        .then(pl.lit(None, pl.String))
        .when(category == "commit")
        .then(pl.lit("commit"))
        .when(category == "best_case")
        .then(pl.lit("best_case"))
        .otherwise(pl.lit("pipeline"))
    )


def _deals_at(tables: Tables, period: Period, at: datetime, *, shared: bool = True) -> pl.LazyFrame:
    """Deals won, or open, with a close date in `period` as they stood at `at`, bucketed.
    `shared`: read the bundle's derived state at `at` (the as-of instant other metrics read
    too); the trend's week ends are read without filling the bundle's cache with them."""
    in_period = pl.col("close_date").is_between(period.start, period.end, closed="left")
    state = opp_state_at(tables, at=at) if shared else _state_at(tables, at)
    return (
        state.with_columns(pl.col("is_closed", "is_won").fill_null(False))
        .filter(in_period.fill_null(False))
        .with_columns(bucket=_bucket())
        .filter(pl.col("bucket").is_not_null())
    )


def call_deals(
    tables: Tables,
    *,
    as_of: date,
    calendar: Calendar = DEFAULT_CALENDAR,
    period: Period | None = None,
) -> pl.DataFrame:
    """Drill-down of the call: one row per deal in a bucket (won, commit, best case,
    pipeline) at the end of `as_of`, with its amount then (null when unknown)."""
    period = period or call_period(as_of, calendar)
    return (
        _deals_at(tables, period, end_of_day(as_of, calendar.timezone))
        .select(*_DEAL_COLUMNS)
        .sort("team", "bucket", "opp_id")
        .collect(engine=ENGINE)
    )


def _with_all_teams(rows: pl.LazyFrame) -> pl.LazyFrame:
    return pl.concat([rows, rows.with_columns(team=pl.lit(ALL_TEAMS))])


def _known_sum(amount: pl.Expr, keep: pl.Expr) -> pl.Expr:
    """Σ known amounts of the kept deals; null when every kept deal's amount is unknown."""
    kept = amount.filter(keep)
    return pl.when(keep.sum() == 0).then(0.0).when(kept.is_not_null().any()).then(kept.sum())


def _bucket_totals(deals: pl.LazyFrame) -> pl.LazyFrame:
    amount, bucket = pl.col("amount"), pl.col("bucket")
    aggs: list[pl.Expr] = []
    for b in CALL_BUCKETS:
        aggs += [
            _known_sum(amount, bucket == b).alias(b),
            (bucket == b).sum().cast(pl.Int64).alias(f"{b}_deals"),
            ((bucket == b) & amount.is_null()).sum().cast(pl.Int64).alias(f"{b}_unknown"),
        ]
    return _with_all_teams(deals).group_by("team").agg(aggs)


# ---------------------------------------------------------------------------------------
# Submissions
# ---------------------------------------------------------------------------------------


def _latest(tables: Tables, period: Period, at: datetime) -> pl.LazyFrame:
    """Each submitter's latest submission for `period` made by `at`: one row per team ×
    submitter, with its level, owner, newest time and one column per category."""
    category, amount = pl.col("category").cast(pl.String), pl.col("amount")
    latest = (
        submission_levels(tables)
        .filter(pl.col("period") == period.name, pl.col("submitted_at") <= at)
        .group_by("team", "level", "submitter", "category")
        .agg(pl.col("owner_id", "amount", "submitted_at").sort_by("submitted_at", "amount").last())
    )
    return latest.group_by("team", "level", "submitter").agg(
        owner_id=pl.col("owner_id").sort_by("submitted_at", "owner_id", nulls_last=False).last(),
        submitted_at=pl.col("submitted_at").max(),
        **{c: amount.filter(category == c).first() for c in CATEGORIES},
    )


def _sum_known(column: str) -> pl.Expr:
    return pl.when(pl.col(column).is_not_null().any()).then(pl.col(column).sum())


def _team_calls(latest: pl.LazyFrame) -> pl.LazyFrame:
    """Per team: its call (the team-level submission, else Σ owners'), its newest time, and
    where it came from (`call_source`)."""
    is_team = pl.col("level") == "team"
    used = is_team | ~is_team.any()
    return latest.group_by("team").agg(
        *(
            pl.when(pl.col(c).filter(used).is_not_null().any())
            .then(pl.col(c).filter(used).sum())
            .alias(f"call_{c}")
            for c in CATEGORIES
        ),
        submitted_at=pl.col("submitted_at").filter(used).max(),
        call_source=pl.when(is_team.any())
        .then(pl.lit("team call"))
        .otherwise(pl.lit("owners' roll-up")),
    )


def _age(as_of: date, params: ForecastParams, timezone: str) -> list[pl.Expr]:
    days = pl.lit(as_of) - pl.col("submitted_at").dt.convert_time_zone(timezone).dt.date()
    age = days.dt.total_days().cast(pl.Int64)
    return [age.alias("age_days"), (age > params.stale_days).alias("stale")]


def _names(tables: Tables) -> pl.LazyFrame:
    return tables.users.select(owner_id="user_id", owner="name")


def submissions(
    tables: Tables,
    *,
    as_of: date,
    params: ForecastParams,
    calendar: Calendar = DEFAULT_CALENDAR,
    period: Period | None = None,
) -> pl.DataFrame:
    """Who said what, and how long ago: each submitter's latest forecast for the call period
    up to the end of `as_of` — one row per team call and per owner (level "team" / "owner",
    owner's name), commit / best case / pipeline, `age_days` at as-of and `stale` when older
    than `params.stale_days`."""
    period = period or call_period(as_of, calendar)
    at = end_of_day(as_of, calendar.timezone)
    return (
        _latest(tables, period, at)
        .join(_names(tables), on="owner_id", how="left")
        .with_columns(*_age(as_of, params, calendar.timezone))
        .select(
            "team",
            "level",
            "owner",
            "owner_id",
            "submitted_at",
            *CATEGORIES,
            "age_days",
            "stale",
        )
        .sort("team", pl.col("level") != "team", "owner", "owner_id", nulls_last=True)
        .collect(engine=ENGINE)
    )


def manager_adjustments(
    tables: Tables,
    *,
    as_of: date,
    calendar: Calendar = DEFAULT_CALENDAR,
    period: Period | None = None,
) -> pl.DataFrame:
    """The roll-up from reps to the team's call, with the manager's adjustment as its own
    layer: for each team that has both a team call and owners' submissions, one row per
    owner (layer "owner"), one "manager adjustment" row (team call − Σ owners, per
    category) and the "team call" row, so the owner rows plus the adjustment add up to the
    call. Teams with only one level are absent."""
    period = period or call_period(as_of, calendar)
    latest = _latest(tables, period, end_of_day(as_of, calendar.timezone))
    both = (
        latest.group_by("team")
        .agg(levels=pl.col("level").n_unique())
        .filter(pl.col("levels") == 2)
        .select("team")
    )
    rows = latest.join(both, on="team", how="semi")
    owners = (
        rows.filter(pl.col("level") == "owner")
        .join(_names(tables), on="owner_id", how="left")
        .select(
            "team",
            *CATEGORIES,
            layer=pl.lit("owner"),
            owner=pl.coalesce("owner", "owner_id"),
            order=pl.lit(0),
        )
    )
    call = rows.filter(pl.col("submitter") == TEAM_CALL).select(
        "team",
        *CATEGORIES,
        layer=pl.lit("team call"),
        owner=pl.lit(None, pl.String),
        order=pl.lit(2),
    )
    owner_sums = owners.group_by("team").agg(_sum_known(c).alias(f"owners_{c}") for c in CATEGORIES)
    adjustment = call.join(owner_sums, on="team").select(
        "team",
        *((pl.col(c) - pl.col(f"owners_{c}")).alias(c) for c in CATEGORIES),
        layer=pl.lit("manager adjustment"),
        owner=pl.lit(None, pl.String),
        order=pl.lit(1),
    )
    return (
        pl.concat([owners, adjustment, call])
        .sort("team", "order", "owner", nulls_last=True)
        .select("team", "layer", "owner", *CATEGORIES)
        .collect(engine=ENGINE)
    )


# ---------------------------------------------------------------------------------------
# The call
# ---------------------------------------------------------------------------------------


def _teams(deals: pl.LazyFrame, quota: pl.LazyFrame, calls: pl.LazyFrame) -> pl.LazyFrame:
    parts = [deals.select("team"), quota.select("team"), calls.select("team")]
    return pl.concat([*parts, pl.LazyFrame({"team": [ALL_TEAMS]})]).unique()


def _all_teams_call(calls: pl.LazyFrame) -> pl.LazyFrame:
    """The company row of the submissions: Σ teams' calls; the oldest team's newest time."""
    return calls.select(
        team=pl.lit(ALL_TEAMS),
        **{f"call_{c}": _sum_known(f"call_{c}") for c in CATEGORIES},
        submitted_at=pl.col("submitted_at").min(),
        call_source=pl.lit("Σ teams' calls"),
    )


def _quota_notes(tables: Tables, period: Period) -> pl.Expr:
    """Why the gap is not measured (or the team is above quota); null when it is measured."""
    is_total = pl.col("team") == ALL_TEAMS
    lacking = pl.col("team").filter(pl.col("quota").is_null() & ~is_total).sort().str.join(", ")
    if not tables.has("quotas"):
        return pl.lit(f"not measured: {QUOTAS_MISSING}")
    return (
        pl.when(is_total & (lacking != ""))
        .then(pl.lit("not measured: no quota for ") + lacking)
        .when(pl.col("quota").is_null())
        .then(pl.lit(f"not measured: no quota for {period.name}"))
        .when(pl.col("won").is_null())
        .then(pl.lit("not measured: no won deal has an amount"))
        .when(pl.col("gap") <= 0)
        .then(pl.lit("above quota: no gap to cover"))
    )


CALL_COLUMNS = (
    "team",
    "period",
    *(c for b in CALL_BUCKETS for c in (b, f"{b}_deals", f"{b}_unknown")),
    "quota",
    "gap",
    "open_pipeline",
    "coverage",
    "quota_status",
    "call_commit",
    "call_best_case",
    "call_pipeline",
    "call_source",
    "submitted_at",
    "age_days",
    "stale",
    "notes",
)


def call(
    tables: Tables,
    *,
    as_of: date,
    params: ForecastParams,
    calendar: Calendar = DEFAULT_CALENDAR,
    period: Period | None = None,
) -> pl.DataFrame:
    """This quarter's call per team and for all teams: closed won, commit, best case and
    pipeline against quota; the gap to quota (quota − won; negative = above quota) and how
    many times the open pipeline covers it (open_pipeline / gap); and the latest submitted
    call with its age and a stale flag.

    `quota_status`: "below quota", "above quota" (won ≥ quota) or "not measured" (with the
    reason in `notes`: no quotas table, no quota for the team, or — for All teams — some
    team without one). All teams' call is the sum of the teams' calls, its `submitted_at`
    the oldest team's latest (so it is stale when any team's call is)."""
    period = period or call_period(as_of, calendar)
    at = end_of_day(as_of, calendar.timezone)
    deals = _deals_at(tables, period, at)
    quota = _quota(tables, period)
    calls = _team_calls(_latest(tables, period, at))
    calls = pl.concat([calls, _all_teams_call(calls)], how="diagonal_relaxed")
    gap = pl.col("quota") - pl.col("won")
    open_pipeline = pl.sum_horizontal(pl.col(list(OPEN_BUCKETS)).fill_null(0.0))
    zero_counts = [f"{b}_{k}" for b in CALL_BUCKETS for k in ("deals", "unknown")]
    frame = (
        _teams(deals, quota, calls)
        .join(_bucket_totals(deals), on="team", how="left")
        .with_columns(pl.col(zero_counts).fill_null(0))
        .with_columns(pl.col(list(CALL_BUCKETS)).fill_null(0.0))
        .with_columns(
            # a bucket total over deals whose amounts are all unknown stays unknown
            *(
                pl.when(
                    (pl.col(f"{b}_deals") > 0) & (pl.col(f"{b}_deals") == pl.col(f"{b}_unknown"))
                )
                .then(None)
                .otherwise(b)
                .alias(b)
                for b in CALL_BUCKETS
            )
        )
        .join(quota, on="team", how="left")
    )
    # All teams: a quota only when every team has one (a partial sum would understate it).
    lacking = (pl.col("quota").is_null() & (pl.col("team") != ALL_TEAMS)).any()
    frame = frame.with_columns(
        quota=pl.when((pl.col("team") == ALL_TEAMS) & lacking).then(None).otherwise("quota")
    )
    frame = frame.with_columns(gap=gap, open_pipeline=open_pipeline).with_columns(
        notes=_quota_notes(tables, period)
    )
    measured = pl.col("notes").is_null() | pl.col("notes").str.starts_with("above")
    return (
        frame.with_columns(
            gap=pl.when(measured).then("gap"),
            coverage=pl.when(measured & (pl.col("gap") > 0)).then(
                pl.col("open_pipeline") / pl.col("gap")
            ),
            quota_status=pl.when(~measured)
            .then(pl.lit("not measured"))
            .when(pl.col("gap") <= 0)
            .then(pl.lit("above quota"))
            .otherwise(pl.lit("below quota")),
            period=pl.lit(period.name),
        )
        .join(calls, on="team", how="left")
        .with_columns(*_age(as_of, params, calendar.timezone))
        .select(*CALL_COLUMNS)
        .sort(pl.col("team") == ALL_TEAMS, "team")
        .collect(engine=ENGINE)
    )


# ---------------------------------------------------------------------------------------
# Weekly trend
# ---------------------------------------------------------------------------------------


def week_ends(period: Period, as_of: date) -> list[date]:
    """The last day of each week of `period` begun by `as_of` (week 1 = days 1–7); the
    current week ends on `as_of`, the last one on the period's last day."""
    last = min(period.last_day, as_of)
    count = (last - period.start).days // 7 + 1 if last >= period.start else 0
    return [min(period.start + timedelta(days=7 * k + 6), last) for k in range(count)]


TREND_COLUMNS = ("team", "week", "week_end", "won", "commit", "best_case", "call_commit")


def call_trend(
    tables: Tables,
    *,
    as_of: date,
    calendar: Calendar = DEFAULT_CALENDAR,
    period: Period | None = None,
) -> pl.DataFrame:
    """How the call moved over the quarter: at the end of each week so far, per team and
    for all teams, won to date, commit and best case as the deals stood then, and the
    team's submitted commit then (null before its first submission). Empty when
    `call_trend_status` says the history cannot show earlier weeks."""
    period = period or call_period(as_of, calendar)
    schema = {
        "team": pl.String,
        "week": pl.Int32,
        "week_end": pl.Date,
        **{c: pl.Float64 for c in TREND_COLUMNS[3:]},
    }
    if call_trend_status(tables) is not None:
        return pl.DataFrame(schema=schema)
    weeks = []
    for week, day in enumerate(week_ends(period, as_of), start=1):
        at = end_of_day(day, calendar.timezone)
        totals = _bucket_totals(_deals_at(tables, period, at, shared=False)).select(
            "team", "won", "commit", "best_case"
        )
        calls = _team_calls(_latest(tables, period, at)).select("team", "call_commit")
        calls = pl.concat(
            [calls, calls.select(team=pl.lit(ALL_TEAMS), call_commit=_sum_known("call_commit"))]
        )
        teams = pl.concat([totals.select("team"), calls.select("team")]).unique()
        weeks.append(
            teams.join(totals, on="team", how="left")
            .join(calls, on="team", how="left")
            .with_columns(pl.col("won", "commit", "best_case").fill_null(0.0))
            .with_columns(week=pl.lit(week, pl.Int32), week_end=pl.lit(day))
        )
    if not weeks:
        return pl.DataFrame(schema=schema)
    return (
        pl.concat(weeks, how="diagonal_relaxed")
        .select(*TREND_COLUMNS)
        .cast(schema)
        .sort(pl.col("team") == ALL_TEAMS, "team", "week")
        .collect(engine=ENGINE)
    )


# ---------------------------------------------------------------------------------------
# Definitions
# ---------------------------------------------------------------------------------------

_Q = "forecast_integrity"
_GRAIN = "team × call period (plus All teams)"
_STATE = "deal state at the end of the as-of day; close date in the quarter containing as-of"


def _bucket_def(id_: str, name: str, formula: str, filters: str) -> MetricDefinition:
    return MetricDefinition(
        id=id_,
        name=name,
        formula=formula,
        unit="currency",
        grain=_GRAIN,
        date_anchor=_STATE,
        good="read against quota and the gap",
        question=_Q,
        owner_team="sales",
        filters=filters + "; deals with an unknown amount are counted (`*_unknown`), not summed",
        higher_is_better=None,
    )


DEFINITIONS: tuple[MetricDefinition, ...] = (
    _bucket_def(
        "call.won",
        "Closed won (this quarter)",
        "Σ amount of deals won with a close date in the quarter",
        "won as of the end of the as-of day",
    ),
    _bucket_def(
        "call.commit",
        "Commit (this quarter)",
        "Σ amount of open deals in forecast category commit closing in the quarter",
        "open deals; category as of the as-of day",
    ),
    _bucket_def(
        "call.best_case",
        "Best case (this quarter)",
        "Σ amount of open deals in forecast category best case closing in the quarter",
        "open deals; category as of the as-of day",
    ),
    _bucket_def(
        "call.pipeline",
        "Pipeline (this quarter)",
        "Σ amount of open deals in any other open category (pipeline, most likely, none "
        "recorded) closing in the quarter",
        "open deals; omitted deals and lost deals excluded",
    ),
    MetricDefinition(
        id="call.gap",
        name="Gap to quota",
        formula="quota − closed won; negative = above quota by that much (never clipped to 0)",
        unit="currency",
        grain=_GRAIN,
        date_anchor=_STATE,
        good="≤ 0 by the quarter's end",
        question="shared_outcomes",
        owner_team="sales",
        filters="team quota (else Σ its reps' quotas) for the quarter; not measured without a "
        "quota, and for All teams when any team lacks one",
        higher_is_better=False,
    ),
    MetricDefinition(
        id="call.coverage",
        name="Coverage of the gap",
        formula="open pipeline / gap, open pipeline = commit + best case + pipeline (every "
        "open category but omitted, any stage); numerator open_pipeline, denominator gap",
        unit="ratio",
        grain=_GRAIN,
        date_anchor=_STATE,
        good="≥ 1 / win rate (3× at a 33 % win rate); ≥ 1 at the very least",
        question="shared_outcomes",
        owner_team="sales",
        filters="not measured without a quota; none above quota (no gap to cover)",
        variants=("coverage",),
    ),
    MetricDefinition(
        id="call.submission_age",
        name="Submission age (stale call)",
        formula="as-of date − local date of the latest submission; stale when > stale_days",
        unit="days",
        grain="team (and owner) × call period",
        date_anchor="submitted_at, up to the end of the as-of day",
        good="≤ stale_days (default 7): the call is updated every week",
        question=_Q,
        owner_team="sales",
        filters="team call = latest submission without an owner or by the team's manager, else "
        "Σ owners' latest; All teams = the oldest team call; stale_days in [forecast]",
        higher_is_better=False,
    ),
    MetricDefinition(
        id="call.manager_adjustment",
        name="Manager adjustment",
        formula="team call − Σ the team's owners' latest submissions, per category",
        unit="currency",
        grain="team × category × call period",
        date_anchor="submitted_at, up to the end of the as-of day",
        good="small and explained: the manager's judgement on top of the reps' numbers",
        question=_Q,
        owner_team="sales",
        filters="teams with both a team call and owners' submissions",
        higher_is_better=None,
    ),
    MetricDefinition(
        id="call.trend",
        name="The call by week",
        formula="at the end of each week of the quarter: won to date, commit and best case as "
        "the deals stood then, and the team's submitted commit then",
        unit="currency",
        grain="team × week of the call period",
        date_anchor="end of each week (the current week ends on as-of)",
        good="won + commit climbing towards quota; the submitted commit tracking them",
        question=_Q,
        owner_team="sales",
        filters="not measured when the stage history was derived rather than recorded",
        higher_is_better=None,
    ),
)
