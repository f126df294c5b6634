"""One deal, read whole, for the deal page and the deal columns of every deal table.

A review that stops on a deal asks: where is it, how long has it sat in each stage compared
with the company, what changed and when, and what should worry us. This module answers
each for one deal from the same intermediates the pipeline metrics use:

* `deal_summary` — the deal as it stood at the end of the as-of day, with its owner's name;
* `deal_timeline` — its stage spells (`scoring.stages.stage_spells`) against each stage's
  company median (`scoring.risk.company_stage_medians`, the stage-age reason's yardstick);
* `deal_history` — every recorded change (stage, amount, close date, category) with its date;
* `deal_flags` / `deal_marks` — the change flags over a review window
  (`scoring.changes.deal_changes`) as short text ("pushed +14d, amount ↓"), with the risk
  score (`scoring.risk.deal_risk`), one row per deal for the link columns of deal tables.

On a stage history the connector derived from each deal's current values the spells are a
reconstruction: `timeline_status` says the days are not measured, and flags and risk say so
through `changes_status` and `risk_status`.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from model.calendar import Calendar
from model.params import RiskParams
from model.tables import ENGINE, Tables, opportunities_with_team
from scoring.changes import KINDS, changes_status, deal_changes
from scoring.history import _ordered_history, end_of_day, opp_state_at
from scoring.risk import company_stage_medians, deal_risk
from scoring.stages import stage_spells

TIMELINE_DERIVED = (
    "Time in each stage is not measured: the stage history was derived from the deal's "
    "current stage, created and close dates (the source has no history), so the spells "
    "below are a reconstruction, not when the deal really moved."
)
TIMELINE_NO_HISTORY = (
    "Time in each stage is not measured: the data source provides no 'stage_history' table, "
    "so the deal shows one spell in its current stage since it was created."
)

TIMELINE_COLUMNS = (
    "opp_id", "spell_no", "stage", "position", "entered_at", "end_at", "days_in_stage",
    "is_current", "is_closed_stage", "is_won_stage", "median_days", "median_spells",
    "times_median", "entered_date", "end_date",
)  # fmt: skip

# Short text per change kind (`scoring.changes.KINDS`), in that order, for deal tables.
FLAG_TEXT: dict[str, pl.Expr] = {
    "new": pl.lit("new"),
    "won": pl.lit("won"),
    "lost": pl.lit("lost"),
    "reopened": pl.lit("reopened"),
    "amount_up": pl.lit("amount ↑"),
    "amount_down": pl.lit("amount ↓"),
    "close_pushed": pl.format("pushed +{}d", "days_moved"),
    "close_pulled_in": pl.format("pulled in −{}d", pl.col("days_moved").abs()),
    "stage_forward": pl.lit("stage forward"),
    "stage_back": pl.lit("stage back"),
    "category_up": pl.lit("category ↑"),
    "category_down": pl.lit("category ↓"),
}
assert tuple(FLAG_TEXT) == KINDS


def timeline_status(tables: Tables) -> str | None:
    """Why a deal's days in each stage are not measured on `tables`, or None when they are."""
    if tables.is_derived("stage_history"):
        return TIMELINE_DERIVED
    if not tables.has("stage_history"):
        return TIMELINE_NO_HISTORY
    return None


def deal_summary(
    tables: Tables, deal_id: str, *, as_of: date, calendar: Calendar | None = None
) -> pl.DataFrame:
    """The deal as it stood at the end of `as_of`: name, stage, amount, close date, forecast
    category, team, `owner` (the owner's name; null when the users table has none) and
    `owner_id`, created_at, is_closed, is_won. No row when no deal has that id, or the deal
    was created after `as_of`. Grain: opp_id."""
    calendar = calendar or Calendar()
    names = tables.users.select(pl.col("user_id").alias("owner_id"), owner=pl.col("name"))
    return (
        opp_state_at(tables, at=end_of_day(as_of, calendar.timezone))
        .filter(pl.col("opp_id") == deal_id)
        .join(names, on="owner_id", how="left")
        .select(
            "opp_id",
            "name",
            pl.col("stage").cast(pl.String),
            "amount",
            "close_date",
            "forecast_category",
            "team",
            "owner",
            "owner_id",
            "created_at",
            pl.col("is_closed", "is_won").fill_null(False),
        )
        .collect(engine=ENGINE)
    )


def deal_timeline(
    tables: Tables, deal_id: str, *, as_of: date, calendar: Calendar | None = None
) -> pl.DataFrame:
    """Each stage spell of one deal as of the end of `as_of`, oldest first, against that
    stage's company median: how long the deal sat in each stage compared with how long the
    company's deals usually sit there.

    `end_at` is when the spell ended (the as-of instant for the open current spell, null for
    the closed stage a deal ends in: closing is an outcome, not time spent); `days_in_stage`
    is fractional days; `median_days` the company median of finished spells in the stage that
    ended in the 12 months before the as-of day (the whole company's, whatever the view's
    teams), over `median_spells` spells; `times_median` = days ÷ median (null without a
    median). `entered_date` / `end_date` are local dates. Grain: (opp_id, spell_no).
    """
    calendar = calendar or Calendar()
    tz = calendar.timezone
    medians = company_stage_medians(tables.company, as_of=as_of, timezone=tz).lazy()
    cutoff = calendar.end_of(as_of)
    # the open spell runs to the as-of instant; the closed stage a deal ends in has no end
    end_at = pl.coalesce("left_at", pl.when(~pl.col("is_closed_stage")).then(pl.lit(cutoff)))
    end_date = (
        pl.when(pl.col("left_at").is_not_null())
        .then(calendar.local_date(pl.col("left_at")))
        .when(~pl.col("is_closed_stage"))
        .then(pl.lit(as_of))  # the as-of instant is the exclusive end of that day
    )
    return (
        stage_spells(tables, as_of=as_of, timezone=tz)
        .lazy()
        .filter(pl.col("opp_id") == deal_id)
        .with_columns(pl.col("stage").cast(pl.String), end_at=end_at, end_date=end_date)
        .join(medians.rename({"spells": "median_spells"}), on="stage", how="left")
        .with_columns(
            times_median=pl.when(pl.col("median_days") > 0).then(
                pl.col("days_in_stage") / pl.col("median_days")
            ),
            entered_date=calendar.local_date(pl.col("entered_at")),
        )
        .select(TIMELINE_COLUMNS)
        .sort("spell_no")
        .collect(engine=ENGINE)
    )


def _change_text() -> pl.Expr:
    """What one history row changed against the row before, as short text."""

    def prev(column: str) -> pl.Expr:
        return pl.col(column).shift(1)

    first = prev("changed_at").is_null()
    days = (pl.col("close_date") - prev("close_date")).dt.total_days()
    amount = pl.col("amount")
    parts = [
        pl.when(first).then(pl.format("first recorded in {}", "stage")),
        pl.when(~first & pl.col("stage").ne_missing(prev("stage"))).then(
            pl.format("stage {} → {}", prev("stage"), "stage")
        ),
        pl.when(~first & amount.ne_missing(prev("amount"))).then(
            pl.when(prev("amount").is_null())
            .then(pl.lit("amount set"))
            .when(amount.is_null())
            .then(pl.lit("amount cleared"))
            .when(amount > prev("amount"))
            .then(pl.lit("amount ↑"))
            .otherwise(pl.lit("amount ↓"))
        ),
        pl.when(~first & pl.col("close_date").ne_missing(prev("close_date"))).then(
            pl.when(days > 0)
            .then(pl.format("pushed +{}d", days))
            .when(days < 0)
            .then(pl.format("pulled in −{}d", days.abs()))
            .when(pl.col("close_date").is_null())
            .then(pl.lit("close date cleared"))
            .otherwise(pl.lit("close date set"))
        ),
        pl.when(~first & pl.col("category").ne_missing(prev("category"))).then(
            pl.format(
                "category {} → {}",
                prev("category").fill_null("(none)"),
                pl.col("category").fill_null("(none)"),
            )
        ),
    ]
    return pl.concat_str(parts, separator=", ", ignore_nulls=True)


def deal_history(
    tables: Tables, deal_id: str, *, as_of: date, calendar: Calendar | None = None
) -> pl.DataFrame:
    """Every recorded change of one deal up to the end of `as_of`, oldest first: the stage,
    amount, close date and forecast category each history row set, `amount_before`, and
    `change` — what it changed against the row before ("stage Proposal → Negotiation,
    pushed +14d", "amount ↓", "category commit → best_case"; the first row "first recorded
    in …"). Rows that changed none of the four are left out. `changed_date` is the local
    date of `changed_at`. Empty without a stage history. Grain: one row per change."""
    calendar = calendar or Calendar()
    at = end_of_day(as_of, calendar.timezone)
    return (
        _ordered_history(tables)
        .filter(pl.col("opp_id") == deal_id, pl.col("entered_at") <= at)
        .select(
            "opp_id",
            pl.col("entered_at").alias("changed_at"),
            pl.col("stage").cast(pl.String),
            "amount",
            "close_date",
            pl.col("forecast_category").cast(pl.String).alias("category"),
        )
        .with_columns(change=_change_text(), amount_before=pl.col("amount").shift(1))
        .filter(pl.col("change") != "")
        .select(
            "opp_id",
            "changed_at",
            calendar.local_date(pl.col("changed_at")).alias("changed_date"),
            "change",
            "stage",
            "amount_before",
            "amount",
            "close_date",
            pl.col("category").alias("forecast_category"),
        )
        .collect(engine=ENGINE)
    )


def deal_flags(
    tables: Tables, *, since: date, until: date, calendar: Calendar | None = None
) -> pl.DataFrame:
    """Each deal that changed between the end of `since` and the end of `until`, with its
    change flags as short text in kind order ("pushed +14d, amount ↓") and as `kinds`.
    Empty when `scoring.changes.changes_status` says changes are not measured.
    Grain: opp_id."""
    rows = deal_changes(tables, since=since, until=until, calendar=calendar)
    text = pl.coalesce(*(pl.when(pl.col("kind") == k).then(t) for k, t in FLAG_TEXT.items()))
    return (
        rows.lazy()
        .with_columns(text=text)
        .group_by("opp_id")
        .agg(
            flags=pl.col("text").sort_by("kind").str.join(", "),
            kinds=pl.col("kind").sort(),
        )
        .sort("opp_id")
        .collect(engine=ENGINE)
    )


def deal_marks(
    tables: Tables,
    *,
    since: date,
    until: date,
    calendar: Calendar | None = None,
    risk: RiskParams | None = None,
) -> pl.DataFrame:
    """What a deal table shows beside each deal: its `name`, its change `flags` since the
    end of `since` ("" when nothing changed) and its `risk` score at the end of `until`
    (null for a deal not open then). Flags are null throughout when changes are not
    measured, risk when the score is not (`changes_status`, `risk_status`). Every deal of
    `tables`. Grain: opp_id."""
    calendar = calendar or Calendar()
    flags = deal_flags(tables, since=since, until=until, calendar=calendar)
    scores = deal_risk(tables, as_of=until, params=risk, timezone=calendar.timezone)
    measured = changes_status(tables) is None
    return (
        opportunities_with_team(tables)
        .select("opp_id", "name")
        .join(flags.lazy().select("opp_id", "flags"), on="opp_id", how="left")
        .join(scores.lazy().select("opp_id", risk="score"), on="opp_id", how="left")
        .with_columns(flags=pl.col("flags").fill_null("") if measured else pl.lit(None, pl.String))
        .sort("opp_id")
        .collect(engine=ENGINE)
    )


def find_deals(tables: Tables, query: str, *, limit: int = 25) -> pl.DataFrame:
    """Deals whose name holds `query` (case-insensitive, as plain text), by name: opp_id,
    name, team, stage, amount, close_date. Grain: opp_id."""
    needle = query.strip().lower()
    return (
        opportunities_with_team(tables)
        .filter(
            pl.lit(bool(needle)),
            pl.col("name").str.to_lowercase().str.contains(needle, literal=True),
        )
        .select("opp_id", "name", "team", pl.col("stage").cast(pl.String), "amount", "close_date")
        .sort("name", "opp_id")
        .head(limit)
        .collect(engine=ENGINE)
    )
