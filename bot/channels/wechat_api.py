"""WeChat's HTTP API through wechatpy, with the base URL from settings (tests point it at a fake)
and an access_token shared by every process on the machine.

WeChat allows 2 000 token fetches a day and each fetch replaces the previous token, so processes
must not fetch on their own: the token lives in one file under the data folder, read and
refreshed under an exclusive lock, refreshed 5 minutes before it expires and at most once when the
API calls it invalid (only if nobody refreshed it meanwhile).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from wechatpy import WeChatClient

REFRESH_MARGIN = 300
TOKEN_ERRORS = {40001, 40014, 42001}


class SharedTokenClient(WeChatClient):  # type: ignore[misc]
    def __init__(
        self, app_id: str, secret: str, *, api_base_url: str, token_file: Path, timeout: float = 5.0
    ):
        super().__init__(app_id, secret, timeout=timeout, auto_retry=False)
        self.API_BASE_URL = api_base_url if api_base_url.endswith("/") else api_base_url + "/"
        self.token_file = token_file
        self.fetches = 0

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.token_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.token_file.with_suffix(".lock"), "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.token_file.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) and data.get("app_id") == self.appid else {}

    def _fresh(self, data: dict[str, Any]) -> str | None:
        token = data.get("access_token")
        if token and float(data.get("expires_at", 0)) - time.time() > REFRESH_MARGIN:
            return str(token)
        return None

    @property
    def access_token(self) -> str:
        token = self._fresh(self._read())
        if token:
            return token
        with self._locked():
            token = self._fresh(self._read())
            return token or self._fetch()

    def refresh_if_current(self, rejected: str) -> None:
        """The API said ``rejected`` is invalid: fetch a new token unless another process did."""
        with self._locked():
            if self._read().get("access_token") in (rejected, None):
                self._fetch()

    def _fetch(self) -> str:
        result = self._fetch_access_token(
            url=self.API_BASE_URL + "token",
            params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
        )
        self.fetches += 1
        data = {"app_id": self.appid, "access_token": result["access_token"],
                "expires_at": time.time() + int(result.get("expires_in", 7200))}
        tmp = self.token_file.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle)
        os.replace(tmp, self.token_file)
        return str(data["access_token"])

    def fetch_access_token(self) -> dict[str, Any]:
        with self._locked():
            self._fetch()
        return self._read()
