"""Our intent classifier inside Rasa (nlu/rasa_ext) is scikit-learn's own model: the checks run
inside the Rasa virtualenv (check_components.py) and report here. And the code there uses the
libraries' public modules only."""

from __future__ import annotations

import ast
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from nlu.server import EXTENSIONS, installed_rasa, rasa_env
from tests.conftest import ROOT, make_settings

PRIVATE_STDLIB = {"sre_parse", "sre_compile", "sre_constants"}
"""Deprecated aliases of ``re``'s private modules."""


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    settings = make_settings(tmp_path_factory.mktemp("rasa-ext"))
    rasa = installed_rasa(settings.nlu, settings.rasa_places)
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


@pytest.mark.rasa
def test_confidences_are_scikit_learns_for_the_same_model(report: dict[str, Any]) -> None:
    assert report["plain_scikit_learn_max_difference"] < 1e-12
    assert report["sums_to_one_max_difference"] < 1e-9  # ranking_length 0: every intent listed


@pytest.mark.rasa
def test_a_text_scores_the_same_alone_in_a_batch_and_after_loading(report: dict[str, Any]) -> None:
    assert report["batch_vs_single_max_difference"] < 1e-12
    assert report["loaded_max_difference"] == 0.0


def test_code_inside_rasa_imports_no_private_modules() -> None:
    """Issue 20: libraries through their public APIs (the old batch regex walked ``re._parser``)."""
    private = []
    for path in sorted(EXTENSIONS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
                names = [f"{node.module}.{alias.name}" for alias in node.names]
            else:
                continue
            for name in names:
                parts = name.split(".")
                if parts[0] in PRIVATE_STDLIB or any(p.startswith("_") for p in parts):
                    private.append(f"{path.name}: {name}")
    assert private == []
