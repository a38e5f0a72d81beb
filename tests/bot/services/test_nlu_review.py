"""The NLU review: unsure and corrected classifications become samples; an admin labels them,
a candidate model is trained and scored next to the live one on the real Rasa, and the switch
loads it into the live server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from sqlmodel import Session, select

from bot.app import TousuApp
from bot.services.nlu_review import ReviewError
from bot.web.console import accounts
from bot.web.server import create_web_app
from nlu.server import RasaServer
from storage.models import NluCandidate, NluSample, Ticket
from tests.bot.services.test_inbox import FixedNlu
from tests.bot.web.console.helpers import PASSWORD, login, page_csrf
from tests.conftest import ROOT, make_settings

pytestmark = pytest.mark.timeout(600)
SAMPLE = "柜台那个收银的小哥把找零算错了还凶我"


async def samples(app: TousuApp) -> list[NluSample]:
    return await app.db.run(lambda s: list(s.exec(select(NluSample))))


async def test_unsure_and_corrected_classifications_become_samples(tmp_path: Path) -> None:
    nlu = FixedNlu("delivery", 0.31)  # below the 0.6 threshold
    app = TousuApp(make_settings(tmp_path, scheduler={"enabled": False}), channels=[], nlu=nlu)
    await app.start()
    try:
        await app.console.say(app.manager, "u", "1")
        await app.console.say(app.manager, "u", "东西到了但是和描述的不一样")
        [unsure] = await samples(app)
        assert (unsure.text, unsure.predicted, unsure.source, unsure.status, unsure.classifier) == (
            "东西到了但是和描述的不一样",
            "delivery",
            "low_confidence",
            "pending",
            "rasa",  # the NLU client's own result: Rasa's
        )
        nlu.result = ("delivery", 0.97)  # sure this time: no sample, the ticket's category is the NLU's
        for text in [
            "1",
            "快递三天了还没有送到，客服也不接电话",
            "昨天",
            "北京",
            "快递",
            "无",
            "2",
            "1",
            "13800138000",
            "1",
        ]:
            await app.console.say(app.manager, "v", text)
        assert len(await samples(app)) == 1
        ticket = await app.db.run(lambda s: s.exec(select(Ticket)).one())
        assert ticket.category == "delivery" and ticket.category_source == "nlu"
        await app.tickets.on_ticket(
            ticket.number,
            lambda w, t: app.desk.reclassify(w, t, {"category": "after_sales"}, actor="agent:x"),
        )
        corrected = [s for s in await samples(app) if s.source == "corrected"]
        assert [(s.predicted, s.intent, s.ticket_id) for s in corrected] == [
            ("delivery", "after_sales", ticket.id)
        ]
    finally:
        await app.stop()


async def test_the_built_in_classifiers_unsure_guesses_are_samples_marked_as_its_own(tmp_path: Path) -> None:
    """With Rasa off (nlu.enabled false) the built-in classifier answers; what it was unsure of
    waits for the review like Rasa's, and the review page says whose guess it was."""
    app = TousuApp(make_settings(tmp_path, scheduler={"enabled": False}), channels=[])
    await app.start()
    try:
        await app.db.run(
            lambda s: accounts.add_user(
                s, username="root", password=PASSWORD, role="admin", display_name="管理员"
            )
        )
        await app.console.say(app.manager, "u", "你好")
        asked = await app.console.say(app.manager, "u", "买的东西和服务都很差")
        assert "是否属于" in "\n".join(r.text for r in asked)  # unsure: it asks
        [unsure] = await samples(app)
        assert (unsure.text, unsure.source, unsure.classifier) == (
            "买的东西和服务都很差",
            "low_confidence",
            "builtin",
        )
        assert unsure.confidence is not None and unsure.confidence < app.settings.nlu.confidence_threshold
        await app.db.run(
            lambda s: s.add(
                NluSample(text="hmm ok", predicted="affirm", source="low_confidence", classifier="rasa")
            )
        )
        transport = httpx.ASGITransport(app=create_web_app(app, manage_lifecycle=False))
        async with httpx.AsyncClient(transport=transport, base_url="http://desk") as admin:
            await login(admin, "root")
            page = (await admin.get("/console/nlu")).text
        rows = {row.split("</td>")[0]: row for row in page.split('<tr class="sample"')[1:]}
        built_in = next(r for k, r in rows.items() if "买的东西和服务都很差" in k)
        rasa = next(r for k, r in rows.items() if "hmm ok" in k)
        assert 'data-classifier="builtin">内置识别</span>' in built_in and "Rasa" not in built_in
        assert 'data-classifier="rasa">Rasa 模型</span>' in rasa
    finally:
        await app.stop()


async def test_an_admin_labels_samples_with_the_live_flows_categories_or_a_conversation_intent(
    tmp_path: Path,
) -> None:
    """The categories are the flow's: one the flow file adds is offered and accepted at once,
    with no list in the NLU package to extend; an intent neither knows is refused."""
    flows = tmp_path / "flows"
    flows.mkdir()
    intake = (ROOT / "dialogues" / "flows" / "intake.yaml").read_text(encoding="utf-8")
    last = "      sf_hazard: {zh: 安全隐患, en: Hazard}\n"  # the tree's last line
    assert last in intake
    (flows / "intake.yaml").write_text(intake.replace(last, last + "  noise: {zh: 噪音扰民, en: Noise}\n"))
    app = TousuApp(make_settings(tmp_path, dialogue={"flows_dir": flows}), channels=[], use_nlu=False)
    await app.start()
    try:
        intents = await app.nlu_review.intents()
        assert intents[:2] == ("product_quality", "service_attitude") and "noise" in intents
        assert {"consult", "request_human", "greet"} <= set(intents)
        sample = NluSample(text="楼上天天半夜装修", source="low_confidence", predicted="facilities")
        await app.db.run(lambda s: s.add(sample))
        assert sample.id is not None
        with pytest.raises(ReviewError, match="unknown intent 'bogus'"):
            await app.nlu_review.decide(sample.id, intent="bogus", actor="admin")
        await app.nlu_review.decide(sample.id, intent="noise", actor="admin")
        [stored] = await samples(app)
        assert (stored.status, stored.intent, stored.reviewed_by) == ("accepted", "noise", "admin")
    finally:
        await app.stop()


@pytest.fixture
async def reviewed_app(
    tmp_path: Path, private_rasa_server: RasaServer
) -> AsyncIterator[tuple[TousuApp, RasaServer]]:
    server = private_rasa_server
    settings = make_settings(
        tmp_path,
        nlu={
            "enabled": True,
            "managed": False,
            "url": server.url,
            "token": SecretStr(server.token),
            "reviewed_data": tmp_path / "nlu" / "reviewed.yml",
        },
        scheduler={"enabled": False},
    )
    app = TousuApp(settings, channels=[], use_nlu=False)
    await app.start()

    def seed(session: Session) -> None:
        accounts.add_user(session, username="root", password=PASSWORD, role="admin", display_name="管理员")
        session.add(NluSample(text=SAMPLE, predicted="billing", confidence=0.4, source="low_confidence"))
        session.add(NluSample(text="hmm ok", predicted="affirm", confidence=0.3, source="low_confidence"))

    await app.db.run(seed)
    try:
        yield app, server
    finally:
        await app.stop()


async def test_review_train_compare_and_switch_on_the_real_rasa(
    reviewed_app: tuple[TousuApp, RasaServer],
) -> None:
    app, server = reviewed_app
    web = create_web_app(app, manage_lifecycle=False)
    transport = httpx.ASGITransport(app=web)
    async with httpx.AsyncClient(transport=transport, base_url="http://desk") as admin:
        await login(admin, "root")
        page = (await admin.get("/console/nlu")).text
        assert SAMPLE in page and "hmm ok" in page
        csrf = await page_csrf(admin)
        ids = {s.text: s.id for s in await samples(app)}
        early = await admin.post("/console/nlu/candidates", data={"csrf_token": csrf})
        assert "accept" in early.headers["location"]  # nothing accepted yet
        await admin.post(
            f"/console/nlu/samples/{ids[SAMPLE]}",
            data={"csrf_token": csrf, "intent": "service_attitude", "action": "accept"},
        )
        await admin.post(
            f"/console/nlu/samples/{ids['hmm ok']}", data={"csrf_token": csrf, "action": "dismiss"}
        )
        assert (await admin.post("/console/nlu/candidates", data={"csrf_token": csrf})).status_code == 303

        deadline = time.monotonic() + 500
        while True:
            rows = await app.db.run(lambda s: list(s.exec(select(NluCandidate))))
            if rows and rows[0].status != "training":
                break
            assert time.monotonic() < deadline, "the candidate was not trained in time"
            await asyncio.sleep(1)
        [candidate] = rows
        assert candidate.status == "evaluated", candidate.error
        for scores in (candidate.before, candidate.after):
            assert scores["examples"] > 100 and 0.5 < scores["macro_f1"] <= 1.0
            assert set(scores["category_macro_f1"]) == {"zh", "en"}
        listing = (await admin.get("/console/nlu")).text
        assert f'data-candidate="{candidate.id}" data-status="evaluated"' in listing
        assert 'class="switch"' in listing

        switched = await admin.post(
            f"/console/nlu/candidates/{candidate.id}/switch", data={"csrf_token": csrf}
        )
        assert switched.headers["location"] == "/console/nlu", switched.headers["location"]
    status = await server.status()
    assert status is not None and Path(str(status["model_file"])).name == Path(candidate.model_file).name
    reviewed = app.settings.path(app.settings.nlu.reviewed_data).read_text(encoding="utf-8")
    assert SAMPLE in reviewed and "service_attitude" in reviewed and "hmm ok" not in reviewed
    states = {s.text: s.status for s in await samples(app)}
    assert states == {SAMPLE: "live", "hmm ok": "dismissed"}
    live = await app.db.run(lambda s: s.get(NluCandidate, candidate.id))
    assert live is not None and live.status == "live"
    # a restart serves the same model: the reviewed examples are part of the model's identity
    from nlu.server import model_path

    assert model_path(app.settings.nlu, app.settings.rasa_places) == Path(candidate.model_file)
