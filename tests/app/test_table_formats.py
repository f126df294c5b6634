"""Every table on every page (demo org, all teams and one team) shows readable headers and
formatted numbers: the half of the page scan (tests/e2e/test_page_scan_e2e.py) a browser cannot
see, since the grid's accessible copy holds raw values whatever the column's format.

Checked on what the app sends the browser: each `st.dataframe`'s column settings and data."""

from __future__ import annotations

import json
import re

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from ops.decisions import open_for_url, seed_demo
from snapshots.store import Store
from tests.app.conftest import DEMO_AS_OF

PAGES = ["scorecard", "pipeline", "handoffs", "forecast", "campaigns", "data_trust", "deal"]
PAGES += ["decisions", "leaders", "refresh"]
SNAKE = re.compile(r"\b[a-z][a-z0-9]*_[a-z0-9_]+\b")
CHARTS = {"line_chart", "bar_chart", "area_chart", "progress", "list", "link"}


def _problems(table) -> list[str]:
    """Shown columns of one table whose header is a column name, whose decimals are raw, or
    whose empty cells read "None" (the grid's default) or NaN."""
    config = json.loads(table.proto.columns or "{}")
    data = pa.ipc.open_stream(table.proto.arrow_data.data).read_all()  # as the browser gets it
    schema = data.schema
    missing = table.proto.placeholder or "None"  # what the grid draws for a null
    order = set(table.proto.column_order)  # when set, the only columns shown
    out = []
    for column, dtype in zip(schema.names, schema.types, strict=True):
        settings = config.get(str(column), {})
        if settings.get("hidden") or column == "_index" or (order and column not in order):
            continue
        label = settings.get("label") or str(column)
        if SNAKE.search(label):
            out.append(f"header {label!r}")
        kind = settings.get("type_config", {})
        raw = not kind.get("format") and kind.get("type") not in CHARTS
        if pa.types.is_floating(dtype) and raw:
            out.append(f"{label!r}: decimals without a format")
        nulls = data.column(column).null_count
        if nulls and missing in {"None", "null", "NaN", "nan"}:
            out.append(f"{label!r}: {nulls} empty cells shown as {missing!r}")
        if pa.types.is_floating(dtype) and pc.any(pc.is_nan(data.column(column))).as_py():
            out.append(f"{label!r}: NaN shown")
    return out


@pytest.mark.parametrize("teams", ["", "EMEA"], ids=["all_teams", "one_team"])
@pytest.mark.parametrize("page", PAGES)
def test_tables_have_readable_headers_and_formats(
    app, demo_store, page, teams, tmp_path, monkeypatch
):
    query = {"teams": teams} if teams else {}
    if page in ("decisions", "leaders"):  # the demo's planted decisions and answers, so the
        # pages show their tables (the shared demo store has no journal of its own)
        url = f"sqlite:///{tmp_path / 'journal.sqlite'}"
        monkeypatch.setenv("DATABASE_URL", url)
        assert seed_demo(open_for_url(url), as_of=DEMO_AS_OF)
    if page == "deal":
        deals = Store(demo_store).current().scan("opportunities").filter(~pl.col("is_closed"))
        query["id"] = deals.select("opp_id").head(1).collect().item()
    at = app(**query)
    at.run()
    at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, at.exception
    found = [f"{t.proto.id[-20:]}: {p}" for t in at.dataframe for p in _problems(t)]
    assert not found, "\n".join(found)
    if page == "decisions":  # the seeded decisions are on the page, so their table was checked
        assert at.dataframe
