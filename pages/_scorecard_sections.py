"""The Scorecard's sections, drawn once each: the score cards, the top drivers, the team table,
the week's changes, what moved since the last snapshot and the downloads. Layout only: every
figure comes from the scorecard, its comparison with the previous snapshot or a cached loader."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import polars as pl
import streamlit as st

from model import formats
from model.tables import ALL_TEAMS
from model.team_rows import COMPANY
from pages import _auth, _data, _perception, _registry, _widgets
from pages import _changes_charts as changes_charts
from pages._text import md_text
from reports import headline_changes
from scoring.model import PillarScore, Signal
from scoring.preread import move_text, signal_value
from scoring.scorecard import Scorecard

# The pages a driver links to ("Explain"), by the page id drivers carry (their URL path).
PAGE_FILES = {url: page.path for url, page in _registry.BY_URL.items()}
PAGE_TITLES = {url: page.title for url, page in _registry.BY_URL.items()}
NOT_MEASURED = "not measured"
COMPACT_CHANGES = ("New", "Won", "Lost", "Pushed out", "Slipped", "Idle")
SHORT_NAMES = {"shared_data": "Shared data"}  # fits the card; the help names it in full
SINCE_HELP = (
    "\n\nThe arrow: the change since the previous snapshot, for the same period, as-of date "
    "and teams (green is better). No arrow when either side is not measured."
)
HEADLINE_COLUMNS = (
    "team", "change", "win_rate_count", "won", "lost", "coverage", "required_coverage",
    "open_without_amount", "velocity",
    "stalled_deals", "stalled_amount", "stalled_without_amount", "handoff_stalled_share",
    "forecast_accuracy", "forecast_bias",
)  # fmt: skip


def _counts(s: Signal) -> str:
    """ " (654 of 880)" for a rate with counts; amounts in money."""
    num, den = s.numerator, s.denominator
    if s.unit != "ratio" or num is None or not den or s.id in {"forecast_bias", "wape"}:
        return ""
    if s.id == "slip_rate":
        return f" ({_widgets.money(num)} of {_widgets.money(den)})"
    if s.id == "coverage_vs_required":
        return f" ({formats.fmt_ratio(num)} of {formats.fmt_ratio(den)} needed)"
    return f" ({formats.fmt_count(num)} of {formats.fmt_count(den)})"


def signal_lines(pillar: PillarScore) -> str:
    """A pillar card's help: its question and each signal's value, counts and score."""
    lines = [f"**{pillar.name}: {pillar.question}**", ""]
    for s in pillar.signals:
        if not s.measured:
            lines.append(f"- {s.label}: {NOT_MEASURED} ({md_text(s.reason)})")
            continue
        value = signal_value(s.value, s.unit)
        score = formats.fmt_score(s.score)
        lines.append(f"- {s.label}: {value}{_counts(s)} → {score}/100")
    return "\n".join(lines)


def missing(card: Scorecard) -> list[str]:
    """What the data lacks, per pillar not measured: "Forecast integrity: the source has no
    forecast submissions; …" (each reason once)."""
    out = []
    for pillar in card.pillars:
        if pillar.score is None:
            reasons = dict.fromkeys(md_text(s.reason) for s in pillar.signals if s.reason)
            out.append(f"**{pillar.name}** is not measured: {'; '.join(reasons)}.")
    return out


def link(page: str, label: str) -> None:
    """A link to the page (by its URL path) that explains a figure."""
    if page in PAGE_FILES:
        st.page_link(PAGE_FILES[page], label=label, icon=":material/arrow_forward:")


def score_change(
    delta: float | None, before: float | None, *, compared: bool, note: str = ""
) -> tuple[str | None, bool]:
    """A score's delta text for `st.metric`, and whether it is a change (arrow, colour) rather
    than a note: "+2.5", "no change", "not measured before", or only `note` (None: nothing)."""
    tail = f" · {note}" if note else ""
    if not compared:
        return (note or None), False
    if delta is None:
        return (f"{NOT_MEASURED} before{tail}" if before is None else note or None), False
    if delta == 0:
        return f"no change{tail}", False
    return f"{delta:+.1f}{tail}", True


def score_cards(card: Scorecard, changes: dict[str, Any]) -> None:
    """The alignment score and the four pillars, each with its change since the previous
    snapshot (a higher score is better: green up)."""
    compared = bool(changes.get("previous"))
    partial = len(card.measured_pillars) < len(card.pillars)
    overall_col, *pillar_cols = st.columns([1, 1, 1, 1, 1])
    if card.overall is None:
        overall_delta, overall_moved = f"{NOT_MEASURED}: {card.coverage}", False
    else:
        overall_delta, overall_moved = score_change(
            changes.get("overall"), changes.get("overall_before"), compared=compared,
            note=card.coverage if partial else "",
        )  # fmt: skip
    overall_col.metric(
        "Alignment score",
        formats.fmt_score(card.overall),
        delta=overall_delta,
        delta_color="normal" if overall_moved else "off",
        delta_arrow="auto" if overall_moved else "off",
        help="Weighted mean of the measured pillar scores (weights in scorecard.toml); not "
        f"shown when fewer than two pillars are measured. Covers {card.coverage}." + SINCE_HELP,
        border=True,
    )
    for col, pillar in zip(pillar_cols, card.pillars, strict=True):
        name = SHORT_NAMES.get(pillar.id, pillar.name)
        if pillar.score is None:  # the value would not fit the card: say it below it
            col.metric(name, _widgets.MISSING, delta=NOT_MEASURED, delta_color="off",
                       delta_arrow="off", help=signal_lines(pillar), border=True)  # fmt: skip
            continue
        pillar_delta, moved = score_change(
            changes["pillars"].get(pillar.id),
            changes.get("pillars_before", {}).get(pillar.id),
            compared=compared,
        )
        col.metric(
            name,
            formats.fmt_score(pillar.score),
            delta=pillar_delta,
            delta_color="normal" if moved else "off",  # a higher score is better
            delta_arrow="auto" if moved else "off",
            help=signal_lines(pillar) + SINCE_HELP,
            border=True,
        )


def not_measured_notice(card: Scorecard) -> None:
    """What the data lacks, when a pillar is not measured (nothing otherwise)."""
    if len(card.measured_pillars) == len(card.pillars):
        return
    overall_text = (
        "The alignment score is not shown: fewer than two pillars are measured."
        if card.overall is None
        else f"The alignment score covers {card.coverage}."
    )
    st.warning(
        "\n\n".join([f"{overall_text} What the data lacks:", *missing(card)]),
        icon=":material/report:",
    )


def top_drivers(card: Scorecard) -> None:
    """The drivers in plain words, most important first, each with the page explaining it."""
    drivers = card.drivers
    st.markdown("**Top drivers** — what moves the score, and where to look")
    if not drivers and missing(card):
        st.info(
            f"No driver among the measured signals ({card.coverage}); the pillars not "
            "measured cannot show one: see what the data lacks below."
        )
    elif not drivers:
        st.success("No driver stands out: every signal is within its normal range.")
    for i, driver in enumerate(drivers, 1):
        text_col, link_col = st.columns([5, 1])
        text_col.markdown(
            f"**{i}.** {md_text(driver.text)}", help=_widgets.help_for(driver.definition_id)
        )
        with link_col:
            link(driver.page, PAGE_TITLES.get(driver.page, "Explain"))


def drivers_by_pillar(card: Scorecard) -> None:
    """Each pillar's question, its drivers and what it could not measure."""
    for pillar in card.pillars:
        st.markdown(f"**{pillar.name}** — {pillar.question}")
        for driver in pillar.drivers:
            st.markdown(f"- {md_text(driver.text)}")
        for note in pillar.notes:
            st.caption(f"Not available: {md_text(note)}")
        for line in pillar.not_measured:
            st.caption(md_text(line))
        if not pillar.drivers and not pillar.notes and pillar.score is not None:
            st.caption("Nothing stands out.")


def headline_columns(judged: str) -> dict:
    """The headline table's columns, one house style per kind (`model.formats`): rates
    "42.3%", money to the dollar, multiples "1.4×", counts "1,234"."""
    pct, money, count = formats.PERCENT, formats.MONEY, formats.COUNT
    col, helps = _widgets.number_column, _widgets.help_for
    return {
        "team": st.column_config.TextColumn("Team", pinned=True),
        "win_rate_count": col(pct, "Win rate", helps("win_rate.count")),
        "won": col(count, "Won"),
        "lost": col(count, "Lost"),
        "coverage": col(formats.RATIO, "Coverage", helps("coverage")),
        "required_coverage": col(formats.RATIO, "Needed", helps("required_coverage")),
        "open_without_amount": col(
            count,
            "Open, no amount",
            "Open deals closing in the period without an amount: not in the coverage.",
        ),
        "velocity": col(money, "Velocity $/day", helps("pipeline_velocity")),
        "stalled_deals": col(count, "Stalled deals", helps("stalled_deals")),
        "stalled_amount": col(money, "Stalled $", "Known amounts only; empty when unknown."),
        "stalled_without_amount": col(
            count, "Stalled, no amount", "Stalled deals without an amount (not counted as $0)."
        ),
        "handoff_stalled_share": col(pct, "Handoff stalls", helps("handoff_stall")),
        "forecast_accuracy": col(pct, f"Accuracy {judged}", helps("forecast_accuracy")),
        "forecast_bias": col(pct, f"Bias {judged}", helps("forecast_bias")),
        # All teams only: the spread its pooled bias can hide.
        "forecast_bias_min": col(pct, "Lowest team bias", helps("forecast_bias.spread")),
        "forecast_bias_min_team": st.column_config.TextColumn("Lowest"),
        "forecast_bias_max": col(pct, "Highest team bias", helps("forecast_bias.spread")),
        "forecast_bias_max_team": st.column_config.TextColumn("Highest"),
        "forecast_off_share": col(
            pct, "Closed in teams off band", helps("forecast_bias.off_share")
        ),
    }


def _headline(view: _data.View, card: Scorecard, changes: dict[str, Any]) -> pl.DataFrame:
    """The team rows with their change column, and for a team view the company's row."""
    compared = bool(changes.get("previous"))
    headline = _widgets.in_team_order(
        headline_changes.with_changes(
            card.headline.to_dicts(), changes["headline_before"] if compared else None
        )
    )[1]
    if view.teams and not headline.is_empty():  # the company's own row beside the team's
        company_view = dataclasses.replace(view, teams=())
        company_changes = _data.changes(company_view)
        company = headline_changes.with_changes(
            _data.scorecard(company_view).headline.to_dicts(),
            company_changes["headline_before"] if company_changes.get("previous") else None,
        ).filter(pl.col("team") == ALL_TEAMS)
        headline = pl.concat(
            [headline, company.with_columns(team=pl.lit(COMPANY))], how="diagonal_relaxed"
        )
    if not compared:  # the first snapshot: the caption says there is nothing to compare yet
        headline = headline.drop("change", strict=False)
    return headline


def headline_table(view: _data.View, card: Scorecard, changes: dict[str, Any]) -> None:
    """Headline metrics by team, with what moved since the last snapshot, and their CSV."""
    headline_config = headline_columns(card.judged_period.name)
    headline = _headline(view, card, changes)
    if headline.is_empty():
        st.info("No team owns opportunities in this view.")
        return
    st.dataframe(
        headline.to_arrow(),
        key="headline",
        hide_index=True,
        placeholder=_widgets.MISSING,
        width="stretch",
        column_order=HEADLINE_COLUMNS,
        column_config={
            **headline_config,
            "team": st.column_config.TextColumn(
                "Team",
                pinned=True,
                help=f"{COMPANY}: the whole company's figures, for comparison with the view's "
                "teams.",
            ),
            "change": st.column_config.TextColumn(
                "Change since last snapshot",
                width="large",
                help="The figures that moved since the previous snapshot (same period, as-of "
                "date and teams): ▲ up, ▼ down, and whether that is better or worse (bias is "
                "neither). A figure measured on one side only has no arrow and says which side "
                "lacks it.",
            ),
        },
    )
    _widgets.csv_button(headline, "headline", key="headline", config=headline_config)
    links = st.columns(3)
    with links[0]:
        link("pipeline", "Stalls, coverage and win rate")
    with links[1]:
        link("forecast", "Forecast accuracy and bias")
    with links[2]:
        link("handoffs", "Handoff SLA and conversion")


def review_changes(review_week, week_changes) -> None:
    """The deals that changed since the last review, by team and kind (Pipeline flow has
    the rest)."""
    st.markdown(
        f"**Changes since last review** — {review_week.label}",
        help=_widgets.help_for("deal_changes"),
    )
    if _widgets.not_available(week_changes.reason):
        return
    compact = changes_charts.overview(week_changes.summary, week_changes.trends)
    st.dataframe(
        _widgets.in_team_order(compact.select("team", *COMPACT_CHANGES))[1].to_arrow(),
        key="changes_compact",
        hide_index=True,
        placeholder=_widgets.MISSING,
        width="stretch",
        column_config={"team": st.column_config.TextColumn("Team", pinned=True)},
    )
    st.caption(
        f"Deals · their amount at as-of. {md_text(week_changes.source_text.capitalize())}. "
        "Every change kind, other windows and the deals behind each: Pipeline flow."
    )
    link("pipeline", "Changes since last review")


def signal_moves(card: Scorecard, changes: dict[str, Any]) -> None:
    """The signals that moved most since the last snapshot, in words."""
    moved = changes.get("signals", [])
    if not changes.get("previous"):
        st.caption("This is the first snapshot: run another refresh to see what changes.")
        return
    if not moved:
        st.caption("No signal moved.")
        return
    units = {s.id: s.unit for p in card.pillars for s in p.signals}
    for m in moved[:6]:
        # The arrow is the value's direction; the score's change says better or worse.
        st.markdown(
            f"{formats.arrow(m['previous_value'], m['value'])} **{md_text(m['label'])}**: "
            f"{md_text(move_text(m, units.get(m['id'], '')))}"
        )


def downloads(view: _data.View, card: Scorecard, changes: dict[str, Any], week_changes) -> None:
    """The scorecard as JSON and the pre-read as PDF (built only when clicked)."""

    def _preread_pdf() -> bytes:
        from reports import build as preread_build

        settings, store = _data.settings(), _data.store()
        snapshot = store.get(view.snapshot_id)
        pre = preread_build.for_view(
            card,
            changes,
            tables=_data.team_tables(view.data_dir, view.snapshot_id, view.teams),
            snapshot=snapshot,
            previous=store.previous(snapshot),
            params=settings.scoring,
            app_url=settings.preread.app_url,
            all_teams=st.session_state.get("all_teams", []),
            review=week_changes,
            leaders=_perception.summary_for(view, card),
        )
        return preread_build.render(pre, "pdf")

    json_col, pdf_col = st.columns(2)
    json_name = f"scorecard_{card.period.name}_{card.as_of}.json"
    json_col.download_button(
        "Download the scorecard (JSON)",
        data=json.dumps({**card.to_dict(), "changes": changes}, indent=2, default=str),
        file_name=json_name,
        mime="application/json",
        key="download_json",
        on_click=_auth.record_export,
        args=(json_name,),
    )
    pdf_name = f"preread_{card.period.name}_{card.as_of}.pdf"
    pdf_col.download_button(
        "Download pre-read (PDF)",
        data=_preread_pdf,
        file_name=pdf_name,
        mime="application/pdf",
        key="download_preread",
        icon=":material/picture_as_pdf:",
        on_click=_auth.record_export,
        args=(pdf_name,),
        help="The scorecard of this view as a printable PDF: summary, one page per pillar, charts.",
    )


def view_caption(view: _data.View, card: Scorecard, changes: dict[str, Any]) -> str:
    """The view the page reads (period, as-of, teams) and the snapshot the arrows compare with."""
    # `changes["previous"]` is the earlier scorecard's as-of date, the view's own; the arrows
    # compare with the previous snapshot, named by its data date
    previous_snapshot = _data.snapshot_named(view, changes.get("previous_snapshot"))
    since = (
        f" · changes since the snapshot of {previous_snapshot.data_as_of}"
        if changes.get("previous") and previous_snapshot is not None
        else f" · changes since snapshot of {md_text(changes['previous'])}"
        if changes.get("previous")
        else " · first snapshot: no changes to show yet"
    )
    judged = (
        ""
        if card.judged_period == card.period
        else f" · forecast signals judge {card.judged_period.name}, the latest complete quarter"
    )
    teams_label = md_text(", ".join(view.teams)) or "all teams"
    return f"{view.period_label} · as of {card.as_of} · {teams_label}{judged}{since}"
