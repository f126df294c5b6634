"""Boundary validation: each kind of bad input gives a message naming table, column and rows."""

from __future__ import annotations

import polars as pl
import pytest

from connectors.validate import ValidationError, validate_tables
from model.schema import TABLES


def _problems(frames: dict[str, pl.DataFrame]) -> list[str]:
    with pytest.raises(ValidationError) as info:
        validate_tables(frames, source="demo-test")
    assert str(info.value).startswith("demo-test: ")
    return [str(p) for p in info.value.problems]


def test_valid_org_passes_and_is_conformed(tiny_org):
    result = validate_tables(tiny_org)
    assert set(result.frames) == set(tiny_org)
    for name, frame in result.frames.items():
        assert frame.schema == TABLES[name].polars_schema
    assert result.warnings == []


def test_missing_required_column_lists_what_is_there(tiny_org):
    tiny_org["opportunities"] = tiny_org["opportunities"].drop("close_date", "owner_id")
    (problem,) = _problems(tiny_org)
    assert problem.startswith("opportunities.owner_id, close_date: required columns are missing")
    assert "columns present: opp_id, name" in problem


def test_missing_required_table(tiny_org):
    del tiny_org["stages"]
    assert _problems(tiny_org) == ["stages: required table is missing from the source"]


def test_optional_columns_and_tables_may_be_absent(tiny_org):
    tiny_org["opportunities"] = tiny_org["opportunities"].drop("segment", "lead_source")
    del tiny_org["leads"]
    result = validate_tables(tiny_org)
    assert "leads" not in result.frames
    assert result.frames["opportunities"]["segment"].null_count() == 2


def test_wrong_type_names_rows_and_values(tiny_org):
    opps = tiny_org["opportunities"].with_columns(pl.col("amount").cast(pl.String))
    tiny_org["opportunities"] = opps.with_columns(
        amount=pl.Series(["1,000", "500"]), is_closed=pl.Series(["true", "perhaps"])
    )
    problems = _problems(tiny_org)
    assert "opportunities.amount: 1 value(s) not numbers (row 1: '1,000')" in problems
    assert "opportunities.is_closed: 1 value(s) not true/false (row 2: 'perhaps')" in problems


def test_unparseable_dates(tiny_org):
    tiny_org["opportunities"] = tiny_org["opportunities"].with_columns(
        close_date=pl.Series(["2026-02-01", "2026-13-45"]),
        created_at=pl.Series(["2026-01-05T10:00:00.000Z", "next week"]),
    )
    problems = _problems(tiny_org)
    assert "opportunities.close_date: 1 value(s) not valid dates (row 2: '2026-13-45')" in problems
    assert (
        "opportunities.created_at: 1 value(s) not valid date-times (row 2: 'next week')" in problems
    )


def test_text_dates_in_iso_forms_are_accepted(tiny_org):
    tiny_org["opportunities"] = tiny_org["opportunities"].with_columns(
        close_date=pl.Series(["2026-02-01", "2026-04-30"]),
        created_at=pl.Series(["2026-01-05T10:00:00.000Z", "2026-02-01 09:00:00"]),
    )
    opps = validate_tables(tiny_org).frames["opportunities"]
    assert opps["created_at"].dt.hour().to_list() == [10, 9]
    assert str(opps["created_at"].dtype) == "Datetime(time_unit='us', time_zone='UTC')"


def test_unknown_enum_value(tiny_org):
    tiny_org["users"] = tiny_org["users"].with_columns(
        pl.Series("function", ["sales", "growth hacker", "marketing"])
    )
    (problem,) = _problems(tiny_org)
    assert problem.startswith("users.function: 1 value(s) not one of sales, sdr, marketing")
    assert "row 2: 'growth hacker'" in problem


def test_duplicate_ids(tiny_org):
    opps = tiny_org["opportunities"]
    tiny_org["opportunities"] = pl.concat([opps, opps.head(1)])
    (problem,) = _problems(tiny_org)
    assert problem == "opportunities.opp_id: 2 rows share a duplicate id ('O1' at row 1 and row 3)"


def test_empty_required_id(tiny_org):
    tiny_org["users"] = tiny_org["users"].with_columns(pl.Series("user_id", ["U1", None, "U3"]))
    problems = _problems(tiny_org)
    assert "users.user_id: 1 empty value(s) in a required field (row 2: None)" in problems


def test_history_for_unknown_opportunity_is_rejected(tiny_org):
    extra = tiny_org["stage_history"].head(1).with_columns(opp_id=pl.lit("O404"))
    tiny_org["stage_history"] = pl.concat([tiny_org["stage_history"], extra])
    (problem,) = _problems(tiny_org)
    assert problem == (
        "stage_history.opp_id: 1 row(s) refer to opportunities that do not exist (row 4: 'O404')"
    )


def test_dangling_owner_is_a_warning_not_an_error(tiny_org):
    tiny_org["opportunities"] = tiny_org["opportunities"].with_columns(
        pl.Series("owner_id", ["U1", "U99"])
    )
    result = validate_tables(tiny_org)
    (warning,) = [str(w) for w in result.warnings]
    assert (
        warning
        == "opportunities.owner_id: 1 row(s) refer to users that do not exist (row 2: 'U99')"
    )


def test_all_problems_are_reported_together(tiny_org):
    tiny_org["users"] = tiny_org["users"].with_columns(pl.Series("function", ["x", "y", "sales"]))
    tiny_org["opportunities"] = tiny_org["opportunities"].with_columns(
        close_date=pl.Series(["soon", "2026-01-01"])
    )
    assert len(_problems(tiny_org)) == 2
