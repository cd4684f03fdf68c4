"""Separable convolutions: the "separable" and "depthwise" algorithms, separable_conv2d,
low_rank_conv2d and depthwise_separable_conv2d, against an independent float64 reference.

The reference is written here from the definition (NumPy's sliding_window_view) and never calls
minicnn; the low-rank reference truncates the SVD with numpy.linalg directly. Accuracy is
max|y - y_ref| / max|y_ref|: at most 1e-5 for float32 and 1e-12 for float64.
"""
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.lib.stride_tricks import sliding_window_view

import minicnn as mc
from minicnn import functional as F
from minicnn.functional.separable import SeparableConv
from minicnn.gradcheck import GradcheckError
from minicnn.testing import assert_gradcheck

RELATIVE_ERROR = {np.float32: 1e-5, np.float64: 1e-12}


# ---- the reference (2-D) -----------------------------------------------------------------------------
def reference(x, w, grad_y, stride, pairs, dilation, groups):
    """(y, dL/dx, dL/dw) of conv2d in float64; grad_y None for the forward only."""
    (n, c), c_out, (k_h, k_w) = x.shape[:2], w.shape[0], w.shape[2:]
    padded = np.pad(x, [(0, 0), (0, 0)] + list(pairs))
    spans = [d * (k - 1) + 1 for k, d in zip((k_h, k_w), dilation)]
    win = sliding_window_view(padded, spans, axis=(2, 3))[:, :, ::stride[0], ::stride[1], ::dilation[0], ::dilation[1]]
    out = win.shape[2:4]
    win = win.reshape((n, groups, c // groups) + win.shape[2:])
    wg = w.reshape((groups, c_out // groups) + w.shape[1:])
    y = np.einsum("ngcpqab,gdcab->ngdpq", win, wg).reshape((n, c_out) + out)
    if grad_y is None:
        return y, None, None
    gy = grad_y.reshape((n, groups, c_out // groups) + out)
    grad_w = np.einsum("ngdpq,ngcpqab->gdcab", gy, win).reshape(w.shape)
    grad_padded = np.zeros(padded.shape)
    for a, b in itertools.product(range(k_h), range(k_w)):  # each tap adds back what it read
        part = np.einsum("ngdpq,gdc->ngcpq", gy, wg[..., a, b]).reshape((n, c) + out)
        grad_padded[:, :, a * dilation[0]::stride[0], b * dilation[1]::stride[1]][:, :, :out[0], :out[1]] += part
    grad_x = grad_padded[:, :, pairs[0][0]:pairs[0][0] + x.shape[2], pairs[1][0]:pairs[1][0] + x.shape[3]]
    return y, grad_x, grad_w


def relative_error(value, expected):
    return np.abs(value - expected).max() / max(np.abs(expected).max(), 1e-300)


def test_reference_on_a_hand_computed_case():
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    y, grad_x, grad_w = reference(x, np.ones((1, 1, 2, 2)), np.ones((1, 1, 1, 1)), (2, 2), [(0, 0), (0, 0)], (1, 1), 1)
    assert y.tolist() == [[[[8.0]]]] and grad_w.tolist() == [[[[0.0, 1.0], [3.0, 4.0]]]]
    assert grad_x.tolist() == [[[[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 0.0]]]]


@st.composite
def layers(draw, depthwise=False, dtypes=(np.float32, np.float64)):
    """A 2-D layer: shapes, stride, (before, after) padding, dilation, groups, dtype."""
    groups = draw(st.integers(1, 3))
    c_in = groups * (1 if depthwise else draw(st.integers(1, 2)))
    c_out = groups * (1 if depthwise else draw(st.integers(1, 2)))
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    pairs = [(draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in range(2)]
    sizes = tuple(max(1, d * (k - 1) + 1 - b - a) + draw(st.integers(0, 5))
                  for k, d, (b, a) in zip(kernel, dilation, pairs))
    return dict(x=(draw(st.integers(1, 2)), c_in) + sizes, w=(c_out, c_in // groups) + kernel, stride=stride,
                pairs=pairs, dilation=dilation, groups=groups, dtype=draw(st.sampled_from(dtypes)))


def rank_one(rng, shape):
    """Kernels (K, C/G, kH, kW), each an outer product col[k, c] row[k, c]^T."""
    return rng.standard_normal(shape[:3])[..., :, None] * rng.standard_normal(shape[:2] + shape[3:])[..., None, :]


def check_algorithm(layer, algorithm, weight):
    rng = np.random.default_rng(1)
    dtype = layer["dtype"]
    x = rng.standard_normal(layer["x"]).astype(dtype)
    w = weight.astype(dtype)
    args = (layer["stride"], layer["pairs"], layer["dilation"], layer["groups"])
    grad_y = rng.standard_normal(reference(x.astype(float), w.astype(float), None, *args)[0].shape)
    expected = reference(x.astype(np.float64), w.astype(np.float64), grad_y, *args)
    xt, wt = mc.tensor(x, requires_grad=True), mc.tensor(w, requires_grad=True)
    y = F.conv2d(xt, wt, stride=layer["stride"], padding=layer["pairs"], dilation=layer["dilation"],
                 groups=layer["groups"], algorithm=algorithm)
    y.backward(grad_y.astype(dtype))
    for name, value, want in zip(("y", "dL/dx", "dL/dw"), (y.array, xt.grad.array, wt.grad.array), expected):
        assert value.dtype == dtype and value.shape == want.shape, name
        assert relative_error(value, want) <= RELATIVE_ERROR[dtype], (name, relative_error(value, want))


# ---- algorithm "separable" -------------------------------------------------------------------------------
@settings(max_examples=30)
@given(layers())
def test_separable_algorithm_matches_the_reference_on_rank_one_kernels(layer):
    check_algorithm(layer, "separable", rank_one(np.random.default_rng(0), layer["w"]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rank_one_detection_accepts_outer_products_and_refuses_the_rest(dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 2, 6, 6)).astype(dtype)
    w = rank_one(rng, (3, 2, 3, 3)).astype(dtype)
    w[1, 1] = 0.0  # a zero kernel has rank 0: fine
    F.conv2d(x, w, algorithm="separable")
    w[2, 0, 1, 1] += 1e-3 * np.abs(w[2, 0]).max()  # now rank 2, s2/s1 ~ 1e-3
    with pytest.raises(ValueError, match=r"rank-1 kernels, but weight\[2, 0\] \(3x3\) has rank > 1"):
        F.conv2d(x, w, algorithm="separable")


def test_separable_algorithm_refuses_3d_layers():
    with pytest.raises(ValueError, match="algorithm 'separable' cannot run.*1-D or 2-D"):
        F.conv3d(np.zeros((1, 1, 3, 3, 3)), np.zeros((1, 1, 2, 2, 2)), algorithm="separable")


def test_separable_algorithm_gradcheck_in_x():
    """Only x: a finite-difference step in w leaves the rank-1 kernels (and is refused)."""
    rng = np.random.default_rng(0)
    x = mc.tensor(rng.standard_normal((2, 2, 6, 7)), requires_grad=True)
    w = rank_one(rng, (4, 1, 3, 2))
    assert_gradcheck(lambda x: F.conv2d(x, w, stride=(1, 2), padding=1, dilation=(2, 1), groups=2,
                                        algorithm="separable"), [x])


# ---- algorithm "depthwise" ---------------------------------------------------------------------------------
@settings(max_examples=30)
@given(layers(depthwise=True))
def test_depthwise_algorithm_matches_the_reference(layer):
    check_algorithm(layer, "depthwise", np.random.default_rng(0).standard_normal(layer["w"]))


def test_depthwise_accuracy_on_a_mobilenet_sized_layer():
    layer = dict(x=(2, 16, 56, 56), w=(16, 1, 3, 3), stride=(1, 1), pairs=[(1, 1), (1, 1)], dilation=(1, 1),
                 groups=16, dtype=np.float32)
    check_algorithm(layer, "depthwise", np.random.default_rng(0).standard_normal(layer["w"]))


@settings(max_examples=5)
@given(layers(depthwise=True, dtypes=(np.float64,)))
def test_depthwise_gradcheck(layer):
    rng = np.random.default_rng(0)
    x, w = (mc.tensor(rng.standard_normal(layer[k]), requires_grad=True) for k in ("x", "w"))
    assert_gradcheck(lambda x, w: F.conv2d(x, w, stride=layer["stride"], padding=layer["pairs"],
                                           dilation=layer["dilation"], groups=layer["groups"],
                                           algorithm="depthwise"), [x, w])


@pytest.mark.parametrize("x_shape, w_shape, groups", [((1, 4, 5, 5), (4, 4, 3, 3), 1),
                                                      ((1, 4, 5, 5), (8, 1, 3, 3), 4),
                                                      ((1, 4, 5, 5), (2, 2, 3, 3), 2)])
def test_depthwise_refuses_other_groupings(x_shape, w_shape, groups):
    with pytest.raises(ValueError, match="algorithm 'depthwise' cannot run.*channel multiplier 1"):
        F.conv2d(np.zeros(x_shape), np.zeros(w_shape), groups=groups, algorithm="depthwise")


# ---- separable_conv2d ---------------------------------------------------------------------------------------
@settings(max_examples=15)
@given(layers())
def test_separable_conv2d_is_conv2d_with_the_outer_product(layer):
    rng = np.random.default_rng(0)
    dtype = layer["dtype"]
    x = rng.standard_normal(layer["x"]).astype(dtype)
    col = rng.standard_normal(layer["w"][:3]).astype(dtype)
    row = rng.standard_normal(layer["w"][:2] + layer["w"][3:]).astype(dtype)
    expected = reference(x.astype(float), col[..., :, None].astype(float) * row[..., None, :], None,
                         layer["stride"], layer["pairs"], layer["dilation"], layer["groups"])[0]
    y = F.separable_conv2d(x, col, row, stride=layer["stride"], padding=layer["pairs"],
                           dilation=layer["dilation"], groups=layer["groups"])
    assert y.dtype == dtype and relative_error(y.array, expected) <= RELATIVE_ERROR[dtype]


def test_separable_conv2d_gradcheck():
    rng = np.random.default_rng(0)
    x, col, row, b = (mc.tensor(rng.standard_normal(s), requires_grad=True)
                      for s in ((2, 4, 6, 7), (4, 2, 3), (4, 2, 2), (4,)))
    assert_gradcheck(lambda x, col, row, b: F.separable_conv2d(x, col, row, b, stride=(2, 1), padding=((1, 0), (2, 1)),
                                                               dilation=(1, 2), groups=2), [x, col, row, b])


class SeparableConvWithSwappedFactors(SeparableConv):
    """A plausible slip: each factor's gradient contracted with itself instead of the other one."""

    @staticmethod
    def backward(ctx, grad_y):
        grad_x, grad_col, grad_row, grad_b, _ = SeparableConv.backward(ctx, grad_y)
        return grad_x, grad_col[..., ::-1].copy(), grad_row, grad_b, None


def test_gradcheck_catches_a_wrong_separable_backward():
    rng = np.random.default_rng(0)
    x, col, row = (mc.tensor(rng.standard_normal(s), requires_grad=True) for s in ((1, 2, 5, 5), (2, 2, 3), (2, 2, 3)))
    geometry = mc.functional.conv.conv_geometry("t", x, np.empty((2, 2, 3, 3)), None, 1, 1, 1, 1, 2)
    assert_gradcheck(lambda x, c, r: SeparableConv.apply(x, c, r, None, geometry), [x, col, row])
    with pytest.raises(GradcheckError, match="input 1"):
        mc.gradcheck(lambda x, c, r: SeparableConvWithSwappedFactors.apply(x, c, r, None, geometry), [x, col, row])


def test_separable_conv2d_checks_its_factors():
    x = np.zeros((1, 2, 5, 5))
    with pytest.raises(ValueError, match="col_filter .* and row_filter .* must agree"):
        F.separable_conv2d(x, np.zeros((3, 2, 3)), np.zeros((4, 2, 3)))
    with pytest.raises(ValueError, match="col_filter must be 3-D"):
        F.separable_conv2d(x, np.zeros((3, 2, 3, 1)), np.zeros((3, 2, 3)))
    with pytest.raises(ValueError, match="input has 2 channels but weight expects 3"):
        F.separable_conv2d(x, np.zeros((3, 3, 3)), np.zeros((3, 3, 3)))


# ---- low_rank_conv2d ---------------------------------------------------------------------------------------
def truncated(w, rank):
    u, s, vt = np.linalg.svd(w)
    return np.einsum("...ir,...r,...rj->...ij", u[..., :rank], s[..., :rank], vt[..., :rank, :])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kernel, rank", [((3, 3), 1), ((3, 3), 2), ((3, 3), 3), ((2, 5), 2), ((5, 1), 1)])
def test_low_rank_is_conv2d_with_the_truncated_svd(dtype, kernel, rank):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 4, 8, 9)).astype(dtype)
    w = rng.standard_normal((6, 2) + kernel).astype(dtype)
    args = ((1, 2), [(1, 1), (2, 0)], (2, 1), 2)
    y = F.low_rank_conv2d(x, w, rank, stride=args[0], padding=args[1], dilation=args[2], groups=args[3])
    approximated = reference(x.astype(float), truncated(w.astype(float), rank), None, *args)[0]
    assert relative_error(y.array, approximated) <= RELATIVE_ERROR[dtype]
    exact = reference(x.astype(float), w.astype(float), None, *args)[0]
    lossy = rank < min(kernel)
    assert (relative_error(y.array, exact) > 1e-3) == lossy  # full rank is conv2d itself


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_low_rank_gradcheck(rank):
    rng = np.random.default_rng(0)
    x, w, b = (mc.tensor(rng.standard_normal(s), requires_grad=True) for s in ((2, 4, 6, 7), (4, 2, 3, 4), (4,)))
    assert_gradcheck(lambda x, w, b: F.low_rank_conv2d(x, w, rank, b, padding=1, groups=2), [x, w, b])


def test_low_rank_refuses_bad_ranks_and_ties():
    x, w = np.ones((1, 1, 5, 5)), np.ones((1, 1, 3, 3))
    for rank in (0, 4, 1.5):
        with pytest.raises(ValueError, match="rank must be an int from 1 to min"):
            F.low_rank_conv2d(x, w, rank)
    tied = mc.tensor(np.eye(3).reshape(1, 1, 3, 3), requires_grad=True)  # s = (1, 1, 1)
    with pytest.raises(ValueError, match="singular values 1 and 2 are equal"):
        F.low_rank_conv2d(x, tied, 1).sum().backward()


# ---- depthwise_separable_conv2d ------------------------------------------------------------------------------
def test_depthwise_separable_is_depthwise_then_pointwise():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 7, 8))
    dw, pw, db, pb = (rng.standard_normal(s) for s in ((3, 1, 3, 3), (5, 3, 1, 1), (3,), (5,)))
    y = F.depthwise_separable_conv2d(x, dw, pw, db, pb, stride=2, padding=1)
    h = reference(x, dw, None, (2, 2), [(1, 1), (1, 1)], (1, 1), 3)[0] + db[:, None, None]
    expected = np.einsum("nchw,kc->nkhw", h, pw[:, :, 0, 0]) + pb[:, None, None]
    assert relative_error(y.array, expected) <= 1e-12


def test_depthwise_separable_gradcheck():
    rng = np.random.default_rng(0)
    x, dw, pw, db, pb = (mc.tensor(rng.standard_normal(s), requires_grad=True)
                         for s in ((2, 3, 6, 5), (3, 1, 3, 2), (4, 3, 1, 1), (3,), (4,)))
    assert_gradcheck(lambda *a: F.depthwise_separable_conv2d(*a, stride=(2, 1), padding=1, dilation=(1, 2)),
                     [x, dw, pw, db, pb])


def test_depthwise_separable_checks_its_weights():
    x = np.zeros((1, 3, 5, 5))
    with pytest.raises(ValueError, match=r"depthwise_weight must have shape \(3, 1, kH, kW\)"):
        F.depthwise_separable_conv2d(x, np.zeros((3, 3, 3, 3)), np.zeros((4, 3, 1, 1)))
    with pytest.raises(ValueError, match=r"pointwise_weight must have shape \(Cout, 3, 1, 1\)"):
        F.depthwise_separable_conv2d(x, np.zeros((3, 1, 3, 3)), np.zeros((4, 3, 3, 3)))


def test_three_dimensional_layers_are_refused_even_with_unit_depth():
    # a 3-D conv of depth 1 with depth padding has output depth 3: not a 2-D problem
    x = mc.tensor(np.ones((1, 1, 1, 2, 2)))
    w = mc.tensor(np.ones((1, 1, 1, 1, 1)))
    for name in ("depthwise", "separable"):
        with pytest.raises(ValueError, match="needs a 1-D or 2-D convolution.*got a 3-D one"):
            F.conv3d(x, w, padding=1, algorithm=name)
