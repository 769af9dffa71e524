"""HTML tables shared by the waterfall explorer and the dashboard (pure functions).

Every value is escaped; ``candidates_html`` lists hits with their class colour.
"""
from __future__ import annotations

import html
from typing import Any, Iterable

from mitraseti.widgets.hits import colour_of

TABLE_STYLE = ("border-collapse:collapse;font-size:12px;font-family:sans-serif;"
               "min-width:60%")
CELL = "padding:3px 8px;border-bottom:1px solid #ddd;text-align:left"


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def table(headers: list[str], rows: Iterable[list[str]], css_class: str = "") -> str:
    """An HTML table; ``rows`` cells are already-escaped HTML."""
    head = "".join(f"<th style='{CELL}'>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td style='{CELL}'>{c}</td>" for c in r) + "</tr>"
                   for r in rows)
    return (f"<table class='{esc(css_class)}' style='{TABLE_STYLE}'><thead><tr>{head}</tr>"
            f"</thead><tbody>{body}</tbody></table>")


def candidates_html(hits: list[dict], limit: int = 50) -> str:
    """Candidates (or any hits) as a table, in the given order; confidence shows "–"
    when the entry does not carry one."""
    if not hits:
        return "<div class='candidates-table'><i>no candidates</i></div>"
    rows = []
    for i, h in enumerate(hits[:limit]):
        label = h.get("classification") or ""
        swatch = (f"<span style='display:inline-block;width:10px;height:10px;"
                  f"background:{colour_of(label)};margin-right:4px'></span>")
        rows.append([str(i + 1), f"{float(h.get('frequency_hz', 0)) / 1e6:.6f}",
                     f"{float(h.get('drift_rate', 0)):.4f}", f"{float(h.get('snr', 0)):.1f}",
                     swatch + esc(label),
                     "–" if h.get("confidence") is None else f"{float(h['confidence']):.2f}",
                     f"{float(h.get('interestingness', 0) or 0):.2f}",
                     esc(h.get("rfi_source", "")), esc(h.get("source", ""))])
    return table(["#", "frequency (MHz)", "drift (Hz/s)", "S/N", "class", "confidence",
                  "interestingness", "RFI source", "detector"], rows, "candidates-table")
