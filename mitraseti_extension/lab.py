"""``mitraseti lab``: JupyterLab on the project's notebooks, with the extension active.

    mitraseti lab [--dir DIR] [--port 8888] [--ip 127.0.0.1] [--open dashboard.ipynb]
                  [--no-browser] [--data-dir DIR] [-- JUPYTER_ARGS...]

Opens the notebooks folder (the source tree's ``notebooks/``, or for a regular install a
copy of ``<prefix>/share/mitraseti/notebooks`` made in ``./mitraseti-notebooks``) in
JupyterLab, with ``--open`` shown first (default: the dashboard notebook, where jobs live).
When Jupyter's config path does not enable the extension yet (an editable install made
without ``make install``), it is enabled in this environment first, and that is said. The
REST API is then at ``<lab url>/mitraseti/api``; notebook kernels reach it with the
server's token (see :mod:`mitraseti_extension.mount`).

Registered in the ``mitraseti.cli`` entry-point group; imports only the standard library
until the command runs.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

DEFAULT_OPEN = "dashboard.ipynb"
COPY_NAME = "mitraseti-notebooks"


def register(subparsers) -> None:
    """Add ``lab`` to the ``mitraseti`` command's sub-parsers."""
    p = subparsers.add_parser("lab", help="open JupyterLab on the notebooks, with the "
                              "MitraSETI API and dashboard inside")
    p.add_argument("--dir", default=None, help="folder JupyterLab opens (default: the "
                   "notebooks folder, or a copy of the installed notebooks)")
    p.add_argument("--ip", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8888, help="TCP port (default 8888)")
    p.add_argument("--open", default=DEFAULT_OPEN, help="notebook shown first "
                   f"(default {DEFAULT_OPEN}; '' for JupyterLab's launcher)")
    p.add_argument("--no-browser", action="store_true", help="do not open a web browser")
    p.add_argument("--data-dir", default=None, help="MitraSETI data folder (default: "
                   "$MITRASETI_DATA_DIR or ~/.mitraseti)")
    p.add_argument("jupyter_args", nargs=argparse.REMAINDER,
                   help="after --: more options for JupyterLab")
    p.set_defaults(func=cmd_lab, default_log_level="INFO")


def notebooks_root(target: str | Path | None = None) -> Path:
    """Folder to open: ``target``; else the source tree's notebooks when writable; else a
    copy of the installed notebooks in ``./mitraseti-notebooks`` (existing files kept)."""
    from mitraseti.dashboard.launch import dashboard_path

    if target is not None:
        return Path(target).resolve()
    found = dashboard_path().parent
    if os.access(found, os.W_OK):
        return found
    copy = Path.cwd() / COPY_NAME
    copy.mkdir(exist_ok=True)
    for nb in sorted(found.glob("*.ipynb")):
        if not (copy / nb.name).exists():
            shutil.copy2(nb, copy / nb.name)
    return copy


def lab_command(root: Path, ip: str = "127.0.0.1", port: int = 8888,
                open_name: str = DEFAULT_OPEN, no_browser: bool = False,
                extra: list[str] | None = None) -> list[str]:
    """The ``python -m jupyterlab ...`` command line for ``root``."""
    cmd = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={root}",
           f"--ServerApp.ip={ip}", f"--ServerApp.port={int(port)}"]
    if open_name:
        cmd.append(f"--LabApp.default_url=/lab/tree/{open_name}")
    if no_browser:
        cmd.append("--no-browser")
    extra = list(extra or [])
    return cmd + (extra[1:] if extra[:1] == ["--"] else extra)


def cmd_lab(args) -> int:
    from mitraseti_extension.enable import enable, is_enabled

    if not is_enabled():
        print(f"mitraseti lab: enabled the MitraSETI Jupyter extension in {enable()}",
              file=sys.stderr)
    root = notebooks_root(args.dir)
    if args.data_dir:
        os.environ["MITRASETI_DATA_DIR"] = str(Path(args.data_dir).resolve())
    cmd = lab_command(root, args.ip, args.port, args.open, args.no_browser, args.jupyter_args)
    print(f"mitraseti lab: JupyterLab on {root}", file=sys.stderr)
    sys.stderr.flush()
    os.execv(cmd[0], cmd)
    return 0    # not reached
