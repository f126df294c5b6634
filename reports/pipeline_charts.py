"""Altair charts (and the small display reshaping behind them) for the Pipeline flow and
Forecast pages. Pure functions: frame in, `alt.Chart` or frame out, no Streamlit.

Every chart that supports drill-down declares one point selection named "pick" with
explicit `fields=`, so the page can read the picked value with `_widgets.selected_value`.
"""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import polars as pl

from model import formats
from reports.colors import (
    MONEY_FORMAT,
    NUMBER_FORMAT,
    PCT_AXIS_FORMAT,
    team_scale,
)

ALL_TEAMS = "All teams"
ALL_SOURCES = "(all)"
BUCKET_LABELS = {
    "start": "Start",
    "created": "Created",
    "pulled_in": "Pulled in",
    "increased": "Increased",
    "decreased": "Decreased",
    "pushed_out": "Pushed out",
    "won": "Won (closed)",
    "lost": "Lost",
    "end": "End",
}
# Signed so that the components add up to the miss (actual − forecast), as in
# scoring.forecast.forecast_miss_decomposition.
MISS_SIGNS = {
    "unforecast_wins": 1.0,
    "slipped": -1.0,
    "lost": -1.0,
    "still_open": -1.0,
    "amount_changes": 1.0,
    "residual": 1.0,
}
MISS_LABELS = {
    "unforecast_wins": "Wins not in commit",
    "slipped": "Slipped out",
    "lost": "Lost",
    "still_open": "Still open",
    "amount_changes": "Amount changes",
    "residual": "Call judgement (commit at lock − call)",
}
# What a waterfall bar means. Won leaves the pipeline but is the outcome the pipeline is for:
# it has its own color, never the loss red that lost, pushed-out and shrunk deals share.
TOTAL, ADDS, WON, TAKES_AWAY = (
    "Start / end",
    "Adds to pipeline",
    "Won (closed: an outcome)",
    "Takes away (lost, pushed out, shrunk)",
)
FLOW_COLORS = alt.Scale(
    domain=[TOTAL, ADDS, WON, TAKES_AWAY], range=["#7f7f7f", "#59a14f", "#4e79a7", "#e15759"]
)
MONEY_AXIS = alt.Axis(format=MONEY_FORMAT)
PCT_AXIS = alt.Axis(format=PCT_AXIS_FORMAT)
NUMBER_AXIS = alt.Axis(format=NUMBER_FORMAT)


def _pick(*fields: str) -> alt.Parameter:
    return alt.selection_point(name="pick", fields=list(fields), on="click")


def _team_color(
    teams: Sequence[str], present: pl.Series | None = None, *, legend: bool = True
) -> alt.Color:
    """Color by team; with `present` (the chart's team column) the legend lists only those."""
    shown = None if present is None else present.drop_nulls().unique().to_list()
    return alt.Color(
        "team:N",
        scale=team_scale(teams, shown),
        title="Team",
        legend=alt.Legend() if legend else None,
    )


def drill(frame: pl.DataFrame, **values: str | None) -> pl.DataFrame:
    """Rows of `frame` matching every given column value; None (nothing picked) and
    team "All teams" do not filter. The selection → records step behind every drill-down."""
    keep = [
        pl.col(column) == value
        for column, value in values.items()
        if value is not None and not (column == "team" and value == ALL_TEAMS)
    ]
    return frame.filter(*keep) if keep else frame


# --- Pipeline flow ----------------------------------------------------------------------


def days_in_stage_chart(
    frame: pl.DataFrame, *, stage_order: Sequence[str], teams: Sequence[str]
) -> alt.LayerChart:
    """Per stage (pipeline order) one mark per team: dot = median days, thick bar = median
    to p75, thin line = to p90. Pick a mark to see the spells behind it (team, stage)."""
    pick = _pick("team", "stage")
    base = alt.Chart(frame).encode(
        y=alt.Y("stage:N", sort=list(stage_order), title=None),
        yOffset=alt.YOffset("team:N", sort=sorted(set(frame["team"]))),
        color=_team_color(teams, frame["team"]),
        opacity=alt.condition(pick, alt.value(1.0), alt.value(0.35)),
        tooltip=[
            alt.Tooltip("stage:N", title="Stage"),
            alt.Tooltip("team:N", title="Team"),
            alt.Tooltip("n:Q", title="Spells", format=","),
            alt.Tooltip("median_days:Q", title="Median days", format=".1f"),
            alt.Tooltip("p75_days:Q", title="p75 days", format=".1f"),
            alt.Tooltip("p90_days:Q", title="p90 days", format=".1f"),
        ],
    )
    x = alt.X("median_days:Q", title="Days in stage (median, p75, p90)", axis=NUMBER_AXIS)
    tail = base.mark_rule(strokeWidth=1.5).encode(x=x, x2="p90_days:Q")
    body = base.mark_rule(strokeWidth=6).encode(x=x, x2="p75_days:Q")
    dot = base.mark_point(filled=True, size=60, stroke="white").encode(x=x).add_params(pick)
    return alt.layer(tail, body, dot).properties(height=alt.Step(9))


# Cell text turns white from this share of the color scale's top: where the "reds" scheme
# gets dark enough (relative luminance below ~0.18) for white to contrast more than black.
DARK_CELL = 0.65


def stall_cells(frame: pl.DataFrame) -> pl.DataFrame:
    """Team × stage rows (All teams left out) as the heatmap draws them: the stalled share
    (`scoring.stages.stalls_by_team`: stalled ÷ open deals) that colors the cell, the label
    saying the same share with its count ("44% · 24 of 54 stalled") and `dark` for cells
    that need light text. The color scale runs from 0 to `scale_top`, the largest share
    rounded up to the next 10%."""
    rows = frame.filter(pl.col("team") != ALL_TEAMS)
    top = rows["stalled_share"].max()
    scale_top = max(0.1, (int(top * 10 - 1e-9) + 1) / 10) if top is not None else 1.0
    percent = (pl.col("stalled_share") * 100).round(0).cast(pl.Int64)
    return rows.with_columns(
        cell_label=pl.when(pl.col("stalled_share").is_null())
        .then(pl.lit("no open deals"))
        .otherwise(
            pl.format(
                "{}% · {} of {} stalled", percent, pl.col("stalled_count"), pl.col("open_deals")
            )
        ),
        dark=(pl.col("stalled_share") >= DARK_CELL * scale_top).fill_null(False),
        scale_top=pl.lit(scale_top),
    )


def stall_heatmap(frame: pl.DataFrame, *, stage_order: Sequence[str]) -> alt.LayerChart:
    """Team × stage: color and label are the same figure, the share of the team's open deals
    in the stage that are stalled (label: that share and the count behind it). Cells dark
    enough carry white text. Pick a cell to drill down."""
    rows = stall_cells(frame)
    top = rows["scale_top"][0] if rows.height else 1.0
    pick = _pick("team", "stage")
    base = alt.Chart(rows).encode(
        x=alt.X("stage:N", sort=list(stage_order), title=None, axis=alt.Axis(labelAngle=0)),
        y=alt.Y("team:N", title=None),
    )
    cells = base.mark_rect(stroke="white").encode(
        color=alt.Color(
            "stalled_share:Q",
            title="Stalled share of open deals",
            scale=alt.Scale(scheme="reds", domain=[0.0, top]),
            legend=alt.Legend(format=PCT_AXIS_FORMAT),
        ),
        opacity=alt.condition(pick, alt.value(1.0), alt.value(0.4)),
        tooltip=[
            alt.Tooltip("team:N", title="Team"),
            alt.Tooltip("stage:N", title="Stage"),
            alt.Tooltip("open_deals:Q", title="Open deals", format=","),
            alt.Tooltip("stalled_count:Q", title="Stalled", format=","),
            alt.Tooltip("stalled_share:Q", title="Stalled share", format=formats.PERCENT.d3),
            alt.Tooltip(
                "company_stalled_share:Q", title="Company stalled share", format=formats.PERCENT.d3
            ),
            alt.Tooltip("stalled_amount:Q", title="Stalled $", format="$,.0f"),
            alt.Tooltip("median_age_days:Q", title="Median age (days)", format=".1f"),
            alt.Tooltip("company_median_age_days:Q", title="Company median", format=".1f"),
            alt.Tooltip("age_vs_company:Q", title="Age × company median", format=".2f"),
        ],
    )
    label = base.mark_text(fontSize=12).encode(
        text=alt.Text("cell_label:N"),
        color=alt.condition("datum.dark", alt.value("white"), alt.value("#111111")),
    )
    return alt.layer(cells.add_params(pick), label).properties(height=220)


def waterfall_bars(frame: pl.DataFrame) -> pl.DataFrame:
    """One team's waterfall as floating bars: `bar_start`/`bar_end` per bucket (start and
    end from zero, every flow from the running total), `flow` = what the bar means (start /
    end, adds, won — an outcome —, takes away). Expects the buckets of one team in bridge
    order (scoring sorts them)."""
    bucket = pl.col("bucket").cast(pl.String)
    is_total = bucket.is_in(["start", "end"])
    flow = pl.when(bucket == "end").then(0.0).otherwise("amount")
    top = flow.cum_sum()
    return frame.select(
        bucket,
        label=bucket.replace_strict(BUCKET_LABELS),
        amount=pl.col("amount"),
        deals=pl.col("deals"),
        bar_start=pl.when(is_total).then(0.0).otherwise(top - flow),
        bar_end=pl.when(is_total).then(pl.col("amount")).otherwise(top),
        flow=pl.when(is_total)
        .then(pl.lit(TOTAL))
        .when(bucket == "won")
        .then(pl.lit(WON))
        .when(pl.col("amount") >= 0)
        .then(pl.lit(ADDS))
        .otherwise(pl.lit(TAKES_AWAY)),
    )


def waterfall_chart(frame: pl.DataFrame) -> alt.LayerChart:
    """The pipeline bridge for one team: start → created → pulled in → increased →
    decreased → pushed out → won → lost → end, as floating bars; the legend says what each
    color means (won in its own color: closed, not lost). Pick a bar for its deals."""
    bars = waterfall_bars(frame).with_columns(top=pl.max_horizontal("bar_start", "bar_end"))
    pick = _pick("bucket")
    base = alt.Chart(bars).encode(
        x=alt.X(
            "label:N", sort=list(BUCKET_LABELS.values()), title=None, axis=alt.Axis(labelAngle=0)
        ),
    )
    columns = base.mark_bar(size=48).encode(
        y=alt.Y("bar_start:Q", title="Pipeline $", axis=MONEY_AXIS),
        y2="bar_end:Q",
        color=alt.Color(
            "flow:N",
            scale=FLOW_COLORS,
            title="Bar",
            legend=alt.Legend(orient="bottom", labelLimit=320),
        ),
        opacity=alt.condition(pick, alt.value(1.0), alt.value(0.4)),
        tooltip=[
            alt.Tooltip("label:N", title="Bucket"),
            alt.Tooltip("flow:N", title="Means"),
            alt.Tooltip("amount:Q", title="Amount", format="$,.0f"),
            alt.Tooltip("deals:Q", title="Deals", format=","),
        ],
    )
    labels = base.mark_text(dy=-8).encode(
        y=alt.Y("top:Q", axis=MONEY_AXIS), text=alt.Text("amount:Q", format="$,.3~s")
    )
    return alt.layer(columns.add_params(pick), labels).properties(height=360)


def team_summary(
    win_rate: pl.DataFrame, coverage: pl.DataFrame, velocity: pl.DataFrame, cycle: pl.DataFrame
) -> pl.DataFrame:
    """The per-team pipeline health metrics side by side (a display join on team)."""
    return (
        win_rate.select("team", "won", "lost", "win_rate_count", "win_rate_amount")
        .join(
            coverage.select("team", "open_pipeline", "coverage", "required_coverage", "notes"),
            on="team",
            how="full",
            coalesce=True,
        )
        .join(velocity.select("team", "velocity"), on="team", how="full", coalesce=True)
        .join(
            cycle.select("team", "cycle_days_median", "cycle_days_excluded"),
            on="team",
            how="full",
            coalesce=True,
        )
        .sort(pl.col("team") == ALL_TEAMS, "team")
    )


# --- Forecast ---------------------------------------------------------------------------


def forecast_lines(
    accuracy: pl.DataFrame, *, team: str | None = None, company: pl.DataFrame | None = None
) -> pl.DataFrame:
    """The rows of the forecast-vs-actual chart, one per team × period × measure (locked
    call, actual): every team's when `team` is None; one team's; or, for `team` "All teams",
    the company's from `company` (`scoring.forecast.wape`: Σ the teams' locked calls and Σ
    what they closed per period) — so the All teams line is drawn from measured rows."""
    columns = ["team", "period", "forecast", "actual", "is_complete"]
    if team == ALL_TEAMS:
        source = (
            pl.DataFrame(schema=accuracy.select(columns).schema)
            if company is None
            else company.select(pl.lit(ALL_TEAMS).alias("team"), *columns[1:])
        )
    elif team is not None:
        source = accuracy.filter(pl.col("team") == team).select(columns)
    else:
        source = accuracy.select(columns)
    long = source.unpivot(
        index=["team", "period", "is_complete"],
        on=["forecast", "actual"],
        variable_name="measure",
        value_name="amount",
    )
    return long.with_columns(
        measure=pl.col("measure").replace_strict({"forecast": "Locked call", "actual": "Actual"})
    ).drop_nulls("amount")


def forecast_vs_actual_chart(
    accuracy: pl.DataFrame,
    *,
    teams: Sequence[str],
    team: str | None = None,
    company: pl.DataFrame | None = None,
) -> alt.LayerChart:
    """Per period: the locked call (dashed) and what closed (solid), for one team, for All
    teams (from `company`, see `forecast_lines`), or for every team when `team` is None (the
    pre-read facets that by team). In-progress periods show the actual so far (hollow
    points). The legend lists only the teams drawn. Pick a point to drill into the team."""
    long = forecast_lines(accuracy, team=team, company=company)
    pick = _pick("team")
    shown = long["team"].unique().to_list()
    color = _team_color(teams, long["team"])
    base = alt.Chart(long).encode(
        x=alt.X("period:O", title="Period", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("amount:Q", title="Amount", axis=MONEY_AXIS),
        color=color,
        strokeDash=alt.StrokeDash(
            "measure:N",
            title="Line",
            scale=alt.Scale(domain=["Actual", "Locked call"], range=[[1, 0], [5, 4]]),
        ),
        detail="measure:N",
        tooltip=[
            alt.Tooltip("team:N", title="Team"),
            alt.Tooltip("period:O", title="Period"),
            alt.Tooltip("measure:N", title="What"),
            alt.Tooltip("amount:Q", title="Amount", format="$,.0f"),
            alt.Tooltip("is_complete:N", title="Period complete"),
        ],
    )
    lines = base.mark_line().encode(opacity=alt.condition(pick, alt.value(1), alt.value(0.3)))
    points = base.mark_point(size=50).encode(
        fill=alt.condition(
            "datum.is_complete",
            "team:N",
            alt.value("white"),
            scale=team_scale(teams, shown),
            legend=None,
        ),
    )
    return alt.layer(lines, points.add_params(pick)).properties(height=320)


def trend_chart(
    accuracy: pl.DataFrame, *, field: str, title: str, teams: Sequence[str]
) -> alt.LayerChart:
    """One line per team over the judged (complete) periods of `field` (accuracy or bias,
    a fraction); for bias a zero line marks an unbiased call (above = over-forecast)."""
    judged = accuracy.filter(pl.col("is_complete") & pl.col(field).is_not_null())
    line = (
        alt.Chart(judged)
        .mark_line(point=True)
        .encode(
            x=alt.X("period:O", title="Period", axis=alt.Axis(labelAngle=0)),
            y=alt.Y(f"{field}:Q", title=title, axis=PCT_AXIS),
            color=_team_color(teams, judged["team"]),
            tooltip=[
                alt.Tooltip("team:N", title="Team"),
                alt.Tooltip("period:O", title="Period"),
                alt.Tooltip(f"{field}:Q", title=title, format=".1%"),
            ],
        )
    )
    layers: list[alt.Chart] = [line]
    if field == "bias":
        zero = alt.Chart(pl.DataFrame({"y": [0.0]})).mark_rule(color="#333", strokeDash=[3, 3])
        layers.insert(0, zero.encode(y=alt.Y("y:Q", axis=PCT_AXIS)))
    return alt.layer(*layers).properties(height=260)


def week_accuracy_chart(
    variance: pl.DataFrame, *, period: str, category: str, lock_week: int, teams: Sequence[str]
) -> alt.LayerChart:
    """How good the call made in week k of `period` was, per team (the `category` forecast
    standing that week vs the final actual); a rule marks the lock week."""
    rows = variance.filter(
        pl.col("period") == period,
        pl.col("category").cast(pl.String) == category,
        pl.col("accuracy").is_not_null(),
    )
    line = (
        alt.Chart(rows)
        .mark_line(point=True)
        .encode(
            x=alt.X("week:O", title="Week of period", axis=alt.Axis(labelAngle=0)),
            y=alt.Y("accuracy:Q", title="Accuracy", axis=PCT_AXIS),
            color=_team_color(teams, rows["team"]),
            tooltip=[
                alt.Tooltip("team:N", title="Team"),
                alt.Tooltip("week:O", title="Week"),
                alt.Tooltip("forecast:Q", title="Call", format="$,.0f"),
                alt.Tooltip("actual:Q", title="Actual", format="$,.0f"),
                alt.Tooltip("accuracy:Q", title="Accuracy", format=".1%"),
            ],
        )
    )
    lock = (
        alt.Chart(pl.DataFrame({"week": [lock_week], "label": [f"lock (week {lock_week})"]}))
        .mark_rule(color="#333", strokeDash=[4, 3])
        .encode(x="week:O", tooltip=alt.Tooltip("label:N", title="Lock week"))
    )
    return alt.layer(line, lock).properties(height=260)


def wape_chart(wape: pl.DataFrame) -> alt.Chart:
    """Company WAPE per complete period (lower is better); tooltip carries pooled bias."""
    done = wape.filter(pl.col("wape").is_not_null())
    return (
        alt.Chart(done)
        .mark_bar(color="#4e79a7", size=28)
        .encode(
            x=alt.X("period:O", title="Period", axis=alt.Axis(labelAngle=0)),
            y=alt.Y("wape:Q", title="WAPE", axis=PCT_AXIS),
            tooltip=[
                alt.Tooltip("period:O", title="Period"),
                alt.Tooltip("wape:Q", title="WAPE", format=".1%"),
                alt.Tooltip("bias:Q", title="Pooled bias", format="+.1%"),
                alt.Tooltip("teams:Q", title="Teams judged", format=","),
            ],
        )
        .properties(height=260)
    )


def miss_components(miss: pl.DataFrame) -> pl.DataFrame:
    """Team rows of the miss decomposition as signed components (one row per team ×
    component) that add up to the team's miss = actual − forecast."""
    teams = miss.filter(pl.col("sourced_by") == ALL_SOURCES)
    return (
        teams.unpivot(
            index="team", on=list(MISS_SIGNS), variable_name="component", value_name="amount"
        )
        .with_columns(
            pl.col("amount") * pl.col("component").replace_strict(MISS_SIGNS),
            label=pl.col("component").replace_strict(MISS_LABELS),
        )
        .sort(
            "team",
            pl.col("component").replace_strict(list(MISS_SIGNS), list(range(len(MISS_SIGNS)))),
        )
    )


def miss_chart(miss: pl.DataFrame) -> alt.Chart:
    """Per team, the signed pieces of the miss (right = added to actual vs the call,
    left = took away). Pick a bar to see the team's deals."""
    pick = _pick("team")
    return (
        alt.Chart(miss_components(miss))
        .mark_bar()
        .encode(
            y=alt.Y("team:N", title=None),
            yOffset=alt.YOffset("label:N", sort=list(MISS_LABELS.values())),
            x=alt.X("amount:Q", title="Contribution to actual − call", axis=MONEY_AXIS),
            color=alt.Color(
                "label:N",
                sort=list(MISS_LABELS.values()),
                title="Component",
                scale=alt.Scale(scheme="tableau10"),
            ),
            opacity=alt.condition(pick, alt.value(1.0), alt.value(0.4)),
            tooltip=[
                alt.Tooltip("team:N", title="Team"),
                alt.Tooltip("label:N", title="Component"),
                alt.Tooltip("amount:Q", title="Amount", format="$,.0f"),
            ],
        )
        .add_params(pick)
        .properties(height=alt.Step(10))
    )


def with_owner_names(deals: pl.DataFrame, users: pl.DataFrame) -> pl.DataFrame:
    """`deals` with an `owner` column (the owner's name, else the owner id) after `owner_id`
    — a display lookup, row order kept."""
    names = users.select("user_id", owner=pl.col("name"))
    joined = deals.join(
        names, left_on="owner_id", right_on="user_id", how="left", maintain_order="left"
    )
    columns = [c for c in deals.columns if c != "owner_id"]
    return joined.with_columns(pl.col("owner").fill_null(pl.col("owner_id"))).select(
        "opp_id", "owner", *[c for c in columns if c != "opp_id"], "owner_id"
    )


def csv_safe(frame: pl.DataFrame) -> pl.DataFrame:
    """List columns joined into "a; b; c" strings, so the frame can be written as CSV."""
    lists = [name for name, dtype in frame.schema.items() if isinstance(dtype, pl.List)]
    return frame.with_columns(
        pl.col(name).list.eval(pl.element().cast(pl.String)).list.join("; ") for name in lists
    )


# --- This quarter's call ------------------------------------------------------------------

CALL_LINES = {
    "won": "Won to date",
    "won_commit": "Won + commit",
    "won_commit_best": "Won + commit + best case",
    "call_commit": "Submitted commit",
}
CALL_LINE_COLORS = alt.Scale(
    domain=list(CALL_LINES.values()), range=["#59a14f", "#4e79a7", "#a0cbe8", "#f28e2b"]
)


def money_text(column: str) -> pl.Expr:
    """Amounts in a table, exact (`model.formats.money_text`): 1234567 → "$1,234,567",
    null → "—"."""
    return formats.money_text(column)


def _with_unknown(bucket: str) -> pl.Expr:
    """A bucket's amount, with the deals whose amount is unknown named beside it."""
    unknown = pl.col(f"{bucket}_unknown")
    note = pl.format(" (+{} without amount)", unknown)
    return (
        pl.when(unknown > 0).then(money_text(bucket) + note).otherwise(money_text(bucket))
    ).alias(bucket)


def call_table(call: pl.DataFrame) -> pl.DataFrame:
    """The call as a table to read: money as "$1,234,567", the gap as "above quota by …" when won
    exceeds quota, the submission's age with a stale badge, "not measured" with its reason."""
    gap = (
        pl.when(pl.col("gap").is_null())
        .then(pl.lit("not measured"))
        .when(pl.col("gap") <= 0)
        .then(pl.lit("above quota by ") + money_text("gap").str.strip_prefix("-"))
        .otherwise(money_text("gap"))
    )
    age = pl.col("age_days")
    submission = (
        pl.when(age.is_null())
        .then(pl.lit("no submission"))
        .when(pl.col("stale"))
        .then(pl.format("⚠ stale: {} days old", age))
        .when(age == 0)
        .then(pl.lit("today"))
        .otherwise(pl.format("{} days ago", age))
    )
    return call.select(
        "team",
        *(_with_unknown(b) for b in ("won", "commit", "best_case", "pipeline")),
        quota=money_text("quota"),
        gap=gap,
        open_pipeline=money_text("open_pipeline"),
        coverage="coverage",
        call_commit=money_text("call_commit"),
        submission=submission,
        call_best_case=money_text("call_best_case"),
        notes=pl.col("notes").fill_null(""),
    )


def money_columns(frame: pl.DataFrame, columns: Sequence[str]) -> pl.DataFrame:
    """`frame` with each of `columns` shown as "$1,234,567" text."""
    return frame.with_columns(money_text(c).alias(c) for c in columns)


def call_trend_chart(trend: pl.DataFrame, *, team: str, quota: float | None) -> alt.LayerChart:
    """Week by week for one team (or All teams): won to date, won + commit and won + commit
    + best case as the deals stood at each week's end, and the submitted commit (dashed); a
    grey rule marks the quota when there is one."""
    rows = trend.filter(pl.col("team") == team).with_columns(
        won_commit=pl.col("won") + pl.col("commit"),
        won_commit_best=pl.col("won") + pl.col("commit") + pl.col("best_case"),
    )
    long = (
        rows.unpivot(
            index=["week", "week_end"],
            on=list(CALL_LINES),
            variable_name="line",
            value_name="amount",
        )
        .with_columns(line=pl.col("line").replace_strict(CALL_LINES))
        .drop_nulls("amount")
    )
    lines = (
        alt.Chart(long)
        .mark_line(point=True)
        .encode(
            x=alt.X("week:O", title="Week of the quarter", axis=alt.Axis(labelAngle=0)),
            y=alt.Y("amount:Q", title="Amount", axis=MONEY_AXIS),
            color=alt.Color("line:N", title=None, scale=CALL_LINE_COLORS,
                            legend=alt.Legend(orient="bottom")),
            strokeDash=alt.condition(
                alt.datum.line == CALL_LINES["call_commit"], alt.value([5, 4]), alt.value([1, 0])
            ),
            tooltip=[
                alt.Tooltip("week:O", title="Week"),
                alt.Tooltip("week_end:T", title="Week ends", format="%Y-%m-%d"),
                alt.Tooltip("line:N", title="Line"),
                alt.Tooltip("amount:Q", title="Amount", format="$,.0f"),
            ],
        )
    )  # fmt: skip
    if quota is None:
        return alt.layer(lines).properties(height=300)
    rule = alt.Chart(pl.DataFrame({"quota": [quota], "label": ["Quota"]})).encode(
        y=alt.Y("quota:Q", axis=MONEY_AXIS),
        tooltip=alt.Tooltip("quota:Q", title="Quota", format="$,.0f"),
    )
    label = rule.mark_text(align="left", dx=4, dy=-6, color="#555").encode(
        x=alt.value(0), text="label:N"
    )
    return alt.layer(rule.mark_rule(color="#555", strokeDash=[2, 2]), label, lines).properties(
        height=300
    )
