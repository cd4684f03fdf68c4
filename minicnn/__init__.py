"""minicnn: a readable deep-learning framework for convolutional networks, on NumPy and Numba."""
from .tensor import Function, Tensor, enable_grad, is_grad_enabled, no_grad, tensor
from . import functional, nn, optim
from .creation import arange, full, ones, rand, randn, zeros
from .functional import cat, split, stack, where
from .random import default_generator, manual_seed
from .gradcheck import GradcheckError, gradcheck
from .serialization import load, save
from .model_summary import Summary, summary

__version__ = "0.1.0"
