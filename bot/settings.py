"""Typed settings: config.yaml, then ``TOUSU_<SECTION>__<KEY>`` environment overrides.

config.yaml may reference secrets as ``${ENV_VAR}`` (or ``${ENV_VAR:-default}``); the values are
substituted at load time so no secret needs to live in the file. Relative paths are resolved
against the folder holding the config file, so every command behaves the same from any cwd.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from nlu.settings import NluSettings, RasaPlaces

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(Exception):
    """A setting is missing or wrong; the message is one line naming the key and the reason."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GeneralSettings(_Section):
    data_dir: Path = Path("var")
    timezone: str = "Asia/Shanghai"
    default_language: Literal["zh", "en"] = "zh"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class DatabaseSettings(_Section):
    url: str = "sqlite:///var/tousu.db"
    echo: bool = False
    pool_size: int = Field(default=10, ge=1, le=200)
    busy_timeout_ms: int = Field(default=5000, ge=0)

    @field_validator("url")
    @classmethod
    def _supported(cls, value: str) -> str:
        if not value.startswith(("sqlite://", "postgresql://", "postgresql+psycopg://")):
            raise ValueError("must start with sqlite:// or postgresql://")
        return value


class WebSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    public_url: str | None = None
    session_secret: SecretStr | None = None
    max_body_bytes: int = Field(default=1_000_000, ge=1024)


class WebChatSettings(_Section):
    """The customer chat at /chat, open to anyone: how fast one browser and one address may
    write, how many new chats an address may start, and how many of each are remembered."""

    messages_per_minute: float = Field(default=20.0, gt=0)
    burst: int = Field(default=10, ge=1)
    address_messages_per_minute: float = Field(default=60.0, gt=0)
    address_burst: int = Field(default=30, ge=1)
    new_chats_per_hour: float = Field(default=30.0, gt=0)
    new_chats_burst: int = Field(default=10, ge=1)
    tracked: int = Field(default=20_000, ge=10)


class BotNluSettings(NluSettings):
    """The ``nlu:`` section as the bot reads it: the NLU package's own keys plus the bot's."""

    severity_rules: Path = Path("bot/domain/data/severity.yaml")
    """Severity is a ticket rule (bot/domain/severity.py); the key stays in this section, where
    config files have it."""


class DialogueSettings(_Section):
    flows_dir: Path = Path("dialogues/flows")
    tests_dir: Path = Path("dialogues/tests")
    default_flow: str = "intake"
    max_text_length: int = Field(default=4000, ge=100, le=100_000)
    cached_conversations: int = Field(default=10_000, ge=10)
    max_failures: int = Field(default=3, ge=1, le=10)
    turn_budget_seconds: float = Field(default=5.0, gt=0, le=120)


class TelegramSettings(_Section):
    token: SecretStr | None = None
    mode: Literal["polling", "webhook"] = "polling"
    base_url: str = "https://api.telegram.org/bot"
    base_file_url: str = "https://api.telegram.org/file/bot"
    webhook_url: str | None = None
    secret_token: SecretStr | None = None
    poll_timeout_seconds: int = Field(default=10, ge=0, le=50)


class WeChatSettings(_Section):
    app_id: str | None = None
    app_secret: SecretStr | None = None
    token: SecretStr | None = None
    encoding_aes_key: SecretStr | None = None
    account_id: str | None = None  # the original id (gh_...): callbacks to any other ToUserName are refused
    api_base_url: str = "https://api.weixin.qq.com/cgi-bin/"
    reply_budget_seconds: float = Field(default=3.0, gt=0, le=4.5)
    replay_window_seconds: int = Field(default=300, ge=10)
    max_body_bytes: int = Field(default=64_000, ge=1024)
    daily_message_quota: int = Field(default=500_000, ge=1)
    """Customer-service messages the account may send a day (WeChat's own figure for it, on the
    platform's interface-permissions page; 500 000 for a new account), counted by all processes."""
    templates: dict[str, str] = Field(default_factory=dict)
    menu: list[dict[str, Any]] = Field(default_factory=list)


class OutboxSettings(_Section):
    per_chat_interval_seconds: float = Field(default=1.0, ge=0)
    global_rate_per_second: float = Field(default=28.0, gt=0)
    retry_hours: float = Field(default=48.0, gt=0)
    """A reply that fails transiently is retried until it is this old (WeChat's window for
    customer-service messages is 48 hours); a count of tries would give up inside an outage."""
    backoff_base_seconds: float = Field(default=1.0, gt=0)
    backoff_max_seconds: float = Field(default=300.0, gt=0)
    claim_seconds: float = Field(default=10.0, ge=1)
    """How long a process's claim on a pending reply lasts unless renewed: the longest a dead
    process's replies wait before another process sends them."""
    claim_poll_seconds: float = Field(default=1.0, gt=0)
    """How often a process looks for replies nobody holds (a dead process's, the CLI's)."""


class NotificationSettings(_Section):
    """Staff notifications (``bot.services.notifications``): e-mail over SMTP, Telegram through
    the bot's own token, WeCom group robots per department. Retries follow ``outbox``."""

    smtp_host: str | None = None
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "tousu@localhost"
    smtp_tls: bool = False
    """TLS from the first byte (port 465); otherwise STARTTLS when the server offers it."""
    wecom_webhooks: dict[str, str] = Field(default_factory=dict)
    """Department code -> its WeCom group robot's webhook URL."""
    poll_seconds: float = Field(default=5.0, gt=0)
    digest_after: int = Field(default=3, ge=2)
    """This many notifications for one address due at once go out as one digest."""
    digest_minutes: float = Field(default=10.0, ge=0)
    """After a message to an address, non-urgent news for it waits this long and then goes
    out together (urgent news goes at once)."""


class AttachmentSettings(_Section):
    dir: Path = Path("var/attachments")
    max_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)


class SlaRuleSettings(_Section):
    amount: float = Field(gt=0)
    clock: Literal["hours", "working_days"]


class LifecycleSettings(_Section):
    """The complaint procedure's numbers (DOMAIN.md defaults)."""

    calendar: Path = Path("bot/domain/data/calendar_cn.yaml")
    sla: dict[str, SlaRuleSettings] = Field(default_factory=dict)
    warn_share: float = Field(default=0.8, gt=0, lt=1)
    departments: dict[str, str] = Field(default_factory=dict)
    default_department: str = "customer_service"
    repeat_customers: int = Field(default=3, ge=2)
    repeat_days: int = Field(default=30, ge=1)
    callback_after_hours: float = Field(default=24.0, gt=0)
    survey_reminder_hours: float = Field(default=24.0, gt=0)
    auto_close_days: float = Field(default=7.0, gt=0)
    appeal_days: int = Field(default=30, ge=1)
    max_redispatches: int = Field(default=1, ge=0)
    quiet_hours: str = "22:00-08:00"

    @field_validator("sla")
    @classmethod
    def _known_rules(cls, value: dict[str, SlaRuleSettings]) -> dict[str, SlaRuleSettings]:
        from bot.domain.sla import DEFAULT_RULES

        unknown = sorted(set(value) - set(DEFAULT_RULES))
        if unknown:
            raise ValueError(f"unknown SLA rule {unknown[0]!r} (known: {', '.join(sorted(DEFAULT_RULES))})")
        return value

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, value: str) -> str:
        if value and not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d", value):
            raise ValueError("quiet_hours must look like 22:00-08:00 (or be empty for none)")
        return value


class SchedulerSettings(_Section):
    enabled: bool = True
    misfire_grace_hours: float = Field(default=48.0, gt=0)
    lease_seconds: float = Field(default=30.0, ge=5)
    sweep_seconds: float = Field(default=10.0, gt=0)
    horizon_minutes: float = Field(default=60.0, gt=0)

    @field_validator("horizon_minutes")
    @classmethod
    def _horizon_beyond_sweeps(cls, value: float, info: ValidationInfo) -> float:
        sweep = info.data.get("sweep_seconds")
        if sweep is not None and value * 60 < 3 * sweep:
            raise ValueError(f"must be at least three sweeps ({3 * sweep / 60:g} minutes)")
        return value


class ConsoleSettings(_Section):
    """The agent console: sessions, login throttling, and when a conversation joins the queue."""

    session_hours: float = Field(default=12.0, gt=0, le=24 * 30)
    idle_hours: float = Field(default=8.0, gt=0, le=24 * 30)
    secure_cookies: bool = False
    login_max_failures: int = Field(default=5, ge=1)
    login_window_minutes: float = Field(default=15.0, gt=0)
    stuck_minutes: float = Field(default=15.0, gt=0)
    watch_seconds: float = Field(default=30.0, gt=0)
    angry_words: list[str] = Field(default_factory=list)
    max_upload_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)


class Settings(BaseSettings):
    """All settings. Sections mirror config.yaml; unknown keys are errors, not silently ignored."""

    model_config = SettingsConfigDict(
        env_prefix="TOUSU_", env_nested_delimiter="__", extra="forbid", case_sensitive=False
    )

    general: GeneralSettings = GeneralSettings()
    database: DatabaseSettings = DatabaseSettings()
    web: WebSettings = WebSettings()
    webchat: WebChatSettings = WebChatSettings()
    nlu: BotNluSettings = BotNluSettings()
    dialogue: DialogueSettings = DialogueSettings()
    telegram: TelegramSettings = TelegramSettings()
    wechat: WeChatSettings = WeChatSettings()
    outbox: OutboxSettings = OutboxSettings()
    notifications: NotificationSettings = NotificationSettings()
    attachments: AttachmentSettings = AttachmentSettings()
    console: ConsoleSettings = ConsoleSettings()
    lifecycle: LifecycleSettings = LifecycleSettings()
    scheduler: SchedulerSettings = SchedulerSettings()

    root: Path = Path(".")
    """Folder the config file lives in; relative paths are resolved against it."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (env_settings, init_settings)

    def path(self, value: Path) -> Path:
        """An absolute path for a configured (possibly relative) one."""
        return value if value.is_absolute() else (self.root / value).resolve()

    @property
    def database_url(self) -> str:
        """The database URL with a relative SQLite path resolved against the project root."""
        url = self.database.url
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
            return prefix + str(self.path(Path(url[len(prefix) :])))
        if url.startswith("postgresql://"):
            return "postgresql+psycopg://" + url[len("postgresql://") :]
        return url

    @property
    def rasa_places(self) -> RasaPlaces:
        """Where Rasa's files are, for the NLU package (which never sees these settings)."""
        data = self.path(self.general.data_dir)
        return RasaPlaces(
            project_dir=self.path(self.nlu.project_dir),
            venv=self.path(self.nlu.venv),
            models_dir=self.path(self.nlu.models_dir),
            reviewed_data=self.path(self.nlu.reviewed_data),
            token_file=data / "nlu.token",
            logs_dir=data / "logs",
        )

    @property
    def has_telegram(self) -> bool:
        return self.telegram.token is not None and bool(self.telegram.token.get_secret_value())

    @property
    def has_wechat(self) -> bool:
        return bool(self.wechat.app_id and self.wechat.app_secret and self.wechat.token)


def _substitute(value: Any, where: str) -> Any:
    if isinstance(value, dict):
        return {k: _substitute(v, f"{where}.{k}" if where else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, str):

        def repl(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            found = os.environ.get(name)
            if found is not None:
                return found
            if default is not None:
                return default
            return ""

        out = _ENV_REF.sub(repl, value)
        return None if out == "" and _ENV_REF.fullmatch(value) else out
    return value


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    key = ".".join(str(p) for p in first["loc"]) or "(root)"
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        msg = "unknown setting"
    return f"config error: {key}: {msg}"


def load_settings(config_path: str | Path | None = None) -> Settings:
    """Read config.yaml (or the given file) and the environment; raise ConfigError on a bad key."""
    path = Path(config_path) if config_path else _default_config_path()
    data: dict[str, Any] = {}
    if path is not None and path.exists():
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ConfigError(f"config error: {path}: not valid YAML ({exc})") from exc
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"config error: {path}: the top level must be a mapping")
        data = _substitute(loaded or {}, "")
        # Drop keys whose ${ENV} reference was unset so the field default applies.
        data = _prune_none(data)
    elif config_path:
        raise ConfigError(f"config error: {path}: file not found")
    root = (path.parent if path is not None else Path.cwd()).resolve()
    try:
        return Settings(**data, root=root)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None


def _prune_none(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out[key] = _prune_none(value)
        elif value is not None:
            out[key] = value
    return out


def _default_config_path() -> Path | None:
    env = os.environ.get("TOUSU_CONFIG")
    if env:
        return Path(env)
    here = Path.cwd()
    for folder in (here, *here.parents):
        candidate = folder / "config.yaml"
        if candidate.exists() and (folder / "pyproject.toml").exists():
            return candidate
    return here / "config.yaml"
