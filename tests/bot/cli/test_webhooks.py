"""``tousu webhooks``: an endpoint is registered with its events and a secret printed once, listed
without the secret, its log read, a delivery queued again, turned off by a 410 and on again, and removed."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlmodel import Session

from bot.services.webhooks import Disabled
from storage.db import make_unpooled_engine
from storage.models import WebhookDelivery
from storage.repositories import webhooks as repo
from tests.bot.cli.test_chat_and_tickets import _tousu


def test_add_list_log_resend_remove(tmp_path: Path) -> None:
    bad = _tousu(["webhooks", "add", "http://127.0.0.1:9/hook", "--events", "ticket.exploded"], tmp_path)
    assert bad.returncode == 1 and "unknown events ticket.exploded" in bad.stderr
    assert _tousu(["webhooks", "add", "ftp://x"], tmp_path).returncode == 1
    made = _tousu(
        ["webhooks", "add", "http://127.0.0.1:9/hook", "--events", "ticket.created,ticket.breached"], tmp_path
    )
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip()
    assert secret.startswith("whsec_") and "not shown again" in made.stderr
    listed = _tousu(["webhooks", "list"], tmp_path).stdout
    assert "http://127.0.0.1:9/hook" in listed and "ticket.created,ticket.breached" in listed
    assert secret not in listed and "active" in listed

    engine = make_unpooled_engine(f"sqlite:///{tmp_path / 'cli.db'}")
    with Session(engine) as session:
        row = WebhookDelivery(
            endpoint_id=1,
            event_id="evt_7",
            event="ticket.created",
            order_key="ticket:1",
            body="{}",
            status="failed",
            attempts=40,
            last_status=503,
        )
        session.add(row)
        session.commit()
        delivery_id = row.id
    log = _tousu(["webhooks", "log", "1"], tmp_path).stdout
    assert "evt_7" in log and "failed" in log and "503" in log
    assert _tousu(["webhooks", "resend", str(delivery_id)], tmp_path).returncode == 0
    with Session(engine) as session:
        again = session.get(WebhookDelivery, delivery_id)
        assert again is not None and again.status == "pending"
    assert _tousu(["webhooks", "resend", "999"], tmp_path).returncode == 1
    with Session(engine) as session:
        repo.disable(
            session, endpoint_id=1, reason=Disabled.GONE, now=datetime(2026, 12, 4, 2, 5, tzinfo=UTC)
        )
        session.commit()
    off = _tousu(["webhooks", "list"], tmp_path).stdout
    assert "off since 2026-12-04 02:05 UTC: the receiver answered 410 Gone" in off
    assert _tousu(["webhooks", "enable", "1"], tmp_path).returncode == 0
    assert "active" in _tousu(["webhooks", "list"], tmp_path).stdout
    assert _tousu(["webhooks", "enable", "9"], tmp_path).returncode == 1
    engine.dispose()
    assert _tousu(["webhooks", "remove", "1"], tmp_path).returncode == 0
    assert _tousu(["webhooks", "remove", "1"], tmp_path).returncode == 1
    assert "no endpoints yet" in _tousu(["webhooks", "list"], tmp_path).stdout
