"""minicnn: a readable deep-learning framework for convolutional networks, on NumPy and Numba."""
import os as _os

# OpenBLAS's worker threads spin for about 2^28 cycles after each matrix product before they sleep.
# minicnn alternates GEMMs with Numba's parallel loops, which then find a core taken by a thread
# with nothing to do: on 2 cores AlexNet conv1's forward took 49 ms instead of 36. 2^4 cycles makes
# them sleep at once. OpenBLAS reads this when NumPy is first imported, so it only takes effect when
# minicnn is imported first; a value the user set wins.
_os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
from .tensor import Function, Tensor, enable_grad, is_grad_enabled, no_grad, tensor
from . import functional, nn, optim
from .creation import arange, full, ones, rand, randn, zeros
from .functional import cat, split, stack, where
from .random import default_generator, manual_seed
from .gradcheck import GradcheckError, gradcheck
from .serialization import load, save
from .model_summary import Summary, summary

__version__ = "0.1.0"
