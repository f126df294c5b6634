"""The deal page (issue #18 item 3) and the deal columns of every deal table, on the demo org
(as of 2026-11-16): by id, unknown id, no id (search), a name with Markdown shown as text,
the CRM link only where one is configured, and the review window from the URL."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import polars as pl
import pytest

from connectors.demo import generate_demo_org
from connectors.validate import validate_tables
from pages._review import window_start
from pages._text import as_text
from scoring.changes import CHANGES_DERIVED
from scoring.deal import TIMELINE_DERIVED
from scoring.risk import RISK_DERIVED
from snapshots.store import Store
from tests.app.conftest import DEMO_AS_OF

PAGE = "pages/deal.py"
# A deal of the demo org: EMEA, Negotiation since 2026-03-25, pushed +16 days on 2026-11-10.
DEAL = "O0003391"
DEAL_NAME = "Ironwave Systems – Platform (Jan 2026)"
HOSTILE = "**Bold** [link](http://127.0.0.1:9/x) $x^2$ :red[red] <b>html</b>"


def _open(app, **query):
    at = app(**query).run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def _frame(at, *columns):
    """The first table showing all of `columns` (pandas)."""
    return next(df.value for df in at.dataframe if set(columns) <= set(df.value.columns))


def _texts(at) -> list[str]:
    return [as_text(e.value) for kind in ("caption", "markdown", "warning", "info")
            for e in getattr(at, kind)]  # fmt: skip


def _store(folder: Path, *, rename: str | None = None, source: str = "demo", detail=None) -> Path:
    frames = validate_tables(generate_demo_org(as_of=DEMO_AS_OF)).frames
    if rename is not None:
        opps = frames["opportunities"]
        frames["opportunities"] = opps.with_columns(
            name=pl.when(pl.col("opp_id") == DEAL).then(pl.lit(rename)).otherwise("name")
        )
    extra = {"detail": detail} if detail is not None else None
    Store(folder).write(frames, source=source, data_as_of=DEMO_AS_OF, extra=extra)
    return folder


def test_by_id_header_risk_flags_timeline_and_changes(demo_store, app):
    at = _open(app, id=DEAL)
    assert as_text(at.title[0].value) == DEAL_NAME
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Amount"] == "$22k" and metrics["Close date"] == "2026-04-25"
    assert metrics["Risk"].endswith("/ 100") and 0 <= int(metrics["Risk"].split()[0]) <= 100
    line = as_text(at.markdown[0].value).replace("**", "")
    assert line == "Negotiation · forecast category commit · owner Riley Garcia · team EMEA"
    heads = [s.value for s in at.subheader]
    # the answer (why it is at risk), then the tabs: timeline, changes, every change
    assert heads == ["Why it is at risk", "Stage timeline", "Changes since 2026-11-09",
                     "Every change"]  # fmt: skip
    reasons = as_text(next(m.value for m in at.markdown if m.value.startswith("- ")))
    assert "days in Negotiation" in reasons and "close date pushed 1 time (+16 days)" in reasons
    flags = _frame(at, "kind", "close_date_before")
    assert flags["kind"].tolist() == ["Pushed out"]
    assert (str(flags["close_date_before"][0])[:10], str(flags["close_date_after"][0])[:10]) == (
        "2026-04-09", "2026-04-25"
    )  # fmt: skip
    spells = _frame(at, "times_median")
    assert spells["stage"].tolist() == ["Qualification", "Discovery", "Proposal", "Negotiation"]
    assert spells["times_median"].iloc[-1] > 5  # 236 days against a median of about 25
    history = _frame(at, "change", "changed_date")
    assert history["change"].iloc[-1] == "pushed +16d" and len(history) == 5
    assert len(at.get("vega_lite_chart")) == 1
    # the demo org is no CRM: no link, and the caption says why
    assert not at.get("link_button")
    assert any("the demo org is generated, it has no CRM" in t for t in _texts(at))
    assert not any("None" in t for t in _texts(at))


def test_unknown_id_says_so_as_text(demo_store, app):
    at = _open(app, id="**nope** [x](http://127.0.0.1:9/)")
    (warning,) = at.warning
    assert as_text(warning.value) == (
        "No deal with id **nope** [x](http://127.0.0.1:9/) in this snapshot (as of 2026-11-16)."
    )
    assert at.title[0].value == "Deal" and at.text_input(key="deal_search")


def test_no_id_offers_a_search_whose_results_link_to_deals(demo_store, app):
    at = _open(app)
    assert at.title[0].value == "Deal"
    # no results before a search: the one table is the riskiest open deals (its "Why")
    assert [list(d.value.columns)[-1] for d in at.dataframe] == ["reasons"]
    at.text_input(key="deal_search").set_value("ironwave systems – platform").run()
    found = _frame(at, "deal", "close_date")
    assert DEAL in found["opp_id"].tolist()
    link = found.loc[found["opp_id"] == DEAL, "deal"].iloc[0]
    query = parse_qs(urlsplit(link).query)
    assert urlsplit(link).path == "deal" and query["id"] == [DEAL]
    assert query["name"] == [DEAL_NAME] and query["since"] == ["2026-11-09"]
    at.text_input(key="deal_search").set_value("no deal is called this").run()
    assert any("0 deals whose name holds" in c.value for c in at.caption)


def test_a_name_with_markdown_is_shown_as_text(data_dir, app):
    _store(data_dir, rename=HOSTILE)
    at = _open(app, id=DEAL)
    assert as_text(at.title[0].value) == HOSTILE
    # the link in deal tables carries the name escaped, so the URL keeps its parameters
    at = _open(app)
    at.text_input(key="deal_search").set_value("**Bold**").run()
    link = _frame(at, "deal", "close_date")["deal"].iloc[0]
    assert parse_qs(urlsplit(link).query)["name"] == [HOSTILE]


@pytest.mark.parametrize(
    ("source", "detail", "env", "url"),
    [
        ("salesforce", {"mode": "full"}, {}, None),
        ("salesforce", {"instance_url": "https://acme.my.salesforce.com"}, {},
         f"https://acme.my.salesforce.com/lightning/r/Opportunity/{DEAL}/view"),
        ("salesforce", {}, {"SF_INSTANCE_URL": "https://acme.my.salesforce.com/"},
         f"https://acme.my.salesforce.com/lightning/r/Opportunity/{DEAL}/view"),
        ("files", {"preset": "fivetran_hubspot"}, {}, None),
        ("files", {"preset": "fivetran_hubspot"}, {"HUBSPOT_PORTAL_ID": "4512345"},
         f"https://app.hubspot.com/contacts/4512345/deal/{DEAL}"),
    ],
)  # fmt: skip
def test_crm_link_only_when_configured(data_dir, app, monkeypatch, source, detail, env, url):
    monkeypatch.delenv("SF_INSTANCE_URL", raising=False)
    monkeypatch.delenv("HUBSPOT_PORTAL_ID", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    _store(data_dir, source=source, detail=detail)
    at = _open(app, id=DEAL)
    buttons = at.get("link_button")
    if url is None:
        assert not buttons
        crm = "Salesforce" if source == "salesforce" else "HubSpot"
        assert any(t.startswith(f"No link to {crm}") for t in _texts(at))
    else:
        (button,) = buttons
        assert button.proto.url == url


def test_instance_url_from_scorecard_toml(data_dir, app, monkeypatch, tmp_path):
    config = tmp_path / "scorecard.toml"
    config.write_text(
        '[sources.salesforce]\ninstance_url = "https://acme--uat.sandbox.my.salesforce.com"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("SCORECARD_CONFIG", str(config))
    _store(data_dir, source="salesforce", detail={"instance_url": "https://other.salesforce.com"})
    (button,) = _open(app, id=DEAL).get("link_button")
    assert button.proto.url == (
        f"https://acme--uat.sandbox.my.salesforce.com/lightning/r/Opportunity/{DEAL}/view"
    )


def test_review_window_from_the_url(demo_store, app):
    at = _open(app, id=DEAL, since="2026-03-01")
    assert "Changes since 2026-03-01" in [s.value for s in at.subheader]
    # since 2026-03-01 the deal moved Discovery → Proposal → Negotiation and was pushed
    kinds = set(_frame(at, "kind", "close_date_before")["kind"])
    assert {"Stage forward", "Pushed out", "Category up"} <= kinds
    at = _open(app, id=DEAL, window="13w")
    assert "Changes since 2026-08-17" in [s.value for s in at.subheader]


def test_window_start():
    as_of = date(2026, 11, 16)
    assert window_start(as_of) == date(2026, 11, 9)
    assert window_start(as_of, "2026-10-01") == date(2026, 10, 1)
    assert window_start(as_of, None, "2w") == date(2026, 11, 2)
    assert window_start(as_of, "2026-11-16", "4w") == date(2026, 10, 19)  # not before as-of
    assert window_start(as_of, "yesterday", "13w") == date(2026, 8, 17)
    assert window_start(as_of, None, "1y") == date(2026, 11, 9)


def test_pipeline_drill_down_tables_link_to_deals(demo_store, app):
    at = app().run()
    at.switch_page("pages/pipeline.py").run()
    assert not at.exception
    stalled = next(d.value for d in at.dataframe if "times_threshold" in d.value.columns)
    assert list(stalled.columns[:3]) == ["deal", "flags", "risk"]
    first = stalled.iloc[0]
    query = parse_qs(urlsplit(first["deal"]).query)
    assert query["id"] == [first["opp_id"]] and query["name"] == [first["name"]]
    assert query["period"] == ["2026-Q4"]
    # stalled deals are open: each has a score (text, padded so it sorts by score)
    assert stalled["risk"].str.strip().str.fullmatch(r"\d{1,3}").all()
    assert stalled["flags"].str.contains(r"pushed \+\d+d").any()


def test_closed_deals_drill_down_has_no_risk_column(demo_store, app):
    at = app().run()
    at.switch_page("pages/pipeline.py").run()
    summary = next(d for d in at.dataframe if d.key == "team_summary")
    row = int(summary.value.index[summary.value["team"] == "EMEA"][0])
    at.session_state["team_summary"] = {"selection": {"rows": [row], "columns": [], "cells": []}}
    at.run()
    assert not at.exception
    closed = next(d.value for d in at.dataframe if d.key is None and "is_won" in d.value.columns)
    # closed deals have no risk score: the column is left out, never a column of "None"
    assert "deal" in closed.columns and "risk" not in closed.columns


def test_forecast_and_data_trust_deal_tables_link_to_deals(demo_store, app):
    at = app().run()
    at.switch_page("pages/forecast.py").run()
    assert not at.exception
    slipped = _frame(at, "pushes", "close_date_now")
    late = _frame(at, "surfaced_at", "days_before_period_end")
    for deals in (slipped, late):
        assert deals.columns[0] == "deal" and deals["deal"].str.startswith("deal?id=").all()
    at = app().run()
    at.switch_page("pages/data_trust.py").run()
    trust = next(d.value for d in at.dataframe if d.key == "stage_trust_table")
    row = int(trust.index[trust["team"] == "APAC"][0])
    at.session_state["stage_trust_table"] = {"selection": {"rows": [row], "columns": [],
                                                           "cells": []}}  # fmt: skip
    at.run()
    assert not at.exception
    flagged = _frame(at, "kpi", "events")
    assert flagged["deal"].str.startswith("deal?id=").all() and "risk" in flagged.columns


def test_derived_history_shows_the_timeline_with_not_measured_notes(data_dir, app):
    origin = {"stage_history": "derived: no history file, so each deal is open from creation"}
    _store(data_dir, source="files", detail={"origin": origin})
    at = _open(app, id=DEAL)
    assert as_text(at.title[0].value) == DEAL_NAME
    assert len(at.get("vega_lite_chart")) == 1  # the reconstructed spells, drawn
    notes = [as_text(i.value) for i in at.info]
    assert TIMELINE_DERIVED in notes and RISK_DERIVED in notes and CHANGES_DERIVED in notes
    risk = next(m for m in at.metric if m.label == "Risk")
    assert risk.value == "—"
    # deal tables still link to the deal, without flags or risk columns (not measured)
    at = _open(app)
    at.text_input(key="deal_search").set_value("ironwave").run()
    found = _frame(at, "deal", "close_date")
    assert len(found) and "flags" not in found.columns and "risk" not in found.columns


def test_a_decision_recorded_on_the_deal_page_is_about_that_deal(
    demo_store, app, tmp_path, monkeypatch
):
    # The deal page's "Record a decision" starts out about this deal (kind and id filled in);
    # what is recorded lands in the journal about the deal, so the Decisions page can follow
    # its changes.
    from ops.decisions import open_for_url

    url = f"sqlite:///{tmp_path / 'journal.sqlite'}"
    monkeypatch.setenv("DATABASE_URL", url)
    at = _open(app, id=DEAL)
    assert at.selectbox(key="decision_deal_about").value == "deal"
    assert at.text_input(key="decision_deal_subject").value == DEAL
    at.text_area(key="decision_deal_text").input("Exec sponsor call before the push")
    at.text_input(key="decision_deal_owner").input("Riley Garcia")
    at.button(key="FormSubmitter:decision_deal-Record the decision").click().run()
    assert not at.exception, at.exception
    made = open_for_url(url).decisions()
    assert made.select("about_kind", "about_id", "text").rows() == [
        ("deal", DEAL, "Exec sponsor call before the push")
    ]


# --- The answer: what moved in the review window, the riskiest deals without an id -----------


def test_a_pushed_close_date_has_a_red_arrow_up_and_an_unchanged_amount_none(demo_store, app):
    from streamlit.proto.Metric_pb2 import Metric

    at = _open(app, id=DEAL)  # pushed 2026-04-09 → 2026-04-25 on 2026-11-10: +16 days
    cards = {m.label: m.proto for m in at.metric}
    close = cards["Close date"]
    assert close.delta == "+16 days since 2026-11-09"
    assert (close.direction, close.color) == (Metric.MetricDirection.UP, Metric.MetricColor.RED)
    assert cards["Amount"].direction == Metric.MetricDirection.NONE and not cards["Amount"].delta
    # a window starting after the push: nothing moved, no arrow
    later = _open(app, id=DEAL, since="2026-11-12")
    assert {m.label: m.proto for m in later.metric}["Close date"].direction == (
        Metric.MetricDirection.NONE
    )


def test_an_amount_raised_in_the_window_has_a_green_arrow(data_dir, app):
    from datetime import UTC, datetime

    from streamlit.proto.Metric_pb2 import Metric

    # The demo deal with one more history row on 2026-11-12: its amount $22,000 → $30,000.
    frames = validate_tables(generate_demo_org(as_of=DEMO_AS_OF)).frames
    history = frames["stage_history"]
    last = history.filter(pl.col("opp_id") == DEAL).sort("entered_at").tail(1)
    raised = last.with_columns(
        entered_at=pl.lit(datetime(2026, 11, 12, 10, tzinfo=UTC)).cast(last["entered_at"].dtype),
        amount=pl.lit(30_000.0),
    )
    opps = frames["opportunities"].with_columns(
        amount=pl.when(pl.col("opp_id") == DEAL).then(30_000.0).otherwise("amount")
    )
    frames = {**frames, "stage_history": pl.concat([history, raised]), "opportunities": opps}
    Store(data_dir).write(frames, source="demo", data_as_of=DEMO_AS_OF)
    at = _open(app, id=DEAL)
    amount = {m.label: m.proto for m in at.metric}["Amount"]
    before = _frame(at, "kind", "amount_before")["amount_before"].iloc[0]
    assert amount.body == "$30k"
    assert amount.delta == f"+{_money(30_000 - before)} since 2026-11-09"
    assert (amount.direction, amount.color) == (
        Metric.MetricDirection.UP, Metric.MetricColor.GREEN
    )  # fmt: skip


def _money(value: float) -> str:
    from scoring.model import money

    return money(value)


def test_without_an_id_the_riskiest_open_deals_link_to_their_pages(demo_store, app):
    at = _open(app)
    riskiest = _frame(at, "deal", "reasons")
    assert len(riskiest) == 8
    scores = riskiest["risk"].astype(int)
    assert scores.is_monotonic_decreasing  # riskiest first
    assert all(urlsplit(link).path == "deal" for link in riskiest["deal"])
    assert all(len(r) > 0 for r in riskiest["reasons"])  # each says why
    # a team view lists its own team's deals
    emea = _frame(_open(app, teams="EMEA"), "deal", "reasons")
    assert set(emea["team"]) == {"EMEA"}
