"""The complaint categories are the flow's (its ``categories``), not a list inside the NLU: the
engine reads only the NLU scores of the flow's own categories, ``category`` in an option's intents
stands for exactly those, and the checks accept them as intents."""

from __future__ import annotations

import pytest

from dialogues.checks import known_intents
from dialogues.model import Category, Flow, Text
from dialogues.reading import category_codes, category_scores, intent_score
from nlu.types import IntentScore, NluResult
from tests.dialogues.helpers import intake, result


@pytest.fixture
def flow() -> Flow:
    own = (Category(code="noise", label=Text(zh="噪音扰民", en="Noise")), *intake().categories[:1])
    return intake().model_copy(update={"categories": own})


def test_the_codes_are_the_flows_categories(flow: Flow) -> None:
    assert category_codes(flow) == {"noise", "product_quality"}
    assert category_codes(intake()) == {c.code for c in intake().categories}
    assert "delivery" in category_codes(intake()) and "delivery" not in category_codes(flow)


def test_only_the_flows_categories_are_scored(flow: Flow) -> None:
    nlu = result(
        "楼上天天装修", ("noise", 0.7), ("delivery", 0.2), ("product_quality", 0.05), ("greet", 0.05)
    )
    assert category_scores(flow, nlu) == [("noise", 0.7), ("product_quality", 0.05)]
    assert category_scores(intake(), nlu) == [("delivery", 0.2), ("product_quality", 0.05)]
    no_ranking = NluResult(text="楼上天天装修", intent=IntentScore("noise", 0.8))
    assert category_scores(flow, no_ranking) == [("noise", 0.8)]
    assert category_scores(intake(), no_ranking) == []


def test_category_in_an_options_intents_sums_the_flows_categories(flow: Flow) -> None:
    nlu = result(
        "楼上天天装修", ("noise", 0.5), ("delivery", 0.3), ("product_quality", 0.1), ("consult", 0.1)
    )
    assert intent_score(flow, nlu, ("category",)) == pytest.approx(0.6)
    assert intent_score(intake(), nlu, ("category",)) == pytest.approx(0.4)
    assert intent_score(flow, nlu, ("consult",)) == pytest.approx(0.1)


def test_a_flows_own_category_is_a_known_intent_and_another_flows_is_not(flow: Flow) -> None:
    assert {"noise", "product_quality", "category", "consult", "request_human"} <= known_intents(flow)
    assert "delivery" not in known_intents(flow)
    assert "noise" not in known_intents(intake())
