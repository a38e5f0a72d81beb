"""YAML loading that remembers where each value was written, so flow errors can name a line.

PyYAML's ``safe_load`` drops positions and silently keeps the last of two equal keys (a
duplicated step id would vanish); walking the composed node tree keeps both facts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

Path = tuple[str | int, ...]
MAX_DEPTH = 64


class YamlProblem(ValueError):
    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


@dataclass(frozen=True, slots=True)
class Located:
    """The loaded data, the line of every key and list item, and keys written twice."""

    data: Any
    lines: dict[Path, int]
    duplicates: tuple[tuple[Path, int], ...]

    def line_of(self, path: Path) -> int | None:
        """The line of ``path`` or of its nearest written ancestor."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return None


def load_located(text: str) -> Located:
    """Parse one YAML document; raises YamlProblem on a syntax error."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        lines: dict[Path, int] = {(): 1}
        duplicates: list[tuple[Path, int]] = []
        data = _walk(loader, node, (), lines, duplicates, 0) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise YamlProblem(
            str(exc.problem or exc.context or "invalid YAML"), mark.line + 1 if mark else None
        ) from exc
    except yaml.YAMLError as exc:
        raise YamlProblem(str(exc), None) from exc
    finally:
        loader.dispose()
    return Located(data=data, lines=lines, duplicates=tuple(duplicates))


def _walk(
    loader: yaml.SafeLoader,
    node: yaml.Node,
    path: Path,
    lines: dict[Path, int],
    duplicates: list[tuple[Path, int]],
    depth: int,
) -> Any:
    if depth > MAX_DEPTH:
        raise YamlProblem("nested too deeply", node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str | int | float | bool) and key is not None:
                raise YamlProblem("mapping keys must be plain values", key_node.start_mark.line + 1)
            name = key if isinstance(key, str) else str(key)
            child = (*path, name)
            line = key_node.start_mark.line + 1
            if name in out:
                duplicates.append((child, line))
            lines[child] = line
            out[name] = _walk(loader, value_node, child, lines, duplicates, depth + 1)
        return out
    if isinstance(node, yaml.SequenceNode):
        items: list[Any] = []
        for index, item in enumerate(node.value):
            child = (*path, index)
            lines[child] = item.start_mark.line + 1
            items.append(_walk(loader, item, child, lines, duplicates, depth + 1))
        return items
    return loader.construct_object(node, deep=True)
