"""Outbound webhooks against a real HTTP receiver on 127.0.0.1: a new complaint arrives signed
(checked here with hmac alone), a ticket's events in order, a receiver that is down for a while
gets the event later and once, one that times out is retried and finally given up, one that
answers 410 turns its endpoint off; a handoff is an event too."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session, col, select

from bot.app import TousuApp
from bot.services import webhooks
from storage.models import TicketEvent, WebhookDelivery, WebhookEndpoint
from storage.repositories import webhooks as repo
from tests.bot.services.ticket_helpers import Clock, desk_app, file
from tests.bot.web.api.live import free_port
from tests.conftest import ROOT


@dataclass
class Receiver:
    """What the fake receiver answers, and what it got (headers, raw body)."""

    status: int = 200
    delay: float = 0.0
    got: list[tuple[dict[str, str], bytes]] = field(default_factory=list)


@contextmanager
def receiving(receiver: Receiver, port: int | None = None) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if receiver.delay:
                time.sleep(receiver.delay)
            receiver.got.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(receiver.status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port or 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()


def verified(secret: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """The receiver's own check, written from the documented scheme, not with the bot's code."""
    expected = hmac.new(secret.encode(), headers["x-tousu-timestamp"].encode() + b"." + body, hashlib.sha256)
    assert hmac.compare_digest(headers["x-tousu-signature"], "sha256=" + expected.hexdigest())
    event: dict[str, Any] = json.loads(body)
    assert headers["x-tousu-event-id"] == event["id"] and headers["x-tousu-event"] == event["type"]
    return event


async def _app(tmp_path: Path, clock: Clock, db_url: str | None = None) -> TousuApp:
    app = await desk_app(tmp_path, clock, db_url)
    await app.webhooks.stop()  # the tests drive the rounds themselves, on the test clock
    return app


async def _endpoint(app: TousuApp, url: str, events: list[str]) -> WebhookEndpoint:
    def add(session: Session) -> WebhookEndpoint:
        row = webhooks.add_endpoint(session, url=url, events=events, now=app.clock())
        session.flush()
        session.expunge(row)
        return row

    return await app.db.run(add)


async def _drain(app: TousuApp, rounds: int = 10) -> None:
    for _ in range(rounds):
        await app.webhooks.run_once()


async def _deliveries(app: TousuApp) -> list[WebhookDelivery]:
    return list(
        await app.db.run(lambda s: s.exec(select(WebhookDelivery).order_by(col(WebhookDelivery.id))).all())
    )


async def test_a_new_complaint_arrives_signed_and_a_tickets_events_in_order(
    tmp_path: Path, db_url: str
) -> None:
    clock = Clock()
    app = await _app(tmp_path, clock, db_url)
    receiver = Receiver()
    try:
        with receiving(receiver) as url:
            endpoint = await _endpoint(app, url, ["all"])
            ticket, _ = await file(app, "c1")
            await _drain(app)
        events = [verified(endpoint.secret, headers, body) for headers, body in receiver.got]
        assert events[0]["type"] == "ticket.created"
        assert events[0]["data"]["ticket"]["number"] == ticket.number
        assert events[0]["id"].startswith("evt_") and events[0]["created_at"].endswith("Z")
        trail = await app.db.run(
            lambda s: s.exec(
                select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(col(TicketEvent.id))
            ).all()
        )
        expected = [event_id for e in trail for _, event_id in webhooks.audit_events(e)]
        assert [e["id"] for e in events] == expected  # every event once, in the trail's order
        assert all(d.status == "delivered" and d.last_status == 200 for d in await _deliveries(app))
    finally:
        await app.stop()


async def test_a_complaint_filed_major_is_created_then_major(tmp_path: Path) -> None:
    app = await _app(tmp_path, Clock())
    receiver = Receiver()
    try:
        with receiving(receiver) as url:
            endpoint = await _endpoint(app, url, ["ticket.created", "ticket.major"])
            ticket, _ = await file(app, "c1", "电热水壶漏水把孩子烫伤了，我要找记者曝光")
            await _drain(app, 4)
        assert ticket.severity == "major"
        events = [verified(endpoint.secret, *got) for got in receiver.got]
        assert [e["type"] for e in events] == ["ticket.created", "ticket.major"]
        assert events[1]["id"] == events[0]["id"] + "_major"
        assert {e["data"]["ticket"]["number"] for e in events} == {ticket.number}
    finally:
        await app.stop()


async def test_deadline_warnings_and_breaches_are_events(tmp_path: Path) -> None:
    clock = Clock()
    app = await _app(tmp_path, clock)
    receiver = Receiver()
    try:
        with receiving(receiver) as url:
            endpoint = await _endpoint(app, url, ["ticket.deadline_warning", "ticket.breached"])
            ticket, _ = await file(app, "c1")
            clock.advance(days=30)
            await app.tickets.fire_due()
            await _drain(app, 12)
        events = [verified(endpoint.secret, *got) for got in receiver.got]
        kinds = [e["type"] for e in events]
        assert "ticket.deadline_warning" in kinds and "ticket.breached" in kinds
        assert kinds.index("ticket.deadline_warning") < kinds.index("ticket.breached")
        assert {e["data"]["ticket"]["number"] for e in events} == {ticket.number}
        assert all(e["data"]["after"]["deadline"] for e in events)
    finally:
        await app.stop()


async def test_a_survey_answer_is_an_event(tmp_path: Path) -> None:
    app = await _app(tmp_path, Clock())
    receiver = Receiver()
    try:
        with receiving(receiver) as url:
            endpoint = await _endpoint(app, url, ["survey.answered"])
            ticket, _ = await file(app, "c1")
            await app.tickets.on_ticket(ticket.number, lambda w, t: app.desk.survey_answer(w, t, 4, "还行"))
            await _drain(app, 3)
        (event,) = [verified(endpoint.secret, *got) for got in receiver.got]
        assert event["type"] == "survey.answered"
        assert event["data"]["after"] == {"score": 4} and event["data"]["note"] == "还行"
    finally:
        await app.stop()


async def test_a_receiver_down_for_a_while_gets_the_event_later_and_once(tmp_path: Path) -> None:
    clock = Clock()
    app = await _app(tmp_path, clock)
    port = free_port()
    receiver = Receiver()
    try:
        endpoint = await _endpoint(app, f"http://127.0.0.1:{port}/hook", ["ticket.created"])
        await file(app, "c1")
        await _drain(app, 3)  # nobody listens yet
        (waiting,) = await _deliveries(app)
        assert waiting.status == "pending" and waiting.attempts == 1 and waiting.last_status is None
        assert "ConnectError" in (waiting.last_error or "")
        assert webhooks.answer(waiting.last_status, waiting.last_error) == webhooks.Answer.UNREACHABLE
        with receiving(receiver, port):
            await _drain(app, 2)
            assert receiver.got == []  # not before its backoff is over
            clock.advance(seconds=31)
            await _drain(app, 3)
            clock.advance(hours=2)
            await _drain(app, 3)
        assert len(receiver.got) == 1
        event = verified(endpoint.secret, *receiver.got[0])
        assert event["type"] == "ticket.created"
        (done,) = await _deliveries(app)
        assert done.status == "delivered" and done.attempts == 2
    finally:
        await app.stop()


async def test_a_receiver_that_times_out_is_retried_then_given_up_after_a_day(tmp_path: Path) -> None:
    clock = Clock()
    app = await _app(tmp_path, clock)
    app.webhooks.timeout = 0.3
    receiver = Receiver(delay=1.0)
    try:
        with receiving(receiver) as url:
            await _endpoint(app, url, ["ticket.created", "ticket.status_changed", "ticket.assigned"])
            await file(app, "c1")
            await _drain(app, 2)
            rows = await _deliveries(app)
            assert len(rows) >= 2
            first, *later = rows
            assert first.attempts == 1 and "Timeout" in (first.last_error or "")
            assert webhooks.answer(first.last_status, first.last_error) == webhooks.Answer.TIMEOUT
            assert all(r.attempts == 0 for r in later)  # in order: the next waits for the first
            for _ in range(30):
                clock.advance(hours=1)
                await app.webhooks.run_once()
                if (await _deliveries(app))[0].status == "failed":
                    break
        first = (await _deliveries(app))[0]
        assert first.status == "failed" and first.attempts > 3
    finally:
        await app.stop()


async def test_a_410_turns_the_endpoint_off(tmp_path: Path) -> None:
    clock = Clock()
    app = await _app(tmp_path, clock)
    receiver = Receiver(status=410)
    try:
        with receiving(receiver) as url:
            await _endpoint(app, url, ["all"])
            await file(app, "c1")
            await _drain(app, 3)
            await file(app, "c2")
            await _drain(app, 3)
        assert len(receiver.got) == 1
        (endpoint,) = await app.db.run(lambda s: s.exec(select(WebhookEndpoint)).all())
        assert not endpoint.active and endpoint.disabled_reason == webhooks.Disabled.GONE
        assert endpoint.disabled_at == clock()
        rows = await _deliveries(app)
        assert {r.status for r in rows} == {"cancelled"}  # nothing more is queued or sent
        assert [webhooks.answer(r.last_status, r.last_error) for r in rows if r.attempts] == [
            webhooks.Answer.GONE
        ]
    finally:
        await app.stop()


async def test_an_endpoint_turned_on_again_gets_the_events_from_then_on(tmp_path: Path) -> None:
    clock = Clock()
    app = await _app(tmp_path, clock)
    receiver = Receiver(status=410)
    try:
        with receiving(receiver) as url:
            endpoint = await _endpoint(app, url, ["ticket.created"])
            await file(app, "c1")
            await _drain(app, 3)
            await file(app, "c2")  # while it is off
            await _drain(app, 3)
            receiver.status = 200
            clock.advance(minutes=5)
            assert endpoint.id is not None
            assert await app.db.run(
                lambda s: webhooks.enable_endpoint(s, endpoint_id=endpoint.id, now=clock())
            )
            third, _ = await file(app, "c3")
            await _drain(app, 3)
        assert len(receiver.got) == 2  # the 410, then only the complaint filed after turning it on
        event = verified(endpoint.secret, *receiver.got[1])
        assert event["data"]["ticket"]["number"] == third.number
        (row,) = await app.db.run(lambda s: s.exec(select(WebhookEndpoint)).all())
        assert row.active and row.disabled_reason is None and row.disabled_at is None
        assert not await app.db.run(lambda s: webhooks.enable_endpoint(s, endpoint_id=999, now=clock()))
    finally:
        await app.stop()


def test_an_answer_in_kinds_a_person_can_read() -> None:
    kinds = {
        (204, None): webhooks.Answer.OK,
        (410, "gone"): webhooks.Answer.GONE,
        (401, "no"): webhooks.Answer.REFUSED,
        (503, "busy"): webhooks.Answer.RECEIVER_ERROR,
        (302, ""): webhooks.Answer.UNEXPECTED,
        (None, None): webhooks.Answer.NOT_TRIED,
        (None, "ReadTimeout: timed out"): webhooks.Answer.TIMEOUT,
        (None, "ConnectError: [Errno 111] Connection refused"): webhooks.Answer.UNREACHABLE,
        (None, "RemoteProtocolError: Server disconnected"): webhooks.Answer.NETWORK,
    }
    assert {k: webhooks.answer(*k) for k in kinds} == kinds


async def test_a_handoff_is_an_event(tmp_path: Path) -> None:
    clock = Clock()
    app = await _app(tmp_path, clock)
    receiver = Receiver()
    try:
        with receiving(receiver) as url:
            endpoint = await _endpoint(app, url, ["conversation.handoff"])
            await app.console.say(app.manager, "u1", "人工")
            await _drain(app, 3)
        (one,) = [verified(endpoint.secret, *got) for got in receiver.got]
        assert one["type"] == "conversation.handoff"
        assert one["data"]["conversation"]["waiting_since"] is not None
    finally:
        await app.stop()


async def test_the_running_bot_delivers_on_its_own(tmp_path: Path) -> None:
    """No test driving the rounds: the app's own loop (under its lease) posts the new complaint."""
    app = await _app(tmp_path, Clock())
    app.webhooks.every = 0.05
    await app.webhooks.start()
    receiver = Receiver()
    try:
        with receiving(receiver) as url:
            endpoint = await _endpoint(app, url, ["ticket.created"])
            ticket, _ = await file(app, "c1")
            for _ in range(200):
                if receiver.got:
                    break
                await asyncio.sleep(0.05)
        (event,) = [verified(endpoint.secret, *got) for got in receiver.got]
        assert event["type"] == "ticket.created" and event["data"]["ticket"]["number"] == ticket.number
    finally:
        await app.stop()


def _readme_receiver() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("<!-- receiver -->", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    assert len(block.strip().splitlines()) <= 10
    return block


async def test_the_readme_receiver_accepts_what_the_bot_sends_and_refuses_a_forgery(tmp_path: Path) -> None:
    app = await _app(tmp_path, Clock(datetime.now(UTC)))  # the receiver checks the time: a real one
    script = tmp_path / "receiver.py"
    script.write_text(_readme_receiver(), encoding="utf-8")
    port = free_port()
    endpoint = await _endpoint(app, f"http://127.0.0.1:{port}/", ["ticket.created"])
    env = {**os.environ, "TOUSU_WEBHOOK_SECRET": endpoint.secret, "PORT": str(port), "PYTHONUNBUFFERED": "1"}
    receiver = await asyncio.create_subprocess_exec(
        sys.executable, str(script), env=env, stdout=asyncio.subprocess.PIPE
    )
    try:
        for _ in range(100):
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            await asyncio.sleep(0.05)
        await file(app, "c1")
        await _drain(app, 3)
        (delivery,) = await _deliveries(app)
        assert delivery.status == "delivered" and delivery.last_status == 204
        async with httpx.AsyncClient() as client:
            forged = await client.post(
                f"http://127.0.0.1:{port}/",
                content=delivery.body.encode(),
                headers={"X-Tousu-Timestamp": str(int(time.time())), "X-Tousu-Signature": "sha256=00"},
            )
            unsigned = await client.post(f"http://127.0.0.1:{port}/", content=delivery.body.encode())
        assert forged.status_code == 401 and unsigned.status_code == 401
    finally:
        receiver.terminate()
        raw, _ = await receiver.communicate()
        await app.stop()
    out = raw.decode()
    assert out.split() == ["ticket.created", "refused", "refused"]


def test_signature_scheme() -> None:
    body = b'{"id":"evt_1"}'
    expected = hmac.new(b"s3cret", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert webhooks.sign("s3cret", "1700000000", body) == f"sha256={expected}"
    assert webhooks.backoff(1).total_seconds() == 30 and webhooks.backoff(20).total_seconds() == 3600


async def test_the_feed_waits_at_a_hole_in_the_trail_then_reads_past_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An audit id still missing may be a transaction committing: its event must not be skipped;
    a hole that stays (a rollback) is read past after a while."""
    clock = Clock()
    app = await _app(tmp_path, clock)
    try:
        await _endpoint(app, "http://127.0.0.1:9/hook", ["ticket.status_changed"])
        ticket, _ = await file(app, "c1")
        await app.db.run(app.webhooks.feed)
        queued = len(await _deliveries(app))
        last = await app.db.run(repo.last_event_id)

        def add(session: Session, event_id: int) -> None:
            session.add(
                TicketEvent(
                    id=event_id,
                    ticket_id=ticket.id or 0,
                    actor="system",
                    action="status",
                    before={"status": "a"},
                    after={"status": f"s{event_id}"},
                    at=clock(),
                )
            )

        await app.db.run(lambda s: add(s, last + 2))
        await app.db.run(app.webhooks.feed)
        assert len(await _deliveries(app)) == queued  # waiting for last + 1
        await app.db.run(lambda s: add(s, last + 1))  # the slow transaction commits
        await app.db.run(app.webhooks.feed)
        rows = await _deliveries(app)
        assert [r.event_id for r in rows[queued:]] == [f"evt_{last + 1}", f"evt_{last + 2}"]
        await app.db.run(lambda s: add(s, last + 4))  # last + 3 was rolled back: never comes
        await app.db.run(app.webhooks.feed)
        assert len(await _deliveries(app)) == queued + 2
        monkeypatch.setattr(webhooks, "GAP_WAIT_S", 0.0)
        await app.db.run(app.webhooks.feed)
        assert (await _deliveries(app))[-1].event_id == f"evt_{last + 4}"
    finally:
        await app.stop()


async def test_finished_deliveries_leave_the_log_after_a_month(tmp_path: Path) -> None:
    clock = Clock()
    app = await _app(tmp_path, clock)
    receiver = Receiver()
    try:
        with receiving(receiver) as url:
            await _endpoint(app, url, ["ticket.created"])
            await file(app, "c1")
            await _drain(app, 2)
        clock.advance(days=29)
        assert await app.db.run(app.webhooks.prune) == 0
        clock.advance(days=2)
        assert await app.db.run(app.webhooks.prune) == 1
        assert await _deliveries(app) == []
    finally:
        await app.stop()
