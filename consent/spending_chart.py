"""The dashboard's spending-by-category chart: a horizontal bar chart drawn as inline SVG on the server (no
script, no CDN, no style attributes — the page's CSP stays strict)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

__all__ = ["spending_svg"]

BAR_HEIGHT = 22
LABEL_WIDTH = 190
BAR_WIDTH = 300
COLOURS = ("#2f6db5", "#4a8f3c", "#b5652f", "#7a4ab5", "#b53f5a", "#2f9ab5", "#8f8a3c", "#5a5a5a")


def spending_svg(rows: Sequence[tuple[str, str, Decimal]], *, title: str) -> SafeString:
    """``rows``: (primary category, currency, amount) largest first. Bars are scaled per currency."""
    if not rows:
        return mark_safe("")
    peak: dict[str, Decimal] = {}
    for _category, currency, amount in rows:
        peak[currency] = max(peak.get(currency, Decimal(0)), amount)
    height = BAR_HEIGHT * len(rows) + 10
    width = LABEL_WIDTH + BAR_WIDTH + 130
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="spending-chart" role="img" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" aria-label="{escape(title)}"><title>{escape(title)}</title>'
    ]
    for i, (category, currency, amount) in enumerate(rows):
        y = 5 + i * BAR_HEIGHT
        length = int(BAR_WIDTH * amount / peak[currency]) if peak[currency] else 0
        label = category.replace("_", " ")
        parts.append(
            f'<text x="{LABEL_WIDTH - 8}" y="{y + 15}" text-anchor="end" font-size="13" fill="#222">'
            f"{escape(label)}</text>"
            f'<rect x="{LABEL_WIDTH}" y="{y + 3}" width="{max(length, 1)}" height="{BAR_HEIGHT - 6}" '
            f'fill="{COLOURS[i % len(COLOURS)]}"><title>{escape(label)}: {amount:.2f} {escape(currency)}</title></rect>'
            f'<text x="{LABEL_WIDTH + max(length, 1) + 6}" y="{y + 15}" font-size="12" fill="#444">'
            f"{amount:,.2f} {escape(currency)}</text>"
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))
