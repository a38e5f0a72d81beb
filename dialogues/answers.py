"""Reading what the customer sent at the current screen: commands, keys, answers to each step
kind, the first message of a conversation and attachments."""

from __future__ import annotations

from dialogues import inputs, screens
from dialogues.conditions import evaluate
from dialogues.inputs import Command
from dialogues.model import (
    ANY_CATEGORY,
    AnyStep,
    AskStep,
    ClassifyStep,
    CollectStep,
    ConfirmStep,
    MenuStep,
    Option,
)
from dialogues.prefill import date_in
from dialogues.reading import (
    COMMAND_INTENTS,
    attachment_dict,
    category_by_label,
    category_scores,
    editing,
    fresh_state,
    intent_score,
    needs_fresh_start,
    option_by_label,
    option_by_prefix,
    pressed,
)
from dialogues.screens import Action
from dialogues.state import EndConversation, ShowProgress
from dialogues.turn import TurnBuilder
from dialogues.types import Attachment, InboundMessage, Reply
from dialogues.validators import VALIDATORS, AnswerContext, Invalid

UNREADABLE = ("unsupported", "unsupported_images_only", "download_failed", "too_large")
"""Inbound kinds answered with the text of the same key (what the channel could not take)."""


class Responder(TurnBuilder):
    """A turn builder that answers one inbound message."""

    def handle(self, inbound: InboundMessage) -> None:
        text = inputs.clean(inbound.text)
        command = inputs.parse_command(text) if inbound.payload is None and text else None
        if self.state.status == "agent":
            if command is not None and command.kind in ("restart", "cancel"):
                self.state = self.state.evolve(status="bot")
                self.command(command)
            elif inbound.payload is not None or inputs.as_key(text) == "#":
                # "show again" or an old button while waiting for a person: say what is
                # happening (anything else is for the person and goes to them unanswered)
                self.emit(Reply(self.msg("handoff")))
            return
        if self.state.status == "closed" or (self.state.started and needs_fresh_start(self.flow, self.state)):
            self.state = fresh_state(self.state)
        if inbound.kind in UNREADABLE and not inbound.attachments:
            self.note(self.msg(inbound.kind))
            self.prompt_or_greet()
            return
        if inbound.kind == "event":  # e.g. a WeChat follow: greet newcomers, otherwise nothing
            if not self.state.started:
                self.restart()
            return
        if inbound.attachments:
            self.attachments(inbound.attachments, has_text=bool(text))
            if not text:
                return
        if inbound.payload is not None:
            self.payload(inbound.payload)
        elif not text:
            if self.state.started:
                self.note(self.msg("empty"))
            self.prompt_or_greet()
        elif len(text) > self.options.max_text_length:
            self.note(self.msg("too_long", limit=self.options.max_text_length))
            self.prompt_or_greet()
        elif command is not None:
            self.command(command)
        elif not self.state.started:
            self.first_contact(text)
        else:
            self.answer(text)

    def command(self, command: Command) -> None:
        kind = command.kind
        if kind == "restart":
            self.restart()
        elif kind == "cancel":
            self.effects.append(EndConversation("cancelled"))
            self.emit(Reply(self.msg("cancelled")))
            self.state = fresh_state(self.state).evolve(status="closed")
        elif kind == "help":
            self.note(self.msg("help"))
            self.prompt_or_greet()
        elif kind == "progress":
            self.effects.append(ShowProgress(command.value))
            if needs_fresh_start(self.flow, self.state):
                # The answer is the ticket list itself: the menu waits behind it (a "1" picks
                # its first option) instead of being printed again under the list.
                shown = len(self.replies)
                self.restart()
                del self.replies[shown:]
            else:
                self.prompt()
        elif kind == "human":
            failed = screens.screen_of(self.state) == "failed"
            self.handoff("repeated_failure" if failed else "customer_request", None)
        elif kind == "language":
            target = command.value if command.value in ("zh", "en") else inputs.other_language(self.lang)
            self.state = self.state.evolve(language="en" if target == "en" else "zh")
            self.note(self.msg("language_switched"))
            self.prompt_or_greet()

    def payload(self, payload: str) -> None:
        sid, _, key = payload.rpartition(":")
        if not self.state.started:
            start = self.flow.step(self.flow.start)
            if isinstance(start, MenuStep) and sid == start.id:
                self.state = self.state.evolve(step=start.id)
                self.key(key)
            else:
                self.note(self.msg("stale"))
                self.restart()
            return
        if sid != screens.screen_id(self.state):
            self.note(self.msg("stale"))
            self.prompt()
            return
        self.key(key)

    def key(self, key: str) -> None:
        """A key of the current screen, pressed or typed."""
        if key == "#":
            self.prompt()
        elif key == "*":
            self.back()
        else:
            found = next((k for k in screens.keys(self.flow, self.state) if k.key == key), None)
            if found is not None:
                self.press(found.action)
            elif key == "0":
                self.command(Command("human"))
            else:
                self.note(self.msg("stale"))
                self.prompt()

    # ---------------------------------------------------------------- answers
    def press(self, action: Action) -> None:
        current = self.flow.step(self.state.step)
        kind = action.kind
        if kind == "human":
            self.command(Command("human"))
        elif kind == "retry":
            previous = (self.state.pending or {}).get("previous")
            self.state = self.state.evolve(pending=previous, failures=0)
            self.prompt()
        elif isinstance(current, MenuStep) and kind == "option":
            option = current.options[int(action.value or 0)]
            self.set_slots(**dict(option.set))
            self.go(option.goto)
        elif isinstance(current, AskStep):
            if kind == "profile":
                self.set_slots(**{current.slot: self.state.profile.get(current.offer_profile or "")})
            else:
                self.set_slots(**{current.slot: action.value if kind == "choice" else None})
            if current.rest_slot is not None:
                self.set_slots(**{current.rest_slot: None})
            self.go(current.next)
        elif isinstance(current, CollectStep):
            self.go(current.next)
        elif isinstance(current, ConfirmStep):
            if kind == "confirm":
                self.go(current.next)
            elif kind == "edit":
                self.set_screen("edit")
                self.prompt()
            else:
                entry = current.edit[int(action.value or 0)]
                self.state = self.state.evolve(pending={"return_to": current.id, "editing": entry.slot})
                self.go(entry.step)
        elif isinstance(current, ClassifyStep):
            if kind == "categories":
                self.set_screen("categories", guesses=(self.state.pending or {}).get("guesses") or [])
                self.prompt()
            else:
                code = action.value or ""
                source = "confirmed" if kind == "guess" else "menu"
                self.set_category(current, code, source, self.guessed_confidence(code))
                self.go(current.next)

    def fail(self, reason: str) -> None:
        """A wrong answer: say why and ask again; after max_failures in a row, offer a person."""
        failures = self.state.failures + 1
        if failures >= self.options.max_failures:
            pending = {"screen": "failed", "previous": self.state.pending}
            self.state = self.state.evolve(pending=pending, failures=failures)
        else:
            self.state = self.state.evolve(failures=failures)
            self.note(reason)
        self.prompt()

    def answer(self, text: str) -> None:
        """Typed text at the current screen."""
        key = inputs.as_key(text)
        if key is not None and (key in ("#", "*") or pressed(self.flow, self.state, text) is not None):
            self.key(key)
            return
        screen = screens.screen_of(self.state)
        current = self.flow.step(self.state.step)
        shown = self.shown_label(text)
        if shown is not None and (screen == "failed" or isinstance(current, (CollectStep, ConfirmStep))):
            self.key(shown)  # a button's words typed out ("确认提交", "Try again") press it
            return
        if screen == "failed":  # typing an answer again is as good as "try again"
            self.state = self.state.evolve(pending=(self.state.pending or {}).get("previous"))
            self.answer(text)
            return
        if isinstance(current, ClassifyStep):
            self.answer_category(current, text, screen)
        elif isinstance(current, MenuStep):
            self.answer_menu(current, text)
        elif isinstance(current, AskStep):
            self.answer_ask(current, text)
        elif isinstance(current, CollectStep):
            if inputs.nothing_to_send(text):
                self.go(current.next)
            else:
                self.fail(self.msg("collect_hint"))
        elif isinstance(current, ConfirmStep):
            self.answer_confirm(current, text, screen)

    def shown_label(self, text: str) -> str | None:
        """The key of the button on this screen whose label the customer typed, if any."""
        return next(
            (k.key for k in screens.keys(self.flow, self.state) if inputs.matches_label(text, (k.label,))),
            None,
        )

    def answer_category(self, current: ClassifyStep, text: str, screen: str | None) -> None:
        guesses = (self.state.pending or {}).get("guesses") or []
        if screen == "guess" and inputs.is_word(text, inputs.YES_WORDS):
            self.press(Action("guess", guesses[0][0]))
            return
        if screen == "guess" and inputs.is_word(text, inputs.NO_WORDS):
            self.press(Action("categories"))
            return
        code = category_by_label(self.flow, text)
        if code is not None:
            self.set_category(current, code, "menu", self.guessed_confidence(code))
            self.go(current.next)
            return
        self.category_in_words(current)

    def category_in_words(self, current: ClassifyStep) -> None:
        """A sentence instead of a key: the NLU's category when it is sure, a question to confirm
        its best guesses when it at least takes the text for a complaint, else a failure."""
        threshold = self.options.confidence_threshold
        nlu = self.nlu
        scores = category_scores(self.flow, nlu) if nlu is not None else []
        if scores and scores[0][1] >= threshold:
            self.set_category(current, scores[0][0], "nlu", scores[0][1])
            self.go(current.next)
        elif scores and nlu is not None and intent_score(self.flow, nlu, (ANY_CATEGORY,)) >= threshold:
            self.set_screen("guess", guesses=[[c, conf] for c, conf in scores[:2]])
            self.prompt()
        else:
            self.fail(self.msg("not_a_choice"))

    def answer_menu(self, current: MenuStep, text: str) -> None:
        option = option_by_label(current, text)
        if option is not None:
            self.set_slots(**dict(option.set))
            self.go(option.goto)
            return
        if self.by_prefix(current, text):
            return
        if current.free_text is not None:
            self.set_slots(**{current.free_text.slot: text})
            self.go(current.free_text.goto)
            return
        choice = self.intent_choice(current, text)
        if isinstance(choice, Command):
            self.command(choice)
        elif isinstance(choice, Option):
            self.choose_by_text(choice, text)
        elif self.nlu is not None and self.nlu.intent is not None and self.nlu.intent.name == "greet":
            self.prompt()
        else:
            self.fail(self.msg("not_a_choice"))

    def intent_choice(self, current: MenuStep, text: str) -> Command | Option | None:
        """What the NLU made of free text at a menu: a command intent, or the option whose
        intents together are confident enough."""
        if self.nlu is None:
            return None
        threshold = self.options.confidence_threshold
        top = self.nlu.intent
        if top is not None and top.name in COMMAND_INTENTS and top.confidence >= threshold:
            kind = COMMAND_INTENTS[top.name]
            return Command(kind, inputs.ticket_number_in(text) if kind == "progress" else None)
        scored = [
            (intent_score(self.flow, self.nlu, o.intents), i)
            for i, o in enumerate(current.options)
            if o.intents
        ]
        score, index = max(scored, default=(0.0, -1))
        return current.options[index] if score >= threshold else None

    def by_prefix(self, current: MenuStep, text: str) -> bool:
        """An option picked by the words the text starts with ("申诉 2611230001 还是漏水"): the
        rest of the text answers the option's first question. False when no prefix matches."""
        found = option_by_prefix(current, text)
        if found is None:
            return False
        option, rest = found
        self.set_slots(**dict(option.set))
        self.go(option.goto)
        asked = self.flow.step(self.state.step) if self.flow.has_step(self.state.step) else None
        if rest and isinstance(asked, AskStep) and self.state.status == "bot" and self.replies:
            self.replies.pop()  # the question the rest of the text answers
            self.answer_ask(asked, rest)
        return True

    def choose_by_text(self, option: Option, text: str) -> None:
        """An option picked from free text: the text itself may answer the option's first question."""
        self.set_slots(**dict(option.set))
        keep = len(text) >= option.text_min_length and not inputs.is_bare_request(text)
        if option.text_slot is not None and keep:
            self.set_slots(**{option.text_slot: text})
            self.remember_dates(text)
            self.nlu_slot = option.text_slot
            self.go(option.text_goto or option.goto)
        else:
            self.go(option.goto)

    def answer_ask(self, current: AskStep, text: str) -> None:
        if current.optional and inputs.is_word(text, inputs.SKIP_WORDS):
            self.set_slots(**{current.slot: None})
            self.go(current.next)
            return
        ctx = AnswerContext(
            today=self.today,
            min_length=current.min_length,
            choices=tuple((c.value, (c.label.zh, c.label.en, *c.aliases)) for c in current.choices),
        )
        outcome = VALIDATORS[current.validator](text, ctx)
        if isinstance(outcome, Invalid) and current.otherwise is not None:
            self.go(current.otherwise)
            return
        if isinstance(outcome, Invalid):
            self.fail(self.msg(outcome.reason, **dict(outcome.params)))
            return
        self.set_slots(**{current.slot: outcome.value})
        if current.validator == "text":
            self.remember_dates(text)
        if current.rest_slot is not None:
            self.set_slots(**{current.rest_slot: outcome.rest})
        if self.nlu is not None and not editing(self.state):
            self.nlu_slot = current.slot
        self.go(current.next)

    def remember_dates(self, text: str) -> None:
        """A date in free text ("昨天买的", "on Nov 28") answers the flow's date questions that
        are not answered yet; the confirmation shows it and offers to change it."""
        for step in self.flow.steps:
            if isinstance(step, AskStep) and step.validator == "date" and step.slot not in self.state.slots:
                found = date_in(text, self.today)
                if found is None:
                    return
                self.set_slots(**{step.slot: found})

    def execute(self, current: AnyStep) -> str | None:
        """A question the customer already answered in words (a date, or what an understand step
        found in the description) is not asked (outside an edit)."""
        if isinstance(current, AskStep) and (self.already_dated(current) or self.understood(current.slot)):
            return current.next
        if isinstance(current, MenuStep) and current.free_text and self.understood(current.free_text.slot):
            return current.free_text.goto
        return super().execute(current)

    def understood(self, slot: str) -> bool:
        """Whether an understand step filled ``slot`` from the description (outside an edit)."""
        filled = bool(self.state.slots.get(slot))
        return filled and slot in self.flow.understood_slots() and not editing(self.state)

    def already_dated(self, step: AskStep) -> bool:
        return step.validator == "date" and bool(self.state.slots.get(step.slot)) and not editing(self.state)

    def answer_confirm(self, current: ConfirmStep, text: str, screen: str | None) -> None:
        if screen == "edit":
            for i, entry in enumerate(current.edit):
                if inputs.matches_label(text, (entry.label.zh, entry.label.en)):
                    self.press(Action("edit_field", str(i)))
                    return
        elif inputs.is_confirmation(text):
            self.press(Action("confirm"))
            return
        elif current.edit and inputs.is_word(text, inputs.EDIT_WORDS):
            self.press(Action("edit"))
            return
        self.fail(self.msg("not_a_choice"))

    def first_contact(self, text: str) -> None:
        """The first message: a start-menu key or label picks it; a confident request (e.g. a
        complaint) goes straight in with a short greeting; anything else gets the greeting."""
        start = self.flow.step(self.flow.start)
        if not isinstance(start, MenuStep):
            self.restart()
            return
        self.state = self.state.evolve(step=start.id)
        key = inputs.as_key(text)
        if key is not None and pressed(self.flow, self.state, text) is not None:
            self.key(key)
            return
        option = option_by_label(start, text)
        if option is not None:
            self.set_slots(**dict(option.set))
            self.go(option.goto)
            return
        if self.by_prefix(start, text):
            return
        choice = self.intent_choice(start, text) if start.free_text is None else None
        if isinstance(choice, Command):
            self.command(choice)
        elif isinstance(choice, Option):
            self.note(self.msg("welcome_short"))
            self.choose_by_text(choice, text)
        else:
            self.restart()

    # ---------------------------------------------------------------- attachments
    def attachments(self, items: tuple[Attachment, ...], *, has_text: bool) -> None:
        """Evidence during a complaint is kept in the attachment slot with a short receipt."""
        slot = self.attachment_slot()
        if slot is None:
            self.note(self.msg("attachments_not_now"))
            if not has_text:
                self.prompt_or_greet()
            return
        existing = self.state.slots.get(slot)
        kept = [*(existing if isinstance(existing, list) else []), *(attachment_dict(a) for a in items)]
        self.set_slots(**{slot: kept})
        ack = self.msg("attachment_ack", count=len(items), total=len(kept))
        if has_text:
            self.emit(Reply(ack))
        else:
            buttons = screens.prompt(self.flow, self.state).buttons
            self.emit(Reply(ack, buttons))

    def attachment_slot(self) -> str | None:
        if not self.state.started:
            return None
        current = self.flow.step(self.state.step)
        if isinstance(current, CollectStep):
            return current.slot
        rule = self.flow.attachments
        if rule is None:
            return None
        cond = rule.condition()
        return rule.slot if cond is None or evaluate(cond, self.state.slots) else None
