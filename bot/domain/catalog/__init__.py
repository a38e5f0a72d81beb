"""The text catalog: everything the bot and the console say outside the flows, one YAML file per
language next to this module (zh.yaml is the default, en.yaml the second language).

Each file maps an area (engine, bot, tickets, staff, status, kind, department, deadline, report,
console) to its texts; a text is addressed as ``area.key`` and is a ``str.format_map`` template
with ``{name}`` fields. Nothing is read at import: the composition root calls ``Catalog.load()``
once and hands the catalog to whoever speaks.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Protocol

import yaml

from dialogues.messages import EngineMessages, template_fields
from dialogues.types import LANGUAGES, Language

ENGINE = "engine"
"""The area holding the words of the dialogue engine's own messages (``dialogues.messages``)."""


class Words(Protocol):
    """One area's words in one language, as the console's templates call them: ``t(key)``."""

    def __call__(self, key: str, default: str | None = None, /) -> str: ...


@dataclass(frozen=True, slots=True)
class PerLanguage:
    """A value that reads differently in each language (a department's name, a moment written
    the language's way), for a text shown in both at once (``Catalog.both``): each half gets
    its own, so no half quotes the other language or a code."""

    zh: str
    en: str

    def get(self, language: Language) -> str:
        return self.en if language == "en" else self.zh


@dataclass(frozen=True, slots=True)
class Catalog:
    """Texts by language, then by ``area.key``; every language has the same keys."""

    texts: Mapping[Language, Mapping[str, str]]

    def __post_init__(self) -> None:
        keys = {language: set(self.texts.get(language, {})) for language in LANGUAGES}
        first = keys[LANGUAGES[0]]
        for language, found in keys.items():
            if found != first:
                odd = sorted(found ^ first)
                raise ValueError(f"text catalog: {language} and {LANGUAGES[0]} differ in {', '.join(odd)}")

    @classmethod
    def load(cls) -> Catalog:
        """The catalog shipped with the package (its YAML files, read now)."""
        folder = resources.files(__name__)
        return cls.from_yaml(
            {lang: folder.joinpath(f"{lang}.yaml").read_text(encoding="utf-8") for lang in LANGUAGES}
        )

    @classmethod
    def from_yaml(cls, documents: Mapping[Language, str]) -> Catalog:
        return cls({language: _flatten(language, text) for language, text in documents.items()})

    def text(self, key: str, language: Language, /, **values: object) -> str:
        """The text ``key`` (``area.name``) in ``language``, its ``{fields}`` filled from ``values``."""
        return self.texts[language][key].format_map(values)

    def both(self, key: str, /, **values: object) -> str:
        """Chinese and English at once (``zh / en``): for readers whose language is not known.
        A ``PerLanguage`` value gives each half its own words."""
        return " / ".join(
            self.text(
                key,
                language,
                **{k: v.get(language) if isinstance(v, PerLanguage) else v for k, v in values.items()},
            )
            for language in LANGUAGES
        )

    def names(self, area: str, code: str) -> PerLanguage:
        """The word for a code in every language (``name`` per language)."""
        return PerLanguage(self.name(area, code, "zh"), self.name(area, code, "en"))

    def name(self, area: str, code: str, language: Language, default: str | None = None) -> str:
        """The word for a code (a status, a department...); ``default`` (or the code itself) when
        the catalog has none, e.g. a flow's own handoff reason."""
        found = self.texts[language].get(f"{area}.{code}")
        if found is not None:
            return found
        return code if default is None else default

    def has(self, key: str) -> bool:
        return key in self.texts[LANGUAGES[0]]

    def __iter__(self) -> Iterator[str]:
        """Every key (``area.name``), in file order."""
        return iter(self.texts[LANGUAGES[0]])

    def fields(self, key: str, language: Language) -> frozenset[str]:
        """The ``{name}`` fields of one text (ValueError if it is not a plain format_map template)."""
        return template_fields(self.texts[language][key])

    def words(self, area: str, language: Language) -> Words:
        def word(key: str, default: str | None = None, /) -> str:
            return self.name(area, key, language, default)

        return word

    def engine_messages(self) -> EngineMessages:
        """The engine area as the flow loader takes it (checked there against the engine's keys)."""
        prefix = f"{ENGINE}."
        return EngineMessages(
            {
                key.removeprefix(prefix): {language: self.texts[language][key] for language in LANGUAGES}
                for key in self
                if key.startswith(prefix)
            }
        )


def _flatten(language: str, text: str) -> dict[str, str]:
    data = yaml.load(text, Loader=yaml.CSafeLoader) if yaml.__with_libyaml__ else yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError(f"text catalog {language}: expected areas of texts")
    flat: dict[str, str] = {}
    for area, entries in data.items():
        if not isinstance(entries, dict):
            raise ValueError(f"text catalog {language}: {area} must map keys to texts")
        for key, value in entries.items():
            if not isinstance(value, str):
                raise ValueError(f"text catalog {language}: {area}.{key} must be a text")
            flat[f"{area}.{key}"] = value
    return flat
