"""Flows by name and version. Files under flows_dir are published into the database on start;
conversations keep the version they started with, so a published edit never changes a
conversation under way."""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import Connection
from sqlmodel import Session

from dialogues.spec import EngineMessages, Flow, flow_files, parse_flow
from storage.db import session_on
from storage.repositories import flows as flow_repo

log = logging.getLogger(__name__)


FILE_AUTHOR = "file"


class FlowNotFound(LookupError):
    pass


class FlowCatalog:
    """A cache of parsed flow versions over the flow_versions table (versions never change).
    ``messages`` are the engine's words (the text catalog's) every flow speaks unless it
    overrides them."""

    def __init__(self, messages: EngineMessages) -> None:
        self.messages = messages
        self._parsed: dict[tuple[str, int], Flow] = {}

    def parse(self, text: str, *, source: str) -> Flow:
        """A flow from its YAML (raises FlowInvalid), speaking this catalog's engine messages."""
        return parse_flow(text, source=source, messages=self.messages)

    def publish_dir(
        self, session: Session, flows_dir: Path, *, author: str = FILE_AUTHOR
    ) -> list[tuple[str, int]]:
        """Publish each flow file that changed since it was last published from the file.

        A version an admin published from the console stays live across restarts until the file
        itself changes (a deploy); then the file wins, as a new version, and the console's edit
        stays in the history. Returns what is live.
        """
        published: list[tuple[str, int]] = []
        for path in flow_files(flows_dir):
            text = path.read_text(encoding="utf-8")
            flow = self.parse(text, source=str(path))
            from_file = flow_repo.latest_by(session, name=flow.name, author=author)
            current = flow_repo.live(session, name=flow.name)
            if current is not None and from_file is not None and from_file.sha256 == flow_repo.sha256(text):
                published.append((current.name, current.version))
                continue
            if current is not None and current.author != author:
                log.warning(
                    "flow file %s changed: it replaces v%d published by %s",
                    path,
                    current.version,
                    current.author,
                )
            row = flow_repo.publish(session, name=flow.name, content=text, author=author)
            self._parsed[(row.name, row.version)] = flow
            published.append((row.name, row.version))
        return published

    def publish(self, session: Session, *, flow: Flow, author: str) -> int:
        """Make ``flow`` (already validated and tested) the live version; returns its number."""
        row = flow_repo.publish(session, name=flow.name, content=flow.text, author=author)
        self._parsed[(row.name, row.version)] = flow
        return row.version

    def cached(self, name: str, version: int) -> Flow | None:
        """The parsed flow if this process has it already (no database read)."""
        return self._parsed.get((name, version))

    def get(self, session: Session, *, name: str, version: int) -> Flow:
        cached = self._parsed.get((name, version))
        if cached is not None:
            return cached
        row = flow_repo.get(session, name=name, version=version)
        if row is None:
            raise FlowNotFound(f"flow {name!r} version {version} is not stored")
        flow = self.parse(row.content, source=f"{name}@v{version}")
        self._parsed[(name, version)] = flow
        return flow

    def live(self, session: Session, *, name: str) -> tuple[int, Flow]:
        return self.live_on(session.connection(), name=name)

    def live_on(self, conn: Connection, *, name: str) -> tuple[int, Flow]:
        """``live`` on a plain connection: a statement on the hot path, the ORM only to parse a
        version this process has not seen yet."""
        version = flow_repo.live_version(conn, name=name)
        if version is None:
            raise FlowNotFound(f"flow {name!r} has no live version; run `tousu db upgrade` and start the app")
        return version, self.get_on(conn, name=name, version=version)

    def get_on(self, conn: Connection, *, name: str, version: int) -> Flow:
        cached = self._parsed.get((name, version))
        if cached is not None:
            return cached
        with session_on(conn) as session:
            return self.get(session, name=name, version=version)
