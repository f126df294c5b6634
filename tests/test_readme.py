"""The README opens with the two commands, and CI runs exactly the second one."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _bash_blocks(text: str) -> list[str]:
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", text, flags=re.S)]


def test_readme_starts_with_app_and_test_commands():
    blocks = _bash_blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    app_command, test_command = blocks[0], blocks[1]
    assert "pip install -r requirements.txt" in app_command
    assert app_command.endswith("streamlit run app.py")
    assert "pip install -r requirements-dev.txt" in test_command
    assert test_command.endswith("python -m pytest")


def test_ci_runs_exactly_the_readme_test_command():
    test_command = _bash_blocks((ROOT / "README.md").read_text(encoding="utf-8"))[1]
    ci_lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    commands = [line for line in ci_lines if line and not line.startswith("#")]
    assert commands[-1] == test_command
