"""``BrowserUpload``: a file picker whose file goes from the browser straight to the API.

A small anywidget (its JS module is ``static/browser_upload.js``). The user picks a file in
the browser; the kernel learns only its name and size, asks the REST API for upload URLs
(:meth:`DashboardSession.plan_browser_upload`) and sends them to the browser with
:meth:`start`; the browser PUTs the file's pieces itself (three at a time, each retried up
to three times) and reports their ETags, or why it failed. So the kernel never holds the
file and the size is limited only by the tier (no websocket message limit). The widget shows
the limit (``limit_bytes``) and a progress bar; ``sent_bytes`` follows the upload (reported
about four times a second). The browser sets the file fields when a file is picked; from
:meth:`start` on, the kernel owns ``state``, ``sent_bytes`` and ``message``, updated from the
browser's messages (custom messages arrive in order; synced attributes may arrive late).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import anywidget
import traitlets

STATES = ("empty", "chosen", "uploading", "finishing", "done", "error")


class BrowserUpload(anywidget.AnyWidget):
    """File picker + progress bar; the browser sends the file to the URLs it is given."""

    _esm = Path(__file__).with_name("static") / "browser_upload.js"
    accept = traitlets.Unicode(".fil,.h5").tag(sync=True)
    multiple = traitlets.Bool(False).tag(sync=True)      # several files may be picked
    limit_bytes = traitlets.Int(0).tag(sync=True)        # per file; 0: unknown
    files = traitlets.List(traitlets.Dict()).tag(sync=True)   # [{name, size}] as picked
    file_name = traitlets.Unicode("").tag(sync=True)     # the name, or "N files"
    file_size = traitlets.Int(0).tag(sync=True)          # bytes, all files
    sent_bytes = traitlets.Int(0).tag(sync=True)
    state = traitlets.Enum(STATES, "empty").tag(sync=True)
    message = traitlets.Unicode("").tag(sync=True)
    parallel = traitlets.Int(3).tag(sync=True)           # pieces in flight at once

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._on_sent: list[Callable[[list[dict]], None]] = []
        self._on_failed: list[Callable[[str], None]] = []
        self.on_msg(self._receive)

    @property
    def chosen(self) -> bool:
        """Files are picked and not being sent."""
        return self.state == "chosen" and bool(self.files)

    def start(self, uploads: list[dict]) -> None:
        """Ask the browser to PUT picked files, one after the other: ``uploads``
        [{index (into ``files``), pieces: [{partNumber, url, offset, length}]}]."""
        self.state, self.sent_bytes, self.message = "uploading", 0, ""
        self.send({"type": "start", "uploads": uploads, "parallel": int(self.parallel)})

    def finish(self, message: str, ok: bool = True) -> None:
        """Show the outcome after the kernel completed (or gave up on) the upload."""
        self.state, self.message = ("done" if ok else "error"), message
        if ok:
            self.send({"type": "reset"})

    def on_sent(self, callback: Callable[[list[dict]], None]) -> None:
        """``callback(etags)`` when every piece is sent: one {partNumber: ETag} per upload,
        in the order given to :meth:`start`."""
        self._on_sent.append(callback)

    def on_failed(self, callback: Callable[[str], None]) -> None:
        """``callback(message)`` when the browser gave up."""
        self._on_failed.append(callback)

    def _receive(self, _widget, content: dict, _buffers) -> None:
        kind = content.get("type")
        if kind == "progress" and self.state == "uploading":
            self.sent_bytes = int(content.get("sent") or 0)
        elif kind == "sent":
            self.sent_bytes, self.state = self.file_size, "finishing"
            for cb in self._on_sent:
                cb([dict(e or {}) for e in content.get("etags") or []])
        elif kind == "failed":
            self.state = "error"
            self.message = str(content.get("message") or "upload failed")
            for cb in self._on_failed:
                cb(self.message)
