"""People and deals by name, not by CRM ID: the display lookup every record list goes through.

A record list names its owner (`owner_id` U033 reads "Dana Ruiz") and the deals it points to
(`converted_opp_id` O0005134 reads "Acme renewal"); the ID stays beside it for the CSV and a
details column, since two people or deals can share a name.
"""

from __future__ import annotations

import polars as pl

# Columns holding a CRM user's (or queue's) ID, and the name column shown for each.
_USER_ID = ("owner_id", "user_id", "manager_id")


def user_id_columns(frame: pl.DataFrame | pl.LazyFrame) -> list[str]:
    """The columns of `frame` that hold a user's ID: `owner_id`, `user_id`, `manager_id` and
    any `*_owner_id` (`sales_owner_id`)."""
    names = frame.collect_schema().names()
    return [c for c in names if c in _USER_ID or c.endswith("_owner_id")]


def name_column(id_column: str) -> str:
    """The column a user-ID column's names go to: `owner_id` → `owner`, `sales_owner_id` →
    `sales_owner`."""
    return id_column.removesuffix("_id")


def deal_id_columns(frame: pl.DataFrame | pl.LazyFrame) -> list[str]:
    """The columns of `frame` that point to a deal other than the row's own (`opp_id`, which
    the deal link names): `converted_opp_id` and any other `*_opp_id`."""
    return [c for c in frame.collect_schema().names() if c.endswith("_opp_id")]


def _named(frame: pl.DataFrame, columns: list[str], names: pl.DataFrame) -> pl.DataFrame:
    """`frame` with each of `columns` looked up in `names` (`key`, `name`) into a column just
    before it (`name_column`), unless the frame has one; an ID without a name stays as is."""
    names = names.filter(pl.col("name").is_not_null()).unique("key", keep="first")
    out = frame
    for column in columns:
        target = name_column(column)
        if target in frame.columns:
            continue
        lookup = names.rename({"key": column, "name": target})
        joined = out.join(lookup, on=column, how="left", maintain_order="left")
        named = joined.with_columns(pl.col(target).fill_null(pl.col(column).cast(pl.String)))
        order = [c for c in out.columns if c != column]
        at = out.columns.index(column)
        out = named.select(*order[:at], target, column, *order[at:])
    return out


def with_deal_names(frame: pl.DataFrame, deals: pl.DataFrame) -> pl.DataFrame:
    """`frame` with each deal-ID column's deal names (from `deals`: `opp_id`, `name`) just
    before it (`converted_opp_id` → `converted_opp`), as `with_user_names` does for people."""
    keys = deals.select(pl.col("opp_id").alias("key"), pl.col("name").cast(pl.String))
    return _named(frame, deal_id_columns(frame), keys)


def with_user_names(frame: pl.DataFrame, users: pl.DataFrame) -> pl.DataFrame:
    """`frame` with each user-ID column's names (from `users`: `user_id`, `name`) in a column
    just before it, unless the frame already has one; a user without a name in the users
    table keeps the ID (the only name the data has). Rows and their order unchanged."""
    keys = users.select(pl.col("user_id").alias("key"), pl.col("name").cast(pl.String))
    return _named(frame, user_id_columns(frame), keys)
