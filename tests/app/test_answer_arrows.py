"""Change arrows on the answers of Handoffs, Campaigns & sourcing and Data trust (issue #17):
each headline figure shows its change since the previous snapshot — same period, as-of date and
teams — with an arrow, green when the change is good news (more MQLs, faster follow-up, more
sourced pipeline, a higher data-quality score) and red when bad (more leaks, more bounce-backs,
more failing checks); no arrow on a first snapshot.

The fixture `two_snapshots` holds the demo org as of 2026-11-16 (seed 7) and a later snapshot
of another history (seed 8). The expected direction of each arrow is read from the page itself
opened on the earlier snapshot (`?snapshot=<id>`, where it is the first: no arrows), so a test
fails when an arrow points the wrong way, is coloured the wrong way or appears from nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.proto.Metric_pb2 import Metric

from snapshots.store import Store

UP, DOWN, NO_ARROW = (
    Metric.MetricDirection.UP,
    Metric.MetricDirection.DOWN,
    Metric.MetricDirection.NONE,
)
GREEN, RED, GRAY = Metric.MetricColor.GREEN, Metric.MetricColor.RED, Metric.MetricColor.GRAY
AS_OF = "2026-11-16"


def _open(app, page: str, **query: str):
    at = app(as_of=AS_OF, **query).run()
    at.switch_page(f"pages/{page}.py").run()
    assert not at.exception
    return at


def _cards(at) -> dict[str, Metric]:
    return {m.label: m.proto for m in at.metric}


def _number(text: str) -> float:
    """A card's value as a number: "1,234" → 1234, "42.3%" → 42.3, "$1.2M" → 1.2e6,
    "3 (4.0%)" → 3 (the count before the share), "3 of 12" → 3."""
    head = text.split(" (")[0].split(" of ")[0].replace(",", "").replace("$", "").replace("%", "")
    scale = {"k": 1e3, "M": 1e6, "B": 1e9}.get(head[-1:], 1)
    return float(head.rstrip("kMB")) * scale


def _earlier(folder: Path) -> str:
    store = Store(folder)
    return store.previous(store.get(store.current_id())).id


def _check(now: dict[str, Metric], before: dict[str, Metric], label: str, better_up: bool):
    """The card `label` moved from the earlier snapshot's value: arrow the way the value moved,
    green when that is better."""
    was, value = _number(before[label].body), _number(now[label].body)
    card = now[label]
    assert before[label].direction == NO_ARROW  # the earlier snapshot is the first
    if was == value:  # equal as shown: no change, or one smaller than the card's rounding
        assert card.direction == NO_ARROW or card.color == (
            GREEN if (card.direction == UP) == better_up else RED
        )
        return
    up = value > was
    assert card.delta.endswith(" since last snapshot"), card.delta
    assert card.delta[0] == ("+" if up else "-")
    assert card.direction == (UP if up else DOWN)
    assert card.color == (GREEN if up == better_up else RED)


@pytest.mark.parametrize(
    ("page", "figures"),
    [
        (
            "handoffs",
            {"MQLs in period": True, "MQL → SAL": True, "Within SLA": True,
             "Leaked MQLs": False, "Bounce-back rate": False},
        ),
        (
            "campaigns",
            {"Marketing-sourced pipeline": True, "Sales-sourced pipeline": True,
             "Marketing-sourced bookings": True, "Sales-sourced bookings": True},
        ),
        (
            "data_trust",
            {"Data-quality score": True, "Checks finding problems": False,
             "Tables not provided": False},
        ),
    ],
)  # fmt: skip
def test_the_answer_s_figures_show_what_moved_since_the_last_snapshot(
    two_snapshots, app, page, figures
):
    now = _cards(_open(app, page))
    before = _cards(_open(app, page, snapshot=_earlier(two_snapshots)))
    moved = 0
    for label, better_up in figures.items():
        _check(now, before, label, better_up)
        moved += now[label].direction != NO_ARROW
    assert moved, f"{page}: another history moved none of {list(figures)}"


@pytest.mark.parametrize("page", ["handoffs", "campaigns", "data_trust"])
def test_a_first_snapshot_has_no_arrows(demo_store, app, page):
    cards = _cards(_open(app, page))
    assert cards
    for card in cards.values():
        assert card.direction == NO_ARROW
        assert "since last snapshot" not in card.delta
