"""Customers: one row per channel identity."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from storage.models import Customer


def get_or_create(
    session: Session,
    *,
    channel: str,
    external_id: str,
    language: str,
    name: str | None = None,
) -> Customer:
    found = session.exec(
        select(Customer).where(Customer.channel == channel, Customer.external_id == external_id)
    ).first()
    if found is not None:
        return found
    customer = Customer(channel=channel, external_id=external_id, language=language, name=name)
    session.add(customer)
    session.flush()
    return customer


def touch_inbound(session: Session, *, customer_id: int, at: datetime) -> None:
    """Remember the customer's last message: WeChat only lets us write back for 48 hours."""
    customer = session.get(Customer, customer_id)
    if customer is not None and (customer.last_inbound_at is None or customer.last_inbound_at < at):
        customer.last_inbound_at = at
        customer.unreachable = False
        session.add(customer)


def set_name(session: Session, *, customer_id: int, name: str) -> None:
    """How the customer asked to be addressed (given in the intake): what staff see them as."""
    session.connection().execute(update(Customer).where(col(Customer.id) == customer_id).values(name=name))


def set_phone(session: Session, *, customer_id: int, phone: str) -> None:
    """The number on file, straight on the session's connection (no customer object to load)."""
    session.connection().execute(update(Customer).where(col(Customer.id) == customer_id).values(phone=phone))
