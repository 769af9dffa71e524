"""What the commands share on the console: the program name, bad-input errors reported on
one line, the progress bar of a run and its summary (``mitraseti analyze`` and a batch).
Imports cheaply (no numpy; tqdm only when a bar is made)."""
from __future__ import annotations

import sys
from pathlib import Path

from mitraseti.errors import InputError

PROG = "mitraseti"
# overall progress bar span of each stage (dedoppler and classify interleave per channel)
STAGE_SPAN = {"ingest": (0.0, 0.02), "dedoppler": (0.02, 0.9), "classify": (0.02, 0.9),
              "export": (0.9, 1.0)}


class CliError(InputError):
    """Bad input or parameters: reported on one line, exit status 2."""


def input_errors(args=None) -> tuple[type[BaseException], ...]:
    """Exceptions that mean "bad input or parameters" (exit 2): every
    :class:`~mitraseti.errors.InputError`, missing or unreadable files, and the command's
    own ``input_errors``."""
    return (InputError, FileNotFoundError, IsADirectoryError, PermissionError) + \
        tuple(getattr(args, "input_errors", ()))


def _failed_module(exc: ImportError) -> str:
    """The module whose import failed: ``exc.name``, else the innermost module whose code
    was running when the error was raised."""
    if exc.name:
        return exc.name
    name = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_name == "<module>":
            name = tb.tb_frame.f_globals.get("__name__")
        tb = tb.tb_next
    return name or "an unknown module"


def import_problem(exc: BaseException) -> str:
    """One line: ``cannot import MODULE (Type: message)`` for an ImportError, else
    ``Type: message``."""
    detail = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
    if isinstance(exc, ImportError):
        return f"cannot import {_failed_module(exc)} ({detail})"
    return detail


class ProgressBar:
    """A tqdm bar over one run (0..100 %), fed by pipeline progress callbacks. ``position``
    and ``leave`` as in tqdm (a batch stacks one bar per file)."""

    def __init__(self, enabled: bool = True, position: int | None = None,
                 leave: bool = False, desc: str | None = None) -> None:
        from tqdm import tqdm  # a terminal bar (tqdm.auto would look for Jupyter first)

        self.prefix = f"{desc}: " if desc else ""
        self.started = False
        self.bar = tqdm(total=100, unit="%", disable=not enabled or None, leave=leave,
                        position=position, desc=desc,
                        bar_format="{l_bar}{bar}| {n:.0f}% [{elapsed}<{remaining}]",
                        file=sys.stderr)

    def __call__(self, stage: str, fraction: float, message: str) -> None:
        if not self.started:            # a queued file's clock starts with its first news
            self.started = True
            self.bar.reset(total=100)
        lo, hi = STAGE_SPAN.get(stage, (0.0, 1.0))
        self.advance(100.0 * (lo + (hi - lo) * max(0.0, min(1.0, float(fraction)))))
        self.bar.set_description_str(self.prefix + stage, refresh=False)
        self.bar.set_postfix_str(message[:60])

    def advance(self, percent: float) -> None:
        """Move forward to ``percent`` (never back)."""
        if percent > self.bar.n:
            self.bar.update(percent - self.bar.n)

    def close(self) -> None:
        self.bar.close()


def print_summary(result, out_dir: Path, stream=None) -> None:
    """A short human summary of a PipelineResult."""
    stream = stream or sys.stdout
    s = result.summary()
    t = ", ".join(f"{k} {v:.2f} s" for k, v in result.timings.items())
    print(f"{result.file_name} ({result.source_name}): {s['raw_hits']} raw hits, "
          f"{s['filtered_hits']} signals, {s['candidates']} candidates in "
          f"{s['processing_time_seconds']:.2f} s ({t})", file=stream)
    counts = result.class_counts()
    if counts:
        print("classes: " + ", ".join(f"{k} {v}" for k, v in counts.items()), file=stream)
    for i, c in enumerate(s["top_candidates"][:5]):
        print(f"  #{i} {c['frequency_hz'] / 1e6:.6f} MHz  drift {c['drift_rate']:+.4f} Hz/s  "
              f"S/N {c['snr']:.1f}  {c['classification']}  interest {c['interestingness']:.2f}",
              file=stream)
    for w in result.warnings:
        print(f"WARNING: {w}", file=stream)
    print(f"exports: {out_dir}", file=stream)
