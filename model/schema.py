"""The canonical revenue data model: one explicit polars schema per table.

Every connector normalizes its source into these tables; `scoring/` reads only these.
Conventions: ids are strings, `*_at` columns are UTC datetimes (microseconds), `*_date`
columns are dates, `amount` columns are Float64 in the org's currency.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

SCHEMA_VERSION = 1

UTC_DATETIME = pl.Datetime("us", "UTC")

FUNCTIONS = ("sales", "sdr", "marketing", "customer_success", "other")
SOURCED_BY = ("marketing", "sales", "partner", "unknown")
OPP_FORECAST_CATEGORIES = ("pipeline", "best_case", "most_likely", "commit", "closed", "omitted")
FORECAST_SUBMISSION_CATEGORIES = ("commit", "best_case", "pipeline")

Function = pl.Enum(FUNCTIONS)
SourcedBy = pl.Enum(SOURCED_BY)
OppForecastCategory = pl.Enum(OPP_FORECAST_CATEGORIES)
SubmissionCategory = pl.Enum(FORECAST_SUBMISSION_CATEGORIES)


@dataclass(frozen=True)
class Column:
    """One canonical column: its dtype, whether a source must provide it, and nullability."""

    dtype: pl.DataType
    required: bool = True
    nullable: bool = True


@dataclass(frozen=True)
class ForeignKey:
    """`column` of this table must exist in `table.ref_column` (nulls allowed).

    A strict reference that dangles rejects the data; a lenient one is reported as a
    warning, because exports often omit the referenced records (inactive users, old campaigns).
    """

    column: str
    table: str
    ref_column: str
    strict: bool = True


@dataclass(frozen=True)
class TableSchema:
    """A canonical table: its grain (one row per ...), columns, key and references."""

    name: str
    grain: str
    columns: dict[str, Column]
    primary_key: tuple[str, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    required_table: bool = False
    description: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def polars_schema(self) -> pl.Schema:
        return pl.Schema({name: col.dtype for name, col in self.columns.items()})

    def empty(self) -> pl.DataFrame:
        """An empty frame with this table's full schema."""
        return pl.DataFrame(schema=self.polars_schema)


def _c(dtype: pl.DataType, *, required: bool = True, nullable: bool = True) -> Column:
    return Column(dtype=dtype, required=required, nullable=nullable)


USERS = TableSchema(
    name="users",
    grain="one row per CRM user (or queue)",
    columns={
        "user_id": _c(pl.String(), nullable=False),
        "name": _c(pl.String(), required=False),
        "team": _c(pl.String()),
        "function": _c(Function),
        "manager_id": _c(pl.String(), required=False),
        "is_queue": _c(pl.Boolean(), required=False),
    },
    primary_key=("user_id",),
    required_table=True,
)

STAGES = TableSchema(
    name="stages",
    grain="one row per opportunity stage, in pipeline order",
    columns={
        "stage": _c(pl.String(), nullable=False),
        "position": _c(pl.Int32(), nullable=False),
        "owner_function": _c(Function, nullable=False),
        "is_closed": _c(pl.Boolean(), nullable=False),
        "is_won": _c(pl.Boolean(), nullable=False),
    },
    primary_key=("stage",),
    required_table=True,
)

OPPORTUNITIES = TableSchema(
    name="opportunities",
    grain="one row per opportunity, as it is now",
    columns={
        "opp_id": _c(pl.String(), nullable=False),
        "name": _c(pl.String(), required=False),
        "account_id": _c(pl.String(), required=False),
        "owner_id": _c(pl.String()),
        "stage": _c(pl.String(), nullable=False),
        "amount": _c(pl.Float64()),
        "created_at": _c(UTC_DATETIME, nullable=False),
        "close_date": _c(pl.Date()),
        "is_closed": _c(pl.Boolean(), nullable=False),
        "is_won": _c(pl.Boolean(), nullable=False),
        "forecast_category": _c(OppForecastCategory, required=False),
        "lead_source": _c(pl.String(), required=False),
        "campaign_id": _c(pl.String(), required=False),
        "sourced_by": _c(SourcedBy, required=False),
        "segment": _c(pl.String(), required=False),
    },
    primary_key=("opp_id",),
    foreign_keys=(
        ForeignKey("owner_id", "users", "user_id", strict=False),
        ForeignKey("stage", "stages", "stage"),
        ForeignKey("campaign_id", "campaigns", "campaign_id", strict=False),
    ),
    required_table=True,
)

STAGE_HISTORY = TableSchema(
    name="stage_history",
    grain="one row per change of stage, amount, close date or category (OpportunityHistory)",
    columns={
        "opp_id": _c(pl.String(), nullable=False),
        "stage": _c(pl.String(), nullable=False),
        "entered_at": _c(UTC_DATETIME, nullable=False),
        "amount": _c(pl.Float64(), required=False),
        "close_date": _c(pl.Date(), required=False),
        "forecast_category": _c(OppForecastCategory, required=False),
        # The source's own id of the history record (OpportunityHistory.Id), where it has
        # one: incremental refreshes merge on it (two rows can share a second and a stage).
        "history_id": _c(pl.String(), required=False),
    },
    foreign_keys=(
        ForeignKey("opp_id", "opportunities", "opp_id"),
        ForeignKey("stage", "stages", "stage"),
    ),
)

LEADS = TableSchema(
    name="leads",
    grain="one row per lead, with the first time it reached each funnel step",
    columns={
        "lead_id": _c(pl.String(), nullable=False),
        "created_at": _c(UTC_DATETIME, nullable=False),
        "owner_id": _c(pl.String()),
        "source": _c(pl.String()),
        "campaign_id": _c(pl.String(), required=False),
        "status": _c(pl.String(), required=False),
        "mql_at": _c(UTC_DATETIME, required=False),
        "sal_at": _c(UTC_DATETIME, required=False),
        "sql_at": _c(UTC_DATETIME, required=False),
        "converted_at": _c(UTC_DATETIME, required=False),
        "converted_opp_id": _c(pl.String(), required=False),
        "disqualified_at": _c(UTC_DATETIME, required=False),
        "first_touch_at": _c(UTC_DATETIME, required=False),
    },
    primary_key=("lead_id",),
    foreign_keys=(
        ForeignKey("converted_opp_id", "opportunities", "opp_id", strict=False),
        ForeignKey("campaign_id", "campaigns", "campaign_id", strict=False),
        ForeignKey("owner_id", "users", "user_id", strict=False),
    ),
)

LEAD_HISTORY = TableSchema(
    name="lead_history",
    grain="one row per lead status (or owner) change (LeadHistory)",
    columns={
        "lead_id": _c(pl.String(), nullable=False),
        "status": _c(pl.String(), nullable=False),
        "entered_at": _c(UTC_DATETIME, nullable=False),
        "owner_id": _c(pl.String(), required=False),
        "history_id": _c(pl.String(), required=False),  # LeadHistory.Id, for merges
    },
    foreign_keys=(ForeignKey("lead_id", "leads", "lead_id"),),
)

CAMPAIGNS = TableSchema(
    name="campaigns",
    grain="one row per marketing campaign",
    columns={
        "campaign_id": _c(pl.String(), nullable=False),
        "name": _c(pl.String(), required=False),
        "channel": _c(pl.String()),
        "start_date": _c(pl.Date(), required=False),
        "end_date": _c(pl.Date(), required=False),
        "cost": _c(pl.Float64(), required=False),
    },
    primary_key=("campaign_id",),
)

CAMPAIGN_MEMBERS = TableSchema(
    name="campaign_members",
    grain="one row per lead per campaign it is a member of",
    columns={
        "campaign_id": _c(pl.String(), nullable=False),
        "lead_id": _c(pl.String(), nullable=False),
        "responded_at": _c(UTC_DATETIME),
    },
    primary_key=("campaign_id", "lead_id"),
    foreign_keys=(
        ForeignKey("campaign_id", "campaigns", "campaign_id"),
        ForeignKey("lead_id", "leads", "lead_id"),
    ),
)

FORECASTS = TableSchema(
    name="forecasts",
    grain="one row per forecast submission (period, team, owner, category, time): all kept",
    columns={
        "period": _c(pl.String(), nullable=False),
        "team": _c(pl.String(), nullable=False),
        "owner_id": _c(pl.String()),
        "submitted_at": _c(UTC_DATETIME, nullable=False),
        "category": _c(SubmissionCategory, nullable=False),
        "amount": _c(pl.Float64(), nullable=False),
    },
    primary_key=("period", "team", "owner_id", "submitted_at", "category"),
)

QUOTAS = TableSchema(
    name="quotas",
    grain="one row per period and team (owner_id set for a per-rep quota)",
    columns={
        "period": _c(pl.String(), nullable=False),
        "team": _c(pl.String(), nullable=False),
        "owner_id": _c(pl.String()),
        "amount": _c(pl.Float64(), nullable=False),
    },
    primary_key=("period", "team", "owner_id"),
)

TABLES: dict[str, TableSchema] = {
    t.name: t
    for t in (
        USERS,
        STAGES,
        OPPORTUNITIES,
        STAGE_HISTORY,
        LEADS,
        LEAD_HISTORY,
        CAMPAIGNS,
        CAMPAIGN_MEMBERS,
        FORECASTS,
        QUOTAS,
    )
}

# Order in which tables are validated and written, so references resolve.
TABLE_ORDER: tuple[str, ...] = tuple(TABLES)


def conform(name: str, frame: pl.DataFrame) -> pl.DataFrame:
    """Add absent optional columns as nulls and order columns as the schema does.

    Assumes `frame` has already passed validation (types are right).
    """
    schema = TABLES[name]
    missing = [
        pl.lit(None, dtype=col.dtype).alias(col_name)
        for col_name, col in schema.columns.items()
        if col_name not in frame.columns
    ]
    return frame.with_columns(missing).select(list(schema.columns))
