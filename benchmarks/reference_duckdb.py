"""A DuckDB reference of the scorecard's core signals, in SQL over the same Parquet files.

The stronger peer the project is timed against (issue #16): the eight signals of
`benchmarks/reference_pandas.py` (same definitions, same default parameters, company-wide,
UTC) written as DuckDB SQL that reads the canonical Parquet files directly with
``read_parquet`` and only the columns each query needs (DuckDB pushes the projection into
the scan). Results come back as polars frames (``.pl()``); `tests/test_benchmarks.py`
checks them equal to the project's values. Only `benchmarks/` may use DuckDB.

Two intermediates are materialized once per run as temporary tables, as the pandas
reference keeps them in variables: the stage spells (for days in stage and stalled deals)
and the lead funnel steps (for the follow-up SLA and cohort conversion).
"""

from __future__ import annotations

from datetime import date, timedelta
from itertools import pairwise
from pathlib import Path

import duckdb
import polars as pl

from model.calendar import Period, period_of, previous, trailing

STEPS = ("lead", "mql", "sal", "sql", "opp", "won")
SALES_STAGES_FROM = 2  # qualified pipeline starts at stage position 2
SLA_HOURS = 24.0
LOCK_WEEK = 3


def _ts(day: date) -> str:
    """Midnight UTC of `day` as a TIMESTAMPTZ literal."""
    return f"TIMESTAMPTZ '{day.isoformat()} 00:00:00+00'"


def _d(day: date) -> str:
    return f"DATE '{day.isoformat()}'"


def _s(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class Parquet:
    """The canonical Parquet files of one org (`<table>.parquet` in `folder`), scanned with
    only the named columns."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def __call__(self, table: str, *columns: str) -> str:
        path = _s(str(self.folder / f"{table}.parquet"))
        return f"(SELECT {', '.join(columns)} FROM read_parquet({path}))"


def connect(threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection reporting in UTC (dates of timestamps are UTC dates)."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    return con


# ---------------------------------------------------------------- stage spells and stalls
def stage_spells(con: duckdb.DuckDBPyConnection, pq: Parquet, as_of: date) -> None:
    """Temp table `spells`: one row per opportunity per stage spell with `days_in_stage`
    (open spells aged to the end of `as_of`), `is_current` and `is_open_deal`."""
    cutoff = _ts(as_of + timedelta(days=1))
    con.execute(f"""
    CREATE OR REPLACE TEMP TABLE spells AS
    WITH opps AS (
        SELECT opp_id, created_at, stage FROM {pq("opportunities", "opp_id", "created_at", "stage")}
        WHERE created_at < {cutoff}),
    st AS {pq("stages", "stage", "position", "is_closed")},
    hist AS (  -- a history row before the deal's creation counts from the creation
        SELECT h.opp_id, h.stage, greatest(h.entered_at, o.created_at) AS entered_at
        FROM {pq("stage_history", "opp_id", "stage", "entered_at")} h JOIN opps o USING (opp_id)),
    first AS (  -- the stage a deal was created in: its first history row's, else its current
        SELECT opp_id, stage FROM (
            SELECT h.opp_id, h.stage, row_number() OVER (PARTITION BY h.opp_id
                ORDER BY h.entered_at NULLS LAST, st.position NULLS LAST, h.stage) AS rn
            FROM hist h LEFT JOIN st USING (stage)) WHERE rn = 1),
    ev AS (
        SELECT o.opp_id, coalesce(f.stage, o.stage) AS stage, o.created_at AS entered_at, 0 AS src
        FROM opps o LEFT JOIN first f USING (opp_id)
        UNION ALL
        SELECT opp_id, stage, entered_at, 1 AS src FROM hist WHERE entered_at < {cutoff}),
    ordered AS (
        SELECT ev.*, st.position, coalesce(st.is_closed, false) AS is_closed_stage,
               lag(ev.stage) OVER w AS prev_stage, row_number() OVER w AS rn
        FROM ev LEFT JOIN st USING (stage)
        WINDOW w AS (PARTITION BY ev.opp_id
                     ORDER BY ev.entered_at NULLS LAST, ev.src, st.position NULLS LAST, ev.stage)),
    sp AS (  -- a spell starts where the stage changes
        SELECT * FROM ordered WHERE rn = 1 OR stage IS DISTINCT FROM prev_stage),
    bounded AS (
        SELECT opp_id, stage, entered_at, is_closed_stage,
               lead(entered_at) OVER w AS left_at,
               lead(true) OVER w IS NULL AS is_current,
               NOT last_value(is_closed_stage) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING
                                                     AND UNBOUNDED FOLLOWING) AS is_open_deal
        FROM sp
        WINDOW w AS (PARTITION BY opp_id ORDER BY rn))
    SELECT *, (epoch_us(coalesce(left_at,
                   CASE WHEN is_closed_stage THEN entered_at ELSE {cutoff} END))
               - epoch_us(entered_at)) / 86400e6 AS days_in_stage
    FROM bounded
    """)


def days_in_stage(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Per open stage: spell count and median days (current spells counted with their age)."""
    return con.sql("""
        SELECT stage, count(*) AS n, quantile_cont(days_in_stage, 0.5) AS median_days
        FROM spells WHERE NOT is_closed_stage AND days_in_stage IS NOT NULL
        GROUP BY stage ORDER BY stage
    """).pl()


def stalled_deals(con: duckdb.DuckDBPyConnection, pq: Parquet, as_of: date) -> pl.DataFrame:
    """Open deals whose current-stage age exceeds the stage's threshold: p75 of the days won
    deals of the trailing four full quarters spent in it (30 days under 5 such deals)."""
    current = period_of(as_of)
    start = trailing(previous(current), 4)[0].start
    return con.sql(f"""
    WITH won AS (
        SELECT opp_id FROM {pq("opportunities", "opp_id", "is_won", "close_date")}
        WHERE is_won AND close_date >= {_d(start)} AND close_date < {_d(current.start)}),
    stats AS (
        SELECT stage, count(DISTINCT opp_id) AS n, quantile_cont(days_in_stage, 0.75) AS q
        FROM spells SEMI JOIN won USING (opp_id)
        WHERE NOT is_closed_stage AND days_in_stage IS NOT NULL GROUP BY stage),
    threshold AS (
        SELECT st.stage, CASE WHEN s.n >= 5 THEN s.q ELSE 30.0 END AS threshold_days
        FROM {pq("stages", "stage")} st LEFT JOIN stats s USING (stage))
    SELECT sp.opp_id, sp.stage, sp.entered_at, sp.days_in_stage, t.threshold_days
    FROM spells sp JOIN threshold t USING (stage)
    WHERE sp.is_current AND sp.is_open_deal AND sp.days_in_stage > t.threshold_days
    ORDER BY sp.opp_id
    """).pl()


# ---------------------------------------------------------------- lead funnel
def funnel_steps(con: duckdb.DuckDBPyConnection, pq: Parquet, as_of: date) -> None:
    """Temp table `steps`: each lead's step times (reached semantics: a skipped step takes
    the next one's time, flagged `inferred_<step>`)."""
    cutoff = _ts(as_of + timedelta(days=1))
    lead_cols = ("lead_id", "created_at", "mql_at", "sal_at", "sql_at", "converted_at",
                 "converted_opp_id", "first_touch_at")  # fmt: skip
    con.execute(f"""
    CREATE OR REPLACE TEMP TABLE steps AS
    WITH opps AS (
        SELECT opp_id, created_at,
               CASE WHEN is_won AND close_date <= {_d(as_of)} THEN close_date END AS won_day
        FROM {pq("opportunities", "opp_id", "created_at", "is_won", "close_date")}),
    raw AS (
        SELECT l.lead_id, l.created_at AS lead_at,
               CASE WHEN l.mql_at < {cutoff} THEN l.mql_at END AS mql,
               CASE WHEN l.sal_at < {cutoff} THEN l.sal_at END AS sal,
               CASE WHEN l.sql_at < {cutoff} THEN l.sql_at END AS sql,
               CASE WHEN l.converted_opp_id IS NOT NULL
                         AND coalesce(l.converted_at, o.created_at) < {cutoff}
                    THEN coalesce(l.converted_at, o.created_at) END AS opp,
               o.won_day::TIMESTAMPTZ AS won,
               CASE WHEN l.first_touch_at < {cutoff} THEN l.first_touch_at END AS first_touch_at
        FROM {pq("leads", *lead_cols)} l
        LEFT JOIN opps o ON o.opp_id = l.converted_opp_id
        WHERE l.created_at < {cutoff})
    SELECT lead_id, lead_at,
           coalesce(mql, sal, sql, opp, won) AS mql_at,
           coalesce(sal, sql, opp, won) AS sal_at,
           coalesce(sql, opp, won) AS sql_at,
           coalesce(opp, won) AS opp_at,
           won AS won_at,
           mql IS NULL AND coalesce(sal, sql, opp, won) IS NOT NULL AS inferred_mql,
           sal IS NULL AND coalesce(sql, opp, won) IS NOT NULL AS inferred_sal,
           first_touch_at
    FROM raw
    """)


def _in(column: str, period: Period) -> str:
    return f"({column} >= {_ts(period.start)} AND {column} < {_ts(period.end)})"


def conversion(con: duckdb.DuckDBPyConnection, period: Period) -> pl.DataFrame:
    """Of the leads reaching step X in the period, how many reached X+1 (cohort, converted).
    A lead without a recorded MQL is not an MQL (the other steps keep reached semantics)."""
    at = {s: f"{s}_at" for s in STEPS}
    at["mql"] = "CASE WHEN NOT inferred_mql THEN mql_at END"
    pairs = list(pairwise(STEPS))
    cohorts = ", ".join(f"count_if({_in(at[a], period)})::BIGINT" for a, _ in pairs)
    converted = ", ".join(
        f"count_if({_in(at[a], period)} AND ({at[b]}) IS NOT NULL)::BIGINT" for a, b in pairs
    )
    names = ", ".join(_s(a) for a, _ in pairs)
    return con.sql(f"""
        SELECT unnest([{names}]) AS from_step, unnest([{cohorts}]) AS cohort,
               unnest([{converted}]) AS converted
        FROM steps
    """).pl()


def follow_up_sla(con: duckdb.DuckDBPyConnection, period: Period, as_of: date) -> pl.DataFrame:
    """Share of the period's due MQLs touched or accepted within the SLA hours."""
    cutoff = _ts(as_of + timedelta(days=1))
    return con.sql(f"""
    WITH mqls AS (  -- only recorded touches: a back-filled SAL is not one
        SELECT mql_at, least(first_touch_at, CASE WHEN NOT inferred_sal THEN sal_at END) AS touch
        FROM steps WHERE {_in("mql_at", period)} AND NOT inferred_mql),
    judged AS (
        SELECT coalesce(greatest((epoch_us(touch) - epoch_us(mql_at)) / 3600e6, 0.0)
                        <= {SLA_HOURS} AND touch IS NOT NULL, false) AS met,
               touch IS NULL AND mql_at + INTERVAL {int(SLA_HOURS)} HOUR >= {cutoff} AS pending
        FROM mqls),
    counts AS (
        SELECT count(*) AS mqls, count_if(met)::BIGINT AS met,
               (count(*) - count_if(pending AND NOT met))::BIGINT AS due FROM judged)
    SELECT mqls, met, due, CASE WHEN due > 0 THEN met / due END AS sla_compliance FROM counts
    """).pl()


# ---------------------------------------------------------------- forecast and pipeline
def _team_of(pq: Parquet, alias: str) -> str:
    """A join giving `team` for `alias`.owner_id ("(no team)" when the owner has none)."""
    return f"LEFT JOIN {pq('users', 'user_id', 'team')} u ON u.user_id = {alias}.owner_id"


def forecast_accuracy(
    con: duckdb.DuckDBPyConnection, pq: Parquet, period: Period, as_of: date
) -> pl.DataFrame:
    """Per team: the commit forecast standing at the end of the lock week vs closed won.
    A team's call is the latest by a team-level submitter (no owner, or the team's manager);
    else the sum of its reps' latest own calls."""
    cutoff = _ts(as_of + timedelta(days=1))
    cols = ("period", "team", "owner_id", "submitted_at", "category", "amount")
    return con.sql(f"""
    WITH managers AS (
        SELECT DISTINCT manager_id AS owner_id, team
        FROM {pq("users", "manager_id", "team")} WHERE manager_id IS NOT NULL),
    f AS (
        SELECT f.team, f.submitted_at, f.amount,
               CASE WHEN f.owner_id IS NULL OR m.owner_id IS NOT NULL THEN '(team)'
                    ELSE f.owner_id END AS submitter
        FROM {pq("forecasts", *cols)} f
        LEFT JOIN managers m ON m.owner_id = f.owner_id AND m.team = f.team
        WHERE f.period = {_s(period.name)} AND f.category = 'commit'
          AND f.submitted_at < {cutoff}
          AND floor(date_diff('day', {_d(period.start)}, f.submitted_at::DATE) / 7) + 1
              <= {LOCK_WEEK}),
    latest AS (
        SELECT * FROM f QUALIFY row_number() OVER (PARTITION BY team, submitter
            ORDER BY submitted_at DESC NULLS FIRST, amount DESC NULLS FIRST) = 1),
    lock AS (
        SELECT team, coalesce(sum(amount), 0.0) AS forecast FROM (
            SELECT *, bool_or(submitter = '(team)') OVER (PARTITION BY team) AS has_call
            FROM latest) WHERE submitter = '(team)' OR NOT has_call
        GROUP BY team),
    actual AS (
        SELECT coalesce(u.team, '(no team)') AS team, sum(o.amount) AS actual
        FROM {pq("opportunities", "owner_id", "amount", "is_won", "close_date")} o
        {_team_of(pq, "o")}
        WHERE o.is_won AND o.close_date >= {_d(period.start)} AND o.close_date < {_d(period.end)}
        GROUP BY 1)
    SELECT team, forecast, actual,
           1 - abs(forecast - actual) / CASE WHEN actual > 0 THEN actual END AS accuracy,
           (forecast - actual) / CASE WHEN actual > 0 THEN actual END AS bias
    FROM (SELECT l.team, l.forecast, coalesce(a.actual, 0.0) AS actual
          FROM lock l LEFT JOIN actual a USING (team))
    ORDER BY team
    """).pl()


def win_rate(con: duckdb.DuckDBPyConnection, pq: Parquet, period: Period) -> pl.DataFrame:
    """Per team and for all teams: won / (won + lost) of the deals closed in the period."""
    return con.sql(f"""
    SELECT CASE WHEN grouping(team) = 1 THEN 'All teams' ELSE team END AS team,
           count_if(is_won) / count(*) AS win_rate_count
    FROM (SELECT coalesce(u.team, '(no team)') AS team, o.is_won
          FROM {pq("opportunities", "owner_id", "is_closed", "is_won", "close_date")} o
          {_team_of(pq, "o")}
          WHERE o.is_closed AND o.close_date >= {_d(period.start)}
            AND o.close_date < {_d(period.end)})
    GROUP BY GROUPING SETS ((team), ())
    ORDER BY team
    """).pl()


def coverage(con: duckdb.DuckDBPyConnection, pq: Parquet, period: Period) -> pl.DataFrame:
    """Per team and for all teams: open qualified pipeline due in the period
    / max(quota − won so far, 0)."""
    cols = ("owner_id", "stage", "amount", "is_closed", "is_won", "close_date")
    due = f"o.close_date >= {_d(period.start)} AND o.close_date < {_d(period.end)}"
    return con.sql(f"""
    WITH opps AS (
        SELECT coalesce(u.team, '(no team)') AS team,
               CASE WHEN NOT o.is_closed AND st.position >= {SALES_STAGES_FROM} AND {due}
                    THEN coalesce(o.amount, 0.0) ELSE 0.0 END AS open,
               CASE WHEN o.is_won AND {due} THEN coalesce(o.amount, 0.0) ELSE 0.0 END AS won
        FROM {pq("opportunities", *cols)} o
        LEFT JOIN {pq("stages", "stage", "position")} st USING (stage)
        {_team_of(pq, "o")}),
    sums AS (
        SELECT CASE WHEN grouping(team) = 1 THEN 'All teams' ELSE team END AS team,
               sum(open) AS open_pipeline, sum(won) AS won
        FROM opps GROUP BY GROUPING SETS ((team), ())),
    q AS (
        SELECT CASE WHEN grouping(team) = 1 THEN 'All teams' ELSE team END AS team,
               sum(amount) AS quota
        FROM {pq("quotas", "period", "team", "owner_id", "amount")}
        WHERE period = {_s(period.name)} AND owner_id IS NULL
        GROUP BY GROUPING SETS ((team), ()))
    SELECT s.team, s.open_pipeline, s.won, q.quota,
           s.open_pipeline / CASE WHEN greatest(q.quota - s.won, 0) > 0
                                  THEN greatest(q.quota - s.won, 0) END AS coverage
    FROM sums s LEFT JOIN q USING (team)
    ORDER BY s.team
    """).pl()


def marketing_sourced(
    con: duckdb.DuckDBPyConnection, pq: Parquet, period: Period, as_of: date
) -> pl.DataFrame:
    """Opportunities created in the period: marketing's count (the converting lead responded
    to a campaign by conversion) vs sales' count (`sourced_by = 'marketing'`), and the gap."""
    cols = ("opp_id", "created_at", "amount", "sourced_by")
    return con.sql(f"""
    WITH created AS (
        SELECT opp_id, created_at, coalesce(amount, 0.0) AS amount,
               coalesce(sourced_by::VARCHAR = 'marketing', false) AS sales
        FROM {pq("opportunities", *cols)}
        WHERE {_in("created_at", period)} AND created_at::DATE <= {_d(as_of)}),
    touched AS (
        SELECT DISTINCT c.opp_id
        FROM {pq("leads", "lead_id", "converted_at", "converted_opp_id")} l
        JOIN {pq("campaign_members", "lead_id", "responded_at")} m USING (lead_id)
        JOIN created c ON c.opp_id = l.converted_opp_id
        WHERE m.responded_at IS NULL OR m.responded_at <= coalesce(l.converted_at, c.created_at)),
    judged AS (
        SELECT c.*, t.opp_id IS NOT NULL AS mkt FROM created c LEFT JOIN touched t USING (opp_id))
    SELECT count_if(mkt)::BIGINT AS marketing_count, count_if(sales)::BIGINT AS sales_count,
           coalesce(sum(amount) FILTER (WHERE mkt), 0.0) AS marketing_amount,
           coalesce(sum(amount) FILTER (WHERE sales), 0.0) AS sales_amount,
           count_if(mkt <> sales)::BIGINT AS disagreeing
    FROM judged
    """).pl()


# ---------------------------------------------------------------- the whole reference
def compute_all(
    folder: Path, *, as_of: date, period: Period, con: duckdb.DuckDBPyConnection | None = None
) -> dict[str, pl.DataFrame]:
    """Every covered signal for `period` from the Parquet files in `folder` (forecast for the
    latest complete quarter: as of a day means its end, so a quarter ending on `as_of` is
    complete). End to end: nothing is read before this call."""
    con = con or connect()
    pq = Parquet(folder)
    judged = period if period.end <= as_of + timedelta(days=1) else previous(period)
    stage_spells(con, pq, as_of)
    funnel_steps(con, pq, as_of)
    return {
        "spells": days_in_stage(con),
        "stalled": stalled_deals(con, pq, as_of),
        "sla": follow_up_sla(con, period, as_of),
        "conversion": conversion(con, period),
        "forecast": forecast_accuracy(con, pq, judged, as_of),
        "win_rate": win_rate(con, pq, period),
        "coverage": coverage(con, pq, period),
        "reconcile": marketing_sourced(con, pq, period, as_of),
    }
