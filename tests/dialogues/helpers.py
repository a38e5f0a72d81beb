"""A scripted customer for engine tests: sends messages through ``wants_nlu`` and ``step`` the
way the manager does, with a rule-based stand-in for the NLU, and stores the state as JSON
between turns exactly like the database does."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bot.domain.catalog import Catalog
from dialogues import engine, screens
from dialogues.engine import EngineOptions
from dialogues.spec import Flow, load_flow_file
from dialogues.state import ConversationState, Turn
from dialogues.types import Attachment, ConversationKey, InboundMessage, Language, Reply
from nlu.types import IntentScore, NluResult

INTAKE = Path(__file__).resolve().parents[2] / "dialogues" / "flows" / "intake.yaml"
NOW = datetime(2024, 11, 22, 2, 0, tzinfo=UTC)  # Friday 10:00 in Shanghai
MESSAGES = Catalog.load().engine_messages()
"""The engine's words, from the bot's text catalog: the replies the tests compare are the bot's."""


def intake() -> Flow:
    return load_flow_file(INTAKE, messages=MESSAGES)


def result(text: str, *scores: tuple[str, float]) -> NluResult:
    ranking = tuple(IntentScore(name, conf) for name, conf in scores)
    return NluResult(text=text, intent=ranking[0] if ranking else None, ranking=ranking)


@dataclass
class FakeNlu:
    """Answers by substring rules; ``down`` makes it behave like an unreachable server."""

    rules: Sequence[tuple[str, tuple[tuple[str, float], ...]]] = ()
    down: bool = False
    asked: list[str] = field(default_factory=list)

    def __call__(self, text: str) -> NluResult | None:
        self.asked.append(text)
        if self.down:
            return None
        for needle, scores in self.rules:
            if needle in text:
                return result(text, *scores)
        return result(text)


DEFAULT_NLU_RULES: tuple[tuple[str, tuple[tuple[str, float], ...]], ...] = (
    ("漏水", (("product_quality", 0.93), ("after_sales", 0.04))),
    ("leaks", (("product_quality", 0.91), ("after_sales", 0.05))),
    ("快递员", (("delivery", 0.88), ("service_attitude", 0.08))),
    ("态度", (("service_attitude", 0.42), ("staff_misconduct", 0.31), ("greet", 0.2))),
    ("rude", (("service_attitude", 0.40), ("staff_misconduct", 0.35), ("greet", 0.2))),
    ("咨询", (("consult", 0.9),)),
    ("建议", (("suggest", 0.85),)),
    ("找个人", (("request_human", 0.92),)),
    ("我的单子", (("query_status", 0.9),)),
    ("不想弄了", (("cancel", 0.9),)),
    ("你好", (("greet", 0.95),)),
)


class Chat:
    def __init__(
        self,
        flow: Flow | None = None,
        *,
        language: Language = "zh",
        nlu: FakeNlu | None = None,
        profile: dict[str, str] | None = None,
        options: EngineOptions | None = None,
        now: datetime = NOW,
    ) -> None:
        self.flow = flow or intake()
        self.nlu: Callable[[str], NluResult | None] | None = nlu
        self.options = options or EngineOptions()
        self.now = now
        state = engine.new_state(self.flow, version=1, language=language)
        self.state = state.evolve(profile=profile or {})
        self.turns: list[Turn] = []
        self.nlu_texts: list[str] = []

    def send(
        self,
        text: str = "",
        *,
        payload: str | None = None,
        attachments: tuple[Attachment, ...] = (),
        kind: str = "text",
    ) -> Turn:
        inbound = InboundMessage(
            key=ConversationKey("test", "u1"),
            text=text,
            message_id=f"m{len(self.turns)}",
            received_at=self.now,
            payload=payload,
            attachments=attachments,
            kind=kind,
        )
        wanted = engine.wants_nlu(self.flow, self.state, inbound, options=self.options)
        nlu_result = None
        if wanted is not None:
            self.nlu_texts.append(wanted)
            nlu_result = self.nlu(wanted) if self.nlu is not None else None
        turn = engine.step(self.flow, self.state, inbound, nlu_result, self.now, options=self.options)
        self.turns.append(turn)
        self.state = ConversationState.from_json(turn.state.to_json())
        return turn

    def run(self, *texts: str) -> Turn:
        turn = self.send(texts[0])
        for text in texts[1:]:
            turn = self.send(text)
        return turn

    def press(self, key: str) -> Turn:
        """Press the button with ``key`` on the last reply that has buttons."""
        for reply in reversed(self.last.replies):
            for button in reply.buttons:
                if button.payload.rsplit(":", 1)[1] == key:
                    return self.send(button.label, payload=button.payload)
        raise AssertionError(f"no button {key!r} in {self.last.replies}")

    @property
    def last(self) -> Turn:
        return self.turns[-1]

    @property
    def text(self) -> str:
        """All reply texts of the last turn, joined."""
        return "\n".join(r.text for r in self.last.replies)

    @property
    def buttons(self) -> list[tuple[str, str]]:
        """(label, payload) of the last turn's buttons."""
        return [(b.label, b.payload) for r in self.last.replies for b in r.buttons]

    @property
    def screen(self) -> str:
        return screens.screen_id(self.state)

    @property
    def slots(self) -> dict[str, object]:
        return self.state.slots


def prompt_of(chat: Chat) -> Reply:
    return screens.prompt(chat.flow, chat.state)
