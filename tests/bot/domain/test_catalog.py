"""The text catalog: one YAML file per language, the same keys and fields in each, and the
engine's words matching the engine's contract."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.domain.catalog import Catalog
from dialogues.messages import MESSAGE_FIELDS, template_fields

TEMPLATES = Path(__file__).resolve().parents[3] / "bot" / "web" / "console" / "templates"
BOTH_AT_ONCE = "staff."
"""Staff alerts go out as ``zh / en`` in one message, so each half may name a value the other
leaves out (the English half is shorter); every other text stands alone in its language."""


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


def test_every_text_has_the_same_fields_in_both_languages(catalog: Catalog) -> None:
    differing = []
    for key in catalog:
        zh, en = catalog.fields(key, "zh"), catalog.fields(key, "en")  # raises on a stray brace
        if zh != en and not key.startswith(BOTH_AT_ONCE):
            differing.append((key, sorted(zh), sorted(en)))
    assert differing == []
    assert len(list(catalog)) > 240


def test_the_engine_words_give_exactly_the_fields_of_the_engine_contract(catalog: Catalog) -> None:
    messages = catalog.engine_messages()  # raises on a missing or unknown message
    assert set(messages.texts) == set(MESSAGE_FIELDS)
    for key, fields in MESSAGE_FIELDS.items():
        assert template_fields(messages.template(key, "zh")) == fields, key
    too_long = messages.template("too_long", "en").format_map({"limit": 9})
    assert too_long.startswith("Your message is too long (over 9 characters)")


def test_placeholders_are_filled_by_name_and_a_missing_value_fails(catalog: Catalog) -> None:
    assert catalog.text("bot.progress_not_found", "zh", number="2024000001") == (
        "未找到您名下编号为 2024000001 的工单，请核对编号。"
    )
    assert catalog.text("tickets.cancelled", "en", number="{x}") == "Ticket {x} is cancelled as you asked."
    with pytest.raises(KeyError):
        catalog.text("bot.progress_not_found", "zh")


def test_both_languages_at_once_and_names_with_their_fallback(catalog: Catalog) -> None:
    assert catalog.both("staff.to_manager", number="N1") == (
        "客户两次不满意，工单 N1 转交经理 / Ticket N1 escalated to a manager after the customer was "
        "dissatisfied twice"
    )
    # a code's name goes into each half in that half's language
    assert catalog.both("staff.queued", number="N2", department=catalog.names("department", "quality")) == (
        "工单 N2 在质量管理部暂无可派处理人 / Ticket N2 has no available handler in Quality"
    )
    assert catalog.name("status", "in_progress", "en") == "in progress"
    assert catalog.name("status", "on_hold", "zh") == "on_hold"
    console = catalog.words("console", "en")
    assert console("take") == "Take over"
    assert console("reason_flow_said_so", "as the flow wrote it") == "as the flow wrote it"


def test_every_word_a_console_template_names_is_in_the_catalog(catalog: Catalog) -> None:
    named = {
        key
        for page in TEMPLATES.glob("*.html")
        for key in re.findall(r"\bt\(['\"]([a-z0-9_]+)['\"]\)", page.read_text(encoding="utf-8"))
    }
    assert len(named) > 100
    assert sorted(k for k in named if not catalog.has(f"console.{k}")) == []


def test_language_files_that_disagree_on_keys_are_refused() -> None:
    with pytest.raises(ValueError, match=r"en and zh differ in bot\.extra"):
        Catalog.from_yaml({"zh": "bot:\n  hi: 你好\n", "en": "bot:\n  hi: Hello\n  extra: more\n"})
    with pytest.raises(ValueError, match=r"bot\.hi must be a text"):
        Catalog.from_yaml({"zh": "bot:\n  hi: [1]\n", "en": "bot:\n  hi: Hello\n"})
