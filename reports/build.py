"""Builds the pre-read of a stored snapshot: scorecard, changes, freshness and the key charts.

The I/O edge of the pre-read (like the `python -m ops` CLI): it reads the store and the
settings, computes what `scoring.preread.assemble` needs and writes the files.

The key charts come from the chart builders the pages draw too (`reports/pipeline_charts.py`,
`reports/funnel_charts.py`) fed by the same metric adapters (`reports/metrics.py`), so their
specs are the pages'. Those modules import no Streamlit (a test checks it), so the pre-read
can be built by the CLI and the scheduler without the app.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import altair as alt
import polars as pl

from model.calendar import Period
from model.params import ScoringParams
from model.tables import ALL_TEAMS, Tables, opportunities_with_team
from reports import funnel_charts, metrics, pipeline_charts
from reports.render import to_html, to_pdf
from reports.review import review_for
from reports.snapshot_tables import read_bundle
from scoring import perception
from scoring.periods import resolve_period
from scoring.preread import Chart, Freshness, PreRead, assemble
from scoring.review import ReviewChanges, review_changes, review_window
from scoring.scorecard import Scorecard, compare, compute, filter_teams
from scoring.stages import stall_status

if TYPE_CHECKING:
    from snapshots.store import Snapshot


class _AppLink(Protocol):
    @property
    def app_url(self) -> str: ...


class ReportSettings(Protocol):
    """What the pre-read reads of the configuration (`ops.config.Settings` provides it): the
    data folder, the scoring parameters and where "open the live view" points."""

    @property
    def data_dir(self) -> Path: ...

    @property
    def scoring(self) -> ScoringParams: ...

    @property
    def preread(self) -> _AppLink: ...


FORMATS = ("pdf", "html")


def sales_teams(tables: Tables) -> list[str]:
    """Teams that own opportunities (the app's team filter and color domain)."""
    teams = opportunities_with_team(tables).select("team").unique().sort("team").collect()
    return teams["team"].to_list()


def key_charts(
    tables: Tables, *, as_of: date, period: Period, params: ScoringParams, all_teams: Sequence[str]
) -> tuple[Chart, ...]:
    """One key chart per pillar, built by the pages' chart functions from the same metric
    adapters (`reports.metrics`), for `tables` already restricted to the view's teams."""
    ctx = metrics.MetricContext(as_of=as_of, period=period, params=params)

    def metric(name: str, **options: Any) -> pl.DataFrame:
        return metrics.METRICS[name](tables, ctx, **options)

    charts = [
        _waterfall(metric("waterfall"), period),
        # no "sits too long" chart where time in a stage is unknown (derived or no history)
        None
        if stall_status(tables)
        else _stalls(metric("stalls_by_team"), metric("stall_thresholds")),
        _forecast(metric("forecast_accuracy"), all_teams),
        _quality(metric("quality_checks")),
    ]
    return tuple(c for c in charts if c is not None)


def _waterfall(waterfall: pl.DataFrame, period: Period) -> Chart | None:
    rows = waterfall.filter(pl.col("team") == ALL_TEAMS)
    if rows.is_empty():
        return None
    return Chart(
        "shared_outcomes",
        f"Pipeline waterfall — {period.label}, all teams in view",
        "Qualified pipeline closing in the period: start, what came in and went out, and what "
        "is left. Every bar is labelled with its amount (negative = left the pipeline); won "
        "deals are blue, an outcome, and only lost, pushed-out and shrunk deals are red.",
        pipeline_charts.waterfall_chart(rows).to_dict(),
    )


def _stalls(by_team: pl.DataFrame, thresholds: pl.DataFrame) -> Chart | None:
    if by_team.filter(pl.col("team") != ALL_TEAMS).is_empty():
        return None
    chart = pipeline_charts.stall_heatmap(by_team, stage_order=thresholds["stage"].to_list())
    return Chart(
        "handoff_ownership",
        "Where open deals sit too long (team × stage)",
        "Each cell is colored and labelled with the share of the team's open deals in the "
        "stage that are stalled, and how many they are; darker = a larger share.",
        chart.to_dict(),
    )


def _forecast(accuracy: pl.DataFrame, teams: Sequence[str]) -> Chart | None:
    if accuracy.is_empty():
        return None
    # One panel per team, titled with its name, so the chart reads without color; the lines
    # are the page's spec (dashed = locked call, solid = actual).
    chart = pipeline_charts.forecast_vs_actual_chart(accuracy, teams=teams).properties(
        width=500, height=90
    )
    return Chart(
        "forecast_integrity",
        "Locked call vs actual, by team",
        "Dashed line = the call locked in week 3, solid = what closed; hollow points = period "
        "still in progress. One panel per team.",
        chart.facet(facet=alt.Facet("team:N", title=None), columns=1).to_dict(),
    )


def _quality(checks: pl.DataFrame) -> Chart | None:
    if checks.filter(pl.col("available")).is_empty():
        return None
    return Chart(
        "shared_data",
        "Records failing each data-quality check",
        "Share of records failing each check (longest bar first), the check named on its row; "
        "severity is shaded (the Data trust page lists each check's severity).",
        funnel_charts.quality_chart(checks).to_dict(),
    )


def _written(snapshot: Snapshot) -> str:
    return snapshot.created_at.strftime("%Y-%m-%d %H:%M UTC")


def freshness(snapshot: Snapshot, previous: Snapshot | None = None) -> Freshness:
    """Where the numbers come from: the snapshot, its source and dates."""
    return Freshness(
        snapshot_id=snapshot.id,
        source=snapshot.source,
        refreshed_at=_written(snapshot),
        data_as_of=snapshot.data_as_of.isoformat(),
        missing_tables=tuple(snapshot.manifest.get("missing_tables", ())),
        previous=_written(previous) if previous else "",
    )


def for_view(
    card: Scorecard,
    changes: dict[str, Any],
    *,
    tables: Tables,
    snapshot: Snapshot,
    previous: Snapshot | None,
    params: ScoringParams,
    app_url: str,
    all_teams: Sequence[str],
    review: ReviewChanges | None = None,
    leaders: pl.DataFrame | None = None,
) -> PreRead:
    """The pre-read of a view whose scorecard and changes are already computed (the app's
    cached ones); `tables` are the snapshot's tables restricted to the view's teams; `review`
    the changes since the last review (the app's cached ones; without it, the last week's
    read from the stage history); `leaders` the leaders' answers beside the evidence
    (`scoring.perception.summary`), when any."""
    as_of, period = card.as_of, card.period  # resolved dates: ttm and all depend on the data
    charts = key_charts(tables, as_of=as_of, period=period, params=params, all_teams=all_teams)
    if review is None:
        review = review_changes(tables, window=review_window(as_of), calendar=params.calendar)
    return assemble(
        card,
        changes,
        freshness=freshness(snapshot, previous),
        app_url=app_url,
        charts=charts,
        review=review,
        leaders=leaders,
    )


def build(
    settings: ReportSettings,
    *,
    as_of: date | None = None,
    period: str = "",
    teams: Sequence[str] = (),
    snapshot_id: str | None = None,
    decisions: pl.DataFrame | None = None,
    answers: pl.DataFrame | None = None,
) -> PreRead:
    """The pre-read of the current (or given) snapshot for a view, with the changes against
    the previous snapshot's scorecard of the same view (as `python -m ops scorecard`).
    `decisions` (the view's, from the decision log) and `answers` (the leaders') are passed in
    by ops/ when the journal can be read: "decisions kept" and the leaders' view beside the data.

    Like the app and the CLI, it reads `Store.readable`: when the current snapshot is damaged,
    the newest valid one before it, and the document says so (first row of its freshness)."""
    from snapshots.store import Store

    store = Store(settings.data_dir)
    if snapshot_id:
        snap, notice = store.get(snapshot_id), None
    else:
        readable = store.readable()
        snap, notice = readable.snapshot, readable.notice
    params, calendar = settings.scoring, settings.scoring.calendar
    as_of = as_of or snap.data_as_of
    # `period` is any name `parse_period` reads ("all" from the snapshot's first day).
    chosen = (
        resolve_period(period, read_bundle(snap), as_of=as_of, calendar=calendar)
        if period
        else calendar.quarter_of(as_of)
    )
    teams = tuple(sorted(teams))

    def card_of(snapshot: Snapshot) -> tuple[Tables, Scorecard]:
        tables = read_bundle(snapshot)
        card = compute(
            tables, as_of=as_of, period=chosen, params=params, teams=teams, decisions=decisions
        )
        return tables, card

    tables, card = card_of(snap)
    before = store.previous(snap)
    changes = compare(card, card_of(before)[1] if before else None)
    viewed = filter_teams(tables, teams)
    # the last week, from the store's snapshots when one is old enough (as the app does)
    review = review_for(store, snap, viewed, window=review_window(as_of), calendar=calendar)
    pre = for_view(
        card,
        changes,
        tables=viewed,
        review=review,
        snapshot=snap,
        previous=before,
        params=params,
        app_url=settings.preread.app_url,
        all_teams=sales_teams(tables),
        leaders=None
        if answers is None
        else perception.summary(
            perception.perception(
                answers, perception.signals_of(card), quarter=calendar.quarter_of(as_of).name
            )
        ),
    )
    if notice is None:
        return pre
    return replace(pre, freshness=(("Not the current snapshot", notice), *pre.freshness))


def render(pre: PreRead, fmt: str) -> bytes:
    """The pre-read as PDF or HTML bytes."""
    if fmt == "pdf":
        return to_pdf(pre)
    if fmt == "html":
        return to_html(pre).encode("utf-8")
    raise ValueError(f"unknown pre-read format {fmt!r}: use one of {FORMATS}")


def file_name(pre: PreRead, fmt: str) -> str:
    """E.g. preread_2026-Q4_2026-11-16_all-teams.pdf."""
    card = pre.card
    if card is None:
        return f"preread.{fmt}"
    teams = "-".join(card.teams).replace(" ", "_") or "all-teams"
    return f"preread_{card.period.name}_{card.as_of}_{teams}.{fmt}"


def write(pre: PreRead, out: Path) -> Path:
    """Write the pre-read to `out` (.pdf or .html), atomically; returns the path."""
    fmt = out.suffix.lower().lstrip(".")
    data = render(pre, fmt)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(out)
    return out
