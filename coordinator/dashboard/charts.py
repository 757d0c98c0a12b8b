"""Charts as inline SVG, drawn on the server (no script, no external library).

Each chart is an ``<svg role="img">`` with a ``<title>``; the page shows the same numbers
in a table next to it. Hidden (suppressed) counts are drawn as an outlined bar up to the
bound ``k`` and labelled ``"<k"``, so the picture never says more than the table.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

from coordinator.dashboard.aggregates import Cell

_BAR = "#2f6f9f"
_HIDDEN = "#9aa5b1"
_TEXT = "#1f2933"


def _svg(width: int, height: int, title: str, body: list[str]) -> Markup:
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" class="chart"><title>{escape(title)}</title>'
    )
    return Markup(head + "".join(body) + "</svg>")


def _text(x: float, y: float, text: str, anchor: str = "start", size: int = 13) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" fill="{_TEXT}" '
        f'text-anchor="{anchor}">{escape(text)}</text>'
    )


def _bar(x: float, y: float, w: float, h: float, hidden: bool) -> str:
    if hidden:
        return (
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" fill="none" '
            f'stroke="{_HIDDEN}" stroke-dasharray="4 3"/>'
        )
    return f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" fill="{_BAR}"/>'


def bar_chart(items: Sequence[tuple[str, Cell]], title: str, k: int) -> Markup:
    """Horizontal bars: one per (label, count)."""
    width, label_w, row_h = 560, 150, 30
    height = row_h * len(items) + 10
    top = max([k] + [c.value for _, c in items if not c.hidden]) or 1
    span = width - label_w - 90
    body: list[str] = []
    for i, (label, cell) in enumerate(items):
        y = 5 + i * row_h
        length = span * ((k if cell.hidden else cell.value) / top)
        body.append(_text(label_w - 8, y + 19, label, "end"))
        body.append(_bar(label_w, y + 4, max(length, 1), row_h - 10, cell.hidden))
        body.append(_text(label_w + max(length, 1) + 6, y + 19, cell.text))
    return _svg(width, height, title, body)


def heat_matrix(bodies: Sequence[str], cells: Sequence[Sequence[Cell]], title: str) -> Markup:
    """Body × body matrix; darker cells share more groups."""
    n = len(bodies)
    size, left, top_margin = 64, 110, 70
    width, height = left + n * size + 10, top_margin + n * size + 10
    top = max([c.value for row in cells for c in row if not c.hidden] + [1])
    body: list[str] = []
    for j, name in enumerate(bodies):
        body.append(_text(left + j * size + size / 2, top_margin - 12, name, "middle"))
    for i, name in enumerate(bodies):
        y = top_margin + i * size
        body.append(_text(left - 8, y + size / 2 + 5, name, "end"))
        for j in range(n):
            cell = cells[i][j]
            x = left + j * size
            if cell.hidden:
                fill, ink = "#e4e7eb", _TEXT
            else:
                share = cell.value / top
                level = int(245 - 170 * share)
                fill = f"rgb({level},{min(255, level + 20)},255)"
                ink = "#ffffff" if share > 0.6 else _TEXT
            body.append(
                f'<rect x="{x}" y="{y}" width="{size - 2}" height="{size - 2}" fill="{fill}"/>'
            )
            body.append(
                f'<text x="{x + size / 2 - 1:.1f}" y="{y + size / 2 + 4:.1f}" font-size="12" '
                f'fill="{ink}" text-anchor="middle">{escape(cell.text)}</text>'
            )
    return _svg(width, height, title, body)


def upset(
    bodies: Sequence[str],
    intersections: Sequence[tuple[tuple[str, ...], Cell]],
    title: str,
    k: int,
    limit: int = 15,
) -> Markup:
    """UpSet-style chart: a bar per exact set of bodies, dots below saying which set."""
    shown = list(intersections[:limit])
    n = len(bodies)
    col, left, bar_h, dot_gap = 34, 110, 150, 24
    width = left + col * max(len(shown), 1) + 20
    height = bar_h + 30 + n * dot_gap + 10
    top = max([k] + [c.value for _, c in shown if not c.hidden]) or 1
    body: list[str] = []
    for i, (combo, cell) in enumerate(shown):
        x = left + i * col + 6
        h = bar_h * ((k if cell.hidden else cell.value) / top)
        body.append(_bar(x, 20 + bar_h - h, col - 12, max(h, 1), cell.hidden))
        body.append(_text(x + (col - 12) / 2, 14 + bar_h - h, cell.text, "middle", 11))
        ys = []
        for r, name in enumerate(bodies):
            y = bar_h + 40 + r * dot_gap
            on = name in combo
            if on:
                ys.append(y)
            colour = _TEXT if on else "#d2d6dc"
            body.append(f'<circle cx="{x + (col - 12) / 2:.1f}" cy="{y}" r="6" fill="{colour}"/>')
        if len(ys) > 1:
            cx = x + (col - 12) / 2
            body.append(
                f'<line x1="{cx:.1f}" y1="{ys[0]}" x2="{cx:.1f}" y2="{ys[-1]}" '
                f'stroke="{_TEXT}" stroke-width="2"/>'
            )
    for r, name in enumerate(bodies):
        body.append(_text(left - 10, bar_h + 45 + r * dot_gap, name, "end"))
    return _svg(width, height, title, body)
