"""The dashboard's cadence upload: several files analysed as one ON/OFF cadence job.

Pure helpers (testable without widgets): :func:`default_roles` guesses ON/OFF for files in
observing order, :func:`cadence_order` turns the chosen roles into the order the API wants
(ON, OFF, ON, OFF, ...), :func:`event_pngs` unpacks a job's ``events_png`` zip.
:class:`CadencePanel` is the widget on the Upload tab.
"""
from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import ipywidgets as w

ON, OFF = "ON", "OFF"
_ROLE_TOKEN = re.compile(r"(?i)(?:^|[^a-z0-9])(on|off)(?=[^a-z0-9]|$)")
FILTER_LEVELS = [("3: in every ON file, in no OFF file", 3), ("2: in no OFF file", 2),
                 ("1: S/N and drift cuts only", 1)]


@dataclass
class CadenceFile:
    """One chosen file: a path on the server (header read) or a file picked in the browser
    (``browser_index`` into the picker's files; only its name and size are known)."""

    path: Path
    tstart: float | None = None      # MJD of the first spectrum; None: header unreadable
    source_name: str = ""
    problem: str = ""                # why the header could not be read
    size: int = 0                    # bytes (browser files)
    browser_index: int | None = None

    @property
    def name(self) -> str:
        return self.path.name


def role_hint(name: str) -> str | None:
    """'ON' or 'OFF' when the file name says so (``..._ON.fil``, ``off_2.h5``), else None."""
    found = _ROLE_TOKEN.findall(Path(name).stem)
    return found[-1].upper() if found else None


def default_roles(names: list[str], sources: list[str] | None = None) -> list[str]:
    """ON/OFF for files in observing order: the names' own ON/OFF tags when every file has
    one; else ON for every file whose header source name is the first file's (when that
    gives as many ON as OFF files); else alternating ON, OFF, ... from the first."""
    hints = [role_hint(n) for n in names]
    if names and all(hints) and ON in hints and OFF in hints:
        return hints
    if sources and len(sources) == len(names) and all(sources):
        roles = [ON if s == sources[0] else OFF for s in sources]
        if roles.count(ON) == roles.count(OFF):
            return roles
    return [OFF if i % 2 else ON for i in range(len(names))]


def cadence_order(roles: list[str]) -> list[int]:
    """Indices of the files in the order the API takes them: ON, OFF, ON, OFF, ... (the
    k-th ON file, then the k-th OFF file). ValueError unless there are as many OFF files
    as ON files, at least two of each."""
    on = [i for i, r in enumerate(roles) if r == ON]
    off = [i for i, r in enumerate(roles) if r == OFF]
    if len(on) != len(off) or len(on) < 2:
        raise ValueError(f"a cadence needs as many OFF files as ON files, at least 2 of each "
                         f"(ON, OFF, ON, OFF, ...); got {len(on)} ON and {len(off)} OFF")
    return [i for pair in zip(on, off) for i in pair]


def observing_order(files: list[CadenceFile]) -> list[CadenceFile]:
    """The files sorted by start time when every header gave one; files picked in the
    browser (no header) by name (Breakthrough Listen names carry the MJD and time); else
    as chosen."""
    if files and all(f.tstart is not None for f in files):
        return sorted(files, key=lambda f: (f.tstart, f.name))
    if files and all(f.browser_index is not None for f in files):
        return sorted(files, key=lambda f: f.name)
    return list(files)


def read_header(path: Path) -> CadenceFile:
    """A CadenceFile with the start time and source name of ``path``'s header."""
    from mitraseti.io import open_observation

    try:
        with open_observation(path) as obs:
            return CadenceFile(path, float(obs.header.tstart), str(obs.header.source_name))
    except Exception as exc:  # noqa: BLE001 - shown next to the file; the API decides
        return CadenceFile(path, problem=str(exc))


def event_pngs(zip_bytes: bytes) -> list[tuple[str, bytes]]:
    """(name, PNG bytes) of every picture in an ``events_png`` zip, in the zip's order."""
    with zipfile.ZipFile(io.BytesIO(zip_bytes)) as zf:
        return [(n, zf.read(n)) for n in zf.namelist() if n.lower().endswith(".png")]


class CadencePanel(w.VBox):
    """Choose several files, check their ON/OFF roles, submit them as one cadence job.

    Files come from the user's computer (sent by the browser straight to the API, as the
    single-file upload; ordered by name) or as paths on the server (one per line; ordered
    by the start times in their headers). ``dashboard``: the
    :class:`~mitraseti.dashboard.app.Dashboard` (its session, messages, search settings and
    jobs table)."""

    def __init__(self, dashboard, **kwargs):
        from mitraseti.dashboard.browser_upload import BrowserUpload

        self.dashboard = dashboard
        self.files: list[CadenceFile] = []
        self.role_boxes: list[w.Dropdown] = []
        self._plans: list[dict] | None = None
        self.picker = BrowserUpload(multiple=True)
        self.picker.observe(lambda _c: self.load_browser_files(), names="files")
        self.picker.on_sent(self._sent)
        self.picker.on_failed(self._failed)
        self.paths = w.Textarea(placeholder="or paths on the server, one per line",
                                continuous_update=False, layout=w.Layout(width="520px"))
        self.paths.observe(lambda _c: self.load_paths(), names="value")
        self.rows = w.VBox()
        self.order = w.HTML()
        self.filter_level = w.Dropdown(options=FILTER_LEVELS, value=3,
                                       description="filter level")
        self.submit_button = w.Button(description="Upload cadence & analyze",
                                      button_style="success", icon="upload")
        self.submit_button.on_click(lambda _b: self.submit())
        super().__init__([
            w.HTML("<h4>Cadence (ON/OFF)</h4><div style='color:#555;font-size:12px'>Choose "
                   "every file of an ON/OFF cadence (e.g. six for ABACAD): files on your "
                   "computer (put in order by name) or paths on the server (put in "
                   "observing order by their headers). Check ON/OFF (guessed from the file "
                   "names, the header source names, else alternating from the first file). "
                   "Each file counts against the monthly quota.</div>"),
            self.picker, self.paths, self.rows, self.order, self.filter_level,
            self.submit_button], **kwargs)
        self.add_class("cadence-panel")

    # ---- choosing files -----------------------------------------------------------
    def load_browser_files(self) -> list[CadenceFile]:
        """Files picked in the browser (names and sizes): ordered by name, roles guessed."""
        picked = [CadenceFile(Path(f["name"]), size=int(f["size"]), browser_index=i)
                  for i, f in enumerate(self.picker.files)]
        if picked:
            self.paths.value = ""
        return self._show(observing_order(picked))

    def load_paths(self) -> list[CadenceFile]:
        """Paths on the server, one per line: headers read, observing order, roles."""
        lines = [ln.strip() for ln in self.paths.value.splitlines() if ln.strip()]
        if not lines:
            return self.files
        return self._show(observing_order([read_header(Path(ln).expanduser())
                                           for ln in lines]))

    def _show(self, files: list[CadenceFile]) -> list[CadenceFile]:
        from mitraseti.dashboard import format as fmt

        self.files = files
        roles = default_roles([f.name for f in files], [f.source_name for f in files])
        self.role_boxes, rows = [], []
        for f, role in zip(files, roles):
            box = w.Dropdown(options=[ON, OFF], value=role, layout=w.Layout(width="80px"))
            box.observe(lambda _c: self.show_order(), names="value")
            self.role_boxes.append(box)
            if f.problem:
                info = f"<span style='color:#a00'>{fmt.esc(f.problem)}</span>"
            elif f.browser_index is not None:
                info = f"{fmt.size(f.size)}, from this computer"
            else:
                info = f"{fmt.esc(f.source_name)}, start MJD {f.tstart:.6f}"
            rows.append(w.HBox([box, w.HTML(f"<code>{fmt.esc(f.name)}</code> ({info})")],
                               layout=w.Layout(align_items="center")))
        self.rows.children = rows
        self.show_order()
        return files

    @property
    def roles(self) -> list[str]:
        return [b.value for b in self.role_boxes]

    def show_order(self) -> None:
        """Show the order the files will be sent in, or why the roles do not work."""
        from mitraseti.dashboard import format as fmt

        if not self.files:
            self.order.value = ""
            return
        try:
            order = cadence_order(self.roles)
        except ValueError as exc:
            self.order.value = (f"<div class='cadence-order' style='color:#a00'>"
                                f"{fmt.esc(exc)}</div>")
            return
        names = ", ".join(f"{self.roles[i]} {fmt.esc(self.files[i].name)}" for i in order)
        self.order.value = f"<div class='cadence-order'>sent as: {names}</div>"

    # ---- submitting -----------------------------------------------------------------
    def _params(self) -> dict:
        d = self.dashboard
        return {"filter_level": self.filter_level.value,
                "source_name": d.source_name.value.strip() or None,
                "max_drift": d.max_drift.value, "snr": d.snr.value}

    def submit(self) -> dict | None:
        """Start the cadence: server paths are uploaded from here and the job returned;
        browser files are sent by the browser (the job follows, None now). None after an
        error (shown as a message)."""
        d = self.dashboard
        with d.lock:
            try:
                if d.session is None:
                    raise RuntimeError("sign in first")
                if not self.files:
                    raise ValueError("choose the files of the cadence first")
                ordered = [self.files[i] for i in cadence_order(self.roles)]
                if ordered[0].browser_index is not None:
                    self._plans = [d.session.plan_browser_upload(f.name, f.size)
                                   for f in ordered]
                    self.picker.start([{"index": f.browser_index, "pieces": plan["pieces"]}
                                       for f, plan in zip(ordered, self._plans)])
                    d.show_info(f"the browser is sending the {len(ordered)} cadence files")
                    return None
                d.upload_progress.value = 0.0
                job = d.session.submit_cadence([f.path for f in ordered],
                                               progress=d._on_progress, **self._params())
            except Exception as exc:  # noqa: BLE001 - a readable message, never a traceback
                d.show_error(exc, "cadence upload")
                return None
            return self._submitted(job, len(ordered))

    def _sent(self, etags: list[dict]) -> dict | None:
        """Every file was sent by the browser: complete the uploads, start the job."""
        d = self.dashboard
        with d.lock:
            plans, self._plans = self._plans, None
            if plans is None:
                return None
            try:
                job = d.session.finish_browser_cadence(plans, etags, **self._params())
            except Exception as exc:  # noqa: BLE001 - a readable message, never a traceback
                self.picker.finish(str(exc), ok=False)
                d.show_error(exc, "cadence upload")
                for plan in plans:
                    d.session.abort_browser_upload(plan)
                return None
            self.picker.finish(f"submitted cadence job {job['job_id']}")
            return self._submitted(job, len(plans))

    def _failed(self, message: str) -> None:
        d = self.dashboard
        with d.lock:
            plans, self._plans = self._plans, None
            d.show_error(RuntimeError(message), "cadence upload")
            for plan in plans or []:
                try:
                    d.session.abort_browser_upload(plan)
                except Exception:  # noqa: BLE001 - the message above says what failed
                    pass

    def _submitted(self, job: dict, n_files: int) -> dict:
        d = self.dashboard
        d.show_info(f"cadence job {job['job_id']} submitted ({n_files} files)")
        self.files, self.role_boxes, self.rows.children = [], [], ()
        self.order.value = ""
        self.paths.value = ""
        d.refresh_jobs()
        d.show_tab("Jobs")
        return job
