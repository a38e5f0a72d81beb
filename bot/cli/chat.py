"""``tousu chat``: talk to the bot in a terminal. ``--json`` is the scriptable form: one message
per stdin line in, one JSON object per reply out, then ``{"turn_end": true}``. A line that is a
button's ``payload`` shown earlier presses that button, as Telegram would send it."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from bot.app import TousuApp
from bot.channels.base import button_key, render_plain
from bot.settings import Settings


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("chat", help="chat with the bot in this terminal")
    parser.add_argument("--user", default="local", help="customer id on the console channel")
    parser.add_argument("--json", action="store_true", help="JSON lines out, for scripts")
    parser.add_argument("--no-nlu", action="store_true", help="menus only, do not call the NLU server")
    parser.set_defaults(handler=chat)


def chat(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_chat(settings, user=args.user, as_json=args.json, use_nlu=not args.no_nlu))


async def _chat(settings: Settings, *, user: str, as_json: bool, use_nlu: bool) -> int:
    # A terminal chat reuses a running NLU server but never starts one (that takes ~15 s).
    app = TousuApp(settings, channels=[], use_nlu=use_nlu and settings.nlu.enabled, manage_nlu=False)
    await app.start()
    loop = asyncio.get_running_loop()
    payloads: set[str] = set()  # every button shown so far: a line naming one presses it
    if not as_json:
        print("Tousu 客服机器人 — 输入消息开始；# 再看一遍，* 返回，0 人工客服；Ctrl-D 退出。", flush=True)
        print("Type a message to start; # show again, * back, 0 a person; Ctrl-D quits.", flush=True)
    try:
        while True:
            if not as_json:
                print("你/you> ", end="", flush=True)
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                break
            text = line.rstrip("\r\n")
            if text in payloads:
                inbound = app.console.inbound(user, "", payload=text)
            else:
                inbound = app.console.inbound(user, text)
            handled = await app.manager.handle(inbound)
            count = len(handled.replies)
            replies = await app.console.pop(user, count, timeout=30) if count else []
            if replies:
                payloads |= {b.payload for r in replies for b in r.buttons if b.payload}
            for reply in replies:
                if as_json:
                    buttons = [
                        {"key": button_key(b), "label": b.label, "payload": b.payload} for b in reply.buttons
                    ]
                    print(
                        json.dumps({"text": reply.text, "buttons": buttons}, ensure_ascii=False),
                        flush=True,
                    )
                else:
                    print("bot> " + render_plain(reply).replace("\n", "\n     "), flush=True)
            if as_json:
                print(json.dumps({"turn_end": True}), flush=True)
            elif handled.to_agent:
                print("     (已转交人工 / passed to an agent)", flush=True)
    finally:
        await app.stop()
    return 0
