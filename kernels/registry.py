"""The convolution algorithms minicnn knows, what each supports, and how "auto" chooses.

Every algorithm works on one layout: a 3-D convolution of 5-D arrays, input (N, C, D, H, W) and
weight (Cout, C/groups, kD, kH, kW). A 2-D convolution is the 3-D one with D = kD = 1, a 1-D one
has H = kH = 1 too, so one kernel serves every rank and Numba compiles it once per dtype.

An algorithm is a `ConvAlgorithm`: three functions of arrays and a `ConvGeometry`

    forward(x, weight, geometry)            -> y       (N, Cout, oD, oH, oW)
    backward_data(grad_y, weight, geometry) -> grad_x  (N, C, D, H, W)
    backward_weight(x, grad_y, geometry)    -> grad_w  (Cout, C/groups, kD, kH, kW)

and `supports(geometry)`, which returns None or the reason it cannot run that configuration.
Register a new one with `register_algorithm`; `choose_algorithm` is what algorithm="auto" calls.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def output_length(size: int, kernel: int, stride: int, pad_before: int, pad_after: int,
                  dilation: int) -> int:
    """Positions a window of `kernel` taps `dilation` apart takes, `stride` apart, along an axis of
    `size` padded by (pad_before, pad_after): floor((n + p_b + p_a - d(k-1) - 1) / s) + 1."""
    return (size + pad_before + pad_after - dilation * (kernel - 1) - 1) // stride + 1


@dataclasses.dataclass(frozen=True)
class ConvGeometry:
    """Everything about a convolution but the numbers in it, in the 3-D layout.

    input_shape (N, C, D, H, W), weight_shape (Cout, C/groups, kD, kH, kW); stride and dilation
    are (d, h, w) triples, padding ((front, back), (top, bottom), (left, right)). `spatial_dims`
    (1, 2 or 3) is the rank the caller asked for, for messages and for algorithms limited to one.
    """

    input_shape: tuple
    weight_shape: tuple
    stride: tuple
    padding: tuple
    dilation: tuple
    groups: int
    dtype: np.dtype
    spatial_dims: int = 3

    @property
    def kernel_size(self) -> tuple:
        return tuple(self.weight_shape[2:])

    @property
    def output_spatial(self) -> tuple:
        return tuple(output_length(n, k, s, pb, pa, d) for n, k, s, (pb, pa), d in zip(
            self.input_shape[2:], self.kernel_size, self.stride, self.padding, self.dilation))

    @property
    def output_shape(self) -> tuple:
        return (self.input_shape[0], self.weight_shape[0]) + self.output_spatial

    @property
    def multiply_adds(self) -> int:
        """Multiply-adds of the forward pass: N * Cout * output positions * C/groups * kernel taps."""
        return int(np.prod(self.output_shape, dtype=np.int64) * np.prod(self.weight_shape[1:], dtype=np.int64))


@dataclasses.dataclass(frozen=True)
class ConvAlgorithm:
    """A named convolution algorithm with its three passes and the configurations it accepts.

    `capabilities` says in words what it supports; it is quoted when a caller asks for more.
    """

    name: str
    capabilities: str
    forward: Callable
    backward_data: Callable
    backward_weight: Callable
    supports: Callable
    workspace: Callable = None  # geometry -> bytes of extra memory, where the algorithm reports it
    # What the weights themselves must satisfy, beyond the geometry (e.g. "rank-1 kernels"); such
    # an algorithm is only run when asked for by name, and refuses other weights at run time.
    weight_requirement: str = None


ALGORITHMS: dict = {}

# The column matrix of im2col holds C * kernel taps * N * output positions values; past this many
# bytes "auto" prefers the direct loops, which need no extra memory.
IM2COL_MEMORY_LIMIT = 512 * 2 ** 20


def register_algorithm(algorithm: ConvAlgorithm) -> ConvAlgorithm:
    """Make `algorithm` available as conv*(..., algorithm=algorithm.name)."""
    ALGORITHMS[algorithm.name] = algorithm
    return algorithm


def supports_any_geometry(geometry: ConvGeometry):
    """`supports` of an algorithm that handles every stride, padding, dilation and group count."""
    if geometry.dtype not in DTYPES:
        return f"dtype {geometry.dtype} is not float32 or float64"
    return None


def im2col_bytes(geometry: ConvGeometry) -> int:
    """Size of im2col's column matrix: (C * kernel taps) x (N * output positions) values."""
    n, c = geometry.input_shape[:2]
    taps = int(np.prod(geometry.kernel_size))
    positions = int(np.prod(geometry.output_spatial))
    return c * taps * n * positions * geometry.dtype.itemsize


def eligible_algorithms(geometry: ConvGeometry) -> list:
    """Names of the registered algorithms that can run `geometry` whatever the weights are."""
    return [name for name, a in sorted(ALGORITHMS.items())
            if a.weight_requirement is None and a.supports(geometry) is None]


def choose_algorithm(geometry: ConvGeometry) -> ConvAlgorithm:
    """What algorithm="auto" runs: im2col + GEMM, unless its column matrix would not fit in
    IM2COL_MEMORY_LIMIT, then the direct loops (see benchmarks/bench_conv_direct_im2col.py)."""
    if im2col_bytes(geometry) <= IM2COL_MEMORY_LIMIT and "im2col" in ALGORITHMS:
        return ALGORITHMS["im2col"]
    return ALGORITHMS["direct"]


def get_algorithm(name: str, geometry: ConvGeometry, op: str) -> ConvAlgorithm:
    """The algorithm called `name` ("auto" chooses), or a ValueError naming what is available or
    why the chosen one cannot run this configuration and what it does support."""
    if name == "auto":
        return choose_algorithm(geometry)
    if name not in ALGORITHMS:
        available = ", ".join(["auto"] + sorted(ALGORITHMS))
        raise ValueError(f"{op}: unknown algorithm {name!r}; available: {available}")
    algorithm = ALGORITHMS[name]
    reason = algorithm.supports(geometry)
    if reason is not None:
        raise ValueError(f"{op}: algorithm {name!r} cannot run this configuration ({reason}); "
                         f"it supports {algorithm.capabilities}")
    return algorithm
