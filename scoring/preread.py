"""The executive pre-read: what a leader reads before a review, assembled from the scorecard.

Pure: `assemble` takes the scorecard JSON (`Scorecard.to_dict()`), the changes against the
previous snapshot (`scorecard.compare`), the snapshot's freshness and the key charts as
Vega-Lite specs, and returns a `PreRead` whose text is already formatted. The PDF and HTML
renderers (`reports.render`) lay that text out and nothing else, so both show the same
numbers as the app, which reads the same JSON.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import polars as pl

from model import formats
from model.tables import ALL_TEAMS
from scoring.model import PillarScore, Signal, money, pct
from scoring.review import KIND_LABELS, TREND_LABELS, ReviewChanges

if TYPE_CHECKING:
    from scoring.scorecard import Scorecard

# The app's URL query keys for the sidebar filters (pages/_filters.py, bind="query-params"):
# a multiselect is written as one repeated key per chosen value (?teams=A&teams=B).
QUERY_KEYS = ("period", "as_of", "teams")
NOT_AVAILABLE = formats.UNKNOWN  # a value the data lacks: "—"
NOT_MEASURED = "not measured"


@dataclass(frozen=True)
class Chart:
    """One key chart: a Vega-Lite spec built by the pages' chart builders, placed on a pillar's
    page (`pillar`), with a caption saying how to read it without color."""

    pillar: str
    title: str
    caption: str
    spec: dict[str, Any]


@dataclass(frozen=True)
class Freshness:
    """Where the numbers come from and how fresh they are."""

    snapshot_id: str
    source: str
    refreshed_at: str  # when the snapshot was written (ISO, UTC)
    data_as_of: str  # the date the source data describes
    missing_tables: tuple[str, ...] = ()
    previous: str = ""  # when the previous snapshot (the one compared with) was written


@dataclass(frozen=True)
class PillarPage:
    """A pillar's page: score with its change, the signals behind it, drivers, notes, charts."""

    id: str
    name: str
    question: str
    score: str
    change: str
    signals: tuple[tuple[str, str, str], ...]  # (label, value or "not measured: why", score/100)
    drivers: tuple[str, ...]
    notes: tuple[str, ...]
    charts: tuple[Chart, ...] = ()


@dataclass(frozen=True)
class ReviewSection:
    """ "Changes since last review": per team, how many deals (and how much) moved each way
    in the review window, and the largest deals pushed out, by name."""

    title: str  # "Changes since last review — 1 week: 2026-11-09 – 2026-11-16"
    source: str  # where the changes were read from, in words
    reason: str = ""  # why they are not measured ("" when measured)
    columns: tuple[str, ...] = ()  # "Change", the teams, "All teams"
    rows: tuple[tuple[str, ...], ...] = ()  # per trend group and change kind: "deals · amount"
    pushed: tuple[str, ...] = ()  # per team, its largest deals pushed out


@dataclass(frozen=True)
class PreRead:
    """Everything the PDF and the HTML pre-read show, as formatted text (plus chart specs)."""

    title: str
    subtitle: str
    overall: str
    since: str  # "since the snapshot of …" or the first-snapshot notice
    pillars: tuple[PillarPage, ...]
    drivers: tuple[str, ...]
    headline_columns: tuple[str, ...]
    headline_rows: tuple[tuple[str, ...], ...]
    changes: tuple[str, ...]
    freshness: tuple[tuple[str, str], ...]
    link: str
    snapshot_id: str = ""
    card: Scorecard | None = field(repr=False, default=None)
    coverage: str = ""  # how many pillars the overall score covers: "3 of 4 pillars"
    missing: tuple[str, ...] = ()  # per pillar not measured: what the data lacks
    no_drivers: str = "No driver stands out."
    review: ReviewSection | None = None
    # The leaders' answers beside the data's evidence, one line per question, and the gaps named
    leaders: tuple[str, ...] = ()
    leader_gaps: tuple[str, ...] = ()


def score_text(value: float | None) -> str:
    """A 0–100 score as the scorecard JSON holds it (one decimal), or "not measured"."""
    return NOT_MEASURED if value is None else f"{value:.1f}"


def change_text(delta: float | None) -> str:
    """A score change in points, signed ("+2.5"); "—" when there is nothing to compare."""
    return "—" if delta is None else f"{delta:+.1f}"


def signal_kind(unit: str) -> formats.Kind:
    """The kind a signal's value is shown as: a score whole, a ratio as a percent."""
    return formats.SCORE if unit == "score" else formats.PERCENT


def signal_value(value: float | None, unit: str) -> str:
    """A signal's value as the app's Scorecard page shows it ("72", "41.8%"), "—" unknown."""
    return formats.fmt(value, signal_kind(unit))


def move_text(moved: dict[str, Any], unit: str) -> str:
    """A signal's move between two snapshots: its value then and now with the change, and the
    score's change, "41.8% → 22.5% (−19.3 pts); score +42.8, better"."""
    kind = signal_kind(unit)
    change = moved["score_change"]
    verdict = "better" if change > 0 else "worse"
    return (
        f"{formats.fmt_move(moved['previous_value'], moved['value'], kind)}; "
        f"score {formats.fmt_change(change)}, {verdict}"
    )


def signal_text(signal: Signal) -> str:
    """A signal's value with the counts of its rate ("74% (654 of 880)"), or "not measured:
    why"."""
    if not signal.measured:
        return f"{NOT_MEASURED}: {signal.reason}"
    shown = signal.to_dict()  # the value and counts as the JSON holds them (rounded)
    value = signal_value(shown["value"], signal.unit)
    num, den = shown["numerator"], shown["denominator"]
    if signal.unit != "ratio" or num is None or not den:
        return value
    if signal.id in {"slip_rate", "wape"}:
        return f"{value} ({money(num)} of {money(den)})"
    if signal.id in {"forecast_bias", "coverage_vs_required"}:
        return value
    return f"{value} ({num:,.0f} of {den:,.0f})"


def missing_lines(card: Scorecard) -> tuple[str, ...]:
    """Per pillar not measured: "Forecast integrity is not measured: <reasons, each once>"."""
    return tuple(
        f"{p.name} is not measured: "
        + "; ".join(dict.fromkeys(s.reason for s in p.signals if s.reason))
        for p in card.pillars
        if p.score is None
    )


def _per_day(value: float | None) -> str:
    return formats.UNKNOWN if value is None else f"{formats.fmt_money(value)}/day"


# Headline columns in the app's order and labels (pages/scorecard.py), with their formats:
# a table, so money to the dollar as the app's table shows it (model.formats).
HEADLINE: tuple[tuple[str, str, Callable[[Any], str]], ...] = (
    ("win_rate_count", "Win rate", pct),
    ("coverage", "Coverage", formats.fmt_ratio),
    ("required_coverage", "Needed", formats.fmt_ratio),
    ("velocity", "Velocity", _per_day),
    ("stalled_deals", "Stalled deals", formats.fmt_count),
    ("stalled_amount", "Stalled $", formats.fmt_money),
    ("handoff_stalled_share", "Handoff stalls", pct),
    ("forecast_accuracy", "Accuracy", pct),
    ("forecast_bias", "Bias", pct),
)


def live_url(app_url: str, *, period: str, as_of: str, teams: Sequence[str]) -> str:
    """The live view with the same filters: the app reads period, as_of and teams (one
    repeated key per team) from its URL."""
    query = urlencode({"period": period, "as_of": as_of, "teams": list(teams)}, doseq=True)
    return f"{app_url.rstrip('/')}/?{query}"


def _pillar_page(pillar: PillarScore, delta: float | None, charts: Sequence[Chart]) -> PillarPage:
    signals = tuple(
        (s.label, signal_text(s), "—" if s.score is None else score_text(s.score))
        for s in pillar.signals
    )
    return PillarPage(
        id=pillar.id,
        name=pillar.name,
        question=pillar.question,
        score=score_text(pillar.score),
        change=change_text(delta),
        signals=signals,
        drivers=tuple(d.text for d in pillar.drivers),
        notes=tuple(pillar.notes),
        charts=tuple(c for c in charts if c.pillar == pillar.id),
    )


def _cell(row: dict[str, Any], key: str, fmt: Callable[[Any], str]) -> str:
    text = fmt(row.get(key))
    if key == "stalled_amount" and row.get("stalled_without_amount"):
        # Deals without an amount are counted, never summed as $0.
        extra = f"{row['stalled_without_amount']} without amount"
        text = extra if row.get(key) is None else f"{text} + {extra}"
    return text


def headline_rows(card: Scorecard) -> tuple[tuple[str, ...], ...]:
    """One row per team (All teams last, as in the JSON): the team and its formatted metrics."""
    return tuple(
        (row["team"], *(_cell(row, key, fmt) for key, _, fmt in HEADLINE))
        for row in card.headline.iter_rows(named=True)
    )


def change_lines(changes: dict[str, Any], card: Scorecard, limit: int = 6) -> tuple[str, ...]:
    """The signals that moved most since the previous snapshot, in plain words: the arrow is
    the value's direction, the score's change says better or worse."""
    if not changes.get("previous"):
        return ("First snapshot: there is nothing earlier to compare with yet.",)
    moved = changes.get("signals", [])[:limit]
    if not moved:
        return ("No signal moved.",)
    units = {s.id: s.unit for p in card.pillars for s in p.signals}
    return tuple(
        f"{formats.arrow(m['previous_value'], m['value'])} {m['label']}: "
        f"{move_text(m, units.get(m['id'], ''))}"
        for m in moved
    )


def _cell_text(deals: int, amount: float) -> str:
    return f"{deals} · {money(amount)}" if deals else "—"


def _pushed_lines(review: ReviewChanges, teams: list[str], top: int) -> tuple[str, ...]:
    pushed = (
        review.rows.filter(pl.col("kind").cast(pl.String) == "close_pushed")
        .sort(
            by=["team", pl.col("amount_after").fill_null(0.0), "opp_id"],
            descending=[False, True, False],
        )
        .group_by("team", maintain_order=True)
        .head(top)
    )
    lines = []
    for team in teams:
        deals = pushed.filter(pl.col("team") == team).iter_rows(named=True)
        named = [
            f"{d['name'] or d['opp_id']} ({d['owner']}), "
            f"{money(d['amount_after']) if d['amount_after'] is not None else 'no amount'}: "
            f"close {d['close_date_before']} → {d['close_date_after']} ({d['days_moved']:+d} days)"
            for d in deals
        ]
        lines.append(f"{team}: " + ("; ".join(named) if named else "no deal pushed out"))
    return tuple(lines)


def review_section(review: ReviewChanges, *, top: int = 3) -> ReviewSection:
    """The pre-read's "Changes since last review": one row per trend group and change kind,
    one column per team (All teams last), each cell "deals · amount at as-of"; and per team
    its `top` largest deals pushed out, named, with the close date before → after."""
    title = f"Changes since last review — {review.window.label}"
    source = review.source_text[:1].upper() + review.source_text[1:] + "."
    if not review.measured:
        return ReviewSection(title, source, reason=review.reason or "")
    teams = sorted(set(review.summary["team"]) - {ALL_TEAMS})
    columns = [*teams, ALL_TEAMS]
    cells = {
        (row["team"], str(row[what])): _cell_text(row["deals"], row["amount"])
        for frame, what in ((review.trends, "trend"), (review.summary, "kind"))
        for row in frame.iter_rows(named=True)
    }
    labels = {**TREND_LABELS, **KIND_LABELS}
    rows = tuple(
        (label, *(cells.get((team, key), "—") for team in columns)) for key, label in labels.items()
    )
    return ReviewSection(
        title,
        source,
        columns=("Change", *columns),
        rows=rows,
        pushed=_pushed_lines(review, teams, top),
    )


def _freshness_rows(fresh: Freshness) -> tuple[tuple[str, str], ...]:
    missing = ", ".join(fresh.missing_tables) or "none"
    return (
        ("Snapshot", fresh.snapshot_id),
        ("Source", fresh.source),
        ("Refreshed at", fresh.refreshed_at),
        ("Data as of", fresh.data_as_of),
        ("Tables not provided by the source", missing),
    )


def period_label(card: Scorecard) -> str:
    """The view's period as a reader names it: "2026-Q3", "FY2026", or for a custom, ttm or
    all period its kind and days ("trailing twelve months (2026-01-01 – 2026-12-31)")."""
    return card.period.label


def leader_lines(summary: pl.DataFrame | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The leaders' view beside the data (`scoring.perception.summary`): one line per question
    answered ("Question — leaders: sales 5/5 · data: … (42/100)"), and the gaps named."""
    if summary is None or summary.is_empty():
        return (), ()
    score = pl.col("evidence_score").round(0).cast(pl.Int64).cast(pl.String)
    lines = summary.select(
        pl.concat_str(
            pl.col("question_text"),
            pl.lit(" — leaders: "),
            pl.col("answers"),
            pl.lit(" · data: "),
            pl.when(pl.col("evidence_score").is_null())
            .then(pl.lit("not measured"))
            .otherwise(pl.col("evidence") + " (" + score + "/100)"),
        )
    ).to_series()
    gaps = summary.filter(pl.col("gaps") != "")["gaps"]
    return tuple(lines.to_list()), tuple(gaps.to_list())


def assemble(
    card: Scorecard,
    changes: dict[str, Any],
    *,
    freshness: Freshness,
    app_url: str,
    charts: Sequence[Chart] = (),
    review: ReviewChanges | None = None,
    leaders: pl.DataFrame | None = None,
) -> PreRead:
    """The pre-read of one view: `card` is the view's scorecard, `changes` its comparison with
    the previous snapshot's scorecard of the same view, `review` the deal changes in the
    review window (`scoring.review`)."""
    teams = ", ".join(card.teams) or "All teams"
    previous = changes.get("previous")
    deltas = changes.get("pillars", {})
    coverage = card.coverage
    missing = missing_lines(card)
    leader_view, leader_gaps = leader_lines(leaders)
    return PreRead(
        title=f"Revenue alignment pre-read — {period_label(card)}",
        subtitle=f"As of {card.as_of} · {teams} · forecast judged on {card.judged_period.name}",
        overall=score_text(card.overall) + (f" ({coverage})" if missing else ""),
        since=f"change since the snapshot of {freshness.previous or previous}"
        if previous
        else "first snapshot: no change to show yet",
        pillars=tuple(_pillar_page(p, deltas.get(p.id), charts) for p in card.pillars),
        drivers=tuple(d.text for d in card.drivers),
        headline_columns=("Team", *(label for _, label, _ in HEADLINE)),
        headline_rows=headline_rows(card),
        changes=change_lines(changes, card),
        freshness=_freshness_rows(freshness),
        link=live_url(
            app_url, period=card.period.name, as_of=card.as_of.isoformat(), teams=card.teams
        ),
        snapshot_id=freshness.snapshot_id,
        card=card,
        coverage=coverage,
        missing=missing,
        no_drivers=(
            f"No driver among the measured signals ({coverage}); the pillars not measured "
            "cannot show one."
            if missing
            else "No driver stands out."
        ),
        review=None if review is None else review_section(review),
        leaders=leader_view,
        leader_gaps=leader_gaps,
    )
