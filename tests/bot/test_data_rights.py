"""Export and erasure of one customer's data, from the console and the CLI."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlmodel import Session, col, select

from bot import data_rights
from dialogues.types import Attachment
from storage.models import Customer, DataRequest, Message, Ticket, TicketEvent
from tests.bot.commands.test_chat_and_tickets import SCRIPT, _tousu
from tests.bot.console.helpers import Desk, console_desk, page_csrf
from tests.bot.lifecycle.helpers import Clock, file
from tests.bot.test_manager import joined


@pytest.fixture
async def desk(tmp_path: Path, db_url: str) -> AsyncIterator[Desk]:
    """On SQLite and on PostgreSQL: erasure deletes across foreign keys, which the two enforce alike."""
    opened = await console_desk(tmp_path, Clock(), db_url)
    yield opened
    await opened.app.stop()


async def customer_with_a_photo(desk: Desk) -> tuple[int, Ticket, Path]:
    app = desk.app
    photo = app.settings.path(app.settings.attachments.dir) / "console" / "kettle.jpg"
    photo.parent.mkdir(parents=True, exist_ok=True)
    photo.write_bytes(b"\xff\xd8 kettle")
    await app.console.say(app.manager, "p1", "你好")
    await app.console.say(
        app.manager, "p1", "", attachments=(Attachment("photo", str(photo), "kettle.jpg"),), kind="photo"
    )
    ticket, _ = await file(app, "p1", "张先生 13912345678 买的水壶漏水")

    def customer_id(session: Session) -> int:
        return int(session.exec(select(Customer.id).where(Customer.external_id == "p1")).one() or 0)

    return await app.db.run(customer_id), ticket, photo


async def test_export_holds_everything_and_is_audited(desk: Desk) -> None:
    cid, ticket, _ = await customer_with_a_photo(desk)
    async with desk.client("root") as admin:
        found = await admin.get("/console/customers", params={"q": "p1"})
        assert f"/console/customers/{cid}" in found.text
        response = await admin.post(
            f"/console/customers/{cid}/export", data={"csrf_token": await page_csrf(admin)}
        )
        assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    data = json.loads(archive.read("data.json"))
    assert data["customer"]["external_id"] == "p1"
    assert any("13912345678" in m["text"] for m in data["messages"])
    assert [t["number"] for t in data["tickets"]] == [ticket.number]
    assert data["ticket_events"] and any(name.endswith("kettle.jpg") for name in archive.namelist())
    audit = await desk.app.db.run(lambda s: list(s.exec(select(DataRequest))))
    assert [(a.action, a.actor, a.customer_id) for a in audit] == [("export", "agent:root", cid)]


async def test_erase_keeps_anonymous_tickets_and_removes_the_person(desk: Desk) -> None:
    app = desk.app
    cid, ticket, photo = await customer_with_a_photo(desk)
    async with desk.client("root") as admin:
        csrf = await page_csrf(admin)
        wrong = await admin.post(
            f"/console/customers/{cid}/erase", data={"csrf_token": csrf, "confirm": "yes"}
        )
        assert wrong.headers["location"].endswith("done=confirm")
        assert photo.exists()
        done = await admin.post(
            f"/console/customers/{cid}/erase", data={"csrf_token": csrf, "confirm": str(cid)}
        )
        assert done.headers["location"].endswith("done=erased")
        page = (await admin.get(f"/console/customers/{cid}")).text
        assert 'id="message-count">0<' in page and "erase" in page

    def state(session: Session) -> dict[str, object]:
        customer = session.get(Customer, cid)
        kept = session.get(Ticket, ticket.id)
        events = session.exec(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)).all()
        assert customer is not None and kept is not None
        return {
            "customer": (customer.name, customer.phone, customer.external_id, customer.erased_at is not None),
            "messages": session.exec(select(Message).where(Message.customer_id == cid)).all(),
            "ticket": (kept.description, kept.contact_phone, kept.category, kept.kind, kept.status),
            "notes": [e.note for e in events if e.note],
            "last_event": events[-1].action,
            "audit": [r.action for r in session.exec(select(DataRequest).order_by(col(DataRequest.id)))],
        }

    after = await app.db.run(state)
    assert after["customer"] == (None, None, f"erased:{cid}", True)
    assert after["messages"] == []
    description, phone, category, kind, _status = after["ticket"]  # type: ignore[misc]
    assert (description, phone, kind) == ("[erased]", None, "complaint") and category
    assert after["notes"] == [] and after["last_event"] == "customer_erased"
    assert after["audit"] == ["erase"]
    assert not photo.exists()
    # the same person writing again is a new customer with a fresh conversation
    again = joined(await app.console.say(app.manager, "p1", "你好"))
    assert "您好" in again


def test_the_cli_finds_exports_and_erases(tmp_path: Path) -> None:
    assert _tousu(["db", "upgrade"], tmp_path).returncode == 0
    chat = _tousu(["chat", "--json", "--user", "cli-user"], tmp_path, stdin="\n".join(SCRIPT) + "\n")
    assert chat.returncode == 0, chat.stderr
    found = _tousu(["customers", "find", "cli-user"], tmp_path)
    assert found.returncode == 0 and "cli-user" in found.stdout
    assert "13800138000" not in found.stdout  # phones are masked on screen too
    customer_id = found.stdout.split()[0]
    target = tmp_path / "out.zip"
    exported = _tousu(["customers", "export", customer_id, "--output", str(target)], tmp_path)
    assert exported.returncode == 0 and "data.json" in zipfile.ZipFile(target).namelist()
    assert _tousu(["customers", "erase", customer_id], tmp_path).returncode == 2  # needs --yes
    erased = _tousu(["customers", "erase", customer_id, "--yes"], tmp_path)
    assert erased.returncode == 0 and "1 tickets kept anonymised" in erased.stdout
    assert "cli-user" not in _tousu(["customers", "find", customer_id], tmp_path).stdout
    missing = _tousu(["customers", "export", "999999", "--output", str(tmp_path / "none.zip")], tmp_path)
    assert missing.returncode == 1 and missing.stderr.strip() and not (tmp_path / "none.zip").exists()
    assert _tousu(["customers", "erase", "999999", "--yes"], tmp_path).returncode == 1


async def test_an_erasure_by_another_process_does_not_break_the_next_message(desk: Desk) -> None:
    from storage.db import make_unpooled_engine

    app = desk.app
    cid, _, _ = await customer_with_a_photo(desk)
    # as `tousu customers erase` would: its own connection, this process's caches untouched
    engine = make_unpooled_engine(app.settings.database_url)
    with Session(engine) as session:
        data_rights.erase(session, cid, actor="cli", now=desk.clock(), files_root=tmp_root(app))
        session.commit()
    engine.dispose()
    again = joined(await app.console.say(app.manager, "p1", "你好"))
    assert "您好" in again

    def owners(session: Session) -> tuple[int, list[int]]:
        fresh = session.exec(select(Customer).where(Customer.external_id == "p1")).one()
        rows = session.exec(select(Message.customer_id).where(Message.user_id == "p1")).all()
        return int(fresh.id or 0), list(rows)

    fresh_id, message_owners = await app.db.run(owners)
    assert fresh_id != cid and message_owners and set(message_owners) == {fresh_id}


def tmp_root(app: object) -> Path:
    settings = app.settings  # type: ignore[attr-defined]
    return Path(settings.path(settings.attachments.dir))


def test_a_file_named_twice_is_listed_once_and_nothing_outside_the_folder(tmp_path: Path) -> None:
    root = tmp_path / "attachments"
    (root / "c").mkdir(parents=True)
    photo = root / "c" / "a.jpg"
    photo.write_bytes(b"x")
    outside = tmp_path / "secret.txt"
    outside.write_text("no")
    refs = [{"ref": str(photo)}, {"ref": str(root / "c" / ".." / "c" / "a.jpg")}, {"ref": str(outside)}]
    assert data_rights._attachment_paths(refs, root) == [photo.resolve()]
