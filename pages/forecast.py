"""Forecast: will we make this quarter, and can we trust the call? Above the fold, this
quarter's call for the view — won so far, the gap to quota and its coverage, the last judged
call's accuracy (with its change since the previous snapshot) — and each team's call. Below, a
tab per question: the call's roll-up and its trend by week, forecast vs actual, whether misses
are a habit (bias trend, accuracy by week, WAPE), where the judged period's miss came from, and
the deals that slipped or went bad late. Every team figure drills down to its deals
(`pages._drill`)."""

from __future__ import annotations

import streamlit as st

from pages import _data, _decision_log, _drill, _widgets
from pages import _forecast_sections as sections
from pages._text import md_text
from reports import metrics as _metrics
from scoring import forecast as scoring_forecast

view = _data.current_view()
params = _data.settings().scoring
context = _metrics.MetricContext(
    as_of=view.as_of_date, period=view.period_obj(params.fiscal_start_month), params=params
)
judged = context.judged.name
teams_label = md_text(", ".join(view.teams)) or "all teams"

st.title("Forecast")
st.caption(f"{context.period.label} · as of {view.as_of} · {teams_label}")

the_call = _data.metric("call", view)
with st.container(key="answer"):
    sections.call_answer(view, context.call_quarter, judged, the_call)

status = scoring_forecast.forecast_status(
    _data.team_tables(view.data_dir, view.snapshot_id, view.teams)
)
call_tab, fva_tab, trend_tab, miss_tab, slipped_tab = st.tabs(
    ["The call", f"Forecast vs actual {judged}", "Accuracy & bias trend",
     f"Where the {judged} miss came from", "Slipped & late deals"]
)  # fmt: skip
with call_tab, st.container(key="call_section"):
    sections.call_detail(view, context.call_quarter, the_call)
with fva_tab:
    sections.judged_note(context.period, judged)
    sections.judged_metrics(view, judged)
    picked: _drill.Picks = sections.NO_TEAM
    if not _widgets.not_available(status):
        picked = sections.forecast_vs_actual(view)
    else:
        st.caption(
            "Forecast vs actual, accuracy, bias, WAPE and the miss decomposition need the "
            "`forecasts` table; slipped deals and late-surfaced risk come from stage history."
        )
with trend_tab:
    if not _widgets.not_available(status):
        sections.trend(view, judged)
with miss_tab:
    if not _widgets.not_available(status):
        picked = sections.miss(view, judged, picked)
with slipped_tab:
    sections.slipped_and_late(view, judged, picked)

_decision_log.record_expander("forecast", about_kind="metric", about_id="late_risk_share")
