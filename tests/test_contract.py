"""fastnn.contract: the one definition of the training loops' arguments, layout, slots and codes."""

from __future__ import annotations

import ast
import inspect
import pathlib

import numpy as np
import pytest

import fastnn
import fastnn.kernels.train as K
import fastnn.reference.train as R
from fastnn import contract
from fastnn.activations import RELU, SIGMOID

PACKAGE = pathlib.Path(fastnn.__file__).parent
CONTRACT_NAMES = ("N_IN", "N_OUT", "ACT", "W_OFF", "B_OFF", "A_COL", "H_LR", "H_ALPHA", "N_HYPER", "KERAS", "SKLEARN",
                  "OK", "NON_FINITE", "STOPPED_EARLY", "S_BEST", "S_KEPT_SLOT")


def _python_entry(module, name):
    function = getattr(module, name)
    return function.serial.py_func if hasattr(function, "serial") else function


@pytest.mark.parametrize("name", sorted(contract.ENTRY_POINTS))
@pytest.mark.parametrize("module", [K, R], ids=["kernels", "reference"])
def test_both_backends_take_exactly_the_contract_fields_in_order(module, name):
    expected = [field for args in contract.ENTRY_POINTS[name] for field in args._fields]
    assert list(inspect.signature(_python_entry(module, name)).parameters) == expected


def test_a_signature_that_drifts_from_the_contract_is_refused():
    def predict_rows(X, layout, theta, tile, n_workers, buffers, out):  # theta and layout swapped
        pass

    with pytest.raises(TypeError, match="predict_rows"):
        contract.require_parameters(predict_rows, "predict_rows")
    contract.require_parameters(R.predict_rows, "predict_rows")  # the real one passes


def test_the_contract_is_declared_once():
    """No module besides fastnn/contract.py assigns the layout columns, slots, conventions or status codes."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "contract.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Assign):  # NAME = ... or A, B = ... (not state[NAME] = ...)
                targets = [t for target in node.targets
                           for t in (target.elts if isinstance(target, ast.Tuple) else [target])
                           if isinstance(t, ast.Name)]
                offenders += [f"{path.relative_to(PACKAGE)}: {t.id}" for t in targets if t.id in CONTRACT_NAMES]
    assert offenders == []


def test_make_layout_places_each_weight_matrix_before_its_bias():
    layout, n_params = contract.make_layout(3, [4, 2], [RELU, SIGMOID])
    # layer 0: 3x4 weights at 0, 4 biases at 12; layer 1: 4x2 weights at 16, 2 biases at 24
    assert layout.tolist() == [[3, 4, RELU, 0, 12, 0], [4, 2, SIGMOID, 16, 24, 4]]
    assert n_params == 3 * 4 + 4 + 4 * 2 + 2
    theta = np.arange(n_params, dtype=float)
    w, b = contract.layer_views(theta, layout, 1)
    assert w.shape == (4, 2) and w[0, 0] == 16 and b.tolist() == [24, 25]
    w[0, 0] = -1.0  # views, not copies
    assert theta[16] == -1.0
    assert contract.madds_per_row(layout) == 3 * 4 + 4 * 2


def test_hyper_vector_is_built_by_name():
    hyper = contract.hyper_vector(lr=0.1, momentum=0.9, nesterov=True, alpha=1e-4, min_delta=0.5)
    assert hyper.dtype == np.float64 and hyper.shape == (contract.N_HYPER,)
    assert hyper[contract.H_LR] == 0.1 and hyper[contract.H_MOMENTUM] == 0.9 and hyper[contract.H_NESTEROV] == 1.0
    assert hyper[contract.H_ALPHA] == 1e-4 and hyper[contract.H_MIN_DELTA] == 0.5
    assert hyper[contract.H_BETA1] == 0.9 and hyper[contract.H_BETA2] == 0.999 and hyper[contract.H_DECAY] == 0.0
    with pytest.raises(TypeError):
        contract.hyper_vector(0.1)  # positional: refused


def test_new_loop_state_has_nothing_best_and_nothing_kept():
    state = contract.new_loop_state()
    assert state.shape == (contract.N_STATE,)
    assert state[contract.S_BEST] == np.inf and state[contract.S_BEST_EPOCH] == -1
    assert state[contract.S_KEPT_LOSS] == np.inf and state[contract.S_KEPT_EPOCH] == -1
    assert state[contract.S_WAIT] == 0 and state[contract.S_KEPT_SLOT] == 0
