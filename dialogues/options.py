"""Engine settings, apart from the engine so the turn modules can name the type without a cycle."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class EngineOptions:
    """Limits and thresholds from config.yaml (dialogue.*, nlu.confidence_threshold)."""

    max_text_length: int = 4000
    max_failures: int = 3
    confidence_threshold: float = 0.6
    timezone: str = "Asia/Shanghai"


DEFAULT_OPTIONS = EngineOptions()
"""The defaults (frozen, so sharing the instance is safe)."""
