"""Forecast integrity: how close each team's call came to what closed, whether bad news
surfaced early, and where the miss came from.

- **Forecast** = a team's submitted number for a period and category (`forecasts`). Every
  submission is kept; a team's figure for a week is its team call (the latest submission
  without an owner or by the team's manager, `submission_levels`) up to that week's end, or
  where it has none the sum of each owner's latest submission up to then. Weeks are 1-based
  weeks of the period (week 0 = submitted before the period began); submissions after the
  as-of date are ignored.
- **Actual** = closed-won amount with close date in the period, by the owner's team, as the
  deals stood at the end of the as-of day (rebuilt from `stage_history`).
- Only **complete** periods (as-of on or after the period's last day) are judged; rows of an
  in-progress period carry `is_complete=False` and null variance/accuracy/bias/ratio.

**Not available.** Without a `forecasts` table the forecast-based functions return an empty
frame with their full schema, and `forecast_status(tables)` returns the message to show
(it returns None when forecasts are present). Slippage and late-risk need no forecasts.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

import polars as pl

from model.calendar import Calendar, Period, last_day, local_date
from model.params import ForecastParams
from model.tables import ENGINE, Tables, missing_message, opportunities_with_team
from scoring.definitions import MetricDefinition
from scoring.history import EVENT_ORDER, end_of_day, opp_state_at
from scoring.windows import shift_in

ALL_SOURCES = "(all)"
BELOW_COMMIT = ("pipeline", "best_case", "most_likely", "omitted")
_TEAM_PERIOD = ("team", "period")
# Same-instant history rows are ordered by their values, so results never depend on row order.
_TIE_ORDER = ("entered_at", "stage", "close_date", "amount")


def forecast_status(tables: Tables) -> str | None:
    """Why forecast metrics are empty, or None when the forecasts table is present."""
    return missing_message(tables, "Forecast accuracy", ("forecasts",))


# ---------------------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------------------


def _start_of(day: date, timezone: str = "UTC") -> datetime:
    """The first instant of `day` in the reporting time zone: where a period begins."""
    return Calendar(timezone).start_of(day)


def _in_period(col: str, period: Period) -> pl.Expr:
    return pl.col(col).is_between(period.start, period.end, closed="left").fill_null(False)


def _periods_frame(periods: Sequence[Period], as_of: date) -> pl.LazyFrame:
    """One row per period: name, `[start, end)` and whether it is over at `as_of`."""
    return pl.LazyFrame(
        {
            "period": [p.name for p in periods],
            "start": [p.start for p in periods],
            "end": [p.end for p in periods],
            "is_complete": [as_of >= last_day(p) for p in periods],
        },
        schema={"period": pl.String, "start": pl.Date, "end": pl.Date, "is_complete": pl.Boolean},
    )


def _judge(frame: pl.LazyFrame) -> pl.LazyFrame:
    """Variance, accuracy, bias and ratio of `forecast` against `actual`.

    Null when the period is not complete; accuracy/bias/ratio also null when actual is 0,
    the two forecast-based variants null when the forecast is 0.
    """
    f, a = pl.col("forecast"), pl.col("actual")
    done = pl.col("is_complete")
    on_a, on_f = done & (a != 0), done & (f != 0)
    return frame.with_columns(
        variance=pl.when(done).then(f - a),
        accuracy=pl.when(on_a).then(1 - (f - a).abs() / a),
        bias=pl.when(on_a).then((f - a) / a),
        ratio=pl.when(on_a).then(f / a),
        accuracy_vs_forecast=pl.when(on_f).then(1 - (f - a).abs() / f),
        variance_pct=pl.when(on_f).then((a - f).abs() / f),
    )


TEAM_CALL = "(team)"  # the submitter of a team-level call (no owner, or the team's manager)


def submission_levels(tables: Tables) -> pl.LazyFrame:
    """Every forecast submission with its `level`: "team" for a team's call — no owner, or
    an owner who manages someone in that team (a manager's submission, which in
    Collaborative Forecasts already holds the reps' numbers plus the manager's
    adjustments) — and "owner" for a rep's own forecast. `submitter` is `TEAM_CALL` for
    the team level, else the owner."""
    managers = (
        tables.users.filter(pl.col("manager_id").is_not_null())
        .select(owner_id="manager_id", team="team", manages=pl.lit(True))
        .unique()
    )
    team_level = pl.col("owner_id").is_null() | pl.col("manages").fill_null(False)
    return (
        tables.forecasts.join(managers, on=["owner_id", "team"], how="left")
        .with_columns(level=pl.when(team_level).then(pl.lit("team")).otherwise(pl.lit("owner")))
        .with_columns(submitter=pl.when(team_level).then(pl.lit(TEAM_CALL)).otherwise("owner_id"))
        .drop("manages")
    )


def _submissions(
    tables: Tables, periods: Sequence[Period], as_of: date, timezone: str = "UTC"
) -> pl.LazyFrame:
    """Forecast submissions of the given periods up to `as_of`, with their week of period."""
    days = (local_date(pl.col("submitted_at"), timezone) - pl.col("start")).dt.total_days()
    return (
        submission_levels(tables)
        .filter(pl.col("submitted_at") <= end_of_day(as_of, timezone))
        .join(_periods_frame(periods, as_of).select("period", "start"), on="period")
        .with_columns(week=(days // 7 + 1).clip(lower_bound=0).cast(pl.Int32))
    )


def _team_weekly(subs: pl.LazyFrame) -> pl.LazyFrame:
    """Team forecast per team × period × category × week in which anyone submitted: the
    team's call (its latest team-level submission up to the end of that week) when it has
    made one, else the sum of each owner's latest submission up to then. A manager's call
    already holds the reps' numbers, so the two are never added."""
    keys = ["team", "period", "category"]
    latest = subs.group_by(*keys, "submitter", "week").agg(
        pl.col("amount").sort_by("submitted_at", "amount").last(),
        pl.col("submitted_at").max(),
    )
    weeks = latest.select(*keys, "week").unique()
    carried = (
        weeks.join(latest.rename({"week": "sub_week"}), on=keys)
        .filter(pl.col("sub_week") <= pl.col("week"))
        .group_by(*keys, "week", "submitter")
        .agg(pl.col("amount", "submitted_at").sort_by("sub_week").last())
        .with_columns(is_team=pl.col("submitter") == TEAM_CALL)
    )
    used = pl.col("is_team") | ~pl.col("is_team").any()
    return carried.group_by(*keys, "week").agg(
        forecast=pl.col("amount").filter(used).sum(),
        submitted_at=pl.col("submitted_at").filter(used).max(),
        submitters=used.sum().cast(pl.Int32),
    )


def _with_actuals(
    frame: pl.LazyFrame,
    tables: Tables,
    periods: Sequence[Period],
    as_of: date,
    timezone: str = "UTC",
) -> pl.LazyFrame:
    """Attach each team × period's actual (0 when nothing was won) and `is_complete`."""
    won = _actuals(tables, periods, as_of, timezone).select(*_TEAM_PERIOD, "actual")
    done = _periods_frame(periods, as_of).select("period", "is_complete")
    return (
        frame.join(won, on=list(_TEAM_PERIOD), how="left")
        .join(done, on="period", how="left")
        .with_columns(pl.col("actual").fill_null(0.0))
    )


# ---------------------------------------------------------------------------------------
# Actuals and forecast accuracy
# ---------------------------------------------------------------------------------------


def actual_deals(
    tables: Tables, *, periods: Sequence[Period], as_of: date, timezone: str = "UTC"
) -> pl.LazyFrame:
    """Drill-down of actuals: one row per deal won with a close date in one of `periods`,
    as it stood at the end of `as_of` (period, team, opp_id, sourced_by, close_date, amount)."""
    periods_lf = _periods_frame(periods, as_of).select("period", "start", "end")
    return (
        opp_state_at(tables, at=end_of_day(as_of, timezone))
        .filter(pl.col("is_won").fill_null(False))
        .join(periods_lf, how="cross")
        .filter(pl.col("close_date") >= pl.col("start"), pl.col("close_date") < pl.col("end"))
        .select("period", "team", "opp_id", "sourced_by", "close_date", "amount")
    )


def _actuals(
    tables: Tables, periods: Sequence[Period], as_of: date, timezone: str = "UTC"
) -> pl.LazyFrame:
    return (
        actual_deals(tables, periods=periods, as_of=as_of, timezone=timezone)
        .group_by(*_TEAM_PERIOD)
        .agg(actual=pl.col("amount").fill_null(0.0).sum(), won_count=pl.len().cast(pl.Int32))
        .join(_periods_frame(periods, as_of).select("period", "is_complete"), on="period")
    )


def actuals(
    tables: Tables, *, periods: Sequence[Period], as_of: date, timezone: str = "UTC"
) -> pl.DataFrame:
    """What each team actually closed: won amount and deal count per team × period (teams
    with nothing won are absent), and whether the period is over at `as_of`."""
    return _actuals(tables, periods, as_of, timezone).sort(*_TEAM_PERIOD).collect(engine=ENGINE)


def forecast_variance(
    tables: Tables,
    *,
    periods: Sequence[Period],
    as_of: date,
    params: ForecastParams,
    timezone: str = "UTC",
) -> pl.DataFrame:
    """Week by week, how far each team's call sat from what finally closed.

    One row per team × period × category × week with a submission: forecast, actual,
    variance = F − A, accuracy = 1 − |F − A| / A, bias = (F − A) / A (+ = over-forecast),
    ratio = F / A. `params` is accepted for a uniform signature; all categories are shown.
    """
    del params
    weekly = _team_weekly(_submissions(tables, periods, as_of, timezone))
    return (
        _judge(_with_actuals(weekly, tables, periods, as_of, timezone))
        .sort("team", "period", "category", "week")
        .collect(engine=ENGINE)
    )


def _lock_forecast(
    tables: Tables,
    periods: Sequence[Period],
    as_of: date,
    params: ForecastParams,
    timezone: str = "UTC",
) -> pl.LazyFrame:
    """Each team's `params.category` forecast as it stood at the end of the lock week."""
    weekly = _team_weekly(_submissions(tables, periods, as_of, timezone))
    return (
        weekly.filter(pl.col("category") == params.category, pl.col("week") <= params.lock_week)
        .group_by(*_TEAM_PERIOD, "category")
        .agg(pl.all().sort_by("week").last())
        .with_columns(lock_week=pl.lit(params.lock_week, dtype=pl.Int32))
    )


def _accuracy(
    tables: Tables,
    periods: Sequence[Period],
    as_of: date,
    params: ForecastParams,
    timezone: str = "UTC",
) -> pl.LazyFrame:
    lock = _lock_forecast(tables, periods, as_of, params, timezone)
    return _judge(_with_actuals(lock, tables, periods, as_of, timezone)).select(
        "team",
        "period",
        "category",
        "lock_week",
        "week",
        "submitted_at",
        "forecast",
        "actual",
        "variance",
        "accuracy",
        "bias",
        "ratio",
        "accuracy_vs_forecast",
        "variance_pct",
        "is_complete",
    )


def forecast_accuracy(
    tables: Tables,
    *,
    periods: Sequence[Period],
    as_of: date,
    params: ForecastParams,
    timezone: str = "UTC",
) -> pl.DataFrame:
    """How good each team's locked call was: the `params.category` forecast standing at the
    end of week `params.lock_week` vs actual, per team × period. `week` is the submission
    week actually used (latest at or before the lock week); teams that had not submitted by
    then are absent. Accuracy 1 − |F − A| / A can go below 0 (F more than 2 × A)."""
    rows = _accuracy(tables, periods, as_of, params, timezone)
    return rows.sort(*_TEAM_PERIOD).collect(engine=ENGINE)


WAPE_COLUMNS = (
    "period",
    "teams",
    "forecast",
    "actual",
    "abs_error",
    "signed_error",
    "is_complete",
    "wape",
    "bias",
    # the spread behind the pooled bias
    "teams_judged",
    "bias_min",
    "bias_min_team",
    "bias_max",
    "bias_max_team",
    "teams_off",
    "off_actual",
    "off_share",
)


def wape(
    tables: Tables,
    *,
    periods: Sequence[Period],
    as_of: date,
    params: ForecastParams,
    timezone: str = "UTC",
) -> pl.DataFrame:
    """Company-level forecast error per period, rolled up from the teams' own misses.

    WAPE = Σ|F − A| / ΣA over teams' locked calls: each team's miss counts whatever its
    sign, so a team 25 % low and one 30 % high add up instead of cancelling (company
    accuracy = 1 − WAPE). The pooled bias Σ(F − A) / ΣA does net them out, so it comes with
    its spread: the lowest and highest team bias (`bias_min`/`bias_max`, with the team),
    `teams_judged` (teams with a bias: actual ≠ 0) and `teams_off` of them missing by more
    than `params.miss_band`, whose actual `off_actual` is `off_share` of ΣA. Null for
    in-progress periods."""
    rows = _accuracy(tables, periods, as_of, params, timezone)
    gap = pl.col("forecast") - pl.col("actual")
    done = pl.col("is_complete")
    judged = done & (pl.col("actual") != 0)
    bias = pl.col("bias")  # per team; null unless complete and actual ≠ 0
    off = bias.abs() > params.miss_band
    return (
        rows.group_by("period")
        .agg(
            teams=pl.len().cast(pl.Int32),
            forecast=pl.col("forecast").sum(),
            actual=pl.col("actual").sum(),
            abs_error=gap.abs().sum(),
            signed_error=gap.sum(),
            is_complete=done.all(),
            teams_judged=bias.is_not_null().sum().cast(pl.Int32),
            bias_min=bias.min(),
            bias_min_team=pl.col("team").sort_by(bias, "team", nulls_last=True).first(),
            bias_max=bias.max(),
            bias_max_team=pl.col("team")
            .sort_by(bias, "team", descending=[True, False], nulls_last=True)
            .first(),
            teams_off=off.sum().cast(pl.Int32),
            off_actual=pl.col("actual").filter(off).sum(),
        )
        .with_columns(
            wape=pl.when(judged).then(pl.col("abs_error") / pl.col("actual")),
            bias=pl.when(judged).then(pl.col("signed_error") / pl.col("actual")),
            off_share=pl.when(judged).then(pl.col("off_actual") / pl.col("actual")),
            teams_off=pl.when(judged).then("teams_off"),
            off_actual=pl.when(judged).then("off_actual"),
            # nulls sort last: the first team is a judged one whenever there is one
            bias_min_team=pl.when(pl.col("bias_min").is_not_null()).then("bias_min_team"),
            bias_max_team=pl.when(pl.col("bias_max").is_not_null()).then("bias_max_team"),
        )
        .select(*WAPE_COLUMNS)
        .sort("period")
        .collect(engine=ENGINE)
    )


def forecast_trend(
    tables: Tables,
    *,
    periods: Sequence[Period],
    as_of: date,
    params: ForecastParams,
    timezone: str = "UTC",
) -> pl.DataFrame:
    """Whether a team's miss is noise or a habit: per team, the locked-call accuracy and bias
    of each complete period (oldest first), mean bias, periods over/under, and a `pattern`:
    `sandbagging` (bias < 0 in every judged period, at least 2), `over_forecasting` (> 0 in
    every one), `mixed`, or `insufficient_history` (fewer than 2 judged periods)."""
    judged = _accuracy(tables, periods, as_of, params, timezone)
    judged = judged.filter(pl.col("bias").is_not_null())
    n, over, under = pl.col("periods_judged"), pl.col("periods_over"), pl.col("periods_under")
    return (
        judged.group_by("team")
        .agg(
            pl.col("period", "accuracy", "bias").sort_by("period"),
            mean_bias=pl.col("bias").mean(),
            periods_judged=pl.len().cast(pl.Int32),
            periods_over=(pl.col("bias") > 0).sum().cast(pl.Int32),
            periods_under=(pl.col("bias") < 0).sum().cast(pl.Int32),
        )
        .with_columns(
            pattern=pl.when(n < 2)
            .then(pl.lit("insufficient_history"))
            .when(under == n)
            .then(pl.lit("sandbagging"))
            .when(over == n)
            .then(pl.lit("over_forecasting"))
            .otherwise(pl.lit("mixed"))
        )
        .sort("team")
        .collect(engine=ENGINE)
    )


# ---------------------------------------------------------------------------------------
# Slippage
# ---------------------------------------------------------------------------------------


def _pushes(
    tables: Tables, as_of: date, deals: pl.LazyFrame, timezone: str = "UTC"
) -> pl.LazyFrame:
    """Per opportunity of `deals` (an opp_id column): number of close-date increases in its
    history up to `as_of`, and the total days pushed (sum of the increases). Rows without a
    close date are skipped."""
    step = (pl.col("close_date") - shift_in("close_date", "opp_id")).dt.total_days()
    return (
        tables.stage_history.filter(
            pl.col("entered_at") <= end_of_day(as_of, timezone), pl.col("close_date").is_not_null()
        )
        .join(deals.select("opp_id"), on="opp_id", how="semi")
        .join(tables.stages.select("stage", "position"), on="stage", how="left")
        .sort("opp_id", *EVENT_ORDER, nulls_last=False)
        .with_columns(step=step)
        .group_by("opp_id")
        .agg(
            pushes=(pl.col("step") > 0).sum().cast(pl.Int32),
            push_days=pl.col("step").filter(pl.col("step") > 0).sum().cast(pl.Int64),
        )
    )


def _slip_frame(tables: Tables, period: Period, as_of: date, timezone: str = "UTC") -> pl.LazyFrame:
    """Every deal open with a close date in `period` at its start, flagged `slipped`."""
    at_start = (
        opp_state_at(tables, at=_start_of(period.start, timezone))
        .filter(~pl.col("is_closed").fill_null(False), _in_period("close_date", period))
        .select(
            "opp_id",
            "team",
            "sourced_by",
            pl.col("amount").fill_null(0.0).alias("amount_at_start"),
            pl.col("close_date").alias("close_date_at_start"),
        )
    )
    now = opp_state_at(tables, at=end_of_day(as_of, timezone)).select(
        "opp_id",
        pl.col("close_date").alias("close_date_now"),
        pl.col("stage").alias("stage_now"),
        pl.col("is_closed").fill_null(False).alias("is_closed_now"),
    )
    over = as_of >= last_day(period)
    closed_in = pl.col("is_closed_now") & _in_period("close_date_now", period)
    after = (pl.col("close_date_now") >= period.end).fill_null(False)
    return (
        at_start.join(now, on="opp_id", how="left")
        .join(_pushes(tables, as_of, at_start, timezone), on="opp_id", how="left")
        .with_columns(
            pl.col("pushes").fill_null(0),
            pl.col("push_days").fill_null(0),
            slipped=~closed_in & (after | (pl.lit(over) & ~pl.col("is_closed_now"))),
        )
    )


def slipped_deals(
    tables: Tables, *, period: Period, as_of: date, timezone: str = "UTC"
) -> pl.DataFrame:
    """Deals the period was counting on that did not land in it: open with a close date in
    `period` at its start, but by `as_of` not closed (won or lost) within it — their close
    date now lies after the period, or the period ended with them still open. A deal pulled
    into the period after it began is never slipped. `pushes` / `push_days` count every
    close-date increase in the deal's history up to `as_of`."""
    return (
        _slip_frame(tables, period, as_of, timezone)
        .filter("slipped")
        .drop("slipped")
        .sort("team", "opp_id")
        .collect(engine=ENGINE)
    )


def slip_summary(
    tables: Tables, *, period: Period, as_of: date, timezone: str = "UTC"
) -> pl.DataFrame:
    """Per team: in-period open pipeline at the period's start (count, amount), how much of
    it slipped, slip_rate = slipped amount / start amount, and pushes_per_deal = mean close
    date pushes of the slipped deals."""
    slipped = pl.col("slipped")
    return (
        _slip_frame(tables, period, as_of, timezone)
        .group_by("team")
        .agg(
            pipeline_count=pl.len().cast(pl.Int32),
            pipeline_amount=pl.col("amount_at_start").sum(),
            slipped_count=slipped.sum().cast(pl.Int32),
            slipped_amount=pl.col("amount_at_start").filter(slipped).sum(),
            pushes_per_deal=pl.col("pushes").filter(slipped).mean(),
        )
        .with_columns(
            slip_rate=pl.when(pl.col("pipeline_amount") != 0).then(
                pl.col("slipped_amount") / pl.col("pipeline_amount")
            )
        )
        .sort("team")
        .collect(engine=ENGINE)
    )


# ---------------------------------------------------------------------------------------
# Late-surfaced risk
# ---------------------------------------------------------------------------------------


def _timeline(tables: Tables, period: Period, as_of: date, timezone: str = "UTC") -> pl.LazyFrame:
    """Each deal's states from the period's start to `as_of`: its state at the start (as a
    row at the start instant) followed by every later history row."""
    start = _start_of(period.start, timezone)
    cols = ["opp_id", "entered_at", "stage", "amount", "close_date", "forecast_category"]
    first = opp_state_at(tables, at=start).with_columns(entered_at=pl.lit(start))
    later = tables.stage_history.filter(
        pl.col("entered_at") > start, pl.col("entered_at") <= end_of_day(as_of, timezone)
    )
    stages = tables.stages.select("stage", "is_closed", "is_won")
    return (
        pl.concat([first.select(cols), later.select(cols)])
        .join(stages, on="stage", how="left")
        .with_columns(pl.col("is_closed", "is_won").fill_null(False))
    )


def _first_commit(timeline: pl.LazyFrame, period: Period, timezone: str = "UTC") -> pl.LazyFrame:
    """Deals in commit (open, close date in the period) at some point during the period:
    the first such instant and the amount then."""
    committed = timeline.filter(
        pl.col("entered_at") < _start_of(period.end, timezone),
        pl.col("forecast_category") == "commit",
        ~pl.col("is_closed"),
        _in_period("close_date", period),
    )
    return committed.group_by("opp_id").agg(
        committed_at=pl.col("entered_at").min(),
        amount=pl.col("amount").sort_by(*_TIE_ORDER).first().fill_null(0.0),
    )


def _first_bad_news(timeline: pl.LazyFrame, commits: pl.LazyFrame, period: Period) -> pl.LazyFrame:
    """For each committed deal, the first later row that lost it, pushed its close date past
    the period, or put it in a category below commit; `reason` in that precedence."""
    lost = pl.col("is_closed") & ~pl.col("is_won")
    pushed = (pl.col("close_date") >= period.end).fill_null(False)
    down = pl.col("forecast_category").cast(pl.String).is_in(BELOW_COMMIT).fill_null(False)
    reason = (
        pl.when(lost)
        .then(pl.lit("lost"))
        .when(pushed)
        .then(pl.lit("pushed"))
        .otherwise(pl.lit("downgraded"))
    )
    return (
        timeline.join(commits.select("opp_id", "committed_at"), on="opp_id")
        .filter(pl.col("entered_at") > pl.col("committed_at"), lost | pushed | down)
        .group_by("opp_id")
        .agg(
            surfaced_at=pl.col("entered_at").min(),
            reason=reason.sort_by("entered_at", reason).first(),
        )
    )


def _late_frame(
    tables: Tables, period: Period, as_of: date, params: ForecastParams, timezone: str = "UTC"
) -> pl.LazyFrame:
    timeline = _timeline(tables, period, as_of, timezone)
    commits = _first_commit(timeline, period, timezone)
    won_now = (
        opp_state_at(tables, at=end_of_day(as_of, timezone))
        .filter(pl.col("is_won").fill_null(False), _in_period("close_date", period))
        .select("opp_id", won_in_period=pl.lit(True))
    )
    in_time = (pl.col("surfaced_at") < _start_of(period.end, timezone)).fill_null(False)
    missed = pl.lit(as_of >= last_day(period)) & ~pl.col("won_in_period") & ~in_time
    surfaced = pl.when(in_time).then(local_date(pl.col("surfaced_at"), timezone))
    surfaced = surfaced.otherwise(period.end)
    owners = opportunities_with_team(tables).select("opp_id", "team", "sourced_by")
    return (
        commits.join(_first_bad_news(timeline, commits, period), on="opp_id", how="left")
        .join(won_now, on="opp_id", how="left")
        .with_columns(pl.col("won_in_period").fill_null(False))
        .filter(in_time | missed)
        .join(owners, on="opp_id", how="left")
        .with_columns(
            reason=pl.when(in_time).then("reason").otherwise(pl.lit("missed")),
            surfaced_date=surfaced,
            surfaced_at=pl.when(in_time).then("surfaced_at"),
        )
        .with_columns(days_before_period_end=(pl.lit(period.end) - pl.col("surfaced_date")))
        .with_columns(pl.col("days_before_period_end").dt.total_days().cast(pl.Int32))
        .with_columns(late=pl.col("days_before_period_end") <= params.late_days)
    )


def late_risk(
    tables: Tables,
    *,
    period: Period,
    as_of: date,
    params: ForecastParams,
    timezone: str = "UTC",
) -> pl.DataFrame:
    """Does bad news surface early? Deals in commit during `period` (open, close date in the
    period) that were later lost, pushed past the period, or downgraded below commit — or
    that the period ended on without a win and without any such warning (`reason` "missed",
    surfaced on the period's end date). `days_before_period_end` = period end − the date the
    news surfaced; `late` when that is at most `params.late_days`. A deal warned about and
    then won anyway still counts (the call was at risk). `amount` = amount when committed."""
    return (
        _late_frame(tables, period, as_of, params, timezone)
        .select(
            "opp_id",
            "team",
            "sourced_by",
            "amount",
            "committed_at",
            "reason",
            "surfaced_at",
            "surfaced_date",
            "days_before_period_end",
            "late",
            "won_in_period",
        )
        .sort("team", "opp_id")
        .collect(engine=ENGINE)
    )


def late_risk_summary(
    tables: Tables,
    *,
    period: Period,
    as_of: date,
    params: ForecastParams,
    timezone: str = "UTC",
) -> pl.DataFrame:
    """Per team: committed deals that went bad (count, amount), the median days before
    period end at which the news surfaced, and late_share = share surfaced late."""
    return (
        _late_frame(tables, period, as_of, params, timezone)
        .group_by("team")
        .agg(
            risk_count=pl.len().cast(pl.Int32),
            risk_amount=pl.col("amount").sum(),
            median_days_before_end=pl.col("days_before_period_end").median(),
            late_count=pl.col("late").sum().cast(pl.Int32),
            late_share=pl.col("late").mean(),
        )
        .sort("team")
        .collect(engine=ENGINE)
    )


# ---------------------------------------------------------------------------------------
# Forecast miss decomposition
# ---------------------------------------------------------------------------------------

MISS_COMPONENTS = ("unforecast_wins", "slipped", "lost", "still_open", "amount_changes")


def _lock_instant(
    period: Period, as_of: date, params: ForecastParams, timezone: str = "UTC"
) -> datetime:
    """End of the lock week (never after the period's last day nor after `as_of`)."""
    lock_day = period.start + timedelta(days=7 * params.lock_week - 1)
    return end_of_day(min(lock_day, last_day(period), as_of), timezone)


def _committed_at_lock(tables: Tables, period: Period, at: datetime) -> pl.LazyFrame:
    """Deals in the commit call at lock: open in commit, or already won, with close date in
    the period (Salesforce's Commit includes closed/won)."""
    in_commit = ~pl.col("is_closed") & (pl.col("forecast_category") == "commit")
    return (
        opp_state_at(tables, at=at)
        .filter(_in_period("close_date", period), (in_commit | pl.col("is_won")).fill_null(False))
        .select("opp_id", amount_at_lock=pl.col("amount").fill_null(0.0), committed=pl.lit(True))
    )


def forecast_miss_deals(
    tables: Tables,
    *,
    period: Period,
    as_of: date,
    params: ForecastParams,
    timezone: str = "UTC",
) -> pl.DataFrame:
    """Drill-down of the miss: one row per deal committed at lock or won in the period, with
    its `bucket` (won | unforecast_win | lost | slipped | still_open) and its signed
    `contribution` to actual − forecast."""
    at_lock = _lock_instant(period, as_of, params, timezone)
    lock = _committed_at_lock(tables, period, at_lock)
    now = opp_state_at(tables, at=end_of_day(as_of, timezone)).select(
        "opp_id",
        "team",
        pl.col("sourced_by").cast(pl.String),
        "is_closed",
        "is_won",
        pl.col("amount").fill_null(0.0).alias("amount_now"),
        pl.col("close_date").alias("close_date_now"),
    )
    won = pl.col("is_won").fill_null(False) & _in_period("close_date_now", period)
    committed = pl.col("committed").fill_null(False)
    lost = pl.col("is_closed") & ~pl.col("is_won") & (pl.col("close_date_now") < period.end)
    open_in = ~pl.col("is_closed") & _in_period("close_date_now", period)
    bucket = (
        pl.when(won & committed)
        .then(pl.lit("won"))
        .when(won)
        .then(pl.lit("unforecast_win"))
        .when(lost.fill_null(True))
        .then(pl.lit("lost"))
        .when(open_in & pl.lit(as_of < last_day(period)))
        .then(pl.lit("still_open"))
        .otherwise(pl.lit("slipped"))
    )
    return (
        now.join(lock, on="opp_id", how="left")
        .filter(won | committed)
        .with_columns(bucket=bucket)
        .with_columns(
            contribution=pl.when(pl.col("bucket") == "won")
            .then(pl.col("amount_now") - pl.col("amount_at_lock"))
            .when(pl.col("bucket") == "unforecast_win")
            .then("amount_now")
            .otherwise(-pl.col("amount_at_lock"))
        )
        .select(
            "team",
            "sourced_by",
            "opp_id",
            "bucket",
            "amount_at_lock",
            "amount_now",
            "close_date_now",
            "contribution",
        )
        .sort("team", "sourced_by", "opp_id")
        .collect(engine=ENGINE)
    )


def _miss_components(deals: pl.LazyFrame, by: list[str]) -> pl.LazyFrame:
    def amount(col: str, bucket: str) -> pl.Expr:
        return pl.col(col).filter(pl.col("bucket") == bucket).sum()

    won = pl.col("bucket").is_in(["won", "unforecast_win"])
    return deals.group_by(*by).agg(
        actual=pl.col("amount_now").filter(won).sum(),
        committed_at_lock=pl.col("amount_at_lock").fill_null(0.0).sum(),
        unforecast_wins=amount("amount_now", "unforecast_win"),
        slipped=amount("amount_at_lock", "slipped"),
        lost=amount("amount_at_lock", "lost"),
        still_open=amount("amount_at_lock", "still_open"),
        amount_changes=amount("contribution", "won"),
    )


def forecast_miss_decomposition(
    tables: Tables,
    *,
    period: Period,
    as_of: date,
    params: ForecastParams,
    timezone: str = "UTC",
) -> pl.DataFrame:
    """Where the miss came from, per team (`sourced_by` = "(all)") and per pipeline source.

    miss = actual − forecast = unforecast_wins − slipped − lost − still_open
    + amount_changes + residual, exactly. Deal-level items compare the deals in commit at the
    end of the lock week (open in commit, or already won; close date in the period) with
    their fate by `as_of`: won later with a changed amount (amount_changes = won − at-lock
    amount), lost, slipped out of the period, or still open in an in-progress period;
    unforecast_wins are wins that were not in commit at lock. residual = miss − those items,
    which equals Σ committed-at-lock amounts − forecast: the team's judgement on top of (or
    below) its committed deals. The forecast is team-level, so source rows have null
    forecast, miss and residual; their components add up to the team row's.
    """
    deals = forecast_miss_deals(
        tables, period=period, as_of=as_of, params=params, timezone=timezone
    ).lazy()
    calls = _lock_forecast(tables, [period], as_of, params, timezone).select("team", "forecast")
    teams = (
        calls.join(_miss_components(deals, ["team"]), on="team", how="left")
        .with_columns(pl.exclude("team", "forecast").fill_null(0.0))
        .with_columns(sourced_by=pl.lit(ALL_SOURCES), miss=pl.col("actual") - pl.col("forecast"))
    )
    explained = (
        pl.col("unforecast_wins")
        - pl.col("slipped")
        - pl.col("lost")
        - pl.col("still_open")
        + pl.col("amount_changes")
    )
    teams = teams.with_columns(residual=pl.col("miss") - explained)
    sources = _miss_components(deals, ["team", "sourced_by"]).join(
        calls.select("team"), on="team", how="semi"
    )
    return (
        pl.concat([teams, sources], how="diagonal_relaxed")
        .with_columns(period=pl.lit(period.name), is_complete=pl.lit(as_of >= last_day(period)))
        .select(
            "team",
            "sourced_by",
            "period",
            "forecast",
            "actual",
            "miss",
            "committed_at_lock",
            *MISS_COMPONENTS,
            "residual",
            "is_complete",
        )
        .sort("team", "sourced_by", nulls_last=True)
        .collect(engine=ENGINE)
    )


# ---------------------------------------------------------------------------------------
# Definitions
# ---------------------------------------------------------------------------------------

_Q = "forecast_integrity"
_LOCK = "forecast standing at the end of lock week k (default: commit, week 3)"
_ACTUAL = "A = closed-won amount with close date in the period, by owner's team, as of as-of"
_ACC_VARIANTS = (
    "forecast_accuracy.ratio",
    "forecast_accuracy.vs_forecast",
    "forecast_accuracy.variance_pct",
)


def _accuracy_def(
    id_: str, name: str, formula: str, good: str, higher: bool | None
) -> MetricDefinition:
    return MetricDefinition(
        id=id_,
        name=name,
        formula=formula,
        unit="ratio",
        grain="team × period (also per submission week)",
        date_anchor="close date (actuals); submission time → week of period (forecast)",
        good=good,
        question=_Q,
        owner_team="sales",
        filters=f"{_LOCK}; {_ACTUAL}; complete periods only; null when the divisor is 0",
        variants=tuple(v for v in ("forecast_accuracy", *_ACC_VARIANTS) if v != id_),
        higher_is_better=higher,
    )


DEFINITIONS: tuple[MetricDefinition, ...] = (
    _accuracy_def(
        "forecast_accuracy",
        "Forecast accuracy",
        "1 − |F − A| / A",
        "≥ 0.90 (within 10% of actual)",
        True,
    ),
    _accuracy_def(
        "forecast_accuracy.ratio",
        "Forecast ratio (F/A)",
        "F / A",
        "0.85–1.15 (Gong's green band)",
        None,
    ),
    _accuracy_def(
        "forecast_accuracy.vs_forecast",
        "Forecast accuracy vs forecast",
        "1 − |F − A| / F",
        "≥ 0.90",
        True,
    ),
    _accuracy_def(
        "forecast_accuracy.variance_pct",
        "Forecast variance %",
        "|A − F| / F",
        "≤ 0.10",
        False,
    ),
    MetricDefinition(
        id="forecast_bias",
        name="Forecast bias",
        formula="(F − A) / A per team × period; + = over-forecast, − = sandbagging; trend: mean "
        "over complete periods, pattern when every period has the same sign",
        unit="ratio",
        grain="team × period (trend: team)",
        date_anchor="close date (actuals); lock week (forecast)",
        good="close to 0 and not persistently one sign",
        question=_Q,
        owner_team="sales",
        filters=f"{_LOCK}; {_ACTUAL}; complete periods; null when A = 0",
        higher_is_better=None,
    ),
    MetricDefinition(
        id="wape",
        name="Forecast WAPE",
        formula="Σ_teams |F − A| / Σ_teams A",
        unit="ratio",
        grain="period (across teams)",
        date_anchor="close date (actuals); lock week (forecast)",
        good="≤ 0.10",
        question=_Q,
        owner_team="sales",
        filters=f"{_LOCK}; teams that submitted by the lock week; complete periods only",
        higher_is_better=False,
    ),
    MetricDefinition(
        id="forecast_accuracy.company",
        name="Company forecast accuracy",
        formula="1 − WAPE = 1 − Σ_teams |F_t − A_t| / Σ_teams A_t: rolled up from each team's "
        "miss, so a team under and a team over add up instead of cancelling",
        unit="ratio",
        grain="period (across teams; the headline's All teams row)",
        date_anchor="close date (actuals); lock week (forecast)",
        good="≥ 0.90",
        question=_Q,
        owner_team="sales",
        filters=f"{_LOCK}; teams that submitted by the lock week; complete periods only",
        variants=("forecast_accuracy", "wape"),
    ),
    MetricDefinition(
        id="forecast_bias.pooled",
        name="Pooled forecast bias",
        formula="Σ_teams (F_t − A_t) / Σ_teams A_t; + = the company over-forecast. Misses in "
        "opposite directions net out here: read it with its spread (forecast_bias.spread)",
        unit="ratio",
        grain="period (across teams; the headline's All teams row)",
        date_anchor="close date (actuals); lock week (forecast)",
        good="close to 0 with a narrow spread",
        question=_Q,
        owner_team="sales",
        filters=f"{_LOCK}; teams that submitted by the lock week; complete periods; null when "
        "ΣA = 0",
        variants=("forecast_bias", "forecast_bias.spread"),
        higher_is_better=None,
    ),
    MetricDefinition(
        id="forecast_bias.spread",
        name="Spread of team biases",
        formula="min and max over teams of (F_t − A_t) / A_t, with the team of each; a driver "
        "names teams missing in opposite directions (one below −miss_band, one above "
        "+miss_band), which the pooled bias hides",
        unit="ratio",
        grain="period (across teams)",
        date_anchor="close date (actuals); lock week (forecast)",
        good="both ends within ±miss_band (default ±10%)",
        question=_Q,
        owner_team="sales",
        filters=f"{_LOCK}; teams with A ≠ 0 (a team with nothing won has no bias and is left "
        "out); complete periods only",
        variants=("forecast_bias.pooled", "forecast_bias.off_share"),
        higher_is_better=None,
    ),
    MetricDefinition(
        id="forecast_bias.off_share",
        name="Closed amount in teams off the band",
        formula="Σ A_t over teams with |F_t − A_t| / A_t > miss_band / Σ_teams A_t "
        "(numerator off_actual, denominator actual; teams_off of teams_judged)",
        unit="ratio",
        grain="period (across teams)",
        date_anchor="close date (actuals); lock week (forecast)",
        good="0: every team's call within the band",
        question=_Q,
        owner_team="sales",
        filters=f"{_LOCK}; miss_band from [forecast] (default 0.10); teams with A ≠ 0; "
        "complete periods only",
        variants=("forecast_bias.spread",),
        higher_is_better=False,
    ),
    MetricDefinition(
        id="slip_rate",
        name="Slip rate",
        formula="Σ amount at start of deals slipped out of P / Σ amount of open deals with close "
        "date in P at P's start",
        unit="ratio",
        grain="team × period (drill-down: one row per slipped deal)",
        date_anchor="close date at the period's start",
        good="low; under 20%",
        question=_Q,
        owner_team="sales",
        filters="open at the period's start with close date in it; slipped = not closed within "
        "P by as-of and close date now after P (or P over with the deal still open); "
        "pulled-in deals excluded",
        higher_is_better=False,
    ),
    MetricDefinition(
        id="pushes_per_deal",
        name="Pushes per slipped deal",
        formula="mean over slipped deals of the number of close-date increases in their history",
        unit="count",
        grain="team × period",
        date_anchor="close date at the period's start",
        good="≤ 1: a date moves once, with a reason",
        question=_Q,
        owner_team="sales",
        filters="every history row up to as-of; only increases count (never decremented)",
        higher_is_better=False,
    ),
    MetricDefinition(
        id="late_risk_share",
        name="Late-surfaced risk share",
        formula="# committed deals whose bad news (lost / pushed out / below commit / missed) "
        "surfaced ≤ late_days before period end / # committed deals that went bad",
        unit="ratio",
        grain="team × period (drill-down: one row per deal)",
        date_anchor="date of the first history row carrying the bad news",
        good="low: bad news surfaces early, not in the last two weeks",
        question=_Q,
        owner_team="sales",
        filters="deals in commit (open, close date in P) at some point during P; 'missed' = "
        "P ended without a win and without warning (surfaces at P's end)",
        higher_is_better=False,
    ),
    MetricDefinition(
        id="forecast_miss_decomposition",
        name="Forecast miss decomposition",
        formula="A − F = unforecast_wins − slipped − lost − still_open + amount_changes + "
        "call judgement; call judgement = Σ committed-at-lock − F (how far the call stood "
        "below or above the deals committed at lock)",
        unit="currency",
        grain="team × pipeline source × period (drill-down: one row per deal)",
        date_anchor="commit set at end of lock week; outcome as of as-of",
        good="small slipped/lost and call judgement; no source that systematically slips",
        question=_Q,
        owner_team="sales",
        filters=f"{_LOCK}; commit set = open in commit or won, close date in P",
        higher_is_better=None,
    ),
)
