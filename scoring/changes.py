"""What changed, deal by deal, between two review dates: change flags, trends and the
forecast-category transition matrix.

A review asks "what moved since last week?". Each deal is read as it stood at the end of
`since` and at the end of `until` (the as-of instant of each day in the reporting time zone,
`scoring.history.opp_state_at`), and the two states are compared:

==================  ========================================================================
kind                the deal …
==================  ========================================================================
new                 was created in the window (did not exist at the end of `since`)
won                 is closed won at `until` and was not at `since` (a new deal too)
lost                is closed lost at `until` and was not at `since` (a new deal too)
reopened            was closed at `since` and is open at `until`, or reopened inside the
                    window (a closed stage followed by an open one in the window's history)
amount_up / _down   was open at both ends and its amount is higher / lower
close_pushed        was open at both ends and its close date is later
close_pulled_in     was open at both ends and its close date is earlier
stage_forward/back  was open at both ends and its stage position is higher / lower
category_up/_down   was open at both ends and its forecast category is higher / lower, in the
                    order omitted < pipeline < best_case < most_likely < commit < closed
==================  ========================================================================

A deal that closed or reopened in the window is flagged by that outcome, with its amount,
stage, close date and category at both ends on the row (closing moves the close date to the
closing day: no push or pull-in is flagged for it). A deal created and lost inside the
window is "new" and "lost". The two states hide what happened in between, so each row also
counts `pushes`: the history rows of an open stage inside the window whose close date is
later than the one last planned while open (closing sets the close date to the closing day,
which is no plan: neither it nor a reopening back to the old date is a push). A deal pushed
twice shows one close_pushed row with ``pushes = 2``; a deal pushed and pulled back shows
no flag but ``pushes = 1``.

**Trend** (as Ebsta groups deals): every deal open at the end of `since` or created in the
window gets exactly one, by this precedence: won → *up*; lost → *down*; close_pushed →
*slipped*; any of amount_down, stage_back, category_down → *down*; any of new, reopened,
amount_up, close_pulled_in, stage_forward, category_up → *up*; otherwise *idle* (nothing
moved: a deal nobody is working).

**Transition matrix** (Akoonu's "Forecast Flow", Clari Flow by category): the deals open at
`since`, created in the window, or open at `until`, by category at `since` ("new" for a
created deal, "won"/"lost" for a closed deal that reopened) × category at `until` ("won" /
"lost" once closed). `amount_since` summed over a row category is the pipeline in that
category at `since`; `amount` summed over a column is what sits there at `until`.

Not measured on a derived stage history (`changes_status`): a reconstruction from each
deal's current values records no changes, so every deal would look idle. Two consecutive
snapshots (`snapshot_changes`) give the same flags from the deal's values as each refresh
held them, with or without a history, but not what happened between the two refreshes.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from model.calendar import Calendar
from model.tables import ALL_TEAMS, ENGINE, Tables, missing_message, opportunities_with_team
from scoring.definitions import MetricDefinition
from scoring.history import EVENT_ORDER, end_of_day, opp_state_at

KINDS = (
    "new",
    "won",
    "lost",
    "reopened",
    "amount_up",
    "amount_down",
    "close_pushed",
    "close_pulled_in",
    "stage_forward",
    "stage_back",
    "category_up",
    "category_down",
)
Kind = pl.Enum(KINDS)
TRENDS = ("up", "down", "slipped", "idle")
Trend = pl.Enum(TRENDS)
# omitted sits below pipeline (Salesforce: left out of the forecast)
CATEGORY_RANK = {
    "omitted": 0,
    "pipeline": 1,
    "best_case": 2,
    "most_likely": 3,
    "commit": 4,
    "closed": 5,
}
NO_CATEGORY = "(none)"
FLOW = ("new", "omitted", "pipeline", "best_case", "most_likely", "commit", "closed",
        NO_CATEGORY, "won", "lost")  # fmt: skip
Flow = pl.Enum(FLOW)

CHANGES_DERIVED = (
    "Deal changes are not measured: the stage history was derived from each deal's current "
    "values (the source has no history), so what changed between two dates is unknown."
)

_STATE = ("stage", "amount", "close_date", "forecast_category", "position", "is_closed", "is_won")
_ROW_COLUMNS = (
    "opp_id",
    "name",
    "team",
    "owner_id",
    "kind",
    "amount_before",
    "amount_after",
    "amount_delta",
    "stage_before",
    "stage_after",
    "close_date_before",
    "close_date_after",
    "days_moved",
    "forecast_category_before",
    "forecast_category_after",
    "pushes",
)


def changes_status(tables: Tables) -> str | None:
    """Why deal changes (flags, trends, transitions) are not measured on `tables`, or None."""
    if tables.is_derived("stage_history"):
        return CHANGES_DERIVED
    return missing_message(tables, "Deal changes", ("stage_history",))


# --------------------------------------------------------------------- building blocks


def _state(tables: Tables, day: date, calendar: Calendar, suffix: str) -> pl.LazyFrame:
    """Each deal existing at the end of `day`, its state columns suffixed."""
    positions = tables.stages.select("stage", "position")
    return (
        opp_state_at(tables, at=end_of_day(day, calendar.timezone))
        .join(positions, on="stage", how="left")
        .with_columns(pl.col("is_closed", "is_won").fill_null(False))
        .select("opp_id", "name", "team", "owner_id", pl.col(_STATE).name.suffix(suffix))
    )


def _window_history(tables: Tables, since: date, until: date, calendar: Calendar) -> pl.LazyFrame:
    """Per deal, what its history rows inside the window show beyond the two end states:
    `pushes` (an open row whose close date is later than the one last planned on an open
    row before it) and `reopens` (a closed stage followed by an open one)."""
    t0, t1 = end_of_day(since, calendar.timezone), end_of_day(until, calendar.timezone)
    stages = tables.stages.select("stage", "position", "is_closed")
    # the close date last planned while open: a closing day is not a plan to push from
    planned = pl.when(~pl.col("is_closed")).then("close_date")
    previous = {
        "prev_is_closed": pl.col("is_closed").shift(1).over("opp_id"),
        "prev_close_date": planned.shift(1).forward_fill().over("opp_id"),
    }
    return (
        tables.stage_history.filter(pl.col("entered_at") <= t1)
        .join(stages, on="stage", how="left")
        .sort("opp_id", *EVENT_ORDER, nulls_last=False)
        .with_columns(**previous)
        .filter(pl.col("entered_at") > t0)
        .group_by("opp_id")
        .agg(
            pushes=(~pl.col("is_closed") & (pl.col("close_date") > pl.col("prev_close_date")))
            .sum()
            .cast(pl.Int64),
            reopens=(pl.col("prev_is_closed") & ~pl.col("is_closed")).sum().cast(pl.Int64),
        )
    )


def _rank(column: str) -> pl.Expr:
    return pl.col(column).cast(pl.String).replace_strict(CATEGORY_RANK, default=None)


def _flags(ends: pl.LazyFrame) -> pl.LazyFrame:
    """`ends` (one row per deal existing at the later instant, its state columns suffixed
    `_before` — null for a deal created since — and `_after`, with `pushes` and `reopens`)
    with one boolean column per kind, and `open_before`."""
    existed = pl.col("stage_before").is_not_null()
    closed0, won0 = pl.col("is_closed_before").fill_null(False), pl.col("is_won_before")
    closed1, won1 = pl.col("is_closed_after"), pl.col("is_won_after")
    open_both = existed & ~closed0 & ~closed1

    def moved(column: str, up: bool) -> pl.Expr:
        a, b = pl.col(f"{column}_after"), pl.col(f"{column}_before")
        return open_both & ((a > b) if up else (a < b)).fill_null(False)

    rank0, rank1 = _rank("forecast_category_before"), _rank("forecast_category_after")
    category = {
        "category_up": open_both & (rank1 > rank0).fill_null(False),
        "category_down": open_both & (rank1 < rank0).fill_null(False),
    }
    return ends.with_columns(
        new=~existed,
        won=closed1 & won1 & ~(closed0 & won0.fill_null(False)),
        lost=closed1 & ~won1 & ~(closed0 & ~won0.fill_null(True)),
        reopened=(existed & closed0 & ~closed1) | (pl.col("reopens") > 0),
        amount_up=moved("amount", up=True),
        amount_down=moved("amount", up=False),
        close_pushed=moved("close_date", up=True),
        close_pulled_in=moved("close_date", up=False),
        stage_forward=moved("position", up=True),
        stage_back=moved("position", up=False),
        **category,
        open_before=existed & ~closed0,
    )


def _deal_ends(tables: Tables, since: date, until: date, calendar: Calendar) -> pl.LazyFrame:
    """One row per deal existing at the end of `until`, read from the stage history: its
    state at both ends, window history counts, and one boolean per kind (`_flags`)."""
    before = _state(tables, since, calendar, "_before").drop("name", "team", "owner_id")
    ends = (
        _state(tables, until, calendar, "_after")
        .join(before, on="opp_id", how="left")
        .join(_window_history(tables, since, until, calendar), on="opp_id", how="left")
        .with_columns(pl.col("pushes", "reopens").fill_null(0))
    )
    return _flags(ends)


def _snapshot_state(tables: Tables, suffix: str) -> pl.LazyFrame:
    """Each deal as a snapshot holds it (its current values then), state columns suffixed."""
    return (
        opportunities_with_team(tables)
        .with_columns(pl.col("is_closed", "is_won").fill_null(False))
        .select("opp_id", "name", "team", "owner_id", pl.col(_STATE).name.suffix(suffix))
    )


def _snapshot_ends(earlier: Tables, later: Tables) -> pl.LazyFrame:
    """`_deal_ends` from two snapshots: every deal the later one holds, compared with the
    earlier one. Nothing is known in between: `pushes` null, `reopens` 0."""
    before = _snapshot_state(earlier, "_before").drop("name", "team", "owner_id")
    ends = (
        _snapshot_state(later, "_after")
        .join(before, on="opp_id", how="left")
        .with_columns(pushes=pl.lit(None, dtype=pl.Int64), reopens=pl.lit(0, dtype=pl.Int64))
    )
    return _flags(ends)


# --------------------------------------------------------------------- change flags


def _change_rows(ends: pl.LazyFrame) -> pl.LazyFrame:
    index = [c for c in _ROW_COLUMNS if c not in ("kind", "amount_delta", "days_moved")]
    return (
        ends.unpivot(index=index, on=list(KINDS), variable_name="kind", value_name="flagged")
        .filter("flagged")
        .with_columns(
            pl.col("kind").cast(Kind),
            amount_delta=pl.col("amount_after").fill_null(0.0)
            - pl.col("amount_before").fill_null(0.0),
            days_moved=(pl.col("close_date_after") - pl.col("close_date_before")).dt.total_days(),
        )
        .select(_ROW_COLUMNS)
    )


def deal_changes(
    tables: Tables, *, since: date, until: date, calendar: Calendar | None = None
) -> pl.DataFrame:
    """What changed on each deal between the end of `since` and the end of `until`: one row
    per deal × change kind (see the module doc for the kinds), with the deal's amount,
    stage, close date and forecast category at both ends, `amount_delta` (after − before,
    a missing amount as 0), `days_moved` (close date after − before) and `pushes` (close-date
    pushes recorded inside the window). Empty when `changes_status` says why.
    Grain: (opp_id, kind)."""
    calendar = calendar or Calendar()
    rows = _change_rows(_deal_ends(tables, since, until, calendar))
    if changes_status(tables) is not None:
        rows = rows.clear()
    return rows.sort("opp_id", "kind").collect(engine=ENGINE)


def _with_all_teams(rows: pl.LazyFrame) -> pl.LazyFrame:
    return pl.concat([rows, rows.with_columns(team=pl.lit(ALL_TEAMS))])


def _teams(tables: Tables) -> pl.LazyFrame:
    owning = opportunities_with_team(tables).select("team").unique()
    return pl.concat([owning, pl.LazyFrame({"team": [ALL_TEAMS]})]).unique()


def _summary(rows: pl.LazyFrame, teams: pl.LazyFrame) -> pl.LazyFrame:
    sums = (
        _with_all_teams(rows)
        .group_by("team", "kind")
        .agg(
            deals=pl.len().cast(pl.Int64),
            amount=pl.col("amount_after").fill_null(0.0).sum(),
            amount_delta=pl.col("amount_delta").sum(),
        )
    )
    grid = teams.join(pl.LazyFrame({"kind": KINDS}, schema={"kind": Kind}), how="cross")
    return (
        grid.join(sums, on=["team", "kind"], how="left")
        .with_columns(pl.col("deals").fill_null(0), pl.col("amount", "amount_delta").fill_null(0.0))
        .select("team", "kind", "deals", "amount", "amount_delta")
    )


def changes_summary(
    tables: Tables, *, since: date, until: date, calendar: Calendar | None = None
) -> pl.DataFrame:
    """ "Changes since last review" per team (and All teams): for each kind, how many deals
    (`deals`), their amount at `until` (`amount`: what was won, lost, created, pushed …) and
    the net amount change (`amount_delta`, after − before: the money added by amount_up,
    taken by amount_down). Every team × kind, zeros where nothing happened; empty when
    `changes_status` says why. Grain: (team, kind)."""
    calendar = calendar or Calendar()
    out = _summary(_change_rows(_deal_ends(tables, since, until, calendar)), _teams(tables))
    if changes_status(tables) is not None:
        out = out.clear()
    return out.sort("team", "kind").collect(engine=ENGINE)


def snapshot_changes(earlier: Tables, later: Tables) -> pl.DataFrame:
    """`deal_changes` from two consecutive snapshots (the bundles as the CRM held them at two
    refreshes) instead of the stage history: each deal's values in `earlier` against those
    in `later`, so it works where the history is derived or missing. What happened in
    between is unknown: `pushes` is null and a deal closed and reopened between the two
    shows no flag. Grain: (opp_id, kind)."""
    rows = _change_rows(_snapshot_ends(earlier, later))
    return rows.sort("opp_id", "kind").collect(engine=ENGINE)


def snapshot_changes_summary(earlier: Tables, later: Tables) -> pl.DataFrame:
    """`changes_summary` from two consecutive snapshots (see `snapshot_changes`).
    Grain: (team, kind)."""
    out = _summary(_change_rows(_snapshot_ends(earlier, later)), _teams(later))
    return out.sort("team", "kind").collect(engine=ENGINE)


# --------------------------------------------------------------------- trends


def _trend() -> pl.Expr:
    down = pl.col("amount_down") | pl.col("stage_back") | pl.col("category_down")
    up = pl.any_horizontal(
        "new", "reopened", "amount_up", "close_pulled_in", "stage_forward", "category_up"
    )
    return (
        pl.when("won")
        .then(pl.lit("up"))
        .when("lost")
        .then(pl.lit("down"))
        .when("close_pushed")
        .then(pl.lit("slipped"))
        .when(down)
        .then(pl.lit("down"))
        .when(up)
        .then(pl.lit("up"))
        .otherwise(pl.lit("idle"))
        .cast(Trend)
    )


def _trend_rows(ends: pl.LazyFrame) -> pl.LazyFrame:
    return ends.filter(pl.col("open_before") | pl.col("new")).select(
        "opp_id", "name", "team", "owner_id", trend=_trend(), amount="amount_after"
    )


def _trend_summary(rows: pl.LazyFrame, teams: pl.LazyFrame) -> pl.LazyFrame:
    sums = (
        _with_all_teams(rows)
        .group_by("team", "trend")
        .agg(deals=pl.len().cast(pl.Int64), amount=pl.col("amount").fill_null(0.0).sum())
    )
    grid = teams.join(pl.LazyFrame({"trend": TRENDS}, schema={"trend": Trend}), how="cross")
    return (
        grid.join(sums, on=["team", "trend"], how="left")
        .with_columns(pl.col("deals").fill_null(0), pl.col("amount").fill_null(0.0))
        .select("team", "trend", "deals", "amount")
    )


def deal_trends(
    tables: Tables, *, since: date, until: date, calendar: Calendar | None = None
) -> pl.DataFrame:
    """Each deal open at the end of `since` or created in the window, with its one trend
    (up, down, slipped, idle; precedence in the module doc) and its amount at `until`.
    Empty when `changes_status` says why. Grain: opp_id."""
    calendar = calendar or Calendar()
    rows = _trend_rows(_deal_ends(tables, since, until, calendar))
    if changes_status(tables) is not None:
        rows = rows.clear()
    return rows.sort("opp_id").collect(engine=ENGINE)


def trend_summary(
    tables: Tables, *, since: date, until: date, calendar: Calendar | None = None
) -> pl.DataFrame:
    """Deals and amount (at `until`) per team (and All teams) and trend, every team × trend.
    Grain: (team, trend)."""
    calendar = calendar or Calendar()
    out = _trend_summary(_trend_rows(_deal_ends(tables, since, until, calendar)), _teams(tables))
    if changes_status(tables) is not None:
        out = out.clear()
    return out.sort("team", "trend").collect(engine=ENGINE)


# --------------------------------------------------------------------- transitions


def _flow(when: str) -> pl.Expr:
    """The deal's place at one end: won / lost once closed, else its forecast category."""
    category = pl.col(f"forecast_category_{when}").cast(pl.String).fill_null(NO_CATEGORY)
    outcome = pl.when(pl.col(f"is_won_{when}")).then(pl.lit("won")).otherwise(pl.lit("lost"))
    return pl.when(pl.col(f"is_closed_{when}")).then(outcome).otherwise(category)


def category_transitions(
    tables: Tables,
    *,
    since: date,
    until: date,
    calendar: Calendar | None = None,
    by: tuple[str, ...] = ("team",),
) -> pl.DataFrame:
    """How the pipeline moved between forecast categories (and to won / lost) from the end
    of `since` to the end of `until`: how much commit slid to best case, how much pipeline
    was promoted to commit, how much of each category was lost.

    Deals: open at `since`, created in the window, or open at `until` (reopened). `from` is
    the category at `since` ("new" for a deal created in the window, "won"/"lost" for a
    closed deal that reopened), `to` the category at `until` ("won"/"lost" once closed).
    Columns: deals, amount_since (amount at `since`, 0 for new deals), amount (at `until`).
    Summed over a `from`, amount_since is that category's pipeline at `since`; summed over a
    `to`, amount is that category's at `until`. Long form, one row per non-empty cell;
    with "team" in `by`, All teams rows are added. Empty when `changes_status` says why.
    Grain: (*by, from, to).
    """
    calendar = calendar or Calendar()
    out = _transitions(_deal_ends(tables, since, until, calendar), by)
    if changes_status(tables) is not None:
        out = out.clear()
    return out.sort(*by, "from", "to").collect(engine=ENGINE)


def _transitions(ends: pl.LazyFrame, by: tuple[str, ...]) -> pl.LazyFrame:
    if tuple(by) not in ((), ("team",)):
        raise ValueError(f"by must be () or ('team',), got {by!r}")
    keys = list(by)
    deals = (
        ends.filter(pl.col("open_before") | pl.col("new") | ~pl.col("is_closed_after"))
        .with_columns(
            pl.when(pl.col("new")).then(pl.lit("new")).otherwise(_flow("before")).alias("from"),
            _flow("after").alias("to"),
        )
        .with_columns(pl.col("from", "to").cast(Flow))
    )
    if "team" in keys:
        deals = _with_all_teams(deals)
    return deals.group_by(*keys, "from", "to").agg(
        deals=pl.len().cast(pl.Int64),
        amount_since=pl.col("amount_before").fill_null(0.0).sum(),
        amount=pl.col("amount_after").fill_null(0.0).sum(),
    )


def snapshot_trends(earlier: Tables, later: Tables) -> pl.DataFrame:
    """`deal_trends` from two snapshots (see `snapshot_changes`): each deal open in `earlier`
    or new in `later`, with its one trend and its amount in `later`. A deal pushed and pulled
    back between the two refreshes is idle. Grain: opp_id."""
    rows = _trend_rows(_snapshot_ends(earlier, later))
    return rows.sort("opp_id").collect(engine=ENGINE)


def snapshot_trend_summary(earlier: Tables, later: Tables) -> pl.DataFrame:
    """`trend_summary` from two snapshots. Grain: (team, trend)."""
    out = _trend_summary(_trend_rows(_snapshot_ends(earlier, later)), _teams(later))
    return out.sort("team", "trend").collect(engine=ENGINE)


def snapshot_category_transitions(
    earlier: Tables, later: Tables, *, by: tuple[str, ...] = ("team",)
) -> pl.DataFrame:
    """`category_transitions` from two snapshots: each deal's category (or won / lost) in
    `earlier` against `later`. Grain: (*by, from, to)."""
    out = _transitions(_snapshot_ends(earlier, later), by)
    return out.sort(*by, "from", "to").collect(engine=ENGINE)


_WINDOW = (
    "deal state at the end of `since` and at the end of `until` (reporting time zone); the "
    "review window ends on the view's as-of day, one week by default (?window=1w|2w|4w|13w "
    "or ?since=YYYY-MM-DD); read from the newest snapshot as of `since` or earlier when the "
    "store holds one (scoring/review.py), else from the stage history"
)

DEFINITIONS: tuple[MetricDefinition, ...] = (
    MetricDefinition(
        id="deal_changes",
        name="Deal changes since last review",
        formula=(
            "per deal, compare its state at the end of since and of until: new, won, lost, "
            "reopened; for deals open at both ends amount up/down, close date pushed/pulled in, "
            "stage forward/back, forecast category up/down (omitted < pipeline < best_case < "
            "most_likely < commit < closed); pushes = close-date pushes recorded in the window"
        ),
        unit="count",
        grain="deal × change kind; summed to team × kind (deals, amount at until, amount change)",
        date_anchor=_WINDOW,
        good="few pushes, downgrades and amount cuts late in the quarter",
        question="forecast_integrity",
        owner_team="sales",
        filters="deals existing at the end of until; not measured on a derived stage history "
        "without an earlier snapshot to compare with",
        higher_is_better=None,
    ),
    MetricDefinition(
        id="deal_trend",
        name="Deal trend (up / down / slipped / idle)",
        formula=(
            "won → up; lost → down; close pushed → slipped; amount down, stage back or "
            "category down → down; new, reopened, amount up, pulled in, stage forward or "
            "category up → up; else idle"
        ),
        unit="count",
        grain="deal; summed to team × trend (deals, amount at until)",
        date_anchor=_WINDOW,
        good="few slipped and idle deals",
        question="forecast_integrity",
        owner_team="sales",
        filters="deals open at the end of since or created in the window; not measured on a "
        "derived stage history without an earlier snapshot to compare with",
        higher_is_better=None,
    ),
    MetricDefinition(
        id="category_transitions",
        name="Forecast-category transitions",
        formula=(
            "Σ amount by (category at since, category at until); new deals enter as 'new', "
            "closed ones leave as won / lost; row sums of amount_since = pipeline by category "
            "at since, column sums of amount = pipeline by category at until"
        ),
        unit="currency",
        grain="team × category at since × category at until",
        date_anchor=_WINDOW,
        good="little moving down from commit; commit ending in won",
        question="forecast_integrity",
        owner_team="sales",
        filters="deals open at since, created in the window, or open at until; not measured "
        "on a derived stage history without an earlier snapshot to compare with",
        higher_is_better=None,
    ),
)
