"""Keeping personal data out of logs."""

from __future__ import annotations

import re

_PHONE = re.compile(
    r"(?<!\d)(\+?\d{1,3}[- ]?)?(1[3-9]\d)(\d{4})(\d{4})(?!\d)|(?<!\d)(\+\d{2,4})(\d{3,})(\d{4})(?!\d)"
)


def mask_phone(phone: str) -> str:
    """138****5678; international numbers keep their country code and last four digits."""
    digits = phone.strip()
    if len(digits) <= 4:
        return "****"
    return digits[:3] + "*" * max(4, len(digits) - 7) + digits[-4:]


def mask_phones(text: str) -> str:
    """Mask every phone-looking run of digits in free text before it reaches a log line."""

    def repl(match: re.Match[str]) -> str:
        return mask_phone(match.group(0))

    return _PHONE.sub(repl, text)
