from __future__ import annotations

from pathlib import Path

import pytest

from nlu.examples import read_examples
from nlu.metrics import evaluate


def test_scores_match_a_hand_computed_example() -> None:
    gold = ["a", "a", "a", "b", "b", "c"]
    pred = ["a", "a", "b", "b", None, "a"]
    report = evaluate(gold, pred)
    # a: tp2 fp1 fn1 -> p=r=f=2/3; b: tp1 fp1 fn1 -> 1/2; c: tp0 -> 0
    assert report.per_intent["a"].f1 == pytest.approx(2 / 3)
    assert report.per_intent["b"].f1 == pytest.approx(0.5)
    assert report.per_intent["c"].f1 == 0.0
    assert report.macro_f1 == pytest.approx((2 / 3 + 0.5) / 3)
    assert report.accuracy == pytest.approx(3 / 6)
    assert ("b", "(none)", 1) in report.confusions


def test_lengths_must_agree() -> None:
    with pytest.raises(ValueError, match="length"):
        evaluate(["a"], [])


def test_examples_lose_their_entity_markup_and_know_their_language(tmp_path: Path) -> None:
    path = tmp_path / "x.yml"
    path.write_text(
        'version: "3.1"\nnlu:\n- intent: billing\n  examples: |\n'
        "    - 多扣了[300元](amount)\n    - charged [$45](amount) twice\n"
        "- regex: phone\n  examples: |\n    - \\d+\n",
        encoding="utf-8",
    )
    examples = read_examples(path)
    assert [(e.text, e.intent, e.language) for e in examples] == [
        ("多扣了300元", "billing", "zh"),
        ("charged $45 twice", "billing", "en"),
    ]
