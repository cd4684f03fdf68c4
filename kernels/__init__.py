"""minicnn.kernels: the Numba kernels under minicnn's ops, one module per algorithm family.

Kernels work on NumPy arrays and know nothing of Tensors or autograd.

The convolution algorithms are listed in `ALGORITHMS` (see registry.py for the interface each one
implements); a new one registers itself below.
"""
import os

# Numba's parallel loops run on OpenMP threads, which by default spin for a while after each loop,
# and im2col's GEMMs run on OpenBLAS's threads right after: on a small machine the spinning threads
# starve BLAS (measured on 2 cores: a ResNet 1x1 layer's forward took 32 ms instead of 2.7 ms).
# Sleeping at once avoids it. It must be set before the OpenMP runtime starts; a value the user
# set wins.
os.environ.setdefault("OMP_WAIT_POLICY", "passive")

from . import direct, im2col  # noqa: E402
from .registry import (ALGORITHMS, ConvAlgorithm, ConvGeometry, choose_algorithm, get_algorithm,
                       output_length, register_algorithm)

register_algorithm(direct.ALGORITHM)
register_algorithm(im2col.ALGORITHM)
