"""Shared fixtures: settings on a throwaway database, the app booted in-process, and a database
URL parametrized over SQLite and the real PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from bot.settings import Settings, load_settings
from tests.databases import empty_postgres, postgres_database, sqlite_url

if TYPE_CHECKING:
    from bot.app import TousuApp

ROOT = Path(__file__).resolve().parent.parent

pytest_plugins: list[str] = ["tests.fixtures.rasa"]


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    try:
        with postgres_database() as url:
            yield url
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database on each backend."""
    if request.param == "sqlite":
        from storage import migrate

        url = sqlite_url(tmp_path)
        migrate.upgrade(url)
        return url
    url: str = request.getfixturevalue("postgres_url")
    empty_postgres(url)
    return url


def make_settings(tmp_path: Path, *, db_url: str | None = None, **sections: dict[str, Any]) -> Settings:
    """Project settings with the database and data under tmp_path and NLU off unless asked."""
    base = load_settings(ROOT / "config.yaml")
    update: dict[str, Any] = {
        "database": base.database.model_copy(update={"url": db_url or sqlite_url(tmp_path)}),
        "general": base.general.model_copy(update={"data_dir": tmp_path}),
        "attachments": base.attachments.model_copy(update={"dir": tmp_path / "attachments"}),
        "nlu": base.nlu.model_copy(update={"enabled": False, "managed": False}),
    }
    for name, values in sections.items():
        update[name] = getattr(base, name).model_copy(update=values)
    return base.model_copy(update=update)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[TousuApp]:
    from bot.app import TousuApp

    tousu = TousuApp(settings, channels=[], use_nlu=False)
    await tousu.start()
    try:
        yield tousu
    finally:
        await tousu.stop()
