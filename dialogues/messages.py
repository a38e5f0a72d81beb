"""The engine's own messages (as opposed to a flow's step texts): which it says, and the values
it gives each. This is the contract only; the words live in the bot's text catalog with everything
else the bot says, and reach a flow through ``parse_flow(..., messages=EngineMessages(...))``.

A flow may override any message under ``messages:``; the validator accepts only the keys listed
here and the fields each is given, so an admin's edit cannot break a reply at run time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from string import Formatter

from dialogues.types import LANGUAGES, Language

MESSAGE_FIELDS: Mapping[str, frozenset[str]] = {
    "welcome_short": frozenset(),
    "empty": frozenset(),
    "too_long": frozenset({"limit"}),
    "unsupported": frozenset(),
    "unsupported_images_only": frozenset(),
    "download_failed": frozenset(),
    "too_large": frozenset(),
    "stale": frozenset(),
    "help": frozenset(),
    "not_a_choice": frozenset(),
    "attachment_ack": frozenset({"count", "total"}),
    "attachments_not_now": frozenset(),
    "failed_offer": frozenset(),
    "retry_label": frozenset(),
    "human_label": frozenset(),
    "handoff": frozenset(),
    "cancelled": frozenset(),
    "language_switched": frozenset(),
    "skip_label": frozenset(),
    "use_on_file": frozenset({"phone"}),
    "done_label": frozenset(),
    "collect_hint": frozenset(),
    "understood": frozenset({"items"}),
    "understood_item": frozenset({"label", "value"}),
    "guess_question": frozenset({"category"}),
    "guess_yes": frozenset({"category"}),
    "guess_second": frozenset({"category"}),
    "guess_other": frozenset(),
    "confirm_label": frozenset(),
    "edit_label": frozenset(),
    "edit_prompt": frozenset(),
    "not_given": frozenset(),
    "no_files": frozenset(),
    "files": frozenset({"count"}),
    "yes": frozenset(),
    "no": frozenset(),
    "invalid_text": frozenset(),
    "too_short": frozenset({"min"}),
    "invalid_phone": frozenset(),
    "invalid_date": frozenset(),
    "invalid_amount": frozenset(),
    "future_date": frozenset(),
    "invalid_choice": frozenset(),
    "invalid_reference": frozenset(),
    "invalid_score": frozenset(),
    "invalid_ticket_number": frozenset(),
}
"""Every engine message and the values the engine fills it with."""

_FORMATTER = Formatter()


def template_fields(template: str) -> frozenset[str]:
    """The ``{name}`` fields of a ``str.format_map`` template.

    Raises ValueError for what format_map would trip over or read differently: a lone brace
    (``{{`` and ``}}`` stand for braces), a positional ``{}``/``{0}``, ``{a.b}``, ``{a[0]}``,
    a conversion or a format spec.
    """
    names: set[str] = set()
    for _literal, name, spec, conversion in _FORMATTER.parse(template):
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            raise ValueError(f"'{{{name}}}' is not a placeholder: write {{name}}, or {{{{ for a brace")
        names.add(name)
    return frozenset(names)


def field_problems(key: str, template: str) -> list[str]:
    """What is wrong with ``template`` as the words of engine message ``key`` (empty if fine)."""
    if key not in MESSAGE_FIELDS:
        return [f"unknown message '{key}'"]
    try:
        used = template_fields(template)
    except ValueError as exc:
        return [str(exc)]
    allowed = MESSAGE_FIELDS[key]
    shown = ", ".join(sorted(allowed)) or "none"
    return [
        f"placeholder '{{{name}}}' is not available here (available: {shown})"
        for name in sorted(used - allowed)
    ]


@dataclass(frozen=True, slots=True)
class EngineMessages:
    """The default words of every engine message in every language, checked on construction:
    a missing key or an unknown field fails at start-up, not in a customer's chat."""

    texts: Mapping[str, Mapping[Language, str]]

    def __post_init__(self) -> None:
        problems = [f"missing message '{key}'" for key in MESSAGE_FIELDS if key not in self.texts]
        for key, by_language in self.texts.items():
            for language in LANGUAGES:
                template = by_language.get(language)
                if template is None:
                    problems.append(f"{key}: no {language} text")
                    continue
                problems.extend(f"{key} ({language}): {p}" for p in field_problems(key, template))
        if problems:
            raise ValueError("engine messages: " + "; ".join(problems))

    def template(self, key: str, language: Language) -> str:
        return self.texts[key][language]
