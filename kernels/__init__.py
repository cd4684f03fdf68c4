"""minicnn.kernels: the Numba kernels under minicnn's ops, one module per algorithm family.

Kernels work on NumPy arrays and know nothing of Tensors or autograd.

The convolution algorithms are listed in `ALGORITHMS` (see registry.py for the interface each one
implements; a new one registers below). algorithm="auto" follows `heuristic_choice`, or, after
`autotune(True)`, times the eligible algorithms on the first call of each shape.
"""
import os

# Numba's parallel loops run on OpenMP threads, which by default spin for a while after each loop,
# competing for the cores with whatever runs next (OpenBLAS's GEMM threads, the next kernel, other
# processes). Measured on 2 busy cores: every parallel call of a LeNet-sized kernel took 8 ms
# instead of 0.4 ms. Sleeping at once avoids it. It must be set before the OpenMP runtime starts
# (at the first parallel kernel call); a value the user set wins.
os.environ.setdefault("OMP_WAIT_POLICY", "passive")

from . import direct, fft, gemm, im2col, reference, separable, winograd  # noqa: E402
from .registry import (ALGORITHMS, ConvAlgorithm, ConvGeometry, autotune, autotune_cache,  # noqa: E402
                       choose_algorithm, eligible_algorithms, get_algorithm, heuristic_choice,
                       output_length, register_algorithm)

for _algorithm in (direct.ALGORITHM, im2col.ALGORITHM, gemm.ALGORITHM, winograd.F2X3_ALGORITHM,
                   winograd.F4X3_ALGORITHM, fft.ALGORITHM, separable.SEPARABLE, separable.DEPTHWISE,
                   reference.ALGORITHM):
    register_algorithm(_algorithm)
