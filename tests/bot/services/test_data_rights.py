"""Export and erasure of one customer's data, from the console and the CLI."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select as sa_select
from sqlmodel import Session, SQLModel, col, select

from bot.app import TousuApp
from bot.services import data_rights, notifications
from bot.services.nlu_review import examples_yaml
from bot.web.console import accounts
from bot.web.server import create_web_app
from dialogues.types import Attachment
from nlu.examples import read_examples
from storage.models import (
    Customer,
    DataRequest,
    Message,
    NluCandidate,
    NluSample,
    Staff,
    StaffAlert,
    Ticket,
    TicketEvent,
)
from tests.bot.cli.test_chat_and_tickets import SCRIPT, _tousu
from tests.bot.services.test_inbox import joined
from tests.bot.services.ticket_helpers import STAFF, Clock, file, person
from tests.bot.web.console.helpers import ACCOUNTS, PASSWORD, Desk, console_desk, page_csrf
from tests.conftest import make_settings


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
    chat = _tousu(
        ["chat", "--json", "--no-nlu", "--user", "cli-user"], tmp_path, stdin="\n".join(SCRIPT) + "\n"
    )
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
        _, cleanup = data_rights.erase(
            session, cid, actor="cli", now=desk.clock(), places=data_rights.Places.from_settings(app.settings)
        )
        session.commit()
    data_rights.finish(cleanup)
    engine.dispose()
    again = joined(await app.console.say(app.manager, "p1", "你好"))
    assert "您好" in again

    def owners(session: Session) -> tuple[int, list[int]]:
        fresh = session.exec(select(Customer).where(Customer.external_id == "p1")).one()
        rows = session.exec(select(Message.customer_id).where(Message.user_id == "p1")).all()
        return int(fresh.id or 0), list(rows)

    fresh_id, message_owners = await app.db.run(owners)
    assert fresh_id != cid and message_owners and set(message_owners) == {fresh_id}


def test_a_file_named_twice_is_listed_once_and_nothing_outside_the_folder(tmp_path: Path) -> None:
    root = tmp_path / "attachments"
    (root / "c").mkdir(parents=True)
    photo = root / "c" / "a.jpg"
    photo.write_bytes(b"x")
    outside = tmp_path / "secret.txt"
    outside.write_text("no")
    refs = [{"ref": str(photo)}, {"ref": str(root / "c" / ".." / "c" / "a.jpg")}, {"ref": str(outside)}]
    assert data_rights._attachment_paths(refs, root) == [photo.resolve()]


# -- nothing of an erased customer is left anywhere ---------------------------------------------
USER = "tg-7788123456"
NAME = "欧阳娜娜"
PHONE = "13800138000"  # the intake script's
PHRASE = "紫罗兰独角兽"
OTHERS = "别人的问题 快递三天都没到"


@pytest.fixture
async def var_desk(tmp_path: Path, db_url: str) -> AsyncIterator[Desk]:
    """A desk whose every file lives under ``tmp_path/var`` (attachments, NLU data, models)."""
    var = tmp_path / "var"
    settings = make_settings(
        tmp_path,
        db_url=db_url,
        scheduler={"enabled": False},
        general={"data_dir": var},
        attachments={"dir": var / "attachments"},
        nlu={
            "enabled": False,
            "managed": False,
            "models_dir": var / "models",
            "reviewed_data": var / "nlu" / "reviewed.yml",
        },
    )
    clock = Clock()
    app = TousuApp(settings, channels=[], use_nlu=False, clock=clock)
    await app.start()

    def seed(session: Session) -> None:
        for member in STAFF:
            session.add(person(member))
        for username, role, name in ACCOUNTS:
            accounts.add_user(session, username=username, password=PASSWORD, role=role, display_name=name)

    await app.db.run(seed)
    yield Desk(app, create_web_app(app, manage_lifecycle=False), clock)
    await app.stop()


async def customer_everywhere(desk: Desk) -> tuple[int, Ticket]:
    """The customer's data in every place the bot keeps any: transcript, ticket (target naming
    them, severity reason quoting them), staff alert, attachments in a folder named by their
    platform id, NLU samples, the reviewed examples, a candidate's data and trained models."""
    app, settings = desk.app, desk.app.settings
    folder = settings.path(settings.attachments.dir) / "console" / USER
    folder.mkdir(parents=True)
    photo = folder / "kettle.jpg"
    photo.write_bytes(b"\xff\xd8 kettle")
    (folder / "never-recorded.jpg").write_bytes(b"\xff\xd8")  # a download whose message failed
    await app.console.say(app.manager, USER, "你好")
    await app.console.say(
        app.manager, USER, "", attachments=(Attachment("photo", str(photo), "kettle.jpg"),), kind="photo"
    )
    description = f"我买的{PHRASE}电热水壶漏水了"
    ticket, _ = await file(app, USER, description, where=f"{NAME}家楼下的店", product="无")
    places = data_rights.Places.from_settings(settings)
    places.models.mkdir(parents=True)
    assert places.base_model is not None
    (places.models / places.base_model).write_bytes(b"trained on nlu/data only")
    live_model = places.models / "nlu-0123456789abcdef.tar.gz"
    live_model.write_bytes(f"a model that learnt {description}".encode())
    candidate_model = places.models / "nlu-fedcba9876543210.tar.gz"
    candidate_model.write_bytes(f"another that learnt {description}".encode())
    examples = examples_yaml([("complaint_quality", description), ("complaint_delivery", OTHERS)])
    places.reviewed.parent.mkdir(parents=True, exist_ok=True)
    places.reviewed.write_text(examples, "utf-8")
    candidate_data = places.nlu_data / "candidate-20260101000000000000.yml"
    candidate_data.write_text(examples, "utf-8")

    def seed(session: Session) -> int:
        customer = session.exec(select(Customer).where(Customer.external_id == USER)).one()
        customer.name = NAME
        session.add(customer)
        stored = session.get(Ticket, ticket.id)
        assert stored is not None and stored.target and NAME in stored.target
        stored.severity_reasons = [{"rule": "keyword", "reason": "关键词", "match": PHRASE}]
        session.add(stored)
        session.add(
            StaffAlert(username="zhaoliu", ticket_id=ticket.id, kind="dissatisfied", text=f"{PHRASE} 太差")
        )
        low = NluSample(text=description, source="low_confidence", predicted="greet", confidence=0.3)
        live = NluSample(
            text=description,
            source="corrected",
            intent="complaint_quality",
            status="live",
            ticket_id=ticket.id,
        )
        other = NluSample(text=OTHERS, source="low_confidence", intent="complaint_delivery", status="live")
        session.add_all([low, live, other])
        session.flush()
        for model, status in ((live_model, "live"), (candidate_model, "evaluated")):
            session.add(
                NluCandidate(
                    model_file=str(model),
                    data_file=str(candidate_data),
                    samples=[live.id, other.id],
                    status=status,
                    created_by="root",
                )
            )
        return int(customer.id or 0)

    return await app.db.run(seed), ticket


def mentions(value: object) -> list[str]:
    text = value.decode("utf-8", "ignore") if isinstance(value, bytes) else str(value)
    return [needle for needle in (USER, NAME, PHONE, PHRASE) if needle in text]


async def test_erase_leaves_no_mention_in_any_table_or_file(var_desk: Desk) -> None:
    app = var_desk.app
    cid, ticket = await customer_everywhere(var_desk)
    places = data_rights.Places.from_settings(app.settings)
    var = app.settings.path(app.settings.general.data_dir)

    def found_in_tables(session: Session) -> list[tuple[str, str, list[str]]]:
        hits = []
        for table in SQLModel.metadata.sorted_tables:
            for row in session.execute(sa_select(table)).mappings():
                hits += [
                    (table.name, k, mentions(v)) for k, v in row.items() if v is not None and mentions(v)
                ]
        return hits

    def found_in_files() -> list[tuple[str, list[str]]]:
        return [
            (str(p.relative_to(var)), mentions(str(p.relative_to(var))) or mentions(p.read_bytes()))
            for p in sorted(var.rglob("*"))
            if mentions(str(p.relative_to(var))) or (p.is_file() and mentions(p.read_bytes()))
        ]

    def everyone_by_email(session: Session) -> None:
        for row in session.exec(select(Staff)):
            row.notify, row.email = ["email"], f"{row.username}@example.com"
            session.add(row)
        session.flush()
        notifications.fan_out(session, settings=app.settings, now=var_desk.clock())

    await app.db.run(everyone_by_email)  # the alerts' copies wait in the notification outbox too
    before_tables = {(t, c) for t, c, _ in await app.db.run(found_in_tables)}
    assert {"customers", "messages", "tickets", "staff_alerts", "staff_notifications", "nlu_samples"} <= {
        t for t, _ in before_tables
    }
    assert len(found_in_files()) >= 5  # folder, photo, reviewed, candidate data, two models
    async with var_desk.client("root") as admin:
        done = await admin.post(
            f"/console/customers/{cid}/erase",
            data={"csrf_token": await page_csrf(admin), "confirm": str(cid)},
        )
        assert done.headers["location"].endswith("done=erased")

    assert await app.db.run(found_in_tables) == []
    assert found_in_files() == []

    def kept(session: Session) -> dict[str, object]:
        stored = session.get(Ticket, ticket.id)
        assert stored is not None
        return {
            "ticket": (stored.number, stored.category, stored.target, stored.severity_reasons),
            "samples": [(s.id, s.text) for s in session.exec(select(NluSample))],
            "candidates": [
                (c.status, c.samples)
                for c in session.exec(select(NluCandidate).order_by(col(NluCandidate.id)))
            ],
            "alerts": [
                a.text for a in session.exec(select(StaffAlert).where(StaffAlert.kind == "dissatisfied"))
            ],
        }

    after = await app.db.run(kept)
    number, category, target, reasons = after["ticket"]  # type: ignore[misc]
    assert number == ticket.number and category and target is None and reasons == [{"rule": "keyword"}]
    [(other_id, text)] = after["samples"]  # type: ignore[misc]
    assert text == OTHERS  # another customer's sample stays
    assert after["candidates"] == [("live", [other_id]), ("failed", [other_id])]
    assert after["alerts"] == [f"{ticket.number} [erased]"]
    # the other customer's example is still trained on; every model that may hold the erased
    # text is gone, the one trained from nlu/data alone stays
    assert [e.text for e in read_examples(places.reviewed)] == [OTHERS]
    assert [p.name for p in places.models.glob("nlu-*.tar.gz")] == [places.base_model]
