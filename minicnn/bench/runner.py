"""Time every algorithm on every layer and pass; measure its workspace, its error against float64
and what one NaN in the input does to its output."""
from __future__ import annotations

import dataclasses
import statistics
import time
import tracemalloc

import numpy as np

from .. import kernels
from ..kernels import im2col, registry
from .baselines import NumpyConv, TorchConv

PASSES = ("fwd", "bwd_data", "bwd_weight")
PASS_TITLES = {"fwd": "forward", "bwd_data": "data gradient", "bwd_weight": "weight gradient"}


@dataclasses.dataclass
class Result:
    """One (layer, pass, algorithm) measurement; `reason` is set instead when it does not apply.

    workspace_bytes is the algorithm's own estimate, measured_workspace_bytes what tracemalloc saw
    allocated during one call beyond the returned array. nan_outputs (forward only): non-finite
    outputs after setting one input element to NaN.
    """

    layer: str
    pass_name: str
    algorithm: str
    median_ms: float | None = None
    min_ms: float | None = None
    compile_s: float | None = None
    gflops: float | None = None
    sgemm_percent: float | None = None
    workspace_bytes: int | None = None
    measured_workspace_bytes: int | None = None
    rel_error: float | None = None
    nan_outputs: int | None = None
    reason: str | None = None


@dataclasses.dataclass
class Row:
    """One (layer, pass): the algorithms' results and what they are compared with.

    nan_expected: the outputs one NaN input reaches by the definition (forward rows);
    columns_ms: im2col's time to build its column matrix alone (forward rows), to tell a copy-bound
    im2col from a GEMM-bound one.
    """

    layer: str
    description: str
    pass_name: str
    flops: int
    auto: str
    results: list
    count: int = 1
    numpy_ms: float | None = None
    torch_ms: float | None = None
    nan_expected: int | None = None
    columns_ms: float | None = None

    @property
    def winner(self) -> Result | None:
        timed = [r for r in self.results if r.median_ms is not None]
        return min(timed, key=lambda r: r.median_ms) if timed else None

    def result(self, algorithm: str) -> Result | None:
        return next((r for r in self.results if r.algorithm == algorithm), None)


def measure(fn, repeats: int, budget_s: float):
    """(first call's seconds, list of later calls' seconds, first call's value).

    The first call compiles (or loads from Numba's cache); later calls stop after `repeats` or once
    `budget_s` is spent, but there are always at least three, so that the median passes over one
    call slowed down by another process.
    """
    start = time.perf_counter()
    value = fn()
    first = time.perf_counter() - start
    times, spent = [], 0.0
    while len(times) < 3 or (len(times) < repeats and spent < budget_s):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
        spent += times[-1]
    return first, times, value


def measured_workspace(fn) -> int:
    """Bytes allocated at the peak of one call of fn, beyond the array it returns.

    tracemalloc sees every NumPy allocation (the arrays each algorithm's Python side makes:
    column matrices, transformed tiles, spectra, padded copies); it does not see the small
    per-thread scratch arrays allocated inside Numba kernels.
    """
    tracemalloc.start()
    try:
        value = fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return max(peak - np.asarray(value).nbytes, 0)


def relative_error(value, reference) -> float:
    """max |y - y_ref| / max |y_ref|."""
    scale = float(np.max(np.abs(reference), initial=0.0)) or 1.0
    return float(np.max(np.abs(np.asarray(value, np.float64) - reference), initial=0.0)) / scale


def nan_position(geometry) -> tuple:
    """Where the NaN goes: batch 0, channel 0, the middle of the input."""
    return (0, 0) + tuple(n // 2 for n in geometry.input_shape[2:])


def nan_reach(geometry) -> int:
    """Outputs whose window holds the input element at nan_position, by the definition:
    y[n, k, o] reads x[n, c, o * s - p_before + t * d] for the taps t of each axis and the
    channels c of k's group; so the count is (filters of the group) x the product over axes of
    the o with o * s - p_before + t * d = i for some tap t."""
    position = nan_position(geometry)[2:]
    count = geometry.weight_shape[0] // geometry.groups
    for i, n_out, k, s, (before, _), d in zip(position, geometry.output_spatial, geometry.kernel_size,
                                              geometry.stride, geometry.padding, geometry.dilation):
        count *= sum(any(o * s - before + t * d == i for t in range(k)) for o in range(n_out))
    return count


def _arrays(geometry, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(geometry.input_shape).astype(dtype)
    w = rng.standard_normal(geometry.weight_shape).astype(dtype)
    gy = rng.standard_normal(geometry.output_shape).astype(dtype)
    return x, w, gy


PASS_FUNCTIONS = {"fwd": "forward", "bwd_data": "backward_data", "bwd_weight": "backward_weight"}


def _pass_call(algorithm, pass_name, x, w, gy, geometry):
    if pass_name == "fwd":
        return lambda: algorithm.forward(x, w, geometry)
    if pass_name == "bwd_data":
        return lambda: algorithm.backward_data(gy, w, geometry)
    return lambda: algorithm.backward_weight(x, gy, geometry)


def _reference(pass_name, x, w, gy, geometry64):
    """The float64 reference for a pass, computed with the im2col algorithm in float64 (which the
    test suite checks against an independent float64 loop reference to 1e-12)."""
    args = [a.astype(np.float64) for a in (x, w, gy)]
    return _pass_call(registry.ALGORITHMS["im2col"], pass_name, *args, geometry64)()


def _measure_algorithm(layer, pass_name, algorithm, x, w, gy, geometry, reference, repeats, budget_s,
                       flops, sgemm_gflops) -> Result:
    name = algorithm.name
    reason = algorithm.supports(geometry)
    if reason is None and algorithm.weight_requirement:
        reason = f"needs {algorithm.weight_requirement}; the benchmark's random weights are not"
    if reason is not None:
        return Result(layer.name, pass_name, name, reason=reason)
    call = _pass_call(algorithm, pass_name, x, w, gy, geometry)
    first, times, value = measure(call, repeats, budget_s)
    median = statistics.median(times)
    result = Result(
        layer.name, pass_name, name, median_ms=1e3 * median, min_ms=1e3 * min(times),
        compile_s=max(first - median, 0.0), gflops=flops / median / 1e9,
        sgemm_percent=100 * flops / median / 1e9 / sgemm_gflops,
        workspace_bytes=algorithm.workspace(geometry) if algorithm.workspace else None,
        measured_workspace_bytes=measured_workspace(call), rel_error=relative_error(value, reference))
    if pass_name == "fwd":
        poisoned = x.copy()
        poisoned[nan_position(geometry)] = np.nan
        with np.errstate(invalid="ignore"):
            result.nan_outputs = int(np.count_nonzero(~np.isfinite(algorithm.forward(poisoned, w, geometry))))
    return result


def run_layer(layer, algorithms, passes, dtype, repeats, budget_s, sgemm_gflops, torch_conv=False,
              numpy_baseline=True, progress=None) -> list:
    """Measure one layer; returns one Row per pass. progress(text) is called before each algorithm."""
    geometry = layer.geometry(dtype)
    geometry64 = layer.geometry(np.float64)
    x, w, gy = _arrays(geometry, dtype)
    flops = 2 * geometry.multiply_adds  # the direct method's count, for every pass
    heuristic = registry.heuristic_passes(geometry)  # pass -> the registered algorithm it names
    chosen = registry.choose_algorithm(geometry)      # what algorithm="auto" runs
    rows = []
    for pass_name in passes:
        reference = _reference(pass_name, x, w, gy, geometry64)
        results = []
        for name in algorithms:
            if progress:
                progress(f"{layer.name} {pass_name} {name}")
            results.append(_measure_algorithm(layer, pass_name, kernels.ALGORITHMS[name], x, w, gy, geometry,
                                              reference, repeats, budget_s, flops, sgemm_gflops))
        auto = heuristic[pass_name]
        if getattr(chosen, PASS_FUNCTIONS[pass_name]) is not getattr(kernels.ALGORITHMS[auto], PASS_FUNCTIONS[pass_name]):
            # auto runs this layer through a wrapper (on its live taps, or as one matrix product of
            # the flattened images): measured as an algorithm of its own, under its name
            if progress:
                progress(f"{layer.name} {pass_name} {chosen.name}")
            results.append(_measure_algorithm(layer, pass_name, chosen, x, w, gy, geometry, reference, repeats,
                                              budget_s, flops, sgemm_gflops))
            auto = chosen.name
        row = Row(layer.name, layer.describe(), pass_name, flops, auto, results, count=layer.count)
        planes = (x[:, :, 0], w[:, :, 0], gy[:, :, 0])
        if pass_name == "fwd":
            row.nan_expected = nan_reach(geometry)
            row.columns_ms = 1e3 * statistics.median(measure(lambda: im2col.columns(x, geometry), 3, budget_s)[1])
        if numpy_baseline:
            row.numpy_ms = 1e3 * statistics.median(measure(_numpy_call(layer, pass_name, *planes), 3, budget_s)[1])
        if torch_conv and len({*layer.padding[0]}) == len({*layer.padding[1]}) == 1:  # PyTorch pads symmetrically
            row.torch_ms = 1e3 * statistics.median(measure(_torch_call(layer, pass_name, *planes), repeats, budget_s)[1])
        rows.append(row)
    return rows


def _numpy_call(layer, pass_name, x, w, gy):
    conv = NumpyConv(layer)
    if pass_name == "fwd":
        return lambda: conv.forward(x, w)
    if pass_name == "bwd_data":
        return lambda: conv.backward_data(gy, w, x.shape)
    return lambda: conv.backward_weight(x, gy, w.shape)


def _torch_call(layer, pass_name, x, w, gy):
    conv = TorchConv(layer)
    tx, tw, tgy = conv.tensors(x, w, gy)
    if pass_name == "fwd":
        return lambda: conv.forward(tx, tw)
    if pass_name == "bwd_data":
        return lambda: conv.backward_data(tgy, tx, tw)
    return lambda: conv.backward_weight(tgy, tx, tw)
