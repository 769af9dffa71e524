"""HTML fragments for the dashboard: tables, counts and readable error messages.

Pure functions (no widgets, no network) so they are easy to test; every value that comes
from the API is escaped.
"""
from __future__ import annotations

import datetime as _dt
import json
from typing import Any

from mitraseti.client import MitraSETIAPIError
from mitraseti.widgets.hits import colour_of
# tables shared with the waterfall explorer (re-exported for the dashboard's modules)
from mitraseti.widgets.tables import candidates_html, esc, table  # noqa: F401

STATUS_COLOURS = {"submitted": "#777", "processing": "#1f77b4", "complete": "#2ca02c",
                  "failed": "#d62728", "cancelled": "#8c564b"}


def when(ts: Any) -> str:
    """Unix seconds as 'YYYY-MM-DD HH:MM:SS' UTC; '' when missing."""
    if ts in (None, "", 0):
        return ""
    try:
        return _dt.datetime.fromtimestamp(float(ts), _dt.timezone.utc).strftime(
            "%Y-%m-%d %H:%M:%S")
    except (TypeError, ValueError, OverflowError):
        return str(ts)


def size(n: Any) -> str:
    """Bytes as a human-readable size."""
    try:
        n = float(n)
    except (TypeError, ValueError):
        return ""
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return ""


def error_message(exc: BaseException, action: str = "") -> str:
    """A one-line, human-readable description of what went wrong (no traceback)."""
    prefix = f"{action} failed: " if action else ""
    if isinstance(exc, MitraSETIAPIError):
        extra = ""
        if isinstance(exc.body, dict):
            ctx = {k: v for k, v in exc.body.items() if k != "error"}
            if ctx:
                extra = " (" + ", ".join(f"{k}: {_short(v)}" for k, v in ctx.items()) + ")"
        return f"{prefix}HTTP {exc.status}: {exc.error}{extra}"
    name = type(exc).__name__
    text = str(exc) or name
    if "ConnectionError" in name or "Connection refused" in text:
        return f"{prefix}cannot reach the API ({text})"
    return f"{prefix}{text}"


def _short(v: Any) -> str:
    s = v if isinstance(v, str) else json.dumps(v)
    return s if len(s) <= 120 else s[:117] + "..."


def error_html(exc: BaseException, action: str = "") -> str:
    return (f"<div class='mitraseti-error' style='color:#a00;background:#fee;padding:6px;"
            f"border:1px solid #d99;border-radius:4px'>{esc(error_message(exc, action))}"
            f"</div>")


def info_html(text: str) -> str:
    return f"<div class='mitraseti-info' style='color:#064;padding:4px'>{esc(text)}</div>"


def status_badge(status: str) -> str:
    colour = STATUS_COLOURS.get(status, "#555")
    return (f"<span class='job-status' style='color:white;background:{colour};"
            f"padding:1px 6px;border-radius:3px'>{esc(status)}</span>")


def counts_html(job: dict) -> str:
    """The job's headline numbers (raw / filtered hits, candidates, processing time)."""
    r = job.get("results") or {}
    items = [("raw hits", r.get("raw_hits")), ("filtered hits", r.get("filtered_hits")),
             ("candidates", r.get("candidates")),
             ("processing time", f"{float(r.get('processing_time_seconds') or 0):.1f} s")]
    if "events" in r:                                   # a cadence job
        items.insert(3, ("cadence events", r["events"]))
    cells = "".join(f"<div class='count' style='display:inline-block;margin-right:24px'>"
                    f"<div style='font-size:20px;font-weight:bold'>{esc(v)}</div>"
                    f"<div style='color:#666'>{esc(k)}</div></div>" for k, v in items)
    return f"<div class='job-counts'>{cells}</div>"


def with_signal_fields(candidates: list[dict], signals: list[dict]) -> list[dict]:
    """Top candidates (API fields only) completed with the fields of the matching signal
    of results.json (``confidence``, ...), matched on frequency and drift rate."""
    by_key = {(s.get("frequency_hz"), s.get("drift_rate")): s for s in signals or []}
    return [{**by_key.get((c.get("frequency_hz"), c.get("drift_rate")), {}), **c}
            for c in candidates]


def events_html(events: list[dict], limit: int = 50) -> str:
    """A cadence job's ``top_events`` as a table, best first: frequency (MHz), drift
    (Hz/s), S/N in each ON file ('–' where not found), label and filter level."""
    if not events:
        return "<div class='events-table'><i>no events</i></div>"
    rows = []
    for e in events[:limit]:
        label = e.get("classification") or ""
        swatch = (f"<span style='display:inline-block;width:10px;height:10px;"
                  f"background:{colour_of(label)};margin-right:4px'></span>")
        snrs = " / ".join("–" if m is None or m.get("snr") is None else f"{float(m['snr']):.1f}"
                          for m in e.get("on_hits") or [])
        rows.append([esc(e.get("event_id")), f"{float(e.get('frequency_hz', 0)) / 1e6:.6f}",
                     f"{float(e.get('drift_rate', 0)):.4f}", esc(snrs), swatch + esc(label),
                     esc(e.get("filter_level")), esc(e.get("rfi_source", ""))])
    return table(["event", "frequency (MHz)", "drift (Hz/s)", "S/N per ON file", "class",
                  "level", "RFI source"], rows, "events-table")


def usage_html(usage: dict) -> str:
    details = usage.get("tier_details") or {}
    rows = [["tier", esc(usage.get("tier"))],
            ["files this month", f"{esc(usage.get('usage_this_month'))} of "
                                f"{esc(usage.get('limit'))}"],
            ["remaining", esc(usage.get("remaining"))]]
    rows += [[esc(k.replace("_", " ")), esc(v)] for k, v in details.items()]
    return table(["quota", "value"], rows, "usage-table")


def keys_rows(keys: list[dict], now: float) -> list[list[str]]:
    rows = []
    for k in keys:
        state = ("revoked" if not k.get("active", True) else
                 "expired" if k.get("expired") else "active")
        days = (float(k.get("expires_at") or 0) - now) / 86400
        rows.append([esc(k.get("key_id")), esc(k.get("name")), when(k.get("created_at")),
                     f"{when(k.get('expires_at'))} ({days:.0f} d)" if state == "active"
                     else when(k.get("expires_at")), esc(state)])
    return rows
