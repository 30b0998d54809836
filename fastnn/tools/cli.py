"""The ``fastnn`` command line.

::

    fastnn demo NAME [--backend numba|numpy] [--dtype float64|float32] [--seed N] [--plots DIR]
    fastnn demo all  [...]
    fastnn demo --list
    fastnn compare [WORKLOAD ...] [--repeat N] [--threads N] [--json] [--with sklearn,torch]
    fastnn compare --list
    fastnn compare --grid [SHAPE ...] [--repeat N] [--threads N] [--json] [--with sklearn,torch,threads,float64]
    fastnn compare --grid --list
    fastnn compare --predict [SHAPE ...] [--rows 1,10000,100000] [--repeat N] [--threads N] [--json]
    fastnn warmup [--quiet] [--verbose] [--dtype float32|float64] [--read-only] [--no-sklearn]

(also ``python -m fastnn ...``).  Exit status: 0 on success, 2 on bad usage
(unknown demo, bad option value, unwritable plots directory, matplotlib
missing for ``--plots``), 130 when interrupted, 1 when stdout is closed early
(``fastnn demo all | head``); ``compare`` also exits 1 when a workload's
two backends disagree beyond the dtype's tolerance, and ``compare --grid`` when a fastnn fit
fails or diverges.  Usage errors are one line on
stderr, without a traceback.

Adding a subcommand: write ``_add_<name>_parser(subparsers)`` that adds its
parser and sets ``handler=`` to a function ``(args) -> int``, and append it
to :data:`SUBCOMMANDS`.  A handler reports bad input by raising
:class:`UsageError`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

#: Exit statuses.
EXIT_OK, EXIT_BROKEN_PIPE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    """Bad input from the command line: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (no usage dump) and raise :class:`UsageError`."""

    def error(self, message):
        raise UsageError(f"{message} (see '{self.prog} --help')")


# ----------------------------------------------------------------------
# demo
# ----------------------------------------------------------------------


def _add_demo_parser(subparsers) -> None:
    from fastnn.tools.demos import DEMOS

    parser = subparsers.add_parser(
        "demo", help="run the seed-tutorial demos",
        description="Run a seed-tutorial demo and print its report: " + ", ".join(DEMOS) + ", or all.",
    )
    parser.add_argument("name", nargs="?", metavar="NAME", help=f"one of {', '.join(DEMOS)}, or 'all'")
    parser.add_argument("--list", action="store_true", help="list the demos and exit")
    parser.add_argument("--backend", choices=("numba", "numpy"), default="numba",
                        help="numba: compiled kernels (default); numpy: the plain-NumPy reference")
    parser.add_argument("--dtype", choices=("float64", "float32"), default="float64",
                        help="precision of the models (default float64)")
    parser.add_argument("--seed", type=_non_negative_int, default=None, metavar="N",
                        help="first model seed, for demos that draw their initial weights (xor)")
    parser.add_argument("--plots", metavar="DIR", default=None,
                        help="write PNG plots into DIR (created if needed; needs matplotlib)")
    parser.set_defaults(handler=_run_demo_command)


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {value}")
    return value


def _demo_names(args) -> list[str]:
    """The demos to run, validated against the registry and the options."""
    from fastnn.tools.demos import DEMOS

    if args.name is None:
        raise UsageError("give a demo name (" + ", ".join(DEMOS) + ", all) or --list")
    if args.name == "all":
        return list(DEMOS)
    if args.name not in DEMOS:
        raise UsageError(f"unknown demo {args.name!r}; choose from {', '.join(DEMOS)}, all "
                         "(or see 'fastnn demo --list')")
    if args.seed is not None and not DEMOS[args.name].uses_seed:
        users = ", ".join(n for n, s in DEMOS.items() if s.uses_seed)
        raise UsageError(f"--seed has no effect on the {args.name!r} demo (the seed tutorial fixes "
                         f"its data and initial weights); it applies to: {users}")
    return [args.name]


def prepare_plot_dir(path) -> str:
    """Create ``path`` if needed and check that files can be written in it.

    Returns
    -------
    str
        The directory path.

    Raises
    ------
    UsageError
        When matplotlib is missing, or the directory cannot be created or
        written to.
    """
    from fastnn.tools.plot import MissingMatplotlibError, require_matplotlib

    try:
        require_matplotlib()
    except MissingMatplotlibError as exc:
        raise UsageError(f"--plots: {exc}") from None
    path = os.fspath(path)
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except FileExistsError:
        raise UsageError(f"--plots: cannot use {path!r}: it exists and is not a directory") from None
    except OSError as exc:
        raise UsageError(f"--plots: cannot write to {path!r}: {exc.strerror or exc}") from None
    return path


def _run_demo_command(args) -> int:
    from fastnn.tools.demos import DEMOS, format_result, run_demo

    if args.list:
        width = max(map(len, DEMOS))
        for name, spec in DEMOS.items():
            print(f"{name:{width}s}  {spec.description}")
        print(f"{'all':{width}s}  run every demo in turn")
        return EXIT_OK
    names = _demo_names(args)
    plot_dir = prepare_plot_dir(args.plots) if args.plots is not None else None
    for i, name in enumerate(names):
        seed = args.seed if DEMOS[name].uses_seed else None
        result = run_demo(name, backend=args.backend, dtype=args.dtype, seed=seed)
        if i:
            print()
        print(format_result(result), flush=True)
        if plot_dir is not None:
            _save_plots(result, plot_dir)
    return EXIT_OK


def _save_plots(result, directory) -> None:
    from fastnn.tools.plot import save_demo_plots

    try:
        paths = save_demo_plots(result, directory)
    except OSError as exc:  # e.g. the directory was removed or the disk filled up meanwhile
        raise UsageError(f"--plots: could not write the plots to {directory!r}: {exc.strerror or exc}") from None
    print(f"Plots: {len(paths)} PNG files in {directory}: " + ", ".join(os.path.basename(p) for p in paths),
          flush=True)


# ----------------------------------------------------------------------
# compare
# ----------------------------------------------------------------------


def _add_compare_parser(subparsers) -> None:
    from fastnn.tools.workloads import WORKLOADS

    parser = subparsers.add_parser(
        "compare", help="time fastnn against its NumPy reference (and scikit-learn, PyTorch) on named workloads",
        description="Train the same initial weights on the numpy reference backend and on fastnn's numba "
                    "backend, for each workload, and print the times, the speed-up (median of alternating "
                    "rounds), the largest difference between the final weights and the final losses; on the "
                    "seed workloads also the tutorial-style NumPy loop of the same job (fastnn/tools/tutorial.py), "
                    "its time and ratios. Exit status 1 when the backends, or the tutorial loop and the "
                    "reference, disagree beyond the dtype's tolerance (FAIL).",
    )
    parser.add_argument("names", nargs="*", metavar="WORKLOAD",
                        help=f"workloads to run: {', '.join(WORKLOADS)} (default: every available one)")
    parser.add_argument("--list", action="store_true", help="list the workloads (with --grid: the shapes) and exit")
    parser.add_argument("--grid", action="store_true",
                        help="time fastnn on the realistic workload grid instead (fastnn/tools/grid.py: 26 shapes), "
                             "against the GEMM, compiled-loop and compute floors; WORKLOAD arguments then select "
                             "grid shapes by name or part of a name; --with takes sklearn, torch, threads, float64")
    parser.add_argument("--predict", action="store_true",
                        help="time predict instead, on the grid's networks (WORKLOAD arguments select grid shapes "
                             "as with --grid): fastnn against scikit-learn with the same weights, onnxruntime "
                             "running fastnn.to_onnx's export (where installed) and the matrix products alone; "
                             "at 1 thread and at the current thread count unless --threads")
    parser.add_argument("--rows", default=None, metavar="LIST",
                        help="with --predict: comma-separated numbers of rows per call (default 1,10000,100000)")
    parser.add_argument("--repeat", type=_positive_int, default=3, metavar="N",
                        help="alternating timed rounds per workload (default 3); times are medians")
    parser.add_argument("--threads", type=_positive_int, default=None, metavar="N",
                        help="Numba, BLAS and PyTorch threads for every side (default: the current settings)")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON list, an object per workload, instead of the table")
    parser.add_argument("--with", dest="extras", default="", metavar="LIST",
                        help="comma-separated extra sides: sklearn (MLPRegressor/MLPClassifier), torch "
                             "(a PyTorch CPU loop), skipped with a note when not installed; float64 (float32 "
                             "workloads in float64), threads (numba at one thread), memory (peak RSS of "
                             "10- vs 1-epoch fits and vs the reference, in fresh processes)")
    parser.set_defaults(handler=_run_compare_command)


def _positive_int(text: str) -> int:
    value = _non_negative_int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _run_compare_command(args) -> int:
    from fastnn.tools import compare
    from fastnn.tools.workloads import WORKLOADS

    if args.grid and args.list:
        from fastnn.tools.compare.grid_report import list_shapes

        list_shapes()
        return EXIT_OK
    if args.list:
        width = max(map(len, WORKLOADS))
        for name, w in WORKLOADS.items():
            reason = w.unavailable_reason()
            print(f"{name:{width}s}  {w.description}" + (f"  [unavailable: {reason}]" if reason else ""))
        return EXIT_OK
    if args.threads is not None:
        from fastnn import config

        # a count this machine cannot run is a usage error, before anything is printed; entering
        # config.threads checks it the way every fit does (and leaving it restores the settings)
        try:
            with config.threads(args.threads):
                pass
        except ValueError as exc:
            raise UsageError(f"--threads: {exc}") from None
    extras = [e.strip() for e in args.extras.split(",") if e.strip()]
    try:
        if args.predict:
            from fastnn.tools.compare import predict

            if args.grid or extras:
                raise UsageError("--predict runs on the grid's networks by itself: no --grid or --with")
            try:
                rows = [_positive_int(r.strip()) for r in args.rows.split(",")] if args.rows else None
            except argparse.ArgumentTypeError as exc:
                raise UsageError(f"--rows: {exc}") from None
            return predict.main(args.names, repeat=args.repeat, threads=args.threads, rows=rows, as_json=args.json)
        if args.rows is not None:
            raise UsageError("--rows goes with --predict")
        if args.grid:
            from fastnn.tools.compare import grid

            return grid.main(args.names, repeat=args.repeat, threads=args.threads, extras=extras, as_json=args.json)
        return compare.main(args.names, repeat=args.repeat, threads=args.threads, extras=extras,
                            as_json=args.json)
    except compare.CompareError as exc:
        raise UsageError(str(exc)) from None


# ----------------------------------------------------------------------
# warmup
# ----------------------------------------------------------------------


def _add_warmup_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "warmup", help="compile every kernel into Numba's on-disk cache (image builds, new cluster workers)",
        description="Compile every kernel specialisation a program can reach (float32 and float64, serial and "
                    "parallel builds, narrow and wide networks, Sequential fit/predict/evaluate, the scikit-learn "
                    "solvers, the fastnn.kernels functions) into Numba's on-disk cache (NUMBA_CACHE_DIR if set), "
                    "then print what was compiled. Later processes on this machine load them instead of "
                    "compiling. A cold run takes minutes; a warm one seconds.",
    )
    parser.add_argument("--quiet", action="store_true", help="print nothing (errors still go to stderr)")
    parser.add_argument("--verbose", action="store_true", help="also list every job run")
    parser.add_argument("--dtype", choices=("float32", "float64"), action="append", default=None,
                        help="warm this dtype only (repeatable; default both)")
    parser.add_argument("--read-only", action="store_true",
                        help="also the specialisations for read-only inputs (frozen or memory-mapped arrays, "
                             "arrays deserialised by Dask); about doubles the time")
    parser.add_argument("--no-sklearn", dest="sklearn", action="store_false",
                        help="skip the scikit-learn estimators")
    parser.set_defaults(handler=_run_warmup_command)


def _run_warmup_command(args) -> int:
    from fastnn.warmup import DTYPES, warmup

    summary = warmup(dtypes=tuple(args.dtype) if args.dtype else DTYPES, sklearn=args.sklearn,
                     read_only=args.read_only)
    if not args.quiet:
        print(summary.format(verbose=args.verbose), flush=True)
    return EXIT_OK


# ----------------------------------------------------------------------
# the parser and the entry point
# ----------------------------------------------------------------------

#: Functions that each add one subcommand to the parser.
SUBCOMMANDS = [_add_demo_parser, _add_compare_parser, _add_warmup_parser]


def build_parser() -> argparse.ArgumentParser:
    """The ``fastnn`` argument parser with every subcommand of :data:`SUBCOMMANDS`."""
    from fastnn import __version__

    parser = _Parser(prog="fastnn", description="fastnn: dense neural networks on the CPU (Numba).")
    parser.add_argument("--version", action="version", version=f"fastnn {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True
    for add in SUBCOMMANDS:
        add(subparsers)
    return parser


def main(argv=None) -> int:
    """Run the command line; return the exit status.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name; default ``sys.argv[1:]``.

    Returns
    -------
    int
        0 on success, 2 on a usage error, 130 when interrupted, 1 when stdout
        was closed early.
    """
    try:
        args = build_parser().parse_args(argv)
        return args.handler(args)
    except UsageError as exc:
        print(f"fastnn: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("fastnn: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except SystemExit as exc:  # --help and --version
        return exc.code if isinstance(exc.code, int) else EXIT_OK
    except BrokenPipeError:  # e.g. "fastnn demo all | head": stop quietly (Python docs' recipe)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
