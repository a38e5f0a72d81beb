"""The facts of a complaint that the intake keeps beside the description (the customer's answers,
or what the bot read from the description): which they are, in the order staff read them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

INTAKE_FACTS: tuple[str, ...] = ("when", "where", "product", "staff", "order_number", "amount")
"""Slot names of the intake flow, kept in the ticket's details."""


def facts(details: Mapping[str, Any]) -> dict[str, str]:
    """The facts given, by name (empty answers and skipped questions left out)."""
    out: dict[str, str] = {}
    for name in INTAKE_FACTS:
        value = details.get(name)
        if isinstance(value, str | int | float) and not isinstance(value, bool) and str(value).strip():
            out[name] = str(value).strip()
    return out
