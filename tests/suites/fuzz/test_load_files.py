"""Fuzz ``fastnn.load`` on damaged, foreign and hand-crafted files: ValueError, never anything else.

Damaged: a valid saved model truncated, bit-flipped, with bytes inserted, a
wrong zip compression method, raw bytes or a plain ``.npy``.  Hand-crafted:
JSON edits of the header, or archives made member by member (absurd ``.npy``
headers, pickles, garbage) (:mod:`.run_load`).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import strategies as st

from .cases import LoadCase, Obj
from .driver import run_fuzz
from .values import OTHER_DTYPES, gen_data, seeds


BASES = [
    {"layers": [(3, "relu"), (2, "softmax")], "input_dim": 4, "dtype": "float64", "optimizer": None, "fit": False},
    {"layers": [(3, "tanh"), (2, "softmax")], "input_dim": 4, "dtype": "float32", "optimizer": "adam", "fit": True},
    {"layers": [(2, "identity")], "input_dim": 3, "dtype": "float64", "optimizer": "momentum", "fit": True},
    {"layers": [(2, "sigmoid")], "input_dim": 2, "dtype": "float32", "optimizer": "sgd", "fit": True},
]
_bases = st.sampled_from(BASES)
_paths = st.sampled_from(["file"] * 24 + ["pathlib", "bytes", "missing", "directory", None, 3, ["a"],
                          Obj("object()"), 1.5, "", "\x00"])

META_PATHS = [("format",), ("version",), ("dtype",), ("input_dim",), ("layers",), ("layers", 0),
              ("layers", 0, "units"), ("layers", 0, "activation"), ("layers", 0, "extra"), ("layers", 1),
              ("backend",), ("init",), ("seed",), ("loss",), ("optimizer",), ("optimizer", "name"),
              ("optimizer", "config"), ("optimizer", "config", "lr"), ("optimizer", "config", "momentum"),
              ("optimizer", "config", "beta1"), ("optimizer", "config", "extra"), ("step",), ("epochs_trained",),
              ("shuffle_rng",), ("shuffle_rng", "bit_generator"), ("shuffle_rng", "state"),
              ("shuffle_rng", "state", "state"), ("shuffle_rng", "state", "inc"), ("shuffle_rng", "has_uint32"),
              ("shuffle_rng", "uinteger")]
_json_scalars = st.one_of(
    st.none(), st.booleans(),
    st.sampled_from([0, 1, -1, 2, 3, 2**31, 2**63, 2**64, 2**128, -(2**64), 10**30, 10**300]),
    st.integers(-10, 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", "float64", "float32", "float16", "int8", "object", "O", "<f8", "S10", "relu", "softmax",
                     "mse", "sgd", "adam", "PCG64", "MT19937", "numba", "numpy", "normal", "fastnn-model",
                     "categorical_crossentropy", "[('a', '<f8', (1000000000000,))]"]),
    st.text(max_size=5),
)
_json_values = st.recursive(_json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(["units", "activation", "name", "config", "lr",
                                                                  "state", "inc", "x"]), inner, max_size=3)),
    max_leaves=6)
RAW_META = ["[" * 100000 + "]" * 100000, "{" * 5000, '{"format": "fastnn-model", "version": 1', "1e999999",
            '{"version": ' + "9" * 5000 + "}", "\ud800", "null", "[]", '"fastnn-model"', "",
            '{"format": "fastnn-model", "version": 1, "layers": [' + "{}, " * 10000 + "{}]}",
            '{"format": "fastnn-model", "version": 1.0}', '{"format": "fastnn-model", "version": true}']


def npy_header(descr: str, shape, fortran: bool = False, version: int = 1) -> bytes:
    """A hand-made ``.npy`` header (any shape, even absurd ones) with no check that data follows."""
    text = f"{{'descr': {descr!r}, 'fortran_order': {fortran}, 'shape': {shape!r}, }}"
    head_len = 10 if version == 1 else 12
    pad = (-(len(text) + 1 + head_len)) % 64
    body = (text + " " * pad + "\n").encode("latin1")
    size = len(body).to_bytes(2 if version == 1 else 4, "little")
    return b"\x93NUMPY" + bytes([version, 0]) + size + body


@st.composite
def npy_members(draw, rng):
    kind = draw(st.sampled_from(["array", "array", "header", "garbage", "pickle"]))
    if kind == "array":
        shape = draw(st.sampled_from([(26,), (0,), (), (2, 13), (1000,), (7,)]))
        dtype = draw(st.sampled_from(("float64", "float32") + OTHER_DTYPES[:-2]))
        content = draw(st.sampled_from(["normal", "special", "nan", "huge"]))
        return gen_data(rng, shape, content, dtype)
    if kind == "header":
        descr = draw(st.sampled_from(["<f8", "<f4", "|u1", "|O", ">f8", "<c16", "|V8", "<U3", "x", "<f8\x00"]))
        shape = draw(st.sampled_from([(10**12,), (2**62,), (2**40, 2**40), (-1,), (3, -2), (26,), (0,), (),
                                      (10**8,), ("a",), [3], (1.5,)]))
        payload = bytes(draw(st.binary(max_size=64)))
        return npy_header(descr, shape, draw(st.booleans()), draw(st.sampled_from([1, 1, 2]))) + payload
    if kind == "pickle":
        import pickle

        return npy_header("|O", (1,)) + pickle.dumps([1.0])
    return bytes(draw(st.binary(max_size=200)))


@st.composite
def load_cases(draw, handcrafted: bool) -> LoadCase:
    base = draw(_bases)
    path = draw(_paths)
    if not handcrafted:
        kind = draw(st.sampled_from(["truncate", "flip", "flip", "insert", "none", "raw", "npy", "zip-method"]))
        if kind == "truncate":
            mutation = ("truncate", draw(st.floats(0, 1, exclude_max=True)))
        elif kind == "flip":
            mutation = ("flip", tuple(draw(st.lists(st.tuples(st.floats(0, 1, exclude_max=True),
                                                              st.integers(1, 255)), min_size=1, max_size=4))))
        elif kind == "insert":
            mutation = ("insert", draw(st.floats(0, 1)), bytes(draw(st.binary(min_size=1, max_size=16))))
        elif kind == "raw":
            prefix = draw(st.sampled_from([b"", b"PK\x03\x04", b"\x93NUMPY\x01\x00", b"\x80\x04", b"PK\x05\x06"]))
            mutation = ("raw", prefix + bytes(draw(st.binary(max_size=120))))
        elif kind == "zip-method":
            mutation = ("zip-method", draw(st.integers(0, 3)), draw(st.sampled_from([99, 1, 6, 9, 12, 14, 255, 8])))
        else:
            mutation = (kind,)
        return LoadCase(base, mutation, path)
    if draw(st.integers(0, 9)) < 6:
        edits = []
        for _ in range(draw(st.integers(1, 3))):
            if draw(st.integers(0, 19)) == 19:
                edits.append(((), "<raw>", draw(st.sampled_from(RAW_META))))
                break
            value = draw(st.one_of(st.just("<delete>"), _json_values))
            edits.append((draw(st.sampled_from(META_PATHS)), value))
        return LoadCase(base, ("meta", tuple(edits)), "file")
    rng = np.random.default_rng(draw(seeds))
    members = {}
    for name in ("meta", "theta", "opt_state_0", "opt_state_1"):
        if draw(st.integers(0, 9)) == 9:
            continue  # a missing member
        if name == "meta":
            members["meta"] = draw(st.one_of(
                st.just('{"format": "fastnn-model", "version": 1, "dtype": "float64", "input_dim": 2, "layers": '
                        '[{"units": 13, "activation": "relu"}], "backend": "numba", "init": "normal", "seed": 0, '
                        '"loss": null, "optimizer": null, "step": 0, "epochs_trained": 0, "shuffle_rng": '
                        '{"bit_generator": "PCG64", "state": {"state": 1, "inc": 1}, "has_uint32": 0, '
                        '"uinteger": 0}}'),
                st.sampled_from(RAW_META), npy_members(rng)))
        else:
            members[name] = draw(npy_members(rng))
    return LoadCase(base, ("npz", members), "file")


_HUGE_THETA = npy_header("<f8", (10**12,)) + b"\0" * 16
LOAD_EXAMPLES = {
    False: [
        LoadCase(BASES[0], ("npy",)),
        LoadCase(BASES[0], ("zip-method", 0, 99)),
        LoadCase(BASES[1], ("truncate", 0.5)),
        LoadCase(BASES[1], ("none",)),
        LoadCase(BASES[0], ("none",), "missing"),
    ],
    True: [
        LoadCase(BASES[0], ("npz", {"meta": b"garbage", "theta": np.zeros(26), "opt_state_0": np.zeros(0),
                                    "opt_state_1": np.zeros(0)})),
        LoadCase(BASES[0], ("npz", {"meta": "{}", "theta": _HUGE_THETA, "opt_state_0": np.zeros(0),
                                    "opt_state_1": np.zeros(0)})),
        LoadCase(BASES[0], ("meta", (((), "<raw>", RAW_META[0]),))),
        LoadCase(BASES[0], ("meta", (((), "<raw>", RAW_META[4]),))),
        LoadCase(BASES[0], ("meta", ((("step",), float("inf")),))),
        LoadCase(BASES[0], ("meta", ((("input_dim",), float("inf")),))),
        LoadCase(BASES[0], ("meta", ((("shuffle_rng", "uinteger"), 2**70),))),
        LoadCase(BASES[0], ("meta", ((("optimizer",), {"name": "sgd", "config": {"lr": 10**400}}),))),
    ],
}


@pytest.mark.parametrize("handcrafted", [False, True], ids=["damaged", "handcrafted"])
def test_fuzz_load(worker, handcrafted):
    """fastnn.load: a damaged, foreign or hand-crafted file raises ValueError, never anything else."""
    entry = "load." + ("handcrafted" if handcrafted else "damaged")
    run_fuzz(worker, entry, load_cases(handcrafted), quick=60, long=3000, examples=LOAD_EXAMPLES[handcrafted])
