"""Phone numbers and secrets never reach a log line: the CLI's logging masks them in every
record, whichever library wrote it."""

from __future__ import annotations

import io
import logging
import os
from pathlib import Path

import pytest

from bot.cli import main as cli
from bot.domain.privacy import RedactingFilter, redact, redact_handlers


def test_redact_masks_phones_and_hides_secrets_in_query_strings() -> None:
    line = "GET http://127.0.0.1:5005/status?token=-s3cr3t_X&x=1 for 13912345678, +8613912345678"
    assert redact(line) == "GET http://127.0.0.1:5005/status?token=***&x=1 for 139****5678, +86*******5678"
    options = "rasa run --auth-token=-abc access_token=AbC-9"
    assert redact(options) == "rasa run --auth-token=*** access_token=***"
    assert redact("order 2026010100001 costs 300") == "order 2026010100001 costs 300"  # not a phone


def test_a_redacted_handler_masks_records_of_child_loggers_and_their_arguments() -> None:
    stream = io.StringIO()
    parent = logging.getLogger("tousu-test-redaction")
    parent.propagate = False
    handler = logging.StreamHandler(stream)
    parent.addHandler(handler)
    try:
        redact_handlers(parent)
        redact_handlers(parent)  # idempotent: one filter per handler
        assert sum(isinstance(f, RedactingFilter) for f in handler.filters) == 1
        child = logging.getLogger("tousu-test-redaction.httpx")
        child.warning("HTTP Request: GET %s", "http://nlu/status?token=abc123")
        child.warning("customer %s wrote %r", "c-1", "call me at 13800138000")
    finally:
        parent.removeHandler(handler)
    assert stream.getvalue().splitlines() == [
        "HTTP Request: GET http://nlu/status?token=***",
        "customer c-1 wrote 'call me at 138****8000'",
    ]


def test_the_cli_logging_masks_phones_and_tokens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("TOUSU_DATABASE__URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("TOUSU_GENERAL__DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TOUSU_NLU__ENABLED", "false")
    umask = os.umask(0o022)
    try:
        assert cli.main(["db", "upgrade"]) == 0
    finally:
        os.umask(umask)  # main sets the process's umask; this process is pytest's
    logging.getLogger("httpx").warning("HTTP Request: GET %s", "http://nlu/model/parse?token=abc123")
    logging.getLogger("bot.services.inbox").warning("text=%s", "我的电话 13912345678")
    assert "abc123" not in caplog.text and "13912345678" not in caplog.text
    assert "token=***" in caplog.text and "139****5678" in caplog.text
