"""Cached chart specs: keyed by an exact digest of the chart's inputs, equal to the spec the
chart itself gives, built once per content."""

from __future__ import annotations

import altair as alt
import polars as pl

from pages import _chart_specs
from pages._chart_specs import content_key, spec_of


def _bars(frame: pl.DataFrame, *, title: str = "t") -> alt.Chart:
    return alt.Chart(frame).mark_bar().encode(x="team:N", y="n:Q").properties(title=title)


FRAME = pl.DataFrame({"team": ["A", "B", "C", "D"], "n": [1, 2, 3, 4]})


def test_key_sees_every_row_not_just_the_first_and_last():
    # Streamlit's own hash of a polars frame reads only its first and last rows.
    changed = FRAME.with_columns(n=pl.Series([1, 20, 3, 4]))
    assert content_key(_bars, [FRAME], {}) == content_key(_bars, [FRAME.clone()], {})
    assert content_key(_bars, [FRAME], {}) != content_key(_bars, [changed], {})


def test_key_sees_arguments_and_builder():
    base = content_key(_bars, [FRAME], {"title": "t"})
    assert base != content_key(_bars, [FRAME], {"title": "u"})
    assert base != content_key(spec_of, [FRAME], {"title": "t"})
    assert content_key(_bars, [FRAME], {"title": "t"}) == base


def test_spec_is_the_charts_own_with_data_inline():
    spec = spec_of(_bars(FRAME))
    assert spec["mark"] == {"type": "bar"} and spec["title"] == "t"
    [values] = spec["datasets"].values()  # an Arrow table of the chart's rows
    assert values.to_pylist() == FRAME.to_dicts()
    assert "config" not in spec  # Altair's default theme (fixed sizes) is left out


def test_no_row_limit_on_inline_data():
    big = pl.DataFrame({"team": [f"T{i}" for i in range(6000)], "n": list(range(6000))})
    [values] = spec_of(_bars(big))["datasets"].values()
    assert values.num_rows == 6000  # Altair's default transformer would refuse > 5000 rows


def test_spec_built_once_per_content(monkeypatch):
    _chart_specs._cached_spec.clear()
    calls = []

    def counted(frame: pl.DataFrame, *, title: str = "t") -> alt.Chart:
        calls.append(1)
        return _bars(frame, title=title)

    args = (counted, (FRAME,), {"title": "t"})
    first = _chart_specs._cached_spec(content_key(*args), *args)
    again = _chart_specs._cached_spec(content_key(*args), *args)
    assert first == again and calls == [1]
    other = (counted, (FRAME.with_columns(n=pl.col("n") * 2),), {"title": "t"})
    _chart_specs._cached_spec(content_key(*other), *other)
    assert calls == [1, 1]
