"""`pages._since.delta`: a headline figure's change since the previous snapshot as `st.metric`
arguments — the sign sets the arrow, `higher_is_better` the colour; no arrow without an
earlier snapshot or an earlier value; a note the card already shows wins."""

from __future__ import annotations

from pages._since import OFF, delta


def test_no_earlier_snapshot_no_delta():
    assert delta(0.5, 0.4, "pts", higher_is_better=True, compared=False) == {}
    assert delta(None, 0.4, "pts", higher_is_better=True, compared=True) == {}  # nothing now


def test_not_measured_before_has_no_arrow():
    assert delta(0.5, None, "pts", higher_is_better=True, compared=True) == {
        "delta": "not measured before",
        **OFF,
    }


def test_a_rise_is_green_when_up_is_good_and_red_when_it_is_bad():
    # 0.712 - 0.703 = +0.009 → "+0.9 pts"
    up_good = delta(0.712, 0.703, "pts", higher_is_better=True, compared=True)
    assert up_good == {"delta": "+0.9 pts since last snapshot", "delta_color": "normal"}
    # 105 leaked MQLs after 89: +16, more leaks are worse → "inverse" (a rise drawn red)
    up_bad = delta(105, 89, "count", higher_is_better=False, compared=True)
    assert up_bad == {"delta": "+16 since last snapshot", "delta_color": "inverse"}


def test_a_fall_in_money_and_a_score():
    # $8.8M after $9.1M: −$0.3M → "-$300k"
    assert delta(8.8e6, 9.1e6, "$", higher_is_better=True, compared=True)["delta"] == (
        "-$300k since last snapshot"
    )
    # a score of 87 after 89.5: −2.5 points of score
    assert delta(87.0, 89.5, "score", higher_is_better=True, compared=True)["delta"] == (
        "-2.5 since last snapshot"
    )


def test_no_change_and_a_note():
    assert delta(3, 3, "count", higher_is_better=False, compared=True) == {
        "delta": "no change since last snapshot",
        **OFF,
    }
    note = {"delta": "not measured: no first touch recorded", **OFF}
    assert delta(0.5, 0.4, "pts", higher_is_better=True, compared=True, note=note) == note
