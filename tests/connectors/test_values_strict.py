"""Values read exactly or reported: amounts, line endings, short rows, padded ids (#15).

Each value an export was seen to hold is pinned with what it must become; two bounded fuzzes
check amounts against a plain reference reader written below with `decimal.Decimal`, and
small CSVs against the frames they were built from.
"""

from __future__ import annotations

import csv
import io
import tempfile
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.files import FilesError, load, read_file
from connectors.mapping import build_mapping
from connectors.validate import ValidationError, validate_tables
from connectors.values import parse_amount, parse_int
from ops.config import Settings
from ops.refresh import refresh
from snapshots.store import Store

FUZZ = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])  # fmt: skip


# -- the reference reader: the accepted grammar, written plainly --------------------------
SYMBOLS = ("US$", "CA$", "C$", "AU$", "A$", "NZ$", "HK$", "S$", "R$",
           "$", "€", "£", "¥", "₹", "₩", "₽", "₺", "₪")  # fmt: skip
CODES = ("USD", "EUR", "GBP", "JPY", "CNY", "INR", "CAD", "AUD", "NZD", "CHF", "SEK", "NOK",
         "DKK", "PLN", "CZK", "HUF", "BRL", "MXN", "SGD", "HKD", "ZAR", "KRW")  # fmt: skip
SPACES = (" ", "\u00a0", "\u202f")
BAD = "bad"


def _currency_at_start(s: str) -> str:
    found = [c for c in SYMBOLS if s.startswith(c)]
    found += [s[:3] for c in CODES if s[:3].upper() == c]
    return max(found, key=len, default="")


def _currency_at_end(s: str) -> str:
    found = [c for c in SYMBOLS if s.endswith(c)]
    found += [s[-3:] for c in CODES if len(s) >= 3 and s[-3:].upper() == c]
    return max(found, key=len, default="")


def _digits(s: str) -> bool:
    return s != "" and all(ch in "0123456789" for ch in s)


def _number(s: str, mark: str) -> Decimal | str:
    """1,234,567.50 (groups of three, no exponent) or 1234.5 / .5 / 1.5e3, with `mark`."""
    other = "," if mark == "." else "."
    whole, has_mark, fraction = s.partition(mark)
    separators = {ch for ch in whole if ch in (other, *SPACES)}
    if separators:
        if (has_mark and not _digits(fraction)) or len(separators) > 1:
            return BAD
        groups = whole.split(separators.pop())
        if not (1 <= len(groups[0]) <= 3 and all(_digits(g) for g in groups)):
            return BAD
        if any(len(g) != 3 for g in groups[1:]):
            return BAD
        return Decimal("".join(groups) + "." + (fraction or "0"))
    exponent = "0"
    for e in ("e", "E"):
        if e in fraction or (not has_mark and e in whole):
            head, _, exponent = (fraction if has_mark else whole).partition(e)
            if has_mark:
                fraction = head
            else:
                whole = head
            break
    if not _digits(exponent[1:] if exponent.startswith(("+", "-")) else exponent):
        return BAD
    if not (_digits(whole) or (whole == "" and has_mark)):
        return BAD
    if has_mark and not _digits(fraction):
        return BAD
    try:
        return Decimal(f"{whole or '0'}.{fraction or '0'}e{exponent}")
    except InvalidOperation:
        return BAD


def reference(text: str, mark: str) -> float | str | None:
    """`text` as an amount with decimal mark `mark`: a float, None (blank) or BAD."""
    s = text.strip()
    if s == "":
        return None
    signs = []
    if s.startswith("(") or s.endswith(")"):
        if not (s.startswith("(") and s.endswith(")")) or len(s) < 2:
            return BAD
        signs.append("-")
        s = s[1:-1].strip()
    if s[:1] in ("+", "-"):
        signs.append(s[0])
        s = s[1:].strip()
    before = _currency_at_start(s)
    s = s[len(before) :].strip()
    if s[:1] in ("+", "-"):
        signs.append(s[0])
        s = s[1:].strip()
    if s.endswith("-"):
        signs.append("-")
        s = s[:-1].strip()
    after = _currency_at_end(s)
    s = s[: len(s) - len(after)].strip()
    if len(signs) > 1 or (before and after):
        return BAD
    number = _number(s, mark)
    if number == BAD:
        return BAD
    value = float(number)
    if value in (float("inf"), float("-inf")):
        return BAD
    return -value if signs == ["-"] else value


def reference_column(texts: list[str | None], decimal: str) -> tuple[list, list[bool]]:
    """Values and bad marks as `parse_amount` must give them; "auto" picks the mark a value
    only one reading accepts shows ("." unless some value shows ","), a clash marks those."""
    if decimal != "auto":
        read = [None if t is None else reference(t, decimal) for t in texts]
        return [None if v == BAD else v for v in read], [v == BAD for v in read]
    dot = [None if t is None else reference(t, ".") for t in texts]
    comma = [None if t is None else reference(t, ",") for t in texts]
    only_dot = [d not in (BAD, None) and c == BAD for d, c in zip(dot, comma, strict=True)]
    only_comma = [c not in (BAD, None) and d == BAD for d, c in zip(dot, comma, strict=True)]
    if any(only_dot) and any(only_comma):
        return [None] * len(texts), [a or b for a, b in zip(only_dot, only_comma, strict=True)]
    read = comma if any(only_comma) else dot
    return [None if v == BAD else v for v in read], [v == BAD for v in read]


# -- each value seen in the field, and what it must become --------------------------------
@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("1e5", 100_000.0),  # was 15
        ("1.5E3", 1_500.0),  # was 1.53
        ("1e309", None),  # was 1309; too large for a number
        ("12 34", None),  # was 1234; a space is a thousands mark only before three digits
        ("10-20k", None),  # was 1020
        ("0x1F", None),  # was 1
        ("9" * 400, None),  # was inf
        ("inf", None),
        ("NaN", None),
        ("$22,700.00", 22_700.0),
        ("(1,234.50)", -1_234.5),
        ("($1,234.50)", -1_234.5),
        ("-$5", -5.0),
        ("USD 1,234.50", 1_234.5),
        ("1,234.50 usd", 1_234.5),
        ("1.234,50 €", 1_234.5),
        ("-€ 7,5", -7.5),
        ("1 234 567,50", 1_234_567.5),
        ("1,234.50-", -1_234.5),  # SAP's trailing minus
        ("+.5", 0.5),
        ("1,234.5e3", None),  # groups and an exponent: not a way anyone writes an amount
        ("--5", None),
        ("(-5)", None),
        ("$5 USD", None),
        ("1,23,456", None),  # Indian grouping: refused rather than guessed
    ],
)
def test_observed_amounts(text: str, want: float | None) -> None:
    parsed = parse_amount(pl.Series([text]))
    assert parsed.values.to_list() == [want]
    assert parsed.bad is not None and parsed.bad.to_list() == [want is None]
    assert reference_column([text], "auto") == ([want], [want is None])


def test_decimal_setting_decides_the_thousands_mark() -> None:
    # "1.234" is 1234 when "," is the decimal mark, 1.234 when "." is
    assert parse_amount(pl.Series(["1.234"]), ",").values.to_list() == [1234.0]
    assert parse_amount(pl.Series(["1.234"]), ".").values.to_list() == [1.234]
    # with "." set, "1.234,50" has a thousands mark after the decimal one: reported
    assert parse_amount(pl.Series(["1.234,50"]), ".").bad.to_list() == [True]


def test_numbers_held_as_numbers_must_be_finite_and_numbers() -> None:
    floats = parse_amount(pl.Series([1.5, float("nan"), float("inf"), None]))
    assert floats.values.to_list() == [1.5, None, None, None]
    assert floats.bad.to_list() == [False, True, True, False]
    structs = parse_amount(pl.Series([{"value": 1}, None]))
    assert structs.values.to_list() == [None, None]
    assert structs.bad.to_list() == [True, False]
    assert "Struct" in structs.expected


def test_whole_numbers_are_whole_or_reported() -> None:
    # a stage position of 2.5 was rounded, 3e12 (beyond Int32) silently left empty
    parsed = parse_int(pl.Series(["1", "2.5", "3e12", "4.0", "-2", "", None]))
    assert parsed.values.to_list() == [1, None, None, 4, -2, None, None]
    assert parsed.bad.to_list() == [False, True, True, False, False, False, False]


# -- the fuzz: amounts against the reference ----------------------------------------------
PIECES = ["0", "1", "2", "5", "9", "12", "234", "1234", ",", ".", "-", "+", "(", ")", "e", "E",
          "$", "€", "USD", "usd", " ", "\u00a0", "k", "x", "S", "US$"]  # fmt: skip
AMOUNT_TEXT = st.lists(st.sampled_from(PIECES), min_size=0, max_size=7).map("".join)


@FUZZ
@given(texts=st.lists(st.one_of(st.none(), AMOUNT_TEXT), min_size=1, max_size=6),
       decimal=st.sampled_from(["auto", ".", ","]))  # fmt: skip
def test_fuzz_amounts_are_read_exactly_or_reported(texts: list[str | None], decimal: str) -> None:
    parsed = parse_amount(pl.Series("amount", texts, pl.String), decimal)
    values, bad = reference_column(texts, decimal)
    assert parsed.values.to_list() == values
    assert (parsed.bad.to_list() if parsed.bad is not None else [False] * len(texts)) == bad


DEALS_HEADER = ["Deal", "Owner", "Stage", "Value", "Created", "Close", "Note"]
MAPPING: dict[str, Any] = {
    "tables": {
        "opportunities": {
            "file": "deals.csv",
            "columns": {
                "opp_id": "Deal",
                "owner_id": "Owner",
                "stage": "Stage",
                "amount": "Value",
                "created_at": "Created",
                "close_date": "Close",
                "name": "Note",
            },
        },
        "stages": {"order": ["Discovery"], "won": ["Closed Won"], "lost": ["Closed Lost"]},
    }
}


def _csv(rows: list[list[str]], quoting: int = csv.QUOTE_MINIMAL, end: str = "\n") -> str:
    out = io.StringIO()
    csv.writer(out, quoting=quoting, lineterminator=end).writerows([DEALS_HEADER, *rows])
    return out.getvalue()


def _deal(i: int, amount: str, note: str = "") -> list[str]:
    return [f"D{i}", "U1", "Discovery", amount, "2026-01-05", "2026-03-31", note]


def _load(folder: Path, text: str, mapping: dict[str, Any] = MAPPING) -> dict[str, pl.DataFrame]:
    (folder / "deals.csv").write_bytes(text.encode("utf-8"))
    return load(build_mapping(mapping, base_dir=folder, path=folder)).frames


@FUZZ
@given(texts=st.lists(AMOUNT_TEXT, min_size=1, max_size=6))
def test_fuzz_amounts_through_the_files_connector(texts: list[str]) -> None:
    """Each amount in a CSV: loaded as the reference reads it, or an error naming the column
    and the file and line of the values it cannot read."""
    values, bad = reference_column([t or None for t in texts], "auto")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        text = _csv([_deal(i, t) for i, t in enumerate(texts)])
        if not any(bad):
            opps = _load(folder, text)["opportunities"]
            assert opps["amount"].to_list() == values
            return
        with pytest.raises(FilesError) as info:
            _load(folder, text)
    message = str(info.value)
    assert "opportunities.amount (column Value)" in message
    lines = [i + 2 for i, b in enumerate(bad) if b]  # header = line 1
    for line in lines[:5]:
        assert f"deals.csv line {line}: {texts[line - 2]!r}" in message


# -- bad values through a refresh: named, nothing stored ----------------------------------
@pytest.fixture
def store_settings(tmp_path: Path, tiny_org) -> Settings:
    """Settings whose data folder already holds one snapshot (of the tiny org)."""
    data = tmp_path / "data"
    Store(data).write(validate_tables(tiny_org).frames, source="demo",
                      data_as_of=date(2026, 3, 1))  # fmt: skip
    folder = tmp_path / "export"
    folder.mkdir()
    return Settings(data_dir=data, sources={"files": {**MAPPING, "path": str(folder)}})


def refresh_fails(settings: Settings, name: str, content: bytes) -> str:
    (Path(settings.sources["files"]["path"]) / name).write_bytes(content)
    store = Store(settings.data_dir)
    before, count = store.current_id(), len(store.list())
    with pytest.raises(FilesError) as info:
        refresh(settings, "files")
    assert store.current_id() == before
    assert len(store.list()) == count
    return str(info.value)


def test_a_bad_amount_leaves_the_store_unchanged(store_settings: Settings) -> None:
    text = _csv([_deal(1, "1e5"), _deal(2, "12 34"), _deal(3, "10-20k")])
    message = refresh_fails(store_settings, "deals.csv", text.encode())
    assert "opportunities.amount (column Value): 2 value(s) are not amounts" in message
    assert "deals.csv line 3: '12 34'; deals.csv line 4: '10-20k'" in message


def _with_file(settings: Settings, name: str) -> Settings:
    files = dict(settings.sources["files"])
    opps = {**files["tables"]["opportunities"], "file": name}
    tables = {**files["tables"], "opportunities": opps}
    return Settings(data_dir=settings.data_dir, sources={"files": {**files, "tables": tables}})


def _parquet(amount: pl.Series) -> bytes:
    rows = [_deal(i, "") for i in range(1, amount.len() + 1)]
    frame = pl.DataFrame(rows, schema=DEALS_HEADER, orient="row").with_columns(Value=amount)
    out = io.BytesIO()
    frame.write_parquet(out)
    return out.getvalue()


def test_parquet_nan_and_infinity_are_reported(store_settings: Settings) -> None:
    settings_ = _with_file(store_settings, "deals.parquet")
    amounts = pl.Series("Value", [1.0, float("nan"), float("inf")])
    message = refresh_fails(settings_, "deals.parquet", _parquet(amounts))
    assert "opportunities.amount (column Value): 2 value(s) are not finite numbers" in message
    assert "deals.parquet row 2: nan; deals.parquet row 3: inf" in message


def test_xlsx_numbers_and_text_overflow_are_reported(store_settings: Settings) -> None:
    import xlsxwriter

    settings_ = _with_file(store_settings, "deals.xlsx")
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, DEALS_HEADER)
    for row, amount in enumerate([5, "1e309", 7.5, "9" * 400], start=1):
        sheet.write_row(row, 0, _deal(row, ""))
        (sheet.write_number if isinstance(amount, (int, float)) else sheet.write_string)(
            row, 3, amount
        )
    book.close()
    message = refresh_fails(settings_, "deals.xlsx", out.getvalue())
    # a column of numbers and text reads as text: the text ones go through the grammar
    assert "opportunities.amount (column Value): 2 value(s) are not amounts" in message
    assert "deals.xlsx row 3: '1e309'; deals.xlsx row 5: '999" in message


def test_a_struct_where_a_number_is_expected_is_reported(store_settings: Settings) -> None:
    settings_ = _with_file(store_settings, "deals.parquet")
    amounts = pl.Series("Value", [{"amount": 5}, {"amount": 7}])
    message = refresh_fails(settings_, "deals.parquet", _parquet(amounts))
    assert "opportunities.amount (column Value): 2 value(s) are not single values" in message
    assert "(the column holds Struct" in message
    assert "deals.parquet row 1: {'amount': 5}" in message


def test_validation_refuses_non_finite_and_nested_numbers(tiny_org) -> None:
    # another source handing over frames: the boundary refuses NaN and a struct, never 1.0
    opps = tiny_org["opportunities"]
    tiny_org["opportunities"] = opps.with_columns(amount=pl.Series([float("nan"), 5.0]))
    with pytest.raises(ValidationError, match=r"amount: 1 value\(s\) not numbers \(row 1: nan\)"):
        validate_tables(tiny_org)
    tiny_org["opportunities"] = opps.with_columns(amount=pl.Series([{"a": 1}, {"a": 2}]))
    with pytest.raises(ValidationError, match=r"amount: 2 value\(s\) not numbers"):
        validate_tables(tiny_org)


# -- line endings, short rows, blank lines ------------------------------------------------
def test_a_cr_only_csv_reads_like_the_same_file_with_lf(tmp_path: Path) -> None:
    rows = [_deal(1, "22700"), _deal(2, "$1,000.00"), _deal(3, "(5)")]
    lf = _load(tmp_path, _csv(rows))["opportunities"]
    cr = _load(tmp_path, _csv(rows, end="\r"))["opportunities"]
    assert cr["amount"].to_list() == [22700.0, 1000.0, -5.0]
    assert cr.equals(lf)


def test_short_rows_are_refused_naming_their_lines(store_settings: Settings) -> None:
    text = _csv([_deal(1, "5"), _deal(2, "6")[:4], _deal(3, "7"), _deal(4, "8")[:6]])
    message = refresh_fails(store_settings, "deals.csv", text.encode())
    assert (
        "deals.csv: 2 line(s) have fewer fields than the header's 7 (line 3 has 4; line 5 has 6)"
    ) in message


def test_blank_lines_are_skipped_and_lines_still_count(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("Id,Amount\na,1\n\nb,2\n\n", encoding="utf-8")
    frame = read_file(tmp_path / "d.csv")
    assert frame.select("Id", "__line").rows() == [("a", 2), ("b", 4)]


# -- ids: trimmed, then checked for duplicates --------------------------------------------
def test_padded_ids_are_trimmed_and_a_padded_duplicate_is_named(store_settings: Settings) -> None:
    text = _csv([_deal(1, "5"), _deal(2, "6"), [" D1 ", *_deal(1, "7")[1:]]])
    message = refresh_fails(store_settings, "deals.csv", text.encode())
    assert "2 rows share a duplicate id ('D1' at deals.csv line 2 and deals.csv line 4)" in message
    trimmed = _load(Path(store_settings.sources["files"]["path"]),
                    _csv([[" D1", *_deal(1, "5")[1:]], ["\tD2 ", *_deal(2, "6")[1:]]]))  # fmt: skip
    assert trimmed["opportunities"]["opp_id"].to_list() == ["D1", "D2"]


def test_validation_trims_ids_from_any_source(tiny_org) -> None:
    opps = tiny_org["opportunities"]
    tiny_org["opportunities"] = opps.with_columns(opp_id=pl.Series(["O1", " O1"]))
    with pytest.raises(ValidationError, match=r"'O1' at row 1 and row 2"):
        validate_tables(tiny_org)


# -- the fuzz: small CSVs against the rows they were written from -------------------------
NOTE = st.text(alphabet=st.sampled_from(list("ab ,\"'\n;")), max_size=8)
ROW = st.tuples(st.integers(0, 10**7), st.integers(0, 99), NOTE, st.sampled_from([0] * 8 + [1, 3]),
                st.sampled_from(["", " ", "  "]))  # fmt: skip


def _note(note: str, end: str, quoting: int) -> str | None:
    note = note.replace("\n", " ") if end == "\r" else note
    return note if note or quoting == csv.QUOTE_ALL else None


@FUZZ
@given(rows=st.lists(ROW, min_size=1, max_size=6), quoting=st.sampled_from(
    [csv.QUOTE_MINIMAL, csv.QUOTE_ALL]), end=st.sampled_from(["\n", "\r\n", "\r"]),
    blank_end=st.booleans())  # fmt: skip
def test_fuzz_small_csvs_load_as_written_or_name_the_short_lines(
    rows: list[tuple[int, int, str, int, str]], quoting: int, end: str, blank_end: bool
) -> None:
    """Rows (whole amount, cents, note, fields cut off the end, padding around the id):
    loaded equal to what was written, or an error naming deals.csv and each short line."""
    written, lines, short = [], [], []
    line = 2
    for i, (whole, cents, note, cut, pad) in enumerate(rows):
        note = _note(note, end, csv.QUOTE_ALL)  # a CR-only file holds no "\n" inside a value
        fields = _deal(i, f"{whole:,}.{cents:02d}", note)
        fields[0] = pad + fields[0] + pad
        fields = fields[: len(fields) - cut]
        written.append(fields)
        lines.append(line)
        if cut:
            short.append((line, len(fields)))
        line += 1 + (note.count("\n") if not cut else 0)
    text = _csv(written, quoting, end) + (end if blank_end else "")
    with tempfile.TemporaryDirectory() as tmp:
        if short:
            with pytest.raises(FilesError) as info:
                _load(Path(tmp), text)
            message = str(info.value)
            assert f"deals.csv: {len(short)} line(s) have fewer fields than the header's 7" in (
                message
            )
            for at, found in short[:5]:
                assert f"line {at} has {found}" in message
            return
        opps = _load(Path(tmp), text)["opportunities"]
    want = pl.DataFrame(
        {
            "opp_id": [f"D{i}" for i in range(len(rows))],
            "amount": [float(Decimal(w) + Decimal(c) / 100) for w, c, *_ in rows],
            # an empty note is null, unless quoted (QUOTE_ALL writes "" and polars reads "")
            "name": [_note(n, end, quoting) for _, _, n, *_ in rows],
        },
        schema={"opp_id": pl.String, "amount": pl.Float64, "name": pl.String},
    )
    assert opps.select(want.columns).equals(want)
    assert opps["__line"].to_list() == lines
