"""Charts drawn from cached Vega-Lite specs.

Building an Altair chart and turning it into a spec (shorthand parsing, schema validation)
costs tens of milliseconds per chart, more than the rest of a warm rerun together. `chart`
builds each spec once per content — an exact digest of the builder, its frames (Arrow IPC
bytes) and its other arguments — and later reruns, in any session, draw the cached spec.
Frames are never hashed by Streamlit (its hash of a polars frame reads only its first and
last rows): the digest is the cache key.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import altair as alt
import polars as pl
import streamlit as st

# Altair's theme and data transformer are process globals: switch them only under this lock.
_ALTAIR_GLOBALS = threading.Lock()


def _feed(digest: Any, value: Any) -> None:
    if isinstance(value, pl.DataFrame | pl.Series):
        frame = value.to_frame() if isinstance(value, pl.Series) else value
        buffer = frame.rechunk().write_ipc(None)
        digest.update(b"frame:" + buffer.getvalue())
    elif isinstance(value, Mapping):
        digest.update(b"map:")
        for key in sorted(value, key=repr):
            _feed(digest, key)
            _feed(digest, value[key])
    elif isinstance(value, Sequence) and not isinstance(value, str | bytes):
        digest.update(f"seq{len(value)}:".encode())
        for item in value:
            _feed(digest, item)
    else:
        digest.update(f"{type(value).__qualname__}:{value!r};".encode())


def content_key(build: Callable[..., Any], args: Sequence[Any], kwargs: Mapping[str, Any]) -> str:
    """An exact digest of what a chart is built from: builder, frames' contents, arguments."""
    digest = hashlib.sha256(f"{build.__module__}.{build.__qualname__}".encode())
    _feed(digest, list(args))
    _feed(digest, dict(kwargs))
    return digest.hexdigest()


def spec_of(chart: alt.TopLevelMixin) -> dict[str, Any]:
    """The chart's Vega-Lite spec as Streamlit would draw it: Altair's default theme off
    (its fixed sizes fight the page layout), data inline without a row limit."""
    with (
        _ALTAIR_GLOBALS,
        alt.theme.enable("none"),
        alt.data_transformers.enable("default", max_rows=None),
    ):
        spec = chart.to_dict(validate=False)
    # Datasets as Arrow tables: Streamlit ships them as Arrow anyway, and converting rows
    # (a list of dicts) on every rerun costs ~8× more. Values are those of the JSON rows.
    datasets = spec.get("datasets", {})
    for name, rows in datasets.items():
        datasets[name] = pl.DataFrame(rows, infer_schema_length=None).to_arrow()
    return spec


@st.cache_data(max_entries=512, show_spinner=False)
def _cached_spec(
    key: str, _build: Callable[..., Any], _args: tuple, _kwargs: dict
) -> dict[str, Any]:
    return spec_of(_build(*_args, **_kwargs))


def chart(
    build: Callable[..., alt.TopLevelMixin],
    *args: Any,
    key: str,
    on_select: str = "ignore",
    selection_mode: str | Sequence[str] | None = None,
    width: str | int | None = None,
    **kwargs: Any,
) -> Any:
    """Draw `build(*args, **kwargs)` (an Altair chart builder) from its cached spec.

    Returns what `st.vega_lite_chart` returns: the selection state when `on_select` is
    "rerun", read with `_colors.selected_value` as for `st.altair_chart`.
    """
    spec = _cached_spec(content_key(build, args, kwargs), build, args, kwargs)
    options: dict[str, Any] = {"key": key, "on_select": on_select}
    if selection_mode is not None:
        options["selection_mode"] = selection_mode
    if width is not None:
        options["width"] = width
    return st.vega_lite_chart(spec=spec, **options)
