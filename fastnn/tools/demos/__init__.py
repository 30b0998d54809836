"""The four seed tutorials, reproduced with :class:`fastnn.Sequential`.

Each demo builds the seed's data (and, where the seed fixes them, its initial
weights) exactly as the seed's code does, trains fastnn models on the
requested backend, and returns a :class:`DemoResult` holding every number it
reports.  :func:`format_result` turns a result into the printed report; it
only formats numbers the demo computed.

==========  ========  ==========================================================
demo        seed      what it shows
==========  ========  ==========================================================
linear      000       one neuron learns y = 2x; what 100 epochs really give
xor         003       2-4-1 sigmoid net on XOR, as written (often fails) and a
                      2-8-1 configuration that solves it for every seed tried
house       001       2-3-1 ReLU regression of house prices with lr decay;
                      the seed's gradient scaling, and a working setup
classify    002       2-4-1 ReLU/sigmoid classifier, 10,000 epochs, accuracy
==========  ========  ==========================================================

Gradient conventions matter when a seed's learning rate is reused: fastnn
always computes the true gradient of the loss it reports (MSE = mean of the
squared errors).  Seeds 000 and 002 do the same, so their learning rates carry
over unchanged; seed 003 uses the gradient of *half* the MSE it prints and
seed 001 divides its gradient by the number of samples once too often.  The
demos for those two say how their learning rates translate.

One module per tutorial (:mod:`.linear`, :mod:`.xor`, :mod:`.house`,
:mod:`.classify`: its data, constants, ``run_*`` and report lines) and
:mod:`.common` (the result types, the timed fit, the warm-up); this package
re-exports their public names and holds the registry :data:`DEMOS`.

Run them with ``fastnn demo NAME`` (see :mod:`fastnn.tools.cli`) or
``run_demo(NAME)``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from fastnn.tools.demos.classify import (
    CLASSIFY_EPOCHS,
    CLASSIFY_LR,
    CLASSIFY_N,
    classify_data,
    format_classify,
    run_classify,
)
from fastnn.tools.demos.common import DemoResult, Run, format_seconds, r2_score, warm_up
from fastnn.tools.demos.common import timed_fit as _fit  # noqa: F401  (its name before the split; tests use it)
from fastnn.tools.demos.house import (
    HOUSE_EPOCHS,
    HOUSE_EXAMPLE,
    HOUSE_N,
    HOUSE_NOISE_STD,
    HOUSE_SEED_EQUIVALENT_LR,
    HOUSE_STANDARDISED_LR,
    HOUSE_TRUE_BIAS,
    HOUSE_TRUE_WEIGHTS,
    SEED001_DECAY,
    SEED001_LR,
    dead_relu_units,
    format_house,
    house_data,
    house_true_price,
    mean_slopes,
    run_house,
)
from fastnn.tools.demos.linear import (
    LINEAR_CONVERGED_EPOCHS,
    LINEAR_EPOCHS,
    LINEAR_INITIAL_B,
    LINEAR_INITIAL_W,
    LINEAR_LR,
    LINEAR_PRINT_EVERY,
    LINEAR_X,
    first_epoch_showing,
    format_linear,
    linear_data,
    run_linear,
)
from fastnn.tools.demos.xor import (
    SEED003_LR,
    XOR_BETTER_EPOCHS,
    XOR_BETTER_HIDDEN,
    XOR_BETTER_LR,
    XOR_BETTER_NETWORK,
    XOR_EPOCHS,
    XOR_N_SEEDS,
    XOR_SEED_HIDDEN,
    XOR_SEED_LR,
    XOR_SEED_NETWORK,
    XOR_TOLERANCE,
    XOR_X,
    XOR_Y,
    format_xor,
    run_xor,
    xor_better_model,
    xor_data,
    xor_seed_model,
)


@dataclass(frozen=True)
class DemoSpec:
    """A registered demo: the function that runs it, its report formatter, a description."""

    run: Callable[..., DemoResult]
    format: Callable[[DemoResult], list]
    description: str
    uses_seed: bool = False


DEMOS: dict[str, DemoSpec] = {
    "linear": DemoSpec(run_linear, format_linear, "seed 000: one neuron learns y = 2x (100 epochs, then converged)"),
    "xor": DemoSpec(run_xor, format_xor, f"seed 003: {XOR_SEED_NETWORK} sigmoid net on XOR, as written and a "
                    "configuration that solves it", uses_seed=True),
    "house": DemoSpec(run_house, format_house, "seed 001: 2-3-1 ReLU regression of house prices with lr decay"),
    "classify": DemoSpec(run_classify, format_classify, "seed 002: 2-4-1 ReLU/sigmoid classifier, accuracy"),
}


def run_demo(name, backend="numba", dtype="float64", seed=None, **kwargs) -> DemoResult:
    """Run the demo ``name`` and return its result.

    Parameters
    ----------
    name : str
        A key of :data:`DEMOS`.
    backend : {"numba", "numpy"}, default "numba"
    dtype : {"float64", "float32"}, default "float64"
    seed : int, optional
        For demos that use one (``xor``: the first model seed); a ValueError
        for the others, whose data and initial weights the seeds fix.
    **kwargs
        Passed to the demo's ``run_*`` function (e.g. ``epochs``).

    Returns
    -------
    DemoResult
    """
    if name not in DEMOS:
        raise ValueError(f"unknown demo {name!r}; expected one of {list(DEMOS)}")
    spec = DEMOS[name]
    if seed is not None:
        if not spec.uses_seed:
            users = [n for n, s in DEMOS.items() if s.uses_seed]
            raise ValueError(f"the {name!r} demo takes no seed (the seed tutorial fixes its data and initial "
                             f"weights); --seed applies to: {', '.join(users)}")
        kwargs["seed"] = seed
    warmup = warm_up(backend, np.dtype(dtype).name)
    start = time.perf_counter()
    result = spec.run(backend=backend, dtype=dtype, **kwargs)
    result.seconds = time.perf_counter() - start
    result.warmup_seconds = warmup
    return result


def format_result(result: DemoResult) -> str:
    """The printed report of a demo result: a header, the demo's lines, the timing."""
    header = f"== {result.name}: {result.title}  [backend {result.backend}, {result.dtype}] =="
    lines = [header] + DEMOS[result.name].format(result)
    timing = f"Total time: {format_seconds(result.seconds)}"
    if result.warmup_seconds >= 0.01:
        timing += f" (plus {format_seconds(result.warmup_seconds)} compiling/loading the kernels first)"
    lines.append(timing + ".")
    return "\n".join(lines)


__all__ = [
    "CLASSIFY_EPOCHS", "CLASSIFY_LR", "CLASSIFY_N", "DEMOS", "DemoResult", "DemoSpec", "HOUSE_EPOCHS",
    "HOUSE_EXAMPLE", "HOUSE_N", "HOUSE_NOISE_STD", "HOUSE_SEED_EQUIVALENT_LR", "HOUSE_STANDARDISED_LR",
    "HOUSE_TRUE_BIAS", "HOUSE_TRUE_WEIGHTS", "LINEAR_CONVERGED_EPOCHS", "LINEAR_EPOCHS", "LINEAR_INITIAL_B",
    "LINEAR_INITIAL_W", "LINEAR_LR", "LINEAR_PRINT_EVERY", "LINEAR_X", "Run", "SEED001_DECAY", "SEED001_LR",
    "SEED003_LR", "XOR_BETTER_EPOCHS", "XOR_BETTER_HIDDEN", "XOR_BETTER_LR", "XOR_BETTER_NETWORK", "XOR_EPOCHS",
    "XOR_N_SEEDS", "XOR_SEED_HIDDEN", "XOR_SEED_LR", "XOR_SEED_NETWORK", "XOR_TOLERANCE", "XOR_X", "XOR_Y",
    "classify_data", "dead_relu_units", "first_epoch_showing", "format_classify", "format_house", "format_linear",
    "format_result", "format_seconds", "format_xor", "house_data",
    "house_true_price", "linear_data", "mean_slopes", "r2_score", "run_classify", "run_demo", "run_house",
    "run_linear", "run_xor", "warm_up", "xor_better_model", "xor_data", "xor_seed_model",
]
