"""``fastnn compare``'s output: the table, its footer, the JSON list, and :func:`main`, the command.

The table has one line per workload, printed as soon as the workload is
measured: the workload and dtype, the two backends' times and the speed-up,
the columns of the tutorial-style loop and of the GEMM floor (when a planned
workload has one) and of each ``--with`` extra in the order given
(:attr:`.sides.Side.columns`), then the
agreement check (``max |dw|``, ``tol``), the two final losses and the
status.  The footer lists the failures, test accuracies, what the extra
sides found and how their setup differs, what the columns mean, and the
machine and versions.  ``--json`` prints the rows themselves instead (one
object per workload; keys in :mod:`fastnn.tools.compare`).
"""

from __future__ import annotations

import json
import sys

from fastnn.tools.compare.runner import STATUS_OK, Plan, plan, run_compare
from fastnn.tools.compare.sides import EXTRAS, SIDES, Column, GemmFloor, Tutorial, get_side


def format_time(seconds) -> str:
    """``"523 us"``, ``"12.3 ms"``, ``"1.234 s"``; ``"-"`` for None."""
    if seconds is None:
        return "-"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} us"
    if seconds < 1.0:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.3f} s"


def _ratio(x) -> str:
    if x is None:
        return "-"
    return f"{x:.0f}x" if x >= 100 else f"{x:.1f}x" if x >= 1 else f"{x:.2f}x"


def _mib(x) -> str:
    return "-" if x is None else f"{x:+.1f} MiB"


def _loss(x) -> str:
    return "-" if x is None else f"{x:.6g}"


def _diff(x) -> str:
    return "-" if x is None else f"{x:.1e}"


#: How a cell of each :attr:`Column.kind <.sides.Column>` is written (a missing key is None).
FORMATS = {"text": str, "time": format_time, "ratio": _ratio, "mib": _mib, "loss": _loss, "diff": _diff,
           "tol": lambda x: f"{x:.0e}"}

#: The columns before the sides' own: the workload and the two backends' times.
HEAD = (Column("workload", 10, "name", "text"), Column("dtype", 7, "dtype", "text"),
        Column("reference", 10, "reference_s", "time"), Column("fastnn", 10, "fastnn_s", "time"),
        Column("speed-up", 8, "speedup", "ratio"))
#: The columns after them: the agreement check, the final losses, the status.
TAIL = (Column("max |dw|", 9, "max_weight_diff", "diff"), Column("tol", 7, "tolerance", "tol"),
        Column("loss ref", 11, "reference_loss", "loss"), Column("loss fastnn", 11, "fastnn_loss", "loss"),
        Column("", 4, "status", "text"))


def _cell(column: Column):
    write = FORMATS[column.kind]
    return lambda row: write(row.get(column.key))


def columns(extras=(), with_floor=False, with_tutorial=False) -> list:
    """The table's columns: (header, width, function of a row -> text).

    Parameters
    ----------
    extras : sequence of str
        ``--with`` entries, in the order their columns appear.
    with_floor : bool
        Include the GEMM floor's columns (some planned workload has one).
    with_tutorial : bool
        Include the tutorial-style loop's columns (some planned workload is a
        seed workload).
    """
    sides = (([Tutorial] if with_tutorial else []) + ([GemmFloor] if with_floor else [])
             + [get_side(extra) for extra in extras])
    chosen = HEAD + tuple(column for side in sides for column in side.columns) + TAIL
    return [(column.header, column.width, _cell(column)) for column in chosen]


def format_row(cols, row) -> str:
    """One table line: the first column left-aligned, the others right-aligned, two spaces apart."""
    return "  ".join(f"{fn(row):<{w}}" if i == 0 else f"{fn(row):>{w}}" for i, (_, w, fn) in enumerate(cols)).rstrip()


def format_header(cols) -> str:
    """The table's header line, aligned as :func:`format_row`."""
    return "  ".join(f"{h:<{w}}" if i == 0 else f"{h:>{w}}" for i, (h, w, _) in enumerate(cols)).rstrip()


def _shown_sides(p: Plan) -> list:
    """The sides with columns or footer lines in this run: the ``--with`` extras, and the sides always selected
    that apply to some planned workload, in :data:`.sides.SIDES` order."""
    return [side for side in SIDES
            if side.name in p.extras or (not side.optional and any(side.applies_to(w) for w in p.workloads))]


def format_footer(rows, p: Plan, env: dict, repeat: int) -> list:
    """The lines under the table: failures, findings, what the columns mean, machine and versions.

    Parameters
    ----------
    rows : list of dict
        Every workload's row.
    p : Plan
    env : dict
        :func:`.runner.environment`.
    repeat : int
        Rounds per workload.

    Returns
    -------
    list of str
    """
    lines = []
    for row in rows:
        for problem in row["problems"]:
            lines.append(f"FAIL {row['name']}: {problem}")
    accs = [f"{r['name']} {r['fastnn_test_accuracy']:.3f}" for r in rows if "fastnn_test_accuracy" in r]
    if accs:
        lines.append("test accuracy (fastnn): " + ", ".join(accs))
    for extra in p.extras:
        bits = [f"{r['name']} {r[f'{extra}_loss']:.4g}" for r in rows if f"{extra}_loss" in r]
        if bits:
            lines.append(f"{extra} final loss: " + ", ".join(bits))
    shown = _shown_sides(p)
    for side in shown:
        lines += side.result_lines(rows)
    for side in shown:
        lines += side.caveat_lines(rows)
    lines.append(f"times: median of {repeat} alternating rounds (reference, fastnn, then the others); speed-up: "
                 "reference time / fastnn time; every ratio: the median of the per-round ratios; "
                 "tol: max allowed |dw|")
    for side in shown:
        lines += side.legend_lines(env)
    blas = "; ".join(env.get("blas") or ["?"])
    extra_versions = "".join(f", {e} {env[e]}" for e in EXTRAS if e in env)
    lines.append(f"machine: {env['cpu']}, {env['cores']} cores; numba threads {env['numba_threads']}, BLAS {blas}")
    lines.append(f"versions: python {env['python']}, fastnn {env['fastnn']}, numpy {env['numpy']}, "
                 f"numba {env['numba']}{extra_versions}")
    return lines


def main(names=None, repeat=3, threads=None, extras=(), as_json=False, out=None, err=None) -> int:
    """The ``fastnn compare`` command: print the table (or JSON); 0 if every row is ok, 1 on any FAIL.

    Raises
    ------
    CompareError
        Unknown workload or ``--with`` entry, or a named workload that is not
        available.
    """
    out = out or sys.stdout
    err = err or sys.stderr
    p = plan(names, extras)  # validate before printing anything
    for note in p.notes:
        print(f"note: {note}", file=err if as_json else out, flush=True)
    cols = columns(p.extras, with_floor=any(GemmFloor.applies_to(w) for w in p.workloads),
                   with_tutorial=any(Tutorial.applies_to(w) for w in p.workloads))

    def on_row(row):
        if not as_json:
            print(format_row(cols, row), file=out, flush=True)

    if not as_json:
        print(format_header(cols), file=out, flush=True)
    rows, _, env = run_compare([w.name for w in p.workloads], repeat, threads, p.extras, on_row=on_row)
    if as_json:
        json.dump(rows, out, indent=1)
        out.write("\n")
    else:
        for line in format_footer(rows, p, env, repeat):
            print(line, file=out)
    out.flush()
    return 1 if any(r["status"] != STATUS_OK for r in rows) else 0
