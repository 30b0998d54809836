"""fastnn: fast dense neural networks on the CPU.

Numba kernels (:mod:`fastnn.kernels`) with a plain-NumPy reference twin
(:mod:`fastnn.reference`) that has the same functions and signatures and is
the correctness oracle for every kernel.
"""

from fastnn import activations, config, losses
from fastnn.activations import ACTIVATIONS
from fastnn.config import get_num_threads, set_num_threads, threads
from fastnn.losses import LOSSES

__version__ = "0.1.0"

__all__ = [
    "ACTIVATIONS",
    "LOSSES",
    "activations",
    "config",
    "get_num_threads",
    "losses",
    "set_num_threads",
    "threads",
]
