"""``{slot}`` placeholders in a flow's own step texts, found and filled leniently.

Step texts are written by flow authors and filled with the customer's answers, so filling never
fails on a brace inside customer text, and leaves ``{ticket_number}``-style markers for the
manager. (The catalog's texts and the engine's messages are ``str.format_map`` templates:
``dialogues.messages``.)
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def placeholders(template: str) -> frozenset[str]:
    """The ``{name}`` placeholders a template uses."""
    return frozenset(_PLACEHOLDER.findall(template))


def fill(template: str, values: Mapping[str, str]) -> str:
    """Replace ``{name}`` with ``values[name]``, leaving unknown names as they are."""
    if "{" not in template:
        return template
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)
