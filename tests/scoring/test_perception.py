"""Leaders' answers beside the data's evidence, and the gap named, on a hand-made fixture."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from journal.store import ANSWER_COLUMNS
from scoring.perception import SIGNAL_COLUMNS, evidence, perception, summary

# Evidence for "handoff_owners": handoff_stall 40, follow_up_sla 21, bounce_back_rate 80
# (leakage not measured: left out) -> (40 + 21 + 80) / 3 = 47 < 50: poor.
# Evidence for "bad_news_early": late_risk_share 83, forecast_bias 93 -> 88: good.
# "one_metric_set" has no measured signal: no evidence, so no gap can be named.
SIGNALS = pl.DataFrame(
    [
        ("handoff_stall", "Deals stalled at a handoff", 0.22, "ratio", 40.0),
        ("follow_up_sla", "MQLs followed up within the SLA", 0.69, "ratio", 21.0),
        ("leakage", "MQLs never touched", None, "ratio", None),
        ("bounce_back_rate", "Leads recycled", 0.05, "ratio", 80.0),
        ("late_risk_share", "Bad news that came late", 0.20, "ratio", 83.0),
        ("forecast_bias", "Mean |bias|", 0.05, "ratio", 93.0),
        ("data_quality_score", "Data-quality checks passing", 61.4, "score", 61.4),
    ],
    schema=SIGNAL_COLUMNS,
    orient="row",
)


def answer(i, function, question, score, quarter="2026-Q3", comment=""):
    return (i, None, f"{function}@x", quarter, function, question, score, comment)


# sales answered handoff_owners 5, then 4 (the later answer counts); marketing 2.
ANSWERS = pl.DataFrame(
    [
        answer(1, "sales", "handoff_owners", 5),
        answer(2, "marketing", "handoff_owners", 2, comment="<b>we chase them</b>"),
        answer(3, "sales", "bad_news_early", 5),
        answer(4, "marketing", "one_metric_set", 4),
        answer(5, "sales", "handoff_owners", 4),
        answer(6, "sales", "bad_news_early", 1, quarter="2026-Q2"),  # another quarter
    ],
    schema={**ANSWER_COLUMNS, "at": pl.Datetime("us", "UTC")},
    orient="row",
)


def test_evidence_per_question():
    ev = evidence(SIGNALS)
    assert ev["question"].to_list()[:4] == [
        "paid_same_outcomes", "one_metric_set", "handoff_owners", "one_data_version"
    ]  # fmt: skip
    row = ev.filter(pl.col("question") == "handoff_owners").row(0, named=True)
    assert row["evidence_score"] == 47.0
    assert row["evidence"] == (
        "Deals stalled at a handoff 22 %; MQLs followed up within the SLA 69 %; Leads recycled 5 %"
    )
    data = ev.filter(pl.col("question") == "one_data_version").row(0, named=True)
    assert (data["evidence_score"], data["evidence"]) == (
        61.4,
        "Data-quality checks passing 61/100",
    )
    assert ev.filter(pl.col("question") == "one_metric_set")["evidence_score"].item() is None


def test_the_gap_is_named_when_a_function_rates_itself_high_on_poor_evidence():
    out = perception(ANSWERS, SIGNALS, quarter="2026-Q3")
    assert out.select("question", "function", "score", "gap").rows() == [
        ("one_metric_set", "marketing", 4, False),  # no evidence: no gap claimed
        ("handoff_owners", "marketing", 2, False),  # rates it low: agrees with the data
        ("handoff_owners", "sales", 4, True),  # 4/5 against evidence 47/100
        ("bad_news_early", "sales", 5, False),  # 5/5 and the data agrees (88/100)
    ]
    assert out.filter(pl.col("gap"))["gap_text"].to_list() == [
        "Sales rates “ownership of handoffs is clear” 4/5, but the data says otherwise: "
        "Deals stalled at a handoff 22 %; MQLs followed up within the SLA 69 %; "
        "Leads recycled 5 % (evidence 47/100)."
    ]
    assert out.filter(pl.col("function") == "marketing")["comment"].to_list() == [
        "",
        "<b>we chase them</b>",
    ]
    line = summary(out).filter(pl.col("question") == "handoff_owners").row(0, named=True)
    assert line["answers"] == "marketing 2/5, sales 4/5"
    assert line["gaps"].startswith("Sales rates")


def test_no_answers_no_rows():
    assert perception(ANSWERS, SIGNALS, quarter="2025-Q1").height == 0
    assert summary(perception(ANSWERS, SIGNALS, quarter="2025-Q1")).height == 0


@settings(max_examples=25, deadline=None)
@given(st.permutations(range(ANSWERS.height)), st.permutations(range(SIGNALS.height)))
def test_row_order_never_changes_the_result(answer_order, signal_order):
    expected = perception(ANSWERS, SIGNALS, quarter="2026-Q3")
    shuffled = perception(
        ANSWERS[list(answer_order)], SIGNALS[list(signal_order)], quarter="2026-Q3"
    )
    assert shuffled.equals(expected)
    assert summary(shuffled).equals(summary(expected))
