"""People by name (`reports.names`): each user-ID column gets its names just before it."""

from __future__ import annotations

import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from reports.names import (
    deal_id_columns,
    name_column,
    user_id_columns,
    with_deal_names,
    with_user_names,
)

USERS = pl.DataFrame(
    {
        "user_id": ["U1", "U2", "QUEUE-LEADS", "U9"],
        "name": ["Dana Ruiz", "Sam Lee", "Lead queue", None],  # U9 has no name
    }
)


def test_owner_ids_get_names_before_them_and_keep_the_ids():
    deals = pl.DataFrame(
        {
            "opp_id": ["O1", "O2", "O3", "O4"],
            "owner_id": ["U2", "QUEUE-LEADS", "U9", "U404"],
            "sales_owner_id": ["U1", None, "U1", "U2"],
        }
    )
    out = with_user_names(deals, USERS)
    # each name column just before its ID column; rows in their order
    assert out.columns == ["opp_id", "owner", "owner_id", "sales_owner", "sales_owner_id"]
    assert out["opp_id"].to_list() == ["O1", "O2", "O3", "O4"]
    # U2 → Sam Lee, the queue by its name; U9 has no name and U404 is not in the users table:
    # the ID is the only name the data has
    assert out["owner"].to_list() == ["Sam Lee", "Lead queue", "U9", "U404"]
    assert out["sales_owner"].to_list() == ["Dana Ruiz", None, "Dana Ruiz", "Sam Lee"]
    assert out["owner_id"].to_list() == deals["owner_id"].to_list()


def test_a_frame_that_already_names_its_owner_is_left_as_it_is():
    deals = pl.DataFrame({"owner": ["Someone"], "owner_id": ["U1"], "amount": [5.0]})
    assert with_user_names(deals, USERS).equals(deals)
    assert with_user_names(pl.DataFrame({"team": ["EMEA"]}), USERS).columns == ["team"]


def test_which_columns_hold_user_ids():
    frame = pl.DataFrame(schema=["opp_id", "owner_id", "user_id", "manager_id", "team_owner_id"])
    assert user_id_columns(frame) == ["owner_id", "user_id", "manager_id", "team_owner_id"]
    assert [name_column(c) for c in user_id_columns(frame)] == [
        "owner",
        "user",
        "manager",
        "team_owner",
    ]


@given(st.permutations(range(6)))
def test_row_order_never_changes_a_row_s_name(order):
    deals = pl.DataFrame(
        {"opp_id": [f"O{i}" for i in range(6)], "owner_id": ["U1", "U2", "U9", None, "U1", "X"]}
    )
    shuffled = deals[list(order)]
    named = with_user_names(shuffled, USERS)
    assert named["opp_id"].to_list() == shuffled["opp_id"].to_list()  # order kept
    expected = with_user_names(deals, USERS).sort("opp_id")
    assert named.sort("opp_id").equals(expected)


def test_deals_pointed_to_get_their_names():
    deals = pl.DataFrame({"opp_id": ["O1", "O2"], "name": ["Acme renewal", None]})
    leads = pl.DataFrame({"lead_id": ["L1", "L2", "L3"], "converted_opp_id": ["O2", "O1", None]})
    out = with_deal_names(leads, deals)
    assert out.columns == ["lead_id", "converted_opp", "converted_opp_id"]
    # O1 → Acme renewal; O2 has no name, so its ID is the name; L3 converted into no deal
    assert out["converted_opp"].to_list() == ["O2", "Acme renewal", None]
    assert deal_id_columns(pl.DataFrame(schema=["opp_id", "converted_opp_id"])) == [
        "converted_opp_id"
    ]
