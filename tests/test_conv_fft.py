"""algorithm="fft": overlap-save FFT convolution against an independent float64 reference.

The reference is written here from the definition (NumPy's sliding_window_view, one einsum per
pass) and never calls minicnn. Accuracy is the issue's measure, max|y - y_ref| / max|y_ref|:
at most 1e-5 for float32 inputs of unit scale and 1e-12 for float64, forward and both gradients.
"""
import dataclasses
import itertools

import numpy as np
import pytest
import scipy.fft
from hypothesis import example, given, settings
from hypothesis import strategies as st
from numpy.lib.stride_tricks import sliding_window_view

import minicnn as mc
from minicnn import functional as F
from minicnn.functional.conv import Conv, conv_geometry
from minicnn.gradcheck import GradcheckError
from minicnn.kernels import fft
from minicnn.testing import ConvConfig, assert_gradcheck, conv_configs

CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
RELATIVE_ERROR = {np.float32: 1e-5, np.float64: 1e-12}


# ---- the reference (stride 1) -----------------------------------------------------------------------
def pairs_of(padding, kernel, dilation):
    """(before, after) per axis from any documented padding form."""
    spans = [d * (k - 1) for k, d in zip(kernel, dilation)]
    if padding == "valid":
        return [(0, 0)] * len(kernel)
    if padding == "full":
        return [(e, e) for e in spans]
    if padding == "same":
        return [(e // 2, e - e // 2) for e in spans]
    if isinstance(padding, int):
        return [(padding, padding)] * len(kernel)
    return [(p, p) if isinstance(p, int) else tuple(p) for p in padding]


def windows(x, kernel, pairs, dilation):
    """(N, C, *out, *kernel): the receptive fields of the zero-padded x at stride 1."""
    dims = len(kernel)
    x = np.pad(x, [(0, 0), (0, 0)] + list(pairs))
    view = sliding_window_view(x, [d * (k - 1) + 1 for k, d in zip(kernel, dilation)], axis=tuple(range(2, 2 + dims)))
    return view[(Ellipsis,) + tuple(slice(None, None, d) for d in dilation)]


def reference(x, w, grad_y, pairs, dilation, groups):
    """(y, dL/dx, dL/dw) in float64 for dL/dy = grad_y (None: forward only)."""
    dims, (n, c), c_out = x.ndim - 2, x.shape[:2], w.shape[0]
    o, k = "pqr"[:dims], "tuv"[:dims]
    win = windows(x, w.shape[2:], pairs, dilation)
    out = win.shape[2:2 + dims]
    win = win.reshape((n, groups, c // groups) + win.shape[2:])
    wg = w.reshape((groups, c_out // groups) + w.shape[1:])
    y = np.einsum(f"ngc{o}{k},gdc{k}->ngd{o}", win, wg).reshape((n, c_out) + out)
    if grad_y is None:
        return y, None, None
    gy = grad_y.reshape((n, groups, c_out // groups) + out)
    grad_w = np.einsum(f"ngd{o},ngc{o}{k}->gdc{k}", gy, win).reshape(w.shape)
    padded = np.zeros((n, c) + tuple(s + b + a for s, (b, a) in zip(x.shape[2:], pairs)))
    for tap in itertools.product(*(range(kk) for kk in w.shape[2:])):  # each tap adds back what it read
        part = np.einsum(f"ngd{o},gdc->ngc{o}", gy, wg[(Ellipsis,) + tap]).reshape((n, c) + out)
        padded[(Ellipsis,) + tuple(slice(t * d, t * d + m) for t, d, m in zip(tap, dilation, out))] += part
    grad_x = padded[(Ellipsis,) + tuple(slice(b, b + s) for s, (b, _) in zip(x.shape[2:], pairs))]
    return y, grad_x, grad_w


def relative_error(value, expected, a, b):
    """max|value - expected| over max|expected|, or over max|a| * max|b| (the two operands of the
    correlation) where that is larger: a transform rounds relative to the whole tile, so where every
    tap meets padding the exact result is 0 and the FFT's is a rounding error of the operands' size."""
    scale = max(np.abs(expected).max(initial=0.0), np.abs(a).max(initial=0.0) * np.abs(b).max(initial=0.0))
    return np.abs(value - expected).max(initial=0.0) / max(scale, 1e-300)


def test_reference_on_a_hand_computed_case():
    x, w = np.array([[[1.0, 2.0, 3.0, 4.0]]]), np.array([[[1.0, 0.0, -1.0]]])
    y, grad_x, grad_w = reference(x, w, np.ones((1, 1, 4)), [(1, 1)], (1,), 1)
    assert y.tolist() == [[[-2.0, -2.0, -2.0, 3.0]]]
    assert grad_x.tolist() == [[[1.0, 0.0, 0.0, -1.0]]] and grad_w.tolist() == [[[6.0, 10.0, 9.0]]]


# ---- agreement with the reference ----------------------------------------------------------------------
def check(config, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(config.input_shape).astype(config.dtype)
    w = rng.standard_normal(config.weight_shape).astype(config.dtype)
    pairs = pairs_of(config.padding, config.weight_shape[2:], config.dilation)
    out_shape = reference(x[:, :1].astype(np.float64), w[:1, :1].astype(np.float64), None, pairs,
                          config.dilation, 1)[0].shape[2:]
    grad_y = rng.standard_normal((x.shape[0], w.shape[0]) + out_shape)
    expected = reference(x.astype(np.float64), w.astype(np.float64), grad_y, pairs, config.dilation, config.groups)
    xt, wt = mc.tensor(x, requires_grad=True), mc.tensor(w, requires_grad=True)
    y = CONV[config.spatial_dims](xt, wt, **config.kwargs(), algorithm="fft")
    y.backward(grad_y.astype(config.dtype))
    tolerance = RELATIVE_ERROR[config.dtype]
    operands = ((x, w), (grad_y, w), (x, grad_y))
    for name, value, want, (a, b) in zip(("y", "dL/dx", "dL/dw"), (y.array, xt.grad.array, wt.grad.array),
                                         expected, operands):
        assert value.dtype == config.dtype and value.shape == want.shape, name
        assert relative_error(value, want, a, b) <= tolerance, (name, relative_error(value, want, a, b))


@settings(max_examples=30)
@given(conv_configs(spatial_dims=(1, 2), max_stride=1, max_kernel=5, max_extra_size=6))
def test_fft_matches_the_reference_1d_2d(config):
    check(config)


@settings(max_examples=10)
@given(conv_configs(spatial_dims=3, max_stride=1, max_kernel=3, max_extra_size=3))
# every tap of the dilated kernel meets padding: the exact dL/dx is 0, the FFT's a rounding error
@example(ConvConfig((1, 1, 1, 1, 1), (1, 1, 1, 2, 1), (1, 1, 1), "same", (1, 2, 1), 1, np.float32))
def test_fft_matches_the_reference_3d(config):
    check(config)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fft_accuracy_on_a_benchmark_sized_layer(dtype):
    """cb_L3-like (9x9 kernels, 128 input channels): rounding grows with the sums."""
    config = ConvConfig((1, 128, 24, 24), (16, 128, 9, 9), (1, 1), 2, (1, 1), 1, dtype)
    check(config)


def test_a_kernel_longer_than_the_largest_tile_gets_a_longer_tile():
    config = ConvConfig((2, 2, 150), (3, 2, 80), (1,), 3, (1,), 1, np.float64)
    check(config)
    geometry = conv_geometry("conv1d", np.zeros((2, 2, 150)), np.zeros((3, 2, 80)), None, 1, 3, 1, 1, 1)
    assert fft._tiling(geometry, geometry.output_spatial)[0][2] >= 80


@pytest.mark.parametrize("tile", [(1, 5, 4), (1, 6, 9), (1, 16, 16)])
def test_every_tile_length_gives_the_same_convolution(monkeypatch, tile):
    """Overlap-save is exact for any tile at least as long as the kernel's span."""
    monkeypatch.setattr(fft, "tile_shape", lambda *args: tile)
    config = ConvConfig((2, 3, 11, 9), (4, 3, 2, 4), (1, 1), ((2, 0), (1, 3)), (2, 1), 1, np.float64)
    check(config)


# ---- finite differences ------------------------------------------------------------------------------
@settings(max_examples=6)
@given(conv_configs(spatial_dims=(1, 2, 3), max_stride=1, max_batch=2, max_channels_per_group=2,
                    max_extra_size=2, dtypes=(np.float64,)))
def test_fft_gradcheck(config):
    rng = np.random.default_rng(0)
    x, w, b = (mc.tensor(rng.standard_normal(s), requires_grad=True)
               for s in (config.input_shape, config.weight_shape, config.weight_shape[:1]))
    conv = CONV[config.spatial_dims]
    assert_gradcheck(lambda x, w, b: conv(x, w, b, **config.kwargs(), algorithm="fft"), [x, w, b])


def test_gradcheck_catches_a_wrong_fft_weight_gradient():
    """The gradient computed as a convolution (kernel flipped) instead of a correlation."""
    flipped = dataclasses.replace(
        fft.ALGORITHM, backward_weight=lambda x, gy, g: fft.backward_weight(x, gy, g)[..., ::-1, ::-1].copy())
    rng = np.random.default_rng(0)
    x = mc.tensor(rng.standard_normal((2, 2, 5, 6)), requires_grad=True)
    w = mc.tensor(rng.standard_normal((3, 2, 3, 2)), requires_grad=True)

    def conv(algorithm):
        def run(x, w):
            return Conv.apply(x, w, None, conv_geometry("conv2d", x, w, None, 1, 1, 1, 1, 2), algorithm)
        return run

    assert_gradcheck(conv(fft.ALGORITHM), [x, w])
    with pytest.raises(GradcheckError, match="input 1"):
        mc.gradcheck(conv(flipped), [x, w])


# ---- what it does not do, and what it reports ------------------------------------------------------------
@pytest.mark.parametrize("stride", [2, (1, 3)])
def test_a_strided_layer_is_refused_with_the_reason(stride):
    x, w = np.zeros((1, 2, 8, 8), np.float32), np.zeros((3, 2, 3, 3), np.float32)
    with pytest.raises(ValueError, match="algorithm 'fft' cannot run.*needs stride 1"):
        F.conv2d(x, w, stride=stride, algorithm="fft")


def test_empty_batch():
    x = mc.tensor(np.zeros((0, 2, 6, 6), np.float32), requires_grad=True)
    w = mc.tensor(np.ones((3, 2, 3, 3), np.float32), requires_grad=True)
    y = F.conv2d(x, w, padding=1, algorithm="fft")
    y.sum().backward()
    assert y.shape == (0, 3, 6, 6) and x.grad.shape == x.shape and np.all(w.grad.array == 0)


@given(st.integers(1, 12), st.integers(1, 40), st.integers(1, 4))
@settings(max_examples=30)
def test_tiles_are_fast_lengths_at_least_the_span(kernel, extra, dilation):
    geometry = conv_geometry("conv2d", np.zeros((1, 1, 1, kernel + extra)), np.zeros((1, 1, 1, kernel)),
                             None, 1, ((0, 0), (0, (dilation - 1) * (kernel - 1))), (1, dilation), 1, 2)
    tile, counts = fft._tiling(geometry, geometry.output_spatial)
    span = dilation * (kernel - 1) + 1
    assert tile[:2] == (1, 1)
    if span == 1:
        assert tile[2] == 1  # nothing to transform along this axis
    else:
        assert tile[2] >= span and scipy.fft.next_fast_len(tile[2], real=True) == tile[2]
    assert counts[2] * (tile[2] - span + 1) >= geometry.output_spatial[2]
    assert fft.workspace(geometry) > 0
