"""`pages._text.md_text`: text from data written as Markdown Streamlit shows literally.

The browser check of the same (each special character rendered in Chromium) is
tests/e2e/test_escape_e2e.py; here the escaping itself and an AppTest on hostile data."""

from __future__ import annotations

import string

from hypothesis import given
from hypothesis import strategies as st

from pages._text import WORD_JOINER, as_text, md_text
from tests import hostile


def test_every_ascii_punctuation_character_is_escaped():
    for char in string.punctuation:
        assert md_text(char).startswith("\\" + char), char
    assert md_text("Team A") == "Team A"  # letters, digits and spaces as they are
    assert md_text(None) == "None" and md_text(1.5) == "1\\.5"


def test_hostile_names_lose_their_markup():
    text = md_text("![b](http://127.0.0.1:8699/team.png) **x** $$\\LaTeX$$")
    assert text == (
        f"\\!\\[b\\]\\(http\\:{WORD_JOINER}\\/\\/127\\.0\\.0\\.1\\:{WORD_JOINER}8699\\/team\\.png\\)"
        " \\*\\*x\\*\\* \\$\\$\\\\LaTeX\\$\\$"
    )


def test_autolinks_and_the_logo_shortcode_are_broken_by_an_invisible_joiner():
    # GFM autolink literals and :streamlit: match decoded text, so escapes alone do not stop
    # them: a WORD JOINER goes after ':' and '@' (not before a space) and inside 'www.'.
    assert md_text("www.x.org") == f"www{WORD_JOINER}\\.x\\.org"
    assert md_text("a@b.co") == f"a\\@{WORD_JOINER}b\\.co"
    assert md_text(":streamlit:") == f"\\:{WORD_JOINER}streamlit\\:"
    assert md_text("note: fine") == "note\\: fine"  # no joiner where nothing could match


def test_lines_stay_lines_without_starting_blocks():
    # a line break is a hard break inside the paragraph; a blank line or indentation cannot
    # start a new block (an indented code block, a heading)
    assert md_text("one\n\n    # two\r\nthree") == "one  \n\\# two  \nthree"


@given(st.text(alphabet=st.characters(exclude_categories=("Cs",), exclude_characters="\r\n")))
def test_as_text_reads_back_what_md_text_wrote(value):
    assert as_text(md_text(value)) == value


def test_app_pages_on_hostile_names_raise_nothing_and_hold_the_escaped_names(
    tmp_path, monkeypatch, app
):
    monkeypatch.setenv("SCORECARD_DATA_DIR", str(hostile.write_store(tmp_path / "data")))
    at = app().run()
    assert not at.exception
    drivers = [m.value for m in at.markdown]
    team, stage, source = (md_text(hostile.team()), md_text(hostile.STAGE), md_text(hostile.SOURCE))
    assert any(f"- {team} forecasts high" in d for d in drivers), drivers
    assert any(f"stalled in {stage} \\(" in d for d in drivers), drivers
    assert any(d.startswith(f"- {source}\\:") for d in drivers), drivers
    assert not any(hostile.team() in d for d in drivers)  # never the raw name
    for page in ("pipeline", "handoffs", "forecast", "campaigns", "data_trust", "refresh"):
        at.switch_page(f"pages/{page}.py").run()
        assert not at.exception, (page, at.exception)
    at = app(teams=hostile.team()).run()
    at.switch_page("pages/forecast.py").run()
    assert not at.exception
    (view,) = [c.value for c in at.caption if c.value.startswith("2026-Q4 · as of")]
    assert view.endswith(f" · {team}") and as_text(view).endswith(hostile.team())


def test_a_failed_refresh_quoting_a_bad_value_shows_it_as_text(tiny_store, app):
    from datetime import UTC, datetime

    from ops.runlog import finish_run, start_run

    error = "Opportunity.csv line 5: stage '![b](http://127.0.0.1:8699/x.png) **x** $$y$$' unknown"
    now = datetime(2026, 3, 2, 6, tzinfo=UTC)
    run = start_run(tiny_store, source="files", trigger="cli", now=now)
    finish_run(tiny_store, run, outcome="failed", now=now, error=error)
    at = app().run()
    at.switch_page("pages/refresh.py").run()
    assert not at.exception
    # the failure, once: its first line in the expander's label (escaped), its whole message
    # in a code block (text by nature)
    (label,) = [e.label for e in at.expander if "Still failing" in e.label]
    assert label.endswith(md_text(error)) and as_text(label).endswith(error)
    assert error in [c.value for c in at.code]
