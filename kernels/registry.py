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

Every algorithm also declares `workspace(geometry)`, the bytes of extra memory its hungriest pass
allocates: before a convolution runs, that plus its output must fit under `memory_limit()` (a
MemoryError naming the op, the algorithm and the bytes otherwise), and "auto" never picks an
algorithm that does not fit. And `nan_spread`, how far one NaN or inf in the input reaches:
"exact" (the outputs whose window holds it, as the definition says) or "tile" (every output of
the tiles it falls in: the fast transforms mix a whole tile before they multiply).
"""
from __future__ import annotations

import dataclasses
import functools
import math
import os
import time
from typing import Callable

import numpy as np

DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def output_length(size: int, kernel: int, stride: int, pad_before: int, pad_after: int,
                  dilation: int, ceil_mode: bool = False) -> int:
    """Positions a window of `kernel` taps `dilation` apart takes, `stride` apart, along an axis of
    `size` padded by (pad_before, pad_after): floor((n + p_b + p_a - d(k-1) - 1) / s) + 1.

    The one copy of the formula: convolution, pooling and the model zoo all call it. ceil_mode
    (pooling) rounds up instead, but drops a last window that would start inside the padding
    after the input (PyTorch's rule: every window starts inside the input or the padding before).
    """
    span = size + pad_before + pad_after - dilation * (kernel - 1) - 1
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + pad_before:
        out -= 1
    return out


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

    @functools.cached_property  # asked for many times per call: computed once
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
    `workspace(geometry)` is the bytes of extra memory of its hungriest pass. `nan_spread` is
    NAN_SPREAD's key for how far a NaN or inf in the input spreads (shown by the bench).
    """

    name: str
    capabilities: str
    forward: Callable
    backward_data: Callable
    backward_weight: Callable
    supports: Callable
    workspace: Callable
    nan_spread: str = "exact"
    # What the weights themselves must satisfy, beyond the geometry (e.g. "rank-1 kernels"); such
    # an algorithm is only run when asked for by name, and refuses other weights at run time.
    weight_requirement: str = None
    # False: "auto" and autotune never run it (the reference loops, slow by design).
    automatic: bool = True


ALGORITHMS: dict = {}

NAN_SPREAD = {
    "exact": "a NaN or inf in the input reaches exactly the outputs whose window holds it",
    "tile": "a NaN or inf in the input makes every output of the tiles it falls in NaN "
            "(more outputs than the definition gives)",
}

def register_algorithm(algorithm: ConvAlgorithm) -> ConvAlgorithm:
    """Make `algorithm` available as conv*(..., algorithm=algorithm.name)."""
    if algorithm.nan_spread not in NAN_SPREAD:
        raise ValueError(f"register_algorithm: nan_spread must be one of {sorted(NAN_SPREAD)}, "
                         f"got {algorithm.nan_spread!r}")
    ALGORITHMS[algorithm.name] = algorithm
    return algorithm


# ---- memory ----------------------------------------------------------------------------------
# A convolution may use at most this fraction of the machine's physical memory, unless
# set_memory_limit says otherwise: past it the machine would swap or the process be killed.
MEMORY_FRACTION = 0.5
_memory = {"limit": None}


def physical_memory() -> int:
    """Bytes of physical memory (os.sysconf), or 0 where the system does not say."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return 0


def memory_limit() -> int:
    """Bytes one convolution may allocate (output plus workspace): set_memory_limit's value, else
    MEMORY_FRACTION of physical memory (no limit where that is unknown)."""
    if _memory["limit"] is not None:
        return _memory["limit"]
    return int(MEMORY_FRACTION * physical_memory()) or math.inf


def set_memory_limit(limit) -> int | None:
    """Set the bytes one convolution may allocate (None: back to MEMORY_FRACTION of physical
    memory); returns the previous setting."""
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit <= 0):
        raise ValueError(f"set_memory_limit: limit must be a positive int of bytes or None, got {limit!r}")
    previous, _memory["limit"] = _memory["limit"], limit
    return previous


def memory_needed(algorithm: ConvAlgorithm, geometry: ConvGeometry) -> int:
    """Bytes a pass of `algorithm` allocates: its workspace plus the larger of the two activations
    (the output of the forward pass, or the input gradient of the backward pass)."""
    activation = max(math.prod(geometry.input_shape), math.prod(geometry.output_shape))
    return algorithm.workspace(geometry) + activation * geometry.dtype.itemsize


def fits_in_memory(algorithm: ConvAlgorithm, geometry: ConvGeometry) -> bool:
    return memory_needed(algorithm, geometry) <= memory_limit()


def check_memory(op: str, algorithm: ConvAlgorithm, geometry: ConvGeometry) -> None:
    """A MemoryError, raised before anything is allocated, if `algorithm` needs more than memory_limit()."""
    needed = memory_needed(algorithm, geometry)
    if needed > memory_limit():
        raise MemoryError(f"{op}: algorithm {algorithm.name!r} would allocate {needed:,} bytes "
                          f"({needed / 2 ** 30:.3g} GiB) for input {geometry.input_shape} and weight "
                          f"{geometry.weight_shape}, more than the limit of {memory_limit():,} bytes "
                          "(minicnn.kernels.set_memory_limit)")


def supports_any_geometry(geometry: ConvGeometry):
    """`supports` of an algorithm that handles every stride, padding, dilation and group count."""
    if geometry.dtype not in DTYPES:
        return f"dtype {geometry.dtype} is not float32 or float64"
    return None


def eligible_algorithms(geometry: ConvGeometry) -> list:
    """Names of the registered algorithms "auto" may choose for `geometry`: those that run it
    whatever the weights are, within the memory limit, except the slow reference."""
    return [name for name, a in sorted(ALGORITHMS.items())
            if a.automatic and a.weight_requirement is None and a.supports(geometry) is None
            and fits_in_memory(a, geometry)]


# Thresholds of the "auto" heuristic, set from `python -m minicnn.bench` runs (README).
WINOGRAD_MIN_CHANNELS = 16     # below this the transforms cost more than the saved multiplies
WINOGRAD_F4_MIN_OUTPUT = 8     # F(4x4,3x3) wastes most of a 6x6 tile on smaller maps
WINOGRAD_WEIGHT_PAIRS = 16     # channel pairs per 2x2 piece of dL/dy above which im2col takes the weight gradient


def heuristic_choice(geometry: ConvGeometry) -> str:
    """The name algorithm="auto" runs for `geometry`, by these rules, first match wins:

    1. 1x1 kernel, no padding                                   -> "gemm" (a plain matrix product)
    2. depthwise (groups == C == Cout), 1-D or 2-D              -> "depthwise"
    3. 3x3, stride 1, dilation 1, 2-D, >= 16 channels per group -> "winograd_f4x3", or
                                                                   "winograd_f2x3" if the output is
                                                                   smaller than 8 on a side
    4. otherwise                                                -> "im2col" (its blocks of columns
                                                                   need a few MiB per thread)
    A rule whose algorithm is not registered, refuses the geometry or would not fit in
    memory_limit() passes to the next ("direct", which needs the least, is the last resort).
    "direct" had rules of its own for the thinnest layers (LeNet-5's C1, a 3-channel stem, 4
    channels per group), and "fft" one for 5x5 and larger kernels on 32+ channels, until im2col's
    column copy lost its per-row overhead: im2col is now 1.3-2x faster than "direct" on the first
    two, each pass (training shapes, batch 64), as fast on the bench's resnext50_g32 (within 10-30%
    either way from run to run), and as fast as "fft" or
    faster on the bench's 5x5 and 9x9 layers (googlenet_5x5: 13.4 / 9.5 / 16.4 ms a pass against
    13.4 / 17.6 / 14.6; cb_L2: 13.1 / 14.4 / 20.7 against 23.8 / 29.6 / 28.5). "fft" stays
    available by name.
    """
    c, k, groups = geometry.input_shape[1], geometry.weight_shape[0], geometry.groups
    c_group, k_group = c // groups, k // groups
    taps = int(np.prod(geometry.kernel_size))
    unit = (1, 1, 1)
    candidates = []
    if taps == 1:
        candidates.append("gemm")
    if groups == c == k:
        candidates.append("depthwise")
    if (geometry.kernel_size == (1, 3, 3) and geometry.stride == unit and geometry.dilation == unit
            and min(c_group, k_group) >= WINOGRAD_MIN_CHANNELS):
        small = min(geometry.output_spatial[1:]) < WINOGRAD_F4_MIN_OUTPUT
        candidates.append("winograd_f2x3" if small else "winograd_f4x3")
    candidates += ["im2col", "direct"]
    for name in candidates:
        algorithm = ALGORITHMS.get(name)
        if (algorithm is not None and algorithm.weight_requirement is None and algorithm.supports(geometry) is None
                and (name == candidates[-1] or fits_in_memory(algorithm, geometry))):
            return name
    raise ValueError(f"no registered convolution algorithm supports {geometry}")


def heuristic_passes(geometry: ConvGeometry) -> dict:
    """{"fwd": name, "bwd_data": name, "bwd_weight": name}: what algorithm="auto" runs for each
    pass: `heuristic_choice`'s, except Winograd's weight gradient where the (output, input)
    channel pairs, K/G x C/G, outnumber WINOGRAD_WEIGHT_PAIRS times the 2x2 pieces of dL/dy
    (N x ceil(oH/2) x ceil(oW/2)): each block of pieces then adds a^2 = 16 products of
    K/G x C/G to the sums, more memory than the pieces themselves, and im2col's one product
    over all positions is faster (batch 64, two threads: 128 channels at 4x4, 2.2-2.6 ms against 4.4-4.6; 256 at
    2x2, 2.3 against 6.5; 64 at 4x4, where the rule keeps Winograd, 0.74-0.83 against 0.97).
    """
    choice = heuristic_choice(geometry)
    passes = dict.fromkeys(("fwd", "bwd_data", "bwd_weight"), choice)
    if choice.startswith("winograd"):
        n, c = geometry.input_shape[:2]
        k, groups = geometry.weight_shape[0], geometry.groups
        pieces = n * math.prod(-(-size // 2) for size in geometry.output_spatial[1:])
        if (c // groups) * (k // groups) > WINOGRAD_WEIGHT_PAIRS * pieces:
            passes["bwd_weight"] = "im2col"
    return passes


def combined(chosen: dict, capabilities: str) -> ConvAlgorithm:
    """One ConvAlgorithm running chosen["fwd"]'s forward, chosen["bwd_data"]'s data gradient and
    chosen["bwd_weight"]'s weight gradient (the algorithm itself if all three are the same)."""
    names = set(chosen.values())
    if len(names) == 1:
        return ALGORITHMS[chosen["fwd"]]
    return ConvAlgorithm(
        name="+".join(chosen[p] for p in ("fwd", "bwd_data", "bwd_weight")),
        capabilities=capabilities,
        forward=ALGORITHMS[chosen["fwd"]].forward,
        backward_data=ALGORITHMS[chosen["bwd_data"]].backward_data,
        backward_weight=ALGORITHMS[chosen["bwd_weight"]].backward_weight,
        supports=lambda g: None,
        workspace=lambda g: max(ALGORITHMS[name].workspace(g) for name in names),
        nan_spread=max((ALGORITHMS[name].nan_spread for name in names), key=list(NAN_SPREAD).index))


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
        names = eligible_algorithms(geometry)
        if not names:  # nothing fits in memory: the heuristic's last resort, which get_algorithm refuses
            return ALGORITHMS[heuristic_choice(geometry)]
        rng = np.random.default_rng(0)
        x = rng.standard_normal(geometry.input_shape).astype(geometry.dtype)
        w = rng.standard_normal(geometry.weight_shape).astype(geometry.dtype)
        gy = rng.standard_normal(geometry.output_shape).astype(geometry.dtype)
        calls = {"fwd": lambda a: a.forward(x, w, geometry),
                 "bwd_data": lambda a: a.backward_data(gy, w, geometry),
                 "bwd_weight": lambda a: a.backward_weight(x, gy, geometry)}
        cache[geometry] = {p: min(names, key=lambda name: _time(lambda: call(ALGORITHMS[name])))
                           for p, call in calls.items()}
    return combined(cache[geometry], "the autotuned winners of each pass")


# ---- kernel taps that only ever read padding --------------------------------------------------
def live_taps(geometry: ConvGeometry) -> tuple:
    """Per spatial axis (depth, height, width), the taps [first, last) from the first to the last
    that reads inside the input for some output: tap j of output o reads o*s - p + j*d, so with
    the padding as large as the map (a 3x3 "same" convolution on a 1x1 map, ResNet-18's last
    stage at 32x32 input), the other taps multiply zeros only."""
    from .direct import inside_range  # here, not at the top: direct imports this module

    live = []
    for size, kernel, stride, (before, _), dilation, count in zip(
            geometry.input_shape[2:], geometry.kernel_size, geometry.stride, geometry.padding,
            geometry.dilation, geometry.output_spatial):
        # the outputs for which tap j reads inside the input: none when first >= last
        outputs = [inside_range.py_func(j * dilation - before, stride, size, count) for j in range(kernel)]
        reads = [j for j, (first, last) in enumerate(outputs) if first < last]
        live.append((reads[0], reads[-1] + 1) if reads else (0, kernel))
    return tuple(live)


def without_dead_taps(geometry: ConvGeometry, live: tuple) -> ConvGeometry:
    """The same convolution with only the `live` taps: the padding before shrinks by the taps
    dropped before, the padding after by those dropped after, so every output reads the same
    input positions with the same weights and the output shape is unchanged."""
    kernel = tuple(last - first for first, last in live)
    padding = tuple((before - first * d, after - (k - last) * d)
                    for (before, after), (first, last), k, d in zip(geometry.padding, live, geometry.kernel_size,
                                                                    geometry.dilation))
    return dataclasses.replace(geometry, weight_shape=geometry.weight_shape[:2] + kernel, padding=padding)


def on_live_taps(algorithm: ConvAlgorithm, geometry: ConvGeometry, live: tuple) -> ConvAlgorithm:
    """`algorithm` (chosen for without_dead_taps(geometry, live)) run on the full `geometry`: the
    weight is cut to its live taps, and the weight gradient of the others is zero (they only
    multiplied padding)."""
    taps = (slice(None), slice(None)) + tuple(slice(first, last) for first, last in live)
    inner = without_dead_taps(geometry, live)

    def backward_weight(x, grad_y, _):
        grad_w = np.zeros(geometry.weight_shape, geometry.dtype)
        grad_w[taps] = algorithm.backward_weight(x, grad_y, inner)
        return grad_w

    shape = "x".join(str(last - first) for first, last in live[3 - geometry.spatial_dims:])
    return dataclasses.replace(
        algorithm, name=f"{algorithm.name} ({shape} live)",
        forward=lambda x, weight, _: algorithm.forward(x, np.ascontiguousarray(weight[taps]), inner),
        backward_data=lambda grad_y, weight, _: algorithm.backward_data(grad_y, np.ascontiguousarray(weight[taps]), inner),
        backward_weight=backward_weight, supports=lambda _: None,
        workspace=lambda _: algorithm.workspace(inner) + math.prod(inner.weight_shape) * geometry.dtype.itemsize)


# ---- a kernel as large as the input --------------------------------------------------------------
def spans_input(geometry: ConvGeometry) -> bool:
    """Whether the kernel covers the whole unpadded input, so that each image has one output
    position, computed from all its values (LeNet-5's C5: 5x5 on a 5x5 map; a fully connected
    layer written as a convolution). A 1x1 kernel on a 1x1 map is a 1x1 convolution already."""
    return (geometry.kernel_size == geometry.input_shape[2:] and math.prod(geometry.kernel_size) > 1
            and all(padding == (0, 0) for padding in geometry.padding))


def as_one_by_one(geometry: ConvGeometry) -> ConvGeometry:
    """A convolution that `spans_input` as the 1x1 convolution it is, on a 1x1x1 map of
    C * taps channels: image n flattened is one column, and W (Cout, C/G * taps) multiplies it.
    Channel-major flattening keeps each group's channels together, so groups carry over."""
    n, c = geometry.input_shape[:2]
    k, c_group = geometry.weight_shape[:2]
    taps = math.prod(geometry.kernel_size)
    unit = (1, 1, 1)
    return dataclasses.replace(geometry, input_shape=(n, c * taps) + unit, weight_shape=(k, c_group * taps) + unit,
                               stride=unit, dilation=unit)


def on_flattened_input(algorithm: ConvAlgorithm, geometry: ConvGeometry) -> ConvAlgorithm:
    """`algorithm` (chosen for as_one_by_one(geometry)) run on `geometry`: the arrays are
    reshaped (views of the contiguous arrays the Conv op passes) on the way in and out."""
    inner = as_one_by_one(geometry)

    @functools.wraps(algorithm.forward)
    def forward(x, weight, _):
        return algorithm.forward(x.reshape(inner.input_shape), weight.reshape(inner.weight_shape), inner)

    @functools.wraps(algorithm.backward_data)
    def backward_data(grad_y, weight, _):
        grad_x = algorithm.backward_data(grad_y, weight.reshape(inner.weight_shape), inner)
        return grad_x.reshape(geometry.input_shape)

    @functools.wraps(algorithm.backward_weight)
    def backward_weight(x, grad_y, _):
        return algorithm.backward_weight(x.reshape(inner.input_shape), grad_y, inner).reshape(geometry.weight_shape)

    return dataclasses.replace(algorithm, name=f"{algorithm.name} (whole input)", forward=forward,
                               backward_data=backward_data, backward_weight=backward_weight,
                               supports=lambda _: None, workspace=lambda _: algorithm.workspace(inner))


def choose_algorithm(geometry: ConvGeometry) -> ConvAlgorithm:
    """What algorithm="auto" runs: the autotuned winners if autotune(True), else the heuristic;
    for a layer whose outer taps only read padding, chosen for and run on the taps that read the
    input (`live_taps`): on a 1x1 map a 3x3 convolution is a 1x1 one, a plain GEMM. A kernel as
    large as its unpadded input (`spans_input`) runs as a 1x1 convolution of the flattened
    images, one matrix product a pass (LeNet-5's C5, batch 64: 2.4-5.6x faster than im2col a pass)."""
    live = live_taps(geometry)
    if live != tuple((0, k) for k in geometry.kernel_size):
        inner = without_dead_taps(geometry, live)
        # (a stride longer than the input can leave a dead tap whose removal would need negative
        # padding: such a layer keeps its taps)
        if all(before >= 0 and after >= 0 for before, after in inner.padding):
            return on_live_taps(choose_algorithm(inner), geometry, live)
    if spans_input(geometry):
        return on_flattened_input(choose_algorithm(as_one_by_one(geometry)), geometry)
    if _autotune["enabled"]:
        return _autotuned(geometry)
    return combined(heuristic_passes(geometry), "the heuristic's choice for each pass")


def get_algorithm(name: str, geometry: ConvGeometry, op: str) -> ConvAlgorithm:
    """The algorithm called `name` ("auto" chooses), or a ValueError naming what is available or
    why the chosen one cannot run this configuration and what it does support; a MemoryError if it
    would need more than memory_limit()."""
    if name == "auto":
        algorithm = choose_algorithm(geometry)
        check_memory(op, algorithm, geometry)
        return algorithm
    if not isinstance(name, str) or name not in ALGORITHMS:
        available = ", ".join(["auto"] + sorted(ALGORITHMS))
        raise ValueError(f"{op}: unknown algorithm {name!r}; available: {available}")
    algorithm = ALGORITHMS[name]
    reason = algorithm.supports(geometry)
    if reason is not None:
        raise ValueError(f"{op}: algorithm {name!r} cannot run this configuration ({reason}); "
                         f"it supports {algorithm.capabilities}")
    check_memory(op, algorithm, geometry)
    return algorithm
