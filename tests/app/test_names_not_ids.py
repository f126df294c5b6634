"""Names, not IDs and jargon, on every page and every drill-down (issue #17): what the app sends
the browser for the demo org (all teams and one team), read in AppTest.

Each page is opened, then every table that can be selected is drilled into through the URL
(`?drill=<table>:<first row's key>`, as `pages._filters.drilled_row` reads it), twice over so
a drill-down's own drill-down is opened too. Fails on:
- an owner's or user's ID (U033, QUEUE-LEADS) or a deal's ID shown where a name exists;
- a raw ISO timestamp ("2026-11-16T09:00" or "+00:00") in a text cell, or an instant column
  not shown as a local date/time (`pages._widgets.datetime_column`);
- a tool name in parentheses ("(Looker)", "(Fivetran)", "(Salesforce)") on the demo org;
- the words "residual", "sourced by sourced" or "by sourced by" (labels built from jargon or
  from a column's name);
- a data-quality check's snake_case id shown as a label instead of its description;
- a deal row (slipped, pushed, stalled...) without the deal's name.
"""

from __future__ import annotations

import json
import re

import polars as pl
import pyarrow as pa
import pytest
from google.protobuf.json_format import MessageToDict

from ops.decisions import open_for_url, seed_demo
from pages._filters import _row_keys
from pages._text import as_text
from pages._widgets import DEAL_LINK_TEXT
from reports.names import name_column, user_id_columns
from scoring.definitions import registry
from scoring.quality import CHECKS
from snapshots.store import Store
from tests.app.conftest import DEMO_AS_OF

PAGES = ["scorecard", "pipeline", "handoffs", "forecast", "campaigns", "data_trust", "deal"]
PAGES += ["decisions", "leaders", "refresh"]

ISO_INSTANT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d|\+00:00")
TOOL = re.compile(r"\((?:Looker|Fivetran|Salesforce|HubSpot)\)")
JARGON = re.compile(r"\bresidual\b|sourced by sourced|\bby sourced by\b", re.IGNORECASE)
# Ids a reader should see by their names: data-quality checks and metric definitions
CHECK_IDS = frozenset(check.id for check in CHECKS) | frozenset(registry())
# Columns the deal-link helper adds in front of a deal list (pages._widgets.with_deal_columns)
ADDED = ("deal", "flags", "risk")
# Proto fields that are data, not words a reader sees (checked as cells, or chart specs)
# Elements checked elsewhere (tables, as cells) or not words (chart specs; the raw snapshot
# manifest the Data & refresh page shows as JSON on purpose)
SKIP_ELEMENTS = {"dataframe", "arrow_data_frame", "arrow_vega_lite_chart", "vega_lite_chart"}
SKIP_ELEMENTS |= {"json"}
INPUTS = {"text_input", "text_area", "number_input", "date_input", "time_input"}
SKIP_FIELDS = {"arrowData", "spec", "datasets", "columns", "id", "formId", "fragmentId"}


class Demo:
    """What the demo org names: users and deals with a name, by ID."""

    def __init__(self, folder) -> None:
        snap = Store(folder).current()
        users = snap.scan("users").filter(pl.col("name").is_not_null()).collect()
        opps = snap.scan("opportunities").filter(pl.col("name").is_not_null()).collect()
        self.user_names = dict(zip(users["user_id"], users["name"], strict=True))
        self.deal_names = dict(zip(opps["opp_id"], opps["name"], strict=True))
        ids = sorted({*self.user_names, *self.deal_names}, key=len, reverse=True)
        alternatives = "|".join(map(re.escape, ids))
        # an ID stands in for a name; one labelled as an ID ("deal id 006…") is a detail
        self.named_id = re.compile(rf"(?<![\w-])(?<!id )(?<!ID )(?:{alternatives})(?![\w-])")
        self.open_deal = (
            (snap.scan("opportunities").filter(~pl.col("is_closed")).select("opp_id").head(1))
            .collect()
            .item()
        )


def _words(where: str, text: str, demo: Demo, *, id_column: bool = False) -> list[str]:
    """Problems in one piece of text a reader sees (`id_column`: a cell of a column headed
    "ID", where a definition's or check's key is the detail it holds)."""
    out = []
    if ISO_INSTANT.search(text):
        out.append(f"{where}: raw timestamp in {text[:120]!r}")
    if m := TOOL.search(text):
        out.append(f"{where}: tool name {m.group()} in {text[:120]!r}")
    if m := JARGON.search(text):
        out.append(f"{where}: jargon {m.group()!r} in {text[:120]!r}")
    if text.strip() in CHECK_IDS and not id_column:
        out.append(f"{where}: check id {text.strip()!r} as a label")
    if m := demo.named_id.search(text):
        out.append(f"{where}: ID {m.group()!r} shown where a name exists, in {text[:120]!r}")
    return out


def _strings(value, field: str = "") -> list[str]:
    """Every string of a proto (as a dict), but the data and specs checked elsewhere."""
    if field in SKIP_FIELDS:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in _strings(v, k)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v, field)]
    return []


def _table_problems(table, demo: Demo) -> list[str]:
    """Problems in one table's headers and cells, as the grid shows them."""
    config = json.loads(table.proto.columns or "{}")
    data = pa.ipc.open_stream(table.proto.arrow_data.data).read_all()
    order = set(table.proto.column_order)
    where = f"table {table.key or table.proto.id[-24:]}"
    shown = [
        c
        for c in data.schema.names
        if c != "_index"
        and not config.get(c, {}).get("hidden")
        and (not order or c in order)
        and not (c in config and config[c] is None)
    ]
    out = []
    for column in shown:
        settings = config.get(column, {})
        label = settings.get("label") or column
        out += _words(f"{where} header", label, demo)
        dtype = data.schema.field(column).type
        kind = settings.get("type_config", {})
        if pa.types.is_timestamp(dtype) and not (
            kind.get("type") == "datetime" and kind.get("timezone")
        ):
            out.append(f"{where}: {label!r} shows instants in UTC, not the reporting zone")
        if not (pa.types.is_string(dtype) or pa.types.is_large_string(dtype)):
            continue
        cells = pl.from_arrow(data.column(column)).drop_nulls().unique()
        if column == "deal":  # a link: the reader sees the captured name
            cells = cells.str.extract(DEAL_LINK_TEXT, 1)
        details = bool(re.search(r"\bID$", label))
        for cell in cells.head(200).to_list():
            out += _words(f"{where} {label!r} cell", str(cell), demo, id_column=details)
    frame = pl.from_arrow(data)
    if "opp_id" in frame.columns:  # a deal list: every row names its deal
        if "deal" in shown:
            names = frame["deal"].str.extract(DEAL_LINK_TEXT, 1)
        elif "name" in shown:
            names = frame["name"]
        else:
            names = pl.Series([None] * frame.height, dtype=pl.String)
        named = frame["opp_id"].is_in(list(demo.deal_names))
        bare = frame.filter(named & (names.is_null() | (names == frame["opp_id"])))
        if bare.height:
            out.append(f"{where}: {bare.height} deal rows without the deal's name")
    return out


def _page_problems(at, demo: Demo) -> list[str]:
    out = []
    for table in at.dataframe:
        out += _table_problems(table, demo)
    for node in _leaves(at.main):
        if node.type in SKIP_ELEMENTS:
            continue
        proto = getattr(node, "proto", None)
        if proto is None:
            continue
        fields = MessageToDict(proto)
        if node.type in INPUTS:  # what a user typed or a form holds is data, not a label
            fields = {k: v for k, v in fields.items() if k in ("label", "help", "placeholder")}
        for text in _strings(fields):
            out += _words(node.type, as_text(text), demo)
    return out


def _leaves(node):
    children = getattr(node, "children", None)
    if children:
        for child in children.values():
            yield from _leaves(child)
        if getattr(node, "proto", None) is not None:  # expanders, tabs: their labels
            yield node
    else:
        yield node


def _drills(at) -> list[str]:
    """`?drill=` items opening the first row of every selectable table on the page."""
    items = []
    for table in at.dataframe:
        key = table.key
        if not table.proto.selection_mode or key is None:
            continue
        frame = pl.from_arrow(pa.ipc.open_stream(table.proto.arrow_data.data).read_all())
        named = [name_column(c) for c in user_id_columns(frame)]  # added for the screen
        frame = frame.drop("_index", *ADDED, *named, strict=False)
        if frame.height:
            items.append(f"{key}:{frame.select(_row_keys(frame)).to_series()[0]}")
    return items


@pytest.fixture(scope="module")
def demo(demo_store_dir) -> Demo:
    return Demo(demo_store_dir)


@pytest.mark.parametrize("teams", ["", "EMEA"], ids=["all_teams", "one_team"])
@pytest.mark.parametrize("page", PAGES)
def test_pages_show_names_not_ids_or_jargon(
    app, demo_store, demo, page, teams, tmp_path, monkeypatch
):
    query = {"teams": teams} if teams else {}
    if page in ("decisions", "leaders"):  # the demo's planted decisions and answers
        url = f"sqlite:///{tmp_path / 'journal.sqlite'}"
        monkeypatch.setenv("DATABASE_URL", url)
        assert seed_demo(open_for_url(url), as_of=DEMO_AS_OF)
    if page == "deal":
        query["id"] = demo.open_deal
    found: list[str] = []
    drills: list[str] = []
    tables: list[int] = []  # tables on the page at each run
    for _ in range(3):  # the page, its drill-downs, and theirs
        at = app(**query, **({"drill": drills} if drills else {}))
        at.run()
        at.switch_page(f"pages/{page}.py").run()
        assert not at.exception, at.exception
        found += _page_problems(at, demo)
        tables.append(len(at.dataframe))
        more = [d for d in _drills(at) if d not in drills]
        if not more:
            break
        drills += more
    if page in ("pipeline", "forecast", "data_trust", "campaigns", "handoffs"):
        # the drill-downs were opened: their record lists were checked too
        assert drills and tables[-1] > tables[0], f"{page}: no drill-down opened ({drills})"
    problems = sorted(set(found))
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)
