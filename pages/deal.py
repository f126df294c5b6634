"""A page per deal (`/deal?id=…`, linked from every deal table): where it is, how long it sat
in each stage against the company median, every change with its date, what moved in the
review window, why it is at risk, who owns it, and a link to the record in the CRM.

Without an id it offers a search by deal name.
"""

from __future__ import annotations

import os

import polars as pl
import streamlit as st

from connectors.crm_links import record_link
from model import formats
from pages import _chart_specs, _data, _decision_log, _review, _widgets
from pages import _deal_charts as charts
from pages._text import md_text
from scoring import changes, deal, review, risk

NUM = st.column_config.NumberColumn
TEXT = st.column_config.TextColumn
DATE = st.column_config.DateColumn

view = _data.current_view()
since = _review.since(view.as_of_date)
tables = _data.load_tables(view.data_dir, view.snapshot_id)
deal_id = (st.query_params.get("id") or "").strip()


def search() -> None:
    """Find a deal by name; the results link to their pages."""
    query = st.text_input(
        "Find a deal by name", key="deal_search", placeholder="e.g. Acme renewal"
    ).strip()
    if not query:
        st.caption("Type part of a deal's name, or open a deal from any deal table.")
        return
    found = _data.metric("find_deals", view, query=query)
    st.caption(f"{found.height} deals whose name holds “{md_text(query)}” (at most 25).")
    _widgets.table(
        found,
        key="deal_search_results",
        name="deal_search",
        column_config={
            "team": TEXT("Team"),
            "stage": TEXT("Stage"),
            "amount": NUM("Amount", format="dollar"),
            "close_date": DATE("Close date"),
        },
    )


if not deal_id:
    st.title("Deal")
    search()
    st.stop()

summary = _data.metric("deal_summary", view, deal_id=deal_id)
if summary.is_empty():
    st.title("Deal")
    st.warning(
        f"No deal with id {md_text(deal_id)} in this snapshot (as of {view.as_of}).",
        icon=":material/search_off:",
    )
    search()
    st.stop()

d = summary.row(0, named=True)
owner = d["owner"] or "an owner not in the users table"
st.title(md_text(d["name"] or f"Deal {deal_id}"))
category = str(d["forecast_category"]).replace("_", " ") if d["forecast_category"] else "none"
st.markdown(
    f"**{md_text(d['stage'] or 'no stage')}** · forecast category **{md_text(category)}** · "
    f"owner **{md_text(owner)}** · team **{md_text(d['team'] or '(no team)')}**"
)
created = formats.fmt_date(d["created_at"], _data.settings().scoring.timezone)
st.caption(f"Created {created} · as of {view.as_of} · deal id {md_text(deal_id)}")

# --- Header ------------------------------------------------------------------------------
risk_reason = risk.risk_status(tables)
scores = _data.metric("deal_risk", view).filter(pl.col("opp_id") == deal_id)
k1, k2, k3 = st.columns(3)
k1.metric(
    "Amount",
    _widgets.money(d["amount"]) if d["amount"] is not None else "not set",
    help="The deal's amount as of the as-of date; a deal without one shows “not set”, not $0.",
    border=True,
)
k2.metric(
    "Close date",
    f"{d['close_date']:%Y-%m-%d}" if d["close_date"] else "not set",
    help="The close date the deal had at the end of the as-of date.",
    border=True,
)
if risk_reason:
    k3.metric("Risk", "–", delta="not measured", delta_color="off", delta_arrow="off",
              help=_widgets.help_for("deal_risk"), border=True)  # fmt: skip
elif scores.is_empty():
    k3.metric("Risk", "–", delta="closed deal" if d["is_closed"] else "not scored",
              delta_color="off", delta_arrow="off", help=_widgets.help_for("deal_risk"),
              border=True)  # fmt: skip
else:
    k3.metric("Risk", f"{scores['score'][0]} / 100", help=_widgets.help_for("deal_risk"),
              border=True)  # fmt: skip

snapshot = _data.store().get(view.snapshot_id)
link = record_link(
    deal_id,
    source=snapshot.source,
    detail=snapshot.manifest.get("detail"),
    sources=_data.settings().sources,
    environ=os.environ,
)
if link.url:
    st.link_button(f"Open in {link.crm}", link.url, icon=":material/open_in_new:")
else:
    st.caption(md_text(link.why))

# --- Risk reasons and flags ----------------------------------------------------------------
with st.container():
    st.subheader("Why it is at risk", help=_widgets.help_for("deal_risk"))
    if risk_reason:
        _widgets.not_available(risk_reason)
    elif scores.is_empty():
        st.caption("The risk score is for open deals; this one is closed." if d["is_closed"]
                   else "Not scored.")  # fmt: skip
    elif scores["reasons"][0].len() == 0:
        st.caption("No risk reason applies: 0 points.")
    else:
        st.markdown("\n".join(f"- {md_text(r)}" for r in scores["reasons"][0]))
        st.caption("Points per reason in brackets; the score is their sum, at most 100.")
with st.container():
    st.subheader(f"Changes since {since}")
    changes_reason = changes.changes_status(tables)
    if not _widgets.not_available(changes_reason):
        flagged = _data.metric("deal_changes", view, since=since.isoformat()).filter(
            pl.col("opp_id") == deal_id
        )
        if flagged.is_empty():
            st.caption(f"Nothing changed between the end of {since} and the end of {view.as_of}.")
        else:
            st.dataframe(
                flagged.select(
                    pl.col("kind").cast(pl.String).replace(review.KIND_LABELS),
                    "stage_before",
                    "stage_after",
                    "amount_before",
                    "amount_after",
                    "close_date_before",
                    "close_date_after",
                    pl.col("forecast_category_before", "forecast_category_after")
                    .cast(pl.String)
                    .str.replace_all("_", " "),  # "best case", as the header line says it
                    "pushes",
                ).to_arrow(),
                key="deal_flags",
                hide_index=True,
                placeholder=_widgets.MISSING,
                width="stretch",
                column_config={
                    "kind": TEXT("Change", pinned=True),
                    "stage_before": TEXT("Stage then"),
                    "stage_after": TEXT("Stage now"),
                    "amount_before": NUM("Amount then", format="dollar"),
                    "amount_after": NUM("Amount now", format="dollar"),
                    "close_date_before": DATE("Close then"),
                    "close_date_after": DATE("Close now"),
                    "forecast_category_before": TEXT("Category then"),
                    "forecast_category_after": TEXT("Category now"),
                    "pushes": NUM("Pushes", help="Close-date pushes recorded in the window."),
                },
            )
        st.caption(
            f"The deal at the end of {since} against the end of {view.as_of}. Choose the "
            "window with `since=YYYY-MM-DD` or `window=1w|2w|4w|13w` in the address."
        )

# --- Stage timeline ----------------------------------------------------------------------
st.subheader("Stage timeline", help=_widgets.help_for("days_in_stage"))
_widgets.not_available(deal.timeline_status(tables))
timeline = _data.metric("deal_timeline", view, deal_id=deal_id)
_chart_specs.chart(charts.stage_timeline_chart, timeline, key="deal_timeline", width="stretch")
st.caption(
    "One bar per stay in a stage, from entering it to leaving it (the current one runs to the "
    "as-of date); red when it ran longer than the company median for that stage, which the "
    "black tick marks (finished stays in the stage that ended in the 12 months before the "
    "as-of date, all teams). A diamond marks the close."
)
with st.expander("Days per stage (table)"):
    st.dataframe(
        timeline.select(
            "stage",
            "entered_date",
            "end_date",
            "days_in_stage",
            "median_days",
            "median_spells",
            "times_median",
        ).to_arrow(),
        key="deal_spells",
        hide_index=True,
        placeholder=_widgets.MISSING,
        width="stretch",
        column_config={
            "stage": TEXT("Stage", pinned=True),
            "entered_date": DATE("Entered"),
            "end_date": DATE("Left (or as of)"),
            "days_in_stage": NUM("Days", format="%.1f"),
            "median_days": NUM("Company median", format="%.1f"),
            "median_spells": NUM("Stays behind the median"),
            "times_median": NUM("× median", format="%.2f×"),
        },
    )

# --- Every change ------------------------------------------------------------------------
st.subheader("Every change")
history = _data.metric("deal_history", view, deal_id=deal_id)
if history.is_empty():
    st.caption("No stage history recorded for this deal.")
else:
    st.dataframe(
        history.drop("opp_id", "changed_at", "amount_before")
        .with_columns(pl.col("forecast_category").cast(pl.String).str.replace_all("_", " "))
        .to_arrow(),
        key="deal_history",
        hide_index=True,
        placeholder=_widgets.MISSING,
        width="stretch",
        column_config={
            "changed_date": DATE("Date", pinned=True),
            "change": TEXT("What changed", width="large"),
            "stage": TEXT("Stage"),
            "amount": NUM("Amount", format="dollar"),
            "close_date": DATE("Close date"),
            "forecast_category": TEXT("Category"),
        },
    )
    _widgets.csv_button(history, "deal_history", key="deal_history")
    st.caption(
        "Each row of the deal's history up to the as-of date (stage, amount, close date and "
        "forecast category it set), and what it changed against the row before."
    )

_decision_log.record_expander("deal", about_kind="deal", about_id=deal_id)
