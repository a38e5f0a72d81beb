"""Our Rasa components (nlu/rasa_ext) give what the scikit-learn and Rasa code they replace
gives: the checks run inside the Rasa virtualenv (check_components.py) and report here."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from nlu.server import ensure_venv, rasa_env
from tests.conftest import ROOT, make_settings

pytestmark = pytest.mark.rasa


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    rasa = ensure_venv(make_settings(tmp_path_factory.mktemp("rasa-ext")))
    done = subprocess.run(
        [str(rasa.parent / "python"), str(Path(__file__).with_name("check_components.py")), str(ROOT)],
        env=rasa_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["texts"] > 1000  # the training data, the held-out file and the hostile texts
    return result


def test_character_ngram_counts_equal_scikit_learns(report: dict[str, Any]) -> None:
    assert report["char_gram_texts_differing"] == 0
    assert report["char_gram_batch_differs"] is False


def test_the_numpy_scores_equal_the_sparse_product(report: dict[str, Any]) -> None:
    assert report["score_max_difference"] < 1e-9
    assert report["top_intent_differs"] == 0
    assert report["batch_vs_single_max_difference"] < 1e-12  # a text scores the same in any batch
    assert report["loaded_max_difference"] == 0.0  # the stored model scores as the trained one


def test_batched_entities_equal_rasas_regex_extractor(report: dict[str, Any]) -> None:
    assert report["entities_found"] > 0
    assert report["entity_texts_differing"] == 0
    assert report["entities_found_with_extra_patterns"] > report["entities_found"]
    assert report["entity_texts_differing_with_extra_patterns"] == 0


def test_only_patterns_that_cannot_cross_two_texts_are_searched_joined(report: dict[str, Any]) -> None:
    assert report["joinable"] == {
        "dot": False,
        "anchored": False,
        "negated": False,
        "non_digit": False,
        "boundary": True,
        "lookahead": True,
        "empty": True,
        "cased_lookup": True,
        "behind_lookup": True,
        "inline_flags": True,
    }
    assert report["project_patterns_joined"] == report["project_patterns"]
    assert report["project_patterns_with_lookahead"] >= 5  # the lookup tables at least
    assert report["inline_flags_left_alone"] is True  # (?i) must stay at the very start
    assert report["dot_forced_joined_spans_texts"] is True  # why the check is needed
