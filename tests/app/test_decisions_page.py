"""Record a decision on the Scorecard page, see it on the Decisions page with its follow-through,
close and reverse it (each a new entry), all as typed text; on the demo snapshot."""

from __future__ import annotations

from pathlib import Path

import pytest

from ops import audit
from ops.decisions import journal_url, open_for_url

MARKUP = "**Re-score MQLs** <script>x</script> [link](javascript:1) $$x$$ :red[alarm]"


@pytest.fixture
def journal_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The journal in a temporary SQLite file (the demo store is shared: never written to)."""
    url = f"sqlite:///{tmp_path / 'journal.sqlite'}"
    monkeypatch.setenv("DATABASE_URL", url)
    return url


def _record(at, page: str, **fields) -> None:
    at.text_area(key=f"decision_{page}_text").input(fields["text"])
    at.text_input(key=f"decision_{page}_owner").input(fields["owner"])
    at.selectbox(key=f"decision_{page}_about").select(fields["about"])
    if "metric" in fields:
        at.selectbox(key=f"decision_{page}_metric").select(fields["metric"])
    at.button(key="FormSubmitter:decision_scorecard-Record the decision").click().run()


def test_a_decision_recorded_on_the_scorecard_shows_on_the_decisions_page(
    demo_store, journal_db, app
):
    at = app().run()
    assert not at.exception
    _record(at, "scorecard", text=MARKUP, owner="Mia <b>", about="metric", metric="follow_up_sla")
    assert not at.exception
    assert any("Decision recorded" in s.value for s in at.success)

    at.switch_page("pages/decisions.py").run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Open decisions"] == "1"
    assert metrics["Overdue"] == "0"
    assert metrics["Decisions kept"] == "not measured"  # nothing due, closed or reversed yet
    table = at.dataframe[0].value
    assert list(table["Decision"]) == [MARKUP]  # stored and shown exactly as typed
    assert list(table["Owner"]) == ["Mia <b>"]
    assert list(table["Metric then"]) == list(table["Metric now"])  # same snapshot: no change
    assert list(table["Recorded by"]) == [audit.ANONYMOUS]  # the open app's user
    # the journal holds what was typed; the audit log says a decision was recorded
    journal = open_for_url(journal_url("unused", {"DATABASE_URL": journal_db}))
    assert journal.decisions()["about_id"].to_list() == ["follow_up_sla"]
    value = journal.decisions()["metric_value"].item()
    assert value is not None and table["Metric then"][0] == f"{value * 100:.0f} %"
    assert "recorded #1" in audit.recent(demo_store, action="decision")["detail"].to_list()


def test_closing_then_reversing_keeps_the_history(demo_store, journal_db, app):
    journal = open_for_url(journal_db)
    d = journal.record(text="Move SDR handoff to Tuesday", owner="Bo", by="x@y", about_kind="team")
    at = app()
    at.switch_page("pages/decisions.py").run()
    assert not at.exception
    at.radio[0].set_value("close")
    at.text_input[0].input("done")
    at.button(key="FormSubmitter:decision_update-Record it").click().run()
    assert not at.exception
    at.radio[0].set_value("reverse")
    at.button(key="FormSubmitter:decision_update-Record it").click().run()
    assert not at.exception
    assert journal.history()["kind"].to_list() == ["recorded", "closed", "reversed"]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Open decisions"] == "0"
    assert metrics["Decisions kept"] == "0.0%"  # 0 of 1 judged: it was reversed
    done = at.dataframe[0].value  # no open decisions: the first table is the closed ones
    assert list(done["Status"]) == ["reversed"]
    assert list(done["Reversed / reopened"]) == ["reversed 1×"]
    assert d == 1


def test_the_demo_journal_shows_follow_through_and_the_planted_gap(demo_store, journal_db, app):
    from datetime import date

    from ops.decisions import seed_demo
    from pages._text import as_text

    seed_demo(open_for_url(journal_db), as_of=date(2026, 11, 16), quarter="2026-Q4")
    at = app()
    at.switch_page("pages/decisions.py").run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    # open: NA Enterprise (14 days overdue) and APAC (due in 14 days); kept: EMEA only, of 4
    assert (metrics["Open decisions"], metrics["Overdue"]) == ("2", "1")
    assert metrics["Decisions kept"] == "25.0%"
    assert any("1 of 4 judged decisions" in c.value for c in at.caption)
    open_table = at.dataframe[0].value
    assert list(open_table["Overdue"]) == ["14 days overdue", ""]
    done = at.dataframe[1].value
    assert list(done["Status"]) == ["closed", "closed", "reversed"]

    at.switch_page("pages/scorecard.py").run()
    assert not at.exception
    gaps = [as_text(w.value) for w in at.warning if "the data says otherwise" in w.value]
    assert [g.split(",")[0] for g in gaps] == [
        "Sales rates “ownership of handoffs is clear” 5/5",
        "Sales rates “bad news is raised early” 4/5",
    ]


def test_the_handoffs_page_records_a_decision_about_a_handoff(demo_store, journal_db, app):
    at = app()
    at.switch_page("pages/handoffs.py").run()
    assert not at.exception
    at.text_area(key="decision_handoffs_text").input("SDRs own every MQL within a day")
    at.text_input(key="decision_handoffs_owner").input("SDR manager")
    at.text_input(key="decision_handoffs_subject").input("MQL → SAL")
    at.button(key="FormSubmitter:decision_handoffs-Record the decision").click().run()
    assert not at.exception
    made = open_for_url(journal_db).decisions()
    assert made.select("about_kind", "about_id", "metric_value").rows() == [
        ("handoff", "MQL → SAL", None)
    ]
