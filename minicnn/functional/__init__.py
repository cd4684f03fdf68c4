"""minicnn.functional: every differentiable op, as plain functions (PyTorch's torch.nn.functional).

Each op is a `Function` subclass in the module of its family; the lowercase wrapper validates its
arguments, documents the shapes, and calls `.apply`.
"""
from .activation import leaky_relu, log_softmax, relu, sigmoid, softmax, tanh
from .arithmetic import add, cast, div, matmul, mul, neg, pow, sub
from .linear import linear
from .loss import cross_entropy, mse_loss, nll_loss
from .pointwise import abs, clamp, clip, exp, log, sqrt
from .reduction import max, mean, min, sum
from .shape import (cat, flatten, getitem, pad, permute, reshape, split, squeeze, stack,
                    transpose, unsqueeze, where)
