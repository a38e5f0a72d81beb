"""Settings: config file, ${ENV} references, TOUSU_* overrides, and one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import ConfigError, load_settings

ROOT = Path(__file__).resolve().parents[2]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_project_config_loads_with_documented_defaults() -> None:
    settings = load_settings(ROOT / "config.yaml")
    assert settings.web.port == 8000
    assert settings.general.timezone == "Asia/Shanghai"
    assert settings.general.default_language == "zh"
    assert settings.nlu.timeout_seconds == 1.5
    assert settings.database_url == f"sqlite:///{ROOT / 'var' / 'tousu.db'}"


def test_env_overrides_beat_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path, "web:\n  port: 8100\n  host: 0.0.0.0\n")
    monkeypatch.setenv("TOUSU_WEB__PORT", "9100")
    monkeypatch.setenv("TOUSU_NLU__URL", "http://127.0.0.1:5999")
    monkeypatch.setenv("TOUSU_DATABASE__URL", "postgresql://u@db:5432/x")
    settings = load_settings(path)
    assert settings.web.port == 9100
    assert settings.web.host == "0.0.0.0"  # untouched keys keep the file's value
    assert settings.nlu.url == "http://127.0.0.1:5999"
    assert settings.database_url == "postgresql+psycopg://u@db:5432/x"


def test_secret_references_are_substituted_and_unset_ones_fall_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(
        tmp_path,
        "telegram:\n  token: ${MY_BOT_TOKEN}\nweb:\n  public_url: ${NOPE_UNSET}\n"
        "general:\n  timezone: ${TZ_NAME:-Europe/Berlin}\n",
    )
    monkeypatch.setenv("MY_BOT_TOKEN", "123:abc")
    monkeypatch.delenv("NOPE_UNSET", raising=False)
    monkeypatch.delenv("TZ_NAME", raising=False)
    settings = load_settings(path)
    assert settings.telegram.token is not None
    assert settings.telegram.token.get_secret_value() == "123:abc"
    assert "123:abc" not in repr(settings)  # secrets never print
    assert settings.has_telegram
    assert settings.web.public_url is None
    assert settings.general.timezone == "Europe/Berlin"


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        ("web:\n  port: 70000\n", {}, "config error: web.port: "),
        ("web:\n  prot: 80\n", {}, "config error: web.prot: unknown setting"),
        ("general:\n  timezone: Mars/Olympus\n", {}, "config error: general.timezone: "),
        ("database:\n  url: mysql://x\n", {}, "config error: database.url: "),
        ("", {"TOUSU_NLU__TIMEOUT_SECONDS": "-1"}, "config error: nlu.timeout_seconds: "),
        ("web: [1, 2\n", {}, "not valid YAML"),
        (
            "scheduler:\n  sweep_seconds: 60\n  horizon_minutes: 2\n",
            {},
            "config error: scheduler.horizon_minutes: Value error, must be at least three sweeps",
        ),
    ],
)
def test_bad_settings_fail_with_one_line_naming_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, env: dict[str, str], expected: str
) -> None:
    path = _write(tmp_path, text)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    message = str(info.value)
    assert expected in message
    assert "\n" not in message or "not valid YAML" in expected


def test_cli_reports_a_bad_setting_in_one_line_and_exit_2(tmp_path: Path) -> None:
    path = _write(tmp_path, "web:\n  port: nope\n")
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli.main", "--config", str(path), "tickets", "list"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "config error: web.port: Input should be a valid integer, unable to parse string as an integer"
    ]


def test_missing_config_file_given_explicitly_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_settings(tmp_path / "nope.yaml")
