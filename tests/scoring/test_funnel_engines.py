"""The funnel nodes' bodies and the data-quality checks (written once in narwhals) give the
same frames on polars and on DuckDB: on the demo org in several reporting time zones, and
on hand-made fixtures whose steps, SLA judgements, carried-forward owners and flagged
history rows are worked out below.

DuckDB runs its session in UTC (the canonical model's timestamps are UTC instants); its
results come back to polars with the polars result's types (DuckDB has no polars Enum:
a status comes back Categorical) and are compared after a sort by the node's grain.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta

import duckdb
import narwhals as nw
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from connectors.demo import generate_demo_org
from model.calendar import Calendar, parse_period
from model.params import FunnelParams
from model.schema import TABLES
from model.tables import Tables
from scoring.funnel import (
    LEAD_HISTORY,
    SLA_ROWS,
    STEPS_NODE,
    clip_history_body,
    clip_steps_body,
)
from scoring.portable_time import epoch_us, start_of_local_day
from scoring.portable_time import from_fields as epoch_us_from_fields
from scoring.portable_windows import carry_forward, count_true
from scoring.quality import (
    CHECKS,
    CHECKS_NODE,
    CHECKS_SCHEMA,
    Records,
    mark_missing,
    quality_checks,
    quality_checks_body,
)

DEMO_AS_OF = date(2026, 11, 16)
ZONES = ["UTC", "America/New_York", "Asia/Kolkata", "Pacific/Auckland"]
KEYS = {
    STEPS_NODE.name: ["lead_id"],
    SLA_ROWS.name: ["lead_id"],
    LEAD_HISTORY.name: ["lead_id", "entered_at", "status", "owner_id", "history_id"],
}
NODES = {node.name: node for node in (STEPS_NODE, SLA_ROWS, LEAD_HISTORY, CHECKS_NODE)}
SLA_PARAMS = FunnelParams(sla_hours=8.5, sla_hours_by_source={"Webinar": 48.0, "Events": 2.25})


@pytest.fixture(scope="module")
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def demo() -> Tables:
    return Tables.from_frames(generate_demo_org(as_of=DEMO_AS_OF, scale=0.3))


def on_duckdb(con: duckdb.DuckDBPyConnection, frame: pl.LazyFrame) -> nw.LazyFrame:
    """A polars frame as a DuckDB relation, seen through narwhals."""
    return nw.from_native(con.from_arrow(frame.collect().to_arrow()))


def inputs(tables: Tables, node: str, con: duckdb.DuckDBPyConnection | None) -> list:
    """The frames a node's body reads (tables of the bundle), on polars or on DuckDB."""
    frames = [getattr(tables, name) for name in NODES[node].reads]
    return [nw.from_native(f) if con is None else on_duckdb(con, f) for f in frames]


def collected(frame: nw.LazyFrame) -> pl.DataFrame:
    return frame.collect("polars").to_native()


def assert_same(expected: nw.LazyFrame, actual: nw.LazyFrame, node: str) -> pl.DataFrame:
    """The two results are equal row for row after a sort by the node's grain (floats to a
    relative 1e-9); returns the expected (polars) frame."""
    left = collected(expected)
    right = collected(actual)
    assert right.columns == left.columns
    right = right.cast(dict(left.schema))
    key = KEYS[node]
    assert_frame_equal(
        left.sort(key, nulls_last=False), right.sort(key, nulls_last=False), rel_tol=1e-9
    )
    return left


def run_steps(tables: Tables, con, *, as_of: date, timezone: str) -> nw.LazyFrame:
    return STEPS_NODE.body(*inputs(tables, STEPS_NODE.name, con), as_of=as_of, timezone=timezone)


def run_sla(tables: Tables, con, *, period, as_of: date, params: FunnelParams, timezone: str):
    """sla_rows on the engine, chained on the engine's own funnel steps (not polars')."""
    steps = run_steps(tables, con, as_of=as_of, timezone=timezone)
    leads = nw.from_native(tables.leads) if con is None else on_duckdb(con, tables.leads)
    coords = {"period": period, "as_of": as_of, "params": params, "timezone": timezone}
    return SLA_ROWS.body(steps, leads, **coords)


def run_history(tables: Tables, con, *, as_of: date, timezone: str) -> nw.LazyFrame:
    return LEAD_HISTORY.body(
        *inputs(tables, LEAD_HISTORY.name, con), as_of=as_of, timezone=timezone
    )


# ---------------------------------------------------------------- the bodies' contract


def test_each_body_reads_what_its_node_declares() -> None:
    """The graph calls `node.body(**inputs named by reads, **coords)`: the body's frame
    parameters are the node's `reads` in order, its keywords start with the node's `coords`
    (the quality checks' `company_opportunities` has a default), so the graph and the body
    cannot disagree."""
    for node in NODES.values():
        assert node.body is not None, node.name
        code = node.body.__code__
        frames = code.co_varnames[: code.co_argcount]
        keywords = code.co_varnames[code.co_argcount : code.co_argcount + code.co_kwonlyargcount]
        assert frames == node.reads
        assert keywords[: len(node.coords)] == node.coords
        defaults = node.body.__kwdefaults__ or {}
        assert set(keywords[len(node.coords) :]) <= set(defaults), node.name


# ---------------------------------------------------------------- the demo org


@pytest.mark.parametrize("timezone", ZONES)
def test_funnel_steps_are_equal_on_polars_and_duckdb(demo: Tables, con, timezone: str) -> None:
    kw = {"as_of": DEMO_AS_OF, "timezone": timezone}
    expected = assert_same(run_steps(demo, None, **kw), run_steps(demo, con, **kw), "funnel_steps")
    assert expected.height > 1000
    assert expected["won_at"].is_not_null().sum() > 50  # the zone's day starts are exercised


@pytest.mark.parametrize("timezone", ["UTC", "Pacific/Auckland"])
def test_clipped_steps_are_equal_on_polars_and_duckdb(demo: Tables, con, timezone: str) -> None:
    later = STEPS_NODE.build(demo, DEMO_AS_OF, timezone)
    clip = clip_steps_body
    kw = {"as_of": DEMO_AS_OF - timedelta(days=45), "timezone": timezone}
    expected = clip(nw.from_native(later), **kw)
    assert_same(expected, clip(on_duckdb(con, later), **kw), "funnel_steps")


@pytest.mark.parametrize("params", [FunnelParams(), SLA_PARAMS], ids=["default", "by_source"])
@pytest.mark.parametrize("timezone", ["UTC", "America/New_York"])
def test_sla_rows_are_equal_on_polars_and_duckdb(
    demo: Tables, con, params: FunnelParams, timezone: str
) -> None:
    calendar = Calendar(timezone)
    for period in (
        calendar.quarter_of(DEMO_AS_OF),
        calendar.previous(calendar.quarter_of(DEMO_AS_OF)),
    ):
        kw = {"period": period, "as_of": DEMO_AS_OF, "params": params, "timezone": timezone}
        expected = assert_same(run_sla(demo, None, **kw), run_sla(demo, con, **kw), "sla_rows")
        assert expected.height > 100
        assert {"met", "breached"} <= set(expected["status"])  # both judgements compared


@pytest.mark.parametrize("timezone", ["UTC", "Asia/Kolkata"])
def test_lead_history_is_equal_on_polars_and_duckdb(demo: Tables, con, timezone: str) -> None:
    kw = {"as_of": DEMO_AS_OF - timedelta(days=10), "timezone": timezone}
    on_polars, on_duck = run_history(demo, None, **kw), run_history(demo, con, **kw)
    expected = assert_same(on_polars, on_duck, LEAD_HISTORY.name)
    # Both come back in lead and time order (polars sorts once and reads neighbours, DuckDB
    # runs the ordered window), and the node built through the graph gives the very same frame.
    assert_frame_equal(collected(on_duck).cast(dict(expected.schema)), expected)
    assert_frame_equal(expected, LEAD_HISTORY.build(demo, kw["as_of"], timezone).collect())
    clip = clip_history_body
    earlier = {"as_of": kw["as_of"] - timedelta(days=60), "timezone": timezone}
    assert_same(clip(on_polars, **earlier), clip(on_duck, **earlier), LEAD_HISTORY.name)


# ---------------------------------------------------------------- a hand-made fixture


def ts(text: str) -> datetime:
    """'2026-01-05 10:00' as a UTC datetime."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=UTC)


def frame(table: str, rows: list[Mapping]) -> pl.DataFrame:
    schema = TABLES[table].polars_schema
    return pl.DataFrame([{c: r.get(c) for c in schema} for r in rows], schema=schema)


AS_OF = date(2026, 3, 31)  # cutoff 2026-04-01 00:00 UTC
Q1 = parse_period("2026-Q1")
PARAMS = FunnelParams(sla_hours=24.0, sla_hours_by_source={"Web": 2.0})
USERS = [
    {"user_id": "u1", "name": "Sam", "team": "SDR", "function": "sdr", "is_queue": False},
    {"user_id": "u2", "name": "Ann", "team": "AE", "function": "sales", "is_queue": False},
]
OPPS = [
    # O1 won on Feb 10; O2 open; O3 closes won only on Dec 15, after the as-of day.
    {"opp_id": "O1", "stage": "Won", "created_at": ts("2026-02-01 09:00"), "amount": 10.0,
     "close_date": date(2026, 2, 10), "is_closed": True, "is_won": True},
    {"opp_id": "O2", "stage": "Discover", "created_at": ts("2026-03-01 08:00"), "amount": 5.0,
     "close_date": date(2026, 6, 1), "is_closed": False, "is_won": False},
    {"opp_id": "O3", "stage": "Won", "created_at": ts("2026-03-20 10:00"), "amount": 7.0,
     "close_date": date(2026, 12, 15), "is_closed": True, "is_won": True},
]  # fmt: skip
LEADS = [
    # A goes all the way, every step recorded; won at the start of Feb 10 (UTC).
    {"lead_id": "A", "created_at": ts("2026-01-02 08:00"), "owner_id": "u1", "source": "Web",
     "mql_at": ts("2026-01-03 10:00"), "sal_at": ts("2026-01-04 09:00"),
     "sql_at": ts("2026-01-06 12:00"), "converted_at": ts("2026-02-01 09:00"),
     "converted_opp_id": "O1", "first_touch_at": ts("2026-01-03 11:30")},
    # B: only SQL Jan 20 15:00 and a deal O2 without a conversion time (opp = O2's creation,
    # Mar 1 08:00); MQL and SAL back-filled to Jan 20 15:00; no source.
    {"lead_id": "B", "created_at": ts("2026-01-10 09:00"), "owner_id": "u2",
     "sql_at": ts("2026-01-20 15:00"), "converted_opp_id": "O2"},
    # C: nobody owns it (team "(no team)"); MQL Feb 2 11:00; SAL only after the as-of day;
    # disqualified Mar 1.
    {"lead_id": "C", "created_at": ts("2026-02-01 10:00"), "mql_at": ts("2026-02-02 11:00"),
     "sal_at": ts("2026-04-05 09:00"), "disqualified_at": ts("2026-03-01 09:00")},
    # D is created after the as-of day: not in the steps.
    {"lead_id": "D", "created_at": ts("2026-04-02 09:00"), "mql_at": ts("2026-04-02 10:00")},
    # E converted Mar 20 10:00 into O3, which is won only after the as-of day: MQL, SAL and
    # SQL back-filled to Mar 20 10:00, won not reached.
    {"lead_id": "E", "created_at": ts("2026-03-05 12:00"), "owner_id": "u1",
     "converted_at": ts("2026-03-20 10:00"), "converted_opp_id": "O3"},
    # F: a Web MQL at 23:00 on the as-of day; touched only at 00:30 the day after.
    {"lead_id": "F", "created_at": ts("2026-03-31 20:00"), "source": "Web",
     "mql_at": ts("2026-03-31 23:00"), "first_touch_at": ts("2026-04-01 00:30")},
    # G: an Events MQL Mar 10 09:00 accepted (SAL) Mar 12 09:00, no touch recorded.
    {"lead_id": "G", "created_at": ts("2026-03-10 08:00"), "source": "Events",
     "mql_at": ts("2026-03-10 09:00"), "sal_at": ts("2026-03-12 09:00")},
]  # fmt: skip
HISTORY = [
    # A: Open without owner, then u1 from the MQL; the Working row keeps u1.
    {"lead_id": "A", "status": "Open", "entered_at": ts("2026-01-02 08:00")},
    {"lead_id": "A", "status": "MQL", "entered_at": ts("2026-01-03 10:00"), "owner_id": "u1"},
    {"lead_id": "A", "status": "Working", "entered_at": ts("2026-01-04 09:00")},
    {"lead_id": "A", "status": "Working", "entered_at": ts("2026-04-03 09:00"), "owner_id": "u2"},
    # C: two rows at the same instant, ordered by status (Nurture before Open): Nurture
    # with u2, then Open without an owner keeps u2; at Feb 5 two Working rows, the one
    # without an owner first (keeps u2), then u1.
    {"lead_id": "C", "status": "Open", "entered_at": ts("2026-02-01 10:00")},
    {"lead_id": "C", "status": "Nurture", "entered_at": ts("2026-02-01 10:00"), "owner_id": "u2"},
    {"lead_id": "C", "status": "Working", "entered_at": ts("2026-02-05 10:00"), "owner_id": "u1"},
    {"lead_id": "C", "status": "Working", "entered_at": ts("2026-02-05 10:00")},
]  # fmt: skip


@pytest.fixture(scope="module")
def small() -> Tables:
    return Tables.from_frames(
        {
            "users": frame("users", USERS),
            "opportunities": frame("opportunities", OPPS),
            "leads": frame("leads", LEADS),
            "lead_history": frame("lead_history", HISTORY),
        }
    )


@pytest.mark.parametrize("engine", ["polars", "duckdb"])
def test_hand_made_steps(small: Tables, con, engine: str) -> None:
    steps = collected(run_steps(small, con if engine == "duckdb" else None, as_of=AS_OF,
                                timezone="UTC")).sort("lead_id")  # fmt: skip
    cols = ["lead_id", "team", "source", "mql_at", "sal_at", "sql_at", "opp_at", "won_at"]
    flags = ["inferred_mql", "inferred_sal", "inferred_sql", "inferred_opp", "skipped"]
    rows = {r["lead_id"]: r for r in steps.select(*cols, *flags).to_dicts()}
    assert list(rows) == ["A", "B", "C", "E", "F", "G"]  # D created after the as-of day
    step = lambda r: tuple(r[c] for c in cols[1:])  # noqa: E731
    flag = lambda r: tuple(r[c] for c in flags)  # noqa: E731
    a = ("SDR", "Web", ts("2026-01-03 10:00"), ts("2026-01-04 09:00"), ts("2026-01-06 12:00"),
         ts("2026-02-01 09:00"), ts("2026-02-10 00:00"))  # fmt: skip
    assert step(rows["A"]) == a and flag(rows["A"]) == (False,) * 5
    b = ("AE", "(no source)", *[ts("2026-01-20 15:00")] * 3, ts("2026-03-01 08:00"), None)
    assert step(rows["B"]) == b and flag(rows["B"]) == (True, True, False, False, True)
    c = ("(no team)", "(no source)", ts("2026-02-02 11:00"), None, None, None, None)
    assert step(rows["C"]) == c and flag(rows["C"]) == (False,) * 5
    e = ("SDR", "(no source)", *[ts("2026-03-20 10:00")] * 4, None)
    assert step(rows["E"]) == e and flag(rows["E"]) == (True, True, True, False, True)
    assert not rows["G"]["skipped"] and rows["G"]["sql_at"] is None


@pytest.mark.parametrize("engine", ["polars", "duckdb"])
def test_hand_made_sla_rows(small: Tables, con, engine: str) -> None:
    db = con if engine == "duckdb" else None
    rows = collected(
        run_sla(small, db, period=Q1, as_of=AS_OF, params=PARAMS, timezone="UTC")
    ).sort("lead_id")
    got = {
        r["lead_id"]: (r["status"], r["sla_hours"], r["hours_to_touch"], r["deadline_at"],
                       r["untouched"], r["disqualified"])
        for r in rows.to_dicts()
    }  # fmt: skip
    # B and E have back-filled MQLs: no SLA. A (Web, 2 h): touched 1.5 h after its MQL, met.
    # C (24 h): never touched, deadline Feb 3 11:00 passed: breached, and disqualified.
    # F (Web, 2 h): MQL 23:00 on the as-of day, deadline 01:00 after the cutoff: pending.
    # G (Events, default 24 h): touched by its SAL 48 h after the MQL: breached.
    assert got == {
        "A": ("met", 2.0, 1.5, ts("2026-01-03 12:00"), False, False),
        "C": ("breached", 24.0, None, ts("2026-02-03 11:00"), True, True),
        "F": ("pending", 2.0, None, ts("2026-04-01 01:00"), True, False),
        "G": ("breached", 24.0, 48.0, ts("2026-03-11 09:00"), False, False),
    }


@pytest.mark.parametrize("engine", ["polars", "duckdb"])
def test_hand_made_lead_history(small: Tables, con, engine: str) -> None:
    db = con if engine == "duckdb" else None
    rows = collected(run_history(small, db, as_of=AS_OF, timezone="UTC"))
    got = [(r["lead_id"], r["status"], r["owner_id"]) for r in rows.to_dicts()]
    # In lead and time order (ties by status, then the recorded owner, none first); A's
    # April row is after the as-of day.
    assert got == [
        ("A", "Open", None),
        ("A", "MQL", "u1"),
        ("A", "Working", "u1"),
        ("C", "Nurture", "u2"),
        ("C", "Open", "u2"),
        ("C", "Working", "u2"),
        ("C", "Working", "u1"),
    ]
    assert_frame_equal(rows, LEAD_HISTORY.build(small, AS_OF, "UTC").collect())


# ---------------------------------------------------------------- time arithmetic


INSTANTS = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2099, 12, 31),
                        timezones=st.just(UTC))  # fmt: skip


@settings(max_examples=30, deadline=None)
@given(instants=st.lists(INSTANTS, min_size=1, max_size=20))
def test_epoch_microseconds_from_calendar_fields(con, instants: list[datetime]) -> None:
    """The Spark-like route (calendar fields) gives the same integers as subtracting the
    epoch, on polars and on DuckDB, and as Python's own arithmetic."""
    data = pl.LazyFrame({"t": instants}, schema={"t": pl.Datetime("us", "UTC")})
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    want = [(t - epoch) // timedelta(microseconds=1) for t in instants]
    for lazy in (nw.from_native(data), on_duckdb(con, data)):
        got = collected(
            lazy.select(a=epoch_us("t", lazy.implementation), b=epoch_us_from_fields("t"))
        )
        assert got["a"].to_list() == want and got["b"].to_list() == want


@settings(max_examples=20, deadline=None)
@given(
    days=st.lists(st.dates(min_value=date(1975, 1, 1), max_value=date(2027, 6, 30)), min_size=1),
    timezone=st.sampled_from([*ZONES, "Europe/Paris", "America/Sao_Paulo", "Australia/Lord_Howe"]),
)
def test_start_of_local_day_on_duckdb_is_the_calendars(con, days: list[date], timezone: str):
    """DuckDB cannot convert zones in a column; the offsets read from the zone's rules give
    `Calendar.start_of` for every day."""
    data = pl.LazyFrame({"d": days}, schema={"d": pl.Date})
    lazy = on_duckdb(con, data)
    expr = start_of_local_day(nw.col("d"), timezone, lazy.implementation, date(2026, 12, 31))
    got = collected(lazy.select(s=expr))["s"].to_list()
    assert got == [Calendar(timezone).start_of(d) for d in days]


# ---------------------------------------------------------------- data-quality checks


def run_checks(tables: Tables, con, *, as_of: date) -> nw.LazyFrame:
    """quality_checks_body on polars or DuckDB (the missing tables marked on the result)."""
    names = CHECKS_NODE.reads
    frames = [
        nw.from_native(getattr(tables, n)) if con is None else on_duckdb(con, getattr(tables, n))
        for n in names
    ]
    return quality_checks_body(*frames, as_of=as_of)


def test_quality_checks_are_equal_on_polars_and_duckdb(demo: Tables, con) -> None:
    # The demo org plants problems: duplicates, open deals past their close date, ...
    on_polars = run_checks(demo, None, as_of=DEMO_AS_OF)
    expected = collected(on_polars)
    actual = collected(run_checks(demo, con, as_of=DEMO_AS_OF))
    assert_frame_equal(actual, expected, rel_tol=1e-9)  # sorted by check_id on both
    assert expected.filter(pl.col("failing") > 0).height >= 2
    assert_frame_equal(expected, quality_checks(demo, as_of=DEMO_AS_OF))


def test_checks_of_a_missing_table_are_marked_on_any_engines_result(demo: Tables, con) -> None:
    # Without leads and stage history, the five checks reading them are not available (null
    # counts); the eight others count as before.
    frames = {n: getattr(demo, n).collect() for n in ("users", "stages", "opportunities")}
    partial = Tables.from_frames(frames)
    counted = collected(run_checks(partial, con, as_of=DEMO_AS_OF))
    marked = mark_missing(counted.cast(dict(CHECKS_SCHEMA)).lazy(), partial).collect()
    assert_frame_equal(marked, quality_checks(partial, as_of=DEMO_AS_OF))
    off = marked.filter(~pl.col("available"))
    assert sorted(off["check_id"]) == [
        "lead_converted_without_opp",
        "lead_created_in_future",
        "lead_funnel_out_of_order",
        "opp_no_stage_history",
        "stage_history_out_of_order",
    ]
    assert off["failing"].is_null().all() and off["total"].is_null().all()


def test_each_check_flags_the_same_records_on_polars_and_duckdb(demo: Tables, con) -> None:
    """Every population (the drill-down's rows) is equal, the ordered window DuckDB reads
    the stage history with included."""
    frames = {n: getattr(demo, n) for n in CHECKS_NODE.reads}
    on_polars = Records(
        **{n: nw.from_native(f) for n, f in frames.items()},
        company_opportunities=nw.from_native(demo.opportunities),
    )
    on_duck = Records(
        **{n: on_duckdb(con, f) for n, f in frames.items()},
        company_opportunities=on_duckdb(con, demo.opportunities),
    )
    for check in CHECKS:
        left = collected(check.population(on_polars, DEMO_AS_OF))
        right = collected(check.population(on_duck, DEMO_AS_OF)).cast(dict(left.schema))
        key = [*check.key, "failing"]
        (
            assert_frame_equal(
                left.sort(key, nulls_last=False),
                right.sort(key, nulls_last=False),
                check_row_order=False,
            ),
            check.id,
        )


def test_hand_made_stage_history_out_of_order_on_duckdb(con) -> None:
    # O1 created Jan 10 09:00. Rows: Jan 9 (before creation: fails); Jan 11 10:00:00 stage
    # Propose (position 2); Jan 11 10:00:00.5 stage Discover (position 1): a regression half
    # a second later (fails); Jan 12 Discover again a day later (no regression: passes).
    users = [{"user_id": "u1", "name": "Sam", "team": "AE", "function": "sales",
              "is_queue": False}]  # fmt: skip
    stages = [
        {"stage": "Discover", "position": 1, "owner_function": "sales", "is_closed": False,
         "is_won": False},
        {"stage": "Propose", "position": 2, "owner_function": "sales", "is_closed": False,
         "is_won": False},
    ]  # fmt: skip
    opps = [{"opp_id": "O1", "stage": "Discover", "created_at": ts("2026-01-10 09:00"),
             "owner_id": "u1", "amount": 1.0, "close_date": date(2026, 6, 1),
             "is_closed": False, "is_won": False}]  # fmt: skip
    at = ts("2026-01-11 10:00")
    history = [
        {"opp_id": "O1", "stage": "Discover", "entered_at": ts("2026-01-09 09:00")},
        {"opp_id": "O1", "stage": "Propose", "entered_at": at},
        {"opp_id": "O1", "stage": "Discover", "entered_at": at + timedelta(milliseconds=500)},
        {"opp_id": "O1", "stage": "Discover", "entered_at": ts("2026-01-12 10:00")},
    ]
    tables = Tables.from_frames(
        {
            "users": frame("users", users),
            "stages": frame("stages", stages),
            "opportunities": frame("opportunities", opps),
            "stage_history": frame("stage_history", history),
        }
    )
    check = next(c for c in CHECKS if c.id == "stage_history_out_of_order")
    for db in (None, con):
        frames = {n: getattr(tables, n) for n in CHECKS_NODE.reads}
        wrap = nw.from_native if db is None else (lambda f: on_duckdb(con, f))
        records = Records(
            **{n: wrap(f) for n, f in frames.items()},
            company_opportunities=wrap(tables.opportunities),
        )
        rows = collected(check.population(records, date(2026, 3, 1))).sort("entered_at")
        assert rows["failing"].to_list() == [True, False, True, False]


# ---------------------------------------------------------------- portable windows


ROWS = st.lists(
    st.tuples(
        st.sampled_from(["L1", "L2", "L3"]),
        st.integers(min_value=0, max_value=5),  # few instants: many ties
        st.sampled_from([None, "u1", "u2", "u3"]),
    ),
    max_size=25,
)


@settings(max_examples=40, deadline=None)
@given(rows=ROWS)
def test_carry_forward_is_polars_forward_fill_on_polars_and_duckdb(con, rows) -> None:
    """The running-count form (every SQL engine has it; PostgreSQL has no `last_value(...
    ignore nulls)`) gives polars' forward fill over the partition sorted by the order columns
    (nulls first), on polars and on DuckDB, ties included."""
    data = pl.LazyFrame(rows, schema={"g": pl.String, "t": pl.Int64, "v": pl.String}, orient="row")
    order = ["t", "v"]
    want = (
        data.sort("g", *order, nulls_last=False)
        .with_columns(v=pl.col("v").forward_fill().over("g"))
        .collect()
    )
    for lazy in (nw.from_native(data), on_duckdb(con, data)):
        got = collected(carry_forward(lazy, "v", "g", order)).cast(dict(want.schema))
        assert got.columns == want.columns
        assert_frame_equal(got.sort("g", "t", "v", nulls_last=False),
                           want.sort("g", "t", "v", nulls_last=False))  # fmt: skip


def test_carry_forward_by_hand() -> None:
    # L1 in order t=1 (null: nothing before), t=2 u1, t=3 null -> u1, t=4 u2, t=5 null -> u2;
    # L2 has no value at all: null throughout.
    data = pl.LazyFrame(
        {
            "g": ["L1", "L1", "L1", "L1", "L1", "L2"],
            "t": [5, 3, 1, 4, 2, 1],
            "v": [None, None, None, "u2", "u1", None],
        }
    )
    got = collected(carry_forward(nw.from_native(data), "v", "g", ["t"])).sort("g", "t")
    assert got["v"].to_list() == [None, "u1", "u1", "u2", "u2", None]


def test_count_true_counts_true_only(con) -> None:
    # true, false, null, true: 2 (a null flag is not true).
    data = pl.LazyFrame({"f": [True, False, None, True]})
    for lazy in (nw.from_native(data), on_duckdb(con, data)):
        assert collected(lazy.select(n=count_true(nw.col("f"))))["n"].to_list() == [2]
