"""The scriptable CLI: a whole complaint through `tousu chat --json`, then `tousu tickets list`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = [  # menu keys: the chats that follow it run with --no-nlu (menus only)
    "1",
    "我买的电热水壶用了两天就漏水了，订单号 A20261120001",
    "1",
    "昨天",
    "北京朝阳门店",
    "1",
    "2",
    "1",
    "13800138000",
    "1",
]


def _tousu(args: list[str], tmp_path: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "TOUSU_DATABASE__URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "TOUSU_GENERAL__DATA_DIR": str(tmp_path),
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
    )


def test_chat_json_files_a_complaint_and_tickets_list_shows_it(tmp_path: Path) -> None:
    assert _tousu(["db", "upgrade"], tmp_path).returncode == 0
    proc = _tousu(
        ["chat", "--json", "--no-nlu", "--user", "cli-user"], tmp_path, stdin="\n".join(SCRIPT) + "\n"
    )
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    turns: list[list[dict[str, object]]] = [[]]
    for item in lines:
        if item == {"turn_end": True}:
            turns.append([])
        else:
            assert set(item) == {"text", "buttons"}
            turns[-1].append(item)
    assert turns[-1] == []
    turns.pop()
    assert len(turns) == len(SCRIPT)  # one turn_end per input line, flushed as it happens
    assert all(turn for turn in turns)  # every message got at least one reply
    category_menu = turns[1][-1]["buttons"]
    assert [b["key"] for b in category_menu][:2] == ["1", "2"]  # type: ignore[index]
    assert len(turns[-1]) == 1  # one acknowledgement after confirming
    final = " ".join(str(r["text"]) for r in turns[-1])
    listing = _tousu(["tickets", "list", "--json"], tmp_path)
    assert listing.returncode == 0, listing.stderr
    tickets = json.loads(listing.stdout)
    assert len(tickets) == 1
    ticket = tickets[0]
    assert {"number", "kind", "status", "severity", "category", "customer", "created_at"} <= set(ticket)
    assert ticket["number"] in final
    assert ticket["kind"] == "complaint" and ticket["status"] == "new"
    assert ticket["category"] == "product_quality"
    assert ticket["customer"] == "console:cli-user"
    plain = _tousu(["tickets", "list"], tmp_path)
    assert ticket["number"] in plain.stdout and "complaint" in plain.stdout


def test_tickets_list_on_an_empty_database(tmp_path: Path) -> None:
    assert _tousu(["db", "upgrade"], tmp_path).returncode == 0
    proc = _tousu(["tickets", "list", "--json"], tmp_path)
    assert proc.returncode == 0
    assert json.loads(proc.stdout) == []


def test_staff_routing_and_tickets_show_and_move(tmp_path: Path) -> None:
    assert _tousu(["db", "upgrade"], tmp_path).returncode == 0
    added = _tousu(["staff", "add", "lisi", "--name", "李四", "--department", "quality"], tmp_path)
    assert added.returncode == 0, added.stderr
    assert "lisi" in _tousu(["staff", "list"], tmp_path).stdout
    proc = _tousu(
        ["chat", "--json", "--no-nlu", "--user", "cli-user"], tmp_path, stdin="\n".join(SCRIPT) + "\n"
    )
    assert proc.returncode == 0, proc.stderr
    assert "李四" in proc.stdout  # the acknowledgement names the handler
    [ticket] = json.loads(_tousu(["tickets", "list", "--json"], tmp_path).stdout)
    number = ticket["number"]
    assert ticket["status"] == "acknowledged"

    shown = _tousu(["tickets", "show", number], tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "assignee lisi" in shown.stdout and "propose_solution" in shown.stdout
    assert "created" in shown.stdout and "assigned" in shown.stdout
    assert "deadline_met" not in shown.stdout  # routing assigned; no person has acted yet

    refused = _tousu(["tickets", "move", number, "closed"], tmp_path)
    assert refused.returncode == 1 and "acknowledged ticket cannot become closed" in refused.stdout
    moved = _tousu(["tickets", "move", number, "in_progress", "--actor", "agent:lisi"], tmp_path)
    assert moved.returncode == 0 and "in_progress" in moved.stdout
    history = _tousu(["tickets", "show", number], tmp_path).stdout
    assert "agent:lisi" in history and "'in_progress'" in history
    assert "{'deadline': 'acknowledge'}" in history  # the handler accepted: the clock is met
    assert _tousu(["tickets", "show", "9901010001"], tmp_path).returncode == 1


def test_chat_json_takes_a_buttons_payload_as_a_press(tmp_path: Path) -> None:
    assert _tousu(["db", "upgrade"], tmp_path).returncode == 0
    script = ["你好", "greeting:1"]
    proc = _tousu(["chat", "--json", "--user", "cli-user"], tmp_path, stdin="\n".join(script) + "\n")
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    replies = [item for item in lines if item != {"turn_end": True}]
    assert {"key": "1", "label": "1. 我要投诉", "payload": "greeting:1"} in replies[0]["buttons"]
    assert "请描述一下发生了什么" in replies[-1]["text"]  # pressed, not taken for a description
