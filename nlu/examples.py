"""Reading labelled examples from Rasa NLU YAML, for evaluation and benchmarks."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

_ANNOTATION = re.compile(r"\[([^\]]+)\](?:\([^)]*\)|\{[^}]*\})")
_CJK = re.compile(r"[\u4e00-\u9fff]")


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    intent: str

    @property
    def language(self) -> str:
        """``zh`` when the text has any Chinese character (mixed text counts as Chinese)."""
        return "zh" if _CJK.search(self.text) else "en"


def plain(text: str) -> str:
    """The text without Rasa's entity markup: ``[123](phone)`` -> ``123``."""
    return _ANNOTATION.sub(r"\1", text)


def read_examples(path: Path) -> list[Example]:
    """Every ``intent`` example in one Rasa NLU YAML file, or in every YAML file under a folder."""
    files = sorted(path.rglob("*.yml")) + sorted(path.rglob("*.yaml")) if path.is_dir() else [path]
    found: list[Example] = []
    for file in files:
        data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
        for block in data.get("nlu") or ():
            if not isinstance(block, dict) or "intent" not in block:
                continue
            for line in str(block.get("examples") or "").splitlines():
                line = line.strip()
                if line.startswith("- "):
                    text = plain(line[2:].strip())
                    if text:
                        found.append(Example(text, str(block["intent"])))
    return found
