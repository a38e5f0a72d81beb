"""Where a customer's message goes when the complaint desk waits for their answer: into the
proposal or the survey flow (dialogues/flows), run by the same engine as every other message.

The desk asks its question outside any turn (a proposal from the console, the callback's survey)
and marks the ticket (``Ticket.awaiting``). The customer's next message, when no other
conversation is under way, starts the matching flow at its first step with the ticket in the slot
``ticket``; so "1", "4 处理很快" or "不满意" typed in the middle of an intake stay intake answers.
The flow decides what counts as an answer; a message it does not take (its ``not_an_answer``
end) goes to the main flow as if the desk had asked nothing.

Buttons the desk sent carry ``lc:<ticket id>:<answer>`` (old ones sit in customers' chats) and
count at any point of a conversation: they become the flow's own keys, and a conversation under
way keeps its place.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy import Connection

from bot.services.flow_catalog import FlowCatalog
from dialogues import engine, screens
from dialogues.model import Flow
from dialogues.state import ConversationState, EndConversation, Turn
from dialogues.types import InboundMessage, Language
from storage.repositories import tickets as ticket_repo

BUTTON_PREFIX = "lc:"
FLOW_FOR: dict[str, str] = {"solution": "proposal", "survey": "survey"}
"""The flow that reads the answer to each question the desk asks (``Ticket.awaiting``)."""
DESK_FLOWS = frozenset(FLOW_FOR.values())
NOT_AN_ANSWER = "not_an_answer"
"""The end reason of a desk flow that did not take the message."""


@dataclass(frozen=True, slots=True)
class DeskEntry:
    flow: Flow
    state: ConversationState
    inbound: InboundMessage
    """The message as the flow reads it (a desk button becomes the flow's key)."""
    keeps_place: bool
    """A button pressed while another conversation is under way: that conversation's state
    stays, only the answer's replies and effects are the turn's."""


def entry(
    conn: Connection,
    catalog: FlowCatalog,
    *,
    customer_id: int,
    inbound: InboundMessage,
    idle: bool,
    language: Language,
) -> DeskEntry | None:
    """The desk flow this message answers, or None when it goes where the conversation is."""
    payload = inbound.payload
    if payload is not None and payload.startswith(BUTTON_PREFIX):
        return _button(conn, catalog, customer_id, inbound, payload, idle=idle, language=language)
    if not idle or inbound.attachments or inbound.kind != "text" or not inbound.text.strip():
        return None
    waiting = ticket_repo.awaiting_answer(conn, customer_id=customer_id)
    if waiting is None or waiting[1] not in FLOW_FOR:
        return None
    flow, state = _enter(conn, catalog, FLOW_FOR[waiting[1]], waiting[0], language)
    return DeskEntry(flow, state, inbound, keeps_place=False)


def _button(
    conn: Connection,
    catalog: FlowCatalog,
    customer_id: int,
    inbound: InboundMessage,
    payload: str,
    *,
    idle: bool,
    language: Language,
) -> DeskEntry | None:
    """``lc:<id>:accept|reject|score:<n>`` as the key of the flow's choice of that value. Someone
    else's ticket id (a forged payload) or an unknown answer goes to the conversation's flow,
    which calls the button stale."""
    parts = payload[len(BUTTON_PREFIX) :].split(":")
    if len(parts) < 2 or not parts[0].isdigit():
        return None
    ticket_id = int(parts[0])
    if parts[1] in ("accept", "reject") and len(parts) == 2:
        name, value = "proposal", parts[1]
    elif parts[1] == "score" and len(parts) == 3 and parts[2] in ("1", "2", "3", "4", "5"):
        name, value = "survey", parts[2]
    else:
        return None
    if ticket_repo.customer_of(conn, ticket_id=ticket_id) != customer_id:
        return None
    flow, state = _enter(conn, catalog, name, ticket_id, language)
    key = next((k for k in screens.keys(flow, state) if k.action.value == value), None)
    if key is None:  # the flow no longer offers that answer: the prompt says what it takes
        return DeskEntry(flow, state, replace(inbound, payload=None, text="#"), keeps_place=not idle)
    pressed = replace(inbound, payload=f"{screens.screen_id(state)}:{key.key}")
    return DeskEntry(flow, state, pressed, keeps_place=not idle)


def _enter(
    conn: Connection, catalog: FlowCatalog, name: str, ticket_id: int, language: Language
) -> tuple[Flow, ConversationState]:
    version, flow = catalog.live_on(conn, name=name)
    return flow, engine.enter(flow, version=version, language=language, slots={"ticket": ticket_id})


def between(state: ConversationState) -> bool:
    """A conversation left in a desk flow (its question asked again on "#", a command answered)
    is between conversations: its next message is routed afresh, so an answer still reaches the
    desk flow and anything else the main flow. One waiting for a person stays where it is."""
    return state.status == "bot" and state.flow in DESK_FLOWS


def is_button(payload: str | None) -> bool:
    """A button the desk sent (``lc:...``): it counts at any point of a conversation."""
    return payload is not None and payload.startswith(BUTTON_PREFIX)


def passed(turn: Turn) -> bool:
    """Whether a desk flow let the message go (it was no answer)."""
    return any(isinstance(e, EndConversation) and e.reason == NOT_AN_ANSWER for e in turn.effects)


def kept(turn: Turn, state: ConversationState) -> Turn:
    """The turn of a button answered while ``state``'s conversation is under way: its replies
    and effects (the desk flow's end aside: the conversation is not over), the conversation
    where it was."""
    effects = tuple(e for e in turn.effects if not isinstance(e, EndConversation))
    return Turn(state, turn.replies, effects)
