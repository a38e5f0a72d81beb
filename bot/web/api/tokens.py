"""API tokens: made once, shown once, kept as a SHA-256 hash. A token is 32 random bytes, so a
fast hash is enough (no password stretching: nothing to guess), and the lookup is by hash."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlmodel import Session

from bot.domain.access import Role
from storage.models import ApiToken
from storage.repositories import api_tokens

PREFIX = "tsu_"
NAME_MAX = 64


USE_PRECISION = timedelta(minutes=1)
"""A token's ``last_used_at`` is written again only when it is older than this: a busy client
costs one write a minute, not one per request."""


class Refused(StrEnum):
    """Why a token was not made (the console says it in its reader's words)."""

    UNKNOWN_ROLE = "unknown_role"
    BAD_NAME = "bad_name"
    NAME_TAKEN = "name_taken"


class TokenError(ValueError):
    """A refused token change, with a message fit to print and its reason."""

    def __init__(self, message: str, reason: Refused) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class NewToken:
    row: ApiToken
    secret: str
    """The token itself: shown to its creator once, never stored."""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(session: Session, *, name: str, role: str, department: str | None, now: datetime) -> NewToken:
    """A new token acting as ``name`` with ``role`` (a revoked token's name may be used again)."""
    if role not in {r.value for r in Role}:
        raise TokenError(f"unknown role {role!r} ({', '.join(Role)})", Refused.UNKNOWN_ROLE)
    if not name or len(name) > NAME_MAX or not all(c.isalnum() or c in "._-" for c in name):
        raise TokenError(f"a token name is 1-{NAME_MAX} letters, digits, '.', '_' or '-'", Refused.BAD_NAME)
    existing = api_tokens.by_name(session, name=name)
    if existing is not None:
        if existing.revoked_at is None:
            raise TokenError(f"a live token named {name} exists; revoke it first", Refused.NAME_TAKEN)
        session.delete(existing)
        session.flush()
    secret = PREFIX + secrets.token_urlsafe(32)
    row = api_tokens.add(
        session,
        name=name,
        role=role,
        department=department or None,
        token_hash=token_hash(secret),
        prefix=secret[: len(PREFIX) + 6],
        now=now,
    )
    return NewToken(row, secret)


def find(session: Session, token: str) -> ApiToken | None:
    """The live token a client sent, or None."""
    if not token.startswith(PREFIX) or len(token) > 128:
        return None
    return api_tokens.live_by_hash(session, token_hash=token_hash(token))


def used(row: ApiToken, now: datetime) -> bool:
    """Whether a request with ``row`` at ``now`` should write ``last_used_at``."""
    return row.last_used_at is None or now - row.last_used_at >= USE_PRECISION
