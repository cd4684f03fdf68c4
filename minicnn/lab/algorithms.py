"""Convolution algorithms against each other: the FFT crossover and Winograd's multiplications."""
from __future__ import annotations

import math

import numpy as np

from ..functional.conv import conv_geometry
from ..kernels import ALGORITHMS
from .common import median_seconds
from .report import Panel, Report

TIMED = ("direct", "im2col", "fft")
WINOGRAD = {"winograd_f2x3": 2, "winograd_f4x3": 4}  # output tile side m of F(m x m, 3 x 3)


def _forward_time(name, x, w, geometry, repeats):
    algorithm = ALGORITHMS[name]
    return median_seconds(lambda: algorithm.forward(x, w, geometry), repeats)


def _arrays(shape, kernel, seed):
    n, c, side = shape
    g = np.random.default_rng(seed)
    x = g.standard_normal((n, c, side, side)).astype(np.float32)
    w = g.standard_normal((c, c, kernel, kernel)).astype(np.float32)
    geometry = conv_geometry("lab", x, w, None, 1, kernel // 2, 1, 1, 2)
    return x.reshape(geometry.input_shape), w.reshape(geometry.weight_shape), geometry


def multiplications(geometry, tile=None) -> int:
    """Multiplications of the forward pass: direct, N K C oH oW k^2; Winograd F(m x m, 3 x 3),
    N K C tiles (m + 2)^2 in the transformed domain (Lavin & Gray 2016), transforms not counted."""
    n, c = geometry.input_shape[:2]
    k = geometry.weight_shape[0]
    o_h, o_w = geometry.output_spatial[1:]
    if tile is None:
        return n * k * c * o_h * o_w * int(np.prod(geometry.kernel_size))
    return n * k * c * math.ceil(o_h / tile) * math.ceil(o_w / tile) * (tile + 2) ** 2


def conv_algorithms(quick: bool = False, seed: int = 0) -> Report:
    """FFT convolution wins for large kernels; Winograd saves multiplications (Mathieu et al. 2014;
    Lavin & Gray 2016). Forward time of direct, im2col and FFT as the kernel grows 3..15 (stride 1,
    "same" padding), then Winograd F(2x2,3x3) and F(4x4,3x3) on a 3x3 layer: multiplications
    counted and time measured against direct and im2col. Held if FFT is slower than the best
    other algorithm at 3x3 but faster at the largest kernel (a crossover exists), and the faster
    Winograd variant beats both direct and im2col on the 3x3 layer."""
    shape = (1, 8, 16) if quick else (2, 32, 48)
    kernels = (3, 7) if quick else (3, 5, 7, 9, 11, 13, 15)
    repeats = 1 if quick else 5
    rows, times = [], {name: [] for name in TIMED}
    for kernel in kernels:
        x, w, geometry = _arrays(shape, kernel, seed)
        row = [f"{kernel}x{kernel}"]
        for name in TIMED:
            times[name].append(1e3 * _forward_time(name, x, w, geometry, repeats))
            row.append(times[name][-1])
        fastest = min(TIMED, key=lambda name: times[name][-1])
        rows.append(row + [fastest])
    best_other = [min(times["direct"][i], times["im2col"][i]) for i in range(len(kernels))]
    crossover = next((k for k, f, o in zip(kernels, times["fft"], best_other) if f < o), None)
    fft_held = times["fft"][0] > best_other[0] and times["fft"][-1] < best_other[-1]

    x, w, geometry = _arrays((shape[0] * 2, shape[1] * 2, shape[2]), 3, seed)
    base = {name: 1e3 * _forward_time(name, x, w, geometry, repeats) for name in ("direct", "im2col")}
    winograd_rows, speedups = [], {}
    for name, tile in WINOGRAD.items():
        ms = 1e3 * _forward_time(name, x, w, geometry, repeats)
        speedups[name] = min(base.values()) / ms
        winograd_rows.append([name, multiplications(geometry) / multiplications(geometry, tile),
                              base["direct"] / ms, base["im2col"] / ms, ms])
    winograd_held = max(speedups.values()) > 1
    held = fft_held and winograd_held
    n, c, side = shape
    verdict = (f"FFT {'first' if crossover else 'never'} beats direct and im2col"
               f"{f' at {crossover}x{crossover}' if crossover else ''}; Winograd F(4x4) needs "
               f"{winograd_rows[1][1]:.2f}x fewer multiplications and runs {speedups['winograd_f4x3']:.2f}x "
               f"the speed of the better of direct/im2col (F(2x2): {speedups['winograd_f2x3']:.2f}x)")
    header = ["kernel"] + [f"{name} ms" for name in TIMED] + ["fastest"]
    table_rows = rows + [["", "", "", "", ""],
                         ["3x3 layer", "mult. saved", "speed-up vs direct", "vs im2col", "ms"]] + winograd_rows
    return Report(
        "conv-algorithms", "FFT wins for large kernels; Winograd saves multiplications (and time) on 3x3",
        header, table_rows, held, verdict,
        setting=f"forward pass, float32, batch {n}, {c} -> {c} channels, {side}x{side}, stride 1, 'same' padding; "
                f"Winograd layer: batch {2 * n}, {2 * c} -> {2 * c} channels; median of {repeats} after a warm-up",
        panels=[Panel("forward time vs kernel size", "kernel side", "ms",
                      {name: (list(kernels), times[name]) for name in TIMED}, log_y=True)])
