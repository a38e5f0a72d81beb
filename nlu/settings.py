"""The NLU's settings: the ``nlu:`` section of config.yaml as a typed model, and where Rasa's files
are once the application has resolved the section's relative paths.

They live here, not in the bot's settings, so this package never imports the bot; the bot's
``Settings`` holds an ``NluSettings`` (plus its own keys) and builds the ``RasaPlaces``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class NluSettings(BaseModel):
    """The ``nlu:`` section; unknown keys are errors. Paths may be relative (see ``RasaPlaces``)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    managed: bool = True
    url: str = "http://127.0.0.1:5005"
    token: SecretStr | None = None
    timeout_seconds: float = Field(default=1.5, gt=0, le=30)
    confidence_threshold: float = Field(default=0.6, ge=0, le=1)
    breaker_failures: int = Field(default=3, ge=1)
    breaker_reset_seconds: float = Field(default=30.0, gt=0)
    project_dir: Path = Path("nlu")
    venv: Path = Path(".venv-rasa")
    python: str = "3.10"
    """Read by scripts/lib.sh, which creates the venv; the app only checks that it is there."""
    rasa_version: str = "3.6.21"
    models_dir: Path = Path("var/models")
    startup_timeout_seconds: float = Field(default=180.0, gt=0)
    reviewed_data: Path = Path("var/nlu/reviewed.yml")
    eval_file: Path = Path("tests/nlu/heldout.yml")

    @property
    def rasa_requirement(self) -> str:
        """What scripts/lib.sh installs into the venv (and writes into its stamp file)."""
        return f"rasa[jieba]=={self.rasa_version}"


@dataclass(frozen=True, slots=True)
class RasaPlaces:
    """Rasa's files as absolute paths: the section's paths resolved by the application (against
    its config file's folder), and the files the NLU keeps in the application's data folder."""

    project_dir: Path
    venv: Path
    models_dir: Path
    reviewed_data: Path
    token_file: Path
    """The generated auth token when ``nlu.token`` is unset (mode 600)."""
    logs_dir: Path

    @property
    def rasa(self) -> Path:
        return self.venv / "bin" / "rasa"

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"
