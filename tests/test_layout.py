"""The seams the design keeps sharp, checked on the source itself.

`bot/` is layered by pipeline stage: a package may import only the packages listed
before it in LAYERS (and itself). `adapters/` may import only `bot.chat` and `bot.core`.
Only the composition root (and the preflight check, for the apprise URLs it validates)
imports an adapter or a chat platform's library, and only inside a function, so that
commands which deliver nothing never load them.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BOT = ROOT / "bot"
LAYERS = ("core", "storage", "matching", "feeds", "chat", "delivery", "service", "cli")
PLATFORM_MODULES = ("adapters", "discord", "slack_bolt", "slack_sdk", "apprise")
COMPOSITION_ROOT = BOT / "service" / "app.py"
LAZY_LOADERS = (COMPOSITION_ROOT, BOT / "service" / "preflight.py")
ALLOWED_IN_ADAPTERS = (["bot", "chat"], ["bot", "core"])


def imports(path: Path) -> Iterator[tuple[str, int, bool]]:
    """Each module `path` imports: (name, line, at module level)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nested = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        for inner in ast.walk(node)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno, id(node) not in nested
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module, node.lineno, id(node) not in nested


def layer_violations(package_dir: Path) -> list[str]:
    """Every import in `package_dir` of a `bot` package above it."""
    rank = LAYERS.index(package_dir.name)
    found = []
    for path in sorted(package_dir.rglob("*.py")):
        for name, line, _ in imports(path):
            parts = name.split(".")
            upward = parts[0] == "bot" and len(parts) > 1 and parts[1] in LAYERS[rank + 1 :]
            if upward:
                found.append(f"{path.relative_to(package_dir.parent)}:{line}: imports {name}")
    return found


def test_every_module_of_bot_lives_in_a_layer() -> None:
    loose = {p.name for p in BOT.glob("*.py")} - {"__init__.py", "__main__.py"}
    assert loose == set()
    assert {p.name for p in BOT.iterdir() if p.is_dir() and p.name != "__pycache__"} == set(LAYERS)


def test_no_package_imports_a_higher_one() -> None:
    assert [v for layer in LAYERS for v in layer_violations(BOT / layer)] == []


def test_the_layering_check_catches_an_upward_import(tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    storage.mkdir()
    (storage / "store.py").write_text("from bot.core.models import Item\n")
    assert layer_violations(storage) == []
    (storage / "bad.py").write_text("def f():\n    from bot.service.app import App\n")
    assert layer_violations(storage) == ["storage/bad.py:2: imports bot.service.app"]


def test_adapters_import_only_chat_and_core() -> None:
    offenders = [
        f"{path.name}:{line}: {name}"
        for path in sorted((ROOT / "adapters").glob("*.py"))
        for name, line, _ in imports(path)
        if name.split(".")[0] == "bot" and name.split(".")[:2] not in ALLOWED_IN_ADAPTERS
    ]
    assert offenders == []


def test_only_the_composition_root_imports_adapters_or_platform_libraries_and_lazily() -> None:
    offenders = []
    lazy_in_root = []
    for path in sorted(BOT.rglob("*.py")):
        for name, line, top_level in imports(path):
            if name.split(".")[0] not in PLATFORM_MODULES:
                continue
            if path not in LAZY_LOADERS or top_level:
                offenders.append(f"{path.relative_to(ROOT)}:{line}: {name}")
            else:
                lazy_in_root.append(name)
    assert offenders == []
    assert "adapters.console" in lazy_in_root


def test_the_environment_is_read_in_one_module() -> None:
    readers = sorted(
        str(path.relative_to(ROOT))
        for folder in (BOT, ROOT / "adapters")
        for path in folder.rglob("*.py")
        if any(
            reader in path.read_text(encoding="utf-8")
            for reader in ("os.environ", "getenv(", "getproxies")
        )
    )
    assert readers == ["bot/core/environment.py"]


def test_no_module_imports_relatively() -> None:
    """The layering checks read absolute module names; a relative import would hide one."""
    relative = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for folder in (BOT, ROOT / "adapters")
        for path in sorted(folder.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom) and node.level > 0
    ]
    assert relative == []
