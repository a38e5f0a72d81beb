"""The real Rasa server trained from nlu/: categories in both languages, entities, the eval
command, and a managed server's start and stop."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from nlu.client import CircuitBreaker, RasaNluClient
from nlu.server import RasaServer, content_hash, model_path
from nlu.types import CONVERSATION_INTENTS
from tests.conftest import ROOT, make_settings

pytestmark = pytest.mark.rasa

COMPLAINTS = [
    ("我昨天买的桶装水打开一股怪味，里面还有黑色的渣子", "product_quality"),
    ("The bottle of water I bought had something floating in it and smelled bad", "product_quality"),
    ("柜台那个工作人员一直翻白眼，问两句就不耐烦地叫我自己看", "service_attitude"),
    ("the hotline agent was so rude and just hung up on me", "service_attitude"),
    ("快递显示已签收，可我根本没收到包裹", "delivery"),
    ("my parcel is a week late and the tracking hasn't moved", "delivery"),
    ("这个月话费莫名其妙多扣了两百块，账单上看不懂是什么费用", "billing"),
    ("I was charged twice for the same order", "billing"),
    ("空调坏了报修半个月了还没人上门维修", "after_sales"),
    ("I returned the blender three weeks ago and still no refund", "after_sales"),
    ("销售说保本保息，结果是高风险理财，这是骗人", "staff_misconduct"),
    ("your salesman asked me for a kickback to approve my loan", "staff_misconduct"),
    ("营业厅的厕所脏得没法进，空调也坏了", "facilities"),
    ("the gym showers are broken and the changing room is filthy", "facilities"),
    ("刚在你们这办了卡，就天天接到推销电话，是不是你们泄露了我的信息", "privacy"),
    ("someone at your branch leaked my personal data to a marketing company", "privacy"),
    ("喝了你们的水以后孩子上吐下泻，现在在医院", "safety"),
    ("I slipped on the wet floor in your store and hurt my back", "safety"),
]


async def test_a_complaint_in_each_language_lands_in_its_category(rasa_server: RasaServer) -> None:
    client = RasaNluClient(rasa_server.url, token=rasa_server.token, timeout=5.0)
    try:
        wrong = []
        for text, category in COMPLAINTS:
            result = await client.parse(text)
            assert result is not None and result.intent is not None, text
            if result.intent.name != category:
                wrong.append((text, category, result.intent.name))
        assert wrong == []
    finally:
        await client.aclose()


async def test_entities_come_from_the_regexes_and_lookup_tables(rasa_server: RasaServer) -> None:
    client = RasaNluClient(rasa_server.url, token=rasa_server.token, timeout=5.0)
    try:
        result = await client.parse("我的手机13812345678，订单号DD20241105001，多扣了300元，已经打了12315")
        assert result is not None
        found = {(e.entity, e.value) for e in result.entities}
        assert ("phone", "13812345678") in found
        assert ("order_number", "DD20241105001") in found
        assert ("amount", "300元") in found
        assert ("regulator", "12315") in found
    finally:
        await client.aclose()


async def test_a_wrong_token_is_refused(rasa_server: RasaServer) -> None:
    client = RasaNluClient(rasa_server.url, token="not-the-token", timeout=5.0, breaker=CircuitBreaker(5, 1))
    try:
        assert await client.parse("快递没到") is None
    finally:
        await client.aclose()


async def test_the_batch_route_answers_like_model_parse_and_wants_the_token(rasa_server: RasaServer) -> None:
    texts = [text for text, _ in COMPLAINTS[:6]]
    async with httpx.AsyncClient(base_url=rasa_server.url, timeout=10) as http:
        token = {"token": rasa_server.token}
        batch = await http.post("/webhooks/batch/parse", params=token, json={"texts": texts})
        assert batch.status_code == 200, batch.text
        singles = [(await http.post("/model/parse", params=token, json={"text": t})).json() for t in texts]
        refused = await http.post("/webhooks/batch/parse", params={"token": "nope"}, json={"texts": texts})
        no_token = await http.post("/webhooks/batch/parse", json={"texts": texts})
        empty = await http.post("/webhooks/batch/parse", params=token, json={"texts": []})
        not_text = await http.post("/webhooks/batch/parse", params=token, json={"texts": [3]})
        not_json = await http.post(
            "/webhooks/batch/parse",
            params=token,
            content=b'{"texts": [',
            headers={"content-type": "application/json"},
        )
    results = batch.json()["results"]
    assert [r["text"] for r in results] == texts
    for one, single in zip(results, singles, strict=True):
        assert one["intent"]["name"] == single["intent"]["name"]
        assert one["intent"]["confidence"] == pytest.approx(single["intent"]["confidence"])
        assert one["entities"] == single["entities"]
    assert (refused.status_code, no_token.status_code) == (401, 401)
    assert (empty.status_code, not_text.status_code, not_json.status_code) == (400, 400, 400)


async def test_fifty_parses_at_once_share_requests_and_each_gets_its_own_answer(
    rasa_server: RasaServer,
) -> None:
    client = RasaNluClient(rasa_server.url, token=rasa_server.token, timeout=10.0)
    texts = [COMPLAINTS[i % len(COMPLAINTS)] for i in range(50)]
    try:
        results = await asyncio.gather(*(client.parse(text) for text, _ in texts))
    finally:
        await client.aclose()
    assert [r.intent.name if r and r.intent else None for r in results] == [c for _, c in texts]


def test_eval_reports_the_heldout_scores_in_json(rasa_server: RasaServer, tmp_path: Path) -> None:
    """``tousu nlu eval`` against the held-out file adopts the running server (same model)."""
    env = dict(os.environ)
    env.update(
        TOUSU_NLU__URL=rasa_server.url,
        TOUSU_NLU__TOKEN=rasa_server.token,
        TOUSU_GENERAL__DATA_DIR=str(tmp_path),
    )
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli.main", "nlu", "eval", str(ROOT / "tests/nlu/heldout.yml"), "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(report) >= {"accuracy", "macro_f1", "per_intent"}
    assert "product_quality" in report["per_intent"] and "greet" in report["per_intent"]
    assert "most frequent confusions" in done.stdout or report["accuracy"] == 1.0
    # Issue 3's target: held-out category macro-F1 of at least 0.90 in each language.
    by_language = report["category_macro_f1_by_language"]
    assert by_language["zh"] >= 0.90 and by_language["en"] >= 0.90, by_language
    # Issue 21's triage targets: questions and ideas are not taken for complaints, and no
    # complaint category pays for it.
    per_intent = report["per_intent"]
    assert per_intent["consult"]["recall"] >= 0.9 and per_intent["suggest"]["recall"] >= 0.9, per_intent
    assert report["macro_f1"] >= 0.95, report["macro_f1"]
    categories = {name: s["f1"] for name, s in per_intent.items() if name not in CONVERSATION_INTENTS}
    assert len(categories) == 9 and min(categories.values()) >= 0.9, categories


def test_the_model_name_follows_the_training_content(tmp_path: Path) -> None:
    project = tmp_path / "nlu"
    (project / "data").mkdir(parents=True)
    (project / "config.yml").write_text("language: zh\n")
    (project / "data" / "a.yml").write_text("nlu: []\n")
    first = content_hash(project / "config.yml", project / "data", "3.6.21")
    assert first == content_hash(project / "config.yml", project / "data", "3.6.21")
    (project / "data" / "a.yml").write_text("nlu: [] # changed\n")
    assert content_hash(project / "config.yml", project / "data", "3.6.21") != first
    assert content_hash(project / "config.yml", project / "data", "3.6.22") != first
    settings = make_settings(tmp_path)
    model = model_path(settings.nlu, settings.rasa_places)
    assert model.name.startswith("nlu-") and model.exists()


async def test_a_running_server_with_the_same_model_is_adopted_and_left_running(
    rasa_server: RasaServer, tmp_path: Path
) -> None:
    from tests.fixtures.rasa import rasa_settings

    settings = rasa_settings(tmp_path, port=rasa_server.port, token=rasa_server.token)
    other = RasaServer(settings.nlu, settings.rasa_places)
    await other.start()  # same model: adopted, not started twice
    assert other.adopted and other.process is None
    await other.stop()
    assert await rasa_server.status() is not None  # stopping an adopted server leaves it running


def test_our_code_inside_rasa_is_part_of_the_model_identity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import nlu.server

    project = tmp_path / "nlu"
    (project / "data").mkdir(parents=True)
    (project / "config.yml").write_text("language: zh\n")
    code = tmp_path / "ext" / "tousu_rasa"
    code.mkdir(parents=True)
    (code / "classifier.py").write_text("C = 1\n")
    monkeypatch.setattr(nlu.server, "EXTENSIONS", tmp_path / "ext")
    first = content_hash(project / "config.yml", project / "data", "3.6.21")
    (code / "classifier.py").write_text("C = 2\n")
    assert content_hash(project / "config.yml", project / "data", "3.6.21") != first
