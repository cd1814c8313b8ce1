"""Server-side SVG charts (no JavaScript, nothing from a CDN): a line chart of series over time and a horizontal
bar chart. Every text is escaped; the markup is built with ``format_html``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

__all__ = ["PALETTE", "bar_chart", "line_chart"]

PALETTE = ("#2563eb", "#16a34a", "#dc2626", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563")


def _fmt(value: float, percent: bool) -> str:
    return f"{value:.0%}" if percent else (f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.2f}")


def line_chart(
    series: Mapping[str, Sequence[tuple[datetime, float | None]]],
    *,
    title: str,
    start: datetime,
    end: datetime,
    percent: bool = False,
    y_max: float | None = None,
    width: int = 560,
    height: int = 200,
    time_format: str = "%d %b",
) -> SafeString:
    """Series (name → [(time, value)]) on a shared time axis from ``start`` to ``end``; a legend per series."""
    left, right, top, bottom = 44, 12, 24, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for points in series.values() for _, v in points if v is not None]
    top_value = y_max if y_max is not None else (max(values) if values else 1.0) or 1.0
    span = max((end - start).total_seconds(), 1.0)

    def x(t: datetime) -> float:
        return left + plot_w * min(max((t - start).total_seconds() / span, 0.0), 1.0)

    def y(v: float) -> float:
        return top + plot_h * (1 - min(v / top_value, 1.0))

    parts = [
        format_html('<text x="{}" y="16" class="chart-title">{}</text>', left, title),
        format_html(
            '<line x1="{}" y1="{}" x2="{}" y2="{}" class="axis"/><line x1="{}" y1="{}" x2="{}" y2="{}" class="axis"/>',
            left, top, left, top + plot_h, left, top + plot_h, left + plot_w, top + plot_h,
        ),
    ]  # fmt: skip
    for fraction in (0.0, 0.5, 1.0):
        parts.append(
            format_html(
                '<text x="{}" y="{}" class="tick" text-anchor="end">{}</text>',
                left - 4, f"{y(top_value * fraction) + 4:.1f}", _fmt(top_value * fraction, percent),
            )
        )  # fmt: skip
    for t in (start, end):
        parts.append(
            format_html(
                '<text x="{}" y="{}" class="tick" text-anchor="{}">{}</text>',
                f"{x(t):.1f}", height - bottom + 16, "start" if t is start else "end", t.strftime(time_format),
            )
        )  # fmt: skip
    for index, (name, points) in enumerate(sorted(series.items())):
        colour = PALETTE[index % len(PALETTE)]
        coords = [(x(t), y(v)) for t, v in points if v is not None]
        if len(coords) > 1:
            parts.append(
                format_html(
                    '<polyline fill="none" stroke="{}" stroke-width="2" points="{}"><title>{}</title></polyline>',
                    colour, " ".join(f"{a:.1f},{b:.1f}" for a, b in coords), name,
                )
            )  # fmt: skip
        parts.append(
            format_html_join(
                "",
                '<circle cx="{}" cy="{}" r="3" fill="{}"><title>{}</title></circle>',
                ((f"{a:.1f}", f"{b:.1f}", colour, f"{name}: {_fmt(v, percent)} at {t:%Y-%m-%d %H:%M}")
                 for (a, b), (t, v) in zip(coords, [p for p in points if p[1] is not None], strict=True)),
            )
        )  # fmt: skip
        parts.append(
            format_html(
                '<rect x="{}" y="{}" width="10" height="10" fill="{}"/><text x="{}" y="{}" class="legend">{}</text>',
                left + 8 + index * 110, height - 12, colour, left + 22 + index * 110, height - 3, name,
            )
        )  # fmt: skip
    if not values:
        parts.append(
            format_html('<text x="{}" y="{}" class="empty">no data in this period</text>', left + 12, top + plot_h / 2)
        )
    body = mark_safe("".join(str(p) for p in parts))  # every part went through format_html
    return format_html(
        '<svg class="ops-chart" role="img" aria-label="{}" width="{}" height="{}" viewBox="0 0 {} {}" '
        'xmlns="http://www.w3.org/2000/svg">{}</svg>',
        title, width, height, width, height, body,
    )  # fmt: skip


def bar_chart(
    bars: Sequence[tuple[str, float]], *, title: str, percent: bool = False, width: int = 560, bar_height: int = 18
) -> SafeString:
    """Horizontal bars (label, value), scaled to the largest."""
    left, top = 150, 24
    height = top + len(bars) * (bar_height + 6) + 8
    largest = max((v for _, v in bars), default=0) or 1
    parts = [format_html('<text x="0" y="16" class="chart-title">{}</text>', title)]
    for index, (label, value) in enumerate(bars):
        y = top + index * (bar_height + 6)
        length = (width - left - 60) * value / largest
        parts.append(
            format_html(
                '<text x="{}" y="{}" class="tick" text-anchor="end">{}</text>'
                '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}: {}</title></rect>'
                '<text x="{}" y="{}" class="tick">{}</text>',
                left - 6, y + bar_height - 5, label,
                left, y, f"{length:.1f}", bar_height, PALETTE[index % len(PALETTE)], label, _fmt(value, percent),
                f"{left + length + 4:.1f}", y + bar_height - 5, _fmt(value, percent),
            )
        )  # fmt: skip
    if not bars:
        parts.append(format_html('<text x="0" y="{}" class="empty">nothing to show</text>', top + 14))
        height = top + 24
    body = mark_safe("".join(str(p) for p in parts))  # every part went through format_html
    return format_html(
        '<svg class="ops-chart" role="img" aria-label="{}" width="{}" height="{}" viewBox="0 0 {} {}" '
        'xmlns="http://www.w3.org/2000/svg">{}</svg>',
        title, width, height, width, height, body,
    )  # fmt: skip
