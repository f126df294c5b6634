"""Charts and display tables for "Changes since last review" (Pipeline flow page): the totals
per team and kind, the deals behind a kind, and the forecast-category transition matrix.
Pure functions: frame in, `alt.Chart` or frame out, no Streamlit.
"""

from __future__ import annotations

import altair as alt
import polars as pl

from model import formats
from model.tables import ALL_TEAMS
from scoring.changes import FLOW, KINDS, NO_CATEGORY, TRENDS
from scoring.review import KIND_LABELS, TREND_LABELS

FLOW_LABELS = {
    "new": "New",
    "omitted": "Omitted",
    "pipeline": "Pipeline",
    "best_case": "Best case",
    "most_likely": "Most likely",
    "commit": "Commit",
    "closed": "Closed",
    NO_CATEGORY: "No category",
    "won": "Won",
    "lost": "Lost",
}
# A cell whose amount is at least this share of the scale's top is dark enough ("blues"
# scheme, relative luminance below ~0.18) for a white label to contrast more than black.
DARK_CELL = 0.7
TOTAL_SINCE = "Total at start"
TOTAL_UNTIL = "Total at as-of"
DEAL_COLUMNS = (
    "name", "owner", "team", "amount_before", "amount_after", "amount_delta",
    "stage_before", "stage_after", "close_date_before", "close_date_after", "days_moved",
    "forecast_category_before", "forecast_category_after", "pushes", "opp_id",
)  # fmt: skip


def money_text(column: str | pl.Expr) -> pl.Expr:
    """Amounts at a glance, as `scoring.model.money` writes them: $1.2M, $46k, $950
    (`model.formats.money_text`, compact)."""
    return formats.money_text(column, compact=True)


def team_order(frame: pl.DataFrame) -> list[str]:
    """The teams of `frame`, by name, All teams last (as every team table of the app)."""
    teams = sorted(set(frame["team"]) - {ALL_TEAMS})
    return [*teams, ALL_TEAMS] if ALL_TEAMS in set(frame["team"]) else teams


def overview(summary: pl.DataFrame, trends: pl.DataFrame) -> pl.DataFrame:
    """One row per team (All teams last): per trend group and per change kind, "deals ·
    amount" (amount at as-of; "—" when none). Columns named as people say the kinds."""
    cell = pl.when(pl.col("deals") > 0).then(
        pl.format("{} · {}", pl.col("deals"), money_text("amount"))
    )
    long = pl.concat(
        [
            trends.select("team", what=pl.col("trend").cast(pl.String), cell=cell),
            summary.select("team", what=pl.col("kind").cast(pl.String), cell=cell),
        ]
    ).with_columns(pl.col("cell").fill_null("—"))
    order = list(TRENDS) + list(KINDS)
    wide = long.pivot(on="what", index="team", values="cell")
    present = [w for w in order if w in wide.columns]
    labels = {**TREND_LABELS, **KIND_LABELS}
    teams = team_order(wide)
    return (
        wide.select("team", *present)
        .rename({w: labels[w] for w in present})
        .sort(pl.col("team").replace_strict(teams, list(range(len(teams)))))
    )


def kinds_of(summary: pl.DataFrame, team: str) -> pl.DataFrame:
    """One team's totals per change kind, in the kinds' order: label, deals, amount (at
    as-of), net_change (Σ amount after − before)."""
    return (
        summary.filter(pl.col("team") == team)
        .sort("kind")
        .select(
            "kind",
            change=pl.col("kind").cast(pl.String).replace_strict(KIND_LABELS),
            deals="deals",
            amount="amount",
            net_change="amount_delta",
        )
    )


def deals_of(rows: pl.DataFrame, *, team: str, kind: str) -> pl.DataFrame:
    """The deals behind one kind for a team (All teams: every one), largest amount first,
    named (deal name, owner's name) with their before → after values."""
    keep = pl.col("kind").cast(pl.String) == kind
    if team != ALL_TEAMS:
        keep = keep & (pl.col("team") == team)
    return (
        rows.filter(keep)
        .sort(pl.col("amount_after").fill_null(0.0), "opp_id", descending=[True, False])
        .select(DEAL_COLUMNS)
    )


def transition_cells(transitions: pl.DataFrame, team: str) -> pl.DataFrame:
    """One team's transition matrix as cells for the heatmap: `from`/`to` labels, deals,
    amount (at as-of), amount_since, `is_total`; plus the margins: a "Total at start" column
    (Σ amount at the window's start per row: the pipeline in that category then) and a "Total
    at as-of" row (Σ amount at as-of per column: what sits there now)."""
    cells = transitions.filter(pl.col("team") == team).with_columns(
        pl.col("from", "to").cast(pl.String).replace_strict(FLOW_LABELS)
    )
    rows = cells.group_by("from").agg(
        to=pl.lit(TOTAL_SINCE),
        deals=pl.col("deals").sum(),
        amount=pl.col("amount_since").sum(),
        amount_since=pl.col("amount_since").sum(),
    )
    columns = cells.group_by("to").agg(
        pl.lit(TOTAL_UNTIL).alias("from"),
        deals=pl.col("deals").sum(),
        amount=pl.col("amount").sum(),
        amount_since=pl.col("amount_since").sum(),
    )
    body = cells.select("from", "to", "deals", "amount", "amount_since")
    margins = pl.concat([rows.select(body.columns), columns.select(body.columns)])
    return (
        pl.concat(
            [body.with_columns(is_total=pl.lit(False)), margins.with_columns(is_total=pl.lit(True))]
        )
        .with_columns(label=money_text("amount"))
        .sort("is_total", "from", "to")
    )


def flow_order(cells: pl.DataFrame) -> tuple[list[str], list[str]]:
    """Row and column labels present in `cells`, in flow order, totals last."""
    order = [FLOW_LABELS[f] for f in FLOW]
    rows = [f for f in order if f in set(cells["from"])] + [TOTAL_UNTIL]
    columns = [f for f in order if f in set(cells["to"])] + [TOTAL_SINCE]
    return rows, columns


def transition_chart(transitions: pl.DataFrame, *, team: str) -> alt.LayerChart:
    """Forecast-category flow for one team: rows = category at the window's start ("New"
    for deals created since), columns = category at as-of (Won / Lost once closed); a cell's
    color and label = the amount now. Grey margins: each row's total at the start, each
    column's total at as-of."""
    cells = transition_cells(transitions, team)
    rows, columns = flow_order(cells)
    body_amounts = cells.filter(~pl.col("is_total"))["amount"]
    top = max(float(body_amounts.max() or 0.0), 1.0)
    # White text on the dark half of the color scale, dark text elsewhere (grey margins too).
    cells = cells.with_columns(dark=~pl.col("is_total") & (pl.col("amount") >= DARK_CELL * top))
    base = alt.Chart(cells).encode(
        x=alt.X("to:N", sort=columns, title="Category at as-of", axis=alt.Axis(labelAngle=0,
                orient="top")),
        y=alt.Y("from:N", sort=rows, title="Category at the start"),
        tooltip=[
            alt.Tooltip("from:N", title="From"),
            alt.Tooltip("to:N", title="To"),
            alt.Tooltip("deals:Q", title="Deals", format=","),
            alt.Tooltip("amount_since:Q", title="Amount at start", format="$,.0f"),
            alt.Tooltip("amount:Q", title="Amount at as-of", format="$,.0f"),
        ],
    )  # fmt: skip
    body = (
        base.transform_filter("!datum.is_total")
        .mark_rect(stroke="white")
        .encode(
            color=alt.Color(
                "amount:Q",
                title="Amount at as-of",
                legend=alt.Legend(format=formats.D3_MONEY_COMPACT),
                scale=alt.Scale(scheme="blues", domain=[0.0, top]),
            ),
        )
    )  # fmt: skip
    totals = base.transform_filter("datum.is_total").mark_rect(stroke="white", color="#e6e6e6")
    labels = base.mark_text(fontSize=12).encode(
        text=alt.Text("label:N"),
        color=alt.condition("datum.dark", alt.value("white"), alt.value("#111111")),
    )
    return alt.layer(body, totals, labels).properties(height=alt.Step(34))
