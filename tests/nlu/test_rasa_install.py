"""Rasa is installed by scripts/lib.sh, never by the running bot: the bot only checks that the
virtualenv holds the pinned Rasa and otherwise says how to install it. The script's step runs here
against a stand-in virtualenv (the real one is never touched)."""

from __future__ import annotations

import os
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from nlu.server import NluServerError, ensure_model, installed_rasa
from nlu.settings import NluSettings, RasaPlaces
from tests.conftest import ROOT


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


def _lib(command: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run one scripts/lib.sh step in bash, with HOME (and so ~/.pyenv) inside ``tmp_path``."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("TOUSU_", "PYENV"))}
    environ |= {"HOME": str(tmp_path), "TOUSU_CONFIG": str(ROOT / "config.yaml"), **env}
    return subprocess.run(
        ["bash", "-c", f'source "{ROOT}/scripts/lib.sh"; {command}'],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _fake_python(path: Path, log: Path) -> None:
    """A stand-in for the venv's python: records its arguments, and "installs" rasa."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f'#!/bin/sh\necho "$*" >> "{log}"\ntouch "{path.parent}/rasa"; chmod +x "{path.parent}/rasa"\n'
    )
    path.chmod(0o755)


def test_the_script_installs_the_pinned_rasa_once_and_stamps_it(tmp_path: Path) -> None:
    venv, log = tmp_path / "venv-rasa", tmp_path / "pip.log"
    _fake_python(venv / "bin" / "python", log)
    first = _lib("ensure_rasa_venv", tmp_path, TOUSU_NLU__VENV=str(venv))
    assert first.returncode == 0, first.stderr
    assert log.read_text().splitlines() == [
        "-m pip install -q --upgrade pip<25",
        "-m pip install -q rasa[jieba]==3.6.21",
    ]
    assert (venv / ".tousu-stamp").read_text().strip() == "rasa[jieba]==3.6.21"
    assert installed_rasa(NluSettings(), replace(_places(tmp_path), venv=venv)) == venv / "bin" / "rasa"
    again = _lib("ensure_rasa_venv", tmp_path, TOUSU_NLU__VENV=str(venv))
    assert again.returncode == 0 and len(log.read_text().splitlines()) == 2  # nothing to do the second time
    newer = _lib("ensure_rasa_venv", tmp_path, TOUSU_NLU__VENV=str(venv), TOUSU_NLU__RASA_VERSION="3.6.22")
    assert (
        newer.returncode == 0 and log.read_text().splitlines()[-1] == "-m pip install -q rasa[jieba]==3.6.22"
    )


def test_the_script_finds_pyenvs_newest_python_of_the_version(tmp_path: Path) -> None:
    for version in ("3.10.2", "3.10.13", "3.11.7"):
        _fake_python(tmp_path / "pyenv" / "versions" / version / "bin" / "python", tmp_path / "log")
    found = _lib("find_python_version 3.10", tmp_path, PYENV_ROOT=str(tmp_path / "pyenv"))
    assert found.stdout.strip() == str(tmp_path / "pyenv" / "versions" / "3.10.13" / "bin" / "python")
    missing = _lib("find_python_version 3.99", tmp_path, PYENV_ROOT=str(tmp_path / "pyenv"))
    assert missing.returncode != 0 and "Python 3.99 is needed for Rasa" in missing.stderr
