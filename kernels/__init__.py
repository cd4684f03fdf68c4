"""minicnn.kernels: the Numba kernels under minicnn's ops, one module per algorithm family.

Kernels work on NumPy arrays and know nothing of Tensors or autograd.

The convolution algorithms are listed in `ALGORITHMS` (see registry.py for the interface each one
implements; a new one registers below). algorithm="auto" follows `heuristic_choice`, or, after
`autotune(True)`, times the eligible algorithms on the first call of each shape.
"""
# First: the threading layer must be chosen before any parallel kernel runs (threads.py says why).
from . import threads  # noqa: F401
from . import allocator  # noqa: F401  (keeps freed array memory for the next step: allocator.py)
from . import direct, fft, gemm, im2col, reference, separable, winograd  # noqa: E402
from .registry import (ALGORITHMS, NAN_SPREAD, ConvAlgorithm, ConvGeometry, autotune,  # noqa: E402
                       autotune_cache, choose_algorithm, eligible_algorithms, get_algorithm,
                       heuristic_choice, heuristic_passes, live_taps, memory_limit, output_length, register_algorithm,
                       set_memory_limit)

for _algorithm in (direct.ALGORITHM, im2col.ALGORITHM, gemm.ALGORITHM, winograd.F2X3_ALGORITHM,
                   winograd.F4X3_ALGORITHM, fft.ALGORITHM, separable.SEPARABLE, separable.DEPTHWISE,
                   reference.ALGORITHM):
    register_algorithm(_algorithm)
