"""A staff member links their Telegram chat with a one-time code sent to the bot, then their
notifications arrive there (the real app and python-telegram-bot against the fake Bot API)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlmodel import Session, select

from bot.app import TousuApp
from bot.services import notifications, people
from storage.models import Message, StaffNotification
from storage.types import utcnow
from tests.bot.channels.test_telegram import fake, say, tg_settings, until  # noqa: F401
from tests.fakes.telegram_api import FakeTelegram

pytestmark = pytest.mark.timeout(60)
STAFF_CHAT = 777


@pytest.fixture
async def app(tmp_path: Path, fake: FakeTelegram) -> AsyncIterator[TousuApp]:  # noqa: F811
    tousu = TousuApp(tg_settings(tmp_path, fake), use_nlu=False)
    await tousu.start()
    try:
        yield tousu
    finally:
        await tousu.stop()


async def test_link_code_then_notifications_arrive_in_that_chat(app: TousuApp, fake: FakeTelegram) -> None:  # noqa: F811
    def make(session: Session) -> str | None:
        people.save(session, username="lisi", display_name="李四", roles=["handler"])
        return notifications.new_telegram_code(session, "lisi", now=utcnow())

    code = await app.db.run(make)
    assert code is not None
    wrong = await say(fake, "/link NOTACODE", "无效", chat=STAFF_CHAT)
    assert "李四" not in wrong
    linked = await say(fake, f"/link {code}", "已关联", chat=STAFF_CHAT)
    assert "李四" in linked
    person = await app.db.run(lambda s: people.by_username(s, "lisi"))
    assert person is not None and person.telegram_chat_id == str(STAFF_CHAT)
    stored = await app.db.run(
        lambda s: list(s.exec(select(Message).where(Message.user_id == str(STAFF_CHAT))))
    )
    assert stored == []  # a staff member's link message is not a customer's

    conf, tz = app.settings.notifications, app.settings.general.tz
    await app.db.run(
        lambda s: notifications.queue(
            s,
            username="lisi",
            kind="assigned",
            subject="新工单",
            text="工单 2611230001 已派给您",
            now=utcnow(),
            settings=conf,
            tz=tz,
        )
    )
    notifier = notifications.Notifier(db=app.db, settings=app.settings, clock=utcnow)
    assert await notifier.send_due() == 1
    await until(lambda: any("2611230001" in t for t in fake.texts_to(STAFF_CHAT)))
    [row] = await app.db.run(lambda s: list(s.exec(select(StaffNotification))))
    assert (row.channel, row.status) == ("telegram", "sent")
