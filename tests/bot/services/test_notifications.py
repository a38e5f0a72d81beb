"""Staff notifications: an assignment reaches its handler by e-mail through a real SMTP server
on loopback (aiosmtpd) and the department's WeCom robot (a fake on 127.0.0.1); quiet hours hold
back all but urgent news; several due at once go out as one digest; failures are retried."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from bot.app import TousuApp
from bot.services import notifications, people
from bot.services.notifications import Notifier, NotifyError
from bot.services.takeover import HandoffError
from bot.web.console import accounts
from storage.models import Conversation, Staff, StaffNotification
from storage.types import utcnow
from tests.bot.services.loopback_smtp import Inbox, body, smtp_server
from tests.bot.services.ticket_helpers import Clock, alerts, desk_app, file


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    with smtp_server() as server:
        yield server


@pytest.fixture
def wecom() -> Iterator[tuple[list[dict[str, Any]], str]]:
    """A fake WeCom group robot on 127.0.0.1: it records each JSON body and answers errcode 0."""
    posts: list[dict[str, Any]] = []

    class Robot(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            posts.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            body = json.dumps({"errcode": 0, "errmsg": "ok"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Robot)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield posts, f"http://127.0.0.1:{server.server_address[1]}/cgi-bin/webhook/send?key=test"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
async def app(tmp_path: Path, clock: Clock) -> AsyncIterator[TousuApp]:
    tousu = await desk_app(tmp_path, clock)
    try:
        yield tousu
    finally:
        await tousu.stop()


@pytest.fixture
def clock() -> Clock:
    return Clock()


async def _choose(app: TousuApp, username: str, **values: Any) -> None:
    def change(session: Session) -> None:
        person = session.exec(select(Staff).where(Staff.username == username)).one()
        for key, value in values.items():
            setattr(person, key, value)
        session.add(person)

    await app.db.run(change)


async def _rows(app: TousuApp) -> list[StaffNotification]:
    return list(await app.db.run(lambda s: s.exec(select(StaffNotification)).all()))


async def test_an_assignment_reaches_the_handler_by_email_and_the_department_robot(
    app: TousuApp, clock: Clock, smtp: Any, wecom: Any
) -> None:
    inbox, port = smtp
    posts, url = wecom
    app.settings = app.settings.model_copy(
        update={
            "notifications": app.settings.notifications.model_copy(
                update={"smtp_host": "127.0.0.1", "smtp_port": port, "wecom_webhooks": {"quality": url}}
            )
        }
    )
    notifier = Notifier(db=app.db, settings=app.settings, clock=clock)
    await _choose(app, "lisi", notify=["console", "email", "wecom"], email="lisi@example.com")
    await _choose(app, "wangfang", notify=["console", "email"], email="wf@example.com")
    ticket, _ = await file(app, "n1")
    assert ticket.assignee == "lisi"  # fewest tickets, first by username
    assert await notifier.send_due() >= 1
    to = {m["To"] for m in inbox.messages}
    assert to == {"lisi@example.com" if ticket.assignee == "lisi" else "wf@example.com"}
    assert ticket.number in inbox.messages[0].get_payload(decode=True).decode()
    if ticket.assignee == "lisi":
        assert posts and ticket.number in posts[0]["text"]["content"]
    assert all(r.status == "sent" for r in await _rows(app))


async def test_quiet_hours_hold_back_all_but_urgent_news_and_many_become_a_digest(
    app: TousuApp, clock: Clock
) -> None:  # 10:00 in Shanghai
    sent: list[tuple[str, str, str]] = []

    async def fake(address: str, subject: str, text: str) -> None:
        sent.append((address, subject, text))

    notifier = Notifier(db=app.db, settings=app.settings, clock=clock, transports={"email": fake})
    await _choose(app, "lisi", notify=["email"], email="l@x", quiet_from="09:00", quiet_until="18:00")
    conf, tz = app.settings.notifications, app.settings.general.tz

    def queue_some(session: Any) -> None:
        for n in range(3):
            notifications.queue(
                session,
                username="lisi",
                kind="assigned",
                subject=f"s{n}",
                text=f"t{n}",
                now=clock(),
                settings=conf,
                tz=tz,
            )
        notifications.queue(
            session,
            username="lisi",
            kind="breach",
            subject="breach",
            text="late",
            now=clock(),
            settings=conf,
            tz=tz,
        )

    await app.db.run(queue_some)
    await notifier.send_due()
    assert sent == [("l@x", "breach", "late")]  # urgent: through quiet hours
    clock.advance(hours=8, minutes=1)  # past 18:00 local
    await notifier.send_due()
    assert len(sent) == 2 and "3" in sent[1][1]  # one digest for the three held back
    assert all(f"t{n}" in sent[1][2] for n in range(3))


async def test_a_failing_channel_is_retried_with_backoff_then_given_up(app: TousuApp, clock: Clock) -> None:
    tries: list[str] = []

    async def down(address: str, subject: str, text: str) -> None:
        tries.append(address)
        raise NotifyError("connection refused")

    notifier = Notifier(db=app.db, settings=app.settings, clock=clock, transports={"email": down})
    await _choose(app, "lisi", notify=["email"], email="l@x")
    conf, tz = app.settings.notifications, app.settings.general.tz
    await app.db.run(
        lambda s: notifications.queue(
            s, username="lisi", kind="assigned", subject="s", text="t", now=clock(), settings=conf, tz=tz
        )
    )
    await notifier.send_due()
    await notifier.send_due()  # not due again yet: backoff
    assert len(tries) == 1
    [row] = await _rows(app)
    assert row.status == "pending" and row.attempts == 1 and row.next_attempt_at > clock()
    clock.advance(hours=app.settings.outbox.retry_hours + 1)
    await notifier.send_due()
    [row] = await _rows(app)
    assert row.status == "dead" and len(tries) == 2


async def test_a_telegram_code_links_once_and_expires(app: TousuApp, clock: Clock) -> None:
    code = await app.db.run(lambda s: notifications.new_telegram_code(s, "lisi", now=clock()))
    assert code is not None
    assert await app.db.run(lambda s: notifications.link_telegram(s, "WRONG", "99", now=clock())) is None
    linked = await app.db.run(lambda s: notifications.link_telegram(s, code, "99", now=clock()))
    assert linked is not None and linked.telegram_chat_id == "99" and "telegram" in linked.notify
    assert await app.db.run(lambda s: notifications.link_telegram(s, code, "77", now=clock())) is None
    late = await app.db.run(lambda s: notifications.new_telegram_code(s, "wangfang", now=clock()))
    assert late is not None
    expired = clock() + timedelta(minutes=notifications.CODE_MINUTES + 1)
    assert await app.db.run(lambda s: notifications.link_telegram(s, late, "5", now=expired)) is None


async def test_a_waiting_customer_and_a_transfer_reach_the_person_holding_the_conversation(
    app: TousuApp, clock: Clock
) -> None:
    await app.console.say(app.manager, "w1", "你好")
    await app.console.say(app.manager, "w1", "0")
    conv = await app.db.run(lambda s: s.exec(select(Conversation)).one())
    lisi = await app.db.run(lambda s: people.by_username(s, "lisi"))
    assert conv.id is not None and lisi is not None
    agent = people.agent_of(lisi, "csrf")
    await app.handoff.take(conv.id, agent)
    await app.console.say(app.manager, "w1", "还在吗？")
    texts = app.texts

    def waiting(session: Session) -> int:
        return notifications.waiting_alerts(session, texts=texts, now=clock())

    clock.now = utcnow()  # the console channel stamps inbound messages with the real time
    assert await app.db.run(waiting) == 0  # just written: not waiting yet
    clock.advance(minutes=3)
    assert await app.db.run(waiting) == 1
    assert await app.db.run(waiting) == 0  # told once per waiting spell
    kinds = [a.kind for a in await alerts(app, "lisi")]
    assert kinds.count("waiting") == 1

    refused = "console login"  # wangfang is routed tickets but cannot log in yet
    with pytest.raises(HandoffError, match=refused):
        await app.handoff.transfer(conv.id, agent, to_user="wangfang")
    await app.db.run(
        lambda s: accounts.add_user(s, username="wangfang", password="long enough secret", role="agent")
    )
    await app.handoff.transfer(conv.id, agent, to_user="wangfang")
    [moved] = [a for a in await alerts(app, "wangfang") if a.kind == "transferred"]
    assert "李四" in moved.text


async def test_a_burst_after_a_message_waits_and_goes_out_as_one(app: TousuApp, clock: Clock) -> None:
    sent: list[tuple[str, str, str]] = []

    async def fake(address: str, subject: str, text: str) -> None:
        sent.append((address, subject, text))

    notifier = Notifier(db=app.db, settings=app.settings, clock=clock, transports={"email": fake})
    await _choose(app, "lisi", notify=["email"], email="l@x")
    conf, tz = app.settings.notifications, app.settings.general.tz

    async def news(kind: str, text: str) -> None:
        await app.db.run(
            lambda s: notifications.queue(
                s, username="lisi", kind=kind, subject=text, text=text, now=clock(), settings=conf, tz=tz
            )
        )

    await news("assigned", "first")
    await notifier.send_due()
    for n in range(4):
        clock.advance(minutes=1)
        await news("warning", f"next {n}")
        await notifier.send_due()
    await news("breach", "late")
    await notifier.send_due()
    assert [s[2] for s in sent] == ["first", "late"]  # the burst waits; a breach does not
    clock.advance(minutes=conf.digest_minutes)
    await notifier.send_due()
    assert len(sent) == 3 and all(f"next {n}" in sent[2][2] for n in range(4))


async def test_a_day_of_real_tickets_by_email_quiet_hours_hold_all_but_breaches_and_bursts_become_digests(
    app: TousuApp, clock: Clock, smtp: tuple[Inbox, int]
) -> None:
    """End to end with a real SMTP server on loopback: three complaints filed at once reach
    their handler as one digest; their 80 % warnings, due in the handler's quiet hours, wait;
    the breaches in the same quiet hours go out at once (the handler's urge and the
    supervisor's escalation); when the quiet hours end, the warnings go out as one digest."""
    inbox, port = smtp
    notify = app.settings.notifications.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": port})
    app.settings = app.settings.model_copy(update={"notifications": notify})
    notifier = Notifier(db=app.db, settings=app.settings, clock=clock, flows=app.catalog)
    await _choose(app, "wangfang", active=False)  # every ticket goes to lisi
    await _choose(app, "lisi", notify=["console", "email"], email="lisi@example.com")
    await _choose(app, "zhaoliu", notify=["email"], email="zhaoliu@example.com")
    products = ("电热水壶", "电饭煲", "吹风机")  # three products: no complaint is major
    numbers = [(await file(app, f"d{n}", product=p))[0].number for n, p in enumerate(products)]
    await notifier.send_due()  # Monday 10:00 Shanghai
    [assigned] = inbox.to("lisi@example.com")
    assert "3" in assigned["Subject"] and all(n in body(assigned) for n in numbers)
    assert "产品质量" in body(assigned)  # the category as the flow names it, in lisi's language
    assert "product_quality" not in body(assigned) and "assigned to you" not in body(assigned)

    await _choose(app, "lisi", quiet_from="04:00", quiet_until="11:00")  # an early shift's night
    clock.advance(hours=19, minutes=15)  # Tuesday 05:15: 80 % of the acknowledge clock
    assert (await app.tickets.fire_due()).count("handler warned") == 3
    await notifier.send_due()
    assert len(inbox.to("lisi@example.com")) == 1  # quiet: the warnings wait

    clock.advance(hours=4, minutes=50)  # Tuesday 10:05: the acknowledge clocks broke
    assert sum("escalated" in r for r in await app.tickets.fire_due()) == 3
    await notifier.send_due()
    urged = inbox.to("lisi@example.com")[1:]
    assert len(urged) == 1 and all(n in body(urged[0]) for n in numbers)  # through quiet hours
    warned_kinds = {r.kind for r in await _rows(app) if r.username == "lisi" and r.status == "pending"}
    assert warned_kinds == {"warning"}
    [escalated] = inbox.to("zhaoliu@example.com")
    assert all(n in body(escalated) for n in numbers)

    clock.advance(minutes=56)  # Tuesday 11:01: the quiet hours are over
    await notifier.send_due()
    [*_, warnings] = inbox.to("lisi@example.com")
    assert len(inbox.to("lisi@example.com")) == 3
    assert "3" in warnings["Subject"] and all(n in body(warnings) for n in numbers)
    assert all(r.status == "sent" for r in await _rows(app))
