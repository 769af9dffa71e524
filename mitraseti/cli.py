"""The ``mitraseti`` command.

    mitraseti analyze PATH [--out DIR] [--max-drift 4] [--snr 10] [--min-drift 0]
                           [--n-coarse-chan N] [--source-name S] [--notebook [--kernel K]]
    mitraseti demo [--out DIR]

Exit status: 0 on success, 2 with a one-line ``mitraseti: error: ...`` message for bad
input (missing or malformed file) or parameters, 1 when the pipeline itself fails.

More subcommands come from other packages: ``mitraseti.signals.commands.register`` (train,
evaluate, cadence) when importable, and every ``register(subparsers)`` function published in
the ``mitraseti.cli`` entry-point group (the server's ``serve`` and ``admin``). A registered
parser sets ``func`` in its defaults: ``func(args) -> int | None`` (None means 0).
"""
from __future__ import annotations

import argparse
import logging
import sys
from importlib.metadata import entry_points
from pathlib import Path

from mitraseti import __version__

log = logging.getLogger("mitraseti.cli")
PROG = "mitraseti"
# overall progress bar span of each stage (dedoppler and classify interleave per channel)
STAGE_SPAN = {"ingest": (0.0, 0.02), "dedoppler": (0.02, 0.9), "classify": (0.02, 0.9),
              "export": (0.9, 1.0)}


class CliError(Exception):
    """Bad input or parameters: reported on one line, exit status 2."""


class OneLineParser(argparse.ArgumentParser):
    """argparse with a one-line error (no usage dump) and exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{PROG}: error: {' '.join(message.split())}\n")


def _input_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean "bad input or parameters" (exit 2)."""
    from mitraseti.search.params import ParameterError

    errors: list[type[BaseException]] = [ParameterError, FileNotFoundError,
                                         IsADirectoryError, PermissionError, CliError]
    try:
        from mitraseti.io import ObservationFormatError
        errors.append(ObservationFormatError)
    except ImportError:
        pass
    return tuple(errors)


# ---- progress and summary ------------------------------------------------------------------
class ProgressBar:
    """A tqdm bar over the whole run (0..100 %), fed by pipeline progress callbacks."""

    def __init__(self, enabled: bool = True) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=100, unit="%", disable=not enabled or None, leave=False,
                        bar_format="{l_bar}{bar}| {n:.0f}% [{elapsed}<{remaining}]",
                        file=sys.stderr)

    def __call__(self, stage: str, fraction: float, message: str) -> None:
        lo, hi = STAGE_SPAN.get(stage, (0.0, 1.0))
        target = 100.0 * (lo + (hi - lo) * max(0.0, min(1.0, float(fraction))))
        if target > self.bar.n:
            self.bar.update(target - self.bar.n)
        self.bar.set_description_str(stage, refresh=False)
        self.bar.set_postfix_str(message[:60])

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


# ---- analyze -------------------------------------------------------------------------------
def _add_search_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-drift", type=float, default=4.0, metavar="HZ_S",
                   help="maximum |drift rate| searched, Hz/s (default 4)")
    p.add_argument("--min-drift", type=float, default=0.0, metavar="HZ_S",
                   help="minimum |drift rate| reported, Hz/s (default 0)")
    p.add_argument("--snr", type=float, default=10.0, help="S/N threshold (default 10)")
    p.add_argument("--n-coarse-chan", type=int, default=None, metavar="N",
                   help="coarse channels in the file (default: from the file, else 1)")


def default_out_dir(path: str | Path) -> Path:
    """``./<stem>_results/`` in the current directory."""
    return Path.cwd() / f"{Path(path).stem}_results"


def analyze(path, out_dir, *, max_drift=4.0, min_drift=0.0, snr=10.0, n_coarse_chan=None,
            source_name=None, notebook=False, kernel="python3", quiet=False) -> int:
    """Run the pipeline (or the pipeline notebook) and print a summary; returns 0."""
    from mitraseti import pipeline

    path, out_dir = Path(path), Path(out_dir)
    if not path.exists():
        raise CliError(f"{path}: no such file")
    params = dict(max_drift=max_drift, min_drift=min_drift, snr=snr,
                  n_coarse_chan=n_coarse_chan, source_name=source_name)
    if notebook:
        from papermill.exceptions import PapermillExecutionError

        try:
            report = pipeline.run_notebook(path, out_dir, kernel_name=kernel,
                                           progress_bar=not quiet, **params)
        except PapermillExecutionError as exc:
            print(f"{PROG}: error: the pipeline notebook failed: {exc.ename}: "
                  f"{' '.join(str(exc.evalue).split())} (see {out_dir / 'report.ipynb'})",
                  file=sys.stderr)
            return 1
        if not quiet:
            print(f"executed notebook: {report}\nreport: {report.with_suffix('.html')}\n"
                  f"exports: {out_dir}")
        return 0
    bar = ProgressBar(enabled=not quiet)
    try:
        result = pipeline.run(path, out_dir, progress=bar, **params)
    finally:
        bar.close()
    if not quiet:
        print_summary(result, out_dir)
    return 0


def _cmd_analyze(args) -> int:
    out = Path(args.out) if args.out else default_out_dir(args.path)
    return analyze(args.path, out, max_drift=args.max_drift, min_drift=args.min_drift,
                   snr=args.snr, n_coarse_chan=args.n_coarse_chan,
                   source_name=args.source_name, notebook=args.notebook, kernel=args.kernel,
                   quiet=args.quiet)


def _cmd_demo(args) -> int:
    from mitraseti.demo import make_demo_observation

    out = Path(args.out)
    if not args.quiet:
        print(f"generating demo observation ({args.coarse_channels} x {args.fine_channels} "
              f"channels) in {out} ...")
    try:
        path, synth = make_demo_observation(out, n_coarse=args.coarse_channels,
                                            nfpc=args.fine_channels)
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    if not args.quiet:
        print(f"observation: {path} ({len(synth.truth)} injected signals)")
    return analyze(path, out / "results", n_coarse_chan=args.coarse_channels,
                   notebook=args.notebook, quiet=args.quiet)


# ---- parser and entry point ----------------------------------------------------------------
def _register_plugins(sub) -> None:
    try:
        from mitraseti.signals.commands import register
    except ImportError:
        log.debug("mitraseti.signals.commands not available")
    else:
        register(sub)
    for ep in entry_points(group="mitraseti.cli"):
        try:
            ep.load()(sub)
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not break the CLI
            log.debug("CLI plugin %s unavailable: %s", ep.name, exc)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog=PROG, description="MitraSETI: search filterbank observations "
                           "for narrowband drifting signals, classify and export them.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("analyze", help="search, classify and export one observation")
    p.add_argument("path", help="observation file (.fil SIGPROC or .h5 Breakthrough Listen)")
    p.add_argument("--out", metavar="DIR", help="output directory (default ./<stem>_results)")
    _add_search_options(p)
    p.add_argument("--source-name", metavar="S", help="source name (default: from header)")
    p.add_argument("--notebook", action="store_true",
                   help="run notebooks/pipeline.ipynb with papermill; keep report.ipynb/.html")
    p.add_argument("--kernel", default="python3", metavar="NAME",
                   help="Jupyter kernel for --notebook (default python3)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    p.set_defaults(func=_cmd_analyze)

    d = sub.add_parser("demo", help="generate a demo observation and analyse it")
    d.add_argument("--out", metavar="DIR", default="mitraseti_demo",
                   help="directory for the observation and results (default ./mitraseti_demo)")
    d.add_argument("--coarse-channels", type=int, default=16, metavar="N",
                   help="coarse channels (default 16)")
    d.add_argument("--fine-channels", type=int, default=2 ** 16, metavar="N",
                   help="fine channels per coarse channel (default 65536)")
    d.add_argument("--notebook", action="store_true", help="analyse via the notebook")
    d.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    d.set_defaults(func=_cmd_demo)

    _register_plugins(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except _input_errors() as exc:
        print(f"{PROG}: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
