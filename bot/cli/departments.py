"""``tousu departments``: the desk's departments as routing uses them (a code, both names, whether
it takes new tickets, the categories routed to it), for whoever sets people up from a terminal
(``tousu staff add --department CODE``). Departments are added and changed in the console."""

from __future__ import annotations

import argparse
from typing import Any

from sqlmodel import Session

from bot.domain.catalog import Catalog
from bot.services import departments
from bot.settings import Settings
from storage import migrate
from storage.db import make_unpooled_engine


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "departments", help="list the departments and their categories"
    )
    parser.set_defaults(handler=list_departments)


def list_departments(args: argparse.Namespace, settings: Settings) -> int:
    migrate.upgrade(settings.database_url)
    engine = make_unpooled_engine(settings.database_url)
    try:
        with Session(engine) as session:
            departments.seed(session, settings, Catalog.load())  # as every start does
            session.commit()
            known = departments.snapshot(session)
            routes = departments.routing(session, settings.lifecycle)
    finally:
        engine.dispose()
    default = settings.lifecycle.default_department
    for code, (zh, en) in known.names.items():
        categories = sorted(c for c, d in routes.items() if d == code)
        notes = [] if code in known.active else ["takes no new tickets"]
        if code == default:
            notes.append("default")
        print(f"{code:<20} {zh} / {en}{' (' + ', '.join(notes) + ')' if notes else ''}")
        if categories:
            print(f"{'':<20} {', '.join(categories)}")
    return 0
