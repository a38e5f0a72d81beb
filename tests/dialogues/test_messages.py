"""The engine's message contract: the default words are checked against it once, a flow's
override by the validator, so neither can fail in a customer's chat."""

from __future__ import annotations

import pytest

from dialogues.messages import EngineMessages, field_problems, template_fields
from tests.dialogues.helpers import MESSAGES
from tests.dialogues.test_spec import BASE, errors_of


def test_fields_are_plain_names_and_doubled_braces_are_text() -> None:
    assert template_fields("超过 {limit} 个字 {{原样}}") == frozenset({"limit"})
    for bad in ("{", "a } b", "{0}", "{}", "{limit:>5}", "{limit!r}", "{a.b}", "{a[0]}"):
        with pytest.raises(ValueError, match=r"is not a placeholder|Single '[{}]'"):
            template_fields(bad)


def test_default_words_missing_a_message_or_naming_an_unknown_field_are_refused() -> None:
    texts = {key: dict(words) for key, words in MESSAGES.texts.items()}
    stale = EngineMessages(texts).template("stale", "en")
    assert stale == "That button belongs to an earlier message. Let's carry on from here:"
    del texts["stale"]
    with pytest.raises(ValueError, match="missing message 'stale'"):
        EngineMessages(texts)
    texts["stale"] = {"zh": "过期了 {step}", "en": "Old menu"}
    with pytest.raises(ValueError, match=r"stale \(zh\): placeholder '\{step\}' is not available"):
        EngineMessages(texts)


def test_an_override_with_a_stray_brace_is_a_flow_error() -> None:
    text = BASE.replace("steps:\n", "messages:\n  stale: {zh: '过期了 {', en: 'Old {0}'}\nsteps:\n")
    found = errors_of(text)
    assert [e.field for e in found] == ["messages.stale.zh", "messages.stale.en"]
    assert field_problems("stale", "ok {{braces}}") == []
