"""The state's JSON form: every field, the same text ``dataclasses.asdict`` gave, and a round
trip back to an equal state."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields

import pytest

from dialogues.state import ConversationState
from dialogues.types import Attachment


@dataclass(frozen=True)
class Where:
    city: str
    shops: tuple[str, ...]


def test_the_json_holds_every_field_as_asdict_wrote_it() -> None:
    state = ConversationState(
        flow="intake",
        flow_version=3,
        step="phone",
        slots={
            "description": "水壶漏水 🫖\n订单 A20261120001",
            "evidence": [asdict(Attachment(kind="photo", ref="media/1.jpg"))],
            "where": Where("北京", ("朝阳门店", "国贸店")),
            "amount": 12.5,
            "seen": True,
            "none": None,
        },
        history=("greeting", "describe"),
        language="en",
        failures=2,
        status="agent",
        pending={"confirm_category": "product_quality", "options": ("1", "2")},
        profile={"phone_on_file": "13800138000"},
    )
    written = state.to_json()
    old = asdict(state)
    old["history"] = list(state.history)
    assert written == json.dumps(old, ensure_ascii=False, sort_keys=True)
    assert set(json.loads(written)) == {f.name for f in fields(ConversationState)}


def test_a_state_survives_the_round_trip() -> None:
    state = ConversationState(
        flow="intake", flow_version=1, step="when", slots={"when": "昨天", "n": 3}, history=("a", "b")
    )
    assert ConversationState.from_json(state.to_json()) == state


def test_evolve_changes_exactly_the_fields_named() -> None:
    """Every field, one at a time: a field added to the state but not to ``evolve`` fails here."""
    state = ConversationState(flow="intake", flow_version=1, step="when", slots={"when": "昨天"})
    changed: dict[str, object] = {
        "flow": "other",
        "flow_version": 2,
        "step": "where",
        "slots": {"where": "北京"},
        "history": ("when",),
        "language": "en",
        "failures": 1,
        "status": "agent",
        "pending": {"screen": "edit"},
        "profile": {"phone_on_file": "13800138000"},
    }
    assert set(changed) == {f.name for f in fields(ConversationState)}
    for name, value in changed.items():
        new = state.evolve(**{name: value})
        assert getattr(new, name) == value
        assert {f.name for f in fields(new) if getattr(new, f.name) != getattr(state, f.name)} == {name}
    with pytest.raises(TypeError, match="no field stepp"):
        state.evolve(stepp="x")
