"""The monthly analysis DOMAIN.md asks for (and the dashboard's numbers for any period):
tickets by category with levels, department, channel and severity, over time; SLA compliance per
clock; first-response and resolution times; satisfaction; repeat complaints and their targets.

Everything is computed from the tickets, their deadlines and their events in one read; the
period is in the configured time zone and stored times stay UTC."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from storage.models import Ticket, TicketDeadline


@dataclass(frozen=True, slots=True)
class Period:
    start: date  # first local day
    end: date  # last local day (inclusive)
    tz: ZoneInfo

    @classmethod
    def month(cls, text: str, tz: ZoneInfo) -> Period:
        """``YYYY-MM`` (ValueError otherwise)."""
        year, month = (int(p) for p in text.split("-"))
        first = date(year, month, 1)
        following = date(year + (month == 12), month % 12 + 1, 1)
        return cls(first, following - timedelta(days=1), tz)

    @property
    def utc_bounds(self) -> tuple[datetime, datetime]:
        begin = datetime.combine(self.start, time(0), self.tz)
        end = datetime.combine(self.end + timedelta(days=1), time(0), self.tz)
        return begin.astimezone(ZoneInfo("UTC")), end.astimezone(ZoneInfo("UTC"))

    def days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]


@dataclass
class Durations:
    count: int = 0
    mean_hours: float | None = None
    median_hours: float | None = None
    p90_hours: float | None = None

    @classmethod
    def of(cls, hours: list[float]) -> Durations:
        if not hours:
            return cls()
        ordered = sorted(hours)
        p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
        return cls(
            len(ordered),
            round(statistics.fmean(ordered), 2),
            round(statistics.median(ordered), 2),
            round(p90, 2),
        )


@dataclass
class Report:
    period: dict[str, str]
    total: int
    by_kind: dict[str, int]
    by_category: dict[str, dict[str, Any]]  # level 1 -> {count, level2: {name: count}}
    by_department: dict[str, int]
    by_channel: dict[str, int]
    by_severity: dict[str, int]
    by_status: dict[str, int]
    per_day: dict[str, dict[str, int]]  # local day -> category -> count
    sla: dict[str, dict[str, int | float | None]]  # clock -> met_on_time, met_late, breached_open,
    # running, compliance (on time / decided)
    first_response: Durations
    resolution: Durations
    satisfaction: dict[str, Any]
    repeat_customers: list[dict[str, Any]]
    repeat_targets: list[dict[str, Any]]
    causes: dict[str, int]  # level 4, set by handlers after investigation
    major_reasons: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def build(
    session: Session, period: Period, *, now: datetime, include: Callable[[Ticket], bool] | None = None
) -> Report:
    """``include``: the tickets the reader may see (the console's access policy); the others
    count nowhere in the report."""
    begin, end = period.utc_bounds
    tickets = list(
        session.exec(
            select(Ticket)
            .where(col(Ticket.created_at) >= begin, col(Ticket.created_at) < end)
            .order_by(col(Ticket.id))
        )
    )
    if include is not None:
        tickets = [t for t in tickets if include(t)]
    kept = {t.id for t in tickets}
    # the same range as a join, not an IN list: a month can hold more tickets than SQLite's
    # limit on bound parameters
    clocks = [
        clock
        for clock in session.exec(
            select(TicketDeadline)
            .join(Ticket, col(Ticket.id) == col(TicketDeadline.ticket_id))
            .where(col(Ticket.created_at) >= begin, col(Ticket.created_at) < end)
        )
        if clock.ticket_id in kept
    ]
    categories: dict[str, dict[str, Any]] = {}
    per_day: dict[str, Counter[str]] = {d.isoformat(): Counter() for d in period.days()}
    for t in tickets:
        name = t.category or "uncategorised"
        entry = categories.setdefault(name, {"count": 0, "level2": Counter()})
        entry["count"] += 1
        if t.category_l2:
            entry["level2"][t.category_l2] += 1
        day = t.created_at.astimezone(period.tz).date().isoformat()
        per_day.setdefault(day, Counter())[name] += 1
    sla: dict[str, dict[str, int | float | None]] = {}
    first_response: list[float] = []
    for clock in clocks:
        row = sla.setdefault(clock.name, {"met_on_time": 0, "met_late": 0, "breached_open": 0, "running": 0})
        if clock.met_at is not None:
            row["met_on_time" if clock.met_at <= clock.due_at else "met_late"] += 1  # type: ignore[operator]
            if clock.name == "acknowledge":
                first_response.append((clock.met_at - clock.started_at).total_seconds() / 3600)
        elif clock.due_at <= now:
            row["breached_open"] += 1  # type: ignore[operator]
        else:
            row["running"] += 1  # type: ignore[operator]
    for row in sla.values():
        decided = int(row["met_on_time"] or 0) + int(row["met_late"] or 0) + int(row["breached_open"] or 0)
        row["compliance"] = round(int(row["met_on_time"] or 0) / decided, 4) if decided else None
    resolution = [
        (t.resolved_at - t.created_at).total_seconds() / 3600 for t in tickets if t.resolved_at is not None
    ]
    scores = Counter(t.satisfaction for t in tickets if t.satisfaction is not None)
    rated = sum(scores.values())
    complaints = [t for t in tickets if t.kind == "complaint"]
    by_customer = Counter(t.customer_id for t in complaints)
    by_target = Counter(t.target for t in complaints if t.target)
    reasons: Counter[str] = Counter()
    for t in tickets:
        for reason in t.severity_reasons or []:
            reasons[str(reason.get("rule", "?"))] += 1
    return Report(
        period={"from": period.start.isoformat(), "to": period.end.isoformat(), "timezone": str(period.tz)},
        total=len(tickets),
        by_kind=dict(Counter(t.kind for t in tickets)),
        by_category={
            k: {"count": v["count"], "level2": dict(v["level2"])} for k, v in sorted(categories.items())
        },
        by_department=dict(Counter(t.department or "unassigned" for t in tickets)),
        by_channel=dict(Counter(t.channel for t in tickets)),
        by_severity=dict(Counter(t.severity for t in tickets)),
        by_status=dict(Counter(t.status for t in tickets)),
        per_day={day: dict(counts) for day, counts in sorted(per_day.items())},
        sla=dict(sorted(sla.items())),
        first_response=Durations.of(first_response),
        resolution=Durations.of(resolution),
        satisfaction={
            "rated": rated,
            "average": round(sum(k * v for k, v in scores.items()) / rated, 2) if rated else None,
            "scores": {str(k): scores.get(k, 0) for k in range(1, 6)},
            "dissatisfied": sum(v for k, v in scores.items() if k <= 2),
        },
        repeat_customers=[
            {"customer_id": cid, "complaints": n} for cid, n in by_customer.most_common() if n > 1
        ],
        repeat_targets=[
            {"target": target, "complaints": n} for target, n in by_target.most_common() if n > 1
        ],
        causes=dict(Counter(t.category_l4 for t in tickets if t.category_l4).most_common()),
        major_reasons=dict(reasons),
    )


def flat_rows(report: Report) -> list[tuple[str, str, str]]:
    """(section, key, value) rows: the CSV form, and the sheets of the workbook."""
    rows: list[tuple[str, str, str]] = [
        ("period", "from", report.period["from"]),
        ("period", "to", report.period["to"]),
        ("total", "tickets", str(report.total)),
    ]
    for section, values in (
        ("kind", report.by_kind),
        ("department", report.by_department),
        ("channel", report.by_channel),
        ("severity", report.by_severity),
        ("status", report.by_status),
        ("cause", report.causes),
        ("major_reason", report.major_reasons),
    ):
        rows.extend((section, str(k), str(v)) for k, v in values.items())
    for category, entry in report.by_category.items():
        rows.append(("category", category, str(entry["count"])))
        rows.extend(("category_level2", f"{category}/{sub}", str(n)) for sub, n in entry["level2"].items())
    for clock, numbers in report.sla.items():
        rows.extend((f"sla:{clock}", k, "" if v is None else str(v)) for k, v in numbers.items())
    for name, durations in (("first_response", report.first_response), ("resolution", report.resolution)):
        rows.extend((name, k, "" if v is None else str(v)) for k, v in asdict(durations).items())
    rows.extend(("satisfaction", f"score_{k}", str(v)) for k, v in report.satisfaction["scores"].items())
    rows.append(("satisfaction", "average", str(report.satisfaction["average"] or "")))
    rows.extend(("repeat_target", str(r["target"]), str(r["complaints"])) for r in report.repeat_targets)
    rows.extend(
        ("repeat_customer", str(r["customer_id"]), str(r["complaints"])) for r in report.repeat_customers
    )
    rows.extend(("per_day", day, str(sum(counts.values()))) for day, counts in report.per_day.items())
    return rows
