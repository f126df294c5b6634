"""The pre-read as a PDF (fpdf2) or one self-contained HTML page: layout only.

Both take a `PreRead` (already formatted text, see `scoring.preread`) and lay it out: a summary
page, then one page per pillar with its key charts, rendered from the pages' Vega-Lite specs by
vl-convert (no browser). Grayscale-safe: every number is printed as text, changes carry a sign,
and the charts chosen carry labels or line patterns besides color.
"""

from __future__ import annotations

import html
import io
import struct
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import vl_convert
from fpdf import FPDF
from fpdf.fonts import FontFace

from scoring.preread import Chart, PillarPage, PreRead, ReviewSection

CHART_WIDTH_PX = 560
# A Unicode TrueType font (arrows, ×, dashes) if the system has one; the PDF core font
# Helvetica (Latin-1 only, see `plain`) otherwise. No font is required to be installed.
FONT_CANDIDATES = (
    ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "DejaVuSans-Bold.ttf"),
    ("/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf", "LiberationSans-Bold.ttf"),
    ("/Library/Fonts/Arial Unicode.ttf", ""),
)
_LATIN1 = {"→": "->", "—": "-", "–": "-", "−": "-", "×": "x", "▲": "+", "▼": "-", "•": "=",
           "…": "...", "’": "'"}  # fmt: skip
GREY = (235, 235, 235)


def plain(text: str) -> str:
    """`text` in Latin-1, for the core PDF font: arrows and dashes spelled with ASCII."""
    for char, ascii_text in _LATIN1.items():
        text = text.replace(char, ascii_text)
    return text.encode("latin-1", "replace").decode("latin-1")


@cache
def unicode_font() -> tuple[Path, Path | None] | None:
    """The first Unicode font found on this machine (regular, bold), or None."""
    for regular, bold in FONT_CANDIDATES:
        path = Path(regular)
        if path.exists():
            bold_path = path.with_name(bold) if bold else None
            return path, bold_path if bold_path and bold_path.exists() else None
    return None


def _sized(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec at the pre-read's width (layout only: marks and encodings are untouched);
    a faceted or concatenated spec keeps the panel sizes it was built with."""
    if {"facet", "hconcat", "vconcat", "concat"} & set(spec):
        return spec
    return {**spec, "width": CHART_WIDTH_PX}


def chart_png(spec: dict[str, Any]) -> bytes:
    """A chart as a PNG at twice its pixel size (sharp in print)."""
    return vl_convert.vegalite_to_png(_sized(spec), scale=2)


def chart_svg(spec: dict[str, Any]) -> str:
    """A chart as inline SVG (text stays text: searchable and sharp)."""
    return vl_convert.vegalite_to_svg(_sized(spec))


# --- PDF ---------------------------------------------------------------------------------


class _Pdf(FPDF):
    """A4 portrait with the pre-read's fonts; `text` applies the Latin-1 fallback if needed."""

    def __init__(self, footer_text: str) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.footer_text = footer_text
        self.set_margins(15, 14, 15)
        self.set_auto_page_break(auto=True, margin=14)
        font = unicode_font()
        self.family = "Helvetica"
        self.unicode = font is not None
        if font is not None:
            regular, bold = font
            self.add_font("Body", "", str(regular))
            self.add_font("Body", "B", str(bold or regular))
            self.family = "Body"

    def text_of(self, text: str) -> str:
        return text if self.unicode else plain(text)

    def style(self, size: float, bold: bool = False) -> None:
        self.set_font(self.family, "B" if bold else "", size)

    def footer(self) -> None:
        self.set_y(-10)
        self.style(7)
        self.cell(0, 4, self.text_of(f"{self.footer_text} · page {self.page_no()}"), align="C")


def _heading(pdf: _Pdf, text: str, size: float = 12) -> None:
    pdf.ln(2)
    pdf.style(size, bold=True)
    pdf.multi_cell(0, size * 0.5, pdf.text_of(text), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1)


def _para(pdf: _Pdf, text: str, size: float = 9, link: str = "") -> None:
    pdf.style(size)
    pdf.multi_cell(0, size * 0.48, pdf.text_of(text), new_x="LMARGIN", new_y="NEXT", link=link)


def _table(
    pdf: _Pdf, rows: Sequence[Sequence[str]], widths: Sequence[float], size: float = 8
) -> None:
    """A text table, first row the header (grey fill: a shade, readable in black and white)."""
    pdf.style(size)
    header = FontFace(emphasis="BOLD", fill_color=GREY)
    with pdf.table(
        col_widths=tuple(widths),
        line_height=size * 0.5,
        headings_style=header,
        text_align=("LEFT", *("RIGHT",) * (len(widths) - 1)),
        first_row_as_headings=True,
    ) as table:
        for row in rows:
            cells = table.row()
            for value in row:
                cells.cell(pdf.text_of(value))
    pdf.ln(1)


def _summary_pdf(pdf: _Pdf, pre: PreRead) -> None:
    pdf.add_page()
    pdf.style(16, bold=True)
    pdf.multi_cell(0, 8, pdf.text_of(pre.title), new_x="LMARGIN", new_y="NEXT")
    _para(pdf, pre.subtitle)
    _heading(pdf, f"Alignment score {pre.overall}", 11)
    _para(pdf, f"Pillar scores (0–100) and their {pre.since}.", 8)
    rows = [("Pillar", "Score", "Change"), *((p.name, p.score, p.change) for p in pre.pillars)]
    _table(pdf, rows, (110, 35, 35), size=9)
    for line in pre.missing:
        _para(pdf, line, 8)
    _heading(pdf, "Top drivers", 11)
    for i, text in enumerate(pre.drivers or (pre.no_drivers,), 1):
        _para(pdf, f"{i}. {text}")
    if pre.leaders:
        _heading(pdf, "Leaders' view beside the data", 11)
        for gap in pre.leader_gaps:
            _para(pdf, f"Gap: {gap}")
        for line in pre.leaders:
            _para(pdf, line, 8)
    _heading(pdf, "Headline metrics by team", 11)
    _table(pdf, (pre.headline_columns, *pre.headline_rows), (26, *(17.1,) * 9), size=7)
    _heading(pdf, "What changed since the previous snapshot", 11)
    for line in pre.changes:
        _para(pdf, line, 8)
    _heading(pdf, "Data freshness", 11)
    _table(pdf, (("", ""), *pre.freshness), (60, 120), size=7)
    pdf.style(8, bold=True)
    pdf.cell(0, 5, pdf.text_of("Open the live view: "), new_x="LMARGIN", new_y="NEXT")
    _para(pdf, pre.link, 8, link=pre.link)


def _review_pdf(pdf: _Pdf, review: ReviewSection) -> None:
    """Its own page after the summary: the window's changes per team, the largest pushes."""
    pdf.add_page()
    _heading(pdf, review.title, 13)
    _para(pdf, review.source, 8)
    if review.reason:
        _para(pdf, f"Not measured: {review.reason}", 9)
        return
    teams = len(review.columns) - 1
    _para(pdf, "Each cell: deals · their amount at the as-of date; – when none.", 8)
    _table(pdf, (review.columns, *review.rows), (34, *((180 - 34) / teams,) * teams), size=7)
    _heading(pdf, "Largest deals pushed out, per team", 11)
    for line in review.pushed:
        _para(pdf, f"• {line}", 8)


def _pillar_pdf(pdf: _Pdf, page: PillarPage, since: str) -> None:
    pdf.add_page()
    _heading(pdf, f"{page.name} — {page.score} ({page.change})", 15)
    _para(pdf, f"{page.question} · Score {since}")
    rows = [("Signal", "Value", "Score /100"), *page.signals]
    _table(pdf, rows, (110, 35, 35), size=8)
    _heading(pdf, "Drivers", 11)
    for text in page.drivers or ("Nothing stands out.",):
        _para(pdf, f"• {text}")
    for note in page.notes:
        _para(pdf, f"Not available: {note}", 8)
    for chart in page.charts:
        _chart_pdf(pdf, chart)


def _chart_pdf(pdf: _Pdf, chart: Chart) -> None:
    _heading(pdf, chart.title, 10)
    png = chart_png(chart.spec)
    width_px, height_px = struct.unpack(">II", png[16:24])  # the PNG header's IHDR size
    width = min(pdf.epw, width_px / 2 * 0.3)  # ~0.3 mm per CSS pixel, at most the page width
    height = width * height_px / width_px
    if pdf.get_y() + height > pdf.page_break_trigger:
        pdf.add_page()
    pdf.image(io.BytesIO(png), w=width, h=height)
    _para(pdf, chart.caption, 7.5)


def to_pdf(pre: PreRead) -> bytes:
    """The pre-read as PDF: page 1 the summary, then the changes since the last review,
    then one page (or more) per pillar."""
    pdf = _Pdf(footer_text=pre.title)
    pdf.set_title(pdf.text_of(pre.title))
    pdf.set_creator("revenue-alignment scorecard")
    _summary_pdf(pdf, pre)
    if pre.review is not None:
        _review_pdf(pdf, pre.review)
    for page in pre.pillars:
        _pillar_pdf(pdf, page, pre.since)
    return bytes(pdf.output())


# --- HTML --------------------------------------------------------------------------------

CSS = """
body { font-family: system-ui, "DejaVu Sans", Arial, sans-serif; color: #111; max-width: 60rem;
       margin: 1.5rem auto; padding: 0 1rem; line-height: 1.35; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; } h2 { font-size: 1.2rem; margin-top: 1.4rem; }
table { border-collapse: collapse; margin: .4rem 0 .8rem; font-size: .85rem; }
th, td { border: 1px solid #999; padding: .2rem .5rem; text-align: right; }
th:first-child, td:first-child { text-align: left; } th { background: #eee; }
.muted { color: #444; font-size: .85rem; } figure { margin: .5rem 0 1rem; }
figcaption { font-size: .8rem; color: #333; } svg { max-width: 100%; height: auto; }
section.pillar { border-top: 2px solid #333; margin-top: 2rem; }
@media print { section.pillar { break-before: page; border-top: none; } a { color: #000; } }
"""


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _html_table(rows: Sequence[Sequence[str]]) -> str:
    head, *body = rows
    cells = "".join(f"<th>{_e(c)}</th>" for c in head)
    lines = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in r) + "</tr>" for r in body)
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{lines}</tbody></table>"


def _html_list(items: Sequence[str], tag: str = "ul") -> str:
    return f"<{tag}>" + "".join(f"<li>{_e(i)}</li>" for i in items) + f"</{tag}>"


def _html_summary(pre: PreRead) -> str:
    pillars = [("Pillar", "Score", "Change"), *((p.name, p.score, p.change) for p in pre.pillars)]
    return (
        f"<h1>{_e(pre.title)}</h1><p class='muted'>{_e(pre.subtitle)}</p>"
        f"<h2>Alignment score {_e(pre.overall)}</h2>"
        f"<p class='muted'>Pillar scores (0–100) and their {_e(pre.since)}.</p>"
        f"{_html_table(pillars)}"
        + "".join(f"<p class='muted'>{_e(line)}</p>" for line in pre.missing)
        + f"<h2>Top drivers</h2>{_html_list(pre.drivers or (pre.no_drivers,), 'ol')}"
        + (
            "<h2>Leaders' view beside the data</h2>"
            + _html_list(tuple(f"Gap: {g}" for g in pre.leader_gaps))
            + _html_list(pre.leaders)
            if pre.leaders
            else ""
        )
        + "<h2>Headline metrics by team</h2>"
        f"{_html_table((pre.headline_columns, *pre.headline_rows))}"
        f"<h2>What changed since the previous snapshot</h2>{_html_list(pre.changes)}"
        f"<h2>Data freshness</h2>{_html_table((('', ''), *pre.freshness))}"
        f"<p>Open the live view: <a href='{_e(pre.link)}'>{_e(pre.link)}</a></p>"
    )


def _html_review(review: ReviewSection | None) -> str:
    if review is None:
        return ""
    head = (
        f"<section class='review'><h2>{_e(review.title)}</h2>"
        f"<p class='muted'>{_e(review.source)}</p>"
    )
    if review.reason:
        return head + f"<p>Not measured: {_e(review.reason)}</p></section>"
    return (
        head + "<p class='muted'>Each cell: deals · their amount at the as-of date; – when "
        f"none.</p>{_html_table((review.columns, *review.rows))}"
        f"<h3>Largest deals pushed out, per team</h3>{_html_list(review.pushed)}</section>"
    )


def _html_pillar(page: PillarPage, since: str) -> str:
    charts = "".join(
        f"<figure><h3>{_e(c.title)}</h3>{chart_svg(c.spec)}"
        f"<figcaption>{_e(c.caption)}</figcaption></figure>"
        for c in page.charts
    )
    notes = "".join(f"<p class='muted'>Not available: {_e(n)}</p>" for n in page.notes)
    return (
        f"<section class='pillar' id='{_e(page.id)}'>"
        f"<h2>{_e(page.name)} — {_e(page.score)} ({_e(page.change)})</h2>"
        f"<p class='muted'>{_e(page.question)} · Score {_e(since)}</p>"
        f"{_html_table((('Signal', 'Value', 'Score /100'), *page.signals))}"
        f"<h3>Drivers</h3>{_html_list(page.drivers or ('Nothing stands out.',))}{notes}{charts}"
        "</section>"
    )


def to_html(pre: PreRead) -> str:
    """The pre-read as one self-contained, printable HTML page (inline CSS and SVG)."""
    body = (
        _html_summary(pre)
        + _html_review(pre.review)
        + "".join(_html_pillar(p, pre.since) for p in pre.pillars)
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{_e(pre.title)}</title><style>{CSS}</style></head><body>{body}</body></html>"
    )
