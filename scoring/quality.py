"""Data trust: quality checks on the canonical tables, table freshness and a 0–100 score.

A revenue leader can only trust a shared number if the records behind it are sound: deals
with owners and amounts, a stage history that makes sense, leads whose conversion points at a
real opportunity, and no impossible values (a deal closed before it was created, a negative
amount, a record created after the as-of day). Each check flags the records that break one
rule (`quality_check_rows` lists them); `quality_checks` counts them; `data_quality_score`
rolls the checks into one severity-weighted score for the ops page; `freshness` says how
current each table is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import partial

import narwhals as nw
import polars as pl

from model.calendar import Calendar
from model.graph import Node, get
from model.schema import TABLES, UTC_DATETIME
from model.tables import ENGINE, Tables
from scoring import ordered
from scoring.definitions import MetricDefinition
from scoring.history import EVENT_ORDER, end_of_day
from scoring.ordered import with_sequence
from scoring.portable_time import epoch_us
from scoring.portable_windows import count_true

SEVERITY_WEIGHTS: dict[str, float] = {"high": 3.0, "medium": 2.0, "low": 1.0}

CHECKS_SCHEMA = pl.Schema(
    {
        "check_id": pl.String(),
        "table": pl.String(),
        "description": pl.String(),
        "severity": pl.String(),
        "available": pl.Boolean(),
        "failing": pl.Int64(),
        "total": pl.Int64(),
        "share": pl.Float64(),
    }
)


class UnknownCheckError(ValueError):
    """A check id that `quality_check_rows` does not know."""


@dataclass(frozen=True)
class Records:
    """What the checks read, as narwhals frames on the engine that runs them: the bundle's
    tables, and the whole company's opportunities (a converted lead's deal may belong to a
    team outside a team's view)."""

    opportunities: nw.LazyFrame
    stage_history: nw.LazyFrame
    leads: nw.LazyFrame
    users: nw.LazyFrame
    stages: nw.LazyFrame
    company_opportunities: nw.LazyFrame


# A check's population: the rows it judges, each with a boolean `failing` column (narwhals,
# written once for every engine).
Population = Callable[[Records, date], nw.LazyFrame]


@dataclass(frozen=True)
class Check:
    """One data-quality rule over one table; `needs` are the tables it reads."""

    id: str
    table: str
    description: str
    severity: str
    needs: tuple[str, ...]
    population: Population
    key: tuple[str, ...]


def _opps(records: Records, failing: nw.Expr) -> nw.LazyFrame:
    return records.opportunities.with_columns(failing=failing.fill_null(False))


def _open_past_close(records: Records, as_of: date) -> nw.LazyFrame:
    open_deals = records.opportunities.filter(~nw.col("is_closed"))
    return open_deals.with_columns(failing=(nw.col("close_date") < nw.lit(as_of)).fill_null(False))


def _unknown_owner(records: Records, as_of: date) -> nw.LazyFrame:
    known = records.users.select("user_id").unique().with_columns(known=nw.lit(True))
    return (
        records.opportunities.join(known, left_on="owner_id", right_on="user_id", how="left")
        .with_columns(failing=~nw.col("owner_id").is_null() & nw.col("known").is_null())
        .drop("known")
    )


def _no_history(records: Records, as_of: date) -> nw.LazyFrame:
    with_rows = records.stage_history.select("opp_id").unique().with_columns(has_rows=nw.lit(True))
    return (
        records.opportunities.join(with_rows, on="opp_id", how="left")
        .with_columns(failing=nw.col("has_rows").is_null())
        .drop("has_rows")
    )


def _history_out_of_order(records: Records, as_of: date) -> nw.LazyFrame:
    """History rows dated before their opportunity was created, or a stage regression logged
    less than a second after the previous change (an import or automation artefact).

    Rows are ordered by `entered_at`, ties by stage position ascending, so an exact tie is
    read as forward movement rather than flagged.
    """
    created = records.opportunities.select("opp_id", opp_created_at=nw.col("created_at"))
    positions = records.stages.select("stage", "position")
    rows = records.stage_history.join(positions, on="stage", how="left").join(
        created, on="opp_id", how="left"
    )
    engine = rows.implementation
    previous = {
        "prev_at": ordered.previous("entered_at"),
        "prev_position": ordered.previous("position"),
    }
    rows = with_sequence(rows, "opp_id", EVENT_ORDER, nulls_last=True, **previous)
    gap_us = epoch_us("entered_at", engine) - epoch_us("prev_at", engine)
    return rows.with_columns(
        failing=(nw.col("entered_at") < nw.col("opp_created_at")).fill_null(False)
        | ((gap_us < 1_000_000) & (nw.col("position") < nw.col("prev_position"))).fill_null(False)
    ).drop("prev_at", "prev_position")


def _converted_without_opp(records: Records, as_of: date) -> nw.LazyFrame:
    # Looked up among the whole company's deals: in a team's view, a lead it handed to
    # another team still has its opportunity.
    opp_ids = records.company_opportunities.select("opp_id").unique()
    return (
        records.leads.filter(~nw.col("converted_at").is_null())
        .join(
            opp_ids.with_columns(found=nw.lit(True)),
            left_on="converted_opp_id",
            right_on="opp_id",
            how="left",
        )
        .with_columns(failing=nw.col("found").is_null())
        .drop("found")
    )


FUNNEL_STEPS = ("created_at", "mql_at", "sal_at", "sql_at", "converted_at")


def _funnel_out_of_order(records: Records, as_of: date) -> nw.LazyFrame:
    """A later funnel step stamped before an earlier one (any pair, nulls skipped)."""
    pairs = [
        (nw.col(later) < nw.col(earlier)).fill_null(False)
        for i, earlier in enumerate(FUNNEL_STEPS)
        for later in FUNNEL_STEPS[i + 1 :]
    ]
    return records.leads.with_columns(failing=nw.any_horizontal(*pairs, ignore_nulls=False))


def _duplicate_opps(records: Records, as_of: date) -> nw.LazyFrame:
    """Opportunities sharing an account and a name (trimmed, case-insensitive)."""
    both = ~nw.col("account_id").is_null() & ~nw.col("name").is_null()
    shared = nw.col("opp_id").count().over("account_id", "_name") > 1
    return (
        records.opportunities.with_columns(
            _name=nw.col("name").str.strip_chars().str.to_lowercase()
        )
        .with_columns(failing=both & shared)
        .drop("_name")
    )


# --- impossible values: no real deal or lead can have them ---------------------------------


def _close_before_created(records: Records, as_of: date) -> nw.LazyFrame:
    """A close date before the day the deal was created: its sales cycle would be negative.
    Judged on UTC dates; cycle medians and means (`pipeline.sales_cycle`, `velocity`) leave
    out the won deals whose cycle is negative in the reporting time zone: the same deals when
    that zone is UTC."""
    return _opps(records, nw.col("close_date") < nw.col("created_at").dt.date())


def _created_after_as_of(frame: nw.LazyFrame, as_of: date) -> nw.LazyFrame:
    """Records created after the end of the as-of day: from a future the data cannot know."""
    late = nw.col("created_at") > nw.lit(end_of_day(as_of))
    return frame.with_columns(failing=late.fill_null(False))


_OPP_KEY = ("opp_id",)
_LEAD_KEY = ("lead_id",)

CHECKS: tuple[Check, ...] = (
    Check(
        "open_past_close_date",
        "opportunities",
        "Open opportunities whose close date is already past",
        "medium",
        ("opportunities",),
        _open_past_close,
        _OPP_KEY,
    ),
    Check(
        "opp_missing_owner",
        "opportunities",
        "Opportunities with no owner",
        "high",
        ("opportunities",),
        lambda r, d: _opps(r, nw.col("owner_id").is_null()),
        _OPP_KEY,
    ),
    Check(
        "opp_missing_amount",
        "opportunities",
        "Opportunities with no amount",
        "medium",
        ("opportunities",),
        lambda r, d: _opps(r, nw.col("amount").is_null()),
        _OPP_KEY,
    ),
    Check(
        "opp_unknown_owner",
        "opportunities",
        "Opportunities owned by a user id not in users",
        "high",
        ("opportunities", "users"),
        _unknown_owner,
        _OPP_KEY,
    ),
    Check(
        "opp_no_stage_history",
        "opportunities",
        "Opportunities with no stage-history rows",
        "medium",
        ("opportunities", "stage_history"),
        _no_history,
        _OPP_KEY,
    ),
    Check(
        "stage_history_out_of_order",
        "stage_history",
        "History rows before the deal was created, or a stage regression within one second",
        "low",
        ("opportunities", "stage_history", "stages"),
        _history_out_of_order,
        ("opp_id", "entered_at", "stage"),
    ),
    Check(
        "lead_converted_without_opp",
        "leads",
        "Converted leads with no opportunity, or one that does not exist",
        "high",
        ("leads", "opportunities"),
        _converted_without_opp,
        _LEAD_KEY,
    ),
    Check(
        "lead_funnel_out_of_order",
        "leads",
        "Leads with a funnel step stamped before an earlier step (e.g. SQL before MQL)",
        "medium",
        ("leads",),
        _funnel_out_of_order,
        _LEAD_KEY,
    ),
    Check(
        "opp_close_before_created",
        "opportunities",
        "Opportunities whose close date is before the day they were created (negative cycle)",
        "medium",
        ("opportunities",),
        _close_before_created,
        _OPP_KEY,
    ),
    Check(
        "opp_negative_amount",
        "opportunities",
        "Opportunities with a negative amount",
        "high",
        ("opportunities",),
        lambda r, d: _opps(r, nw.col("amount") < 0),
        _OPP_KEY,
    ),
    Check(
        "opp_created_in_future",
        "opportunities",
        "Opportunities created after the as-of day",
        "medium",
        ("opportunities",),
        lambda r, d: _created_after_as_of(r.opportunities, d),
        _OPP_KEY,
    ),
    Check(
        "lead_created_in_future",
        "leads",
        "Leads created after the as-of day",
        "medium",
        ("leads",),
        lambda r, d: _created_after_as_of(r.leads, d),
        _LEAD_KEY,
    ),
    Check(
        "duplicate_opportunities",
        "opportunities",
        "Opportunities sharing an account and a name with another opportunity",
        "low",
        ("opportunities",),
        _duplicate_opps,
        _OPP_KEY,
    ),
)
_CHECKS_BY_ID = {check.id: check for check in CHECKS}


def _check_row(records: Records, as_of: date, check: Check) -> nw.LazyFrame:
    """One result row for `check` (`mark_missing` then empties those a source cannot have)."""
    counts = check.population(records, as_of).select(
        failing=count_true(nw.col("failing")).fill_null(0).cast(nw.Int64),
        total=nw.len().cast(nw.Int64),
    )
    # One select in the schema's order (each step is a copy of the whole plan on SQLFrame).
    return counts.select(
        check_id=nw.lit(check.id),
        table=nw.lit(check.table),
        description=nw.lit(check.description),
        severity=nw.lit(check.severity),
        available=nw.lit(True),
        failing=nw.col("failing"),
        total=nw.col("total"),
        share=nw.when(nw.col("total") > 0).then(nw.col("failing") / nw.col("total")),
    )


def mark_missing(checks: pl.LazyFrame, tables: Tables) -> pl.LazyFrame:
    """The checks that need a table the source lacks: not available, counts null (their
    populations were counted on the empty stand-in tables). Applied to the collected result
    whichever engine counted it."""
    unavailable = [check.id for check in CHECKS if not tables.has(*check.needs)]
    if not unavailable:
        return checks
    on = ~pl.col("check_id").is_in(unavailable)
    return checks.with_columns(
        available=on, **{c: pl.when(on).then(pl.col(c)) for c in ("failing", "total", "share")}
    )


def quality_checks(tables: Tables, *, as_of: date) -> pl.DataFrame:
    """One row per data-quality check (`CHECKS_SCHEMA`), sorted by `check_id`: how many
    records break each rule, out of how many, and how severe that is. A check whose table is
    missing has `available` False and null counts. Counted on the bundle's own records (a
    team view counts its team's), once per bundle and as-of day (stored with the snapshot
    for its day)."""
    return get(tables, CHECKS_NODE, as_of).collect(engine=ENGINE)


def quality_checks_body(
    opportunities: nw.LazyFrame,
    stage_history: nw.LazyFrame,
    leads: nw.LazyFrame,
    users: nw.LazyFrame,
    stages: nw.LazyFrame,
    *,
    as_of: date,
    company_opportunities: nw.LazyFrame | None = None,
) -> nw.LazyFrame:
    """`quality_checks`: one row per check (`CHECKS_SCHEMA`), sorted by check_id, every
    check counted (`mark_missing` then empties those whose table the source lacks).
    `company_opportunities`: the whole company's deals when the tables are a team's view
    (default: `opportunities`)."""
    records = Records(
        opportunities=opportunities,
        stage_history=stage_history,
        leads=leads,
        users=users,
        stages=stages,
        company_opportunities=opportunities
        if company_opportunities is None
        else company_opportunities,
    )
    rows = [_check_row(records, as_of, check) for check in CHECKS]
    return _stacked(rows).sort("check_id")


def _stacked(frames: list[nw.LazyFrame]) -> nw.LazyFrame:
    """The frames one under another, joined in halves: SQLFrame copies both sides' plans at
    each UNION, so a balanced tree copies each plan about log2(n) times, not up to n times."""
    if len(frames) == 1:
        return frames[0]
    half = len(frames) // 2
    return nw.concat([_stacked(frames[:half]), _stacked(frames[half:])], how="vertical")


def _records(tables: Tables) -> Records:
    """The bundle's frames as the checks read them, on polars."""
    frames = {name: nw.from_native(getattr(tables, name)) for name in CHECKS_NODE.reads}
    company = nw.from_native(tables.company.opportunities)
    return Records(**frames, company_opportunities=company)


def _checks_lazy(tables: Tables, as_of: date) -> pl.LazyFrame:
    records = _records(tables)
    counted = quality_checks_body(
        records.opportunities,
        records.stage_history,
        records.leads,
        records.users,
        records.stages,
        as_of=as_of,
        company_opportunities=records.company_opportunities,
    ).to_native()
    return mark_missing(counted, tables)


CHECKS_NODE = Node(
    name="quality_checks",
    grain="one row per data-quality check: failing and checked records of the bundle",
    reads=("opportunities", "stage_history", "leads", "users", "stages"),
    build=_checks_lazy,
    body=quality_checks_body,
    # The engine counts every check on the empty stand-ins of missing tables; those checks
    # are marked on the collected result, in check order.
    arrange=lambda frame, tables: mark_missing(frame.sort("check_id"), tables),
    reads_company=True,  # converted leads are looked up among the company's deals
    coords=("as_of",),
    persist=True,
    code=(
        "scoring/quality.py",
        "scoring/history.py",
        "scoring/ordered.py",
        "scoring/windows.py",
        "scoring/portable_time.py",
    ),
)


def quality_check_rows(tables: Tables, *, as_of: date, check_id: str) -> pl.DataFrame:
    """The records failing check `check_id`: the checked table's rows, sorted by its key
    (empty when a table the check needs is missing)."""
    check = _CHECKS_BY_ID.get(check_id)
    if check is None:
        known = ", ".join(sorted(_CHECKS_BY_ID))
        raise UnknownCheckError(f"unknown data-quality check {check_id!r}; known: {known}")
    rows = check.population(_records(tables), as_of).to_native()
    rows = rows.filter("failing", pl.lit(tables.has(*check.needs)))
    return rows.drop("failing").collect(engine=ENGINE).sort(check.key)


def data_quality_score(checks: pl.DataFrame, *, partial_credit: bool = False) -> float | None:
    """Severity-weighted share of checks passing, 0–100 (100 = no check finds a problem).

    A check passes when it finds no failing record; with `partial_credit` it counts instead
    for the share of its records that pass. Weights: `SEVERITY_WEIGHTS`. Checks that are
    unavailable or have nothing to check are left out; None when none is left.
    """
    scored = checks.filter(pl.col("available"), pl.col("total") > 0)
    weight = pl.col("severity").replace_strict(SEVERITY_WEIGHTS, default=1.0)
    passed = 1 - pl.col("share") if partial_credit else (pl.col("failing") == 0).cast(pl.Float64)
    result = scored.select(weighted=(weight * passed).sum(), weights=weight.sum(), n=pl.len()).row(
        0, named=True
    )
    return None if result["n"] == 0 else 100.0 * result["weighted"] / result["weights"]


# --- freshness -----------------------------------------------------------------------------

FRESHNESS_SCHEMA = pl.Schema(
    {
        "table": pl.String(),
        "missing": pl.Boolean(),
        "status": pl.String(),
        "rows": pl.Int64(),
        "latest_at": UTC_DATETIME,
        "days_since_latest": pl.Int64(),
        "refreshed_at": UTC_DATETIME,
        "days_since_refresh": pl.Int64(),
    }
)


def _latest_record(frame: pl.LazyFrame, cutoff: datetime) -> pl.Expr:
    """Latest `*_at` / `*_date` value in `frame` up to `cutoff` (later ones are plans, such
    as future close dates, not evidence the data is current)."""
    schema = frame.collect_schema()
    stamps = [
        pl.col(name).cast(UTC_DATETIME)
        for name in schema.names()
        if name.endswith(("_at", "_date"))
    ]
    if not stamps:
        return pl.lit(None, dtype=UTC_DATETIME)
    return pl.max_horizontal([s.filter(s <= cutoff).max() for s in stamps])


def _table_freshness(tables: Tables, name: str, cutoff: datetime) -> pl.LazyFrame:
    frame: pl.LazyFrame = getattr(tables, name)
    missing = name in tables.missing
    return frame.select(
        table=pl.lit(name),
        missing=pl.lit(missing),
        rows=pl.len().cast(pl.Int64),
        latest_at=_latest_record(frame, cutoff),
    )


def freshness(
    tables: Tables, *, as_of: date, refreshed_at: datetime | None, timezone: str = "UTC"
) -> pl.DataFrame:
    """Per canonical table (`FRESHNESS_SCHEMA`, sorted by table): how many rows, the latest
    record date up to `as_of`, how many days old that is at `as_of`, and when the data was
    last refreshed. `status` is "not available" for a table the source lacks, "empty" for
    one with no rows, else "ok". Days are local days of the reporting time zone."""
    calendar = Calendar(timezone)
    cutoff = calendar.end_of(as_of) - timedelta(microseconds=1)  # the as-of instant, inclusive
    as_of_at = pl.lit(as_of, dtype=pl.Date)
    refreshed = pl.lit(refreshed_at, dtype=UTC_DATETIME)
    return (
        pl.concat([_table_freshness(tables, name, cutoff) for name in TABLES])
        .with_columns(
            status=pl.when("missing")
            .then(pl.lit("not available"))
            .when(pl.col("rows") == 0)
            .then(pl.lit("empty"))
            .otherwise(pl.lit("ok")),
            days_since_latest=(as_of_at - calendar.local_date(pl.col("latest_at"))).dt.total_days(),
            refreshed_at=refreshed,
            days_since_refresh=(as_of_at - calendar.local_date(refreshed)).dt.total_days(),
        )
        .select(list(FRESHNESS_SCHEMA))
        .collect(engine=ENGINE)
        .sort("table")
    )


# --- definitions ---------------------------------------------------------------------------

_shared = partial(
    MetricDefinition,
    question="shared_data",
    owner_team="ops",
    date_anchor="as_of",
)

DEFINITIONS: tuple[MetricDefinition, ...] = (
    _shared(
        id="data_quality.score",
        name="Data-quality score",
        formula="100 × Σ_checks weight × passed / Σ weight; passed = 1 if no failing record "
        "(partial credit: 1 − failing share); weight high 3, medium 2, low 1",
        unit="score",
        grain="snapshot",
        good="100; below 80 the shared numbers need a caveat",
        filters="checks whose tables are missing or empty are left out",
    ),
    _shared(
        id="data_freshness.days_since_latest",
        name="Days since latest record",
        formula="as_of − max(*_at, *_date values ≤ as_of), per table",
        unit="days",
        grain="table",
        good="0–1 days for a daily refresh",
        higher_is_better=False,
    ),
    *(
        _shared(
            id=f"data_quality.{check.id}",
            name=check.description,
            formula=f"#failing / #rows of {check.table}",
            unit="ratio",
            grain="snapshot",
            good="0",
            filters=f"severity {check.severity}",
            higher_is_better=False,
        )
        for check in CHECKS
    ),
)
