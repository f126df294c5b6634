"""A page per deal (`/deal?id=…`, linked from every deal table): what state is this deal in?
Above the fold, its amount and close date (each with its change over the review window), its
risk score and why, and a link to the record in the CRM. Below, a tab per question: how long
it sat in each stage against the company median, what moved in the review window, and every
change with its date.

Without an id it offers a search by deal name and lists the view's riskiest open deals.
"""

from __future__ import annotations

import os

import polars as pl
import streamlit as st

from connectors.crm_links import record_link
from model import formats
from pages import _data, _decision_log, _review
from pages import _deal_sections as sections
from pages._text import md_text
from scoring import changes, deal, risk

view = _data.current_view()
since = _review.since(view.as_of_date)
tables = _data.load_tables(view.data_dir, view.snapshot_id)
deal_id = (st.query_params.get("id") or "").strip()
risk_reason = risk.risk_status(tables)

if not deal_id:
    st.title("Deal")
    with st.container(key="answer"):
        sections.search(view)
        sections.riskiest(view, risk_reason)
    st.stop()

summary = _data.metric("deal_summary", view, deal_id=deal_id)
if summary.is_empty():
    st.title("Deal")
    st.warning(
        f"No deal with id {md_text(deal_id)} in this snapshot (as of {view.as_of}).",
        icon=":material/search_off:",
    )
    sections.search(view)
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

scores = _data.metric("deal_risk", view).filter(pl.col("opp_id") == deal_id)
changes_reason = changes.changes_status(tables)
flagged = (
    None
    if changes_reason
    else _data.metric("deal_changes", view, since=since.isoformat()).filter(
        pl.col("opp_id") == deal_id
    )
)
snapshot = _data.store().get(view.snapshot_id)
link = record_link(
    deal_id,
    source=snapshot.source,
    detail=snapshot.manifest.get("detail"),
    sources=_data.settings().sources,
    environ=os.environ,
)

with st.container(key="answer"):
    sections.headline(d, scores, risk_reason, flagged, since)
    if link.url:
        st.link_button(f"Open in {link.crm}", link.url, icon=":material/open_in_new:")
    else:
        st.caption(md_text(link.why))
    sections.why_at_risk(d, scores, risk_reason)

timeline_tab, changes_tab, history_tab = st.tabs(
    ["Stage timeline", f"Changes since {since}", "Every change"]
)
with timeline_tab:
    sections.timeline(
        _data.metric("deal_timeline", view, deal_id=deal_id), deal.timeline_status(tables)
    )
with changes_tab:
    sections.changes(view, since, flagged, changes_reason)
with history_tab:
    sections.every_change(_data.metric("deal_history", view, deal_id=deal_id))

_decision_log.record_expander("deal", about_kind="deal", about_id=deal_id)
