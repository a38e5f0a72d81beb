"""Console accounts, logins and sessions. Passwords are argon2 hashes; a session cookie holds a
random token whose SHA-256 is the row key, with its own CSRF token; failed logins are counted per
username and per address, and too many within the window refuse further tries for a while."""

from __future__ import annotations

import functools
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, or_
from sqlmodel import Session, col, select

from storage.models import CONSOLE_ROLES, ConsoleSession, ConsoleUser, LoginAttempt

RANK = {role: rank for rank, role in enumerate(CONSOLE_ROLES)}
MIN_PASSWORD = 8


class AccountError(ValueError):
    """A refused account change, with a message fit to print."""


@dataclass(frozen=True, slots=True)
class Agent:
    """The logged-in person, as the console's routes see them."""

    username: str
    display_name: str
    role: str
    department: str | None
    language: str
    csrf: str

    def at_least(self, role: str) -> bool:
        return RANK[self.role] >= RANK[role]


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
) -> ConsoleUser:
    """Create the account, or reset the password and role of an existing one."""
    if role not in RANK:
        raise AccountError(f"unknown role {role!r} (agent, supervisor, admin)")
    if not username or len(username) > 64 or not all(c.isalnum() or c in "._-" for c in username):
        raise AccountError("a username is 1-64 letters, digits, '.', '_' or '-'")
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password needs at least {MIN_PASSWORD} characters")
    user = session.exec(select(ConsoleUser).where(ConsoleUser.username == username)).first()
    if user is None:
        user = ConsoleUser(username=username, display_name=display_name or username, password_hash="")
    user.password_hash = _hasher().hash(password)
    user.role = role
    user.active = True
    user.language = language
    if display_name:
        user.display_name = display_name
    if department is not None:
        user.department = department or None
    session.add(user)
    session.flush()
    # a new password ends every open session of the account
    session.execute(delete(ConsoleSession).where(col(ConsoleSession.username) == username))
    return user


def throttled(
    session: Session, *, username: str, address: str, now: datetime, limit: int, window: timedelta
) -> bool:
    """True when this username or address failed ``limit`` times within ``window``."""
    since = now - window
    for column, value in ((LoginAttempt.username, username), (LoginAttempt.address, address)):
        count = session.exec(
            select(func.count())
            .select_from(LoginAttempt)
            .where(col(column) == value, col(LoginAttempt.at) >= since)
        ).one()
        if count >= limit:
            return True
    return False


def login(
    session: Session, *, username: str, password: str, address: str, now: datetime, hours: float
) -> tuple[str, ConsoleSession] | None:
    """Check the password; on success a new session (the cookie token and its row), else None
    and the failure is counted. Unknown users cost a hash too, so timing does not tell them apart."""
    user = session.exec(select(ConsoleUser).where(ConsoleUser.username == username)).first()
    hasher = _hasher()
    ok = False
    try:
        if user is not None and user.active:
            ok = hasher.verify(user.password_hash, password)
        else:
            hasher.verify(_dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok or user is None:
        session.add(LoginAttempt(username=username[:64], address=address[:64], at=now))
        return None
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hasher.hash(password)
        session.add(user)
    session.execute(delete(LoginAttempt).where(col(LoginAttempt.username) == username))
    session.execute(delete(ConsoleSession).where(col(ConsoleSession.expires_at) < now))
    token = secrets.token_urlsafe(32)
    row = ConsoleSession(
        token_hash=token_hash(token),
        username=user.username,
        csrf=secrets.token_urlsafe(24),
        created_at=now,
        expires_at=now + timedelta(hours=hours),
    )
    session.add(row)
    return token, row


def agent_for(session: Session, token: str | None, *, now: datetime) -> Agent | None:
    """The agent a session cookie belongs to, if the session is live and the account active."""
    if not token or len(token) > 100:
        return None
    row = session.get(ConsoleSession, token_hash(token))
    if row is None or row.expires_at <= now:
        return None
    user = session.exec(select(ConsoleUser).where(ConsoleUser.username == row.username)).first()
    if user is None or not user.active:
        return None
    return Agent(user.username, user.display_name, user.role, user.department, user.language, row.csrf)


def logout(session: Session, token: str | None) -> None:
    if token:
        session.execute(delete(ConsoleSession).where(col(ConsoleSession.token_hash) == token_hash(token)))


def deactivate(session: Session, username: str) -> bool:
    user = session.exec(select(ConsoleUser).where(ConsoleUser.username == username)).first()
    if user is None:
        return False
    user.active = False
    session.add(user)
    session.execute(delete(ConsoleSession).where(col(ConsoleSession.username) == username))
    return True


def active_users(session: Session, *, department: str | None = None) -> list[ConsoleUser]:
    query = select(ConsoleUser).where(col(ConsoleUser.active).is_(True))
    if department:
        query = query.where(
            or_(col(ConsoleUser.department) == department, col(ConsoleUser.department).is_(None))
        )
    return list(session.exec(query.order_by(col(ConsoleUser.username))).all())


@functools.cache
def _dummy_hash() -> str:
    return PasswordHasher().hash("not-a-real-password")
