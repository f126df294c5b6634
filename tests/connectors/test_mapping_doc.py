"""docs/mapping.md documents every mapping key the code knows, and its examples still load."""

from __future__ import annotations

import re
import tomllib
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from connectors import mapping
from connectors.files import load
from connectors.mapping import build_mapping, merge

DOC = Path(__file__).resolve().parents[2] / "docs" / "mapping.md"
SECTIONS = {
    "Source keys": mapping.SOURCE_KEYS,
    "`[defaults]` keys": mapping.DEFAULT_KEYS,
    "Table keys": mapping.TABLE_KEYS,
    "Column keys": mapping.COLUMN_KEYS,
    "Lookup keys": mapping.LOOKUP_KEYS,
}
BASE = {"tables": {"opportunities": {"file": "Opportunity.csv", "columns": {"opp_id": "Id"}}}}


def _sections(text: str) -> dict[str, str]:
    parts = re.split(r"^## (.+)$", text, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def _keys(section: str) -> dict[str, str]:
    """Each `### \\`key\\`` heading of a section and the text under it."""
    parts = re.split(r"^### `([a-z_]+)`.*$", section, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def _blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", text, flags=re.M | re.S)


def test_every_key_in_the_code_is_documented_with_an_example() -> None:
    sections = _sections(DOC.read_text(encoding="utf-8"))
    for title, known in SECTIONS.items():
        assert title in sections, f"docs/mapping.md lacks the section '## {title}'"
        documented = _keys(sections[title])
        assert set(documented) == known, (
            f"{title}: in the code, not in the doc: {sorted(known - set(documented))}; "
            f"in the doc, not in the code: {sorted(set(documented) - known)}"
        )
        for key, text in documented.items():
            examples = _blocks(text, "toml") if title != "Lookup keys" else (
                _blocks(sections[title], "toml"))  # fmt: skip
            assert any(re.search(rf"\b{key}\b", e) for e in examples), (
                f"{title}: {key} has no example"
            )


def _as_mapping(block: str) -> dict[str, Any]:
    raw = tomllib.loads(block)
    return raw["sources"]["files"] if "sources" in raw else raw


@pytest.mark.parametrize("block", _blocks(DOC.read_text(encoding="utf-8"), "toml"))
def test_every_example_parses(block: str, tmp_path: Path) -> None:
    raw = merge(BASE, _as_mapping(block))
    if "mapping" in raw:  # the example names a mapping file of one's own: write one
        file = tmp_path / raw["mapping"]
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text('[tables.leads]\nfile = "Lead.csv"\n', encoding="utf-8")
    built = build_mapping(raw, base_dir=tmp_path)
    assert built.tables


def test_the_complete_example_loads(tmp_path: Path) -> None:
    text = DOC.read_text(encoding="utf-8")
    (tmp_path / "deals.csv").write_text(_blocks(text, "csv")[0], encoding="utf-8")
    example = _as_mapping(_blocks(text, "toml")[0])
    loaded = load(build_mapping(example, base_dir=tmp_path, path=tmp_path))
    opps = loaded.frames["opportunities"].sort("opp_id")
    # D1 "Won" -> Closed Won (closed, won), $22,700.00; created 00:02 in Berlin (UTC+2 in
    # April) is 22:02 UTC the day before; D2 open
    assert opps.select("opp_id", "stage", "amount", "is_closed", "is_won").rows() == [
        ("D1", "Closed Won", 22700.0, True, True),
        ("D2", "Discovery", 1000.0, False, False),
    ]
    assert opps["created_at"].to_list()[0] == datetime(2021, 4, 14, 22, 2, tzinfo=UTC)
    assert loaded.frames["users"].select("user_id", "team").rows() == [
        ("U1", "Unassigned"), ("U2", "Unassigned"),
    ]  # fmt: skip
    # D1's close (2021-05-01) is the latest event; D2's 2021-06-30 is a plan
    assert loaded.data_as_of == date(2021, 5, 1)
    assert loaded.frames["stages"].sort("position")["stage"].to_list() == [
        "Discovery", "Closed Won", "Closed Lost",
    ]  # fmt: skip
