"""Keeping personal data out of logs."""

from __future__ import annotations

import logging
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


# A secret passed in a query string or an option (Rasa's ?token=, WeChat's access_token=,
# --auth-token=): the value up to the next separator.
_SECRET = re.compile(r"(?i)\b((?:auth[-_])?token|access_token|secret|password)=([^&\s\"'<>]+)")


def redact(text: str) -> str:
    """Phone numbers masked and secrets in ``name=value`` form hidden."""
    return mask_phones(_SECRET.sub(r"\1=***", text))


class RedactingFilter(logging.Filter):
    """On a handler: every record it writes has phone numbers masked and secrets hidden, from
    our code and from libraries alike (httpx logs request URLs, with their query string)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def redact_handlers(logger: logging.Logger) -> None:
    """Put a ``RedactingFilter`` on each of the logger's handlers that has none yet; records
    of its child loggers reach these handlers too."""
    for handler in logger.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
