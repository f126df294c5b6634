"""An emulated Salesforce org: objects with API field names, rendered from canonical frames.

`org_from_canonical(frames)` turns the canonical tables (e.g. the demo org) into Salesforce
objects (User, UserRole, Group, OpportunityStage, Opportunity, OpportunityHistory, Lead,
LeadHistory, Campaign, CampaignMember, Period, ForecastingQuota, ForecastingSubmission,
ForecastingSubmissionItem) with 18-character ids, and `expected_canonical` gives the canonical
tables a correct connector must read back (same data, Salesforce ids, millisecond timestamps).
`render_csv` writes a result exactly as the Bulk API does.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import polars as pl

S = pl.String()
B = pl.Boolean()
F = pl.Float64()
I = pl.Int64()  # noqa: E741
D = pl.Date()
DT = pl.Datetime("ms", "UTC")

_SYSTEM = {"CreatedDate": DT, "SystemModstamp": DT}
_DELETABLE = {"IsDeleted": B}
OBJECTS: dict[str, dict[str, pl.DataType]] = {
    "User": {
        "Id": S,
        "Username": S,
        "Name": S,
        "Department": S,
        "IsActive": B,
        "UserRoleId": S,
        "ManagerId": S,
        **_SYSTEM,
    },
    "UserRole": {"Id": S, "Name": S, "DeveloperName": S, "ParentRoleId": S, "SystemModstamp": DT},
    "Group": {"Id": S, "Name": S, "DeveloperName": S, "Type": S, **_SYSTEM},
    "OpportunityStage": {
        "Id": S,
        "ApiName": S,
        "MasterLabel": S,
        "IsActive": B,
        "IsClosed": B,
        "IsWon": B,
        "SortOrder": I,
        "DefaultProbability": F,
        "ForecastCategoryName": S,
        **_SYSTEM,
    },
    "Opportunity": {
        "Id": S,
        **_DELETABLE,
        "Name": S,
        "AccountId": S,
        "OwnerId": S,
        "StageName": S,
        "Amount": F,
        "Probability": F,
        "CloseDate": D,
        "Type": S,
        "IsClosed": B,
        "IsWon": B,
        "ForecastCategory": S,
        "ForecastCategoryName": S,
        "LeadSource": S,
        "CampaignId": S,
        "Description": S,
        "FiscalYear": I,
        "Sourced_By__c": S,
        "Segment__c": S,
        **_SYSTEM,
    },
    "OpportunityHistory": {
        "Id": S,
        **_DELETABLE,
        "OpportunityId": S,
        "StageName": S,
        "Amount": F,
        "CloseDate": D,
        "Probability": F,
        "ForecastCategory": S,
        **_SYSTEM,
    },
    "Lead": {
        "Id": S,
        **_DELETABLE,
        "Name": S,
        "Company": S,
        "Status": S,
        "LeadSource": S,
        "OwnerId": S,
        "IsConverted": B,
        "ConvertedDate": D,
        "ConvertedOpportunityId": S,
        "Primary_Campaign__c": S,
        "MQL_Date__c": DT,
        "SAL_Date__c": DT,
        "SQL_Date__c": DT,
        "Converted_At__c": DT,
        "Disqualified_At__c": DT,
        "First_Touch_At__c": DT,
        **_SYSTEM,
    },
    "LeadHistory": {
        "Id": S,
        **_DELETABLE,
        "LeadId": S,
        "Field": S,
        "DataType": S,
        "OldValue": S,
        "NewValue": S,
        "CreatedDate": DT,
    },
    "Campaign": {
        "Id": S,
        **_DELETABLE,
        "Name": S,
        "Type": S,
        "Status": S,
        "StartDate": D,
        "EndDate": D,
        "ActualCost": F,
        "IsActive": B,
        **_SYSTEM,
    },
    "CampaignMember": {
        "Id": S,
        **_DELETABLE,
        "CampaignId": S,
        "LeadId": S,
        "ContactId": S,
        "Status": S,
        "HasResponded": B,
        "FirstRespondedDate": D,
        "Responded_At__c": DT,
        **_SYSTEM,
    },
    "Period": {"Id": S, "Type": S, "StartDate": D, "EndDate": D, "SystemModstamp": DT},
    "ForecastingQuota": {
        "Id": S,
        "QuotaOwnerId": S,
        "QuotaAmount": F,
        "StartDate": D,
        "IsAmount": B,
        **_SYSTEM,
    },
    "ForecastingSubmission": {
        "Id": S,
        "ForecastOwnerId": S,
        "PeriodId": S,
        "IsLatest": B,
        **_SYSTEM,
    },
    "ForecastingSubmissionItem": {
        "Id": S,
        "ForecastingSubmissionId": S,
        "ForecastingItemCategory": S,
        "Amount": F,
        **_SYSTEM,
    },
}
# Objects and the API version that introduced them (older versions cannot see them).
MIN_VERSION = {"ForecastingSubmission": 62.0, "ForecastingSubmissionItem": 62.0}
PREFIX = {
    "User": "005",
    "UserRole": "00E",
    "Group": "00G",
    "OpportunityStage": "01J",
    "Opportunity": "006",
    "OpportunityHistory": "008",
    "Lead": "00Q",
    "LeadHistory": "017",
    "Campaign": "701",
    "CampaignMember": "00v",
    "Account": "001",
    "Period": "026",
    "ForecastingQuota": "0J9",
    "ForecastingSubmission": "0Mz",
    "ForecastingSubmissionItem": "0N0",
}
CATEGORY_API = {
    "pipeline": "Pipeline",
    "best_case": "BestCase",
    "most_likely": "MostLikely",
    "commit": "Forecast",
    "closed": "Closed",
    "omitted": "Omitted",
}
CATEGORY_LABEL = {
    "pipeline": "Pipeline",
    "best_case": "Best Case",
    "most_likely": "Most Likely",
    "commit": "Commit",
    "closed": "Closed",
    "omitted": "Omitted",
}
SUBMISSION_API = {
    "commit": "CommitForecast",
    "best_case": "BestCaseForecast",
    "pipeline": "OpenPipeline",
}
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def sfid18(id15: str) -> str:
    """The 18-character id: the 15-character id plus its case-checksum suffix."""
    return id15 + "".join(
        ALPHABET[sum(1 << j for j, c in enumerate(id15[i * 5 : i * 5 + 5]) if "A" <= c <= "Z")]
        for i in range(3)
    )


def sf_ids(prefix: str, index: pl.Expr) -> pl.Expr:
    """Valid 18-char ids from a 0-based index (digits only after the prefix, so the
    checksum depends on the prefix alone)."""
    suffix = sfid18(prefix + "0" * 12)[15:]
    return pl.lit(prefix) + (index + 1).cast(pl.String).str.zfill(12) + pl.lit(suffix)


def _java_double(value: float) -> str:
    """Java's Double.toString outside [1e-3, 1e7): shortest digits in E-notation."""
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    text = "".join(map(str, digits))
    power = len(text) - 1 + int(exponent)
    return f"{'-' if sign else ''}{text[0]}.{text[1:] or '0'}E{power}"


def _render(name: str, dtype: pl.DataType, col: pl.Series) -> pl.Series:
    if dtype == B:
        return col.cast(pl.String)
    if isinstance(dtype, pl.Datetime):
        return col.dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
    if dtype == D:
        return col.dt.strftime("%Y-%m-%d")
    if dtype == F:
        text = col.cast(pl.String)
        odd = (col.abs() >= 1e7) | ((col.abs() < 1e-3) & (col != 0))
        if odd.any():  # few values: Java's E-notation, in Python on those rows only
            fixes = [_java_double(v) for v in col.filter(odd).to_list()]
            text = text.scatter(odd.arg_true(), fixes)
        return text
    return col.cast(pl.String)


def render_csv(frame: pl.DataFrame, types: Mapping[str, pl.DataType]) -> bytes:
    """A Bulk API CSV result: header + rows, every value quoted, null as "", `\\n` ends."""
    if frame.height == 0:
        return b"Records not found for this query"
    text = pl.DataFrame([_render(c, types[c], frame[c]).alias(c) for c in frame.columns])
    return text.fill_null("").write_csv(quote_style="always", line_terminator="\n").encode()


class Org:
    """The emulated org's records (typed polars frames keyed by object) and its clock."""

    def __init__(self, objects: dict[str, pl.DataFrame], *, now: datetime) -> None:
        self.objects = objects
        self.now = now
        self.lock = threading.Lock()
        self.denied: set[str] = set()

    def tick(self, seconds: float = 60) -> datetime:
        """Advance the org's clock (every change stamps SystemModstamp with it)."""
        self.now += timedelta(seconds=seconds)
        return self.now

    def insert(self, obj: str, rows: list[dict[str, Any]]) -> None:
        stamp = self.tick()
        base = {"CreatedDate": stamp, "SystemModstamp": stamp, "IsDeleted": False}
        schema = OBJECTS[obj]
        new = pl.DataFrame(
            [{**{k: v for k, v in base.items() if k in schema}, **r} for r in rows],
            schema=schema,
        )
        with self.lock:
            self.objects[obj] = pl.concat([self.objects[obj], new])

    def update(self, obj: str, record_id: str, **values: Any) -> None:
        stamp = self.tick()
        values = {"SystemModstamp": stamp, **values} if "SystemModstamp" in OBJECTS[obj] else values
        hit = pl.col("Id") == record_id
        with self.lock:
            self.objects[obj] = self.objects[obj].with_columns(
                pl.when(hit).then(pl.lit(v, dtype=OBJECTS[obj][k])).otherwise(pl.col(k)).alias(k)
                for k, v in values.items()
            )

    def delete(self, obj: str, where: pl.Expr) -> None:
        """Soft-delete (recycle bin): IsDeleted, a new SystemModstamp; only queryAll sees them."""
        stamp = self.tick()
        frame = self.objects[obj]
        changes = {"IsDeleted": pl.lit(True)}
        if "SystemModstamp" in frame.columns:
            changes["SystemModstamp"] = pl.lit(stamp, dtype=DT)
        with self.lock:
            self.objects[obj] = frame.with_columns(
                pl.when(where).then(v).otherwise(pl.col(k)).alias(k) for k, v in changes.items()
            )

    def frame(self, obj: str) -> pl.DataFrame:
        with self.lock:
            return self.objects[obj]


# --- canonical → Salesforce --------------------------------------------------------------


def _id_map(name: str, frame: pl.DataFrame, column: str, prefix: str) -> pl.DataFrame:
    ids = frame.select(pl.col(column).unique().sort().alias("old")).drop_nulls()
    return ids.with_row_index("i").select("old", new=sf_ids(prefix, pl.col("i").cast(pl.Int64)))


def _ids(frames: Mapping[str, pl.DataFrame]) -> dict[str, str]:
    """One map from every canonical id to a Salesforce id (users/queues, opps, leads, ...)."""
    users = frames["users"]
    parts = [
        _id_map("users", users.filter(~pl.col("is_queue").fill_null(False)), "user_id", "005"),
        _id_map("queues", users.filter(pl.col("is_queue").fill_null(False)), "user_id", "00G"),
        _id_map("opps", frames["opportunities"], "opp_id", "006"),
        _id_map("accounts", frames["opportunities"], "account_id", "001"),
        _id_map("leads", frames["leads"], "lead_id", "00Q"),
        _id_map("campaigns", frames["campaigns"], "campaign_id", "701"),
    ]
    both = pl.concat(parts)
    return dict(zip(both["old"].to_list(), both["new"].to_list(), strict=True))


def _swap(frame: pl.DataFrame, ids: Mapping[str, str], *columns: str) -> pl.DataFrame:
    return frame.with_columns(pl.col(c).replace(ids) for c in columns if c in frame.columns)


def _ms(frame: pl.DataFrame) -> pl.DataFrame:
    """Salesforce keeps milliseconds."""
    return frame.with_columns(pl.col(pl.Datetime).dt.truncate("1ms"))


def to_salesforce_ids(frames: Mapping[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """The canonical tables with Salesforce ids and millisecond timestamps: what a correct
    connector reads back from the org rendered from `frames`."""
    ids = _ids(frames)
    cols = (
        "user_id",
        "manager_id",
        "owner_id",
        "opp_id",
        "account_id",
        "campaign_id",
        "lead_id",
        "converted_opp_id",
    )
    return {name: _ms(_swap(f, ids, *cols)) for name, f in frames.items()}


def _with_index(frame: pl.DataFrame, obj: str) -> pl.DataFrame:
    return (
        frame.with_row_index("_i")
        .with_columns(Id=sf_ids(PREFIX[obj], pl.col("_i").cast(pl.Int64)))
        .drop("_i")
    )


def _typed(obj: str, frame: pl.DataFrame, stamp: datetime) -> pl.DataFrame:
    schema = OBJECTS[obj]
    defaults = {"IsDeleted": False, "CreatedDate": stamp}
    missing = [
        pl.lit(defaults.get(k), dtype=t).alias(k)
        for k, t in schema.items()
        if k not in frame.columns and k != "SystemModstamp"
    ]
    frame = frame.with_columns(missing)
    if "SystemModstamp" in schema and "SystemModstamp" not in frame.columns:
        # last touched at its latest timestamp (at most `stamp`), so watermarks spread out
        times = [pl.col(c).cast(DT) for c, t in frame.schema.items() if isinstance(t, pl.Datetime)]
        latest = pl.max_horizontal(times) if times else pl.lit(None, DT)
        frame = frame.with_columns(SystemModstamp=pl.min_horizontal(latest, pl.lit(stamp, DT)))
    return frame.select(pl.col(k).cast(t) for k, t in schema.items())


def _users(c: Mapping[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    people = c["users"].filter(~pl.col("is_queue").fill_null(False))
    roles = _with_index(people.select(Name=pl.col("team")).unique().sort("Name"), "UserRole")
    roles = roles.with_columns(DeveloperName=pl.col("Name").str.replace_all(r"\W", "_"))
    users = people.join(roles.select("Id", team="Name"), on="team", how="left", suffix="_r")
    users = users.select(
        Id="user_id",
        Name="name",
        Username=pl.col("user_id") + "@example.com",
        Department="team",
        IsActive=pl.lit(True),
        UserRoleId="Id",
        ManagerId="manager_id",
    )
    queues = (
        c["users"]
        .filter(pl.col("is_queue").fill_null(False))
        .select(
            Id="user_id",
            Name="name",
            DeveloperName=pl.col("name").str.replace_all(r"\W", "_"),
            Type=pl.lit("Queue"),
        )
    )
    return {"User": users, "UserRole": roles, "Group": queues}


def _stages(c: Mapping[str, pl.DataFrame]) -> pl.DataFrame:
    stages = c["stages"].with_columns(
        category=pl.when("is_won")
        .then(pl.lit("Closed"))
        .when("is_closed")
        .then(pl.lit("Omitted"))
        .otherwise(pl.lit("Pipeline"))
    )
    return _with_index(stages, "OpportunityStage").select(
        "Id",
        ApiName="stage",
        MasterLabel="stage",
        IsActive=pl.lit(True),
        IsClosed="is_closed",
        IsWon="is_won",
        SortOrder="position",
        ForecastCategoryName="category",
    )


def _category(col: str, labels: Mapping[str, str]) -> pl.Expr:
    return pl.col(col).cast(pl.String).replace_strict(labels, default=None)


def _opportunities(c: Mapping[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    opps = c["opportunities"].select(
        Id="opp_id",
        Name="name",
        AccountId="account_id",
        OwnerId="owner_id",
        StageName="stage",
        Amount="amount",
        CloseDate="close_date",
        IsClosed="is_closed",
        IsWon="is_won",
        ForecastCategory=_category("forecast_category", CATEGORY_API),
        ForecastCategoryName=_category("forecast_category", CATEGORY_LABEL),
        LeadSource="lead_source",
        CampaignId="campaign_id",
        Type=pl.lit("New Customer"),
        Sourced_By__c=pl.col("sourced_by").cast(pl.String).str.to_titlecase(),
        Segment__c="segment",
        CreatedDate="created_at",
        FiscalYear=pl.col("close_date").dt.year(),
    )
    history = _with_index(c["stage_history"], "OpportunityHistory").select(
        "Id",
        OpportunityId="opp_id",
        StageName="stage",
        Amount="amount",
        CloseDate="close_date",
        ForecastCategory=_category("forecast_category", CATEGORY_API),
        CreatedDate="entered_at",
        SystemModstamp="entered_at",
    )
    return {"Opportunity": opps, "OpportunityHistory": history}


def _leads(c: Mapping[str, pl.DataFrame]) -> pl.DataFrame:
    return c["leads"].select(
        Id="lead_id",
        Name=pl.lit("Lead ") + pl.col("lead_id").str.slice(-6),
        Company=pl.lit("Company"),
        Status="status",
        LeadSource="source",
        OwnerId="owner_id",
        IsConverted=pl.col("converted_at").is_not_null(),
        ConvertedDate=pl.col("converted_at").dt.date(),
        ConvertedOpportunityId="converted_opp_id",
        Primary_Campaign__c="campaign_id",
        MQL_Date__c="mql_at",
        SAL_Date__c="sal_at",
        SQL_Date__c="sql_at",
        Converted_At__c="converted_at",
        Disqualified_At__c="disqualified_at",
        First_Touch_At__c="first_touch_at",
        CreatedDate="created_at",
    )


def _lead_history(c: Mapping[str, pl.DataFrame]) -> pl.DataFrame:
    """Status changes as `Field='Status'` rows; owner changes as Salesforce's two rows
    (ids with DataType EntityId, names with DataType Text) at the time of the change."""
    names = dict(zip(c["users"]["user_id"], c["users"]["name"], strict=True))
    rows = (
        c["lead_history"]
        .sort("lead_id", "entered_at", maintain_order=True)
        .with_columns(
            prev_status=pl.col("status").shift().over("lead_id"),
            prev_owner=pl.col("owner_id").shift().over("lead_id"),
        )
    )
    status = rows.select(
        "lead_id",
        "entered_at",
        Field=pl.lit("Status"),
        DataType=pl.lit("Text"),
        OldValue="prev_status",
        NewValue="status",
    )
    changed = rows.filter(
        pl.col("prev_owner").is_not_null() & (pl.col("prev_owner") != pl.col("owner_id"))
    )
    # the lead's current owner, when it differs from the last history row, changed just after
    last = rows.group_by("lead_id").agg(pl.all().sort_by("entered_at").last())
    final = (
        last.join(c["leads"].select("lead_id", now_owner="owner_id"), on="lead_id")
        .filter(pl.col("now_owner") != pl.col("owner_id"))
        .select(
            "lead_id",
            entered_at=pl.col("entered_at") + pl.duration(seconds=1),
            prev_owner="owner_id",
            owner_id="now_owner",
        )
    )
    moves = pl.concat([changed.select(final.columns), final])
    owner = [
        moves.select(
            "lead_id",
            "entered_at",
            Field=pl.lit("Owner"),
            DataType=pl.lit(kind),
            OldValue=pl.col("prev_owner").replace(mapping),
            NewValue=pl.col("owner_id").replace(mapping),
        )
        for kind, mapping in (("EntityId", {}), ("Text", names))
    ]
    both = pl.concat([status, *owner]).sort("lead_id", "entered_at", "Field", "DataType")
    return _with_index(both, "LeadHistory").select(
        "Id",
        LeadId="lead_id",
        Field="Field",
        DataType="DataType",
        OldValue="OldValue",
        NewValue="NewValue",
        CreatedDate="entered_at",
    )


def _campaigns(c: Mapping[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    campaigns = c["campaigns"].select(
        Id="campaign_id",
        Name="name",
        Type="channel",
        Status=pl.lit("Completed"),
        StartDate="start_date",
        EndDate="end_date",
        ActualCost="cost",
        IsActive=pl.lit(True),
    )
    members = _with_index(c["campaign_members"], "CampaignMember").select(
        "Id",
        CampaignId="campaign_id",
        LeadId="lead_id",
        Status=pl.when(pl.col("responded_at").is_null())
        .then(pl.lit("Sent"))
        .otherwise(pl.lit("Responded")),
        HasResponded=pl.col("responded_at").is_not_null(),
        FirstRespondedDate=pl.col("responded_at").dt.date(),
        Responded_At__c="responded_at",
    )
    return {"Campaign": campaigns, "CampaignMember": members}


def _team_leads(c: Mapping[str, pl.DataFrame]) -> pl.DataFrame:
    """The user holding a team's quota and submitting its forecast: the team's first user."""
    users = c["users"].filter(~pl.col("is_queue").fill_null(False)).sort("user_id")
    return users.group_by("team").agg(lead=pl.col("user_id").first())


def _forecasting(c: Mapping[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    leads = _team_leads(c)
    starts = pl.col("period").str.replace(r"-Q(\d)", "-0$1-01").str.to_date("%Y-%m-%d")
    quarter_start = pl.date(starts.dt.year(), (starts.dt.month() - 1) * 3 + 1, 1)
    quotas = (
        c["quotas"]
        .join(leads, on="team")
        .select(
            QuotaOwnerId=pl.coalesce("owner_id", "lead"),
            QuotaAmount="amount",
            StartDate=quarter_start,
            IsAmount=pl.lit(True),
        )
        .sort("StartDate", "QuotaOwnerId")
    )
    periods = pl.concat(
        [quotas.select("StartDate"), c["forecasts"].select(StartDate=quarter_start)]
    )
    periods = _with_index(periods.unique().sort("StartDate"), "Period").with_columns(
        Type=pl.lit("Quarter"), EndDate=pl.col("StartDate").dt.offset_by("3mo").dt.offset_by("-1d")
    )
    subs = (
        c["forecasts"]
        .with_columns(StartDate=quarter_start)
        .join(periods.select("StartDate", PeriodId="Id"), on="StartDate")
    )
    heads = _with_index(
        subs.select("owner_id", "submitted_at", "PeriodId").unique().sort(pl.all()),
        "ForecastingSubmission",
    )
    items = subs.join(heads, on=["owner_id", "submitted_at", "PeriodId"]).sort("Id", "category")
    return {
        "Period": periods,
        "ForecastingQuota": _with_index(quotas, "ForecastingQuota"),
        "ForecastingSubmission": heads.select(
            "Id",
            ForecastOwnerId="owner_id",
            PeriodId="PeriodId",
            IsLatest=pl.lit(False),
            CreatedDate="submitted_at",
            SystemModstamp="submitted_at",
        ),
        "ForecastingSubmissionItem": _with_index(
            items.select(
                ForecastingSubmissionId="Id",
                ForecastingItemCategory=_category("category", SUBMISSION_API),
                Amount="amount",
                CreatedDate="submitted_at",
                SystemModstamp="submitted_at",
            ),
            "ForecastingSubmissionItem",
        ),
    }


def org_from_canonical(frames: Mapping[str, pl.DataFrame], *, now: datetime) -> Org:
    """The emulated org holding `frames` (canonical tables) as Salesforce objects.

    A record's SystemModstamp is its latest timestamp (capped at `now`)."""
    c = to_salesforce_ids(frames)
    raw = {
        **_users(c),
        "OpportunityStage": _stages(c),
        **_opportunities(c),
        "Lead": _leads(c),
        "LeadHistory": _lead_history(c),
        **_campaigns(c),
        **_forecasting(c),
    }
    return Org({obj: _typed(obj, raw[obj], now) for obj in OBJECTS}, now=now)


# --- edge values -------------------------------------------------------------------------

EDGE_NAMES = ('Acme, "Big" deal', "line one\nline two", "Zoë Ж 株式会社 – ünïcödé", "tab\there")
EDGE_AMOUNTS = (12_345_678_901.5, 99_213_206.0, 0.0005, 0.0)


def with_edge_values(frames: Mapping[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """The org with awkward values planted: commas, quotes, newlines, non-ASCII and tabs in
    names, huge and tiny amounts (Java E-notation in CSV), null lookups (account, campaign)."""
    out = dict(frames)
    opps = frames["opportunities"].sort("opp_id")
    n = len(EDGE_NAMES)
    idx = pl.int_range(pl.len())
    out["opportunities"] = opps.with_columns(
        name=pl.when(idx < n)
        .then(pl.Series(EDGE_NAMES + ("",) * (opps.height - n)))
        .otherwise("name"),
        amount=pl.when(idx < n)
        .then(pl.Series(EDGE_AMOUNTS + (0.0,) * (opps.height - n)))
        .otherwise("amount"),
        account_id=pl.when(idx == 1).then(None).otherwise("account_id"),
        campaign_id=pl.when(idx == 2).then(None).otherwise("campaign_id"),
    )
    camps = frames["campaigns"].sort("campaign_id")
    out["campaigns"] = camps.with_columns(
        name=pl.when(pl.int_range(pl.len()) == 0)
        .then(pl.lit('Summit "26", Paris – été'))
        .otherwise("name")
    )
    return out


def as_of_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)
