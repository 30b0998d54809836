"""The ``fastnn`` command line (fastnn.tools.cli): exit statuses, messages, and the demos it runs."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

from fastnn.tools import cli, plot

ROOT = pathlib.Path(__file__).resolve().parents[2]


def run_module(*args, timeout=120):
    """``python -m fastnn ARGS`` in a subprocess, from the repository root."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "fastnn", *args], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=timeout)


def main(capsys, *args):
    """Run ``cli.main`` in-process; return (status, stdout, stderr)."""
    status = cli.main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


# ----------------------------------------------------------------------
# subprocess: the real entry points
# ----------------------------------------------------------------------


def test_python_m_fastnn_demo_linear_prints_the_numbers():
    proc = run_module("demo", "linear")
    assert proc.returncode == 0, proc.stderr
    assert "w = 1.7390, b = 0.5419" in proc.stdout
    assert "loss at epoch 99 = 0.0573" in proc.stdout
    assert "w = 2.0000, b = 0.0000" in proc.stdout
    assert "Total time:" in proc.stdout


def test_python_m_fastnn_unknown_demo_exits_2_with_one_line():
    proc = run_module("demo", "nope")
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "unknown demo 'nope'" in lines[0]
    assert "Traceback" not in proc.stderr


def test_console_script_is_installed():
    script = pathlib.Path(sys.executable).parent / ("fastnn.exe" if os.name == "nt" else "fastnn")
    if not script.exists():
        pytest.skip("the fastnn console script is not installed in this environment (pip install -e .)")
    proc = subprocess.run([str(script), "demo", "--list"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "linear" in proc.stdout


# ----------------------------------------------------------------------
# in-process: statuses and messages
# ----------------------------------------------------------------------


def test_list(capsys):
    status, out, _ = main(capsys, "demo", "--list")
    assert status == 0
    names = [line.split()[0] for line in out.splitlines()]
    assert names == ["linear", "xor", "house", "classify", "all"]


@pytest.mark.parametrize("args, message", [
    ((), "required: COMMAND"),
    (("demo",), "give a demo name"),
    (("demo", "nope"), "unknown demo 'nope'"),
    (("demo", "xor", "--backend", "cuda"), "invalid choice: 'cuda'"),
    (("demo", "xor", "--dtype", "float16"), "invalid choice: 'float16'"),
    (("demo", "xor", "--seed", "-1"), "non-negative integer"),
    (("demo", "xor", "--seed", "x"), "non-negative integer"),
    (("demo", "linear", "--seed", "3"), "--seed has no effect on the 'linear' demo"),
    (("demo", "xor", "--bogus"), "unrecognized arguments: --bogus"),
    (("frobnicate",), "invalid choice: 'frobnicate'"),
])
def test_usage_errors_exit_2_with_one_line(capsys, args, message):
    status, out, err = main(capsys, *args)
    assert status == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("fastnn: error: ") and message in err


def test_help_and_version_exit_0(capsys):
    status, out, _ = main(capsys, "demo", "--help")
    assert status == 0 and "--backend" in out
    status, out, _ = main(capsys, "--version")
    assert status == 0 and out.startswith("fastnn ")


def test_plots_dir_that_is_a_file_is_refused(capsys, tmp_path):
    pytest.importorskip("matplotlib")  # without it, --plots fails earlier (next test)
    target = tmp_path / "file.txt"
    target.write_text("x")
    for path in (target, target / "sub"):
        status, out, err = main(capsys, "demo", "xor", "--plots", str(path))
        assert status == 2 and out == ""
        assert "--plots: cannot" in err and len(err.strip().splitlines()) == 1


def test_missing_matplotlib_gives_the_install_hint(capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes "import matplotlib" raise ImportError
    status, out, err = main(capsys, "demo", "xor", "--plots", str(tmp_path / "plots"))
    assert status == 2 and out == ""
    assert 'pip install "fastnn-numba[plot]"' in err
    assert not (tmp_path / "plots").exists()


def test_demo_xor_with_seed_and_dtype(capsys):
    status, out, _ = main(capsys, "demo", "xor", "--seed", "2", "--backend", "numba", "--dtype", "float32")
    assert status == 0
    assert "[backend numba, float32]" in out
    assert "model seed" not in out  # labels are for plots; the report says "seed"
    assert "seed   2:" in out and "seed   6:" in out and "seed   7:" not in out
    assert "fastnn lr 0.25" in out


def test_demo_all_runs_every_demo(capsys):
    status, out, _ = main(capsys, "demo", "all")
    assert status == 0
    for name in ("linear", "xor", "house", "classify"):
        assert f"== {name}: " in out
    assert "Training accuracy: 100.00%" in out


def test_demo_plots_writes_pngs(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    directory = tmp_path / "new" / "plots"
    status, out, _ = main(capsys, "demo", "xor", "--plots", str(directory))
    assert status == 0
    files = sorted(p.name for p in directory.iterdir())
    assert files == sorted(f"xor_{group}_{kind}.png" for group in ("as-written", "better")
                           for kind in ("loss", "weights", "boundary"))
    for name in files:
        data = (directory / name).read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 1000
    assert f"Plots: 6 PNG files in {directory}" in out


def test_keyboard_interrupt_exits_130(capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("fastnn.tools.demos.run_demo", interrupted)
    status, _, err = main(capsys, "demo", "linear")
    assert status == 130 and "interrupted" in err


def test_prepare_plot_dir_creates_the_directory(tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "a" / "b"
    assert cli.prepare_plot_dir(path) == str(path)
    assert path.is_dir() and list(path.iterdir()) == []


def test_a_subcommand_can_be_added(capsys, monkeypatch):
    """The extension point the module documents: a function in SUBCOMMANDS adds a parser and a handler."""
    def add_hello(subparsers):
        parser = subparsers.add_parser("hello")
        parser.add_argument("--n", type=int, default=1)
        parser.set_defaults(handler=lambda args: print("hi " * args.n) or 0)

    monkeypatch.setattr(cli, "SUBCOMMANDS", cli.SUBCOMMANDS + [add_hello])
    status, out, _ = main(capsys, "hello", "--n", "2")
    assert status == 0 and out.strip() == "hi hi"
    status, _, err = main(capsys, "hello", "--n", "x")
    assert status == 2 and "invalid int value" in err


def test_install_hint_is_the_documented_one():
    assert plot.INSTALL_HINT == 'pip install "fastnn-numba[plot]"'


# ----------------------------------------------------------------------
# warmup (the compiling itself: tests/test_warmup.py)
# ----------------------------------------------------------------------


@pytest.fixture
def fake_warmup(monkeypatch):
    """Replace fastnn.warmup.warmup by a recorder returning a fixed summary (no compiling)."""
    from fastnn.warmup import WarmupSummary

    calls = []

    def fake(**kwargs):
        calls.append(kwargs)
        return WarmupSummary(compiled=2, loaded=7, kernels=5, seconds=0.5, cache_dirs=["/cache"],
                             jobs=["float32 serial: Sequential narrow"], skipped=[])

    monkeypatch.setattr(sys.modules["fastnn.warmup"], "warmup", fake)
    return calls


def test_warmup_prints_the_summary(capsys, fake_warmup):
    status, out, err = main(capsys, "warmup")
    assert status == 0 and err == ""
    assert "2 kernel specialisations compiled, 7 already cached" in out and "cache: /cache" in out
    assert "Sequential narrow" not in out
    assert fake_warmup == [{"dtypes": ("float32", "float64"), "sklearn": True, "read_only": False}]


def test_warmup_options(capsys, fake_warmup):
    status, out, _ = main(capsys, "warmup", "--quiet", "--dtype", "float32", "--no-sklearn", "--read-only")
    assert status == 0 and out == ""
    assert fake_warmup == [{"dtypes": ("float32",), "sklearn": False, "read_only": True}]
    status, out, _ = main(capsys, "warmup", "--verbose")
    assert "float32 serial: Sequential narrow" in out


def test_warmup_bad_dtype_is_a_usage_error(capsys, fake_warmup):
    status, out, err = main(capsys, "warmup", "--dtype", "int8")
    assert status == 2 and "invalid choice" in err and fake_warmup == []
