"""Console logins and sessions of the people in the staff table (``bot.services.people``).
Passwords are argon2 hashes; a session cookie holds a
random token whose SHA-256 is the row key, with its own CSRF token; failed logins are counted per
address and username (and per address overall), and too many within the window refuse further
tries from there for a while. A session ends when idle for ``idle`` or at ``lifetime``."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import secrets
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from bot.domain.access import RANK, Role
from bot.services import people
from bot.services.people import Agent, agent_of
from storage.db import Database
from storage.models import ConsoleSession, LoginAttempt, Staff

__all__ = ["RANK", "AccountError", "Agent", "add_user", "agent_for", "attempt_login", "deactivate"]
MIN_PASSWORD = 8
MAX_PASSWORD = 256
"""The same limit when a password is set and when it is tried (the login form reads no more)."""
ADDRESS_FAILURES = 4
"""An address is throttled after this many times ``login_max_failures``, across usernames."""
RENEW_EVERY = timedelta(minutes=1)
"""A session's idle deadline is written at most this often, not on every request."""


class AccountError(ValueError):
    """A refused account change, with a message fit to print; ``reason`` names the console's
    text for it."""

    def __init__(self, message: str, reason: str = "other") -> None:
        super().__init__(message)
        self.reason = reason


def _hasher() -> PasswordHasher:
    return PasswordHasher()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def add_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: str,
    display_name: str | None = None,
    department: str | None = None,
    language: str = "zh",
) -> Staff:
    """Give a person a console login (creating them when new): set the password, add ``role``
    to the roles they hold; ``department`` "" makes them serve every department."""
    if role not in RANK:
        raise AccountError(f"unknown role {role!r} ({', '.join(r.value for r in Role)})", "role")
    if not people.valid_username(username):
        raise AccountError("a username is 1-64 letters, digits, '.', '_' or '-'", "username")
    check_password(password)
    departments = None if department is None else ([department] if department else [])
    user = people.save(
        session,
        username=username,
        display_name=display_name,
        add_roles=[role],
        departments=departments,
        language=language,
    )
    set_password(session, user, password)
    return user


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password needs at least {MIN_PASSWORD} characters", "password_short")
    if len(password) > MAX_PASSWORD:
        raise AccountError(f"the password may have at most {MAX_PASSWORD} characters", "password_long")


def set_password(session: Session, user: Staff, password: str) -> None:
    """A new console password (checked first); it ends every open session of the account."""
    check_password(password)
    user.password_hash = _hasher().hash(password)
    session.add(user)
    session.flush()
    session.execute(delete(ConsoleSession).where(col(ConsoleSession.username) == user.username))


def throttled(
    session: Session, *, username: str, address: str, now: datetime, limit: int, window: timedelta
) -> bool:
    """True when this address failed ``limit`` times for this username within ``window``, or
    ``ADDRESS_FAILURES * limit`` times for any: a stranger's failures lock out only the stranger."""
    recent = (
        select(func.count())
        .select_from(LoginAttempt)
        .where(col(LoginAttempt.address) == address, col(LoginAttempt.at) >= now - window)
    )
    if session.exec(recent.where(col(LoginAttempt.username) == username)).one() >= limit:
        return True
    return session.exec(recent).one() >= limit * ADDRESS_FAILURES


def verify_password(stored: str | None, password: str) -> tuple[bool, str | None]:
    """Whether ``password`` matches ``stored`` (None: no such account, which costs a hash too, so
    timing does not tell them apart), and a new hash when the parameters changed. CPU work of
    tens of milliseconds: callers on the event loop run it in a worker thread."""
    hasher = _hasher()
    try:
        if stored is None:
            hasher.verify(_dummy_hash(), password)
            return False, None
        if not hasher.verify(stored, password):
            return False, None
    except (VerificationError, InvalidHashError):
        return False, None
    return True, (hasher.hash(password) if hasher.check_needs_rehash(stored) else None)


async def attempt_login(
    db: Database,
    *,
    username: str,
    password: str,
    address: str,
    now: datetime,
    limit: int,
    window: timedelta,
    lifetime: timedelta,
    idle: timedelta,
) -> tuple[str, ConsoleSession] | str:
    """A login: the throttle first (a refused try costs no hash), then the hash in a worker
    thread, then the session. The try is counted as a failure before the hash and forgiven on
    success, so tries sent side by side cannot pass the throttle together. Returns the cookie
    token and its row, or "throttled" / "bad_login"."""
    address = address[:64]

    def check(session: Session) -> tuple[bool, str | None]:
        if throttled(session, username=username, address=address, now=now, limit=limit, window=window):
            return True, None
        session.add(LoginAttempt(username=username[:64], address=address, at=now))
        user = session.exec(select(Staff).where(Staff.username == username)).first()
        return False, (user.password_hash if user is not None and user.active else None)

    refused, stored = await db.run(check)
    if refused:
        return "throttled"
    ok, rehashed = False, None
    if len(password) <= MAX_PASSWORD:
        ok, rehashed = await asyncio.to_thread(verify_password, stored, password)

    def finish(session: Session) -> tuple[str, ConsoleSession] | str:
        user = session.exec(select(Staff).where(Staff.username == username)).first()
        if not ok or user is None or not user.active or user.password_hash != stored:
            return "bad_login"  # counted already
        if rehashed is not None:
            user.password_hash = rehashed
        user.last_login_at = now
        session.add(user)
        session.execute(
            delete(LoginAttempt).where(
                col(LoginAttempt.username) == username, col(LoginAttempt.address) == address
            )
        )
        session.execute(delete(ConsoleSession).where(col(ConsoleSession.expires_at) < now))
        token = secrets.token_urlsafe(32)
        row = ConsoleSession(
            token_hash=token_hash(token),
            username=user.username,
            csrf=secrets.token_urlsafe(24),
            created_at=now,
            expires_at=now + min(idle, lifetime),
        )
        session.add(row)
        return token, row

    return await db.run(finish)


def agent_for(
    session: Session,
    token: str | None,
    *,
    now: datetime,
    idle: timedelta | None = None,
    lifetime: timedelta | None = None,
) -> Agent | None:
    """The agent a session cookie belongs to, if the session is live and the account active.
    With ``idle`` and ``lifetime``, this use moves the session's end to ``idle`` from now, but
    never past ``lifetime`` from its start."""
    if not token or len(token) > 100:
        return None
    row = session.get(ConsoleSession, token_hash(token))
    if row is None or row.expires_at <= now:
        return None
    if idle is not None and lifetime is not None:
        renewed = min(now + idle, row.created_at + lifetime)
        if renewed - row.expires_at >= RENEW_EVERY:
            row.expires_at = renewed
            session.add(row)
    user = session.exec(select(Staff).where(Staff.username == row.username)).first()
    if user is None or not user.active or not user.password_hash:
        return None
    return agent_of(user, row.csrf)


def logout(session: Session, token: str | None) -> None:
    if token:
        session.execute(delete(ConsoleSession).where(col(ConsoleSession.token_hash) == token_hash(token)))


def deactivate(session: Session, username: str) -> bool:
    return people.deactivate(session, username)


def active_users(session: Session, *, department: str | None = None) -> list[Staff]:
    """Active people who can log in to the console (who a conversation may be transferred to)."""
    return [p for p in people.active_people(session, department=department) if p.password_hash]


@functools.cache
def _dummy_hash() -> str:
    return PasswordHasher().hash("not-a-real-password")
