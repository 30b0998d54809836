"""Plots of training runs: loss curves, predictions, weights and decision boundaries.

matplotlib is an optional dependency (``pip install "fastnn-numba[plot]"``):
it is imported inside the functions, so ``import fastnn.tools.plot`` works without
it and only drawing raises :class:`MissingMatplotlibError`.

The functions draw on :class:`matplotlib.figure.Figure` objects created
without pyplot, so they never open a window, never touch the global pyplot
state and need no interactive backend; figures are rendered with the Agg
canvas when saved (:func:`save_figure`).  Each function returns the Figure it
drew on (the one of ``ax`` when an axes is given).

These are the plots seed 001 draws by hand (training curve with the learning
rate, predictions vs actual values, weight histograms) plus the decision
boundary of a 2-D classifier.
"""

from __future__ import annotations

import os
import re
import weakref

import numpy as np

#: How to install the optional plotting dependency.
INSTALL_HINT = 'pip install "fastnn-numba[plot]"'

#: Ratio between the largest and smallest positive loss above which
#: :func:`loss_curve` uses a logarithmic loss axis by default.
LOG_SCALE_RATIO = 1e3
#: Sample colours of classes 0 and 1 in :func:`decision_boundary` (the two ends of its colour map).
CLASS_COLORS = ("tab:blue", "tab:red")


class MissingMatplotlibError(ImportError):
    """matplotlib is needed for plotting but is not installed."""


def require_matplotlib():
    """Import and return :mod:`matplotlib`, or raise a helpful error.

    Returns
    -------
    module
        The :mod:`matplotlib` package.

    Raises
    ------
    MissingMatplotlibError
        If matplotlib cannot be imported; the message says how to install it.
    """
    try:
        import matplotlib
    except ImportError as exc:
        raise MissingMatplotlibError(f"plotting needs matplotlib, which is not installed: {INSTALL_HINT}") from exc
    return matplotlib


def _new_axes(ax, figsize=(7.0, 4.5)):
    """Return ``(fig, ax)``: the given axes and its figure, or a new pyplot-free figure with one axes."""
    require_matplotlib()
    if ax is not None:
        return ax.figure, ax
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def _use_log_scale(values) -> bool:
    positive = [v for v in values if np.isfinite(v) and v > 0]
    return bool(positive) and max(positive) / min(positive) > LOG_SCALE_RATIO


def loss_curve(history, ax=None, label=None, title="Training loss", logy=None):
    """Plot the training loss per epoch, and the learning rate when it varies.

    Call it again with the same ``ax`` to overlay several runs.

    Parameters
    ----------
    history : fastnn.History
        ``history.loss`` is plotted against the epoch; ``history.val_loss``
        too when present; ``history.lr`` on a second y axis (right) when it is
        not constant.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; default: a new figure.
    label : str, optional
        Legend label of the loss line.
    title : str, default "Training loss"
    logy : bool, optional
        Logarithmic loss axis.  Default: on when the positive losses span more
        than :data:`LOG_SCALE_RATIO`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = _new_axes(ax)
    epochs = np.arange(len(history.loss))
    ax.plot(epochs, history.loss, label=label or "training loss")
    if history.val_loss:
        ax.plot(epochs[:len(history.val_loss)], history.val_loss, linestyle="--",
                label=f"{label} (validation)" if label else "validation loss")
    if logy if logy is not None else _use_log_scale(history.loss):
        ax.set_yscale("log")
    ax.set_xlabel("Epoch")
    ax.set_ylabel("Loss")
    ax.set_title(title)
    ax.grid(True, linestyle="--", alpha=0.5)
    if history.lr and max(history.lr) > min(history.lr):
        _lr_axis(ax).plot(np.arange(len(history.lr)), history.lr, color="tab:gray", linestyle=":",
                          label="learning rate")
    _legend(ax)
    return fig


#: The learning-rate twin axis of each axes that has one (weak keys: forgotten with the figure).
_LR_AXES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _lr_axis(ax):
    """The learning-rate twin axis of ``ax``, created on first use (so overlays share one)."""
    twin = _LR_AXES.get(ax)
    if twin is None:
        twin = ax.twinx()
        twin.set_ylabel("Learning rate", color="tab:gray")
        twin.tick_params(axis="y", labelcolor="tab:gray")
        _LR_AXES[ax] = twin
    return twin


def _legend(ax):
    """One legend for ``ax`` and its learning-rate twin, if any line is labelled."""
    handles, labels = ax.get_legend_handles_labels()
    twin = _LR_AXES.get(ax)
    if twin is not None:
        more_handles, more_labels = twin.get_legend_handles_labels()
        handles, labels = handles + more_handles[:1], labels + more_labels[:1]
    if handles:
        ax.legend(handles, labels, loc="upper right", fontsize="small")


def predictions_vs_actual(y_true, y_pred, ax=None, title="Predictions vs actual values"):
    """Scatter the predictions against the true values, with the line of perfect prediction.

    Parameters
    ----------
    y_true, y_pred : array_like
        Same number of elements (flattened).
    ax : matplotlib.axes.Axes, optional
    title : str, default "Predictions vs actual values"

    Returns
    -------
    matplotlib.figure.Figure
    """
    y_true = np.asarray(y_true, dtype=np.float64).ravel()
    y_pred = np.asarray(y_pred, dtype=np.float64).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred must have the same number of values, got {y_true.size} and {y_pred.size}")
    fig, ax = _new_axes(ax, figsize=(6.0, 5.5))
    ax.scatter(y_true, y_pred, alpha=0.7, label="samples")
    lo, hi = float(min(y_true.min(), y_pred.min())), float(max(y_true.max(), y_pred.max()))
    ax.plot([lo, hi], [lo, hi], "r--", label="perfect prediction")
    ax.set_xlabel("Actual value")
    ax.set_ylabel("Prediction")
    ax.set_title(title)
    ax.grid(True, linestyle="--", alpha=0.5)
    ax.legend(loc="upper left", fontsize="small")
    return fig


def weight_histograms(model, fig=None, bins=20, title="Weight distributions"):
    """One histogram of the weights (not the biases) of each Dense layer.

    Parameters
    ----------
    model : fastnn.Sequential
        A built model.
    fig : matplotlib.figure.Figure, optional
        An empty figure to draw on; default: a new one.
    bins : int, default 20
    title : str, default "Weight distributions"

    Returns
    -------
    matplotlib.figure.Figure
    """
    require_matplotlib()
    from matplotlib.ticker import MaxNLocator

    weights = model.get_weights()[0::2]
    if fig is None:
        from matplotlib.figure import Figure

        fig = Figure(figsize=(4.5 * len(weights), 4.0), layout="constrained")
    axes = fig.subplots(1, len(weights), squeeze=False)[0]
    for i, (ax, w) in enumerate(zip(axes, weights)):
        ax.hist(w.ravel(), bins=bins, alpha=0.8, edgecolor="black", linewidth=0.5)
        ax.set_title(f"Layer {i} weights ({w.shape[0]}x{w.shape[1]}, {model.layers[i].activation})")
        ax.set_xlabel("Weight value")
        ax.set_ylabel("Count")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, linestyle="--", alpha=0.5)
    fig.suptitle(title)
    return fig


def decision_boundary(model, X, y, ax=None, resolution=200, title="Decision boundary"):
    """Shade a 2-input classifier's output over the plane, with its boundary and the samples.

    Parameters
    ----------
    model : fastnn.Sequential
        Built, with 2 inputs.  One output: the probability of class 1 is
        shaded and its 0.5 level drawn; several outputs: the arg-max class.
    X : array_like, shape (n_samples, 2)
    y : array_like, shape (n_samples,) or (n_samples, n_outputs)
        Labels (0/1, class indices or one-hot rows) used to colour the samples.
    ax : matplotlib.axes.Axes, optional
    resolution : int, default 200
        Grid points per axis.
    title : str, default "Decision boundary"

    Returns
    -------
    matplotlib.figure.Figure
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != 2 or model.input_dim != 2:
        raise ValueError(f"decision_boundary needs 2 input features, got X of shape {X.shape} "
                         f"and a model with input_dim={model.input_dim}")
    labels = _class_labels(y)
    fig, ax = _new_axes(ax, figsize=(6.0, 5.5))
    xx, yy = _grid(X, resolution)
    out = model.predict(np.column_stack([xx.ravel(), yy.ravel()]))
    if out.shape[1] == 1:
        zz = out[:, 0].reshape(xx.shape)
        shading = ax.contourf(xx, yy, zz, levels=np.linspace(0.0, 1.0, 11), cmap="RdBu_r", alpha=0.6)
        ax.contour(xx, yy, zz, levels=[0.5], colors="black", linewidths=1.5)
        fig.colorbar(shading, ax=ax, label="P(class 1)")
    else:
        zz = np.argmax(out, axis=1).reshape(xx.shape)
        ax.contourf(xx, yy, zz, levels=np.arange(out.shape[1] + 1) - 0.5, cmap="tab10", alpha=0.4)
    for cls in np.unique(labels):
        mask = labels == cls
        color = CLASS_COLORS[cls % len(CLASS_COLORS)] if out.shape[1] == 1 else None
        ax.scatter(X[mask, 0], X[mask, 1], color=color, edgecolor="black", label=f"class {cls}")
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize="small")
    return fig


def _class_labels(y) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        return np.argmax(y, axis=1)
    return np.rint(y.reshape(-1)).astype(int)


def _grid(X: np.ndarray, resolution: int):
    """A ``resolution`` x ``resolution`` grid covering ``X`` with a 10 % margin (at least 0.5)."""
    lo, hi = X.min(axis=0), X.max(axis=0)
    pad = np.maximum(0.1 * (hi - lo), 0.5)
    axes = [np.linspace(lo[j] - pad[j], hi[j] + pad[j], resolution) for j in range(2)]
    return np.meshgrid(*axes)


def save_figure(fig, path, dpi=120) -> str:
    """Render ``fig`` with the Agg canvas to the PNG file ``path``; return the path.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    path : str or os.PathLike
    dpi : int, default 120

    Returns
    -------
    str
    """
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=dpi, format="png")
    return os.fspath(path)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def save_demo_plots(result, directory) -> list[str]:
    """Write the PNG plots of a demo result (:class:`fastnn.tools.demos.DemoResult`) into ``directory``.

    For every group of runs in the result: one loss curve overlaying the
    group's runs; for the group's first run, the weight histograms, the
    predictions vs actual values (regression runs) and the decision boundary
    (classification runs with 2 inputs).  Files are named
    ``<demo>_<group>_<plot>.png``.

    Parameters
    ----------
    result : fastnn.tools.demos.DemoResult
    directory : str or os.PathLike
        Must exist and be writable.

    Returns
    -------
    list of str
        The paths written, in order.
    """
    require_matplotlib()
    written = []
    for group, runs in _groups(result.runs).items():
        stem = os.path.join(os.fspath(directory), f"{result.name}_{_slug(group)}")
        written += _save_group(result, group, runs, stem)
    return written


def _groups(runs) -> dict:
    groups: dict = {}
    for run in runs:
        groups.setdefault(run.group, []).append(run)
    return groups


def _save_group(result, group: str, runs, stem: str) -> list[str]:
    fig, ax = _new_axes(None)
    for run in runs:
        loss_curve(run.history, ax=ax, label=run.label if len(runs) > 1 else None,
                   title=f"{result.title}\n{group}: training loss ({run.loss_name})")
    written = [save_figure(fig, f"{stem}_loss.png")]
    first = runs[0]
    fig = weight_histograms(first.model, title=f"{result.title}\n{group}: weights after training ({first.label})")
    written.append(save_figure(fig, f"{stem}_weights.png"))
    if first.kind == "regression":
        fig = predictions_vs_actual(first.y_true, first.y_pred,
                                    title=f"{result.title}\n{group}: predictions vs actual ({first.label})")
        written.append(save_figure(fig, f"{stem}_predictions.png"))
    elif first.X.shape[1] == 2:
        fig = decision_boundary(first.model, first.X, first.y_true,
                                title=f"{result.title}\n{group}: decision boundary ({first.label})")
        written.append(save_figure(fig, f"{stem}_boundary.png"))
    return written
