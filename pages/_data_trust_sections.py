"""The Data trust page's sections: the trust figures with their change since the previous
snapshot, the reconciliations (the answer's table) and the records behind each gap, the
data-quality checks, stage-history trust, funnel skips, freshness and the definitions. Layout
only: figures from `_data.metric`; every chart or table → selection → records via `_drill`."""

from __future__ import annotations

import polars as pl
import streamlit as st

from model import formats
from pages import _chart_specs, _data, _drill, _schedules, _since, _widgets
from pages._text import md_text
from reports import funnel_charts as charts
from scoring import quality
from scoring.definitions import QUESTIONS
from snapshots.store import Snapshot

# Reconciliation id prefix → the metric listing its diff records.
DIFF_ROWS = {
    "reconcile.marketing_sourced_pipeline": "marketing_sourced_rows",
    "reconcile.converted_leads_vs_opportunities": "converted_rows",
}
PIPELINE_GAP = "reconcile.marketing_sourced_pipeline.amount"
FIGURES_FIRST = ("id", "quantity", "side_a_value", "side_b_value", "gap", "gap_share", "records")


def _fmt(value: float | None, unit: str) -> str:
    """A reconciled quantity at a glance (`model.formats`): "$1.2M", "42.3%", "1,234"."""
    if unit == "currency":
        return formats.fmt_money_compact(value)
    return formats.fmt_percent(value) if unit == "ratio" else formats.fmt_count(value)


def _gap(value: float | None, unit: str) -> str:
    """A signed gap: "+$12k", "−3", "+1.5 pts" (a gap between two rates is in points)."""
    if unit == "ratio":
        return formats.fmt_points(value)
    if value is None:
        return formats.UNKNOWN
    text = _fmt(abs(value), unit)
    return text if text == _fmt(0, unit) else ("+" if value > 0 else formats.MINUS) + text


def _diff_metric(reconciliation_id: str) -> str | None:
    return next((m for p, m in DIFF_ROWS.items() if reconciliation_id.startswith(p)), None)


def _failing(checks: pl.DataFrame | None) -> int | None:
    return None if checks is None else checks.filter(pl.col("failing") > 0).height


def _missing(freshness: pl.DataFrame | None) -> list[str] | None:
    return None if freshness is None else freshness.filter(pl.col("missing"))["table"].to_list()


def headline(view: _data.View, snapshot: Snapshot) -> None:
    """The data-quality score, the checks finding problems and the tables the source lacks,
    each with its change since the previous snapshot (a higher score is better; more failing
    checks or missing tables worse)."""
    checks = _data.metric("quality_checks", view)
    freshness = _data.metric("freshness", view, refreshed_at=snapshot.created_at.isoformat())
    missing = _missing(freshness) or []
    before_view = _since.previous_view(view)
    compared = before_view is not None
    checks_was = _since.metric_before("quality_checks", view)
    missing_was = None
    if before_view is not None:
        earlier = _data.store().get(before_view.snapshot_id)
        missing_was = _missing(
            _since.metric_before("freshness", view, refreshed_at=earlier.created_at.isoformat())
        )
    score = quality.data_quality_score(checks)
    score_was = None if checks_was is None else quality.data_quality_score(checks_was)
    cols = st.columns(3)
    cols[0].metric(
        "Data-quality score",
        formats.fmt_score(score),
        help=_widgets.help_for("data_quality.score") + _since.SINCE_HELP,
        border=True,
        **_since.delta(score, score_was, "score", higher_is_better=True, compared=compared),
    )
    cols[1].metric(
        "Checks finding problems",
        f"{_failing(checks)} of {checks.filter('available').height}",
        help="Data-quality checks with at least one failing record (unavailable checks left "
        "out)." + _since.SINCE_HELP,
        border=True,
        **_since.delta(
            _failing(checks),
            _failing(checks_was),
            "count",
            higher_is_better=False,
            compared=compared,
        ),
    )
    cols[2].metric(
        "Tables not provided",
        f"{len(missing)}",
        help="Canonical tables the source lacks: "
        + (", ".join(missing) or "none")
        + _since.SINCE_HELP,
        border=True,
        **_since.delta(
            len(missing),
            None if missing_was is None else len(missing_was),
            "count",
            higher_is_better=False,
            compared=compared,
        ),
    )


def reconciliation_table(view: _data.View, reconciliations: pl.DataFrame) -> _drill.Picks:
    """The answer's table: each quantity as marketing and as sales count it, and the gap;
    selecting a row lists the records behind its gap."""
    st.markdown(
        "**Same number, two counts** — side A is marketing's count (for win rate, the "
        "count-based rate); gap share = gap / the larger side. Select a row for the records "
        "behind its gap."
    )
    row = _widgets.table(
        # the figures first, so the gap reads without scrolling; what each side counts after
        reconciliations.select(*FIGURES_FIRST, pl.exclude(*FIGURES_FIRST, "definition_ids")),
        key="reconciliations_table",
        name=f"reconciliations_{view.period}",
        select=True,
        column_config={
            "id": None,
            "quantity": st.column_config.TextColumn("Quantity", pinned=True),
            "side_a_label": "Side A",
            "unit": "Unit",
            "side_a_value": st.column_config.NumberColumn("A", format="compact"),
            "side_b_label": "Side B",
            "side_b_value": st.column_config.NumberColumn("B", format="compact"),
            "gap": st.column_config.NumberColumn("Gap", format="compact"),
            "available": st.column_config.CheckboxColumn("Available"),
            "gap_share": _widgets.percent_column("Gap share"),
            "records": st.column_config.NumberColumn("Records", help="Records counted differently"),
        },
    )
    return _drill.row_picks(row, ("id",))


def _reconciliation_card(row: dict) -> None:
    """One quantity as the two teams count it: side A, side B, the gap and its records."""
    with st.container(border=True):
        st.markdown(f"**{row['quantity']}**", help=_widgets.help_for(row["id"]))
        if not row["available"]:
            st.caption("Not available: a table one side needs is missing.")
            return
        a, b, gap = st.columns([2, 2, 1.2])
        a.metric(row["side_a_label"], _fmt(row["side_a_value"], row["unit"]))
        b.metric(row["side_b_label"], _fmt(row["side_b_value"], row["unit"]))
        gap.metric("Gap (A − B)", _gap(row["gap"], row["unit"]))
        notes = [] if row["gap_share"] is None else [f"gap share {_widgets.pct(row['gap_share'])}"]
        if row["records"]:
            notes.append(f"**{row['records']:,} records** counted differently by the two sides")
        st.caption(" · ".join(notes))


def reconciliation_detail(
    view: _data.View, reconciliations: pl.DataFrame, row_picks: _drill.Picks
) -> None:
    """The records behind the selected gap (or the bar clicked on the pipeline-gap chart),
    each quantity's card, and win rate three ways."""
    st.caption(
        "Marketing and sales report different numbers for the same thing because they count "
        "different records. A zero gap can still hide records counted on one side only, in "
        "both directions: see the records."
    )
    pipeline_rows = _data.metric("marketing_sourced_rows", view)
    diff_picks: _drill.Picks = {"diff": None}
    if not pipeline_rows.is_empty():
        diff_picks = _drill.chart(
            charts.reconciliation_diff_chart,
            pipeline_rows,
            charts.extended_team_scale(st.session_state.get("all_teams", [])),
            key="reconciliation_diff_chart",
            fields=("diff",),
        )
    picked_id = row_picks["id"] or (PIPELINE_GAP if diff_picks["diff"] else None)
    if picked_id is None:
        st.caption("Select a row (or click a bar) to see the records the two counts disagree on.")
    elif (diff_metric := _diff_metric(picked_id)) is None:
        st.markdown(
            "**Win rate three ways, by team** (the variants weigh the same deals differently)"
        )
    else:
        named = reconciliations.filter(pl.col("id") == picked_id)["quantity"]
        quantity = named[0] if named.len() else picked_id
        picks = {"diff": diff_picks["diff"] if diff_metric == "marketing_sourced_rows" else None}
        _drill.records(
            _data.metric(diff_metric, view),
            picks,
            key="reconciliation_rows",
            name=f"{diff_metric}_{view.period}",
            what=f"records behind the gap in {quantity}",
            column_config={"amount": _widgets.money_column("Amount")},
        )
    with st.expander("Each quantity as the two sides count it"):
        for rec in reconciliations.iter_rows(named=True):
            _reconciliation_card(rec)
    st.markdown("**Win rate three ways, by team**", help=_widgets.help_for("win_rate.cohort"))
    _widgets.table(
        _data.metric("win_rate_variants", view),
        key="win_rate_variants",
        name=f"win_rate_variants_{view.period}",
        column_config={
            "team": st.column_config.TextColumn("Team", pinned=True),
            "won_count": "Won",
            "lost_count": "Lost",
            "cohort_count": "Created",
            "cohort_won_count": "Created & won",
            "won_amount": _widgets.money_column("Won $"),
            "lost_amount": _widgets.money_column("Lost $"),
            "win_rate_count": _widgets.percent_column("By count", "win_rate.count"),
            "win_rate_amount": _widgets.percent_column("By amount", "win_rate.amount"),
            "win_rate_cohort": _widgets.percent_column("Cohort", "win_rate.cohort"),
        },
    )


def quality_checks(view: _data.View) -> None:
    """Each data-quality check, its failing share, and the failing records of a pick."""
    checks = _data.metric("quality_checks", view)
    st.markdown("**Data-quality checks**", help=_widgets.help_for("data_quality.score"))
    unavailable = checks.filter(~pl.col("available"))["description"].to_list()
    if unavailable:
        _widgets.not_available(
            "Not available (a table the check needs is missing): " + "; ".join(unavailable)
        )
    chart_picks: _drill.Picks = {"check_id": None}
    if checks.filter("available").height:
        chart_picks = _drill.chart(
            charts.quality_chart, checks, key="quality_chart", fields=("check_id",)
        )
    row = _widgets.table(
        checks,
        key="quality_table",
        name="quality_checks",
        select=True,
        column_config={
            "check_id": None,  # in the CSV; the description names the check
            "description": st.column_config.TextColumn("Check", width="large", pinned=True),
            "table": "Table",
            "severity": "Severity",
            "available": st.column_config.CheckboxColumn("Available"),
            "failing": "Failing",
            "total": "Checked",
            "share": _widgets.percent_column("Failing share"),
        },
    )
    check_id = _drill.either(_drill.row_picks(row, ("check_id",)), chart_picks)["check_id"]
    if check_id:
        described = checks.filter(pl.col("check_id") == check_id)["description"]
        _drill.listed(
            _data.metric("quality_check_rows", view, check_id=check_id),
            {"check": described[0] if described.len() else check_id},
            key="quality_rows",
            name=f"quality_{check_id}",
            what="failing records",
        )


def stage_trust(view: _data.View) -> None:
    """Stage-history trust by team, and the flagged deals of a selected team."""
    st.caption(
        "Can the stage history be trusted? Deals that skip stages or move backwards, reopened "
        "deals, close-date churn and stale close dates. Select a team for the flagged deals."
    )
    trust = _data.metric("stage_trust_kpis", view)
    if trust.height and trust["stage_skip_rate"].is_null().all() and trust["deals"].sum():
        _widgets.not_available(
            "Skips, backward moves, reopened deals and close-date churn are not measured: the "
            "source has no recorded stage history (the connector derived one row per deal from "
            "its current stage and dates). Stale close dates read the deals' current fields."
        )
    row = _widgets.table(
        trust,
        key="stage_trust_table",
        name="stage_trust_kpis",
        select=True,
        column_config={
            "team": st.column_config.TextColumn("Team", pinned=True),
            "deals": "Deals",
            "open_deals": "Open deals",
            "stage_skip_rate": _widgets.percent_column("Skipped a stage", "stage_skip_rate"),
            "stage_regression_rate": _widgets.percent_column(
                "Moved backwards", "stage_regression_rate"
            ),
            "reopened_deals": st.column_config.NumberColumn(
                "Reopened", help=_widgets.help_for("reopened_deals")
            ),
            "close_date_churn": st.column_config.NumberColumn(
                "Close-date changes / deal",
                format="%.2f",
                help=_widgets.help_for("close_date_churn"),
            ),
            "stale_close_dates": st.column_config.NumberColumn(
                "Stale close dates", help=_widgets.help_for("stale_close_dates")
            ),
            "stale_close_date_share": _widgets.percent_column("Stale share"),
        },
    )
    picks = _drill.row_picks(row, ("team",))
    if picks["team"]:
        flags = _data.metric("stage_trust_flags", view).with_columns(
            flag=pl.col("kpi").replace_strict(
                flag_names(), default=pl.col("kpi"), return_dtype=pl.String
            )
        )
        _drill.records(
            flags,
            picks,
            key="stage_trust_flags",
            name=f"stage_trust_flags_{picks['team']}",
            what="flagged deals",
            column_config={"kpi": None, "flag": "Flagged for"},  # the metric's name, not its id
        )


def flag_names() -> dict[str, str]:
    """A metric id → its name."""
    return {k: d.name for k, d in _widgets.definitions().items()}


def funnel_skips(view: _data.View) -> None:
    """How often each funnel step's date is skipped."""
    st.markdown("**Funnel skip rate**", help=_widgets.help_for("funnel_skip_rate"))
    skips = _data.metric("funnel_skip_rate", view)
    if skips.is_empty():
        _widgets.not_available(
            "funnel_skip_rate is not available: the data source provides no 'leads' table."
        )
        return
    left, right = st.columns([2, 3])
    with left:
        _chart_specs.chart(charts.skip_rate_chart, skips, key="skip_rate_chart")
    with right:
        st.caption(
            "A skipped step is back-filled from the next step reached, so conversion still "
            "counts it; a high skip rate means the step's date is not being stamped when the "
            "handoff happens."
        )
        _widgets.table(
            skips,
            key="skip_rate_table",
            name="funnel_skip_rate",
            column_config={"skip_rate": _widgets.percent_column("Skip rate", "funnel_skip_rate")},
        )


def freshness(view: _data.View, snapshot: Snapshot) -> None:
    """How fresh each table is, and when the data is refreshed next."""
    st.markdown("**Freshness**", help=_widgets.help_for("data_freshness.days_since_latest"))
    zone = _data.settings().scoring.timezone
    st.caption(
        f"Refreshed {formats.fmt_datetime(snapshot.created_at, zone)} from "
        f"{md_text(snapshot.source)}; "
        f"data as of {snapshot.data_as_of}. Days are counted to the as-of date {view.as_of} "
        "(negative: refreshed after it)."
    )
    _widgets.table(
        _data.metric("freshness", view, refreshed_at=snapshot.created_at.isoformat()),
        key="freshness_table",
        name="freshness",
        column_config={
            "table": st.column_config.TextColumn("Table", pinned=True),
            "missing": None,
            "status": "Status",
            "rows": "Rows",
            "latest_at": _widgets.datetime_column("Latest record"),
            "days_since_latest": st.column_config.NumberColumn(
                "Days since latest", help=_widgets.help_for("data_freshness.days_since_latest")
            ),
            "refreshed_at": _widgets.datetime_column("Refreshed"),
            "days_since_refresh": "Days since refresh",
        },
    )
    st.markdown("**Refresh schedule**")
    st.caption("When the data is refreshed next; ops change the schedules on Data & refresh.")
    _schedules.schedules(_data.settings(), editable=False)


def definitions() -> None:
    """Every metric's definition, searchable, grouped by the question it answers."""
    st.caption(
        "Every metric on every page, from the definitions registry (also docs/metrics.md), "
        "grouped by the question it answers. Variants are other definitions of the same "
        "quantity."
    )
    search = st.text_input(
        "Search definitions", key="definitions_search", placeholder="e.g. win rate"
    )
    found = charts.search_definitions(charts.definitions_frame(_widgets.definitions()), search)
    if found.is_empty():
        st.caption(f"No definition matches “{md_text(search)}”.")
    names = flag_names()
    for key, question in QUESTIONS.items():
        group = found.filter(pl.col("question") == question).drop("question")
        if group.is_empty():
            continue
        st.markdown(f"**{question}** ({group.height})")
        _widgets.table(
            group.select(
                "name",
                pl.exclude("name", "id", "variants"),
                # other definitions of the quantity by their names, as the Name column reads
                pl.col("variants")
                .str.split(", ")
                .list.eval(pl.element().replace(names))
                .list.join(", ")
                .replace("", None),
                "id",  # the key docs/metrics.md and `help` use: a details column
            ),
            key=f"definitions_{key}",
            name=f"metric_definitions_{key}",
            column_config={
                "name": st.column_config.TextColumn("Metric", pinned=True),
                "id": st.column_config.TextColumn(
                    "ID", help="The definition's key in docs/metrics.md."
                ),
                "formula": st.column_config.TextColumn("Formula", width="large"),
                "date_anchor": "Date anchor",
            },
        )
