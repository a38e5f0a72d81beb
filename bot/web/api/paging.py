"""Cursor pages over rows by falling id, through the access policy. The cursor is opaque to
clients (the last id looked at, encoded), so a page never repeats or skips a row as new ones
arrive, and rows the caller may not see are skipped without showing how many there were."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from fastapi import HTTPException

SCAN_CAP = 2000
"""At most this many rows are looked at for one page; a short page then still has a cursor."""


class HasId(Protocol):
    @property
    def id(self) -> int | None: ...


R = TypeVar("R", bound=HasId)


def encode(kind: str, last_id: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{last_id}".encode()).decode().rstrip("=")


def decode(kind: str, cursor: str | None) -> int | None:
    """The id a cursor of ``kind`` stands for; 400 for anything this API did not hand out."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, number = raw.partition(":")
        value = int(number)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        value = -1
        prefix = ""
    if prefix != kind or value < 1 or not number.isdigit():
        raise HTTPException(status_code=400, detail="cursor: pass back a next_cursor this API gave")
    return value


def page(
    fetch: Callable[[int | None, int], Sequence[R]],
    keep: Callable[[Sequence[R]], list[bool]],
    *,
    before: int | None,
    limit: int,
) -> tuple[list[R], int | None]:
    """Up to ``limit`` rows that ``keep`` allows, and the id to continue below (None at the end)."""
    kept: list[R] = []
    position = before
    scanned = 0
    batch_size = max(limit * 2, 50)
    while scanned < SCAN_CAP:
        batch = fetch(position, batch_size)
        if not batch:
            return kept, None
        scanned += len(batch)
        for row, allowed in zip(batch, keep(batch), strict=True):
            position = row.id
            if allowed:
                kept.append(row)
                if len(kept) == limit:
                    return kept, position
        if len(batch) < batch_size:
            return kept, None
    return kept, position
