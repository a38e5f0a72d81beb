"""``tousu chat`` prints what a person at the console writes as it arrives, marked as theirs,
between the bot's turns and not only in answer to a line typed."""

from __future__ import annotations

import asyncio
import io
import json

from bot.app import TousuApp
from bot.cli.chat import Printer
from dialogues.types import ConversationKey, Reply


async def test_agent_messages_are_printed_as_they_arrive(app: TousuApp) -> None:
    out = io.StringIO()
    printer = Printer(as_json=True, out=out)
    printing = asyncio.create_task(printer.run(app.console, "u1"))
    try:
        handled = await app.manager.handle(app.console.inbound("u1", "0"))
        await printer.wait_for(len(handled.replies), timeout=5)
        assert printer.from_bot == len(handled.replies) >= 1
        key = ConversationKey(app.console.name, "u1")
        await app.manager.send_as(
            key, [Reply("您好，我是客服李四，请问有什么可以帮您？")], author="agent:lisi"
        )
        for _ in range(50):  # nobody typed anything: it arrives on its own
            if "李四" in out.getvalue():
                break
            await asyncio.sleep(0.05)
        last = json.loads(out.getvalue().splitlines()[-1])
        assert last == {"text": "您好，我是客服李四，请问有什么可以帮您？", "buttons": [], "from": "agent"}
        assert printer.from_bot == len(handled.replies)  # a person's message is no bot reply
    finally:
        printing.cancel()


def test_plain_output_marks_a_person() -> None:
    from bot.channels.base import OutboundMessage

    out = io.StringIO()
    printer = Printer(as_json=False, out=out)
    printer.show(OutboundMessage("第一行\n第二行", author="agent:lisi"))
    printer.show(OutboundMessage("机器人"))
    indent = " " * len("客服/staff> ")
    assert out.getvalue() == f"客服/staff> 第一行\n{indent}第二行\nbot> 机器人\n"
