"""A staff alert in its reader's words: alerts are stored in both languages ("中文 / English")
and quote codes such as a ticket's category; a person reads their half with each category as the
flow names it (on the console's home page, and in an e-mail, Telegram or WeCom message)."""

from __future__ import annotations

import re
from collections.abc import Mapping


def alert_text(text: str, language: str, categories: Mapping[str, str]) -> str:
    """An alert as its reader reads it: their half of the stored two-language text, category
    codes (alerts quote the ticket's) as the flow names them."""
    halves = text.split(" / ", 1)
    shown = halves[1 if language == "en" and len(halves) == 2 else 0]
    for code, name in categories.items():
        shown = re.sub(rf"\b{re.escape(code)}\b", name, shown)
    return shown
