"""``tousu run`` as a real process for the fault suite: started on a free port with the WeChat
channel pointed at a fake WeChat API, killed with SIGKILL like a crashed host, and driven by
customers who post signed callbacks the way WeChat does, retrying until they get an answer."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import xmltodict

from tests.fakes import wechat_api as wx
from tests.fakes.wechat_api import FakeWeChat

ROOT = Path(__file__).resolve().parents[2]
TOUSU = Path(sys.executable).parent / "tousu"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class BotProcess:
    """One ``tousu run --no-nlu`` (or ``args``) on ``db_url``; every start appends to ``log``.
    Several may share a database, each with its own ``name`` (log file) and port."""

    def __init__(
        self,
        tmp_path: Path,
        db_url: str,
        fake: FakeWeChat,
        *,
        name: str = "tousu",
        args: tuple[str, ...] = ("run", "--no-nlu"),
        env: dict[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        self.args = args
        self.log = tmp_path / f"{name}.log"
        self.env = {
            **os.environ,
            "TOUSU_DATABASE__URL": db_url,
            "TOUSU_GENERAL__DATA_DIR": str(tmp_path / "var"),
            "TOUSU_WEB__PORT": str(self.port),
            "TOUSU_NLU__ENABLED": "false",
            "TOUSU_WECHAT__APP_ID": wx.APP_ID,
            "TOUSU_WECHAT__APP_SECRET": wx.SECRET,
            "TOUSU_WECHAT__TOKEN": wx.TOKEN,
            "TOUSU_WECHAT__ACCOUNT_ID": wx.OFFICIAL,
            "TOUSU_WECHAT_ACCOUNT_ID": wx.OFFICIAL,
            "TOUSU_WECHAT__API_BASE_URL": fake.base_url,
            "TOUSU_OUTBOX__BACKOFF_BASE_SECONDS": "0.05",
            **(env or {}),
        }
        for name in ("TOUSU_TELEGRAM_TOKEN", "TOUSU_WECHAT_AES_KEY", "TOUSU_CONFIG"):
            self.env.pop(name, None)
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout: float = 60.0, *, ready: str | None = None) -> None:
        """Start and wait until ``/health`` answers (or, for a process without a web server,
        until its log has the line ``ready``)."""
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [str(TOUSU), *self.args],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.starts += 1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"tousu run exited with {self.process.returncode}:\n{self.tail()}")
            if ready is not None:
                if ready in self.log.read_text(errors="replace"):
                    return
                time.sleep(0.1)
                continue
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"tousu run did not become healthy in {timeout:g} s:\n{self.tail()}")

    def kill(self) -> None:
        """SIGKILL to the whole process group: no shutdown code runs, as in a host crash."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class Customer:
    """A WeChat user: every delivery is retried with the same MsgId until the bot answers (WeChat
    retries a callback that got no answer); what they saw is kept in arrival order."""

    openid: str
    passive: list[str] = field(default_factory=list)
    misaddressed: int = 0
    server_errors: int = 0

    async def say(self, client: httpx.AsyncClient, bot: BotProcess, content: str, msg_id: int) -> str:
        """The passive answer's text, "" for ``success`` (the reply then comes by the API)."""
        body = wx.xml_message(self.openid, "text", Content=content, MsgId=msg_id)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                response = await client.post(
                    f"{bot.url}/wechat/callback", params=wx.signed_query(), content=body.encode(), timeout=5
                )
            except httpx.TransportError:
                await asyncio.sleep(0.3)  # down or restarting: WeChat tries again
                continue
            if response.status_code >= 500:
                self.server_errors += 1
                await asyncio.sleep(0.3)
                continue
            assert response.status_code == 200, (response.status_code, response.text)
            if response.text == "success":
                return ""
            reply = xmltodict.parse(response.text)["xml"]
            if reply["ToUserName"] != self.openid:
                self.misaddressed += 1
            text = str(reply.get("Content") or "")
            self.passive.append(text)
            return text
        raise AssertionError(f"{self.openid}: no answer to {content!r} in 90 s")

    def seen(self, fake: FakeWeChat) -> list[str]:
        return [*self.passive, *fake.texts_to(self.openid)]

    async def wait_for(self, fake: FakeWeChat, expected: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not any(expected in t for t in self.seen(fake)):
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.openid} never saw {expected!r}: {self.seen(fake)}")
            await asyncio.sleep(0.05)


async def settled(fake: FakeWeChat, quiet: float = 2.0, timeout: float = 60.0) -> None:
    """Wait until the fake API has received nothing new for ``quiet`` seconds."""
    deadline = time.monotonic() + timeout
    count, since = len(fake.sent), time.monotonic()
    while time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        if len(fake.sent) != count:
            count, since = len(fake.sent), time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
    raise AssertionError("the outbox kept sending for a minute")
