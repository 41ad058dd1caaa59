"""The dependency direction holds: pure modules import neither Flask nor the models."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

VOICE = Path(__file__).resolve().parent.parent / "voice"
PURE_MODULES = (
    "instruments",
    "privacy",
    "redact",
    "themes",
    "charts",
    "embedding",
    "sentiment",
    "ballots",
    "survey_form",
    "qr",
    "reports",
)
FORBIDDEN = (
    "flask",
    "flask_",
    "voice.models",
    "voice.extensions",
    "voice.web",
    "sqlalchemy",
)


def imported_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:  # relative import inside voice/
                module = "voice." + module if module else "voice"
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("module", PURE_MODULES)
def test_pure_module_imports_neither_flask_nor_models(module):
    path = VOICE / f"{module}.py"
    if not path.exists():
        pytest.skip(f"voice/{module}.py not written yet")
    bad = sorted(
        name
        for name in imported_names(path)
        if any(
            name == f
            or name.startswith(f + ".")
            or name.startswith(f)
            and f.endswith("_")
            for f in FORBIDDEN
        )
    )
    assert not bad, f"voice/{module}.py imports {bad}"


def test_architecture_check_catches_a_flask_import(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("from flask import current_app\nimport voice.models as m\n")
    names = imported_names(probe)
    assert "flask" in names and "voice.models" in names
