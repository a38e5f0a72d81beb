"""A flow drawn as SVG: steps in columns by their distance from the start, arrows for every way
from one step to another. Pure text in, text out, so the console can inline it (no scripts, no
external assets) and a test can read it."""

from __future__ import annotations

from collections import deque
from xml.sax.saxutils import escape, quoteattr

from dialogues.model import Flow

BOX_W = 170
BOX_H = 40
GAP_X = 70
GAP_Y = 18
PAD = 20
KIND_COLOURS = {
    "menu": "#dbe9ff",
    "ask": "#e6f6ec",
    "collect": "#e6f6ec",
    "classify": "#fff4dc",
    "confirm": "#f1e6ff",
    "create_ticket": "#ffe3e3",
    "handoff": "#ffd6d6",
    "end": "#e3e8ec",
}


def _levels(flow: Flow) -> dict[str, int]:
    level = {flow.start: 0}
    queue = deque([flow.start])
    while queue:
        current = queue.popleft()
        for edge in flow.step(current).edges():
            if flow.has_step(edge.target) and edge.target not in level:
                level[edge.target] = level[current] + 1
                queue.append(edge.target)
    last = max(level.values(), default=0) + 1
    for step in flow.steps:  # unreachable steps (the validator reports them) get a last column
        level.setdefault(step.id, last)
    return level


def svg(flow: Flow) -> str:
    level = _levels(flow)
    columns: dict[int, list[str]] = {}
    for step in flow.steps:
        columns.setdefault(level[step.id], []).append(step.id)
    where: dict[str, tuple[int, int]] = {}
    for col, ids in columns.items():
        for row, step_id in enumerate(ids):
            where[step_id] = (PAD + col * (BOX_W + GAP_X), PAD + row * (BOX_H + GAP_Y))
    width = PAD * 2 + (max(columns) + 1) * (BOX_W + GAP_X) - GAP_X
    height = PAD * 2 + max(len(ids) for ids in columns.values()) * (BOX_H + GAP_Y) - GAP_Y
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="flow-diagram" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label={quoteattr("flow " + flow.name)}>',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#5b6b7b"/></marker></defs>',
    ]
    drawn: set[tuple[str, str]] = set()
    for step in flow.steps:
        x1, y1 = where[step.id]
        for edge in step.edges():
            if not flow.has_step(edge.target) or (step.id, edge.target) in drawn:
                continue
            drawn.add((step.id, edge.target))
            x2, y2 = where[edge.target]
            if level[edge.target] > level[step.id]:
                sx, sy, tx, ty = x1 + BOX_W, y1 + BOX_H // 2, x2, y2 + BOX_H // 2
                mid = (sx + tx) // 2
                path = f"M {sx} {sy} C {mid} {sy}, {mid} {ty}, {tx} {ty}"
            else:  # back or sideways: loop under the boxes
                sx, sy, tx, ty = x1 + BOX_W // 2, y1 + BOX_H, x2 + BOX_W // 2, y2 + BOX_H
                dip = max(sy, ty) + GAP_Y
                path = f"M {sx} {sy} C {sx} {dip}, {tx} {dip}, {tx} {ty}"
            parts.append(
                f'<path class="edge" data-from={quoteattr(step.id)} data-to={quoteattr(edge.target)} '
                f'd="{path}" fill="none" stroke="#5b6b7b" stroke-width="1.2" marker-end="url(#arrow)"/>'
            )
    for step in flow.steps:
        x, y = where[step.id]
        fill = KIND_COLOURS.get(step.kind, "#ffffff")
        stroke = "#1f3a5f" if step.id == flow.start else "#8a98a6"
        parts.append(
            f'<g class="step" data-step={quoteattr(step.id)}>'
            f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="6" fill="{fill}" stroke="{stroke}"/>'
            f'<text x="{x + 8}" y="{y + 17}" font-size="12" font-family="sans-serif">'
            f"{escape(step.id[:24])}</text>"
            f'<text x="{x + 8}" y="{y + 32}" font-size="10" font-family="sans-serif" fill="#5b6b7b">'
            f"{escape(step.kind)}</text></g>"
        )
    parts.append("</svg>")
    return "".join(parts)
