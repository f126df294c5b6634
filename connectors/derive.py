"""Tables the files connector builds when an export lacks them.

An export of opportunities alone still yields win rate, cycle time and sourcing: the
stage list comes from the stage values seen (ordered and owned as configured), stage
history to each deal open from creation and closed from its close date
(`stage_history_from_opps`), and users to the owner ids seen.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from model.schema import UTC_DATETIME, Function

DEFAULT_OWNER = "sales"
DEFAULT_TEAM = "Unassigned"


def _stage_values(*frames: pl.DataFrame | None) -> pl.DataFrame:
    values = [f.select(pl.col("stage").cast(pl.String)) for f in frames if f is not None]
    if not values:
        return pl.DataFrame(schema={"stage": pl.String})
    return pl.concat(values).drop_nulls().unique()


def _flags_seen(opps: pl.DataFrame | None) -> pl.DataFrame:
    """A stage is closed (won) when any opportunity in it is closed (won)."""
    schema = {"stage": pl.String, "_closed": pl.Boolean, "_won": pl.Boolean}
    if opps is None or not {"is_closed", "is_won"} <= set(opps.columns):
        return pl.DataFrame(schema=schema)
    return opps.group_by("stage").agg(
        _closed=pl.col("is_closed").any(), _won=pl.col("is_won").any()
    )


def _config_frame(options: Mapping[str, Any]) -> pl.DataFrame:
    order = [str(s) for s in options.get("order", [])]
    won = [str(s) for s in options.get("won", [])]
    lost = [str(s) for s in options.get("lost", [])]
    owners = {str(k): str(v) for k, v in dict(options.get("owner_function", {})).items()}
    names = list(dict.fromkeys([*order, *won, *lost, *owners]))
    return pl.DataFrame(
        {
            "stage": names,
            "_order": [order.index(n) if n in order else None for n in names],
            "_cfg_won": [True if n in won else (False if n in lost else None) for n in names],
            "_cfg_owner": [owners.get(n) for n in names],
        },
        schema={"stage": pl.String, "_order": pl.Int32, "_cfg_won": pl.Boolean,
                "_cfg_owner": pl.String},
    )  # fmt: skip


def derive_stages(
    opps: pl.DataFrame | None,
    history: pl.DataFrame | None,
    base: pl.DataFrame | None,
    options: Mapping[str, Any],
) -> pl.DataFrame:
    """The stage list: the stages file (`base`), every stage value seen and the stages
    listed in ``order``, ``won`` or ``lost``.

    Order: the configured ``order``, then the file's positions, then open stages by name,
    won, lost. Closed/won: configured ``won``/``lost`` lists, else the file, else the
    opportunities in the stage. Owner: configured ``owner_function``, else the file, else
    ``default_owner`` (sales).
    """
    base = base if base is not None else pl.DataFrame(schema={"stage": pl.String})
    config = _config_frame(options)
    listed = config.filter(pl.col("_order").is_not_null() | pl.col("_cfg_won").is_not_null())
    seen = _stage_values(opps, history)
    stages = pl.concat([base.select("stage"), seen, listed.select("stage")]).unique()
    joined = (
        stages.join(base, on="stage", how="left")
        .join(_flags_seen(opps), on="stage", how="left")
        .join(config, on="stage", how="left")
    )
    col = joined.columns
    default_owner = str(options.get("default_owner", DEFAULT_OWNER))
    return (
        joined.with_columns(
            is_won=pl.coalesce(
                "_cfg_won", *(["is_won"] if "is_won" in col else []), "_won", pl.lit(False)
            ),
            is_closed=pl.coalesce(
                pl.when(pl.col("_cfg_won").is_not_null()).then(True),
                *(["is_closed"] if "is_closed" in col else []),
                "_closed",
                pl.lit(False),
            ),
            owner_function=pl.coalesce(
                "_cfg_owner",
                *(["owner_function"] if "owner_function" in col else []),
                pl.lit(default_owner),
            ).cast(Function),
            _base_pos=pl.col("position") if "position" in col else pl.lit(None, pl.Int32),
        )
        .sort(
            ["_order", "_base_pos", "is_closed", "is_won", "stage"],
            nulls_last=True,
            descending=[False, False, False, True, False],
        )
        .drop("position", strict=False)
        .with_row_index("position", offset=1)
        .select("stage", pl.col("position").cast(pl.Int32), "owner_function", "is_closed", "is_won")
    )


def flags_from_stages(opps: pl.DataFrame, stages: pl.DataFrame) -> pl.DataFrame:
    """Fill is_closed / is_won of opportunities from their stage, where the file lacks them."""
    flags = stages.select("stage", _c=pl.col("is_closed"), _w=pl.col("is_won"))
    out = opps.join(flags, on="stage", how="left", maintain_order="left")
    missing = [c for c in ("is_closed", "is_won") if c not in opps.columns]
    fill = {"is_closed": pl.col("_c"), "is_won": pl.col("_w")}
    return out.with_columns(**{c: fill[c].fill_null(False) for c in missing}).drop("_c", "_w")


DERIVED_HISTORY_NOTE = (
    "derived: no history file, so each deal is open from its creation (in {open_stage}, the "
    "last open stage: the export does not say which) and closed from the start of its close "
    "date; an open deal sits in its current stage from {entered}"
)


def last_open_stage(stages: pl.DataFrame) -> str | None:
    """The open stage with the highest position, where a derived history puts closed deals
    while they were open; None when every stage is closed."""
    open_stages = stages.filter(~pl.col("is_closed")).sort("position", "stage")
    return open_stages["stage"][-1] if open_stages.height else None


def _day_start(column: str, timezone: str) -> pl.Expr:
    """The UTC instant `column` (a date) starts in `timezone`; UTC midnight where that local
    midnight does not exist (a daylight-saving jump at midnight)."""
    midnight = pl.col(column).cast(pl.Datetime("us"))
    local = midnight.dt.replace_time_zone(timezone, ambiguous="earliest", non_existent="null")
    return pl.coalesce(
        local.dt.convert_time_zone("UTC"), midnight.dt.replace_time_zone("UTC")
    ).cast(UTC_DATETIME)


def stage_history_from_opps(
    opps: pl.DataFrame,
    stages: pl.DataFrame | None = None,
    *,
    timezone: str = "UTC",
) -> pl.DataFrame:
    """The stage history an export of current stage, created and close dates implies.

    A deal is open from its creation until its close date and closed after; nothing else is
    known. So a closed deal gets two rows: an open row at `created_at` and its closed stage
    at the start of its close date in `timezone` (never before creation; at the mapped stage
    change time, else creation, when it has no close date). Which open stage it was in the
    export does not say: the row uses the **last open stage by position** (`last_open_stage`),
    the stage a deal leaves when it closes in a pipeline walked in order, so a deal that later
    closed counts as qualified pipeline while it was open (with the first stage, every past
    period's qualified pipeline would read $0). A deal closed at its creation instant (close
    date on or before the day it was created) gets no open row; with no open stage at all,
    neither does any deal. An open deal gets one row in its current stage from the mapped
    stage change time (`stage_changed_at`, never before creation), else from creation.

    Amount, close date and forecast category are the current ones on every row (their past
    values are unknown), so no amount, close-date or category change is invented. The
    stages come from `stages` (derived from the opportunities when None). Grain: one row
    per deal per derived stage row, sorted by opp_id, entered_at, open before closed.
    """
    if stages is None:
        stages = derive_stages(opps, None, None, {})
    if not {"is_closed", "is_won"} <= set(opps.columns):
        opps = flags_from_stages(opps, stages)
    created = pl.col("created_at")
    changed = pl.col("stage_changed_at") if "stage_changed_at" in opps.columns else None
    close_start = _day_start("close_date", timezone)
    closed_at = pl.max_horizontal(
        created, pl.coalesce(close_start, *([changed] if changed is not None else []))
    )
    open_since = pl.max_horizontal(created, changed) if changed is not None else created
    cols = [c for c in ("amount", "close_date", "forecast_category") if c in opps.columns]
    current = opps.select(
        "opp_id",
        "stage",
        pl.when(pl.col("is_closed")).then(closed_at).otherwise(open_since).alias("entered_at"),
        *cols,
        _closed_row=pl.col("is_closed"),
    )
    rows = [current]
    open_stage = last_open_stage(stages)
    if open_stage is not None:
        rows.append(
            opps.filter(pl.col("is_closed") & (closed_at > created)).select(
                "opp_id",
                pl.lit(open_stage, pl.String).alias("stage"),
                created.alias("entered_at"),
                *cols,
                _closed_row=pl.lit(False),
            )
        )
    return (
        pl.concat(rows)
        .with_columns(pl.col("entered_at").cast(UTC_DATETIME))
        .sort("opp_id", "entered_at", "_closed_row")
        .drop("_closed_row")
    )


def users_from_owners(
    frames: Mapping[str, pl.DataFrame], options: Mapping[str, Any]
) -> pl.DataFrame:
    """One user per owner id seen on opportunities and leads, in the configured team."""
    ids = [
        frames[t].select(user_id=pl.col("owner_id").cast(pl.String))
        for t in ("opportunities", "leads")
        if t in frames and "owner_id" in frames[t].columns
    ]
    owners = pl.concat(ids).drop_nulls().unique().sort("user_id") if ids else None
    if owners is None:
        owners = pl.DataFrame(schema={"user_id": pl.String})
    return owners.with_columns(
        team=pl.lit(str(options.get("default_team", DEFAULT_TEAM))),
        function=pl.lit(str(options.get("default_function", DEFAULT_OWNER))).cast(Function),
    )
