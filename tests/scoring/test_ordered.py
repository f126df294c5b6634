"""A row's neighbours within an ordered partition (`scoring.ordered`): the same answers on
polars (one sort, or an order the caller vouches for, and neighbour shifts) and on DuckDB
(ordered windows), on a hand-made frame worked out below; row order never changes them; and
the inputs the nodes read as presorted are in that order.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import duckdb
import narwhals as nw
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from connectors.demo import generate_demo_org
from model.graph import get
from model.tables import LEAD_TEAMS, Tables
from scoring.funnel import LEAD_HISTORY
from scoring.history import EVENT_ORDER, ORDERED, STATES
from scoring.ordered import (
    filled,
    first_row,
    last_row,
    last_row_holds,
    previous,
    row_number,
    with_sequence,
)
from scoring.scorecard import filter_teams
from scoring.stages import CLOSE_DATE_CHANGES, SPELLS, TRUST_PER_DEAL

SCHEMA = {"k": pl.String, "t": pl.Int64, "s": pl.String, "v": pl.Int64, "f": pl.Boolean}
# Partition k, read in (t, s) order, nulls first. A has a tie on t = 2 that s decides (null
# first); B's rows come in reverse; C has one row.
ROWS = [
    ("A", 3, "z", None, True),
    ("B", 5, "x", None, None),
    ("A", 2, "y", 30, True),
    ("C", 4, "q", None, True),
    ("A", 1, "x", 10, False),
    ("B", 1, "x", 7, False),
    ("A", 2, None, None, False),
]
QUESTIONS = {
    "prev_v": previous("v"),
    "next_t": previous("t", -1),
    "first": first_row(),
    "last": last_row(),
    "n": row_number(),
    "v_filled": filled("v"),
    "ends_f": last_row_holds("f"),
}
# In order: A (1,x) (2,null) (2,y) (3,z); B (1,x) (5,x); C (4,q).
# prev_v: A null, 10, null, 30; B null, 7; C null.   next_t: A 2, 2, 3, null; B 5, null; C null.
# filled v: A 10, 10, 30, 30; B 7, 7; C null.
# last row's f: A's (3,z) True; B's (5,x) null; C's True.
EXPECTED = {
    ("A", 1, "x"): (None, 2, True, False, 1, 10, True),
    ("A", 2, None): (10, 2, False, False, 2, 10, True),
    ("A", 2, "y"): (None, 3, False, False, 3, 30, True),
    ("A", 3, "z"): (30, None, False, True, 4, 30, True),
    ("B", 1, "x"): (None, 5, True, False, 1, 7, None),
    ("B", 5, "x"): (7, None, False, True, 2, 7, None),
    ("C", 4, "q"): (None, None, True, True, 1, None, True),
}


@pytest.fixture(scope="module")
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect()
    yield connection
    connection.close()


def rows_frame(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=SCHEMA, orient="row")


def on(engine: str, frame: pl.DataFrame, con: duckdb.DuckDBPyConnection) -> nw.LazyFrame:
    if engine == "duckdb":
        return nw.from_native(con.from_arrow(frame.to_arrow()))
    return nw.from_native(frame.lazy())


def answers(result: nw.LazyFrame) -> dict[tuple, tuple]:
    frame = result.collect("polars").to_native()
    return {r[:3]: r[5:] for r in frame.select(*SCHEMA, *QUESTIONS).iter_rows()}


@pytest.mark.parametrize("engine", ["polars", "duckdb"])
def test_each_question_on_a_hand_made_frame(con, engine: str) -> None:
    frame = on(engine, rows_frame(ROWS), con)
    assert answers(with_sequence(frame, "k", ("t", "s"), **QUESTIONS)) == EXPECTED


def test_a_presorted_polars_frame_is_read_as_it_stands() -> None:
    ordered = rows_frame(ROWS).sort("k", "t", "s", nulls_last=False)
    result = with_sequence(nw.from_native(ordered.lazy()), "k", ("t", "s"), presorted=True,
                           **QUESTIONS)  # fmt: skip
    assert answers(result) == EXPECTED
    # Vouching for an order the frame is not in gives other answers: the sort is what counts.
    shuffled = nw.from_native(rows_frame(ROWS).lazy())
    wrong = with_sequence(shuffled, "k", ("t", "s"), presorted=True, **QUESTIONS)
    assert answers(wrong) != EXPECTED


@pytest.mark.parametrize("engine", ["polars", "duckdb"])
def test_nulls_last(con, engine: str) -> None:
    # A in (t, s) nulls last: (1,x) (2,y) (2,null) (3,z): previous v = null, 10, 30, null.
    frame = on(engine, rows_frame(ROWS), con)
    result = with_sequence(frame, "k", ("t", "s"), nulls_last=True, prev_v=previous("v"))
    got = result.collect("polars").to_native().filter(pl.col("k") == "A")
    by_row = {(r["t"], r["s"]): r["prev_v"] for r in got.iter_rows(named=True)}
    assert by_row == {(1, "x"): None, (2, "y"): 10, (2, None): 30, (3, "z"): None}


@pytest.mark.parametrize("engine", ["polars", "duckdb"])
def test_a_sorted_result_reads_the_order_column_before_its_answer_replaces_it(
    con, engine: str
) -> None:
    # s forward-filled in (t, s) order: A's (2, null) takes x, yet sorts where null did (before
    # (2, y)); the result comes back in that order on both engines.
    frame = on(engine, rows_frame(ROWS), con)
    result = with_sequence(frame, "k", ("t", "s"), s=filled("s"), sort=True)
    got = result.collect("polars").to_native()
    assert got.columns == list(SCHEMA)
    assert got.select("k", "t", "s").rows() == [
        ("A", 1, "x"), ("A", 2, "x"), ("A", 2, "y"), ("A", 3, "z"),
        ("B", 1, "x"), ("B", 5, "x"), ("C", 4, "q"),
    ]  # fmt: skip


@pytest.mark.parametrize("engine", ["polars", "duckdb"])
def test_order_columns_are_added_where_read_and_dropped(con, engine: str) -> None:
    # The frame lacks t; a join supplies it for the order and is gone from the result.
    full = rows_frame(ROWS).with_row_index("id")
    frame = on(engine, full.drop("t"), con)
    times = on(engine, full.select("id", "t"), con)
    result = with_sequence(frame, "k", ("t", "s"), order_columns=lambda f: f.join(times, on="id"),
                           n=row_number())  # fmt: skip
    got = result.collect("polars").to_native()
    assert "t" not in got.columns
    numbers = dict(zip(got["id"], got["n"], strict=True))
    assert [numbers[i] for i in range(len(ROWS))] == [4, 2, 3, 1, 1, 1, 2]


KEYED = st.lists(
    st.tuples(st.sampled_from("PQR"), st.integers(0, 20), st.one_of(st.none(), st.integers(0, 9))),
    max_size=30,
    unique_by=lambda r: (r[0], r[1]),
)


@settings(max_examples=40, deadline=None)
@given(rows=KEYED, seed=st.integers(0, 2**32 - 1))
def test_row_order_never_changes_the_answers_and_engines_agree(con, rows, seed: int) -> None:
    schema = {"k": pl.String, "t": pl.Int64, "v": pl.Int64}
    frame = pl.DataFrame(rows, schema=schema, orient="row").with_columns(f=pl.col("v") > 4)
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=seed)

    def run(native: nw.LazyFrame) -> pl.DataFrame:
        result = with_sequence(native, "k", ("t",), **QUESTIONS).collect("polars").to_native()
        return result.sort("k", "t").cast({"n": pl.Int64})

    on_polars = run(nw.from_native(shuffled.lazy()))
    assert_frame_equal(on_polars, run(nw.from_native(frame.lazy())))
    assert_frame_equal(on_polars, run(nw.from_native(con.from_arrow(frame.to_arrow()))))


# ---------------------------------------------------------------- orders the nodes vouch for


def test_the_inputs_read_presorted_are_in_that_order() -> None:
    """Deal states read the ordered history, and a spells clip the later spells, as they
    stand on polars: those results are in (opp_id, EVENT_ORDER) and (opp_id, spell_no) order,
    built from shuffled tables and cut for a team view alike."""
    as_of = date(2026, 11, 16)
    org = generate_demo_org(as_of=as_of, scale=0.05)
    shuffled = {k: v.sample(fraction=1.0, shuffle=True, seed=7) for k, v in org.items()}
    company = Tables.from_frames(shuffled)
    positions = company.stages.select("stage", "position")
    for tables in (company, filter_teams(company, ("EMEA",))):
        history = get(tables, ORDERED).join(positions, on="stage", how="left",
                                            maintain_order="left").collect()  # fmt: skip
        assert history.height > 100
        assert_frame_equal(history, history.sort("opp_id", *EVENT_ORDER, nulls_last=False))
        spells = get(tables, SPELLS, as_of, "UTC").collect()
        assert_frame_equal(spells, spells.sort("opp_id", "spell_no"))


def test_the_history_nodes_are_written_once() -> None:
    """No polars twin beside the body: on polars `build` is the graph's own, which runs the
    body (`Node.__post_init__`)."""
    for node in (STATES, SPELLS, CLOSE_DATE_CHANGES, TRUST_PER_DEAL, LEAD_HISTORY, LEAD_TEAMS):
        assert node.body is not None, node.name
        assert node.build.__qualname__.startswith("Node.__post_init__"), node.name


def test_every_node_of_the_graph_has_a_body_every_engine_runs() -> None:
    """Every intermediate the refresh stores is written once, as a narwhals body (a node's own
    `build`, where it has one, runs that body on polars for a team view)."""
    from scoring.intermediates import NODES

    assert [n.name for n in NODES if n.body is None] == []
