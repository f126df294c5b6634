"""Did the review's decisions hold? Follow-through of each decision and "decisions kept" per team.

Computed from frames passed in (the journal's current decisions, one row per decision, and the
scorecard's signals); scoring never opens the journal's database.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from model.calendar import Calendar
from model.tables import Tables
from scoring.changes import deal_changes
from scoring.definitions import MetricDefinition

DEFINITIONS = (
    MetricDefinition(
        id="decisions_kept",
        name="Decisions kept",
        formula=(
            "decisions closed by their due date and never reversed / decisions whose outcome is "
            "known by the as-of day (closed, reversed, or open past their due date)"
        ),
        unit="ratio",
        grain="team",
        date_anchor="the decision's due date; its close date for on time",
        good="most decisions taken in the review are done on time and stay done (80 % or more)",
        question="forecast_integrity",
        owner_team="ops",
        filters="open decisions not yet due are not judged; none judged = not measured",
    ),
)

NO_TEAM = "(no team)"
SIGNAL_COLUMNS = {
    "signal_id": pl.String,
    "label": pl.String,
    "value": pl.Float64,
    "unit": pl.String,
}


def _local_date(col: str) -> pl.Expr:
    return pl.col(col).dt.date()


def follow_through(decisions: pl.DataFrame, signals: pl.DataFrame, *, as_of: date) -> pl.DataFrame:
    """One row per decision with what happened since it was recorded: `overdue` (open past its
    due date), `days_overdue`, `kept` (closed by its due date, never reversed; null while open),
    and for a decision about a scorecard metric its value `value_then` and `value_now`.

    `decisions` is one row per decision (``journal.current_decisions``); `signals` one row per
    scorecard signal (`signal_id`, `label`, `value`, optionally `unit`). Sorted by decision id.
    """
    now = signals.select(
        about_id=pl.col("signal_id"),
        metric_label=pl.col("label"),
        metric_unit=pl.col("unit") if "unit" in signals.columns else pl.lit(None, pl.String),
        value_now=pl.col("value"),
    )
    return (
        decisions.join(now, on="about_id", how="left")
        .with_columns(
            value_then=pl.when(pl.col("about_kind") == "metric").then(pl.col("recorded_value")),
            value_now=pl.when(pl.col("about_kind") == "metric").then(pl.col("value_now")),
            overdue=(pl.col("status") == "open")
            & pl.col("due_date").is_not_null()
            & (pl.col("due_date") < pl.lit(as_of)),
            days_overdue=pl.when(pl.col("status") == "open")
            .then((pl.lit(as_of) - pl.col("due_date")).dt.total_days())
            .clip(lower_bound=0),
            kept=pl.when(pl.col("status") == "open")
            .then(None)
            .otherwise(
                (pl.col("status") == "closed")
                & (pl.col("times_reversed") == 0)
                & (pl.col("due_date").is_null() | (_local_date("closed_at") <= pl.col("due_date")))
            ),
        )
        .sort("decision_id")
    )


def decisions_kept(decisions: pl.DataFrame, *, as_of: date) -> pl.DataFrame:
    """ "Decisions kept" per team: `kept` of `judged` decisions, `rate` = kept / judged.

    Judged: closed or reversed, or open past its due date (a decision not yet due is not
    judged). Kept: closed on or before its due date (any day when it has none) and never
    reversed. The journal is judged as it stands now; `as_of` says which open ones are overdue.
    A team without judged decisions has no row (not measured, never 0).
    One row per team (decisions without a team under "(no team)"), sorted by team.
    """
    return (
        follow_through(decisions, pl.DataFrame(schema=SIGNAL_COLUMNS), as_of=as_of)
        .filter((pl.col("status") != "open") | pl.col("overdue"))
        .group_by(team=pl.col("team").fill_null(NO_TEAM))
        .agg(kept=pl.col("kept").fill_null(False).sum().cast(pl.Int64), judged=pl.len())
        .with_columns(rate=pl.col("kept") / pl.col("judged"))
        .sort("team")
    )


def deal_follow_through(
    decisions: pl.DataFrame, tables: Tables, *, as_of: date, calendar: Calendar | None = None
) -> pl.DataFrame:
    """For each decision about a deal: what changed on that deal between the day the decision
    was recorded and `as_of` (the change flags of `scoring.changes.deal_changes`), as
    `deal_changes` ("close pushed, amount down"; "" when nothing changed). One row per decision
    about a deal, sorted by decision id; empty when the data has no change history."""
    calendar = calendar or Calendar()
    about_deals = decisions.filter(
        (pl.col("about_kind") == "deal") & pl.col("about_id").is_not_null()
    ).select("decision_id", opp_id=pl.col("about_id"), since=pl.col("recorded_at").dt.date())
    windows = about_deals["since"].unique().sort().to_list()  # one query per recording day
    flags = [
        deal_changes(tables, since=min(day, as_of), until=as_of, calendar=calendar)
        .select("opp_id", kind=pl.col("kind").cast(pl.String))
        .with_columns(since=pl.lit(day))
        for day in windows
    ]
    changed = pl.concat(flags) if flags else pl.DataFrame(
        schema={"opp_id": pl.String, "kind": pl.String, "since": pl.Date}
    )  # fmt: skip
    return (
        about_deals.join(changed, on=["opp_id", "since"], how="left")
        .group_by("decision_id")
        .agg(
            deal_changes=pl.col("kind").drop_nulls().sort().str.replace_all("_", " ").str.join(", ")
        )
        .sort("decision_id")
    )
