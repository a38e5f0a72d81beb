"""Severity rules applied at intake: a complaint that threatens the media or reports an injury is
stored as major with its reasons; an ordinary one stays normal. No NLU server is involved."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import col, select

from bot.app import TousuApp
from bot.services.ticket_intake import load_severity
from bot.settings import ConfigError
from storage.models import Ticket, TicketDeadline, TicketEvent
from tests.bot.services.test_inbox import joined
from tests.bot.services.ticket_helpers import script


async def _file(app: TousuApp, user: str, description: str) -> Ticket:
    for text, expected in script(description, where="北京朝阳门店", product="电热水壶", staff="无"):
        assert expected in joined(await app.console.say(app.manager, user, text))
    await app.console.say(app.manager, user, "1")
    ticket = await app.db.run(lambda s: s.exec(select(Ticket).order_by(col(Ticket.id).desc())).first())
    assert ticket is not None
    return ticket


async def test_a_complaint_with_severity_cues_is_major_with_reasons(app: TousuApp) -> None:
    ticket = await _file(app, "a", "孩子喝了你们的水上吐下泻住院了，再不处理我就找记者曝光")
    assert ticket.severity == "major"
    assert {r["rule"] for r in ticket.severity_reasons} == {"injury", "media"}
    events = await app.db.run(
        lambda s: s.exec(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)).all()
    )
    [created] = [e for e in events if e.action == "created"]
    assert created.note and "媒体" in created.note
    assert ticket.status == "escalated"  # a major complaint goes up at once


async def test_an_ordinary_complaint_stays_normal(app: TousuApp) -> None:
    ticket = await _file(app, "b", "我买的电热水壶用了两天就漏水了")
    assert ticket.severity == "normal" and ticket.severity_reasons == []


def test_the_configured_rules_file_is_the_intake_hook() -> None:
    root = Path(__file__).resolve().parents[3]
    assess = load_severity(root / "bot" / "domain" / "data" / "severity.yaml")
    assert assess("I will call a lawyer", {})[0] == "major"
    assert assess("the tea was cold", {}) == ("normal", [])


@pytest.mark.parametrize("content", ["cues:\n  media:\n    keywords: [x]\n", "cues: [\n", None])
def test_a_broken_or_missing_rules_file_is_a_config_error_naming_the_setting(
    tmp_path: Path, content: str | None
) -> None:
    path = tmp_path / "rules.yaml"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"nlu\.severity_rules: .*rules\.yaml"):
        load_severity(path)


async def test_a_billing_question_is_a_consultation_with_its_answer_clock_only(app: TousuApp) -> None:
    """A question about a bill that names 12315 is still a question: one two-working-day reply
    clock, no complaint or major-complaint clocks, no escalation."""
    assert "咨询" in joined(await app.console.say(app.manager, "q", "2"))
    await app.console.say(app.manager, "q", "账单上的服务费是什么意思？要不要打12315问")
    done = joined(await app.console.say(app.manager, "q", "13800138000"))
    ticket = await app.db.run(lambda s: s.exec(select(Ticket).order_by(col(Ticket.id).desc())).first())
    assert ticket is not None and ticket.number in done
    assert (ticket.kind, ticket.severity, ticket.severity_reasons) == ("consultation", "normal", [])
    assert ticket.status != "escalated"
    clocks = await app.db.run(
        lambda s: s.exec(select(TicketDeadline).where(TicketDeadline.ticket_id == ticket.id)).all()
    )
    assert [c.name for c in clocks] == ["reply"]
