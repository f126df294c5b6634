"""One version of the data: the same quantity as two teams count it, side by side.

Marketing and sales routinely report different numbers for "the same" thing because they
count different records. Each reconciliation here computes both counts on the same frames and
returns a `Reconciliation`:

- `summary`: one row per measure in the shape of `SUMMARY_SCHEMA` (side A, side B, gap,
  gap share, number of records behind the gap, the definition ids used);
- `rows`: one row per record behind the gap — counted by A only, by B only, or by both with
  different values — with a plain-language reason, so the gap can be traced to records.

Side A is the marketing count (for win rate, the count-based rate); ``gap = A − B`` and
``gap_share = gap / max(|A|, |B|)`` (null when both are 0 or either side is unavailable).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import partial

import polars as pl

from model.calendar import Period, local_date
from model.params import ScoringParams
from model.tables import ALL_TEAMS, ENGINE, Tables, leads_with_team, opportunities_with_team
from scoring.definitions import MetricDefinition

_DEFAULT_PARAMS = ScoringParams()

# `opportunities.lead_source` values that mean "not from a lead" (compared case-insensitively).
NON_LEAD_SOURCES: tuple[str, ...] = ("Outbound",)

MARKETING_ONLY, SALES_ONLY, MISMATCH = "marketing only", "sales only", "mismatch"

# Diff-row columns; `diff` is one of MARKETING_ONLY / SALES_ONLY / MISMATCH.
PIPELINE_ROW_COLUMNS = (
    *("opp_id", "name", "team", "amount", "in_marketing_count", "in_sales_count"),
    *("diff", "reason"),
)
CONVERTED_ROW_COLUMNS = (
    *("opp_id", "lead_ids", "name", "team", "amount", "marketing_count", "sales_count"),
    *("diff", "reason"),
)

SUMMARY_SCHEMA = pl.Schema(
    {
        "id": pl.String(),
        "quantity": pl.String(),
        "unit": pl.String(),
        "side_a_label": pl.String(),
        "side_a_value": pl.Float64(),
        "side_b_label": pl.String(),
        "side_b_value": pl.Float64(),
        "gap": pl.Float64(),
        "gap_share": pl.Float64(),
        "records": pl.Int64(),
        "available": pl.Boolean(),
        "definition_ids": pl.List(pl.String()),
    }
)


@dataclass(frozen=True)
class Reconciliation:
    """A reconciliation's summary rows (`SUMMARY_SCHEMA`) and its record-level diff rows."""

    summary: pl.DataFrame
    rows: pl.DataFrame


@dataclass(frozen=True)
class _Spec:
    id: str
    quantity: str
    unit: str
    side_a_label: str
    side_b_label: str
    definition_ids: tuple[str, ...]


def _summary(
    frame: pl.LazyFrame,
    spec: _Spec,
    a: pl.Expr,
    b: pl.Expr,
    records: pl.Expr,
    *,
    available: bool = True,
) -> pl.LazyFrame:
    """One summary row from aggregate expressions `a`, `b` and `records` over `frame`.

    When `available` is False side A could not be computed (a table it needs is missing), so
    it and everything derived from it is null.
    """
    a_value = a.cast(pl.Float64) if available else pl.lit(None, dtype=pl.Float64)
    denom = pl.max_horizontal(pl.col("side_a_value").abs(), pl.col("side_b_value").abs())
    return (
        frame.select(
            side_a_value=a_value,
            side_b_value=b.cast(pl.Float64),
            records=records.cast(pl.Int64) if available else pl.lit(None, dtype=pl.Int64),
        )
        .with_columns(
            id=pl.lit(spec.id),
            quantity=pl.lit(spec.quantity),
            unit=pl.lit(spec.unit),
            side_a_label=pl.lit(spec.side_a_label),
            side_b_label=pl.lit(spec.side_b_label),
            gap=pl.col("side_a_value") - pl.col("side_b_value"),
            available=pl.lit(available),
            definition_ids=pl.lit(list(spec.definition_ids), dtype=pl.List(pl.String)),
        )
        .with_columns(gap_share=pl.when(denom > 0).then(pl.col("gap") / denom))
        .select(list(SUMMARY_SCHEMA))
    )


def _in_period(ts: pl.Expr, period: Period, as_of: date | None, timezone: str) -> pl.Expr:
    """`ts` falls in `period` (reporting time zone) and, when given, on or before `as_of`."""
    day = local_date(ts, timezone)
    inside = (day >= period.start) & (day < period.end)
    return inside & (day <= as_of) if as_of is not None else inside


def _opps_created_in(
    tables: Tables, period: Period, as_of: date | None, params: ScoringParams
) -> pl.LazyFrame:
    """Opportunities (with team) created in `period`, up to `as_of`."""
    created = _in_period(pl.col("created_at"), period, as_of, params.timezone)
    return opportunities_with_team(tables).filter(created)


# --- marketing-sourced pipeline ---------------------------------------------------------

_PIPELINE_AMOUNT = _Spec(
    id="reconcile.marketing_sourced_pipeline.amount",
    quantity="Marketing-sourced pipeline created ($)",
    unit="currency",
    side_a_label="Marketing: converting lead responded to a campaign",
    side_b_label="Sales: opportunity labelled sourced by marketing",
    definition_ids=("reconcile.sourced_pipeline.campaign", "reconcile.sourced_pipeline.label"),
)
_PIPELINE_COUNT = _Spec(
    id="reconcile.marketing_sourced_pipeline.count",
    quantity="Marketing-sourced opportunities created",
    unit="count",
    side_a_label=_PIPELINE_AMOUNT.side_a_label,
    side_b_label=_PIPELINE_AMOUNT.side_b_label,
    definition_ids=_PIPELINE_AMOUNT.definition_ids,
)


def _campaign_sourced_opp_ids(tables: Tables, opps: pl.LazyFrame) -> pl.LazyFrame:
    """Ids of `opps` whose converting lead was a campaign member that responded in time.

    In time = `responded_at` at or before the lead's `converted_at` (the opportunity's
    `created_at` when the lead has no conversion time). A membership with no `responded_at`
    counts: the source recorded membership but not when, so we do not rule it out.
    """
    touches = tables.leads.filter(pl.col("converted_opp_id").is_not_null()).join(
        tables.campaign_members.select("lead_id", "responded_at"), on="lead_id"
    )
    converted_at = pl.coalesce("converted_at", "created_at")
    return (
        opps.select("opp_id", "created_at")
        .join(touches, left_on="opp_id", right_on="converted_opp_id")
        .filter(pl.col("responded_at").is_null() | (pl.col("responded_at") <= converted_at))
        .select("opp_id")
        .unique()
    )


def _pipeline_flags(
    tables: Tables, period: Period, as_of: date, params: ScoringParams
) -> pl.LazyFrame:
    """Opportunities created in the period with both teams' verdicts on "marketing-sourced"."""
    opps = _opps_created_in(tables, period, as_of, params)
    campaign = _campaign_sourced_opp_ids(tables, opps).with_columns(in_marketing_count=True)
    return opps.join(campaign, on="opp_id", how="left").with_columns(
        pl.col("in_marketing_count").fill_null(False),
        in_sales_count=(pl.col("sourced_by") == "marketing").fill_null(False),
    )


def _pipeline_diff_rows(flags: pl.LazyFrame, available: bool) -> pl.LazyFrame:
    label = pl.col("sourced_by").cast(pl.String).fill_null("(none)")
    return (
        flags.filter(pl.col("in_marketing_count") != pl.col("in_sales_count"), pl.lit(available))
        .with_columns(
            diff=pl.when("in_marketing_count")
            .then(pl.lit(MARKETING_ONLY))
            .otherwise(pl.lit(SALES_ONLY)),
            reason=pl.when("in_marketing_count")
            .then(pl.format("campaign member but labelled {}", label))
            .otherwise(pl.lit("labelled marketing but no campaign response")),
        )
        .select(PIPELINE_ROW_COLUMNS)
        .sort("opp_id")
    )


def marketing_sourced_pipeline(
    tables: Tables, *, period: Period, as_of: date, params: ScoringParams = _DEFAULT_PARAMS
) -> Reconciliation:
    """Marketing-sourced pipeline as marketing counts it (campaign responses) vs as sales
    labels it (`sourced_by`), for opportunities created in `period` up to `as_of`.

    A leader sees whether the two teams agree on what marketing sourced, and which deals
    one team claims and the other does not. Rows: one per opportunity counted by one side only.
    """
    available = tables.has("leads", "campaign_members")
    flags = _pipeline_flags(tables, period, as_of, params).collect(engine=ENGINE).lazy()
    mkt, sales = pl.col("in_marketing_count"), pl.col("in_sales_count")
    records = (mkt != sales).sum()
    summary = pl.concat(
        [
            _summary(
                flags,
                _PIPELINE_AMOUNT,
                pl.col("amount").filter(mkt).sum(),
                pl.col("amount").filter(sales).sum(),
                records,
                available=available,
            ),
            _summary(flags, _PIPELINE_COUNT, mkt.sum(), sales.sum(), records, available=available),
        ]
    )
    return Reconciliation(
        summary=summary.collect(engine=ENGINE).sort("id"),
        rows=_pipeline_diff_rows(flags, available).collect(engine=ENGINE),
    )


# --- converted leads vs opportunities ----------------------------------------------------

_CONVERTED = _Spec(
    id="reconcile.converted_leads_vs_opportunities",
    quantity="Leads converted vs lead-originated opportunities created",
    unit="count",
    side_a_label="Marketing: leads converted in the period",
    side_b_label="Sales: opportunities created in the period with a lead source",
    definition_ids=("reconcile.converted.leads", "reconcile.converted.opportunities"),
)


def _is_lead_origin(non_lead_sources: Sequence[str]) -> pl.Expr:
    """`lead_source` is set and is not one of `non_lead_sources` (case-insensitive)."""
    lowered = [s.lower() for s in non_lead_sources]
    source = pl.col("lead_source").str.strip_chars().str.to_lowercase()
    return pl.col("lead_source").is_not_null() & ~source.is_in(lowered)


def _converted_side(
    tables: Tables, period: Period, as_of: date, params: ScoringParams
) -> pl.LazyFrame:
    """Marketing's records: leads converted in the period, grouped by the opportunity they
    became; a lead converted without an opportunity is its own record."""
    leads = leads_with_team(tables).filter(
        _in_period(pl.col("converted_at"), period, as_of, params.timezone)
    )
    return leads.group_by(
        pl.col("converted_opp_id").alias("opp_id"),
        pl.when(pl.col("converted_opp_id").is_null()).then("lead_id").alias("orphan_lead_id"),
    ).agg(
        marketing_count=pl.len().cast(pl.Int64),
        lead_ids=pl.col("lead_id").sort(),
        lead_team=pl.col("team").min(),
    )


def _converted_records(
    tables: Tables,
    period: Period,
    as_of: date,
    params: ScoringParams,
    non_lead_sources: Sequence[str],
) -> pl.LazyFrame:
    """Both sides' records, one row per opportunity (or per opportunity-less lead)."""
    sales = (
        _opps_created_in(tables, period, as_of, params)
        .filter(_is_lead_origin(non_lead_sources))
        .select("opp_id", sales_count=pl.lit(1, dtype=pl.Int64))
    )
    any_lead = (
        tables.leads.select(pl.col("converted_opp_id").alias("opp_id"), has_lead=pl.lit(True))
        .filter(pl.col("opp_id").is_not_null())
        .unique()
    )
    # Looked up among the whole company's deals: in a team's view, a lead it converted into
    # another team's deal points at a deal that exists, outside the view.
    in_view = tables.opportunities.select("opp_id", in_view=pl.lit(True))
    opps = opportunities_with_team(tables.company).select(
        "opp_id", "name", "team", "amount", "lead_source", "created_at", exists=pl.lit(True)
    )
    created = _in_period(pl.col("created_at"), period, as_of, params.timezone)
    return (
        _converted_side(tables, period, as_of, params)
        .join(sales, on="opp_id", how="full", coalesce=True)
        .join(opps, on="opp_id", how="left")
        .join(in_view, on="opp_id", how="left")
        .join(any_lead, on="opp_id", how="left")
        .with_columns(
            pl.col("marketing_count", "sales_count").fill_null(0),
            pl.col("exists", "in_view", "has_lead").fill_null(False),
            created_in_period=created.fill_null(False),
            team=pl.coalesce("team", "lead_team"),
        )
    )


def _converted_reason() -> pl.Expr:
    m, s = pl.col("marketing_count"), pl.col("sales_count")
    source = pl.col("lead_source").fill_null("(none)")
    return (
        pl.when((m > 0) & (s == 0) & pl.col("opp_id").is_null())
        .then(pl.lit("lead converted without an opportunity"))
        .when((m > 0) & (s == 0) & ~pl.col("exists"))
        .then(pl.lit("converted opportunity not found"))
        .when((m > 0) & (s == 0) & ~pl.col("in_view"))
        .then(pl.lit("opportunity of a team outside this view"))
        .when((m > 0) & (s == 0) & ~pl.col("created_in_period"))
        .then(pl.lit("opportunity created outside the period"))
        .when((m > 0) & (s == 0))
        .then(pl.format("opportunity lead source is {}", source))
        .when((m == 0) & ~pl.col("has_lead"))
        .then(pl.lit("no lead converted into it"))
        .when(m == 0)
        .then(pl.lit("its lead's conversion is outside the period or undated"))
        .otherwise(pl.format("{} leads converted into one opportunity", m))
    )


def _converted_diff_rows(records: pl.LazyFrame, available: bool) -> pl.LazyFrame:
    m, s = pl.col("marketing_count"), pl.col("sales_count")
    return (
        records.filter(m != s, pl.lit(available))
        .with_columns(
            diff=pl.when(s == 0)
            .then(pl.lit(MARKETING_ONLY))
            .when(m == 0)
            .then(pl.lit(SALES_ONLY))
            .otherwise(pl.lit(MISMATCH)),
            reason=_converted_reason(),
        )
        .select(CONVERTED_ROW_COLUMNS)
        .sort(pl.col("opp_id"), pl.col("lead_ids").list.first(), nulls_last=True)
    )


def converted_leads_vs_opportunities(
    tables: Tables,
    *,
    period: Period,
    as_of: date,
    params: ScoringParams = _DEFAULT_PARAMS,
    non_lead_sources: Sequence[str] = NON_LEAD_SOURCES,
) -> Reconciliation:
    """Leads marketing converted in `period` vs lead-originated opportunities sales created.

    Marketing counts leads whose `converted_at` is in the period; sales counts opportunities
    created in the period whose `lead_source` is set and not an outbound source. Records are
    matched on the opportunity (`leads.converted_opp_id`); rows show each record the two
    counts disagree on: ``marketing_count − sales_count`` summed over rows equals the gap.
    """
    available = tables.has("leads")
    records = _converted_records(tables, period, as_of, params, non_lead_sources)
    records = records.collect(engine=ENGINE).lazy()
    m, s = pl.col("marketing_count"), pl.col("sales_count")
    summary = _summary(records, _CONVERTED, m.sum(), s.sum(), (m != s).sum(), available=available)
    return Reconciliation(
        summary=summary.collect(engine=ENGINE),
        rows=_converted_diff_rows(records, available).collect(engine=ENGINE),
    )


# --- win rate ------------------------------------------------------------------------------


def _rate(numerator: pl.Expr, denominator: pl.Expr) -> pl.Expr:
    """numerator / denominator, null when the denominator is 0 or null."""
    return pl.when(denominator > 0).then(numerator / denominator)


def _closed_stats(opps: pl.LazyFrame, period: Period) -> pl.LazyFrame:
    won, lost = pl.col("is_won"), pl.col("is_closed") & ~pl.col("is_won")
    closed_in = pl.col("is_closed") & pl.col("close_date").is_between(
        period.start, period.end, closed="left"
    )
    return (
        opps.filter(closed_in)
        .group_by("team")
        .agg(
            won_count=won.sum().cast(pl.Int64),
            lost_count=lost.sum().cast(pl.Int64),
            won_amount=pl.col("amount").filter(won).sum(),
            lost_amount=pl.col("amount").filter(lost).sum(),
        )
    )


def _cohort_stats(opps: pl.LazyFrame, period: Period, params: ScoringParams) -> pl.LazyFrame:
    return (
        opps.filter(_in_period(pl.col("created_at"), period, None, params.timezone))
        .group_by("team")
        .agg(
            cohort_count=pl.len().cast(pl.Int64),
            cohort_won_count=pl.col("is_won").sum().cast(pl.Int64),
        )
    )


def win_rate_variants(
    tables: Tables,
    *,
    period: Period,
    params: ScoringParams = _DEFAULT_PARAMS,
    by_team: bool = True,
) -> pl.DataFrame:
    """Three win rates side by side, per team (or one row, team ``All teams``).

    - by count (as BI dashboards usually count it): won / (won + lost), deals closed in
      `period` (by `close_date`);
    - by amount (as packaged warehouse models weigh it): won $ / (won $ + lost $), same
      deals, null amounts ignored;
    - cohort: won / all deals created in `period`, whatever their state now (immature for
      recent periods: open deals count against it).
    The three disagree whenever big deals win or lose more often than small ones, or the
    period's deals have not finished. Rates are null when their denominator is 0.
    """
    opps = opportunities_with_team(tables)
    if not by_team:
        opps = opps.with_columns(team=pl.lit(ALL_TEAMS))
    counts = ["won_count", "lost_count", "cohort_count", "cohort_won_count"]
    won, lost = pl.col("won_amount"), pl.col("lost_amount")
    return (
        _closed_stats(opps, period)
        .join(_cohort_stats(opps, period, params), on="team", how="full", coalesce=True)
        .with_columns(pl.col(counts).fill_null(0), pl.col("won_amount", "lost_amount").fill_null(0))
        .with_columns(
            win_rate_count=_rate(pl.col("won_count"), pl.col("won_count") + pl.col("lost_count")),
            win_rate_amount=_rate(won, won + lost),
            win_rate_cohort=_rate(pl.col("cohort_won_count"), pl.col("cohort_count")),
        )
        .collect(engine=ENGINE)
        .sort("team")
    )


_WIN_RATE_AMOUNT = _Spec(
    id="reconcile.win_rate.count_vs_amount",
    quantity="Win rate of deals closed in the period",
    unit="ratio",
    side_a_label="By count of deals: won / closed",
    side_b_label="By deal amount: won $ / closed $",
    definition_ids=("win_rate.count", "win_rate.amount"),
)
_WIN_RATE_COHORT = _Spec(
    id="reconcile.win_rate.count_vs_cohort",
    quantity="Win rate: deals closed in the period vs deals created in it",
    unit="ratio",
    side_a_label="By count: won / closed in period",
    side_b_label="Cohort: won / created in period",
    definition_ids=("win_rate.count", "win_rate.cohort"),
)


def _win_rate_summaries(tables: Tables, period: Period, params: ScoringParams) -> pl.LazyFrame:
    """Win-rate reconciliation rows; the variants weigh the same deals differently, so there
    are no diff records (`records` is null)."""
    rates = win_rate_variants(tables, period=period, params=params, by_team=False).lazy()
    # `.first()` keeps one (null) row when no deal closed or was created in the period.
    count, no_records = pl.col("win_rate_count").first(), pl.lit(None, dtype=pl.Int64)
    return pl.concat(
        [
            _summary(rates, _WIN_RATE_AMOUNT, count, pl.col("win_rate_amount").first(), no_records),
            _summary(rates, _WIN_RATE_COHORT, count, pl.col("win_rate_cohort").first(), no_records),
        ]
    )


# --- forecast accuracy ----------------------------------------------------------------------


def forecast_accuracy_variants(
    forecast_amount: str | pl.Expr, actual_amount: str | pl.Expr
) -> list[pl.Expr]:
    """The four "forecast accuracy" formulas in circulation, as named expressions.

    With F = forecast, A = actual: ``accuracy_ratio = F / A`` (Gong; 1.0 is exact),
    ``accuracy_vs_actual = 1 − |F − A| / A``, ``accuracy_vs_forecast = 1 − |F − A| / F``,
    ``variance_pct = |A − F| / F`` (Pedowitz; lower is better). Each is null where its
    denominator is 0 or null. Use: ``frame.with_columns(forecast_accuracy_variants("f", "a"))``.
    """
    f = pl.col(forecast_amount) if isinstance(forecast_amount, str) else forecast_amount
    a = pl.col(actual_amount) if isinstance(actual_amount, str) else actual_amount
    miss = (f - a).abs()
    return [
        _rate(f, a).alias("accuracy_ratio"),
        (1 - _rate(miss, a)).alias("accuracy_vs_actual"),
        (1 - _rate(miss, f)).alias("accuracy_vs_forecast"),
        _rate(miss, f).alias("variance_pct"),
    ]


# --- all reconciliations -----------------------------------------------------------------


def reconciliations(
    tables: Tables, *, period: Period, as_of: date, params: ScoringParams = _DEFAULT_PARAMS
) -> pl.DataFrame:
    """Every reconciliation's summary, one row per measure (`SUMMARY_SCHEMA`), sorted by id:
    the "same number, two counts" overview for the shared-data page."""
    kwargs = {"period": period, "as_of": as_of, "params": params}
    frames = [
        marketing_sourced_pipeline(tables, **kwargs).summary,
        converted_leads_vs_opportunities(tables, **kwargs).summary,
        _win_rate_summaries(tables, period, params).collect(engine=ENGINE),
    ]
    return pl.concat(frames).sort("id")


_shared = partial(
    MetricDefinition,
    grain="period",
    date_anchor="opportunity created_at (reporting time zone)",
    good="the two counts agree (gap 0)",
    question="shared_data",
)


# `win_rate.count` / `win_rate.amount` are defined in `scoring.pipeline` and the forecast
# accuracy variants in `scoring.forecast`; only the definitions owned here are declared.
DEFINITIONS: tuple[MetricDefinition, ...] = (
    _shared(
        "reconcile.sourced_pipeline.campaign",
        "Marketing-sourced pipeline (campaign response)",
        "Σ amount of opps created in period whose converting lead is a campaign member with "
        "responded_at ≤ converted_at (or responded_at null)",
        "currency",
        owner_team="marketing",
        good="equals the sales-labelled figure",
        variants=("reconcile.sourced_pipeline.label",),
    ),
    _shared(
        "reconcile.sourced_pipeline.label",
        "Marketing-sourced pipeline (sourced_by label)",
        "Σ amount of opps created in period with sourced_by = marketing",
        "currency",
        owner_team="sales",
        good="equals the campaign-response figure",
        variants=("reconcile.sourced_pipeline.campaign",),
    ),
    _shared(
        "reconcile.converted.leads",
        "Leads converted",
        "#leads with converted_at in period",
        "count",
        owner_team="marketing",
        date_anchor="lead converted_at (reporting time zone)",
        variants=("reconcile.converted.opportunities",),
    ),
    _shared(
        "reconcile.converted.opportunities",
        "Lead-originated opportunities created",
        "#opps created in period with lead_source set and not outbound",
        "count",
        owner_team="sales",
        variants=("reconcile.converted.leads",),
    ),
    _shared(
        "win_rate.cohort",
        "Win rate (cohort)",
        "#won / #created in period (open deals count against it)",
        "ratio",
        grain="team × period",
        good="high; immature for recent periods",
        question="shared_outcomes",
        owner_team="sales",
        variants=("win_rate.count", "win_rate.amount"),
    ),
    *(
        _shared(
            spec.id,
            f"Gap: {spec.quantity}",
            f"gap = A − B, gap_share = gap / max(|A|, |B|); A = {spec.side_a_label}; "
            f"B = {spec.side_b_label}",
            spec.unit,
            owner_team="ops",
            filters=f"compares {' vs '.join(spec.definition_ids)}",
            higher_is_better=None,
        )
        for spec in (
            _PIPELINE_AMOUNT,
            _PIPELINE_COUNT,
            _CONVERTED,
            _WIN_RATE_AMOUNT,
            _WIN_RATE_COHORT,
        )
    ),
)
