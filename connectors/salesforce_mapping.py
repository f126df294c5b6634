"""Salesforce objects → the canonical model: which fields to pull, how to type and map them.

The field mapping comes from ``[sources.salesforce]`` in scorecard.toml (`MappingConfig`):
standard fields by default, the org's custom fields for funnel dates, segment and
``sourced_by``, and where a user's team comes from (role, a user field, a mapping table).
Everything here is polars expressions over whole frames; nothing touches the network.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import polars as pl

from connectors.base import roles_problem
from model.calendar import period_expr
from model.schema import SOURCED_BY, TABLES

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
CATEGORIES = {
    "Pipeline": "pipeline",
    "BestCase": "best_case",
    "MostLikely": "most_likely",
    "Forecast": "commit",
    "Closed": "closed",
    "Omitted": "omitted",
}
SUBMISSION_CATEGORIES = {
    "CommitForecast": "commit",
    "BestCaseForecast": "best_case",
    "OpenPipeline": "pipeline",
}
# How each standard field is typed; custom funnel dates may be date or datetime ("stamp").
TYPES = {
    "Amount": "float",
    "QuotaAmount": "float",
    "ActualCost": "float",
    "SortOrder": "int",
    "CloseDate": "date",
    "StartDate": "date",
    "EndDate": "date",
    "FirstRespondedDate": "stamp",
    "ConvertedDate": "stamp",
    "CreatedDate": "datetime",
    "SystemModstamp": "datetime",
    "IsDeleted": "bool",
    "IsClosed": "bool",
    "IsWon": "bool",
}
STAMP_FIELDS = (
    "mql_at",
    "sal_at",
    "sql_at",
    "converted_at",
    "disqualified_at",
    "first_touch_at",
    "responded_at",
)


class MappingError(ValueError):
    """The field mapping in scorecard.toml is not usable."""


@dataclass(frozen=True)
class MappingConfig:
    """Which Salesforce field feeds each canonical column that orgs customise."""

    team_from: str = "role"  # "role" (UserRole.Name) or "field" (team_field on User)
    team_field: str = "Department"
    function_field: str = ""  # a User field holding the function; else `functions` by team
    default_function: str = "sales"
    teams: dict[str, str] = field(default_factory=dict)  # role / field value / queue → team
    functions: dict[str, str] = field(default_factory=dict)  # team → function
    stage_owners: dict[str, str] = field(default_factory=dict)  # stage → owning function
    segment: str = ""  # Opportunity field, e.g. "Segment__c"
    sourced_by: str = ""  # Opportunity field holding marketing / sales / partner
    sourced_by_lead_source: dict[str, str] = field(default_factory=dict)  # LeadSource → value
    lead_campaign: str = ""  # Lead field with the primary campaign id
    lead_status_field: str = "Status"  # the LeadHistory field whose changes are lead_history
    mql_at: str = ""
    sal_at: str = ""
    sql_at: str = ""
    converted_at: str = "ConvertedDate"
    disqualified_at: str = ""
    first_touch_at: str = ""
    campaign_channel: str = "Type"
    campaign_cost: str = "ActualCost"
    responded_at: str = "FirstRespondedDate"
    quotas: str = "team"  # "team": a quota holder's quota is the team's; "owner": per rep

    @classmethod
    def from_toml(cls, raw: Mapping[str, Any]) -> MappingConfig:
        fields = dict(raw.get("fields", {}))
        tables = {k: dict(raw.get(k, {})) for k in ("teams", "functions", "stage_owners")}
        tables["sourced_by_lead_source"] = dict(raw.get("sourced_by_rules", {}))
        users = dict(raw.get("users", {}))
        try:
            cfg = cls(**users, **fields, **tables)
        except TypeError as exc:
            raise MappingError(f"[sources.salesforce]: {exc}") from exc
        cfg.check()
        return cfg

    def check(self) -> None:
        names = [
            getattr(self, f)
            for f in (
                "team_field",
                "function_field",
                "segment",
                "sourced_by",
                "lead_campaign",
                "lead_status_field",
                "campaign_channel",
                "campaign_cost",
                *STAMP_FIELDS,
            )
        ]
        bad = [n for n in names if n and not _NAME.match(n)]
        if bad:
            raise MappingError(f"[sources.salesforce.fields]: not a Salesforce field name: {bad}")
        problem = roles_problem(
            self.functions, self.stage_owners, self.default_function, self.sourced_by_lead_source
        )
        if problem:
            raise MappingError(problem)
        if self.team_from not in ("role", "field") or self.quotas not in ("team", "owner"):
            raise MappingError("team_from must be 'role' or 'field'; quotas 'team' or 'owner'")

    def fingerprint(self) -> str:
        """Changes when the mapping changes, so an incremental refresh is not mixed with it."""
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]


def _opt(*names: str) -> list[str]:
    return [n for n in names if n]


def object_fields(cfg: MappingConfig) -> dict[str, list[str]]:
    """The fields pulled from each object (custom ones from the mapping)."""
    return {
        "User": [
            "Id",
            "Name",
            "UserRoleId",
            "ManagerId",
            *_opt(cfg.team_field if cfg.team_from == "field" else "", cfg.function_field),
        ],
        "UserRole": ["Id", "Name"],
        "Group": ["Id", "Name", "Type"],
        "OpportunityStage": ["ApiName", "SortOrder", "IsClosed", "IsWon"],
        "Opportunity": [
            "Id",
            "IsDeleted",
            "Name",
            "AccountId",
            "OwnerId",
            "StageName",
            "Amount",
            "CreatedDate",
            "CloseDate",
            "IsClosed",
            "IsWon",
            "ForecastCategory",
            "LeadSource",
            "CampaignId",
            "SystemModstamp",
            *_opt(cfg.segment, cfg.sourced_by),
        ],
        "OpportunityHistory": [
            "Id",
            "IsDeleted",
            "OpportunityId",
            "StageName",
            "CreatedDate",
            "Amount",
            "CloseDate",
            "ForecastCategory",
            "SystemModstamp",
        ],
        "Lead": [
            "Id",
            "IsDeleted",
            "CreatedDate",
            "OwnerId",
            "LeadSource",
            "Status",
            "ConvertedOpportunityId",
            "SystemModstamp",
            *_opt(cfg.lead_campaign, *(getattr(cfg, f) for f in STAMP_FIELDS[:-1])),
        ],
        "LeadHistory": [
            "Id",
            "IsDeleted",
            "LeadId",
            "Field",
            "DataType",
            "OldValue",
            "NewValue",
            "CreatedDate",
        ],
        "Campaign": [
            "Id",
            "IsDeleted",
            "Name",
            "StartDate",
            "EndDate",
            *_opt(cfg.campaign_channel, cfg.campaign_cost),
        ],
        "CampaignMember": [
            "Id",
            "IsDeleted",
            "CampaignId",
            "LeadId",
            "SystemModstamp",
            *_opt(cfg.responded_at),
        ],
        "ForecastingQuota": ["Id", "QuotaOwnerId", "QuotaAmount", "StartDate"],
        "Period": ["Id", "StartDate"],
        "ForecastingSubmission": ["Id", "ForecastOwnerId", "PeriodId", "CreatedDate"],
        "ForecastingSubmissionItem": [
            "ForecastingSubmissionId",
            "ForecastingItemCategory",
            "Amount",
        ],
    }


def _kind(name: str, cfg: MappingConfig) -> str:
    stamps = {getattr(cfg, f) for f in STAMP_FIELDS}
    return "stamp" if name in stamps else TYPES.get(name, "text")


def _cast(name: str, kind: str) -> pl.Expr:
    text = pl.col(name).replace("", None)
    utc = {"time_unit": "us", "time_zone": "UTC"}
    datetime_ = text.str.to_datetime("%Y-%m-%dT%H:%M:%S%.3fZ", strict=False, **utc)
    date_ = text.str.to_date("%Y-%m-%d", strict=False)
    return {
        "text": text,
        "float": text.cast(pl.Float64, strict=False),
        "int": text.cast(pl.Float64, strict=False).cast(pl.Int64),
        "bool": text == "true",
        "date": date_,
        "datetime": datetime_,
        "stamp": pl.coalesce(datetime_, date_.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")),
    }[kind].alias(name)


def typed(raw: pl.DataFrame, cfg: MappingConfig) -> tuple[pl.DataFrame, dict[str, int]]:
    """Cast the text columns of a result; also count values that did not parse, per field."""
    kinds = {c: _kind(c, cfg) for c in raw.columns}
    out = raw.select(_cast(c, k) for c, k in kinds.items())
    bad = raw.select(
        ((pl.col(c) != "") & out[c].is_null()).sum().alias(c)
        for c, k in kinds.items()
        if k not in ("text", "bool")
    )
    return out, {c: n for c, n in (bad.row(0, named=True) if bad.width else {}).items() if n}


# --- mapping -----------------------------------------------------------------------------


def _live(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.filter(~pl.col("IsDeleted")) if "IsDeleted" in frame.columns else frame


def _lookup(expr: pl.Expr, table: Mapping[str, str]) -> pl.Expr:
    return expr.replace(dict(table)) if table else expr


def _finish(name: str, frame: pl.DataFrame) -> pl.DataFrame:
    schema = TABLES[name]
    order = HISTORY_ORDER.get(name) or list(schema.primary_key) or frame.columns[:3]
    return frame.cast({c: schema.columns[c].dtype for c in frame.columns}).sort(
        order, maintain_order=True
    )


def users(raw: Mapping[str, pl.DataFrame], cfg: MappingConfig) -> pl.DataFrame:
    """Users with their team (role name, or a user field, through the `teams` table) and
    function (a user field, or the `functions` table by team); queues as `is_queue` users."""
    people = raw["User"].join(
        raw["UserRole"].select(UserRoleId="Id", _role="Name"), on="UserRoleId", how="left"
    )
    key = pl.col("_role") if cfg.team_from == "role" else pl.col(cfg.team_field)
    queues = raw["Group"].filter(pl.col("Type") == "Queue")
    rows = pl.concat(
        [
            people.select(
                user_id="Id",
                name="Name",
                _key=key,
                manager_id="ManagerId",
                is_queue=pl.lit(False),
                _fn=pl.col(cfg.function_field) if cfg.function_field else pl.lit(None, pl.String),
            ),
            queues.select(
                user_id="Id",
                name="Name",
                _key="Name",
                manager_id=pl.lit(None, pl.String),
                is_queue=pl.lit(True),
                _fn=pl.lit(None, pl.String),
            ),
        ]
    )
    team = _lookup(pl.col("_key"), cfg.teams)
    by_team = team.replace_strict(cfg.functions, default=None) if cfg.functions else None
    function = pl.coalesce(
        [e for e in (pl.col("_fn").str.to_lowercase(), by_team) if e is not None]
        + [pl.lit(cfg.default_function)]
    )
    return _finish(
        "users",
        rows.with_columns(team=team)
        .with_columns(function=function)
        .select("user_id", "name", "team", "function", "manager_id", "is_queue"),
    )


def stages(raw: Mapping[str, pl.DataFrame], cfg: MappingConfig) -> pl.DataFrame:
    """Stages in Salesforce's sort order; the owning function comes from `stage_owners`."""
    frame = raw["OpportunityStage"].sort("SortOrder", "ApiName")
    owner = (
        pl.col("ApiName").replace_strict(cfg.stage_owners, default=cfg.default_function)
        if cfg.stage_owners
        else pl.lit(cfg.default_function)
    )
    return _finish(
        "stages",
        frame.select(
            stage="ApiName",
            position=pl.int_range(1, pl.len() + 1),
            owner_function=owner,
            is_closed="IsClosed",
            is_won="IsWon",
        ),
    )


def _sourced_by(cfg: MappingConfig) -> pl.Expr:
    by_field = (
        pl.col(cfg.sourced_by).str.to_lowercase() if cfg.sourced_by else pl.lit(None, pl.String)
    )
    by_rule = (
        pl.col("LeadSource").replace_strict(cfg.sourced_by_lead_source, default=None)
        if cfg.sourced_by_lead_source
        else pl.lit(None, pl.String)
    )
    value = pl.coalesce(by_field, by_rule, pl.lit("unknown"))
    return pl.when(value.is_in(SOURCED_BY)).then(value).otherwise(pl.lit("unknown"))


def opportunities(opp: pl.DataFrame, cfg: MappingConfig) -> pl.DataFrame:
    """Live opportunities; `sourced_by` from the configured field, else LeadSource rules."""
    return _finish(
        "opportunities",
        _live(opp).select(
            opp_id="Id",
            name="Name",
            account_id="AccountId",
            owner_id="OwnerId",
            stage="StageName",
            amount="Amount",
            created_at="CreatedDate",
            close_date="CloseDate",
            is_closed="IsClosed",
            is_won="IsWon",
            forecast_category=pl.col("ForecastCategory").replace_strict(CATEGORIES, default=None),
            lead_source="LeadSource",
            campaign_id="CampaignId",
            sourced_by=_sourced_by(cfg),
            segment=pl.col(cfg.segment) if cfg.segment else pl.lit(None, pl.String),
        ),
    )


def stage_history(hist: pl.DataFrame) -> pl.DataFrame:
    """OpportunityHistory rows as they are (each carries the then-current values)."""
    return _finish(
        "stage_history",
        _live(hist)
        .select(
            opp_id="OpportunityId",
            stage="StageName",
            entered_at="CreatedDate",
            amount="Amount",
            close_date="CloseDate",
            forecast_category=pl.col("ForecastCategory").replace_strict(CATEGORIES, default=None),
            history_id="Id",
        )
        .sort(HISTORY_ORDER["stage_history"]),
    )


def _field_or_null(name: str, dtype: pl.DataType) -> pl.Expr:
    return pl.col(name) if name else pl.lit(None, dtype)


def leads(lead: pl.DataFrame, cfg: MappingConfig) -> pl.DataFrame:
    """Live leads; funnel timestamps from the configured (usually custom) fields."""
    utc = TABLES["leads"].columns["mql_at"].dtype
    stamps = {f: _field_or_null(getattr(cfg, f), utc) for f in STAMP_FIELDS[:-1]}
    return _finish(
        "leads",
        _live(lead).select(
            lead_id="Id",
            created_at="CreatedDate",
            owner_id="OwnerId",
            source="LeadSource",
            campaign_id=_field_or_null(cfg.lead_campaign, pl.String()),
            status="Status",
            **stamps,
            converted_opp_id="ConvertedOpportunityId",
        ),
    )


def lead_history(hist: pl.DataFrame, leads_now: pl.DataFrame, cfg: MappingConfig) -> pl.DataFrame:
    """Status changes, each with the lead's owner at that moment: the latest owner change at
    or before it, else the previous owner of the next change, else the lead's owner now."""
    live = _live(hist)
    status = (
        live.filter(pl.col("Field") == cfg.lead_status_field)
        .select(lead_id="LeadId", status="NewValue", entered_at="CreatedDate", history_id="Id")
        .sort("entered_at", "history_id")
    )
    moves = (
        live.filter((pl.col("Field") == "Owner") & (pl.col("DataType") == "EntityId"))
        .select(lead_id="LeadId", at="CreatedDate", old="OldValue", new="NewValue")
        .sort("at")
    )
    before = status.join_asof(
        moves.select("lead_id", "at", "new"),
        left_on="entered_at",
        right_on="at",
        by="lead_id",
        strategy="backward",
        check_sortedness=False,  # both sides are sorted by time above
    )
    after = before.join_asof(
        moves.select("lead_id", at2="at", old="old"),
        left_on="entered_at",
        right_on="at2",
        by="lead_id",
        strategy="forward",
        allow_exact_matches=False,
        check_sortedness=False,
    )
    now = after.join(leads_now.select("lead_id", now_owner="owner_id"), on="lead_id", how="left")
    return _finish(
        "lead_history",
        now.select(
            "lead_id",
            "status",
            "entered_at",
            owner_id=pl.coalesce("new", "old", "now_owner"),
            history_id="history_id",
        ).sort(HISTORY_ORDER["lead_history"]),
    )


def campaigns(camp: pl.DataFrame, cfg: MappingConfig) -> pl.DataFrame:
    return _finish(
        "campaigns",
        _live(camp).select(
            campaign_id="Id",
            name="Name",
            channel=_field_or_null(cfg.campaign_channel, pl.String()),
            start_date="StartDate",
            end_date="EndDate",
            cost=_field_or_null(cfg.campaign_cost, pl.Float64()),
        ),
    )


def campaign_members(members: pl.DataFrame, cfg: MappingConfig) -> pl.DataFrame:
    """Lead members only (contact members have no lead)."""
    utc = TABLES["campaign_members"].columns["responded_at"].dtype
    return _finish(
        "campaign_members",
        _live(members)
        .filter(pl.col("LeadId").is_not_null())
        .select(
            campaign_id="CampaignId",
            lead_id="LeadId",
            responded_at=_field_or_null(cfg.responded_at, utc),
        ),
    )


def _team_of(frame: pl.DataFrame, owner: str, users_: pl.DataFrame) -> pl.DataFrame:
    return frame.join(users_.select(pl.col("user_id").alias(owner), "team"), on=owner, how="left")


def quotas(
    raw: Mapping[str, pl.DataFrame],
    users_: pl.DataFrame,
    cfg: MappingConfig,
    fiscal_start_month: int,
) -> pl.DataFrame:
    """Quotas by period and the holder's team (owner_id kept when `quotas = "owner"`)."""
    frame = _team_of(raw["ForecastingQuota"], "QuotaOwnerId", users_)
    owner = pl.col("QuotaOwnerId") if cfg.quotas == "owner" else pl.lit(None, pl.String)
    return _finish(
        "quotas",
        frame.group_by(
            period=period_expr(pl.col("StartDate"), fiscal_start_month=fiscal_start_month),
            team="team",
            owner_id=owner,
        )
        .agg(amount=pl.col("QuotaAmount").sum())
        .sort("period", "team", "owner_id"),
    )


def forecasts(
    raw: Mapping[str, pl.DataFrame], users_: pl.DataFrame, fiscal_start_month: int
) -> pl.DataFrame:
    """Every forecast submission (ForecastingSubmission + items), team = submitter's team."""
    heads = raw["ForecastingSubmission"].join(
        raw["Period"].select(PeriodId="Id", _start="StartDate"), on="PeriodId", how="left"
    )
    items = raw["ForecastingSubmissionItem"].filter(
        pl.col("ForecastingItemCategory").is_in(list(SUBMISSION_CATEGORIES))
    )
    frame = _team_of(
        items.join(heads, left_on="ForecastingSubmissionId", right_on="Id"),
        "ForecastOwnerId",
        users_,
    )
    return _finish(
        "forecasts",
        frame.select(
            period=period_expr(pl.col("_start"), fiscal_start_month=fiscal_start_month),
            team="team",
            owner_id="ForecastOwnerId",
            submitted_at="CreatedDate",
            category=pl.col("ForecastingItemCategory").replace_strict(SUBMISSION_CATEGORIES),
            amount="Amount",
        ).sort("period", "team", "owner_id", "submitted_at", "category"),
    )


# --- incremental merge -------------------------------------------------------------------


def merge_keyed(
    name: str, old: pl.DataFrame, new: pl.DataFrame, touched: pl.DataFrame
) -> pl.DataFrame:
    """`old` without the rows whose key is in `touched` (the delta, live or deleted), plus
    the delta's live rows."""
    kept = old.join(touched, on=touched.columns, how="anti", nulls_equal=True)
    return _finish(name, pl.concat([kept, new.select(old.columns)]))


def merge_history(
    old: pl.DataFrame,
    new: pl.DataFrame,
    deleted: pl.DataFrame,
    dead_parents: pl.Series,
    parent: str,
) -> pl.DataFrame:
    """History rows are immutable and keyed by their own record id (`history_id`): drop the
    deleted ones and those of deleted parents, add the new ones; a row seen again (the
    look-back window) is kept once. Two rows of one deal can share a second and a stage (an
    amount change written by a flow right after a stage change): only the record id tells
    them apart. Rows stored before ids were kept (no `history_id`) fall back to matching on
    (parent, time, stage/status)."""
    name = "stage_history" if parent == "opp_id" else "lead_history"
    legacy = old.filter(pl.col("history_id").is_null())
    if legacy.is_empty():
        key = ["history_id"]
    else:  # an older snapshot: its rows have no ids yet
        key = [parent, "entered_at", "stage" if "stage" in old.columns else "status"]
    kept = old.join(deleted.select(key), on=key, how="anti", nulls_equal=True)
    kept = kept.filter(~pl.col(parent).is_in(dead_parents.implode()))
    both = pl.concat([kept, new.select(old.columns)]).unique(
        subset=key, keep="first", maintain_order=True
    )
    return both.sort(HISTORY_ORDER[name])


# Both history tables in time order; rows of one instant in record-id order (Salesforce ids
# grow with creation), so a full and an incremental refresh store the same rows in the
# same order.
HISTORY_ORDER = {
    "stage_history": ["opp_id", "entered_at", "history_id"],
    "lead_history": ["lead_id", "entered_at", "history_id"],
}
