"""Time every algorithm on every layer and pass, and measure its error against float64."""
from __future__ import annotations

import dataclasses
import statistics
import time

import numpy as np

from .. import kernels
from ..kernels import registry
from .baselines import NumpyConv, TorchConv

PASSES = ("fwd", "bwd_data", "bwd_weight")


@dataclasses.dataclass
class Result:
    """One (layer, pass, algorithm) measurement; `reason` is set instead when it does not apply."""

    layer: str
    pass_name: str
    algorithm: str
    median_ms: float | None = None
    min_ms: float | None = None
    compile_s: float | None = None
    gflops: float | None = None
    sgemm_percent: float | None = None
    workspace_bytes: int | None = None
    rel_error: float | None = None
    reason: str | None = None


@dataclasses.dataclass
class Row:
    """One (layer, pass): the algorithms' results and what they are compared with."""

    layer: str
    description: str
    pass_name: str
    flops: int
    auto: str
    results: list
    numpy_ms: float | None = None
    torch_ms: float | None = None

    @property
    def winner(self) -> Result | None:
        timed = [r for r in self.results if r.median_ms is not None]
        return min(timed, key=lambda r: r.median_ms) if timed else None

    def result(self, algorithm: str) -> Result | None:
        return next((r for r in self.results if r.algorithm == algorithm), None)


def measure(fn, repeats: int, budget_s: float):
    """(first call's seconds, list of later calls' seconds, first call's value).

    The first call compiles (or loads from Numba's cache); later calls stop after `repeats` or once
    `budget_s` is spent, but there are always at least two.
    """
    start = time.perf_counter()
    value = fn()
    first = time.perf_counter() - start
    times, spent = [], 0.0
    while len(times) < 2 or (len(times) < repeats and spent < budget_s):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
        spent += times[-1]
    return first, times, value


def relative_error(value, reference) -> float:
    """max |y - y_ref| / max |y_ref|."""
    scale = float(np.max(np.abs(reference))) or 1.0
    return float(np.max(np.abs(np.asarray(value, np.float64) - reference))) / scale


def _arrays(geometry, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(geometry.input_shape).astype(dtype)
    w = rng.standard_normal(geometry.weight_shape).astype(dtype)
    gy = rng.standard_normal(geometry.output_shape).astype(dtype)
    return x, w, gy


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


def run_layer(layer, algorithms, passes, dtype, repeats, budget_s, sgemm_gflops, torch_conv=False,
              numpy_baseline=True) -> list:
    """Measure one layer; returns one Row per pass."""
    geometry = layer.geometry(dtype)
    geometry64 = layer.geometry(np.float64)
    x, w, gy = _arrays(geometry, dtype)
    flops = 2 * geometry.multiply_adds  # the direct method's count, for every pass
    auto = registry.choose_algorithm(geometry).name
    rows = []
    for pass_name in passes:
        reference = _reference(pass_name, x, w, gy, geometry64)
        results = []
        for name in algorithms:
            algorithm = kernels.ALGORITHMS[name]
            reason = algorithm.supports(geometry)
            if reason is None and algorithm.weight_requirement:
                reason = f"needs {algorithm.weight_requirement}; the benchmark's random weights are not"
            if reason is not None:
                results.append(Result(layer.name, pass_name, name, reason=reason))
                continue
            first, times, value = measure(_pass_call(algorithm, pass_name, x, w, gy, geometry), repeats, budget_s)
            median = statistics.median(times)
            workspace = getattr(algorithm, "workspace", None)
            results.append(Result(
                layer.name, pass_name, name, median_ms=1e3 * median, min_ms=1e3 * min(times),
                compile_s=max(first - median, 0.0), gflops=flops / median / 1e9,
                sgemm_percent=100 * flops / median / 1e9 / sgemm_gflops,
                workspace_bytes=workspace(geometry) if workspace else None,
                rel_error=relative_error(value, reference)))
        row = Row(layer.name, layer.describe(), pass_name, flops, auto, results)
        planes = (x[:, :, 0], w[:, :, 0], gy[:, :, 0])
        if numpy_baseline:
            row.numpy_ms = 1e3 * statistics.median(measure(_numpy_call(layer, pass_name, *planes), 3, budget_s)[1])
        if torch_conv:
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
