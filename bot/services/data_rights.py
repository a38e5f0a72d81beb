"""A customer's data rights: export everything held about them, or erase it.

Erasure removes the person and keeps the statistics: the customer row loses name, phone and
platform id; transcripts (with any reply still to send), conversations and attachment files go,
and so do the customer's attachment folders (named by the platform id); tickets stay with their
kind, category, severity, department, status, dates and score, but lose every text the customer
or staff wrote about them (a target naming the person included), their audit events keep
who/what/when without notes, and staff alerts about them keep only the ticket number.
The customer's messages also leave the NLU review: their samples go, the reviewed examples and
candidate training files lose them, and every trained model that may hold them is deleted (all
but the one trained from ``nlu/data`` alone), so the next start trains again without them.
Each export and erasure is recorded in ``data_requests``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, or_, update
from sqlmodel import Session, SQLModel, col, select

from bot.services.nlu_review import examples_yaml
from dialogues.inputs import clean
from nlu import server as rasa
from nlu.examples import plain, read_examples
from storage.models import (
    Conversation,
    Customer,
    DataRequest,
    FollowUp,
    Message,
    NluCandidate,
    NluSample,
    StaffAlert,
    StaffNotification,
    Ticket,
    TicketEvent,
)

if TYPE_CHECKING:
    from bot.settings import Settings

ERASED = "[erased]"
KEPT_EVENT_KEYS = frozenset(
    {"status", "severity", "assignee", "department", "category", "escalated_to", "to"}
)


class NoSuchCustomer(LookupError):
    pass


def _row(obj: SQLModel) -> dict[str, Any]:
    data = obj.model_dump()
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in data.items()}


def find_customers(session: Session, query: str, *, limit: int = 50) -> list[Customer]:
    """By row id, platform id, phone or name (contains)."""
    query = query.strip()
    if not query:
        return []
    conditions = [
        col(Customer.external_id) == query,
        col(Customer.phone) == query,
        col(Customer.name).contains(query),
    ]
    if query.isdigit():
        conditions.append(col(Customer.id) == int(query))
    return list(
        session.exec(select(Customer).where(or_(*conditions)).order_by(col(Customer.id)).limit(limit))
    )


def _attachment_paths(items: list[dict[str, Any]], root: Path) -> list[Path]:
    """Files under the attachment folder only (a stored ref is never trusted to point elsewhere),
    each once: a message's file is often the ticket's too."""
    out: list[Path] = []
    base = root.resolve()
    for item in items:
        ref = str(item.get("ref") or "")
        if not ref:
            continue
        path = Path(ref).resolve()
        if path.is_relative_to(base) and path.is_file() and path not in out:
            out.append(path)
    return out


@dataclass
class Export:
    data: dict[str, Any]
    files: list[Path]
    request: DataRequest
    """The ``data_requests`` row that records this export."""

    def zip_bytes(self) -> bytes:
        """``data.json`` plus every attachment under ``files/``."""
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("data.json", json.dumps(self.data, ensure_ascii=False, indent=2, default=str))
            for index, path in enumerate(self.files):
                archive.write(path, f"files/{index:03d}-{path.name}")
        return buffer.getvalue()


def export(
    session: Session, customer_id: int, *, actor: str, now: datetime, files_root: Path, record: bool = True
) -> Export:
    """Everything held about the customer; ``record=False`` leaves adding ``request`` to the
    caller (the console writes it once the zip is built, off the event loop)."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NoSuchCustomer(f"no customer {customer_id}")
    conversations = list(session.exec(select(Conversation).where(Conversation.customer_id == customer_id)))
    messages = list(
        session.exec(select(Message).where(Message.customer_id == customer_id).order_by(col(Message.id)))
    )
    tickets = list(
        session.exec(select(Ticket).where(Ticket.customer_id == customer_id).order_by(col(Ticket.id)))
    )
    ticket_ids = [t.id for t in tickets]
    events = (
        list(
            session.exec(
                select(TicketEvent)
                .where(col(TicketEvent.ticket_id).in_(ticket_ids))
                .order_by(col(TicketEvent.id))
            )
        )
        if ticket_ids
        else []
    )
    files = _attachment_paths(
        [a for m in messages for a in m.attachments] + [a for t in tickets for a in t.attachments], files_root
    )
    data = {
        "exported_at": now.isoformat(),
        "customer": _row(customer),
        "conversations": [_row(c) for c in conversations],
        "messages": [_row(m) for m in messages],
        "tickets": [_row(t) for t in tickets],
        "ticket_events": [_row(e) for e in events],
    }
    request = DataRequest(
        customer_id=customer_id,
        action="export",
        actor=actor,
        at=now,
        summary={"messages": len(messages), "tickets": len(tickets), "files": len(files)},
    )
    if record:
        session.add(request)
    return Export(data, files, request)


@dataclass(frozen=True, slots=True)
class Places:
    """Where a customer's data can sit outside the database."""

    attachments: Path
    nlu_data: Path  # candidate training files of the NLU review
    reviewed: Path  # the live reviewed examples
    models: Path
    base_model: str | None  # the model trained from nlu/data alone: holds no customer text

    @classmethod
    def from_settings(cls, settings: Settings) -> Places:
        project = settings.path(settings.nlu.project_dir)
        try:
            base = rasa.content_hash(project / "config.yml", project / "data", settings.nlu.rasa_version)
        except OSError:  # no NLU project here: no model is known to be free of reviewed data
            base = None
        return cls(
            attachments=settings.path(settings.attachments.dir),
            nlu_data=settings.path(settings.general.data_dir) / "nlu",
            reviewed=settings.path(settings.nlu.reviewed_data),
            models=settings.path(settings.nlu.models_dir),
            base_model=f"nlu-{base}.tar.gz" if base else None,
        )


@dataclass
class Cleanup:
    """What an erasure leaves to do once its transaction committed: files are not transactional."""

    places: Places
    paths: list[Path] = field(default_factory=list)  # attachment files and the customer's folders
    texts: set[str] = field(default_factory=set)  # what they wrote, normalised: leaves NLU training data
    identifiers: set[str] = field(default_factory=set)  # name, phone, platform id
    retrain: bool = False  # an erased sample was (or may have been) trained on


def _normal(text: str) -> str:
    return " ".join(plain(clean(text)).split())


def _mentions(text: str, identifiers: set[str]) -> bool:
    return any(i in text for i in identifiers)


def _customer_folders(customer: Customer, root: Path) -> list[Path]:
    """``<attachments>/<channel>/<platform id>``: channels store downloads per chat, and the
    folder's name is itself the platform id."""
    base = root.resolve()
    folder = (root / customer.channel / customer.external_id).resolve()
    if folder.parent.parent != base or not folder.is_dir():  # an id with "/" or ".." never leaves it
        return []
    return [folder]


def erase(
    session: Session, customer_id: int, *, actor: str, now: datetime, places: Places
) -> tuple[dict[str, int], Cleanup]:
    """Erase the customer's personal data in this transaction; the files go after it commits
    (the caller runs ``finish`` on the returned cleanup), so a failure leaves everything as it
    was. Returns a count of what went and the cleanup."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NoSuchCustomer(f"no customer {customer_id}")
    messages = list(session.exec(select(Message).where(Message.customer_id == customer_id)))
    tickets = list(session.exec(select(Ticket).where(Ticket.customer_id == customer_id)))
    cleanup = Cleanup(places)
    cleanup.paths = _attachment_paths(
        [a for m in messages for a in m.attachments] + [a for t in tickets for a in t.attachments],
        places.attachments,
    )
    files = len(cleanup.paths)
    cleanup.paths += _customer_folders(customer, places.attachments)
    written = [m.text for m in messages if m.direction == "in"]
    written += [t for ticket in tickets for t in (ticket.description, ticket.satisfaction_comment) if t]
    identifiers = {customer.external_id, customer.name, customer.phone}
    identifiers |= {v for t in tickets for v in (t.contact_name, t.contact_phone)}
    cleanup.identifiers = {i for i in identifiers if i and len(i.strip()) >= 2}
    conversation_ids = list(
        session.exec(select(Conversation.id).where(Conversation.customer_id == customer_id))
    )
    ticket_ids = [t.id for t in tickets if t.id is not None]
    for ticket in tickets:
        ticket.description = ERASED
        ticket.details = {}
        ticket.contact_name = None
        ticket.contact_phone = None
        ticket.references = []
        ticket.desired_outcome = None
        ticket.attachments = []
        ticket.solution = None
        ticket.satisfaction_comment = None
        ticket.conversation_id = None
        ticket.awaiting = None
        # the rule that matched stays for the statistics; the words it matched go
        ticket.severity_reasons = [{"rule": str(r.get("rule", ""))} for r in ticket.severity_reasons]
        if ticket.target and _mentions(ticket.target, cleanup.identifiers):
            ticket.target = None  # the complaint is about the person: it counts for nobody now
        ticket.updated_at = now
        session.add(ticket)
        for event in session.exec(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)):
            event.note = None
            event.before = {k: v for k, v in event.before.items() if k in KEPT_EVENT_KEYS}
            event.after = {k: v for k, v in event.after.items() if k in KEPT_EVENT_KEYS}
            session.add(event)
        session.add(TicketEvent(ticket_id=ticket.id or 0, at=now, actor=actor, action="customer_erased"))
        for follow_up in session.exec(
            select(FollowUp).where(FollowUp.ticket_id == ticket.id, FollowUp.status == "pending")
        ):
            if follow_up.kind in ("callback", "survey_reminder", "auto_close"):
                follow_up.status = "cancelled"
                follow_up.outcome = "customer erased"
                session.add(follow_up)
    if ticket_ids:
        numbers = {t.id: t.number for t in tickets}
        quoted: dict[str, str] = {}  # an alert's text -> its erased form
        for alert in session.exec(select(StaffAlert).where(col(StaffAlert.ticket_id).in_(ticket_ids))):
            erased = f"{numbers.get(alert.ticket_id, '')} {ERASED}".strip()  # it may quote them
            quoted[alert.text] = erased
            alert.text = erased
            session.add(alert)
        if quoted:  # the alerts' copies on their way to staff's e-mail, Telegram and WeCom
            copies = select(StaffNotification).where(col(StaffNotification.text).in_(list(quoted)))
            for note in session.exec(copies):
                note.text = quoted[note.text]
                note.subject = note.text
                session.add(note)
    cleanup.texts = {t for t in map(_normal, written) if t}
    samples = _erase_samples(session, ticket_ids, cleanup)
    session.execute(delete(Message).where(col(Message.customer_id) == customer_id))
    session.flush()
    if conversation_ids:
        session.execute(
            update(Ticket)
            .where(col(Ticket.conversation_id).in_(conversation_ids))
            .values(conversation_id=None)
        )
        session.execute(delete(Conversation).where(col(Conversation.id).in_(conversation_ids)))
    customer.name = None
    customer.phone = None
    customer.external_id = f"erased:{customer_id}"
    customer.erased_at = now
    customer.unreachable = True
    session.add(customer)
    summary = {
        "messages": len(messages),
        "tickets": len(tickets),
        "conversations": len(conversation_ids),
        "files": files,
        "nlu_samples": samples,
    }
    session.add(DataRequest(customer_id=customer_id, action="erase", actor=actor, at=now, summary=summary))
    return summary, cleanup


def _erase_samples(session: Session, ticket_ids: list[int], cleanup: Cleanup) -> int:
    """Delete the customer's NLU samples: those of their tickets, and those whose text is a
    message they wrote (a low-confidence sample keeps no link to its sender). A candidate
    trained on one is failed, so nobody switches to it."""
    doomed: list[NluSample] = []
    for sample in session.exec(select(NluSample)):
        if (sample.ticket_id is not None and sample.ticket_id in ticket_ids) or (
            _normal(sample.text) in cleanup.texts or _mentions(sample.text, cleanup.identifiers)
        ):
            doomed.append(sample)
    if not doomed:
        return 0
    ids = {s.id for s in doomed}
    cleanup.texts |= {t for s in doomed if (t := _normal(s.text))}
    cleanup.retrain = any(s.status in ("accepted", "live") for s in doomed)
    for candidate in session.exec(select(NluCandidate)):
        if ids.isdisjoint(candidate.samples):
            continue
        cleanup.retrain = True
        candidate.samples = [i for i in candidate.samples if i not in ids]
        if candidate.status in ("training", "evaluated"):
            candidate.status = "failed"
            candidate.error = "trained on the data of an erased customer: train a new candidate"
        session.add(candidate)
    session.execute(delete(NluSample).where(col(NluSample.id).in_(ids)))
    return len(doomed)


def finish(cleanup: Cleanup) -> dict[str, int]:
    """After the erasure committed: delete the files, scrub the NLU training files, and delete
    the models that may have learnt from the customer (the next start trains without them)."""
    places = cleanup.places
    done = {"files": delete_files(cleanup.paths), "nlu_files": 0, "models": 0}
    training = [places.reviewed, *sorted(places.nlu_data.glob("candidate-*.yml"))]
    for path in training:
        if path.is_file() and _scrub(path, cleanup):
            done["nlu_files"] += 1
    if cleanup.retrain or done["nlu_files"]:
        for model in places.models.glob("nlu-*.tar.gz"):
            if model.name != places.base_model:
                with contextlib.suppress(FileNotFoundError):
                    model.unlink()
                    done["models"] += 1
    return done


def _scrub(path: Path, cleanup: Cleanup) -> bool:
    """Rewrite a training file without the customer's examples; True if it held any."""
    examples = read_examples(path)
    kept = [
        (e.intent, e.text)
        for e in examples
        if _normal(e.text) not in cleanup.texts and not _mentions(e.text, cleanup.identifiers)
    ]
    if len(kept) == len(examples):
        return False
    staging = path.with_suffix(".erasing")
    staging.write_text(examples_yaml(kept), encoding="utf-8")
    os.replace(staging, path)
    return True


def delete_files(paths: list[Path]) -> int:
    """Delete files and folders; a path already gone is not an error."""
    removed = 0
    for path in paths:
        try:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
            removed += 1
        except FileNotFoundError:
            pass
    return removed
