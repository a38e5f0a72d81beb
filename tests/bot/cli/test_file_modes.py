"""What the bot writes under its data folder is its owner's only: files 0600, folders 0700."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from tests.bot.cli.test_chat_and_tickets import SCRIPT
from tests.conftest import ROOT


def _tousu(args: list[str], var: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "TOUSU_DATABASE__URL": f"sqlite:///{var / 'tousu.db'}",
        "TOUSU_GENERAL__DATA_DIR": str(var),
        "TOUSU_ATTACHMENTS__DIR": str(var / "attachments"),
        "TOUSU_NLU__ENABLED": "false",
    }
    return subprocess.run(
        [sys.executable, "-m", "bot.cli.main", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
        umask=0o022,  # started from a login shell's usual umask
    )


def test_the_database_exports_and_folders_the_cli_creates_are_private(tmp_path: Path) -> None:
    var = tmp_path / "var"  # not there yet: the bot creates it
    assert _tousu(["db", "upgrade"], var).returncode == 0
    chat = _tousu(["chat", "--json", "--no-nlu", "--user", "modes-user"], var, stdin="\n".join(SCRIPT) + "\n")
    assert chat.returncode == 0, chat.stderr
    (var / "exports").mkdir(mode=0o700)  # the folder is the operator's; the export is the bot's
    found = _tousu(["customers", "find", "modes-user"], var)
    customer = found.stdout.split()[0]
    exported = _tousu(["customers", "export", customer, "--output", str(var / "exports" / "c.zip")], var)
    assert exported.returncode == 0, exported.stderr
    made = [var, *var.rglob("*")]
    assert {p.name for p in made} >= {"var", "tousu.db", "c.zip"}
    loose = {
        str(p.relative_to(tmp_path)): oct(stat.S_IMODE(p.stat().st_mode))
        for p in made
        if stat.S_IMODE(p.stat().st_mode) & 0o077
    }
    assert loose == {}
    assert stat.S_IMODE(var.stat().st_mode) == 0o700
