"""minicnn: a readable deep-learning framework for convolutional networks, on NumPy and Numba."""
import os as _os

# OpenBLAS's worker threads spin for about 2^28 cycles after each matrix product before they sleep.
# minicnn alternates GEMMs with Numba's parallel loops, which then find a core taken by a thread
# with nothing to do: on 2 cores AlexNet conv1's forward took 49 ms instead of 36. 2^4 cycles makes
# them sleep at once. OpenBLAS reads this when NumPy is first imported, so it only takes effect when
# minicnn is imported first; a value the user set wins.
_os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
from .tensor import (Function, Size, Tensor, ValuesIndices, device, enable_grad, from_numpy,
                     get_default_dtype, is_grad_enabled, no_grad, set_default_dtype, tensor)
from . import functional, nn, optim
from .dtypes import bool, double, float, float32, float64, int, int32, int64, long, uint8
from .creation import (arange, eye, full, full_like, linspace, normal, ones, ones_like, rand,
                       randint, randn, randperm, zeros, zeros_like)
from .functional import (abs, add, all, amax, amin, any, argmax, argmin, bmm, cat, clamp, clip, div, exp,
                         flatten, log, log_softmax, matmul, max, maximum, mean, min, minimum, mm, mul, neg,
                         permute, pow, relu, reshape, sigmoid, softmax, sort, split, sqrt, squeeze, stack, std,
                         std_mean, sub, sum, tanh, topk, transpose, unsqueeze, var, var_mean, where)
from .functional.reduction import norm  # not in functional, where `norm` is the normalisation module
from . import linalg
from .random import default_generator, manual_seed
from .gradcheck import GradcheckError, gradcheck
from .serialization import load, save
from .model_summary import Summary, summary
from .profiler import profile
from .kernels.threads import get_num_threads, set_num_threads

__version__ = "0.1.0"
