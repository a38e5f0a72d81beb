"""Evidence sent on Telegram (photos, documents, voice notes), downloaded into attachment storage
before the message is stored, so the ticket links a file we hold rather than a Telegram file id
that expires."""

from __future__ import annotations

import logging
import mimetypes
from pathlib import Path

from telegram import Bot, Message
from telegram.error import BadRequest

from dialogues.types import Attachment

log = logging.getLogger(__name__)


class TelegramFiles:
    def __init__(self, bot: Bot, folder: Path, max_bytes: int):
        self.bot = bot
        self.folder = folder
        self.max_bytes = max_bytes

    async def fetch(self, message: Message) -> tuple[tuple[Attachment, ...], str | None]:
        """(attachments, kind override): ``too_large`` when the file exceeds the limit."""
        kind, file_id, unique, size, mime, name = _describe(message)
        if file_id is None or unique is None:
            return (), None
        if size is not None and size > self.max_bytes:
            return (), "too_large"
        try:
            remote = await self.bot.get_file(file_id)
        except BadRequest as exc:  # never retried: a poison update would hold up polling forever
            log.warning("Telegram refused a file: %s", exc.message)
            return (), "too_large" if "too big" in exc.message.lower() else "unsupported"
        if remote.file_size is not None and remote.file_size > self.max_bytes:
            return (), "too_large"
        suffix = Path(remote.file_path or name or "").suffix or (mimetypes.guess_extension(mime or "") or "")
        target = self.folder / str(message.chat.id) / f"{unique}{suffix[:10]}"
        target.parent.mkdir(parents=True, exist_ok=True)
        await remote.download_to_drive(target)
        stored_size = target.stat().st_size
        if stored_size > self.max_bytes:  # the size Telegram announced was wrong
            target.unlink()
            return (), "too_large"
        return (Attachment(kind=kind, ref=str(target), name=name, mime=mime, size=stored_size),), None


def _describe(message: Message) -> tuple[str, str | None, str | None, int | None, str | None, str | None]:
    if message.photo:
        best = message.photo[-1]  # Telegram lists sizes smallest first
        return "photo", best.file_id, best.file_unique_id, best.file_size, "image/jpeg", None
    if message.document is not None:
        doc = message.document
        return "document", doc.file_id, doc.file_unique_id, doc.file_size, doc.mime_type, doc.file_name
    voice = message.voice or message.audio
    if voice is not None:
        return "voice", voice.file_id, voice.file_unique_id, voice.file_size, voice.mime_type, None
    return "", None, None, None, None, None
