"""The departments of the desk as data: their names in both languages, their WeCom group robot,
whether they take new tickets, and which complaint categories go to each.

What wins: the ``departments`` and ``category_routes`` tables, which an admin edits in the
console (Team > Departments). config.yaml is the seed and the default: at every start the
departments and routes it names that the tables do not have yet are added (``seed``), and a
category with no row still routes by ``lifecycle.departments``, then ``default_department``.
A category whose department is inactive goes to ``default_department``.

The WeCom URL is a secret: pages show it masked (``mask``), and nothing here logs it."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlmodel import Session

from bot.domain.catalog import Catalog
from bot.domain.routing import department_for as routed_to
from bot.settings import LifecycleSettings, NotificationSettings, Settings
from dialogues.types import LANGUAGES, Language
from storage.models import Department
from storage.repositories import departments as repo

MAX_NAME = 100
MAX_URL = 500
"""A WeCom robot URL fits a notification row's address (storage.models.StaffNotification)."""


class DepartmentError(ValueError):
    """A refused change to a department; ``reason`` names the catalog text that says why."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class DepartmentNames:
    """A snapshot of the departments for readers with no session at hand (the console's labels
    and selects): code -> (zh, en) names, and the active codes in order."""

    names: Mapping[str, tuple[str, str]]
    active: tuple[str, ...]

    def name(self, code: str, language: Language) -> str | None:
        found = self.names.get(code)
        if found is None:
            return None
        return found[1] if language == "en" else found[0]


def snapshot(session: Session) -> DepartmentNames:
    rows = repo.every(session)
    return DepartmentNames(
        {d.code: (d.name_zh, d.name_en) for d in rows}, tuple(d.code for d in rows if d.active)
    )


def configured(settings: Settings) -> list[str]:
    """The department codes config.yaml names, the default first."""
    lifecycle = settings.lifecycle
    codes = [lifecycle.default_department, *lifecycle.departments.values()]
    codes += list(settings.notifications.wecom_webhooks)
    return [c for c in dict.fromkeys(codes) if c]


def seed(session: Session, settings: Settings, texts: Catalog) -> tuple[int, int]:
    """Add config.yaml's departments (named by the catalog's ``department`` area, their WeCom
    URL from ``notifications.wecom_webhooks``) and category routes that the tables do not have;
    what an admin changed stays. Returns (departments, routes) added."""
    urls = settings.notifications.wecom_webhooks
    wanted = {
        code: (texts.name("department", code, "zh"), texts.name("department", code, "en"), urls.get(code))
        for code in configured(settings)
    }
    return repo.add_missing(session, departments=wanted, routes=settings.lifecycle.departments)


def routing(session: Session, lifecycle: LifecycleSettings) -> dict[str, str]:
    """Category -> department as routing applies it: the table over config.yaml, and a category
    whose department is inactive left out (it goes to the default department)."""
    merged = {**lifecycle.departments, **repo.routes(session)}
    states = {d.code: d.active for d in repo.every(session)}
    return {c: d for c, d in merged.items() if states.get(d, True)}


def department_for(session: Session, category: str | None, lifecycle: LifecycleSettings) -> str:
    return routed_to(category, routing(session, lifecycle), lifecycle.default_department)


def name(session: Session, code: str | None, language: Language, texts: Catalog) -> str:
    """A department as a person reads it: its name in the table, else the catalog's, else the
    code (a department nobody named)."""
    code = code or "customer_service"
    row = repo.by_code(session, code)
    if row is not None:
        return row.name_en if language == "en" else row.name_zh
    return texts.name("department", code, language)


def names_in_each_language(session: Session, code: str | None, texts: Catalog) -> dict[Language, str]:
    return {language: name(session, code, language, texts) for language in LANGUAGES}


def wecom_urls(session: Session, settings: NotificationSettings) -> dict[str, str]:
    """Department code -> its group robot URL: the table's, else config.yaml's
    ``notifications.wecom_webhooks`` (the default); none for an inactive department."""
    rows = {d.code: d for d in repo.every(session)}
    urls = {**settings.wecom_webhooks, **{c: d.wecom_url for c, d in rows.items() if d.wecom_url}}
    return {c: url for c, url in urls.items() if c not in rows or rows[c].active}


def mask(url: str | None) -> str:
    """A WeCom URL as a page may show it once saved: the host and the key's last four
    characters (``https://qyapi.weixin.qq.com/…••••c0de``)."""
    if not url:
        return ""
    parts = urlsplit(url)
    tail = url[-4:] if len(url) > 16 else ""
    return f"{parts.scheme}://{parts.netloc}/…••••{tail}"


def valid_url(url: str) -> bool:
    parts = urlsplit(url)
    return (
        len(url) <= MAX_URL
        and parts.scheme in ("https", "http")
        and bool(parts.netloc)
        and not any(c.isspace() for c in url)
    )


def new_code(session: Session, name_en: str) -> str:
    """A code for a new department, from its English name (``Returns desk`` -> returns_desk),
    never shown to anyone; a number is added when taken."""
    base = "_".join(re.findall(r"[a-z0-9]+", name_en.lower()))[:56] or "department"
    code, n = base, 2
    while repo.by_code(session, code) is not None:
        code, n = f"{base}_{n}", n + 1
    return code


def save(
    session: Session,
    *,
    code: str | None,
    name_zh: str,
    name_en: str,
    wecom_url: str | None = None,
    clear_wecom: bool = False,
    active: bool | None = None,
    categories: Iterable[str] | None = None,
    known_categories: Iterable[str] = (),
    lifecycle: LifecycleSettings,
) -> Department:
    """Add a department (``code`` None) or change one. ``wecom_url`` None or "" keeps the
    saved URL (a page never holds it in full); ``clear_wecom`` removes it (config.yaml's, if it
    has one, applies again). ``categories``: those of ``known_categories`` that go here; one
    that went here and is left out goes to the default department."""
    name_zh, name_en = name_zh.strip(), name_en.strip()
    if not name_zh or not name_en:
        raise DepartmentError("names_needed", "a department needs a Chinese and an English name")
    if len(name_zh) > MAX_NAME or len(name_en) > MAX_NAME:
        raise DepartmentError("name_too_long", f"a name has at most {MAX_NAME} characters")
    url = (wecom_url or "").strip()
    if url and not valid_url(url):
        raise DepartmentError("bad_url", "the WeCom robot address must be an http(s) URL")
    if code is None:
        row = Department(code=new_code(session, name_en), name_zh=name_zh, name_en=name_en)
    else:
        found = repo.by_code(session, code)
        if found is None:
            raise DepartmentError("no_department", f"no department {code!r}")
        row = found
        row.name_zh, row.name_en = name_zh, name_en
    if url:
        row.wecom_url = url
    elif clear_wecom:
        row.wecom_url = None
    if active is not None:
        if not active and row.code == lifecycle.default_department:
            raise DepartmentError("default_stays", "the default department cannot be deactivated")
        row.active = active
    session.add(row)
    session.flush()
    if categories is not None:
        chosen = set(categories)
        current = routing(session, lifecycle)
        for category in known_categories:
            if category in chosen:
                repo.set_route(session, category=category, department=row.code)
            elif current.get(category, lifecycle.default_department) == row.code:
                repo.set_route(session, category=category, department=lifecycle.default_department)
    return row
