"""A function leader answers the quarterly questions; the Scorecard page sets the answers beside
the data's evidence and names the gap; comments are stored and shown as typed text."""

from __future__ import annotations

from pathlib import Path

import pytest

from ops.decisions import open_for_url
from pages._text import as_text

MARKUP = "**fine** <img src=x> :red[ok] $$x$$"


@pytest.fixture
def journal_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'journal.sqlite'}"
    monkeypatch.setenv("DATABASE_URL", url)
    return url


def test_answers_show_beside_the_evidence_with_the_gap_named(demo_store, journal_db, app):
    at = app().run()
    assert not at.exception
    assert any("No function leader has answered for 2026-Q4" in c.value for c in at.caption)

    at.switch_page("pages/leaders.py").run()
    assert not at.exception
    at.selectbox[0].select("sales")
    at.select_slider(key="answer_handoff_owners").set_value(5)
    at.text_input(key="comment_handoff_owners").input(MARKUP)
    at.button(key="FormSubmitter:leader_answers-Save the answers").click().run()
    assert not at.exception
    assert any("Answers saved" in s.value for s in at.success)
    answers = open_for_url(journal_db).answers()
    assert answers.height == 7  # one per question, all for 2026-Q4, by the open app's user
    assert set(answers["quarter"]) == {"2026-Q4"} and set(answers["function"]) == {"sales"}
    assert answers.filter(answers["question"] == "handoff_owners")["comment"].item() == MARKUP
    shown = at.dataframe[0].value
    assert MARKUP in list(shown["Comment"])  # a table cell: text, never markup

    at.switch_page("pages/scorecard.py").run()
    assert not at.exception
    gaps = [as_text(w.value) for w in at.warning]
    # handoff ownership on the demo: 4 signals scoring 42/100 on average, sales says 5/5
    assert any(
        g.startswith(
            "Sales rates “ownership of handoffs is clear” 5/5, but the data says otherwise"
        )
        for g in gaps
    ), gaps
    # the other answers were left at 3/5: no gap is claimed for them
    assert sum("Sales rates" in g for g in gaps) == 1
    table = at.dataframe[-1].value
    row = table[table["Question"] == "Does every handoff have a clear owner?"].iloc[0]
    assert row["Leaders' answers, 2026-Q4"] == "sales 5/5"
    assert "Deals stalled at a handoff between teams" in row["The data's evidence"]


ROLES_TOML = """
[access]
role_claim = "groups"
[access.users]
"cro@example.com" = { role = "exec", leads = "sales" }
"emea.lead@example.com" = { role = "lead", team = "EMEA" }
"""


@pytest.fixture
def signed(tiny_store: Path, tmp_path: Path, journal_db: str, monkeypatch: pytest.MonkeyPatch):
    """The app with sign-in on and the roles above; `make(email, page)` runs it signed in."""
    from streamlit.testing.v1 import AppTest

    from tests.app.test_auth import AUTH, ROOT, signed_in

    config = tmp_path / "scorecard.toml"
    config.write_text(ROLES_TOML)
    monkeypatch.setenv("SCORECARD_CONFIG", str(config))

    def make(email: str, page: str) -> AppTest:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
        at.secrets.update(AUTH)
        at.user = signed_in(email)
        at.run()
        return at.switch_page(page).run()

    return make


def test_only_a_functions_leader_answers_for_it(signed, journal_db):
    cro = signed("cro@example.com", "pages/leaders.py")
    assert not cro.exception
    assert cro.selectbox[0].options == ["Sales"]  # the function the CRO leads, nothing else
    cro.button(key="FormSubmitter:leader_answers-Save the answers").click().run()
    answers = open_for_url(journal_db).answers()
    assert set(answers["by_email"]) == {"cro@example.com"} and set(answers["function"]) == {"sales"}
    lead = signed("emea.lead@example.com", "pages/leaders.py")
    assert not lead.exception
    assert any("Only a function's leader" in i.value for i in lead.info)
    assert lead.selectbox[0].disabled
    lead.button(key="FormSubmitter:leader_answers-Save the answers").click().run()
    assert open_for_url(journal_db).answers().height == 7  # the lead's submit wrote nothing


def test_a_lead_records_decisions_for_their_team_as_themselves(signed, journal_db):
    lead = signed("emea.lead@example.com", "pages/decisions.py")
    assert not lead.exception
    assert lead.selectbox(key="decision_decisions_team").options == ["(no team)", "EMEA"]
    lead.text_area(key="decision_decisions_text").input("Weekly EMEA deal desk")
    lead.text_input(key="decision_decisions_owner").input("Ana")
    lead.selectbox(key="decision_decisions_team").select("EMEA")
    lead.button(key="FormSubmitter:decision_decisions-Record the decision").click().run()
    assert not lead.exception
    made = open_for_url(journal_db).decisions()
    assert made.select("team", "recorded_by").rows() == [("EMEA", "emea.lead@example.com")]
