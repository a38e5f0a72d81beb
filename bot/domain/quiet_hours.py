"""Quiet hours: no follow-up messages reach customers at night; they move to the morning."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True, slots=True)
class QuietHours:
    tz: ZoneInfo
    start: time | None  # None: no quiet hours
    end: time | None

    @classmethod
    def parse(cls, spec: str, tz: ZoneInfo) -> QuietHours:
        """``"22:00-08:00"``; an empty string means none."""
        if not spec:
            return cls(tz, None, None)
        first, last = spec.split("-")
        return cls(tz, time.fromisoformat(first), time.fromisoformat(last))

    def contains(self, moment: datetime) -> bool:
        if self.start is None or self.end is None or self.start == self.end:
            return False
        local = moment.astimezone(self.tz).time()
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def shift(self, moment: datetime) -> datetime:
        """``moment`` itself outside quiet hours, else the end of the quiet period it falls in."""
        if not self.contains(moment):
            return moment
        assert self.end is not None
        local = moment.astimezone(self.tz)
        end = datetime.combine(local.date(), self.end, self.tz)
        if end <= local:
            end = datetime.combine(local.date() + timedelta(days=1), self.end, self.tz)
        return end.astimezone(UTC)
