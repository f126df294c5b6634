"""Shared page widgets: metric help from the registry, tables with CSV download and
drill-down, team colors, and the "not available" notice. Pages lay out; they never compute."""

from __future__ import annotations

import sys
from functools import cache, partial
from pathlib import Path
from typing import Any

import polars as pl
import streamlit as st

from model import formats
from model.tables import ALL_TEAMS
from model.team_rows import labelled_total, team_rows
from pages import _auth, _filters
from pages._text import md_text
from reports import names
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


# Words a header spells in capitals, as people write them.
_CAPITALS = {"id": "ID", "sla": "SLA", "mql": "MQL", "sal": "SAL", "sql": "SQL", "crm": "CRM",
             "url": "URL", "wape": "WAPE", "arr": "ARR", "acv": "ACV"}  # fmt: skip


def readable(column: str) -> str:
    """A column name as a header a person reads: `sourced_by` → "Sourced by", `opp_id` →
    "Opp ID", `sla_breach_rate` → "SLA breach rate"."""
    words = [_CAPITALS.get(w, w) for w in column.replace("_", " ").strip().split()]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def number_column(
    kind: formats.Kind | str, label: str, help: str | None = None, **options: Any
) -> Any:
    """A table column of one kind (`model.formats`): "$13,983", "42.3%", "12.5 days", "1.4×"
    look the same on every page."""
    k = formats.KINDS[kind] if isinstance(kind, str) else kind
    return st.column_config.NumberColumn(
        label, format=k.grid, step=k.step, help=help or None, **options
    )


def _kind_column(kind: formats.Kind, label: str, definition: str | None) -> Any:
    return number_column(kind, label, help_for(definition) if definition else None)


def money_column(label: str, definition: str | None = None) -> Any:
    """Amounts to the dollar ("$13,983"), with the metric's help when `definition` is given."""
    return _kind_column(formats.MONEY, label, definition)


def percent_column(label: str, definition: str | None = None) -> Any:
    """Rates as "42.3%", with the metric's help when `definition` is given."""
    return _kind_column(formats.PERCENT, label, definition)


def days_column(label: str, definition: str | None = None) -> Any:
    """Durations as "12.5 days"."""
    return _kind_column(formats.DAYS, label, definition)


def hours_column(label: str, definition: str | None = None) -> Any:
    """Durations as "3.5 h"."""
    return _kind_column(formats.HOURS, label, definition)


def house_style(column: str, setting: Any) -> Any:
    """A page's number column setting in the house style of its kind (`model.formats.
    house_kind`): money to the dollar, rates to one decimal of a percent, days with "days".
    Any other setting as it is."""
    number = isinstance(setting, dict) and (setting.get("type_config") or {}).get("type")
    if number != "number":
        return setting
    options = setting["type_config"]
    kind = formats.house_kind(column, options.get("format"))
    if kind is None:
        return setting
    return {**setting, "type_config": {**options, "format": kind.grid, "step": kind.step}}


def datetime_column(label: str, help: str | None = None) -> Any:
    """Instants to the minute in the reporting time zone (scorecard.toml), as
    `model.formats.fmt_datetime` writes them, not in UTC or the browser's zone."""
    from pages import _data

    zone = _data.settings().scoring.timezone
    note = f"Time in {zone}, the reporting time zone."
    return st.column_config.DatetimeColumn(
        label,
        format=formats.GRID_DATETIME,
        timezone=zone,
        help=f"{help}\n\n{note}" if help else note,
    )


def column_defaults(frame: pl.DataFrame, config: dict | None = None) -> dict:
    """`config` in the house style (`house_style`) and completed for the columns it leaves
    out: each gets a readable header (`readable`) and, when it holds decimals, the format of
    its kind (`model.formats`); instants read as local date and time (`datetime_column`),
    also in a column the page only labelled; a column set to None in `config` stays hidden.
    Pages name the columns they know; this keeps a column added later from showing as
    `snake_case` with raw decimals or UTC instants, and one amount from reading "$13,983.29"
    here and "$13,983" there."""
    config = {c: house_style(c, v) for c, v in (config or {}).items()}
    for column, dtype in frame.schema.items():
        if column in config and isinstance(dtype, pl.Datetime):
            setting = config[column]
            kind = setting.get("type_config") or {} if isinstance(setting, dict) else {}
            if setting is not None and kind.get("type") != "datetime":
                config[column] = datetime_column(_setting(config, column)[0] or readable(column))
            continue
        if column in config:
            continue
        if dtype.is_float():
            config[column] = number_column(formats.kind_of_column(column), readable(column))
        elif isinstance(dtype, pl.Datetime):  # local date and time, not a UTC instant
            config[column] = datetime_column(readable(column))
        elif "_" in column:
            config[column] = st.column_config.Column(readable(column))
    return config


# What a table shows for an unknown value (the grid's own default is "None"); each column's
# help says what makes one unknown where the page knows.
MISSING = formats.UNKNOWN


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


def _setting(config: dict, column: str) -> tuple[str | None, str | None]:
    """The label and grid format a table's column setting gives `column` (None: none)."""
    setting = config.get(column)
    if isinstance(setting, str):
        return setting, None
    if isinstance(setting, dict):
        return setting.get("label"), (setting.get("type_config") or {}).get("format")
    return None, None


def csv_frame(frame: pl.DataFrame, config: dict | None = None) -> pl.DataFrame:
    """`frame` as its CSV holds it: each header the label the table shows (from `config`,
    else `readable`), each float rounded for its kind (money 2 decimals, rates 4, days 1).
    Columns the table hides (IDs) stay, under a readable header."""
    config = config or {}
    labels: dict[str, str] = {}
    rounded = []
    for column, dtype in frame.schema.items():
        label, fmt = _setting(config, column)
        label = label or readable(column)
        labels[column] = label if label not in labels.values() else f"{label} ({column})"
        if dtype.is_float():
            kind = formats.kind_of_grid(fmt) or formats.kind_of_column(column)
            rounded.append(formats.csv_rounded(column, kind))
    return frame.with_columns(rounded).rename(labels)


def csv_text(frame: pl.DataFrame, config: dict | None = None) -> str:
    """`frame` as CSV (`csv_frame`: the table's headers, sensible precision); list columns
    (e.g. a trend per period) become "a; b; c". Text cells are neutralised against formula
    injection (`_text_cell`); numbers stay numbers, so a negative amount is still a number in
    the spreadsheet."""
    frame = csv_frame(frame, config)
    lists = [c for c, t in frame.schema.items() if isinstance(t, pl.List)]
    texts = [c for c, t in frame.schema.items() if _is_text(t)]
    flat = frame.with_columns(
        pl.col(c).list.eval(pl.element().cast(pl.String)).list.join("; ") for c in lists
    ).with_columns(_text_cell(c) for c in texts)
    # Text cells carry their own quotes; no other column needs any (numbers, dates, booleans).
    return flat.write_csv(quote_style="never")


def _page_name() -> str:
    """The page script running now (`pages/pipeline.py` → "pipeline"): the first frame up the
    stack that is a page, not a shared module of pages/."""
    frame = sys._getframe(1)
    while frame is not None:
        path = Path(frame.f_code.co_filename)
        if path.parent.name == "pages" and not path.stem.startswith("_"):
            return path.stem
        frame = frame.f_back
    return "scorecard"


def csv_file_name(name: str, page: str | None = None) -> str:
    """`<page>-<what>-<team or all-teams>-<period>-asof-<YYYY-MM-DD>.csv` for the view in the
    sidebar; `name` says what (a period or as-of date it repeats is left out)."""
    page = page or _page_name()
    view = st.session_state.get("view")
    if view is None:
        return f"{formats.slug(page)}-{formats.slug(name)}.csv"
    what = name.replace(view.as_of, "").replace(view.period, "")
    return formats.csv_file_name(
        page, what or name, teams=view.teams, period=view.period, as_of=view.as_of
    )


def csv_button(frame: pl.DataFrame, name: str, *, key: str, config: dict | None = None) -> None:
    """A CSV download of `frame`, headed and rounded as the table shows it (`config`, the
    table's column settings), named for the view; the CSV is written only when clicked."""
    file_name = csv_file_name(name)
    st.download_button(
        "Download CSV",
        data=partial(csv_text, frame, config),
        file_name=file_name,
        mime="text/csv",
        key=f"csv_{key}",
        icon=":material/download:",
        on_click=_auth.record_export,  # the audit log records who exported what
        args=(file_name,),
    )


DEAL_PAGE = "deal"  # url path of pages/deal.py
# The link column shows the deal's name: the cell's URL carries it last, and Streamlit's
# LinkColumn shows what this pattern captures (URL-decoded).
DEAL_LINK_TEXT = r"[?&]name=([^&#]*)$"
# Characters a query value must not hold as they are: the URL's own separators, and "+",
# which the link column decodes as a space. "%" first, so the others' escapes stay intact.
_URL_ESCAPES = (("%", "%25"), ("&", "%26"), ("#", "%23"), ("+", "%2B"), (" ", "%20"),
                ("\n", "%0A"), ("\r", "%0D"), ("\t", "%09"), ('"', "%22"), ("<", "%3C"),
                (">", "%3E"))  # fmt: skip


def url_value(column: str) -> pl.Expr:
    """The text of `column` escaped for a URL query value."""
    out = pl.col(column).cast(pl.String)
    for raw, escaped in _URL_ESCAPES:
        out = out.str.replace_all(raw, escaped, literal=True)
    return out


def deal_link(
    view_params: dict[str, str], *, id_column: str = "opp_id", name_column: str = "name"
) -> pl.Expr:
    """A relative link to the deal page of each row's deal (`deal?id=…`), keeping the view's
    as-of, period and review window, with the deal's name last (the link column shows it)."""
    kept = "".join(f"&{k}={v}" for k, v in view_params.items() if v)
    return pl.format(
        f"{DEAL_PAGE}?id={{}}{kept}&name={{}}",
        url_value(id_column),
        url_value(name_column).fill_null(url_value(id_column)),
    )


def link_params() -> dict[str, str]:
    """The URL parameters a link to another page keeps: as-of, period and review window."""
    from pages import _review

    view = st.session_state.get("view")
    if view is None:
        return {}
    return {
        "as_of": view.as_of,
        "period": view.period,
        "since": _review.since(view.as_of_date).isoformat(),
    }


def in_team_order(frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A per-team result in the order every table shows it for the view's teams (the total
    last, left out for one team: `model.team_rows.team_rows`), and the same rows with the total
    named as shown ("Selected teams" for several teams). Any other frame twice as it is."""
    view = st.session_state.get("view")
    teams = view.teams if view is not None else ()
    ordered = team_rows(frame, teams)
    return ordered, labelled_total(ordered, teams)


def since_last_snapshot(
    column: str, unit: str, *, higher_is_better: bool, note: dict | None = None
) -> dict:
    """`st.metric` delta arguments for a headline figure of the view's total row (the
    Scorecard's team table, All teams): its change since the previous snapshot with an arrow,
    green when better (`higher_is_better`); "not measured before" without an arrow; `note`
    (a "not measured" or other note the card already shows) wins; nothing on a first snapshot.
    `unit` as `reports.headline_changes.metric_delta`."""
    from pages import _data
    from reports.headline_changes import metric_delta

    view = st.session_state.get("view")
    if note or view is None:
        return note or {}
    changes = _data.changes(view)
    if not changes.get("previous"):
        return {}
    off = {"delta_color": "off", "delta_arrow": "off"}
    before = {r["team"]: r for r in changes.get("headline_before", [])}.get(ALL_TEAMS, {})
    delta = changes.get("headline", {}).get(ALL_TEAMS, {}).get(column)
    if delta is None:
        return {"delta": "not measured before", **off} if before.get(column) is None else {}
    if delta == 0:
        return {"delta": "no change since last snapshot", **off}
    return {
        "delta": f"{metric_delta(delta, unit)} since last snapshot",
        "delta_color": "normal" if higher_is_better else "inverse",
    }


def with_deal_columns(frame: pl.DataFrame) -> tuple[pl.DataFrame, dict, pl.DataFrame | None]:
    """A deal list (a frame with `opp_id`) with the link to each deal's page (`deal`, showing
    its name), its change flags over the review window (`flags`) and its risk score
    (`risk`) in front, and the column settings for them; any other frame as it is.
    A column is left out when none of the frame's deals has a value (not measured on this
    data; for risk also: no deal open at the as-of date). Also returns the
    added columns as numbers (`opp_id`, `flags`, `risk`), for the CSV."""
    view = st.session_state.get("view")
    if "opp_id" not in frame.columns or view is None:
        return frame, {}, None
    from pages import _data

    params = link_params()
    marks = _data.deal_marks(view, params["since"])
    joined = frame.join(
        marks.select("opp_id", pl.col("name").alias("_deal_name"), "flags", "risk"),
        on="opp_id",
        how="left",
        maintain_order="left",
    )
    # flags are null when not measured, risk when not measured or for deals not open
    shown = [c for c in ("flags", "risk") if not joined[c].is_null().all()]
    deal = deal_link(params, name_column="_deal_name").alias("deal")
    out = joined.select(deal, *shown, pl.exclude("_deal_name", "flags", "risk", "deal"))
    if "risk" in shown:
        # As text, so a deal without a score shows "—" rather than "None"; padded to three
        # characters, so sorting the column still sorts by score.
        out = out.with_columns(
            risk=pl.when(pl.col("risk").is_null())
            .then(pl.lit("—"))
            .otherwise(pl.col("risk").cast(pl.String).str.pad_start(3, " "))
        )
    config = {
        "deal": st.column_config.LinkColumn(
            "Deal",
            display_text=DEAL_LINK_TEXT,
            help="The deal's page: its stage timeline, every change, flags and risk reasons.",
            pinned=True,
        ),
        "flags": st.column_config.TextColumn(
            "Changes",
            width="medium",
            help=f"What changed on the deal since the end of {params['since']} (the review "
            "window: `since=` or `window=` in the URL): pushed/pulled-in close dates, amount "
            "up/down, stage forward/back, category up/down, new, won, lost, reopened.",
        ),
        "risk": st.column_config.TextColumn(
            "Risk",
            alignment="right",
            help=(help_for("deal_risk") or "Deal risk score, 0–100.")
            + "\n\n–: not an open deal at the as-of date.",
        ),
        "opp_id": None,  # the link carries the id; names, not ids
        "name": None,  # the link shows the name
    }
    return out, config, joined.select("opp_id", *shown)


def with_names(frame: pl.DataFrame) -> tuple[pl.DataFrame, dict]:
    """A record list with the names of the people and deals it points to (`reports.names`:
    `owner_id` U033 → `owner` "Dana Ruiz", `converted_opp_id` → `converted_opp` "Acme
    renewal") and the name columns' settings; `table` hides the IDs, which stay in the CSV.
    Any other frame as it is."""
    users, deals = names.user_id_columns(frame), names.deal_id_columns(frame)
    view = st.session_state.get("view")
    if not (users or deals) or view is None:
        return frame, {}
    from pages import _data

    if users:
        frame = names.with_user_names(frame, _data.users(view.data_dir, view.snapshot_id))
    if deals:
        frame = names.with_deal_names(frame, _data.deal_names(view.data_dir, view.snapshot_id))
    config: dict[str, Any] = {}
    for column in (*users, *deals):
        target = names.name_column(column)
        config[target] = st.column_config.TextColumn(
            readable(target),
            help=f"Its name; the ID is in the CSV ({readable(column)}).",
        )
    return frame, config


def table(
    frame: pl.DataFrame,
    *,
    key: str,
    name: str,
    select: bool = False,
    column_config: dict | None = None,
    height: int | None = None,
) -> pl.DataFrame | None:
    """A table with a CSV download; with `select`, returns the selected row (or None). A deal
    list (a frame with `opp_id`) links each deal to its page and shows its change flags and
    risk score (`with_deal_columns`). A per-team result shows its teams first and its total
    last, named for the view (`in_team_order`); a selected total row comes back as "All teams"."""
    if frame.is_empty():
        st.caption("No records for this view.")
        return None
    frame, labelled = in_team_order(frame)
    labelled, names_config = with_names(labelled)
    shown, deal_config, marks = with_deal_columns(labelled)
    ids = [*names.user_id_columns(labelled), *names.deal_id_columns(labelled)]
    hidden = {c: None for c in ids}  # names, not IDs
    config = {**names_config, **(column_config or {}), **hidden, **deal_config}
    config = column_defaults(shown, config)
    event = st.dataframe(
        shown.to_arrow(),  # Arrow as is: ~8× cheaper per rerun than handing over polars
        key=key,
        hide_index=True,
        placeholder=MISSING,
        on_select="rerun" if select else "ignore",
        selection_mode="single-row",
        column_config=config or None,
        height=height or "auto",
        width="stretch",
    )
    extra = [] if marks is None else [marks.drop("opp_id", *frame.columns, strict=False)]
    csv_button(
        pl.concat([labelled, *extra], how="horizontal") if extra and extra[0].width else labelled,
        name,
        key=key,
        config=config,
    )
    if not select:
        return None
    on_screen = event.selection.rows[0] if event and event.selection.rows else None
    row = _filters.drilled_row(key, frame, on_screen)  # kept in the URL, so links carry it
    return None if row is None else frame[row]
