"""fastnn.tools.plot: optional matplotlib, figures with labelled axes, PNGs for the demos."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from fastnn import Dense, History, Sequential
from fastnn.tools import demos, plot


def test_importing_fastnn_plot_does_not_import_matplotlib():
    code = ("import sys; import fastnn.tools.plot, fastnn.tools.demos, fastnn.tools.cli; "
            "sys.exit('matplotlib' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0


def test_drawing_without_matplotlib_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(plot.MissingMatplotlibError, match=r'pip install "fastnn-numba\[plot\]"'):
        plot.loss_curve(History(loss=[1.0, 0.5], lr=[0.1, 0.1], epochs=2))
    with pytest.raises(ImportError):  # MissingMatplotlibError is an ImportError
        plot.require_matplotlib()


@pytest.fixture(scope="module")
def mpl():
    """matplotlib, or skip: every test below draws."""
    return pytest.importorskip("matplotlib")


@pytest.fixture(scope="module")
def xor_model(mpl):
    model = Sequential([Dense(4, "tanh"), Dense(1, "sigmoid")], input_dim=2, seed=0)
    X, y = demos.xor_data()
    model.fit(X, y, epochs=200, optimizer="adam", loss="binary_crossentropy")
    return model


def _texts(ax):
    return ax.get_xlabel(), ax.get_ylabel(), ax.get_title()


def test_loss_curve_constant_lr_has_one_axis(mpl):
    fig = plot.loss_curve(History(loss=[1.0, 0.8, 0.7], lr=[0.1] * 3, epochs=3))
    assert isinstance(fig, mpl.figure.Figure)
    (ax,) = fig.axes
    assert _texts(ax) == ("Epoch", "Loss", "Training loss")
    assert ax.get_yscale() == "linear"
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), [1.0, 0.8, 0.7])


def test_loss_curve_varying_lr_gets_a_twin_axis_shared_by_overlays(mpl):
    history = History(loss=[1.0, 1e-3, 1e-5], lr=[0.1, 0.05, 0.033], epochs=3)
    fig = plot.loss_curve(history, label="a")
    ax = fig.axes[0]
    assert len(fig.axes) == 2 and fig.axes[1].get_ylabel() == "Learning rate"
    assert ax.get_yscale() == "log"  # the loss spans 1e5
    plot.loss_curve(history, ax=ax, label="b")
    assert len(fig.axes) == 2
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b", "learning rate"]


def test_loss_curve_with_validation_loss(mpl):
    fig = plot.loss_curve(History(loss=[1.0, 0.5], val_loss=[1.1, 0.6], lr=[0.1, 0.1], epochs=2))
    assert len(fig.axes[0].lines) == 2


def test_predictions_vs_actual(mpl):
    fig = plot.predictions_vs_actual([1, 2, 3], [[1.1], [1.9], [3.2]])
    assert _texts(fig.axes[0])[:2] == ("Actual value", "Prediction")
    with pytest.raises(ValueError, match="same number"):
        plot.predictions_vs_actual([1, 2, 3], [1, 2])


def test_weight_histograms_one_panel_per_layer(xor_model):
    fig = plot.weight_histograms(xor_model)
    assert len(fig.axes) == 2
    assert fig.axes[0].get_title().startswith("Layer 0 weights (2x4, tanh)")
    assert sum(p.get_height() for p in fig.axes[0].patches) == 8  # every weight counted once


def test_decision_boundary(xor_model):
    X, y = demos.xor_data()
    fig = plot.decision_boundary(xor_model, X, y, resolution=30)
    ax = fig.axes[0]
    assert _texts(ax)[:2] == ("x1", "x2")
    assert len(fig.axes) == 2  # the colour bar
    with pytest.raises(ValueError, match="2 input features"):
        plot.decision_boundary(xor_model, X[:, :1], y)


def test_decision_boundary_multiclass(mpl):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 2))
    labels = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0).astype(int)
    model = Sequential([Dense(3, "softmax")], input_dim=2, seed=0)
    model.fit(X, labels, epochs=5, loss="categorical_crossentropy")
    fig = plot.decision_boundary(model, X, labels, resolution=20)
    assert len(fig.axes[0].collections) >= 3


def test_drawing_on_a_given_axes_returns_its_figure(mpl):
    from matplotlib.figure import Figure

    fig = Figure()
    ax = fig.add_subplot()
    assert plot.loss_curve(History(loss=[1.0], lr=[0.1], epochs=1), ax=ax) is fig
    assert plot.predictions_vs_actual([1, 2], [1, 2], ax=ax) is fig


@pytest.mark.parametrize("name, kwargs, expected", [
    ("linear", {"epochs": 10, "converged_epochs": 20},
     ["linear_10-epochs_loss", "linear_10-epochs_weights", "linear_10-epochs_predictions",
      "linear_converged_loss", "linear_converged_weights", "linear_converged_predictions"]),
    ("classify", {"epochs": 20}, ["classify_as-written_loss", "classify_as-written_weights",
                                  "classify_as-written_boundary"]),
    ("house", {}, [f"house_{g}_{k}" for g in ("as-written", "seed-equivalent", "standardised")
                   for k in ("loss", "weights", "predictions")]),
])
def test_save_demo_plots_writes_nonempty_pngs(mpl, tmp_path, name, kwargs, expected):
    result = demos.run_demo(name, **kwargs)
    paths = plot.save_demo_plots(result, tmp_path)
    assert [os.path.basename(p) for p in paths] == [f"{e}.png" for e in expected]
    for path in paths:
        with open(path, "rb") as f:
            data = f.read()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 1000


def test_xor_better_figures_name_the_better_network(mpl, tmp_path, monkeypatch):
    """Every figure of the better xor runs names the network they train, 2-<XOR_BETTER_HIDDEN>-1."""
    expected = f"2-{demos.XOR_BETTER_HIDDEN}-1"
    titles = {}
    real = plot.save_figure

    def recording(fig, path, dpi=120):  # the titles of each figure as it is saved
        titles[os.path.basename(path)] = [ax.get_title() for ax in fig.axes] + [t.get_text() for t in fig.texts]
        return real(fig, path, dpi)

    monkeypatch.setattr(plot, "save_figure", recording)
    plot.save_demo_plots(demos.run_demo("xor", n_seeds=1, epochs=5, better_epochs=5), tmp_path)
    better = {name: texts for name, texts in titles.items() if name.startswith("xor_better_")}
    assert sorted(better) == [f"xor_better_{kind}.png" for kind in ("boundary", "loss", "weights")]
    for name, texts in better.items():
        assert any(expected in text for text in texts), (name, texts)
    # the weights and the boundary figures name the run itself: "(2-8-1, model seed 0)"
    for kind in ("boundary", "weights"):
        assert any(f"({expected}, model seed 0)" in text for text in better[f"xor_better_{kind}.png"])
