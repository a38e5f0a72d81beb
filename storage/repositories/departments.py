"""The departments and the category -> department routes, as the console edits them and
routing, labels and notifications read them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import delete
from sqlmodel import Session, col, select

from storage.models import CategoryRoute, Department


def every(session: Session) -> list[Department]:
    """Every department, active first, then by code."""
    rows = session.exec(select(Department).order_by(col(Department.code))).all()
    return sorted(rows, key=lambda d: not d.active)


def by_code(session: Session, code: str) -> Department | None:
    return session.get(Department, code)


def routes(session: Session) -> dict[str, str]:
    """Category -> department code, as stored."""
    return {r.category: r.department for r in session.exec(select(CategoryRoute)).all()}


def set_route(session: Session, *, category: str, department: str) -> None:
    row = session.get(CategoryRoute, category)
    if row is None:
        session.add(CategoryRoute(category=category, department=department))
    elif row.department != department:
        row.department = department
        session.add(row)


def drop_routes(session: Session, categories: Iterable[str]) -> None:
    wanted = list(categories)
    if wanted:
        session.execute(delete(CategoryRoute).where(col(CategoryRoute.category).in_(wanted)))


def add_missing(
    session: Session,
    *,
    departments: Mapping[str, tuple[str, str, str | None]],
    routes: Mapping[str, str],
) -> tuple[int, int]:
    """Add the departments (code -> zh name, en name, WeCom URL) and the routes the tables do
    not have yet; rows already there are left as they are. Returns how many of each were added."""
    known = set(session.exec(select(Department.code)).all())
    new_departments = [
        Department(code=code, name_zh=zh, name_en=en, wecom_url=url)
        for code, (zh, en, url) in departments.items()
        if code not in known
    ]
    routed = set(session.exec(select(CategoryRoute.category)).all())
    new_routes = [
        CategoryRoute(category=category, department=department)
        for category, department in routes.items()
        if category not in routed
    ]
    session.add_all([*new_departments, *new_routes])
    session.flush()
    return len(new_departments), len(new_routes)
