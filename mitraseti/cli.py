"""The ``mitraseti`` command.

    mitraseti [-v | -vv | --log-level LEVEL] COMMAND ...
    mitraseti analyze PATH... [--out DIR] [--jobs N] [--max-drift 4] [--snr 10]
                      [--min-drift 0] [--n-coarse-chan N] [--source-name S]
                      [--notebook [--kernel K]]
    mitraseti demo [--out DIR]
    mitraseti jobs list|cancel|retry ...   (a REST service's jobs: mitraseti.jobs_cli)

``analyze`` with one file writes its exports into ``--out`` (default ``./<stem>_results``).
Several paths, a folder (every .fil/.h5/.hdf5 inside) or a quoted glob make a batch
(:mod:`mitraseti.batch`): ``<out>/<stem>_results/`` per file, ``<out>/hits_all.csv``, and
``--jobs N`` files analysed at a time in separate processes.

Exit status: 0 on success; 2 with a one-line ``mitraseti: error: ...`` message for bad input
(missing or malformed file) or parameters (any ``mitraseti.errors.InputError``); 1 when the
pipeline itself fails (one line for any other ``MitraSETIError``), or with a one-line
message when a command cannot run because an import it needs fails (a broken or
missing optional dependency: the message names the module and the exception). A batch exits
2 if any file had bad input, else 1 if any file failed, else 0.

Logging goes to stderr: ``-v`` INFO, ``-vv`` DEBUG, or ``--log-level LEVEL`` (wins over
``-v``), before or after the command name. The default is WARNING, or the command's own
``default_log_level`` (``serve``: INFO). DEBUG applies to MitraSETI's loggers only; other
libraries stay at INFO or above (numba's DEBUG output is enormous).

More subcommands come from ``mitraseti.signals.commands.register`` (train, evaluate,
cadence) and from every ``register(subparsers)`` function published in the ``mitraseti.cli``
entry-point group (the server's ``serve`` and ``admin``). Those modules must import cheaply
(no numpy, numba, scikit-learn or tornado at module level) so that ``--help`` stays fast. A
registered parser sets ``func(args) -> int | None`` (None means 0) in its defaults, and may
set ``default_log_level`` (a level name) and ``input_errors`` (exception types reported as
bad input, exit 2). A plugin that fails to load still appears, as a command that explains.
"""
from __future__ import annotations

import argparse
import gc
import logging
import sys
from pathlib import Path

from mitraseti import __version__, jobs_cli
from mitraseti.console import (PROG, CliError, ProgressBar, import_problem, input_errors,
                               print_summary)
from mitraseti.errors import MitraSETIError

log = logging.getLogger("mitraseti.cli")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
OWN_LOGGERS = ("mitraseti", "mitraseti_server")
SIGNALS_COMMANDS = ("train", "evaluate", "cadence")


class CommandUnavailable(MitraSETIError):
    """A command whose code cannot be loaded: reported on one line, exit status 1.
    Fields: ``command`` (its name), ``problem`` (why, one line; also the message)."""

    def __init__(self, command: str, problem: str) -> None:
        super().__init__(problem, command=command, problem=problem)


class OneLineParser(argparse.ArgumentParser):
    """argparse with a one-line error (no usage dump) and exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{PROG}: error: {' '.join(message.split())}\n")


class CommandParser(OneLineParser):
    """A subcommand's parser: also accepts ``-v`` / ``--log-level`` after the command name
    (an option of the same name added by the command itself takes precedence)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("conflict_handler", "resolve")
        super().__init__(*args, **kwargs)
        add_logging_options(self, dest_prefix="sub_", default=argparse.SUPPRESS)


# ---- logging -------------------------------------------------------------------------------
class _StderrHandler(logging.StreamHandler):
    """A stream handler that always writes to the current ``sys.stderr``."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def add_logging_options(parser: argparse.ArgumentParser, dest_prefix: str = "",
                        default=None) -> None:
    """Add ``-v/--verbose`` (repeatable) and ``--log-level LEVEL`` to ``parser``."""
    parser.add_argument("-v", "--verbose", action="count", dest=f"{dest_prefix}verbose",
                        default=0 if default is None else default,
                        help="more log output: -v INFO, -vv DEBUG")
    parser.add_argument("--log-level", type=str.upper, choices=LOG_LEVELS, metavar="LEVEL",
                        dest=f"{dest_prefix}log_level", default=default,
                        help="log level: debug, info, warning, error or critical "
                             "(wins over -v)")


def log_level_for(args: argparse.Namespace) -> int:
    """The log level asked for on the command line (see the module docstring)."""
    name = getattr(args, "sub_log_level", None) or getattr(args, "log_level", None)
    if name:
        return logging.getLevelName(name)
    default = logging.getLevelName(str(getattr(args, "default_log_level", "WARNING")).upper())
    verbosity = (getattr(args, "verbose", 0) or 0) + (getattr(args, "sub_verbose", 0) or 0)
    if verbosity >= 2:
        return logging.DEBUG
    return min(default, logging.INFO) if verbosity == 1 else default


def configure_logging(level: int) -> None:
    """Log to stderr: MitraSETI's loggers at ``level``, other libraries at ``level`` but
    never below INFO. Calling it again only changes the levels (one handler)."""
    root = logging.getLogger()
    if not any(isinstance(h, _StderrHandler) for h in root.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        root.addHandler(handler)
    root.setLevel(max(level, logging.INFO))
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(level if level < logging.INFO else logging.NOTSET)


# ---- analyze -------------------------------------------------------------------------------
def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _add_search_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-drift", type=float, default=4.0, metavar="HZ_S",
                   help="maximum |drift rate| searched, Hz/s (default 4)")
    p.add_argument("--min-drift", type=float, default=0.0, metavar="HZ_S",
                   help="minimum |drift rate| reported, Hz/s (default 0)")
    p.add_argument("--snr", type=float, default=10.0, help="S/N threshold (default 10)")
    p.add_argument("--n-coarse-chan", type=int, default=None, metavar="N",
                   help="coarse channels in the file (default: from the file, else 1)")
    p.add_argument("--memory-budget-mb", type=float, default=None, metavar="MIB",
                   help="memory for the blocks being searched, MiB (default 512)")


def pipeline_params(args: argparse.Namespace) -> dict:
    """Keyword arguments of ``pipeline.run`` / ``run_notebook`` taken from ``analyze``'s
    options (the one place to extend when ``analyze`` gains a pipeline option)."""
    params = dict(max_drift=args.max_drift, min_drift=args.min_drift, snr=args.snr,
                  n_coarse_chan=args.n_coarse_chan, source_name=args.source_name)
    if args.memory_budget_mb is not None:
        params["memory_budget_mb"] = args.memory_budget_mb
    return params


def default_out_dir(path: str | Path) -> Path:
    """``./<stem>_results/`` in the current directory."""
    return Path.cwd() / f"{Path(path).stem}_results"


def analyze(path, out_dir, *, notebook=False, kernel="python3", quiet=False,
            **params) -> int:
    """Run the pipeline (or the pipeline notebook) on one file and print a summary; returns
    the exit status. ``params``: keyword arguments of ``pipeline.run`` (max_drift Hz/s,
    min_drift Hz/s, snr, n_coarse_chan, source_name)."""
    from mitraseti import pipeline

    path, out_dir = Path(path), Path(out_dir)
    if not path.exists():
        raise CliError(f"{path}: no such file")
    if notebook:
        from papermill.exceptions import PapermillExecutionError

        from mitraseti.notebooks import run_notebook

        try:
            report = run_notebook(path, out_dir, kernel_name=kernel, progress_bar=not quiet,
                                  **params)
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
    from mitraseti import batch

    params = pipeline_params(args)
    if not batch.is_batch(args.paths):
        path = args.paths[0]
        out = Path(args.out) if args.out else default_out_dir(path)
        return analyze(path, out, notebook=args.notebook, kernel=args.kernel,
                       quiet=args.quiet, **params)
    if args.notebook:
        raise CliError("--notebook takes one observation file, not a batch")
    return batch.run_batch(args.paths, Path(args.out or "."), jobs=args.jobs,
                           params=params, quiet=args.quiet)


def _add_analyze_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("analyze", help="search, classify and export observations (one "
                       "file, several, a folder or a glob)")
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="observation file (.fil SIGPROC or .h5 Breakthrough Listen); "
                        "several files, a folder (its .fil/.h5/.hdf5 files) or a quoted "
                        "glob make a batch")
    p.add_argument("--out", metavar="DIR", help="output directory (default "
                   "./<stem>_results; for a batch, the folder holding <stem>_results/ "
                   "and hits_all.csv, default .)")
    p.add_argument("--jobs", type=_positive_int, default=1, metavar="N",
                   help="batch: files analysed at a time, each in its own process "
                        "(default 1)")
    _add_search_options(p)
    p.add_argument("--source-name", metavar="S", help="source name (default: from header)")
    p.add_argument("--notebook", action="store_true",
                   help="run notebooks/pipeline.ipynb with papermill; keep report.ipynb/.html")
    p.add_argument("--kernel", default="python3", metavar="NAME",
                   help="Jupyter kernel for --notebook (default python3)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    p.set_defaults(func=_cmd_analyze)
    return p


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


def _add_demo_parser(sub) -> argparse.ArgumentParser:
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
    return d


# ---- commands from other packages ----------------------------------------------------------
def _register(sub, names: tuple[str, ...], load) -> None:
    """Call ``load()(sub)``; if that fails, add each command of ``names`` not yet present
    as a stand-in that reports why it is unavailable."""
    try:
        load()(sub)
    except Exception as exc:  # noqa: BLE001 - a broken plugin must not break the CLI
        problem = import_problem(exc)

        def unavailable(args):
            raise CommandUnavailable(args.command, problem)

        for name in names:
            if name not in sub.choices:
                p = sub.add_parser(name, help=f"(unavailable: {problem})")
                p.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
                p.set_defaults(func=unavailable)


def _signals_register():
    from mitraseti.signals.commands import register
    return register


def _register_plugins(sub) -> None:
    from importlib.metadata import entry_points

    _register(sub, SIGNALS_COMMANDS, _signals_register)
    for ep in entry_points(group="mitraseti.cli"):
        _register(sub, (ep.name,), ep.load)


# ---- parser and entry point ----------------------------------------------------------------
BUILTIN_COMMANDS = ("analyze", "demo", "jobs")


def _asks_for_builtin(argv: list[str]) -> bool:
    """True when the first word of ``argv`` that is not an option (or the value of
    --log-level) names a built-in command: the plugins' parsers are then not needed."""
    words = iter(argv)
    for word in words:
        if word == "--log-level":
            next(words, None)
        elif not word.startswith("-"):
            return word in BUILTIN_COMMANDS
    return False


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The whole command line; ``argv`` given and naming a built-in command: without the
    plugins' commands (importing them costs ~50 ms of every run)."""
    parser = OneLineParser(prog=PROG, description="MitraSETI: search filterbank observations "
                           "for narrowband drifting signals, classify and export them.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    add_logging_options(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND",
                                parser_class=CommandParser)
    _add_analyze_parser(sub)
    _add_demo_parser(sub)
    jobs_cli.register(sub)
    if argv is None or not _asks_for_builtin(argv):
        _register_plugins(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    configure_logging(log_level_for(args))
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except (ImportError, CommandUnavailable) as exc:
        log.debug("%s cannot run", args.command, exc_info=True)
        problem = str(exc) if isinstance(exc, CommandUnavailable) else import_problem(exc)
        print(f"{PROG}: error: {args.command} is unavailable: {problem}", file=sys.stderr)
        return 1
    except input_errors(args) as exc:
        print(f"{PROG}: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except MitraSETIError as exc:
        log.debug("%s failed", args.command, exc_info=True)
        print(f"{PROG}: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1


def run() -> None:
    """The ``mitraseti`` command: :func:`main`, then exit with its status. Objects are
    frozen first (``gc.freeze``), so the interpreter's teardown does not walk everything a
    run loaded (numba, scipy, astropy): that walk took ~0.2 s, a tenth of an ``analyze``.
    atexit handlers still run."""
    status = main()
    gc.freeze()
    sys.exit(status)


if __name__ == "__main__":
    run()
