"""WeChat's HTTP API through wechatpy, with the base URL from settings (tests point it at a fake)
and an access_token shared by every process through the database.

WeChat allows 2 000 token fetches a day and each fetch retires the previous token, so processes
must not fetch on their own. The token lives in the ``shared_tokens`` table; one process at a time
takes the refresh lease, fetches and stores, the others wait and re-read. It is refreshed 5 minutes
before it expires, and once when the API calls it invalid, unless another process already did.
Each process keeps the token it last saw and reads the table again only near that refresh time
or when the API rejects it (another process refreshed early): one rejected call, then the new one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException

from storage.db import Database
from storage.repositories import shared_tokens

REFRESH_MARGIN = timedelta(minutes=5)
LEASE_SECONDS = 15.0
TOKEN_ERRORS = {40001, 40014, 42001}


class SharedTokenClient(WeChatClient):  # type: ignore[misc]
    def __init__(
        self,
        app_id: str,
        secret: str,
        *,
        api_base_url: str,
        db: Database,
        timeout: float = 5.0,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        pause: Callable[[float], None] = time.sleep,
    ):
        super().__init__(app_id, secret, timeout=timeout, auto_retry=False)
        self.API_BASE_URL = api_base_url if api_base_url.endswith("/") else api_base_url + "/"
        self.db = db
        self.name = f"wechat:{app_id}"
        self.now = now
        self.pause = pause
        self.fetches = 0
        self._known: tuple[str, datetime] | None = None
        """The token last read or stored, with its expiry: used without asking the database
        until it nears its refresh margin or the API rejects it."""

    @property
    def access_token(self) -> str:
        return self._token(rejected=None)

    def refresh_if_current(self, rejected: str) -> None:
        """The API said ``rejected`` is invalid: make sure the stored token is a newer one."""
        self._token(rejected=rejected)

    def _token(self, rejected: str | None) -> str:
        give_up = time.monotonic() + LEASE_SECONDS + 5
        while True:
            fresh = self._stored(rejected)
            if fresh is not None:
                return fresh
            if self.db.run_sync(self._lease):
                # another process may have stored a token between our read and our lease
                fresh = self._stored(rejected)
                if fresh is None:
                    return self._fetch()
                self.db.run_sync(lambda s: shared_tokens.release(s, self.name))
                return fresh
            if time.monotonic() > give_up:
                raise WeChatClientException(None, "another process holds the token refresh lease too long")
            self.pause(0.1)

    def _stored(self, rejected: str | None) -> str | None:
        known = self._known
        if known is not None and known[0] != rejected and known[1] - self.now() > REFRESH_MARGIN:
            return known[0]  # every API call asks twice (ours and wechatpy's): no database read
        row = self.db.run_sync(lambda s: shared_tokens.read(s, self.name))
        if (
            row is None
            or not row.value
            or row.value == rejected
            or row.expires_at is None
            or row.expires_at - self.now() <= REFRESH_MARGIN
        ):
            return None
        self._known = (str(row.value), row.expires_at)
        return str(row.value)

    def _lease(self, session: Any) -> bool:
        return shared_tokens.try_lease(session, self.name, now=self.now(), seconds=LEASE_SECONDS)

    def _fetch(self) -> str:
        try:
            result = self._fetch_access_token(
                url=self.API_BASE_URL + "token",
                params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
            )
        except BaseException:
            self.db.run_sync(lambda s: shared_tokens.release(s, self.name))
            raise
        self.fetches += 1
        token = str(result["access_token"])
        now = self.now()
        expires_at = now + timedelta(seconds=int(result.get("expires_in", 7200)))
        self.db.run_sync(
            lambda s: shared_tokens.store(s, self.name, value=token, expires_at=expires_at, now=now)
        )
        self._known = (token, expires_at)
        return token

    def fetch_access_token(self) -> dict[str, Any]:
        """wechatpy's hook; fetching goes through the shared lease like everything else."""
        return {"access_token": self._token(rejected=None)}
