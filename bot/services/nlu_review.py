"""The NLU review: customer messages the NLU was unsure about or got wrong become training
examples once an admin gives them the right intent; a candidate model is trained with them and
scored on the held-out file next to the live model; only then may an admin switch the live server
to it (Rasa's ``PUT /model``). The reviewed examples live in ``nlu.reviewed_data``, so the next
start trains (or finds) the same model.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import yaml
from sqlmodel import Session, col, select

from bot.services.flow_catalog import FlowCatalog
from bot.settings import Settings
from nlu import server as rasa
from nlu.examples import Example, read_examples
from nlu.scoring import predict, summary
from nlu.types import CONVERSATION_INTENTS
from storage.db import Database
from storage.models import NluCandidate, NluSample

log = logging.getLogger(__name__)


class ReviewError(ValueError):
    """A review step that cannot run now, with the reason for the console."""


def examples_yaml(examples: list[tuple[str, str]]) -> str:
    """Rasa NLU YAML for (intent, text) pairs, one block per intent."""
    by_intent: dict[str, list[str]] = {}
    for intent, text in examples:
        line = " ".join(text.split())
        if line and line not in by_intent.setdefault(intent, []):
            by_intent[intent].append(line)
    blocks = [
        {"intent": intent, "examples": "".join(f"- {t}\n" for t in texts)}
        for intent, texts in sorted(by_intent.items())
    ]
    return "# Examples added in the console's NLU review (do not edit by hand)\n" + yaml.safe_dump(
        {"version": "3.1", "nlu": blocks}, allow_unicode=True, sort_keys=False, default_style=None
    )


class NluReview:
    def __init__(
        self, *, db: Database, settings: Settings, catalog: FlowCatalog, clock: Callable[[], datetime]
    ) -> None:
        self.db = db
        self.settings = settings
        self.catalog = catalog
        self.clock = clock
        self._tasks: set[asyncio.Task[None]] = set()

    def intents_on(self, session: Session) -> tuple[str, ...]:
        """What a sample may be labelled: the complaint categories of the live default flow (the
        flow owns them), then the NLU's conversation intents."""
        _, flow = self.catalog.live(session, name=self.settings.dialogue.default_flow)
        return (*(c.code for c in flow.categories), *CONVERSATION_INTENTS)

    async def intents(self) -> tuple[str, ...]:
        return await self.db.run(self.intents_on)

    # -- samples ------------------------------------------------------------------------------
    async def decide(self, sample_id: int, *, intent: str | None, actor: str) -> None:
        """Accept a sample with its right intent, or dismiss it (``intent`` None)."""

        def run(session: Session) -> None:
            if intent is not None and intent not in self.intents_on(session):
                raise ReviewError(f"unknown intent {intent!r}")
            sample = session.get(NluSample, sample_id)
            if sample is None or sample.status not in ("pending", "accepted"):
                raise ReviewError("no such sample waiting for review")
            sample.status = "accepted" if intent else "dismissed"
            sample.intent = intent
            sample.reviewed_by = actor
            session.add(sample)

        await self.db.run(run)

    # -- candidates ---------------------------------------------------------------------------
    async def start_candidate(self, actor: str) -> asyncio.Task[None]:
        """Train and score a candidate in the background; the console shows its progress. One at
        a time per process: a second click while one trains is refused, and so is a click with
        no accepted sample."""
        if self._tasks:
            raise ReviewError("a candidate is already being trained")
        accepted = await self.db.run(
            lambda s: s.exec(select(NluSample.id).where(NluSample.status == "accepted")).first()
        )
        if accepted is None:
            raise ReviewError("accept at least one sample first")
        task = asyncio.create_task(self.train_candidate(actor), name="nlu-candidate")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def train_candidate(self, actor: str) -> None:
        accepted = await self.db.run(
            lambda s: list(
                s.exec(select(NluSample).where(NluSample.status == "accepted").order_by(col(NluSample.id)))
            )
        )
        if not accepted:  # dismissed again since the click: nothing to train
            log.warning("NLU candidate not trained: no accepted sample left")
            return
        live = rasa.reviewed_file(self.settings.rasa_places)
        previous = [(e.intent, e.text) for e in read_examples(live)] if live else []
        data_dir = self.settings.path(self.settings.general.data_dir) / "nlu"
        data_dir.mkdir(parents=True, exist_ok=True)
        now = self.clock()
        candidate_file = data_dir / f"candidate-{now:%Y%m%d%H%M%S%f}.yml"
        added = [(s.intent or "", s.text) for s in accepted]
        await asyncio.to_thread(candidate_file.write_text, examples_yaml(previous + added), "utf-8")
        row = NluCandidate(
            model_file="",
            data_file=str(candidate_file),
            samples=[s.id for s in accepted if s.id is not None],
            created_by=actor,
            created_at=now,
        )
        await self.db.run(lambda s: s.add(row))
        candidate_id = row.id
        assert candidate_id is not None
        try:
            model = await asyncio.to_thread(
                rasa.ensure_model, self.settings.nlu, self.settings.rasa_places, candidate_file
            )
            await self._set(candidate_id, model_file=str(model))
            examples = read_examples(self.settings.path(self.settings.nlu.eval_file))
            before = await self._score_live(examples)
            after = await self._score_model(model, examples)
            await self._set(candidate_id, status="evaluated", before=before, after=after)
        except Exception as exc:  # training or scoring failed: the candidate says why
            log.exception("NLU candidate %d failed", candidate_id)
            await self._set(candidate_id, status="failed", error=f"{exc.__class__.__name__}: {exc}"[:2000])

    async def _score_live(self, examples: list[Example]) -> dict[str, Any]:
        token = rasa.auth_token(self.settings.nlu, self.settings.rasa_places)
        try:
            predicted = await predict(self.settings.nlu.url, token, examples)
        except httpx.HTTPError as exc:
            return {"error": f"the live server did not answer: {exc.__class__.__name__}"}
        if all(p is None for p in predicted):
            return {"error": "the live server did not answer"}
        return summary(examples, predicted)

    async def _score_model(self, model: Path, examples: list[Example]) -> dict[str, Any]:
        """Serve the candidate on a spare port just long enough to score it."""
        places = self.settings.rasa_places
        server = rasa.RasaServer(
            self.settings.nlu,
            places,
            port=rasa.free_port(),
            model=model,
            log_path=places.logs_dir / "rasa-candidate.log",
        )
        await server.start()
        try:
            return summary(examples, await predict(server.url, server.token, examples))
        finally:
            await server.stop()

    async def _set(self, candidate_id: int, **values: Any) -> None:
        def run(session: Session) -> None:
            row = session.get(NluCandidate, candidate_id)
            assert row is not None
            for name, value in values.items():
                setattr(row, name, value)
            session.add(row)

        await self.db.run(run)

    async def switch(self, candidate_id: int, actor: str) -> None:
        """Load the evaluated candidate into the live server and make its examples the live ones."""
        row = await self.db.run(lambda s: s.get(NluCandidate, candidate_id))
        if row is None or row.status != "evaluated":
            raise ReviewError("only an evaluated candidate can go live")
        token = rasa.auth_token(self.settings.nlu, self.settings.rasa_places)
        async with httpx.AsyncClient(timeout=180.0) as http:
            try:
                response = await http.put(
                    f"{self.settings.nlu.url}/model",
                    params={"token": token},
                    json={"model_file": row.model_file},
                )
            except httpx.HTTPError as exc:
                raise ReviewError(f"the live NLU server did not answer: {exc.__class__.__name__}") from exc
            if response.status_code >= 300:
                raise ReviewError(f"the live NLU server refused the model ({response.status_code})")
            status = (await http.get(f"{self.settings.nlu.url}/status", params={"token": token})).json()
        if Path(str(status.get("model_file", ""))).name != Path(row.model_file).name:
            raise ReviewError("the live NLU server did not load the new model")
        target = self.settings.path(self.settings.nlu.reviewed_data)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.with_suffix(".tmp")
        await asyncio.to_thread(shutil.copyfile, row.data_file, staging)
        os.replace(staging, target)
        now = self.clock()

        def mark(session: Session) -> None:
            for old in session.exec(select(NluCandidate).where(NluCandidate.status == "live")):
                old.status = "replaced"
                session.add(old)
            current = session.get(NluCandidate, candidate_id)
            assert current is not None
            current.status = "live"
            current.switched_at = now
            session.add(current)
            for sample in session.exec(select(NluSample).where(col(NluSample.id).in_(current.samples))):
                sample.status = "live"
                session.add(sample)

        await self.db.run(mark)
        log.info("NLU model %s is live (switched by %s)", Path(row.model_file).name, actor)

    async def drain(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
