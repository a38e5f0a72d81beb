"""``tousu staff``: one person with several roles and departments, a console login, a Telegram
link code; routing gives them tickets; ``tickets contact`` meets the acknowledge clock."""

from __future__ import annotations

import json
from pathlib import Path

from tests.bot.cli.test_chat_and_tickets import SCRIPT, _tousu


def test_one_person_routed_tickets_and_a_login_then_contact_meets_acknowledge(tmp_path: Path) -> None:
    made = _tousu(
        [
            "staff",
            "add",
            "lisi",
            "--name",
            "李四",
            "--role",
            "handler",
            "--role",
            "agent",
            "--department",
            "quality",
            "--email",
            "lisi@example.com",
            "--password-stdin",
        ],
        tmp_path,
        stdin="a long enough secret\n",
    )
    assert made.returncode == 0, made.stderr
    assert "agent, handler in quality; log in at /console" in made.stdout
    again = _tousu(["staff", "add", "lisi", "--role", "supervisor"], tmp_path)  # adds, keeps the rest
    assert "agent, handler, supervisor in quality" in again.stdout
    listed = _tousu(["users", "list"], tmp_path).stdout  # the old name lists the same people
    assert "lisi" in listed and "agent,handler,supervisor" in listed and "login" in listed
    code = _tousu(["staff", "telegram-code", "lisi"], tmp_path)
    assert code.returncode == 0 and "/link " in code.stdout
    assert _tousu(["staff", "telegram-code", "nobody"], tmp_path).returncode == 1
    bad = _tousu(["staff", "add", "x y", "--role", "agent"], tmp_path)
    assert bad.returncode == 1 and "username" in bad.stderr

    chat = _tousu(["chat", "--json", "--no-nlu", "--user", "cli-2"], tmp_path, stdin="\n".join(SCRIPT) + "\n")
    assert chat.returncode == 0 and "李四" in chat.stdout  # routed to the one person
    [ticket] = json.loads(_tousu(["tickets", "list", "--json"], tmp_path).stdout)
    assert "deadline_met" not in _tousu(["tickets", "show", ticket["number"]], tmp_path).stdout
    contact = _tousu(["tickets", "contact", ticket["number"], "--actor", "agent:lisi"], tmp_path)
    assert contact.returncode == 0, contact.stdout + contact.stderr
    history = _tousu(["tickets", "show", ticket["number"]], tmp_path).stdout
    assert "contacted" in history and "{'deadline': 'acknowledge'}" in history


def test_a_mistyped_department_is_refused_and_the_departments_are_listed(tmp_path: Path) -> None:
    typo = _tousu(["staff", "add", "wangwu", "--department", "qualty"], tmp_path)
    assert typo.returncode == 1
    assert "no department 'qualty'" in typo.stderr and "quality" in typo.stderr
    assert "wangwu" not in _tousu(["staff", "list"], tmp_path).stdout  # nobody half-added
    listed = _tousu(["departments"], tmp_path)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    quality = next(i for i, line in enumerate(lines) if line.startswith("quality "))
    assert "质量管理部 / Quality" in lines[quality]
    assert "product_quality" in lines[quality + 1]  # the categories routed there
    assert any("(default)" in line for line in lines if line.startswith("customer_service "))
    fine = _tousu(["staff", "add", "wangwu", "--department", "quality"], tmp_path)
    assert fine.returncode == 0 and "handler in quality" in fine.stdout
