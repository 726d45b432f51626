"""Pure SVG charts rendered server-side (no JavaScript, no CDN): a small daily line chart."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from markupsafe import Markup, escape

PALETTE = ("#1f6f8b", "#2e8b57", "#c0392b", "#8e44ad", "#d35400")


def line_chart(
    days: Sequence[str],
    series: Mapping[str, Sequence[int]],
    *,
    labels: Mapping[str, str] | None = None,
    width: int = 720,
    height: int = 240,
) -> Markup:
    """An accessible SVG line chart: one line per series over `days` (labels), with a legend.

    `series` is keyed by a stable name (kept in `data-series` for scripts and tests); `labels`
    gives the words shown for each. Every label is escaped; returns Markup safe to insert in an
    autoescaped template.
    """
    labels = labels or {}
    left, right, top, bottom = 44, 12, 16, 46
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max([1, *(v for values in series.values() for v in values)])
    n = max(len(days), 1)

    def x(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v: int) -> float:
        return top + plot_h - plot_h * v / peak

    title = ", ".join(labels.get(k, k) for k in series)
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="100%" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#999"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#999"/>',
        f'<text x="{left - 6}" y="{top + 4}" text-anchor="end" font-size="11">{peak}</text>',
        f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end" font-size="11">0</text>',
    ]
    step = max(1, n // 8)
    for i, day in enumerate(days):
        if i % step == 0 or i == n - 1:
            parts.append(
                f'<text x="{x(i):.1f}" y="{top + plot_h + 16}" text-anchor="middle" font-size="10">'
                f"{escape(day[5:])}</text>"
            )
    for k, (key, values) in enumerate(series.items()):
        name = labels.get(key, key)
        color = PALETTE[k % len(PALETTE)]
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
        if points:
            parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{points}"/>')
            for i, v in enumerate(values):
                parts.append(
                    f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="2.5" fill="{color}" '
                    f'data-series="{escape(key)}" data-day="{escape(days[i])}" data-value="{v}">'
                    f"<title>{escape(name)} {escape(days[i])}: {v}</title></circle>"
                )
        lx = left + k * 140
        parts.append(f'<rect x="{lx}" y="{height - 14}" width="10" height="10" fill="{color}"/>')
        parts.append(f'<text x="{lx + 14}" y="{height - 5}" font-size="11">{escape(name)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def bar_chart(
    bars: Sequence[tuple[str, str, int]], *, title: str, width: int = 720, bar_height: int = 30
) -> Markup:
    """An accessible horizontal SVG bar chart (a funnel): one bar per (key, label, value), in order.

    `key` is kept in `data-bar` (scripts and tests read the value in `data-value`); labels are
    escaped; returns Markup safe to insert in an autoescaped template.
    """
    left, right, gap = 150, 60, 8
    plot_w = width - left - right
    height = gap + len(bars) * (bar_height + gap)
    peak = max([1, *(value for _key, _label, value in bars)])
    parts = [
        f'<svg class="chart bars" role="img" viewBox="0 0 {width} {height}" width="100%" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    ]
    for i, (key, label, value) in enumerate(bars):
        y = gap + i * (bar_height + gap)
        w = plot_w * value / peak
        color = PALETTE[i % len(PALETTE)]
        parts.append(
            f'<text x="{left - 8}" y="{y + bar_height * 0.65:.1f}" text-anchor="end" font-size="13">'
            f"{escape(label)}</text>"
            f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar_height}" fill="{color}" '
            f'data-bar="{escape(key)}" data-value="{value}"><title>{escape(label)}: {value}</title></rect>'
            f'<text x="{left + w + 6:.1f}" y="{y + bar_height * 0.65:.1f}" font-size="13">{value}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
