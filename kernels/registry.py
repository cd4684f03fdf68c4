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
import time
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
    # False: "auto" and autotune never run it (the reference loops, slow by design).
    automatic: bool = True


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
    """Names of the registered algorithms "auto" may choose for `geometry`: those that run it
    whatever the weights are, except the slow reference."""
    return [name for name, a in sorted(ALGORITHMS.items())
            if a.automatic and a.weight_requirement is None and a.supports(geometry) is None]


# Thresholds of the "auto" heuristic, set from `python -m minicnn.bench` runs (README).
FEW_CHANNELS_PER_GROUP = 8     # grouped layers this thin do too little work per GEMM for im2col
WINOGRAD_MIN_CHANNELS = 16     # below this the transforms cost more than the saved multiplies
WINOGRAD_F4_MIN_OUTPUT = 8     # F(4x4,3x3) wastes most of a 6x6 tile on smaller maps
FFT_MIN_TAPS = 25              # 5x5 and larger: the spectra pay off
FFT_MIN_CHANNELS = 32          # the per-frequency GEMMs need channels to be efficient
FFT_MIN_OUTPUT = 28            # on smaller maps the tiles' overlap and transforms cost more than im2col


def heuristic_choice(geometry: ConvGeometry) -> str:
    """The name algorithm="auto" runs for `geometry`, by these rules, first match wins:

    1. 1x1 kernel, no padding                                   -> "gemm" (a plain matrix product)
    2. depthwise (groups == C == Cout), 1-D or 2-D              -> "depthwise"
    3. grouped with at most 8 input channels per group          -> "direct"
    4. 3x3, stride 1, dilation 1, 2-D, >= 16 channels per group -> "winograd_f4x3", or
                                                                   "winograd_f2x3" if the output is
                                                                   smaller than 8 on a side
    5. stride 1, >= 25 taps, >= 32 channels per group each way,
       output at least 28 on a side                             -> "fft"
    6. otherwise                                                -> "im2col", or "direct" if its
                                                                   column matrix would exceed
                                                                   IM2COL_MEMORY_LIMIT
    A rule whose algorithm is not registered or refuses the geometry passes to the next.
    """
    n, c = geometry.input_shape[:2]
    k, groups = geometry.weight_shape[0], geometry.groups
    c_group, k_group = c // groups, k // groups
    taps = int(np.prod(geometry.kernel_size))
    unit = (1, 1, 1)
    candidates = []
    if taps == 1:
        candidates.append("gemm")
    if groups == c == k:
        candidates.append("depthwise")
    if groups > 1 and c_group <= FEW_CHANNELS_PER_GROUP:
        candidates.append("direct")
    if (geometry.kernel_size == (1, 3, 3) and geometry.stride == unit and geometry.dilation == unit
            and min(c_group, k_group) >= WINOGRAD_MIN_CHANNELS):
        small = min(geometry.output_spatial[1:]) < WINOGRAD_F4_MIN_OUTPUT
        candidates.append("winograd_f2x3" if small else "winograd_f4x3")
    if (geometry.stride == unit and taps >= FFT_MIN_TAPS and min(c_group, k_group) >= FFT_MIN_CHANNELS
            and min((n for n in geometry.output_spatial if n > 1), default=1) >= FFT_MIN_OUTPUT):
        candidates.append("fft")
    if im2col_bytes(geometry) <= IM2COL_MEMORY_LIMIT:
        candidates.append("im2col")
    candidates.append("direct")
    for name in candidates:
        algorithm = ALGORITHMS.get(name)
        if algorithm is not None and algorithm.weight_requirement is None and algorithm.supports(geometry) is None:
            return name
    raise ValueError(f"no registered convolution algorithm supports {geometry}")


_autotune = {"enabled": False, "cache": {}}


def autotune(enabled: bool = True) -> bool:
    """Time every eligible algorithm the first time "auto" meets a shape, and keep the fastest
    for each pass (as cudnn.benchmark does); returns the previous setting. The timing runs each
    candidate twice on random data of the layer's shape (the first call may compile)."""
    previous = _autotune["enabled"]
    _autotune["enabled"] = bool(enabled)
    return previous


def autotune_cache() -> dict:
    """geometry -> {"fwd": name, "bwd_data": name, "bwd_weight": name}, what autotune chose."""
    return _autotune["cache"]


def _time(call) -> float:
    call()
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def _autotuned(geometry: ConvGeometry) -> ConvAlgorithm:
    cache = _autotune["cache"]
    if geometry not in cache:
        rng = np.random.default_rng(0)
        x = rng.standard_normal(geometry.input_shape).astype(geometry.dtype)
        w = rng.standard_normal(geometry.weight_shape).astype(geometry.dtype)
        gy = rng.standard_normal(geometry.output_shape).astype(geometry.dtype)
        names = eligible_algorithms(geometry)
        calls = {"fwd": lambda a: a.forward(x, w, geometry),
                 "bwd_data": lambda a: a.backward_data(gy, w, geometry),
                 "bwd_weight": lambda a: a.backward_weight(x, gy, geometry)}
        cache[geometry] = {p: min(names, key=lambda name: _time(lambda: call(ALGORITHMS[name])))
                           for p, call in calls.items()}
    chosen = cache[geometry]
    if len(set(chosen.values())) == 1:
        return ALGORITHMS[chosen["fwd"]]
    return ConvAlgorithm(
        name="+".join(chosen[p] for p in ("fwd", "bwd_data", "bwd_weight")),
        capabilities="the autotuned winners of each pass",
        forward=ALGORITHMS[chosen["fwd"]].forward,
        backward_data=ALGORITHMS[chosen["bwd_data"]].backward_data,
        backward_weight=ALGORITHMS[chosen["bwd_weight"]].backward_weight,
        supports=lambda g: None)


def choose_algorithm(geometry: ConvGeometry) -> ConvAlgorithm:
    """What algorithm="auto" runs: the autotuned winners if autotune(True), else the heuristic."""
    if _autotune["enabled"]:
        return _autotuned(geometry)
    return ALGORITHMS[heuristic_choice(geometry)]


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
