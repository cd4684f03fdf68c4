"""The direct kernel's own paths: channel blocks of four and their remainders, strides and
dilations whose taps read nothing, kernels wider than the input, one channel per group, 3-D.

The reference here is written one kernel tap at a time from the formulas of kernels/direct.py
(y[.., o] += w[.., k] x_pad[.., o*s + k*d] and its two adjoints) in float64 NumPy, independently
of the kernels and of the window-based reference in test_conv.py. Tolerances: float64 1e-12 and
float32 1e-5, relative to the largest reference value (issue 5's accuracy target for direct).
"""
import itertools

import numpy as np
import pytest
from hypothesis import given, settings

import minicnn as mc
from minicnn import functional as F
from minicnn.testing import assert_gradcheck, conv_configs

CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
TOLERANCE = {np.float32: 1e-5, np.float64: 1e-12}


def reference(x, w, grad_y, stride, pairs, dilation, groups):
    """(y, dL/dx, dL/dw) in float64 for padding pairs ((before, after) per axis)."""
    x, w = x.astype(np.float64), w.astype(np.float64)
    c_group, k_group = w.shape[1], w.shape[0] // groups
    padded = np.pad(x, [(0, 0), (0, 0)] + list(pairs))
    out = tuple((size - d * (k - 1) - 1) // s + 1
                for size, k, s, d in zip(padded.shape[2:], w.shape[2:], stride, dilation))
    y = np.zeros(x.shape[:1] + w.shape[:1] + out)
    grad_padded, grad_w = np.zeros_like(padded), np.zeros_like(w)
    for tap in itertools.product(*(range(k) for k in w.shape[2:])):
        seen = (Ellipsis,) + tuple(slice(t * d, t * d + s * (m - 1) + 1, s)
                                   for t, d, s, m in zip(tap, dilation, stride, out))
        for g in range(groups):
            ins, outs = slice(g * c_group, (g + 1) * c_group), slice(g * k_group, (g + 1) * k_group)
            w_tap = w[(outs, slice(None)) + tap]  # (Cout/G, C/G)
            x_tap = padded[:, ins][seen]  # (N, C/G, *out)
            y[:, outs] += np.einsum("kc,nc...->nk...", w_tap, x_tap)
            grad_padded[:, ins][seen] += np.einsum("kc,nk...->nc...", w_tap, grad_y[:, outs])
            summed = [0] + list(range(2, x.ndim))  # the batch and the output positions
            grad_w[(outs, slice(None)) + tap] = np.tensordot(grad_y[:, outs], x_tap, (summed, summed))
    crop = (slice(None), slice(None)) + tuple(slice(b, b + n) for (b, _), n in zip(pairs, x.shape[2:]))
    return y, grad_padded[crop], grad_w


def check_direct(x_shape, w_shape, stride, pairs, dilation, groups, dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal(w_shape).astype(dtype)
    dims = len(x_shape) - 2
    out = tuple((n + b + a - d * (k - 1) - 1) // s + 1
                for n, k, s, (b, a), d in zip(x_shape[2:], w_shape[2:], stride, pairs, dilation))
    grad_y = rng.standard_normal(x_shape[:1] + w_shape[:1] + out)
    y_ref, grad_x_ref, grad_w_ref = reference(x, w, grad_y, stride, pairs, dilation, groups)
    xt, wt = mc.tensor(x, requires_grad=True), mc.tensor(w, requires_grad=True)
    y = CONV[dims](xt, wt, stride=stride, padding=tuple(pairs), dilation=dilation, groups=groups,
                   algorithm="direct")
    y.backward(grad_y.astype(dtype))
    for name, value, expected in (("forward", y.array, y_ref), ("dL/dx", xt.grad.array, grad_x_ref),
                                  ("dL/dw", wt.grad.array, grad_w_ref)):
        assert value.dtype == dtype and value.shape == expected.shape, name
        scale = max(np.abs(expected).max(), 1.0)
        np.testing.assert_allclose(value, expected, rtol=0, atol=TOLERANCE[dtype] * scale, err_msg=name)


CASES = {
    # channel blocks: 4 per block plus remainders, in the reduction (C/G) and the outputs (Cout/G)
    "blocks of four": ((2, 8, 9, 11), (8, 4, 3, 3), (1, 1), [(1, 1), (1, 1)], (1, 1), 2),
    "blocks and remainders": ((2, 9, 7, 10), (6, 9, 3, 2), (1, 1), [(1, 0), (0, 2)], (1, 1), 1),
    "groups of five, stride 2": ((1, 10, 11, 9), (10, 5, 3, 3), (2, 2), [(1, 1), (1, 1)], (1, 1), 2),
    # row stride 1 but column stride 3 (merged rows, three phases), and the reverse
    "column stride 3": ((2, 5, 6, 13), (9, 5, 2, 3), (1, 3), [(0, 1), (2, 0)], (2, 2), 1),
    "row stride 3": ((2, 5, 13, 6), (4, 5, 3, 2), (3, 1), [(2, 0), (1, 1)], (1, 3), 1),
    # taps whose hoisted range is empty: wide dilation and padding, few rows
    "empty tap ranges": ((1, 4, 2, 3), (4, 4, 3, 3), (1, 2), [(4, 4), (3, 3)], (3, 3), 1),
    "wide stride and dilation": ((2, 6, 12, 12), (8, 3, 3, 3), (4, 5), [(3, 1), (0, 4)], (4, 3), 2),
    # a kernel wider than the unpadded input on one axis
    "kernel wider than input": ((2, 4, 6, 2), (4, 4, 2, 5), (1, 1), [(0, 0), (2, 2)], (1, 1), 1),
    "dilated kernel taller than input": ((1, 5, 3, 7), (5, 5, 3, 3), (1, 2), [(2, 3), (1, 1)], (2, 1), 1),
    # one channel per group: depthwise, and depthwise with channel multiplier 2
    "depthwise": ((2, 6, 9, 8), (6, 1, 3, 3), (1, 1), [(1, 1), (1, 1)], (1, 1), 6),
    "depthwise strided": ((2, 6, 9, 8), (6, 1, 3, 3), (2, 2), [(1, 0), (1, 2)], (1, 2), 6),
    "channel multiplier 2": ((1, 5, 7, 7), (10, 1, 3, 3), (1, 2), [(1, 1), (1, 1)], (2, 1), 5),
    # 1-D and 3-D
    "1-D blocks": ((3, 8, 17), (6, 8, 4), (2,), [(1, 2)], (2,), 1),
    "3-D blocks": ((1, 8, 4, 5, 6), (4, 8, 2, 3, 3), (1, 1, 1), [(0, 1), (1, 1), (1, 1)], (2, 1, 1), 1),
    "3-D strided groups": ((2, 6, 5, 6, 7), (6, 2, 2, 3, 3), (2, 1, 3), [(1, 0), (1, 1), (0, 2)], (1, 2, 1), 3),
    "3-D depth padding only": ((1, 4, 1, 3, 3), (4, 4, 1, 1, 1), (1, 1, 1), [(1, 1), (0, 0), (0, 0)], (1, 1, 1), 1),
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", sorted(CASES))
def test_direct_matches_the_tap_reference(case, dtype):
    check_direct(*CASES[case], dtype)


@settings(max_examples=25)
@given(conv_configs(spatial_dims=(1, 2, 3), max_channels_per_group=6, max_stride=3, max_dilation=3,
                    max_extra_size=3, padding_forms=("pairs",), dtypes=(np.float64,)))
def test_direct_with_blocked_channels_matches_the_tap_reference(config):
    """Channel counts up to six per group, so that blocks of four and their remainders are drawn."""
    pairs = [tuple(p) for p in config.padding]
    check_direct(config.input_shape, config.weight_shape, config.stride, pairs, config.dilation,
                 config.groups, config.dtype)


def test_reference_matches_a_hand_computed_case():
    """Guards the reference: one channel, kernel [1, 0, -1], stride 2, padding 1 on the left."""
    x, w = np.array([[[1.0, 2.0, 3.0, 4.0]]]), np.array([[[1.0, 0.0, -1.0]]])
    y, grad_x, grad_w = reference(x, w, np.ones((1, 1, 2)), (2,), [(1, 0)], (1,), 1)
    assert y.tolist() == [[[-2.0, -2.0]]]  # windows (0, 1, 2) and (2, 3, 4) of [0, 1, 2, 3, 4]
    # dL/dx: padded position 0 gets +1 and 2 gets -1 from the first window, 2 gets +1 and 4 gets -1
    # from the second; the padding (position 0) is dropped
    assert grad_x.tolist() == [[[0.0, 0.0, 0.0, -1.0]]] and grad_w.tolist() == [[[2.0, 4.0, 6.0]]]


@pytest.mark.parametrize("stride", [1, 2])
def test_nan_reaches_only_the_outputs_whose_windows_hold_it(stride):
    """The padded columns and the spare columns of the row pitch must not carry x between rows."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 8, 7, 9))
    x[0, 5, 3, 0] = np.nan  # the first column: next to the previous row's spare columns
    y = F.conv2d(x, rng.standard_normal((4, 8, 3, 3)), stride=stride, padding=1, algorithm="direct").array
    rows = [o for o in range(y.shape[2]) if abs(o * stride - 3) <= 1]
    cols = [o for o in range(y.shape[3]) if abs(o * stride) <= 1]
    seen = np.zeros(y.shape, bool)
    seen[np.ix_([0], range(4), rows, cols)] = True
    assert np.all(np.isnan(y[seen])) and np.all(np.isfinite(y[~seen]))


def test_direct_gradcheck_with_blocked_channels():
    rng = np.random.default_rng(0)
    x = mc.tensor(rng.standard_normal((1, 10, 5, 6)), requires_grad=True)
    w = mc.tensor(rng.standard_normal((10, 5, 3, 2)), requires_grad=True)
    assert_gradcheck(lambda x, w: F.conv2d(x, w, stride=(1, 2), padding=((1, 0), (2, 1)), dilation=(2, 1),
                                           groups=2, algorithm="direct"), [x, w])
