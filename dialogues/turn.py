"""The working state of one turn and how it moves through the flow: output, slots, the history
stack, running steps until one waits for the customer, and classification."""

from __future__ import annotations

from datetime import date
from typing import Any

from dialogues import screens
from dialogues.conditions import evaluate
from dialogues.model import (
    AnyStep,
    BranchStep,
    ClassifyStep,
    CollectStep,
    CreateTicketStep,
    DeskAnswerStep,
    EndStep,
    Flow,
    HandoffStep,
    ProgressStep,
    SayStep,
    UnderstandStep,
)
from dialogues.options import EngineOptions
from dialogues.prefill import date_in
from dialogues.reading import category_scores, editing, fresh_state, needs_fresh_start
from dialogues.state import (
    ConversationState,
    CreateTicket,
    DeskAnswer,
    Effect,
    EndConversation,
    RequestHandoff,
    ShowProgress,
    Turn,
)
from dialogues.types import Language, Reply
from dialogues.understanding import FINDERS, RASA_ENTITIES, EntityKind, read_entity
from nlu.types import NluResult

MAX_CHAIN = 50
"""Steps run in one turn at most; the validator rejects loops, this is the belt to its braces."""
MAX_HISTORY = 30


class TurnBuilder:
    """Created and discarded inside one ``engine.step`` call; never shared."""

    def __init__(
        self,
        flow: Flow,
        state: ConversationState,
        options: EngineOptions,
        today: date,
        nlu: NluResult | None,
    ) -> None:
        self.flow = flow
        self.state = state
        self.options = options
        self.today = today
        self.nlu = nlu
        self.replies: list[Reply] = []
        self.effects: list[Effect] = []
        self.notes: list[str] = []
        self.nlu_slot: str | None = None
        """The slot filled this turn with the text the NLU classified."""

    # ---------------------------------------------------------------- output
    @property
    def lang(self) -> Language:
        return self.state.language

    def msg(self, key: str, **values: object) -> str:
        return self.flow.message(key, self.lang, **values)

    def note(self, text: str) -> None:
        """A short line to put in front of the next reply (one message on channels that count)."""
        self.notes.append(text)

    def emit(self, reply: Reply) -> None:
        if self.notes:
            head = "\n".join(self.notes)
            self.notes = []
            reply = Reply(f"{head}\n\n{reply.text}" if reply.text else head, reply.buttons, reply.attachments)
        self.replies.append(reply)

    def prompt(self) -> None:
        self.emit(screens.prompt(self.flow, self.state))

    def prompt_or_greet(self) -> None:
        if needs_fresh_start(self.flow, self.state):
            self.restart()
        else:
            self.prompt()

    def finish(self) -> Turn:
        if self.notes:
            self.replies.append(Reply("\n".join(self.notes)))
        return Turn(self.state, tuple(self.replies), tuple(self.effects))

    # ---------------------------------------------------------------- state helpers
    def set_slots(self, **values: Any) -> None:
        self.state = self.state.evolve(slots={**self.state.slots, **values})

    def set_screen(self, screen: str | None, **data: Any) -> None:
        """Show a sub-question (or none), keeping an edit in progress."""
        keep = {k: v for k, v in (self.state.pending or {}).items() if k in ("return_to", "editing")}
        pending = {**keep, **({"screen": screen} if screen else {}), **data}
        self.state = self.state.evolve(pending=pending or None)

    def restart(self) -> None:
        self.state = fresh_state(self.state)
        self.run_from(self.flow.start)

    # ---------------------------------------------------------------- moving
    def go(self, target: str) -> None:
        """Leave the current input step for ``target``; an edit returns to its confirm step once
        the flow moves past the steps that set the edited slot."""
        origin = self.state.step
        pending = self.state.pending or {}
        history = self.state.history
        return_to = pending.get("return_to")
        carry: dict[str, Any] | None = None
        push = True
        if return_to:
            editing = pending.get("editing")
            if self.flow.has_step(target) and editing in self.flow.step(target).writes():
                carry = {"return_to": return_to, "editing": editing}
            else:
                target = return_to
                push = False
                if history and history[-1] == return_to:
                    history = history[:-1]
        leaving_input = origin and self.flow.has_step(origin) and self.flow.step(origin).INPUT
        if push and leaving_input and origin != target:
            history = (*history, origin)[-MAX_HISTORY:]
        self.state = self.state.evolve(history=history, pending=carry, failures=0)
        self.run_from(target)

    def back(self) -> None:
        """``*``: one step back (a sub-menu closes first); at the first step, the prompt again."""
        if screens.screen_of(self.state) == "edit":
            self.set_screen(None)
            self.prompt()
            return
        history = self.state.history
        if not history:
            self.state = self.state.evolve(pending=None, failures=0)
            self.prompt()
            return
        target = history[-1]
        self.state = self.state.evolve(step=target, history=history[:-1], pending=None, failures=0)
        if isinstance(self.flow.step(target), ClassifyStep):
            self.set_screen("categories")
        self.prompt()

    def run_from(self, step_id: str) -> None:
        """Run steps from ``step_id`` until one waits for the customer (or the flow ends)."""
        for _ in range(MAX_CHAIN):
            self.state = self.state.evolve(step=step_id)
            current = self.flow.step(step_id)
            following = self.execute(current)
            if following is None:
                return
            step_id = following
        self.handoff("flow_error", None)

    def execute(self, current: AnyStep) -> str | None:
        """Do one step; returns the next step to run, or None when the turn stops here."""
        slots = self.state.slots
        if isinstance(current, SayStep):
            self.emit(Reply(screens.render(self.flow, current.text.get(self.lang), slots, self.lang)))
            return current.next
        if isinstance(current, BranchStep):
            return next((c.goto for c in current.cases if evaluate(c.condition(), slots)), current.default)
        if isinstance(current, ClassifyStep):
            return current.next if self.classify(current) else None
        if isinstance(current, UnderstandStep):
            self.understand(current)
            return current.next
        if isinstance(current, CreateTicketStep):
            self.effects.append(CreateTicket(current.ticket_kind, {**slots, "language": self.lang}))
            self.say_optional(current.text)
            return current.next
        if isinstance(current, ProgressStep):
            self.effects.append(ShowProgress(None))
            self.say_optional(current.text)
            return current.next
        if isinstance(current, DeskAnswerStep):
            self.effects.append(desk_answer(current, slots))
            self.say_optional(current.text)
            return current.next
        if isinstance(current, HandoffStep):
            text = current.text.get(self.lang) if current.text else None
            self.handoff(current.reason, text)
            return None
        if isinstance(current, EndStep):
            self.effects.append(EndConversation(current.reason))
            self.say_optional(current.text)
            self.state = self.state.evolve(status="closed", pending=None)
            return None
        if isinstance(current, CollectStep) and not isinstance(slots.get(current.slot), list):
            self.set_slots(**{current.slot: []})
        self.prompt()
        return None

    def handoff(self, reason: str, text: str | None) -> None:
        self.effects.append(RequestHandoff(reason))
        self.emit(Reply(text or self.msg("handoff")))
        self.state = self.state.evolve(status="agent", pending=None, failures=0)

    def say_optional(self, text: Any) -> None:
        if text is not None:
            self.emit(Reply(screens.render(self.flow, text.get(self.lang), self.state.slots, self.lang)))

    # ---------------------------------------------------------------- what the description says
    def understand(self, current: UnderstandStep) -> None:
        """Fill the step's unanswered slots from its source text and note what was found."""
        text = str(self.state.slots.get(current.source) or "")
        given = self.entities() if self.nlu_slot == current.source else {}
        noted: list[str] = []
        for entry in current.slots:
            value = self.state.slots.get(entry.slot)
            if not value:
                value = given.get(entry.entity) or self.find(entry.entity, text)
                if value is not None:
                    self.set_slots(**{entry.slot: value})
                elif entry.entity is not EntityKind.DATE:
                    self.set_slots(**{entry.slot: None})
            if value:
                shown = screens.display(self.flow, entry.slot, value, self.lang)
                noted.append(self.msg("understood_item", label=entry.label.get(self.lang), value=shown))
        if noted:
            self.note(self.msg("understood", items="\n".join(noted)))

    def entities(self) -> dict[EntityKind, str]:
        """The NLU's entities of this turn's text, first of each kind, read as slot values."""
        out: dict[EntityKind, str] = {}
        if self.nlu is None:
            return out
        for entity in self.nlu.entities:
            kind = RASA_ENTITIES.get(entity.entity)
            if kind is not None and kind not in out:
                value = read_entity(kind, self.nlu.text, entity.value, entity.start, entity.end)
                if value is not None:
                    out[kind] = value
        return out

    def find(self, kind: EntityKind, text: str) -> str | None:
        if kind is EntityKind.DATE:
            return date_in(text, self.today)
        finder = FINDERS.get(kind)
        found = finder(text) if finder is not None else None
        return str(found) if found is not None else None

    # ---------------------------------------------------------------- classification
    def classify(self, current: ClassifyStep) -> bool:
        """Set the category if the NLU is sure; otherwise ask. True when it was set."""
        fresh = self.nlu is not None and self.nlu_slot == current.source and not editing(self.state)
        scores = category_scores(self.flow, self.nlu) if fresh and self.nlu is not None else []
        if scores and scores[0][1] >= self.options.confidence_threshold:
            self.set_category(current, scores[0][0], "nlu", scores[0][1])
            return True
        if scores:
            self.set_screen("guess", guesses=[[code, conf] for code, conf in scores[:2]])
        else:
            self.set_screen("categories")
        self.prompt()
        return False

    def set_category(self, current: ClassifyStep, code: str, source: str, confidence: float | None) -> None:
        source_slot, confidence_slot = current.extra_slots
        self.set_slots(**{current.slot: code, source_slot: source, confidence_slot: confidence})

    def guessed_confidence(self, code: str) -> float | None:
        for guess_code, conf in (self.state.pending or {}).get("guesses") or []:
            if guess_code == code:
                return float(conf)
        return None


def desk_answer(step: DeskAnswerStep, slots: dict[str, Any]) -> DeskAnswer:
    """The effect of a desk_answer step, from the slots its documentation names."""
    ticket, number, score, comment = (slots.get(k) for k in ("ticket", "appeal_number", "score", "comment"))
    return DeskAnswer(
        step.answer,
        ticket=int(ticket) if isinstance(ticket, int | str) and str(ticket).isdigit() else None,
        number=str(number) if number is not None else None,
        score=int(score) if isinstance(score, int | str) and str(score).isdigit() else None,
        comment=str(comment).strip() or None if comment is not None else None,
    )
