"""Small SVG charts drawn on the server: no chart library, no CDN, nothing to load. Labels are
XML-escaped; the markup goes into the page as is."""

from __future__ import annotations

from collections.abc import Sequence
from xml.sax.saxutils import escape, quoteattr

BAR_COLOUR = "#3a6ea5"
ROW = 22
LABEL_W = 150


def bars(items: Sequence[tuple[str, float]], *, title: str, unit: str = "") -> str:
    """Horizontal bars, one per item, longest first as given."""
    width = 520
    height = max(1, len(items)) * ROW + 30
    top = max((v for _, v in items), default=0) or 1
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label={quoteattr(title)}>',
        f'<text x="0" y="14" font-size="13" font-weight="600">{escape(title)}</text>',
    ]
    if not items:
        parts.append('<text x="0" y="40" font-size="12" fill="#6a7682">—</text>')
    for i, (label, value) in enumerate(items):
        y = 24 + i * ROW
        length = (width - LABEL_W - 70) * value / top
        shown = f"{value:g}{unit}"
        parts.append(
            f'<g class="bar" data-label={quoteattr(label)} data-value="{value:g}">'
            f'<text x="0" y="{y + 14}" font-size="12">{escape(label[:22])}</text>'
            f'<rect x="{LABEL_W}" y="{y + 3}" width="{length:.1f}" height="{ROW - 6}" fill="{BAR_COLOUR}"/>'
            f'<text x="{LABEL_W + length + 6:.1f}" y="{y + 14}" font-size="12">{escape(shown)}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def line(points: Sequence[tuple[str, float]], *, title: str) -> str:
    """One series over time (e.g. tickets per day), with the first and last dates on the axis."""
    width, height, left, bottom = 640, 180, 36, 24
    top = max((v for _, v in points), default=0) or 1
    inner_w, inner_h = width - left - 10, height - bottom - 26
    step = inner_w / max(1, len(points) - 1)
    coords = [(left + i * step, 26 + inner_h - inner_h * v / top) for i, (_, v) in enumerate(points)]
    path = " ".join(f"{'M' if i == 0 else 'L'} {x:.1f} {y:.1f}" for i, (x, y) in enumerate(coords))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label={quoteattr(title)}>',
        f'<text x="0" y="14" font-size="13" font-weight="600">{escape(title)}</text>',
        f'<line x1="{left}" y1="{26 + inner_h}" x2="{width - 10}" y2="{26 + inner_h}" stroke="#b8c2cc"/>',
        f'<text x="0" y="30" font-size="11" fill="#6a7682">{top:g}</text>',
    ]
    if points:
        parts.append(f'<path d="{path}" fill="none" stroke="{BAR_COLOUR}" stroke-width="2"/>')
        for (label, value), (x, y) in zip(points, coords, strict=True):
            parts.append(
                f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{BAR_COLOUR}" '
                f'data-label={quoteattr(label)} data-value="{value:g}">'
                f"<title>{escape(label)}: {value:g}</title></circle>"
            )
        parts.append(f'<text x="{left}" y="{height - 6}" font-size="11">{escape(points[0][0])}</text>')
        parts.append(
            f'<text x="{width - 10}" y="{height - 6}" font-size="11" text-anchor="end">'
            f"{escape(points[-1][0])}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)
