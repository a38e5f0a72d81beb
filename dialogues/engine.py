"""The dialogue engine: ``step(flow, state, message, nlu, now) -> Turn``, and nothing else.

It is pure: no I/O, no clock, no randomness. Time arrives as ``now`` and facts about the customer
as ``state.profile``, so the same inputs always give the same turn and tests need no fakes.
The manager asks ``wants_nlu`` first and passes the NLU result (or None when the NLU is down).

Replies may hold ``{ticket_number}`` and ``{reply_by}``: a create_ticket step cannot know them,
so the manager fills them after running the turn's CreateTicket effect.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from dialogues import inputs, screens
from dialogues.answers import Responder
from dialogues.model import AskStep, ClassifyStep, Flow, MenuStep
from dialogues.options import DEFAULT_OPTIONS, EngineOptions
from dialogues.reading import (
    classify_wants_nlu,
    editing,
    feeds_classify,
    menu_wants_nlu,
    needs_fresh_start,
    pressed,
)
from dialogues.state import ConversationState, Turn
from dialogues.types import InboundMessage, Language
from nlu.types import NluResult

__all__ = ["EngineOptions", "enter", "new_state", "resume", "step", "wants_nlu"]


def new_state(flow: Flow, *, version: int, language: Language) -> ConversationState:
    """A conversation that has not started: its first message gets the greeting."""
    return ConversationState(flow=flow.name, flow_version=version, language=language)


def enter(flow: Flow, *, version: int, language: Language, slots: dict[str, Any]) -> ConversationState:
    """A conversation already at the flow's first step with ``slots`` set: someone outside the
    conversation asked its question (the desk sent a proposal or a survey), so the customer's
    next message is the answer, not a first contact."""
    return ConversationState(
        flow=flow.name, flow_version=version, step=flow.start, slots=dict(slots), language=language
    )


def wants_nlu(
    flow: Flow,
    state: ConversationState,
    inbound: InboundMessage,
    *,
    options: EngineOptions = DEFAULT_OPTIONS,
) -> str | None:
    """The text to send to the NLU before calling ``step``, or None when this turn needs none.

    Free text at a menu (or as the very first message) is classified so "我要投诉快递员态度差"
    can jump into the complaint; so is the answer to an ask step that feeds a classify step, and a
    sentence typed at the category question instead of a key or a label.
    """
    if state.status == "agent" or inbound.payload is not None:
        return None
    text = inputs.clean(inbound.text)
    if not text or len(text) > options.max_text_length or inputs.parse_command(text):
        return None
    if inputs.as_key(text) in ("#", "*"):
        return None
    if needs_fresh_start(flow, state):
        start = flow.step(flow.start)
        probe = state.evolve(step=flow.start, pending=None)
        return text if isinstance(start, MenuStep) and menu_wants_nlu(flow, probe, start, text) else None
    step = flow.step(state.step)
    if screens.screen_of(state) is not None:
        at_category = isinstance(step, ClassifyStep) and screens.screen_of(state) in ("guess", "categories")
        return text if at_category and classify_wants_nlu(flow, state, text) else None
    if isinstance(step, MenuStep):
        return text if menu_wants_nlu(flow, state, step, text) else None
    if isinstance(step, AskStep) and feeds_classify(flow, step) and not editing(state):
        if pressed(flow, state, text) is not None:
            return None
        if step.optional and inputs.is_word(text, inputs.SKIP_WORDS):
            return None
        return text
    return None


def step(
    flow: Flow,
    state: ConversationState,
    inbound: InboundMessage,
    nlu_result: NluResult | None,
    now: datetime,
    *,
    options: EngineOptions = DEFAULT_OPTIONS,
) -> Turn:
    """Answer one inbound message: the new state, the replies and the effects for the manager."""
    local = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
    today = local.astimezone(ZoneInfo(options.timezone)).date()
    builder = Responder(flow, state, options, today, nlu_result)
    builder.handle(inbound)
    return builder.finish()


def resume(
    flow: Flow,
    state: ConversationState,
    now: datetime,
    *,
    restart: bool,
    options: EngineOptions = DEFAULT_OPTIONS,
) -> Turn:
    """The bot takes a conversation back from a person: the greeting when ``restart`` (or when
    the flow had ended), otherwise the question the customer was at, asked again."""
    local = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
    today = local.astimezone(ZoneInfo(options.timezone)).date()
    builder = Responder(flow, state.evolve(status="bot", failures=0), options, today, None)
    if restart:
        builder.restart()
    else:
        builder.prompt_or_greet()
    return builder.finish()
