"""Direct calls of SciPy's BLAS ``sgemm``/``dgemm`` from compiled code, with leading dimensions.

``np.dot`` in Numba needs whole contiguous operands.  Splitting a product
between threads by *columns* of the result (each thread one part of the
weight matrix, nothing packed twice, no partial sums to add) needs products
of sub-matrices, which BLAS describes with leading dimensions.  This module
declares SciPy's Fortran ``?gemm`` as a Numba external function:

- the address of ``scipy.linalg.cython_blas.sgemm`` (and ``dgemm``) is
  registered with LLVM under a fixed symbol name at import, so compiled code
  refers to the *name* and stays valid in Numba's disk cache (a raw address
  would change in every process);
- :func:`gemm` takes the Fortran (column-major) arguments; its array
  arguments are flat views whose first element is the matrix's first element.

Row-major helpers used by the training step (each the product of one
column range of the result; see :func:`forward_columns`,
:func:`weight_grad_columns`, :func:`input_grad_columns`).  A column range
of a product is computed exactly as the whole product computes those columns
(the same inner products over the same ``k`` order), so splitting gives the
same bits as not splitting (tested).
"""

from __future__ import annotations

import ctypes
import importlib.machinery
import importlib.util
import os
import sys

import llvmlite.binding as llvm
import numpy as np
from numba import prange, types
from numba.core.extending import get_cython_function_address

from fastnn.config import COLUMN_PART_MIN, COLUMN_PARTS, COLUMN_SPLIT_MIN_MADDS, COLUMN_SPLIT_MIN_WEIGHTS
from fastnn.kernels._jit import serial_kernel
from fastnn.kernels.dense import matmul_into

_CYTHON_BLAS = "scipy.linalg.cython_blas"


def _cython_blas_address(name: str) -> int:
    """Address of ``scipy.linalg.cython_blas.<name>``, without importing the ``scipy.linalg`` package.

    ``import scipy.linalg.cython_blas`` runs ``scipy.linalg/__init__`` first
    (0.16-0.26 s measured, most of a warm first fit of a narrow network, which
    never calls BLAS).  The extension module itself loads in ~3 ms: it is
    loaded from its file (not entered in ``sys.modules``; the shared library
    is the one ``scipy.linalg`` loads later, so the address is the same) and
    the function pointer read from its Cython C-API capsule.  Any surprise
    (another SciPy layout) falls back to Numba's own lookup.
    """
    try:
        module = sys.modules.get(_CYTHON_BLAS)
        if module is None:
            import scipy

            folder = os.path.join(scipy.__path__[0], "linalg")
            path = next(os.path.join(folder, "cython_blas" + suffix) for suffix in importlib.machinery.EXTENSION_SUFFIXES
                        if os.path.exists(os.path.join(folder, "cython_blas" + suffix)))
            loader = importlib.machinery.ExtensionFileLoader(_CYTHON_BLAS, path)
            module = importlib.util.module_from_spec(importlib.util.spec_from_file_location(_CYTHON_BLAS, path,
                                                                                            loader=loader))
            loader.exec_module(module)
        capsule = module.__pyx_capi__[name]
        capsule_name = ctypes.PYFUNCTYPE(ctypes.c_char_p, ctypes.py_object)(("PyCapsule_GetName", ctypes.pythonapi))
        pointer = ctypes.PYFUNCTYPE(ctypes.c_void_p, ctypes.py_object, ctypes.c_char_p)(
            ("PyCapsule_GetPointer", ctypes.pythonapi))
        address = pointer(capsule, capsule_name(capsule))
        if address:
            return address
    except Exception:  # pragma: no cover - a SciPy without the file layout above
        pass
    return get_cython_function_address(_CYTHON_BLAS, name)


for _name in ("sgemm", "dgemm"):
    llvm.add_symbol(f"fastnn_scipy_{_name}", _cython_blas_address(_name))

_SIGNATURE = types.void(*([types.voidptr] * 13))
_sgemm = types.ExternalFunction("fastnn_scipy_sgemm", _SIGNATURE)
_dgemm = types.ExternalFunction("fastnn_scipy_dgemm", _SIGNATURE)

#: Fortran transposition flags.
NO_TRANS = ord("N")
TRANS = ord("T")


@serial_kernel
def gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    """Fortran ``c = alpha op(a) @ op(b) + beta c`` (column-major, m x n result) for float32 or float64.

    Parameters
    ----------
    trans_a, trans_b : int
        :data:`NO_TRANS` or :data:`TRANS` (character codes).
    m, n, k : int
        ``op(a)`` is m x k, ``op(b)`` k x n.
    alpha, beta : float
    a, b, c : 1-D arrays of one dtype
        Flat views starting at each matrix's first element.
    lda, ldb, ldc : int
        Leading dimensions (column strides, in elements).
    """
    flags = np.empty(2, np.uint8)
    flags[0] = trans_a
    flags[1] = trans_b
    dims = np.empty(6, np.int32)
    dims[0] = m
    dims[1] = n
    dims[2] = k
    dims[3] = lda
    dims[4] = ldb
    dims[5] = ldc
    scalars = np.empty(2, c.dtype)
    scalars[0] = alpha
    scalars[1] = beta
    if c.itemsize == 4:  # float32
        _sgemm(flags[0:].ctypes, flags[1:].ctypes, dims[0:].ctypes, dims[1:].ctypes, dims[2:].ctypes,
               scalars[0:].ctypes, a.ctypes, dims[3:].ctypes, b.ctypes, dims[4:].ctypes, scalars[1:].ctypes,
               c.ctypes, dims[5:].ctypes)
    else:
        _dgemm(flags[0:].ctypes, flags[1:].ctypes, dims[0:].ctypes, dims[1:].ctypes, dims[2:].ctypes,
               scalars[0:].ctypes, a.ctypes, dims[3:].ctypes, b.ctypes, dims[4:].ctypes, scalars[1:].ctypes,
               c.ctypes, dims[5:].ctypes)


# Row-major (nb, d) @ (d, k) = (nb, k) is column-major (k, nb) = (k, d) @ (d, nb): the Fortran calls below
# swap the operands.  Every flat argument is a whole row-major matrix; j0:j1 selects columns of the result.

@serial_kernel
def forward_columns(x, w, out, nb, d, k, j0, j1):
    """Columns ``j0:j1`` of ``out = x @ w``: x (nb, d), w (d, k), out (nb, k), all flat row-major."""
    gemm(NO_TRANS, NO_TRANS, j1 - j0, nb, d, 1.0, w[j0:], k, x, d, 0.0, out[j0:], k)


@serial_kernel
def weight_grad_columns(x, delta, grad_w, nb, d, k, j0, j1):
    """Columns ``j0:j1`` of ``grad_w = x.T @ delta``: x (nb, d), delta (nb, k), grad_w (d, k), flat row-major."""
    gemm(NO_TRANS, TRANS, j1 - j0, d, nb, 1.0, delta[j0:], k, x, d, 0.0, grad_w[j0:], k)


@serial_kernel
def input_grad_columns(delta, w, grad_x, nb, d, k, p0, p1):
    """Columns ``p0:p1`` of ``grad_x = delta @ w.T``: delta (nb, k), w (d, k), grad_x (nb, d), flat row-major."""
    gemm(TRANS, NO_TRANS, p1 - p0, nb, k, 1.0, w[p0 * k:], k, delta, k, 0.0, grad_x[p0:], d)


@serial_kernel
def has_large_weights(layout, nb):
    """True when a batch of ``nb`` rows of this network trains with column splits (:func:`column_parts`).

    That is when some weight matrix has at least
    :data:`fastnn.config.COLUMN_SPLIT_MIN_WEIGHTS` entries and the batch at
    least :data:`fastnn.config.COLUMN_PART_MIN` rows; such networks are never
    cut into row blocks (:func:`fastnn.contract.row_blocks` applies the same rule).
    """
    if nb < COLUMN_PART_MIN:
        return False
    for l in range(layout.shape[0]):
        if layout[l, 0] * layout[l, 1] >= COLUMN_SPLIT_MIN_WEIGHTS:  # N_IN * N_OUT
            return True
    return False


@serial_kernel
def column_parts(split, nb, d, k, n_columns):
    """Parts the product of a ``d x k`` weight matrix with ``nb`` rows is split into along ``n_columns`` columns.

    With ``split`` (a network with large weights, :func:`has_large_weights`),
    :data:`fastnn.config.COLUMN_PARTS` when the product has at least
    :data:`fastnn.config.COLUMN_SPLIT_MIN_MADDS` multiply-adds and each part
    gets :data:`fastnn.config.COLUMN_PART_MIN` columns; else 1.  It depends on
    the shapes only (a split can change the bits: OpenBLAS picks its kernels
    by shape), never on the thread count.
    """
    if split and nb * d * k >= COLUMN_SPLIT_MIN_MADDS and n_columns >= COLUMN_PARTS * COLUMN_PART_MIN:
        return COLUMN_PARTS
    return 1


@serial_kernel
def product_forward(inp, w, out, split):
    """``out = inp @ w`` (2-D, C-contiguous), split by columns of ``out`` between threads when ``split`` and large."""
    nb, d = inp.shape
    k = w.shape[1]
    parts = column_parts(split, nb, d, k, k)
    if parts == 1:
        matmul_into(inp, w, out)
        return
    xf = inp.reshape(nb * d)
    wf = w.reshape(d * k)
    of = out.reshape(nb * k)
    for c in prange(parts):
        forward_columns(xf, wf, of, nb, d, k, c * k // parts, (c + 1) * k // parts)


@serial_kernel
def product_weight_grad(inp, delta, grad_w, split):
    """``grad_w = inp.T @ delta`` (2-D, C-contiguous), split by columns of ``grad_w`` when ``split`` and large."""
    nb, d = inp.shape
    k = delta.shape[1]
    parts = column_parts(split, nb, d, k, k)
    if parts == 1:
        matmul_into(inp.T, delta, grad_w)
        return
    xf = inp.reshape(nb * d)
    df = delta.reshape(nb * k)
    gf = grad_w.reshape(d * k)
    for c in prange(parts):
        weight_grad_columns(xf, df, gf, nb, d, k, c * k // parts, (c + 1) * k // parts)


@serial_kernel
def product_input_grad(delta, w, grad_x, split):
    """``grad_x = delta @ w.T`` (2-D, C-contiguous), split by columns of ``grad_x`` when ``split`` and large."""
    nb, k = delta.shape
    d = w.shape[0]
    parts = column_parts(split, nb, d, k, d)
    if parts == 1:
        matmul_into(delta, w.T, grad_x)
        return
    df = delta.reshape(nb * k)
    wf = w.reshape(d * k)
    gf = grad_x.reshape(nb * d)
    for c in prange(parts):
        input_grad_columns(df, wf, gf, nb, d, k, c * d // parts, (c + 1) * d // parts)
