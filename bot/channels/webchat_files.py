"""Photos and files a web-chat customer attaches, stored like Telegram's (under the attachments
folder, one folder per chat, a random name) before the message is stored, so the ticket and the
console link a file we hold. Only the kinds a complaint needs are taken, and only when the bytes
are what the name says: a page can post anything."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path, PurePath

from dialogues.types import Attachment

KINDS: dict[str, tuple[str, str, tuple[bytes, ...]]] = {
    # suffix: (mime, attachment kind, accepted first bytes)
    ".jpg": ("image/jpeg", "photo", (b"\xff\xd8\xff",)),
    ".jpeg": ("image/jpeg", "photo", (b"\xff\xd8\xff",)),
    ".png": ("image/png", "photo", (b"\x89PNG\r\n\x1a\n",)),
    ".gif": ("image/gif", "photo", (b"GIF87a", b"GIF89a")),
    ".webp": ("image/webp", "photo", (b"RIFF",)),
    ".pdf": ("application/pdf", "document", (b"%PDF-",)),
    ".docx": (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "document",
        (b"PK\x03\x04",),
    ),
    ".xlsx": (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "document",
        (b"PK\x03\x04",),
    ),
    ".txt": ("text/plain", "document", ()),
}
"""What the chat page accepts (its file picker lists the same)."""

ACCEPT = ",".join(["image/*", *KINDS])


@dataclass(frozen=True, slots=True)
class Refused:
    reason: str  # too_large or unsupported: the engine's words for them


def store_upload(folder: Path, user_id: str, name: str, data: bytes, max_bytes: int) -> Attachment | Refused:
    """The stored attachment, or why it is refused (too large, a kind we do not take, bytes
    that are not what the name says)."""
    if len(data) > max_bytes:
        return Refused("too_large")
    shown = PurePath(name.replace("\\", "/")).name[:120] or "file"
    suffix = PurePath(shown).suffix.lower()
    known = KINDS.get(suffix)
    if known is None or not data:
        return Refused("unsupported")
    mime, kind, magic = known
    if magic and not any(data.startswith(m) for m in magic):
        return Refused("unsupported")
    if suffix == ".webp" and data[8:12] != b"WEBP":
        return Refused("unsupported")
    if suffix == ".txt":
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return Refused("unsupported")
    target = folder / user_id / f"{secrets.token_hex(12)}{suffix}"
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    target.write_bytes(data)
    return Attachment(kind=kind, ref=str(target), name=shown, mime=mime, size=len(data))
