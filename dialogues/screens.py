"""What the customer sees at the current step: the prompt, its buttons and what each key does.

A *screen* is a step, or a step with a pending sub-question (``state.pending["screen"]``): the
"is this about X?" check, the category menu, the confirm's edit menu, the repeated-failure offer.
Button payloads are ``f"{screen_id}:{key}"`` (``screen_id`` is the step id, or ``step.screen``
for a sub-question), so a press on an old keyboard is recognised as stale instead of misread,
and a typed digit means exactly what pressing that screen's button means.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dialogues.model import (
    AskStep,
    ClassifyStep,
    CollectStep,
    ConfirmStep,
    Flow,
    MenuStep,
)
from dialogues.placeholders import fill
from dialogues.state import ConversationState
from dialogues.types import Button, Language, Reply

MAX_PAYLOAD_BYTES = 64  # Telegram's callback_data limit


@dataclass(frozen=True, slots=True)
class Action:
    """What pressing a key does; ``value`` is the option index, slot value or category code."""

    kind: str
    value: str | None = None


@dataclass(frozen=True, slots=True)
class Key:
    key: str
    label: str
    action: Action


def screen_of(state: ConversationState) -> str | None:
    return None if state.pending is None else state.pending.get("screen")


def screen_id(state: ConversationState) -> str:
    screen = screen_of(state)
    return state.step if screen is None else f"{state.step}.{screen}"


def mask_phone(phone: str) -> str:
    """138****8000: enough for the customer to recognise their number, not to read it out."""
    return f"{phone[:3]}****{phone[-4:]}" if len(phone) >= 8 else "****"


def display(
    flow: Flow, slot: str, value: Any, language: Language, on_file: frozenset[str] = frozenset()
) -> str:
    """A slot value as the customer should read it in a summary. A value taken from their profile
    (the phone number on file) stays masked as its button showed it: the customer chose it by
    recognising it, and the chat need not spell it out."""
    if isinstance(value, str) and value in on_file:
        return mask_phone(value)
    if value is None or value == "":
        return flow.message("not_given", language)
    if isinstance(value, bool):
        return flow.message("yes" if value else "no", language)
    if isinstance(value, list):
        if not value:
            return flow.message("no_files", language)
        return flow.message("files", language, count=len(value))
    return flow.value_label(slot, value, language) or str(value)


def render(
    flow: Flow,
    template: str,
    slots: dict[str, Any],
    language: Language,
    on_file: frozenset[str] = frozenset(),
) -> str:
    """Fill slot placeholders; ``{ticket_number}`` and ``{reply_by}`` stay for the manager."""
    if "{" not in template:
        return template
    # Only the slots the template names: every slot's display text took ~40 us a turn.
    values = {
        name: display(flow, name, value, language, on_file)
        for name, value in slots.items()
        if "{" + name + "}" in template
    }
    return fill(template, values)


@dataclass(frozen=True, slots=True)
class _Screen:
    keys: tuple[Key, ...]
    buttons: tuple[Button, ...]


def _memo(flow: Flow, state: ConversationState) -> _Screen | None:
    """The current screen's keys and buttons, computed once per flow, step, sub-screen and
    language (both were rebuilt twice a turn, ~20 % of the engine's time). Screens that show the
    customer's own data are never kept: the NLU's guesses, the phone number on file."""
    screen = screen_of(state)
    if screen == "guess":
        return None
    if state.profile and flow.has_step(state.step):
        step = flow.step(state.step)
        if isinstance(step, AskStep) and step.offer_profile and state.profile.get(step.offer_profile):
            return None
    memo = flow.screen_memo()
    key = (state.step, screen, state.language)
    found: _Screen | None = memo.get(key)
    if found is None:
        made = _keys(flow, state)
        sid = screen_id(state)
        found = memo[key] = _Screen(made, _buttons(sid, made))
    return found


def _buttons(sid: str, made: tuple[Key, ...]) -> tuple[Button, ...]:
    return tuple(Button(f"{k.key}. {k.label}", f"{sid}:{k.key}") for k in made)


def keys(flow: Flow, state: ConversationState) -> tuple[Key, ...]:
    """The keys of the current screen, in display order."""
    memo = _memo(flow, state)
    return memo.keys if memo is not None else _keys(flow, state)


def _keys(flow: Flow, state: ConversationState) -> tuple[Key, ...]:
    lang = state.language
    msg = flow.message
    screen = screen_of(state)
    pending = state.pending or {}
    if screen == "failed":
        return (
            Key("1", msg("retry_label", lang), Action("retry")),
            Key("0", msg("human_label", lang), Action("human")),
        )
    if not flow.has_step(state.step):
        return ()
    step = flow.step(state.step)
    if isinstance(step, ClassifyStep):
        if screen == "guess":
            guesses = pending.get("guesses") or []
            out = [
                Key(
                    "1",
                    msg("guess_yes", lang, category=flow.category_label(guesses[0][0], lang)),
                    Action("guess", guesses[0][0]),
                )
            ]
            if len(guesses) > 1:
                label = msg("guess_second", lang, category=flow.category_label(guesses[1][0], lang))
                out.append(Key("2", label, Action("guess", guesses[1][0])))
            out.append(Key("3", msg("guess_other", lang), Action("categories")))
            return tuple(out)
        return tuple(
            Key(str(i + 1), c.label.get(lang), Action("category", c.code))
            for i, c in enumerate(flow.categories)
        )
    if isinstance(step, MenuStep):
        out = [Key(o.key, o.label.get(lang), Action("option", str(i))) for i, o in enumerate(step.options)]
        if step.human_button:
            out.append(Key("0", msg("human_label", lang), Action("human")))
        return tuple(out)
    if isinstance(step, AskStep):
        out = []
        on_file = state.profile.get(step.offer_profile) if step.offer_profile else None
        if on_file:
            out.append(Key("1", msg("use_on_file", lang, phone=mask_phone(on_file)), Action("profile")))
        for choice in step.choices:
            out.append(Key(str(len(out) + 1), choice.label.get(lang), Action("choice", choice.value)))
        if step.optional:
            out.append(Key(str(len(out) + 1), msg("skip_label", lang), Action("skip")))
        return tuple(out)
    if isinstance(step, CollectStep):
        return (
            Key("1", msg("done_label", lang), Action("done")),
            Key("2", msg("skip_label", lang), Action("done")),
        )
    if isinstance(step, ConfirmStep):
        if screen == "edit":
            return tuple(
                Key(str(i + 1), e.label.get(lang), Action("edit_field", str(i)))
                for i, e in enumerate(step.edit)
            )
        out = [Key("1", msg("confirm_label", lang), Action("confirm"))]
        if step.edit:
            out.append(Key("2", msg("edit_label", lang), Action("edit")))
        return tuple(out)
    return ()


def prompt_text(flow: Flow, state: ConversationState) -> str:
    lang = state.language
    screen = screen_of(state)
    if screen == "failed":
        return flow.message("failed_offer", lang)
    if not flow.has_step(state.step):
        return ""
    step = flow.step(state.step)
    if isinstance(step, ClassifyStep) and screen == "guess":
        guesses = (state.pending or {}).get("guesses") or [["", 0.0]]
        return flow.message("guess_question", lang, category=flow.category_label(guesses[0][0], lang))
    if isinstance(step, ConfirmStep) and screen == "edit":
        return flow.message("edit_prompt", lang)
    text = getattr(step, "text", None)
    if text is None:
        return ""
    on_file = frozenset(v for v in state.profile.values() if isinstance(v, str) and v)
    return render(flow, text.get(lang), state.slots, lang, on_file)


def prompt(flow: Flow, state: ConversationState) -> Reply:
    """The current screen as one reply, buttons included."""
    memo = _memo(flow, state)
    buttons = memo.buttons if memo is not None else _buttons(screen_id(state), _keys(flow, state))
    return Reply(prompt_text(flow, state), buttons)
