"""Pure questions about a message against a flow and a state, shared by ``wants_nlu`` and the
turn builder so both read a message the same way."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from dialogues import inputs, screens
from dialogues.model import ANY_CATEGORY, AskStep, ClassifyStep, EndStep, Flow, HandoffStep, MenuStep, Option
from dialogues.state import ConversationState
from dialogues.types import Attachment
from nlu.types import NluResult

COMMAND_INTENTS: Mapping[str, str] = MappingProxyType(
    {"request_human": "human", "query_status": "progress", "cancel": "cancel"}
)
"""NLU intents that act like the global command of the same meaning when typed at a menu."""


def needs_fresh_start(flow: Flow, state: ConversationState) -> bool:
    """Not started, closed, or parked on a step that cannot take input (it ended)."""
    if not state.started or state.status == "closed" or not flow.has_step(state.step):
        return True
    current = flow.step(state.step)
    return isinstance(current, HandoffStep | EndStep) and state.status == "bot"


def fresh_state(state: ConversationState) -> ConversationState:
    return ConversationState(
        flow=state.flow, flow_version=state.flow_version, language=state.language, profile=state.profile
    )


def editing(state: ConversationState) -> bool:
    return bool(state.pending and state.pending.get("return_to"))


def pressed(flow: Flow, state: ConversationState, text: str) -> screens.Key | None:
    key = inputs.as_key(text)
    return next((k for k in screens.keys(flow, state) if k.key == key), None) if key else None


def menu_wants_nlu(flow: Flow, state: ConversationState, menu: MenuStep, text: str) -> bool:
    if menu.free_text is not None or pressed(flow, state, text) is not None:
        return False
    return option_by_label(menu, text) is None and option_by_prefix(menu, text) is None


def option_by_label(menu: MenuStep, text: str) -> Option | None:
    return next((o for o in menu.options if inputs.matches_label(text, (o.label.zh, o.label.en))), None)


def option_by_prefix(menu: MenuStep, text: str) -> tuple[Option, str] | None:
    """The option whose ``prefixes`` the text starts with (case and width folded), and the rest
    of the text without the separator after the prefix."""
    typed = text.strip()
    for option in menu.options:
        for prefix in option.prefixes:
            size = len(prefix.strip())
            after = typed[size : size + 1]
            if after.isascii() and after.isalpha() and prefix.strip()[-1].isascii():
                continue  # "appeal" does not start "appealing"
            if size and inputs.fold(typed[:size]) == inputs.fold(prefix):
                return option, typed[size:].lstrip(" \t:：,，")
    return None


def feeds_classify(flow: Flow, ask: AskStep) -> bool:
    """Whether the answer reaches a classify step reading it before the next question."""
    seen: set[str] = set()
    todo = [ask.next]
    while todo:
        step_id = todo.pop()
        if step_id in seen or not flow.has_step(step_id):
            continue
        seen.add(step_id)
        target = flow.step(step_id)
        if isinstance(target, ClassifyStep):
            if target.source == ask.slot:
                return True
            continue
        if not target.INPUT:
            todo.extend(e.target for e in target.edges())
    return False


def category_by_label(flow: Flow, text: str) -> str | None:
    """The category whose label (either language) or code the customer typed."""
    found = (c for c in flow.categories if inputs.matches_label(text, (c.label.zh, c.label.en, c.code)))
    return next((c.code for c in found), None)


def classify_wants_nlu(flow: Flow, state: ConversationState, text: str) -> bool:
    """A sentence typed at the category question (not a key, a label, yes or no) is classified
    again, so a customer who never types a digit can still say which kind of problem it is."""
    if pressed(flow, state, text) is not None or inputs.as_key(text) is not None:
        return False
    if screens.screen_of(state) == "guess" and inputs.is_word(text, inputs.YES_WORDS | inputs.NO_WORDS):
        return False
    return category_by_label(flow, text) is None


def category_codes(flow: Flow) -> frozenset[str]:
    """The complaint categories: the flow's own list (its ``categories``), not the NLU's."""
    return frozenset(c.code for c in flow.categories)


def category_scores(flow: Flow, result: NluResult) -> list[tuple[str, float]]:
    """The NLU's scores for this flow's complaint categories, best first."""
    codes = category_codes(flow)
    ranking = tuple(s for s in result.ranking if s.name in codes)
    if not ranking and result.intent is not None and result.intent.name in codes:
        ranking = (result.intent,)
    return [(s.name, s.confidence) for s in ranking]


def intent_score(flow: Flow, result: NluResult, intents: tuple[str, ...]) -> float:
    """Summed confidence of the intents (``category`` stands for all the flow's categories)."""
    names = set(intents)
    if ANY_CATEGORY in names:
        names |= category_codes(flow)
    ranking = result.ranking or ((result.intent,) if result.intent else ())
    return sum(s.confidence for s in ranking if s.name in names)


def attachment_dict(item: Attachment) -> dict[str, Any]:
    return {"kind": item.kind, "ref": item.ref, "name": item.name, "mime": item.mime, "size": item.size}
