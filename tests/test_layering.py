"""The house (docs/ARCHITECTURE.md): each layer imports only the layers below it, and only
pages/ and app.py import Streamlit.

`lint-imports` checks the layers contract in pyproject.toml (function-local imports count);
app.py, a module above pages/, is not a package the linter can take, so a test checks that
nothing of ours imports it."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("pages", "ops", "reports", "scoring", "snapshots", "connectors", "journal", "model")


def test_the_layers_contract_is_kept():
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint is not None, "lint-imports is missing: pip install -r requirements-dev.txt"
    # --no-cache: no .import_linter_cache folder in the repository
    out = subprocess.run(
        [lint, "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False, timeout=120
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "1 kept, 0 broken" in out.stdout, out.stdout


def test_nothing_imports_app():
    importers = []
    for package in (*PACKAGES, "benchmarks"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = (
                    [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                    if isinstance(node, ast.ImportFrom) and node.level == 0
                    else []
                )
                if any(n == "app" or n.startswith("app.") for n in names):
                    importers.append(str(path.relative_to(ROOT)))
    assert importers == [], f"app.py is the top: {importers} import it"


def test_core_packages_do_not_import_streamlit():
    modules = sorted(
        f"{p.parent.name}.{p.stem}"
        for package in ("scoring", "connectors", "reports", "model", "snapshots", "journal")
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


FOLDERS = ("model", "connectors", "scoring", "snapshots", "journal", "reports", "ops", "pages")


def test_no_folder_loads_another_folders_modules_by_name():
    """Imports the contract cannot see (importlib with a string) stay inside their folder:
    `scoring.definitions` collects the scoring modules' definitions; nothing else loads a
    module by name."""
    import re

    found = []
    for folder in FOLDERS:
        for path in (ROOT / folder).rglob("*.py"):
            for line in path.read_text(encoding="utf-8").splitlines():
                match = re.search(r"import_module\(\s*f?[\"']([\w.]+)", line)
                if "importlib" in line and "import_module" not in line:
                    continue  # `import importlib`
                if match and match.group(1).split(".")[0] != folder:
                    found.append(f"{path.relative_to(ROOT)}: {line.strip()}")
                elif "import_module(" in line and not match:
                    found.append(f"{path.relative_to(ROOT)} (a name not spelled out): {line}")
    assert found == [], found


def test_the_architecture_names_every_module_and_the_contract_s_layers():
    """docs/ARCHITECTURE.md matches the code: every module of every layered folder is named
    in it (`name.py` or `` `name` ``), and its diagram's layers are the contract's, in order."""
    import tomllib

    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    unnamed = [
        f"{package}/{module.name}"
        for package in PACKAGES
        for module in sorted((ROOT / package).glob("*.py"))
        if module.stem not in ("__init__", "__main__")
        and f"{module.stem}.py" not in text
        and f"`{module.stem}`" not in text
    ]
    assert not unnamed, f"docs/ARCHITECTURE.md does not say what these hold: {unnamed}"
    contract = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    layers = contract["contracts"][0]["layers"]
    diagram = text[text.index("```") : text.index("```", text.index("```") + 3)]
    lines = [line for line in diagram.splitlines() if line.startswith("layer ")]
    named = [[p for p in PACKAGES if f"{p}/" in line] for line in lines]
    assert [sorted(n) for n in named] == [sorted(layer.split(" | ")) for layer in layers], (
        f"the diagram's layers {named} are not the contract's {layers}"
    )
