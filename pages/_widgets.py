"""Shared page widgets: metric help from the registry, tables with CSV download and
drill-down, team colors, and the "not available" notice. Pages lay out; they never compute."""

from __future__ import annotations

from functools import cache, partial

import polars as pl
import streamlit as st

from pages import _auth
from pages._text import md_text
from reports.colors import ALL_TEAMS_COLOR, PALETTE, selected_value, team_scale
from scoring.definitions import MetricDefinition, registry
from scoring.model import money, pct

# re-exported for pages
__all__ = ["ALL_TEAMS_COLOR", "PALETTE", "money", "pct", "selected_value", "team_scale"]


@cache
def definitions() -> dict[str, MetricDefinition]:
    return registry()


def help_for(definition_id: str) -> str:
    """The metric's definition as help text (formula, unit, what good looks like)."""
    d = definitions().get(definition_id)
    if d is None:
        return ""
    return (
        f"**{d.name}** (`{d.id}`)\n\n{d.formula}\n\nGood: {d.good}\n\n"
        f"Grain: {d.grain}. Date anchor: {d.date_anchor}. Owner: {d.owner_team}."
    )


def not_available(message: str | None) -> bool:
    """Show why a metric is not available; True when it is not."""
    if message:
        st.info(md_text(message), icon=":material/block:")
        return True
    return False


FORMULA_START = r"^[=+\-@\t\r]"  # a spreadsheet reads a cell starting so as a formula (OWASP)


def _text_cell(column: str) -> pl.Expr:
    """A text column's cells as written to CSV: one a spreadsheet would run as a formula
    (`=HYPERLINK(…)`, `-2+3`, `@SUM(…)`) gets a leading `'` so it shows as text, and is quoted,
    as is any cell holding a comma, quote or line break."""
    cell = pl.col(column).cast(pl.String)
    formula = cell.str.contains(FORMULA_START)
    text = pl.when(formula).then(pl.lit("'") + cell).otherwise(cell)
    quote = formula | cell.str.contains(r'[,"\r\n]') | (cell == "")
    quoted = pl.lit('"') + text.str.replace_all('"', '""', literal=True) + pl.lit('"')
    return pl.when(quote).then(quoted).otherwise(text).alias(column)


def _is_text(dtype: pl.DataType) -> bool:
    text = (pl.String, pl.Categorical, pl.Enum)
    inner = dtype.inner if isinstance(dtype, pl.List) else None
    return isinstance(dtype, text) or (inner is not None and isinstance(inner, text))


def csv_text(frame: pl.DataFrame) -> str:
    """`frame` as CSV; list columns (e.g. a trend per period) become "a; b; c". Text cells are
    neutralised against formula injection (`_text_cell`); numbers stay numbers, so a negative
    amount is still a number in the spreadsheet."""
    lists = [c for c, t in frame.schema.items() if isinstance(t, pl.List)]
    texts = [c for c, t in frame.schema.items() if _is_text(t)]
    flat = frame.with_columns(
        pl.col(c).list.eval(pl.element().cast(pl.String)).list.join("; ") for c in lists
    ).with_columns(_text_cell(c) for c in texts)
    # Text cells carry their own quotes; no other column needs any (numbers, dates, booleans).
    return flat.write_csv(quote_style="never")


def csv_button(frame: pl.DataFrame, name: str, *, key: str) -> None:
    """A CSV download of `frame`; the CSV is written only when somebody clicks."""
    st.download_button(
        "Download CSV",
        data=partial(csv_text, frame),
        file_name=f"{name}.csv",
        mime="text/csv",
        key=f"csv_{key}",
        icon=":material/download:",
        on_click=_auth.record_export,  # the audit log records who exported what
        args=(f"{name}.csv",),
    )


def table(
    frame: pl.DataFrame,
    *,
    key: str,
    name: str,
    select: bool = False,
    column_config: dict | None = None,
    height: int | None = None,
) -> pl.DataFrame | None:
    """A table with a CSV download; with `select`, returns the selected row (or None)."""
    if frame.is_empty():
        st.caption("No records for this view.")
        return None
    event = st.dataframe(
        frame.to_arrow(),  # Arrow as is: ~8× cheaper per rerun than handing over polars
        key=key,
        hide_index=True,
        on_select="rerun" if select else "ignore",
        selection_mode="single-row",
        column_config=column_config,
        height=height or "auto",
        width="stretch",
    )
    csv_button(frame, name, key=key)
    if select and event and event.selection.rows:
        return frame[event.selection.rows[0]]
    return None
