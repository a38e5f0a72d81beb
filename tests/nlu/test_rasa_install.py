"""Rasa is installed by scripts/lib.sh, never by the running bot: the bot only checks that the
virtualenv holds the pinned Rasa and otherwise says how to install it."""

from __future__ import annotations

from pathlib import Path

import pytest

from nlu.server import NluServerError, ensure_model, installed_rasa
from nlu.settings import NluSettings, RasaPlaces


def _places(tmp_path: Path) -> RasaPlaces:
    return RasaPlaces(
        project_dir=tmp_path / "nlu",
        venv=tmp_path / "venv",
        models_dir=tmp_path / "models",
        reviewed_data=tmp_path / "reviewed.yml",
        token_file=tmp_path / "nlu.token",
        logs_dir=tmp_path / "logs",
    )


def _install(places: RasaPlaces, stamp: str) -> None:
    places.rasa.parent.mkdir(parents=True)
    places.rasa.write_text("#!/bin/sh\n")
    (places.venv / ".tousu-stamp").write_text(stamp + "\n")


def test_the_venv_scripts_installed_is_used_as_it_is(tmp_path: Path) -> None:
    places = _places(tmp_path)
    _install(places, "rasa[jieba]==3.6.21")
    assert installed_rasa(NluSettings(), places) == places.rasa


@pytest.mark.parametrize("stamp", [None, "rasa[jieba]==3.6.20"])
def test_a_missing_or_outdated_rasa_is_an_error_naming_the_script(tmp_path: Path, stamp: str | None) -> None:
    places = _places(tmp_path)
    if stamp is not None:
        _install(places, stamp)
    with pytest.raises(NluServerError, match=r"rasa\[jieba\]==3\.6\.21 is not installed .*\./scripts/run"):
        installed_rasa(NluSettings(), places)
    with pytest.raises(NluServerError, match=r"\./scripts/run"):
        ensure_model(NluSettings(), places)
    assert not (places.venv / "bin" / "pip").exists()  # nothing was installed
