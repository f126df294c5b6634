"""Arrows point one way: scoring/, connectors/ and reports/ never import Streamlit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_core_packages_do_not_import_streamlit():
    modules = sorted(
        f"{p.parent.name}.{p.stem}"
        for package in ("scoring", "connectors", "reports")
        for p in (ROOT / package).glob("*.py")
        if p.stem != "__main__"
    )
    script = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print('streamlit' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False", f"streamlit imported by one of {modules}"
