"""What the customer already said: a date in a description ("昨天", "上周三", "Nov 28") answers
the flow's date question before it is asked, so the bot does not ask "这件事发生在什么时候？"
after "昨天买的水今天打开有异味". The confirmation shows the date and lets the customer change it.
"""

from __future__ import annotations

import re
from datetime import date

from dialogues.validators import parse_date

MAX_CHARS = 500
"""Only the start of a long description is searched: the date is told early, and the search stays
bounded whatever the customer sends."""
MAX_TRIES = 20

_MONTHS = "jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec"
_WEEKDAYS = "monday|tuesday|wednesday|thursday|friday|saturday|sunday"
_CANDIDATE = re.compile(
    r"今天|今日|昨天|昨日|昨晚|大前天|前天"
    r"|上个?(?:周|星期|礼拜)|(?:这|本)个?(?:周|星期|礼拜)|(?<![上这本个])(?:周|星期|礼拜)[一二三四五六日天1-7]"
    r"|(?<!\d)\d{4}\s?[-/.年]|(?<!\d)\d{1,2}\s?月|(?<!\d)\d{1,3}\s?(?:天前|days?\sago)"
    r"|\b(?:today|yesterday|the day before yesterday|last\s(?=mon|tue|wed|thu|fri|sat|sun))"
    rf"|\b(?:{_MONTHS})[a-z]{{0,6}}\.?\s?\d|(?<!\d)\d{{1,2}}(?:st|nd|rd|th)?\s(?:{_MONTHS})"
    rf"|\b(?:on\s)?(?:{_WEEKDAYS})\b"
)
"""Where a date may start; ``parse_date`` then reads it (and refuses what is not one)."""


def date_in(text: str, today: date) -> str | None:
    """The first date in ``text`` that is not in the future, as the date validator stores it
    (``YYYY-MM-DD``), or None."""
    head = text[:MAX_CHARS].lower()
    for tries, match in enumerate(_CANDIDATE.finditer(head)):
        if tries >= MAX_TRIES:
            break
        found, _rest = parse_date(head[match.start() :], today)
        if found is not None and found <= today:
            return found.isoformat()
    return None
