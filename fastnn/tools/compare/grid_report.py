"""The output of ``fastnn compare --grid``: the table, the summary of each ratio, the footer, the shape list.

The table has one line per shape, printed as soon as the shape is measured:
its name, fastnn's time, the three floors, fastnn's time over each floor,
then the columns of each ``--with`` entry in the order given and the status.
Under it, :func:`format_footer` writes the failures and notes, one summary
line per ratio (min / median / max over the shapes, :func:`summarize`), what
the columns measure, the measured peak rates, the machine and the versions.
"""

from __future__ import annotations

import statistics
import sys

from fastnn.tools.compare.report import FORMATS
from fastnn.tools.compare.runner import STATUS_OK
from fastnn.tools.grid import GRID

#: The ratio keys of a row, each with its label in the summary lines.
RATIOS = {
    "fastnn_vs_gemm_floor": "fastnn / GEMM floor",
    "fastnn_vs_compiled_floor": "fastnn / compiled floor",
    "fastnn_vs_compute_floor": "fastnn / compute floor",
    "sklearn_speedup": "sklearn / fastnn",
    "torch_speedup": "torch / fastnn",
    "thread_speedup": "1 thread / N threads",
    "float32_speedup": "float64 / float32",
}


def summarize(rows) -> dict:
    """``{ratio: {"min", "median", "max", "n"}}`` over the rows that have the ratio (ok rows only)."""
    out = {}
    for key in RATIOS:
        values = [r[key] for r in rows if r["status"] == STATUS_OK and r.get(key) is not None]
        if values:
            out[key] = {"min": min(values), "median": float(statistics.median(values)), "max": max(values),
                        "n": len(values)}
    return out


def progress_line(row) -> str:
    """The progress line of a measured shape: its name and the median time of each side (or its FAIL)."""
    if row["status"] != STATUS_OK:
        return f"{row['name']} FAIL: " + "; ".join(row["problems"])
    bits = [f"{label} {FORMATS['time'](row.get(key))}" for label, key in
            (("fastnn", "fastnn_s"), ("GEMM floor", "gemm_floor_s"), ("compiled floor", "compiled_floor_s"),
             ("sklearn", "sklearn_s"), ("torch", "torch_s"), ("1 thread", "threads_s"), ("float64", "float64_s"))
            if key in row]
    return f"{row['name']} " + ", ".join(bits)


#: Table columns: (header, width, row key, format), then the ones of each ``--with`` entry.
_COLUMNS = [("shape", 36, "name", "text"), ("fastnn", 9, "fastnn_s", "time"),
            ("GEMM", 9, "gemm_floor_s", "time"), ("compiled", 9, "compiled_floor_s", "time"),
            ("compute", 9, "compute_floor_s", "time"), ("/GEMM", 6, "fastnn_vs_gemm_floor", "ratio"),
            ("/compiled", 9, "fastnn_vs_compiled_floor", "ratio"), ("/compute", 8, "fastnn_vs_compute_floor", "ratio")]
_EXTRA_COLUMNS = {"sklearn": [("sklearn", 9, "sklearn_s", "time"), ("vs sklearn", 10, "sklearn_speedup", "ratio")],
                  "torch": [("torch", 9, "torch_s", "time"), ("vs torch", 8, "torch_speedup", "ratio")],
                  "threads": [("1 thread", 9, "threads_s", "time"), ("threads gain", 12, "thread_speedup", "ratio")],
                  "float64": [("float64", 9, "float64_s", "time"), ("f32 gain", 8, "float32_speedup", "ratio")]}


def grid_columns(extras=()) -> list:
    """The table's columns as :func:`.report.format_row` takes them: (header, width, row -> text)."""
    chosen = _COLUMNS + [c for extra in extras for c in _EXTRA_COLUMNS[extra]] + [("", 4, "status", "text")]
    return [(header, width, (lambda row, k=key, f=FORMATS[kind]: f(row.get(k)) if row.get(k) is not None else "-"))
            for header, width, key, kind in chosen]


def format_footer(rows, summary: dict, env: dict, repeat: int) -> list:
    """The lines under the table: failures and notes, the summary of each ratio, the legend, the machine."""
    lines = [f"FAIL {r['name']}: {p}" for r in rows for p in r["problems"]]
    lines += [f"note {r['name']}: {n}" for r in rows for n in r.get("notes", [])]
    for key, s in summary.items():
        write = FORMATS["ratio"]
        lines.append(f"{RATIOS[key]:<24} min {write(s['min']):>6}  median {write(s['median']):>6}  "
                     f"max {write(s['max']):>6}  ({s['n']} shapes)")
    lines.append(f"times: median of {repeat} alternating rounds (fastnn, GEMM floor, compiled floor, then the "
                 "--with sides), each side after an untimed one-epoch warm-up; ratios: medians of the per-round ratios")
    lines.append("GEMM floor: the fit's matrix products alone (3 per layer and batch, not the first layer's input "
                 "gradient) through np.dot into preallocated outputs, with a training step's operand layouts; "
                 "compiled: the same from one compiled Numba loop; compute: the multiply-adds at the peak rate")
    peaks = ", ".join(f"{dtype} {gflops:.1f}" for dtype, gflops in env["peak_gflops"].items())
    lines.append(f"peak GFLOP/s: {peaks} ({env['peak_method']})")
    blas = "; ".join(env.get("blas") or ["?"])
    lines.append(f"machine: {env['cpu']}, {env['cores']} cores; {env['threads']} threads; BLAS {blas}")
    versions = "".join(f", {k} {env[k]}" for k in ("sklearn", "torch") if k in env)
    lines.append(f"versions: python {env['python']}, fastnn {env['fastnn']}, numpy {env['numpy']}, "
                 f"numba {env['numba']}{versions}")
    return lines


def list_shapes(out=None) -> None:
    """Print every grid shape: its name and :meth:`~fastnn.tools.grid.GridShape.describe` (``--grid --list``)."""
    out = out or sys.stdout
    width = max(len(shape.name) for shape in GRID)
    for shape in GRID:
        reason = shape.unavailable_reason()
        print(f"{shape.name:{width}s}  {shape.describe()}" + (f"  [unavailable: {reason}]" if reason else ""),
              file=out)
