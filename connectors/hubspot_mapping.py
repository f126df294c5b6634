"""HubSpot CRM records → the canonical model: which properties to pull, how to read them.

Mapped the way the Fivetran HubSpot preset (connectors/presets/fivetran_hubspot.toml) maps
the same objects: owners are the users, with the name of their primary team as the team
and `sales` as the function unless `functions` says otherwise; pipeline stages are the
stages (owning function from `stage_owners`, default `sales`); deals are the opportunities,
closed / won following from their stage; the deal-stage history is the stage history.
Beyond the preset: a deal's pipeline is its segment (several pipelines are kept apart), the
amount / close date / forecast category history comes with the stage history
(``propertiesWithHistory``), and contacts are the leads, their lifecycle-stage dates the
funnel steps and their lead-status history the lead history.

Everything here is polars expressions over whole frames; nothing touches the network.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import polars as pl

from connectors.base import roles_problem
from model.schema import SOURCED_BY, TABLES

S = pl.String()
UTC = pl.Datetime("us", "UTC")
_NAME = re.compile(r"^[a-z0-9_]+$")

# HubSpot's forecast categories (deal property hs_manual_forecast_category) → canonical.
FORECAST_CATEGORIES = {
    "PIPELINE": "pipeline",
    "BEST_CASE": "best_case",
    "COMMIT": "commit",
    "CLOSED": "closed",
    "OMIT": "omitted",
}
# HubSpot's original-source values (contact property hs_analytics_source) as people say them.
ANALYTICS_SOURCES = {
    "ORGANIC_SEARCH": "Organic Search",
    "PAID_SEARCH": "Paid Search",
    "EMAIL_MARKETING": "Email Marketing",
    "SOCIAL_MEDIA": "Organic Social",
    "PAID_SOCIAL": "Paid Social",
    "REFERRALS": "Referrals",
    "OTHER_CAMPAIGNS": "Other Campaigns",
    "DIRECT_TRAFFIC": "Direct Traffic",
    "OFFLINE": "Offline Sources",
    "AI_REFERRALS": "AI Referrals",
}
# HubSpot's default lead statuses (contact property hs_lead_status) as people say them.
LEAD_STATUSES = {
    "NEW": "New",
    "OPEN": "Open",
    "IN_PROGRESS": "In Progress",
    "OPEN_DEAL": "Open Deal",
    "UNQUALIFIED": "Unqualified",
    "ATTEMPTED_TO_CONTACT": "Attempted to Contact",
    "CONNECTED": "Connected",
    "BAD_TIMING": "Bad Timing",
}
LIFECYCLE_DATE = "hs_lifecyclestage_{}_date"
DELETED_STAGE = "(deleted stage {})"  # a stage id no pipeline lists any more
# The lead funnel columns that come from a contact property (a date or datetime).
FUNNEL = ("mql_at", "sal_at", "sql_at", "converted_at", "disqualified_at", "first_touch_at")


class MappingError(ValueError):
    """The HubSpot mapping in scorecard.toml is not usable."""


@dataclass(frozen=True)
class MappingConfig:
    """Which HubSpot property feeds each canonical column that portals customise."""

    default_function: str = "sales"
    teams: dict[str, str] = field(default_factory=dict)  # HubSpot team name → team
    functions: dict[str, str] = field(default_factory=dict)  # team → function
    stage_owners: dict[str, str] = field(default_factory=dict)  # stage → owning function
    stage_names: dict[str, str] = field(default_factory=dict)  # stage id → name (else label)
    queues: tuple[str, ...] = ()  # owner ids or emails that are shared queues, not people
    segment: str = "pipeline"  # "pipeline" (its label) or a deal property
    forecast_category: str = "hs_manual_forecast_category"
    deal_lead_source: str = ""  # a deal property, e.g. a custom "lead_source"
    sourced_by: str = ""  # a deal property holding marketing / sales / partner
    sourced_by_lead_source: dict[str, str] = field(default_factory=dict)  # lead source → value
    lead_source: str = "hs_analytics_source"
    lead_sources: dict[str, str] = field(default_factory=lambda: dict(ANALYTICS_SOURCES))
    lead_status: str = "hs_lead_status"
    lead_statuses: dict[str, str] = field(default_factory=lambda: dict(LEAD_STATUSES))
    lead_campaign: str = ""  # a contact property holding a campaign id
    mql_at: str = LIFECYCLE_DATE.format("marketingqualifiedlead")
    sal_at: str = ""  # HubSpot has no "sales accepted" lifecycle stage: a custom property
    sql_at: str = LIFECYCLE_DATE.format("salesqualifiedlead")
    converted_at: str = LIFECYCLE_DATE.format("opportunity")
    disqualified_at: str = ""
    first_touch_at: str = ""
    quota_goals: tuple[str, ...] = ()  # names of the goals (hs_goal_name) that are quotas
    quotas: str = "team"  # "team": the targets of a team summed; "owner": per rep
    campaign_contacts: tuple[str, ...] = ("contactFirstTouch",)  # which report is membership
    campaign_channel: str = ""  # a campaign property holding its channel ("Webinar", ...)
    campaign_cost: str = "hs_spend_items_sum_amount"

    @classmethod
    def from_toml(cls, raw: Mapping[str, Any]) -> MappingConfig:
        tables = {
            k: {str(a): str(b) for a, b in dict(raw.get(k, {})).items()}
            for k in ("teams", "functions", "stage_owners", "stage_names", "lead_statuses")
        }
        tables = {k: v for k, v in tables.items() if v or k != "lead_statuses"}
        if "lead_sources" in raw:
            tables["lead_sources"] = {str(a): str(b) for a, b in dict(raw["lead_sources"]).items()}
        tables["sourced_by_lead_source"] = dict(raw.get("sourced_by_rules", {}))
        fields = dict(raw.get("fields", {}))
        try:
            cfg = cls(
                **fields,
                **tables,
                queues=tuple(raw.get("queues", ())),
                quota_goals=tuple(raw.get("quota_goals", ())),
                **(
                    {"campaign_contacts": tuple(raw["campaign_contacts"])}
                    if "campaign_contacts" in raw
                    else {}
                ),
                **({"quotas": raw["quotas"]} if "quotas" in raw else {}),
            )
        except TypeError as exc:
            raise MappingError(f"[sources.hubspot]: {exc}") from exc
        cfg.check()
        return cfg

    def check(self) -> None:
        names = [
            self.campaign_channel,
            self.campaign_cost,
            self.forecast_category,
            self.deal_lead_source,
            self.sourced_by,
            self.lead_source,
            self.lead_status,
            self.lead_campaign,
            *(getattr(self, f) for f in FUNNEL),
        ]
        if self.segment != "pipeline":
            names.append(self.segment)
        bad = [n for n in names if n and not _NAME.match(n)]
        if bad:
            raise MappingError(f"[sources.hubspot.fields]: not a HubSpot property name: {bad}")
        problem = roles_problem(
            self.functions, self.stage_owners, self.default_function, self.sourced_by_lead_source
        )
        if problem:
            raise MappingError(problem)
        unknown = set(self.campaign_contacts) - set(CAMPAIGN_CONTACTS)
        if unknown:
            raise MappingError(f"campaign_contacts must be among {CAMPAIGN_CONTACTS}: {unknown}")
        if self.quotas not in ("team", "owner"):
            raise MappingError("quotas must be 'team' or 'owner'")

    def fingerprint(self) -> str:
        """Changes when the mapping changes, so an incremental refresh is not mixed with it."""
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]


def _opt(*names: str) -> list[str]:
    return [n for n in names if n]


def deal_properties(cfg: MappingConfig) -> list[str]:
    return [
        "dealname",
        "hubspot_owner_id",
        "dealstage",
        "pipeline",
        "amount",
        "createdate",
        "closedate",
        "hs_lastmodifieddate",
        *_opt(
            cfg.forecast_category,
            cfg.deal_lead_source,
            cfg.sourced_by,
            "" if cfg.segment == "pipeline" else cfg.segment,
        ),
    ]


def deal_history_properties(cfg: MappingConfig) -> list[str]:
    return ["dealstage", "amount", "closedate", *_opt(cfg.forecast_category)]


def contact_properties(cfg: MappingConfig) -> list[str]:
    return [
        "createdate",
        "hubspot_owner_id",
        "lastmodifieddate",
        "lifecyclestage",
        *_opt(
            cfg.lead_source,
            cfg.lead_status,
            cfg.lead_campaign,
            *dict.fromkeys(getattr(cfg, f) for f in FUNNEL),
        ),
    ]


# The campaign contact reports: contacts whose first / last touch before becoming a contact
# was the campaign (so, before any deal), or every contact it influenced (at any time).
CAMPAIGN_CONTACTS = ("contactFirstTouch", "contactLastTouch", "influencedContacts")


def campaign_properties(cfg: MappingConfig) -> list[str]:
    return [
        "hs_name",
        "hs_start_date",
        "hs_end_date",
        *_opt(cfg.campaign_channel, cfg.campaign_cost),
    ]


GOAL_PROPERTIES = [
    "hs_goal_name",
    "hs_target_amount",
    "hs_start_datetime",
    "hs_end_datetime",
    "hubspot_owner_id",
    "hs_assignee_team_id",
]


def value_kinds(kind: str, cfg: MappingConfig) -> dict[str, str]:
    """The properties read as timestamps ("stamp") or numbers, by object."""
    if kind == "deals":
        return {"createdate": "stamp", "closedate": "stamp", "amount": "number"}
    if kind == "campaigns":
        return {"hs_start_date": "stamp", "hs_end_date": "stamp"} | (
            {cfg.campaign_cost: "number"} if cfg.campaign_cost else {}
        )
    if kind == "goal_targets":
        return {"hs_start_datetime": "stamp", "hs_target_amount": "number"}
    funnel = [getattr(cfg, f) for f in FUNNEL if getattr(cfg, f)]
    return dict.fromkeys(["createdate", "lastmodifieddate", *funnel], "stamp")


def contact_history_properties(cfg: MappingConfig) -> list[str]:
    return _opt(cfg.lead_status, "hubspot_owner_id")


# --- JSON results → frames ---------------------------------------------------------------


def records(results: Sequence[Mapping[str, Any]], properties: Sequence[str]) -> pl.DataFrame:
    """CRM object results (``id``, ``properties``, ``archived``) → one all-text frame with a
    column per requested property (null where HubSpot sent none)."""
    props = list(dict.fromkeys(properties))
    schema = {
        "id": S,
        "archived": pl.Boolean(),
        "archivedAt": S,
        "properties": pl.Struct(dict.fromkeys(props, S)),
    }
    frame = pl.from_dicts(list(results), schema=schema) if results else pl.DataFrame(schema=schema)
    return frame.unnest("properties").with_columns(pl.col("archived").fill_null(False))


def history(results: Sequence[Mapping[str, Any]], properties: Sequence[str]) -> pl.DataFrame:
    """``propertiesWithHistory`` of batch-read results → one row per recorded value:
    (id, property, value, at), oldest first per record and property."""
    props = list(dict.fromkeys(properties))
    version = pl.List(pl.Struct({"value": S, "timestamp": S}))
    schema = {"id": S, "propertiesWithHistory": pl.Struct(dict.fromkeys(props, version))}
    out = {"id": S, "property": S, "value": S, "at": UTC}
    if not results or not props:
        return pl.DataFrame(schema=out)
    return (
        pl.from_dicts(list(results), schema=schema)
        .unnest("propertiesWithHistory")
        .unpivot(index="id", variable_name="property", value_name="v")
        .explode("v")
        .unnest("v")
        .filter(pl.col("timestamp").is_not_null())
        .select("id", "property", value=pl.col("value").replace("", None), at=stamp("timestamp"))
        .sort("id", "property", "at", maintain_order=True)
    )


def stamp(name: str) -> pl.Expr:
    """An ISO timestamp ("…T…Z", with or without milliseconds), a date, or epoch
    milliseconds (as older properties hold them), as a UTC instant."""
    text = pl.col(name).replace("", None)
    when = text.str.to_datetime("%Y-%m-%dT%H:%M:%S%.fZ", strict=False, time_unit="us")
    day = text.str.to_date("%Y-%m-%d", strict=False).cast(pl.Datetime("us"))
    epoch = pl.from_epoch(
        pl.when(text.str.contains(r"^\d{10,13}$")).then(text).cast(pl.Int64, strict=False),
        time_unit="ms",
    )
    return pl.coalesce(when, day, epoch).dt.replace_time_zone("UTC")


def number(name: str) -> pl.Expr:
    return pl.col(name).replace("", None).cast(pl.Float64, strict=False)


def unreadable(frame: pl.DataFrame, kinds: Mapping[str, str]) -> str:
    """The timestamp / number properties whose non-empty values did not parse, each with
    how many and the first such record and value ("" when all parse)."""
    problems = []
    for col, kind in kinds.items():
        if col not in frame.columns:
            continue
        parsed = stamp(col) if kind == "stamp" else number(col)
        bad = frame.filter(pl.col(col).replace("", None).is_not_null() & parsed.is_null())
        if bad.height:
            first = bad.sort("id").row(0, named=True)
            problems.append(
                f"{col} in {bad.height:,} record(s), e.g. id {first['id']}: {first[col]!r}"
            )
    return "; ".join(problems)


# --- mapping -----------------------------------------------------------------------------


def _finish(name: str, frame: pl.DataFrame) -> pl.DataFrame:
    schema = TABLES[name]
    order = HISTORY_ORDER.get(name) or list(schema.primary_key)
    return frame.cast({c: schema.columns[c].dtype for c in frame.columns}).sort(
        order, maintain_order=True
    )


def _lookup(expr: pl.Expr, table: Mapping[str, str]) -> pl.Expr:
    return expr.replace(dict(table)) if table else expr


def users(owners: pl.DataFrame, cfg: MappingConfig) -> pl.DataFrame:
    """Owners (active and archived) with the name of their primary team as the team; the
    function by team from `functions`; owners listed in `queues` are queues."""
    team = _lookup(pl.col("team_name"), cfg.teams)
    function = (
        team.replace_strict(cfg.functions, default=cfg.default_function)
        if cfg.functions
        else pl.lit(cfg.default_function)
    )
    name = pl.concat_str(
        [pl.col("firstName").fill_null(""), pl.col("lastName").fill_null("")], separator=" "
    ).str.strip_chars()
    queue = pl.col("id").is_in(list(cfg.queues)) | pl.col("email").is_in(list(cfg.queues))
    return _finish(
        "users",
        owners.unique("id", keep="first", maintain_order=True).select(
            user_id="id",
            name=pl.when(name != "").then(name).otherwise(pl.col("email")),
            team=team,
            function=function,
            manager_id=pl.lit(None, S),  # HubSpot keeps no manager of an owner
            is_queue=queue,
        ),
    )


def stage_table(pipelines: pl.DataFrame, cfg: MappingConfig) -> pl.DataFrame:
    """One row per pipeline stage: (pipeline id and label, stage id, stage name, order,
    closed, won). Closed-won is a closed stage with probability 1 (HubSpot's own rule)."""
    name = pl.col("stage_id").replace_strict(cfg.stage_names, default=pl.col("stage_label"))
    return pipelines.select(
        "pipeline_id",
        "pipeline_label",
        "stage_id",
        stage=name if cfg.stage_names else pl.col("stage_label"),
        order=pl.struct("pipeline_order", "stage_order"),
        is_closed=pl.col("is_closed") == "true",
        is_won=(pl.col("is_closed") == "true")
        & (pl.col("probability").cast(pl.Float64, strict=False) == 1.0),
        archived="archived",
    )


def stage_conflicts(table: pl.DataFrame) -> pl.DataFrame:
    """Stage names that mean different things in different pipelines (open in one, won in
    another): they cannot be one canonical stage."""
    return (
        table.filter(~pl.col("archived"))
        .group_by("stage")
        .agg(
            pl.col("pipeline_label").unique().sort().str.join(", ").alias("pipelines"),
            pl.struct("is_closed", "is_won").n_unique().alias("meanings"),
        )
        .filter(pl.col("meanings") > 1)
        .sort("stage")
    )


def stages(table: pl.DataFrame, cfg: MappingConfig, used: pl.Series) -> pl.DataFrame:
    """Stages by name across pipelines, in order of first appearance (pipelines in display
    order, stages in display order within each). Archived stages are kept while deals or
    their history (`used`) name them; a stage HubSpot no longer lists at all comes last,
    open, as "(deleted stage <id>)"."""
    owner = (
        pl.col("stage").replace_strict(cfg.stage_owners, default=cfg.default_function)
        if cfg.stage_owners
        else pl.lit(cfg.default_function)
    )
    named = used.unique().implode()
    listed = table.filter(~pl.col("archived") | pl.col("stage").is_in(named))
    first = listed.sort("order").unique("stage", keep="first", maintain_order=True)
    gone = (
        pl.DataFrame({"stage": used.unique().sort()})
        .filter(~pl.col("stage").is_in(table["stage"].implode()))
        .with_columns(is_closed=pl.lit(False), is_won=pl.lit(False))
    )
    return _finish(
        "stages",
        pl.concat([first.select("stage", "is_closed", "is_won"), gone]).select(
            "stage",
            position=pl.int_range(1, pl.len() + 1),
            owner_function=owner,
            is_closed="is_closed",
            is_won="is_won",
        ),
    )


def _sourced_by(cfg: MappingConfig) -> pl.Expr:
    by_field = pl.col(cfg.sourced_by).str.to_lowercase() if cfg.sourced_by else pl.lit(None, S)
    by_rule = (
        pl.col("_lead_source").replace_strict(cfg.sourced_by_lead_source, default=None)
        if cfg.sourced_by_lead_source
        else pl.lit(None, S)
    )
    value = pl.coalesce(by_field, by_rule, pl.lit("unknown"))
    return pl.when(value.is_in(SOURCED_BY)).then(value).otherwise(pl.lit("unknown"))


def opportunities(deals: pl.DataFrame, table: pl.DataFrame, cfg: MappingConfig) -> pl.DataFrame:
    """Live deals; the stage's name, closed and won flags from the pipeline's stage."""
    stage = table.select(
        dealstage="stage_id",
        _stage="stage",
        _closed="is_closed",
        _won="is_won",
        _pipeline="pipeline_label",
    )
    frame = (
        deals.filter(~pl.col("archived"))
        .join(stage, on="dealstage", how="left")
        .with_columns(
            _lead_source=pl.col(cfg.deal_lead_source) if cfg.deal_lead_source else pl.lit(None, S)
        )
    )
    category = (
        pl.col(cfg.forecast_category).replace_strict(FORECAST_CATEGORIES, default=None)
        if cfg.forecast_category
        else pl.lit(None, S)
    )
    return _finish(
        "opportunities",
        frame.select(
            opp_id="id",
            name="dealname",
            account_id=pl.lit(None, S),
            owner_id=pl.col("hubspot_owner_id").replace("", None),
            stage=pl.coalesce("_stage", pl.format(DELETED_STAGE, "dealstage")),
            amount=number("amount"),
            created_at=stamp("createdate"),
            close_date=stamp("closedate").dt.date(),
            is_closed=pl.col("_closed").fill_null(False),
            is_won=pl.col("_won").fill_null(False),
            forecast_category=category,
            lead_source="_lead_source",
            campaign_id=pl.lit(None, S),
            sourced_by=_sourced_by(cfg),
            segment=pl.col("_pipeline") if cfg.segment == "pipeline" else pl.col(cfg.segment),
        ),
    )


def _as_of(events: pl.DataFrame, versions: pl.DataFrame, prop: str, key: str) -> pl.DataFrame:
    """Each event row with the value `prop` had at that instant (its latest version)."""
    one = versions.filter(pl.col("property") == prop).select(
        pl.col("id").alias(key), pl.col("at").alias(f"_{prop}_at"), pl.col("value").alias(prop)
    )
    return events.join_asof(
        one.sort(f"_{prop}_at"),
        left_on="entered_at",
        right_on=f"_{prop}_at",
        by=key,
        strategy="backward",
        check_sortedness=False,  # both sides are sorted by time
    ).drop(f"_{prop}_at")


def stage_history(
    versions: pl.DataFrame, live: pl.Series, table: pl.DataFrame, cfg: MappingConfig
) -> pl.DataFrame:
    """One row per instant a deal's stage, amount, close date or forecast category changed,
    each carrying the values all four had then (as OpportunityHistory rows do), from the
    deals' property histories. Rows before the deal had a stage are left out."""
    props = deal_history_properties(cfg)
    mine = versions.filter(pl.col("id").is_in(live.implode()))
    events = (
        mine.select(opp_id="id", entered_at="at").unique(maintain_order=True).sort("entered_at")
    )
    for prop in props:
        events = _as_of(events, mine, prop, "opp_id")
    names = table.select(dealstage="stage_id", _stage="stage")
    category = (
        pl.col(cfg.forecast_category).replace_strict(FORECAST_CATEGORIES, default=None)
        if cfg.forecast_category
        else pl.lit(None, S)
    )
    frame = events.filter(pl.col("dealstage").is_not_null()).join(names, on="dealstage", how="left")
    return _finish(
        "stage_history",
        frame.select(
            "opp_id",
            stage=pl.coalesce("_stage", pl.format(DELETED_STAGE, "dealstage")),
            entered_at="entered_at",
            amount=number("amount"),
            close_date=stamp("closedate").dt.date(),
            forecast_category=category,
            history_id=pl.lit(None, S),  # HubSpot's property history has no record ids
        ),
    )


def leads(
    contacts: pl.DataFrame, deals_of: pl.DataFrame, opps: pl.DataFrame, cfg: MappingConfig
) -> pl.DataFrame:
    """Live contacts as leads: funnel steps from the lifecycle-stage dates (and the
    configured properties), the deal it converted into = its first associated deal (by
    creation) when it reached the opportunity step."""
    first_deal = (
        deals_of.join(opps.select(deal_id="opp_id", _created="created_at"), on="deal_id")
        .sort("_created", "deal_id")
        .group_by("contact_id", maintain_order=True)
        .agg(_deal=pl.col("deal_id").first())
    )
    frame = contacts.filter(~pl.col("archived")).join(
        first_deal, left_on="id", right_on="contact_id", how="left"
    )
    steps = {f: stamp(getattr(cfg, f)) if getattr(cfg, f) else pl.lit(None, UTC) for f in FUNNEL}
    status = (
        _lookup(pl.col(cfg.lead_status), cfg.lead_statuses) if cfg.lead_status else pl.lit(None, S)
    )
    source = (
        _lookup(pl.col(cfg.lead_source), cfg.lead_sources) if cfg.lead_source else pl.lit(None, S)
    )
    return _finish(
        "leads",
        frame.with_columns(**steps).select(
            lead_id="id",
            created_at=stamp("createdate"),
            owner_id=pl.col("hubspot_owner_id").replace("", None),
            source=source,
            campaign_id=pl.col(cfg.lead_campaign) if cfg.lead_campaign else pl.lit(None, S),
            status=status,
            mql_at="mql_at",
            sal_at="sal_at",
            sql_at="sql_at",
            converted_at="converted_at",
            converted_opp_id=pl.when(pl.col("converted_at").is_not_null()).then("_deal"),
            disqualified_at="disqualified_at",
            first_touch_at="first_touch_at",
        ),
    )


def lead_history(
    versions: pl.DataFrame, leads_now: pl.DataFrame, cfg: MappingConfig
) -> pl.DataFrame:
    """One row per lead-status value a contact's history recorded, with the owner it had
    then (the owner history as of that instant, else its owner now)."""
    if not cfg.lead_status:
        return TABLES["lead_history"].empty()
    mine = versions.filter(pl.col("id").is_in(leads_now["lead_id"].implode()))
    status = (
        mine.filter((pl.col("property") == cfg.lead_status) & pl.col("value").is_not_null())
        .select(lead_id="id", status="value", entered_at="at")
        .sort("entered_at")
    )
    with_owner = _as_of(status, mine, "hubspot_owner_id", "lead_id").join(
        leads_now.select("lead_id", _now="owner_id"), on="lead_id", how="left"
    )
    return _finish(
        "lead_history",
        with_owner.select(
            "lead_id",
            status=_lookup(pl.col("status"), cfg.lead_statuses),
            entered_at="entered_at",
            owner_id=pl.coalesce("hubspot_owner_id", "_now"),
            history_id=pl.lit(None, S),
        ),
    )


def campaigns(frame: pl.DataFrame, cfg: MappingConfig) -> pl.DataFrame:
    """Marketing campaigns: name, channel (a configured property), dates, spend as cost."""
    return _finish(
        "campaigns",
        frame.filter(~pl.col("archived")).select(
            campaign_id="id",
            name="hs_name",
            channel=pl.col(cfg.campaign_channel) if cfg.campaign_channel else pl.lit(None, S),
            start_date=stamp("hs_start_date").dt.date(),
            end_date=stamp("hs_end_date").dt.date(),
            cost=number(cfg.campaign_cost) if cfg.campaign_cost else pl.lit(None, pl.Float64),
        ),
    )


def campaign_members(pairs: pl.DataFrame, leads_now: pl.DataFrame) -> pl.DataFrame:
    """The contacts of each campaign's contact reports that are leads, once each. HubSpot
    says which contacts a campaign touched, not when: `responded_at` is unknown (null)."""
    return _finish(
        "campaign_members",
        pairs.filter(pl.col("lead_id").is_in(leads_now["lead_id"].implode()))
        .unique(["campaign_id", "lead_id"], maintain_order=True)
        .select("campaign_id", "lead_id", responded_at=pl.lit(None, UTC)),
    )


def _quarter(day: pl.Expr, fiscal_start_month: int) -> pl.Expr:
    """The (fiscal) quarter ``YYYY-Qn`` holding `day` (as model.calendar.period_expr)."""
    shifted = day.dt.offset_by(f"-{fiscal_start_month - 1}mo") if fiscal_start_month > 1 else day
    return pl.format("{}-Q{}", shifted.dt.year(), shifted.dt.quarter())


def quotas(
    goals: pl.DataFrame,
    teams: pl.DataFrame,
    users_: pl.DataFrame,
    cfg: MappingConfig,
    fiscal_start_month: int,
) -> pl.DataFrame:
    """Quotas from the goal targets named in `quota_goals`, by the quarter each target
    starts in and the team it is assigned to (a rep's target: the rep's team; summed per
    team unless `quotas = "owner"`). Other goals (calls made, meetings booked) are not
    quotas."""
    frame = (
        goals.filter(~pl.col("archived") & pl.col("hs_goal_name").is_in(list(cfg.quota_goals)))
        .join(
            teams.select(hs_assignee_team_id="team_id", _team="team_name"),
            on="hs_assignee_team_id",
            how="left",
        )
        .join(
            users_.select(hubspot_owner_id="user_id", _rep_team="team"),
            on="hubspot_owner_id",
            how="left",
        )
    )
    team = _lookup(pl.col("_team"), cfg.teams)
    owner = (
        pl.col("hubspot_owner_id").replace("", None) if cfg.quotas == "owner" else pl.lit(None, S)
    )
    return _finish(
        "quotas",
        frame.group_by(
            period=_quarter(stamp("hs_start_datetime").dt.date(), fiscal_start_month),
            team=pl.coalesce(team, "_rep_team"),
            owner_id=owner,
        )
        .agg(amount=number("hs_target_amount").sum())
        .filter(pl.col("team").is_not_null()),
    )


# --- incremental merge -------------------------------------------------------------------


def merge_keyed(
    name: str, old: pl.DataFrame, new: pl.DataFrame, key: str, touched: pl.Series
) -> pl.DataFrame:
    """`old` without the records in `touched` (changed or deleted), plus the changed ones."""
    kept = old.filter(~pl.col(key).is_in(touched.implode()))
    return _finish(name, pl.concat([kept, new.select(old.columns)]))


# HubSpot keeps a record's whole history with the record: a changed record's history
# replaces its old one, so history tables merge by parent like the records themselves.
HISTORY_ORDER = {
    "stage_history": ["opp_id", "entered_at"],
    "lead_history": ["lead_id", "entered_at"],
}
