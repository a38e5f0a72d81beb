"""``tousu chat``: talk to the bot in a terminal. ``--json`` is the scriptable form: one message
per stdin line in, one JSON object per reply out, then ``{"turn_end": true}``. A line that is a
button's ``payload`` shown earlier presses that button, as Telegram would send it. What a person
at the console writes (their takeover notice, their replies) is printed as it arrives, marked as
theirs (``"from": "agent"`` in JSON)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from typing import Any, TextIO

from bot.app import TousuApp
from bot.channels.base import OutboundMessage, button_key, render_plain
from bot.channels.console import ConsoleChannel
from bot.settings import Settings


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("chat", help="chat with the bot in this terminal")
    parser.add_argument("--user", default="local", help="customer id on the console channel")
    parser.add_argument("--json", action="store_true", help="JSON lines out, for scripts")
    parser.add_argument(
        "--no-nlu", action="store_true", help="menus only: neither Rasa nor the built-in classifier"
    )
    parser.set_defaults(handler=chat)


def chat(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_chat(settings, user=args.user, as_json=args.json, use_nlu=not args.no_nlu))


class Printer:
    """Prints every message to the customer the moment it arrives: a turn's replies and, at any
    time, a person's. Counts the bot's own, so a turn ends once its replies are out."""

    def __init__(self, *, as_json: bool, out: TextIO = sys.stdout) -> None:
        self.as_json = as_json
        self.out = out
        self.from_bot = 0
        self._changed = asyncio.Condition()

    async def run(self, console: ConsoleChannel, user: str) -> None:
        while True:
            [reply] = await console.pop(user, 1, timeout=None)
            self.show(reply)
            async with self._changed:
                if reply.author == "bot":
                    self.from_bot += 1
                self._changed.notify_all()

    async def wait_for(self, count: int, timeout: float = 30) -> None:
        """Until ``count`` bot messages in all were printed (or ``timeout`` passed)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(lambda: self.from_bot >= count)

    def show(self, reply: OutboundMessage) -> None:
        person = reply.author.startswith("agent:")
        if self.as_json:
            item: dict[str, Any] = {
                "text": reply.text,
                "buttons": [
                    {"key": button_key(b), "label": b.label, "payload": b.payload} for b in reply.buttons
                ],
            }
            if person:
                item["from"] = "agent"
            print(json.dumps(item, ensure_ascii=False), file=self.out, flush=True)
        else:
            prompt = "客服/staff> " if person else "bot> "
            indent = "\n" + " " * len(prompt)
            print(prompt + render_plain(reply).replace("\n", indent), file=self.out, flush=True)


async def _chat(settings: Settings, *, user: str, as_json: bool, use_nlu: bool) -> int:
    # A terminal chat reuses a running NLU server but never starts one (that takes ~15 s); the
    # built-in classifier answers free text meanwhile, or alone when nlu.enabled is false.
    app = TousuApp(settings, channels=[], use_nlu=None if use_nlu else False, manage_nlu=False)
    await app.start()
    loop = asyncio.get_running_loop()
    payloads: set[str] = set()  # every button shown so far: a line naming one presses it
    printer = Printer(as_json=as_json)
    printing = asyncio.create_task(printer.run(app.console, user))
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
            before = printer.from_bot
            handled = await app.manager.handle(inbound)
            await printer.wait_for(before + len(handled.replies))
            payloads |= {b.payload for m in handled.replies for b in m.buttons if b.payload}
            if as_json:
                print(json.dumps({"turn_end": True}), flush=True)
            elif handled.to_agent:
                print("     (已转交人工 / passed to an agent)", flush=True)
    finally:
        printing.cancel()
        await app.stop()
    return 0
