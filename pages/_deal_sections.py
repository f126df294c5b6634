"""The Deal page's sections, laid out: without an id, a search by name and the riskiest open
deals of the view; with one, the deal's headline figures and why it is at risk (the answer),
then a tab per question — its stage timeline, what changed in the review window, and every
change. Layout only: every figure comes from a cached loader (`pages._data`)."""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl
import streamlit as st

from pages import _chart_specs, _data, _widgets
from pages import _deal_charts as charts
from pages._text import md_text
from scoring import review

NUM = st.column_config.NumberColumn
TEXT = st.column_config.TextColumn
DATE = st.column_config.DateColumn
RISKIEST = 8  # open deals listed on the page without an id


def search(view: _data.View) -> None:
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


def riskiest(view: _data.View, reason: str | None) -> None:
    """The open deals of the view most likely to slip or die (risk score, riskiest first):
    the deals to open first before a pipeline review."""
    st.markdown(
        f"**The {RISKIEST} riskiest open deals** — open one to see why",
        help=_widgets.help_for("deal_risk"),
    )
    if _widgets.not_available(reason):
        return
    scores = _data.metric("deal_risk", view)  # every open deal: a deal page opens any of them
    if view.teams:
        scores = scores.filter(pl.col("team").is_in(list(view.teams)))
    _widgets.table(
        scores.head(RISKIEST).select(
            "opp_id", "name", "team", "owner_id", "stage", "amount", "close_date", "reasons"
        ),
        key="riskiest_deals",
        name="riskiest_deals",
        column_config={
            "team": TEXT("Team"),
            "stage": TEXT("Stage"),
            "amount": NUM("Amount", format="dollar"),
            "close_date": DATE("Close date"),
            "reasons": st.column_config.ListColumn(
                "Why", width="large", help="The reasons behind the score, most points first."
            ),
        },
    )


def _moved(flagged: pl.DataFrame, column: str) -> tuple[Any, Any] | None:
    """The deal's `column` at the start and the end of the review window, when it changed."""
    if flagged.is_empty():
        return None
    before, after = flagged[f"{column}_before"][0], flagged[f"{column}_after"][0]
    return None if before is None or after is None or before == after else (before, after)


def headline(
    d: dict[str, Any], scores: pl.DataFrame, risk_reason: str | None,
    flagged: pl.DataFrame | None, since: date,
) -> None:  # fmt: skip
    """The deal's amount and close date (each with its change over the review window: a
    larger amount is good news, a later close date bad), and its risk score."""
    amount = _moved(flagged, "amount") if flagged is not None else None
    close = _moved(flagged, "close_date") if flagged is not None else None
    k1, k2, k3 = st.columns(3)
    k1.metric(
        "Amount",
        _widgets.money(d["amount"]) if d["amount"] is not None else "not set",
        help="The deal's amount as of the as-of date; a deal without one shows “not set”, not "
        f"$0. The arrow: its change since the end of {since} (the review window).",
        border=True,
        **(
            {"delta": f"{'+' if amount[1] > amount[0] else '-'}"
                      f"{_widgets.money(abs(amount[1] - amount[0]))} since {since}"}
            if amount else {}
        ),
    )  # fmt: skip
    days = (close[1] - close[0]).days if close else 0
    k2.metric(
        "Close date",
        f"{d['close_date']:%Y-%m-%d}" if d["close_date"] else "not set",
        help="The close date the deal had at the end of the as-of date. The arrow: how far it "
        f"moved since the end of {since} (later is worse).",
        border=True,
        **({"delta": f"{days:+d} days since {since}", "delta_color": "inverse"} if days else {}),
    )
    risk = {"help": _widgets.help_for("deal_risk"), "border": True}
    if risk_reason:
        k3.metric("Risk", "—", delta="not measured", delta_color="off", delta_arrow="off", **risk)
    elif scores.is_empty():
        k3.metric("Risk", "—", delta="closed deal" if d["is_closed"] else "not scored",
                  delta_color="off", delta_arrow="off", **risk)  # fmt: skip
    else:
        k3.metric("Risk", f"{scores['score'][0]} / 100", **risk)


def why_at_risk(d: dict[str, Any], scores: pl.DataFrame, risk_reason: str | None) -> None:
    """The reasons behind the deal's risk score, with their points."""
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


def changes(
    view: _data.View, since: date, flagged: pl.DataFrame | None, reason: str | None
) -> None:
    """What changed on the deal in the review window, before → after."""
    st.subheader(f"Changes since {since}")
    if _widgets.not_available(reason) or flagged is None:
        return
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


def timeline(timeline: pl.DataFrame, reason: str | None) -> None:
    """How long the deal sat in each stage against the company median."""
    st.subheader("Stage timeline", help=_widgets.help_for("days_in_stage"))
    _widgets.not_available(reason)
    _chart_specs.chart(charts.stage_timeline_chart, timeline, key="deal_timeline", width="stretch")
    st.caption(
        "One bar per stay in a stage, from entering it to leaving it (the current one runs to "
        "the as-of date); red when it ran longer than the company median for that stage, which "
        "the black tick marks (finished stays in the stage that ended in the 12 months before "
        "the as-of date, all teams). A diamond marks the close."
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


def every_change(history: pl.DataFrame) -> None:
    """Each row of the deal's history and what it changed."""
    st.subheader("Every change")
    if history.is_empty():
        st.caption("No stage history recorded for this deal.")
        return
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
