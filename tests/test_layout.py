"""The seams the design keeps sharp, checked on the source itself."""

from __future__ import annotations

import ast
from pathlib import Path

BOT = Path(__file__).resolve().parent.parent / "bot"
PLATFORM_MODULES = ("adapters", "discord", "slack_bolt", "slack_sdk")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_only_the_composition_root_imports_adapters_or_platform_libraries() -> None:
    offenders = {
        f"{path.name}: {name}"
        for path in BOT.rglob("*.py")
        if path != BOT / "service" / "app.py"
        for name in imported_modules(path)
        if name.split(".")[0] in PLATFORM_MODULES
    }
    assert offenders == set()
    assert "adapters.console" in imported_modules(BOT / "service" / "app.py")
