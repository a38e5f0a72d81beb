"""The layer rule (DESIGN.md, "Layers"): ``storage``, ``dialogues`` and ``nlu`` never import
``bot`` (nor does ``nlu/rasa_ext``, which runs inside Rasa's own virtualenv); ``bot/domain``
imports no SQL, web, channel or HTTP library and nothing from the layers above it, and in fact
nothing but the standard library, the pure dialogue types, YAML and itself.

Every import counts, also one inside a function, a ``TYPE_CHECKING`` block or an
``importlib.import_module("...")`` call: those are the ones that creep in unnoticed.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LOWER_LAYERS = ("storage", "dialogues", "nlu")
DOMAIN = ROOT / "bot" / "domain"
DOMAIN_FORBIDDEN = (
    "sqlalchemy",
    "sqlmodel",
    "fastapi",
    "starlette",
    "telegram",
    "wechatpy",
    "httpx",
    "redis",
    "storage",
    "bot.services",
    "bot.web",
    "bot.channels",
    "bot.cli",
    "bot.app",
)
DOMAIN_ALLOWED_OUTSIDE = frozenset({"__future__", "dialogues", "yaml"})
"""Besides the standard library and bot.domain itself: the pure dialogue types (the engine's
effects) and YAML (the format of the calendar and severity files)."""


def python_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def module_of(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> Iterator[tuple[int, str]]:
    """(line, dotted name) of everything ``path`` imports anywhere in it; ``from a import b``
    gives ``a`` and ``a.b`` (b may be a module), relative imports are made absolute."""
    package = module_of(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[: len(package) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            if base:
                yield node.lineno, base
            for alias in node.names:
                if alias.name != "*":
                    yield node.lineno, f"{base}.{alias.name}" if base else alias.name
        elif isinstance(node, ast.Call) and _is_dynamic_import(node.func) and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                yield node.lineno, first.value


def _is_dynamic_import(func: ast.expr) -> bool:
    if isinstance(func, ast.Attribute):
        return func.attr == "import_module"
    return isinstance(func, ast.Name) and func.id in {"import_module", "__import__"}


def under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def violations(files: list[Path], bad: tuple[str, ...]) -> list[str]:
    """One line per offending import statement, naming the file, the line and the module."""
    found: dict[tuple[Path, int], str] = {}
    for path in files:
        for line, name in imports(path):
            if under(name, bad):
                found.setdefault((path, line), name)
    return [f"{path.relative_to(ROOT)}:{line}: imports {name}" for (path, line), name in found.items()]


@pytest.mark.parametrize("layer", LOWER_LAYERS)
def test_the_lower_layers_never_import_the_bot(layer: str) -> None:
    files = python_files(ROOT / layer)
    assert files
    found = violations(files, ("bot",))
    assert not found, "\n".join(found)


def test_the_domain_imports_no_sql_web_channel_or_http_code_and_no_upper_layer() -> None:
    found = violations(python_files(DOMAIN), DOMAIN_FORBIDDEN)
    assert not found, "\n".join(found)


def test_the_domain_imports_only_the_standard_library_the_dialogue_types_yaml_and_itself() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line}: imports {name}"
        for path in python_files(DOMAIN)
        for line, name in imports(path)
        if not (
            name.split(".")[0] in sys.stdlib_module_names
            or name.split(".")[0] in DOMAIN_ALLOWED_OUTSIDE
            or under(name, ("bot.domain",))
        )
    ]
    assert not found, "\n".join(found)


def test_the_import_reader_sees_every_kind_of_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The walk itself: a test that cannot see an import cannot fail on it."""
    package = tmp_path / "nlu" / "inner"
    package.mkdir(parents=True)
    source = package / "mod.py"
    source.write_text(
        "from __future__ import annotations\n"
        "from typing import TYPE_CHECKING\n"
        "import importlib\n"
        "if TYPE_CHECKING:\n"
        "    from bot.settings import Settings\n"
        "def f():\n"
        "    import bot.app\n"
        "    from .. import client\n"
        "    from . import sibling\n"
        "    from bot import services\n"
        "    return importlib.import_module('bot.cli.main')\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    names = {name for _, name in imports(source)}
    assert {"bot.settings.Settings", "bot.app", "nlu.client", "nlu.inner.sibling", "bot.services"} <= names
    assert "bot.cli.main" in names
    assert violations([source], ("bot",)) == [
        "nlu/inner/mod.py:5: imports bot.settings",
        "nlu/inner/mod.py:7: imports bot.app",
        "nlu/inner/mod.py:10: imports bot",
        "nlu/inner/mod.py:11: imports bot.cli.main",
    ]
    assert violations([source], ("bot.services",)) == ["nlu/inner/mod.py:10: imports bot.services"]
