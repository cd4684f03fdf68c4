"""Winograd F(2x2,3x3) and F(4x4,3x3): the transforms' identity, forward and both gradients against
an independent float64 reference, finite differences, and the configurations they refuse.

Accuracy is measured as in issue 5: max|y - y_ref| / max|y_ref| against the float64 reference,
for unit-scale inputs. The reference is written here from the definition (NumPy's
sliding_window_view) and never calls minicnn.
"""
import dataclasses
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.lib.stride_tricks import sliding_window_view

import minicnn as mc
from minicnn import functional as F
from minicnn.functional.conv import Conv, conv_geometry
from minicnn.gradcheck import GradcheckError
from minicnn.kernels import ALGORITHMS, winograd
from minicnn.testing import assert_gradcheck

NAMES = ["winograd_f2x3", "winograd_f4x3"]
# (algorithm, dtype) -> largest relative error allowed (issue 5).
TOLERANCE = {("winograd_f2x3", np.float32): 1e-5, ("winograd_f4x3", np.float32): 1e-4,
             ("winograd_f2x3", np.float64): 1e-12, ("winograd_f4x3", np.float64): 1e-11}


# ---- the reference, from the definition ----------------------------------------------------------
def windows(x, pads):
    """(N, C, oH, oW, 3, 3): every 3x3 receptive field of x zero-padded by pads ((t, b), (l, r))."""
    return sliding_window_view(np.pad(x, ((0, 0), (0, 0)) + tuple(pads)), (3, 3), axis=(2, 3))


def reference(x, w, grad_y, pads, groups):
    """float64 (y, dL/dx, dL/dw) of y[n, k, i, j] = sum_{c,u,v} w[k, c, u, v] x_pad[n, c', i+u, j+v],
    c' = the c-th channel of k's group, for dL/dy = grad_y (None: y only)."""
    n, c, height, width = x.shape
    k = w.shape[0]
    win = windows(x, pads)
    out = win.shape[2:4]
    win = win.reshape((n, groups, c // groups) + win.shape[2:])
    wg = w.reshape(groups, k // groups, c // groups, 3, 3)
    y = np.einsum("ngchwuv,gkcuv->ngkhw", win, wg, optimize=True).reshape((n, k) + out)
    if grad_y is None:
        return y, None, None
    gy = grad_y.reshape((n, groups, k // groups) + out)
    grad_w = np.einsum("ngkhw,ngchwuv->gkcuv", gy, win, optimize=True).reshape(w.shape)
    (top, bottom), (left, right) = pads
    grad_x = np.zeros((n, c, height + top + bottom, width + left + right))
    for u in range(3):  # tap (u, v) read x_pad[i + u, j + v] for every output (i, j)
        for v in range(3):
            part = np.einsum("ngkhw,gkc->ngchw", gy, wg[..., u, v], optimize=True)
            grad_x[:, :, u:u + out[0], v:v + out[1]] += part.reshape((n, c) + out)
    return y, grad_x[:, :, top:top + height, left:left + width], grad_w


def relative_error(value, expected):
    return np.max(np.abs(value - expected)) / np.max(np.abs(expected))


def run(name, x, w, grad_y, pads, groups):
    """(y, dL/dx, dL/dw) through F.conv2d(..., algorithm=name) and the autograd walk."""
    xt, wt = mc.tensor(x, requires_grad=True), mc.tensor(w, requires_grad=True)
    y = F.conv2d(xt, wt, padding=pads, groups=groups, algorithm=name)
    y.backward(grad_y)
    return y.array, xt.grad.array, wt.grad.array


def check(name, dtype, shape, filters, pads, groups, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal((filters, shape[1] // groups, 3, 3)).astype(dtype)
    expected_y = reference(x.astype(np.float64), w.astype(np.float64), None, pads, groups)[0]
    grad_y = rng.standard_normal(expected_y.shape)
    expected = reference(x.astype(np.float64), w.astype(np.float64), grad_y, pads, groups)
    got = run(name, x, w, grad_y.astype(dtype), pads, groups)
    for what, value, want in zip(("y", "dL/dx", "dL/dw"), got, expected):
        assert value.dtype == dtype and value.shape == want.shape, what
        error = relative_error(value, want)
        assert error <= TOLERANCE[name, dtype], f"{name} {np.dtype(dtype)} {what}: relative error {error:.2e}"


def test_reference_matches_a_hand_computed_case():
    """Guards the reference: one channel, the all-ones 3x3 filter sums each padded neighbourhood."""
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    y, grad_x, grad_w = reference(x, np.ones((1, 1, 3, 3)), np.ones((1, 1, 3, 3)), ((1, 1), (1, 1)), 1)
    assert y[0, 0].tolist() == [[8, 15, 12], [21, 36, 27], [20, 33, 24]]
    assert grad_x[0, 0].tolist() == [[4, 6, 4], [6, 9, 6], [4, 6, 4]]  # outputs each x feeds
    assert grad_w[0, 0].tolist() == [[8, 15, 12], [21, 36, 27], [20, 33, 24]]


# ---- the transforms ----------------------------------------------------------------------------------
def correlate(d, g):
    """The 2-D valid correlation of d (a x a) with g (r x r), from the definition (exact for Fractions)."""
    r, out = g.shape[0], d.shape[0] - g.shape[0] + 1
    return np.array([[sum(d[i + u, j + v] * g[u, v] for u in range(r) for v in range(r))
                      for j in range(out)] for i in range(out)], dtype=object)


@pytest.mark.parametrize("m, r, points", [(2, 3, (0, 1, -1)), (4, 3, (0, 1, -1, 2, -2)), (3, 2, (0, 1, -1)),
                                          (6, 3, (0, 1, -1, 2, -2, Fraction(1, 2), Fraction(-1, 2)))])
def test_toom_cook_matrices_satisfy_the_identity_exactly(m, r, points):
    """Y = A^T [(G g G^T) * (B^T d B)] A is the correlation, in exact rational arithmetic."""
    a_t, g_matrix, b_t = winograd.toom_cook(m, r, points)
    rng = np.random.default_rng(m * r)
    for _ in range(3):
        d = rng.integers(-9, 10, (m + r - 1,) * 2).astype(object)
        g = rng.integers(-9, 10, (r, r)).astype(object)
        y = a_t @ ((g_matrix @ g @ g_matrix.T) * (b_t @ d @ b_t.T)) @ a_t.T
        assert (y == correlate(d, g)).all()


def test_f4x3_matrices_are_the_published_ones():
    """Lavin & Gray 2016, section 5.2, F(4x4,3x3)."""
    b_t = [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
           [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]]
    g = [[Fraction(1, 4), 0, 0], [Fraction(-1, 6)] * 3, [Fraction(-1, 6), Fraction(1, 6), Fraction(-1, 6)],
         [Fraction(1, 24), Fraction(1, 12), Fraction(1, 6)], [Fraction(1, 24), Fraction(-1, 12), Fraction(1, 6)],
         [0, 0, 1]]
    a_t = [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]]
    exact = winograd.toom_cook(4, 3, (0, 1, -1, 2, -2))
    for ours, published in zip(exact, (a_t, g, b_t)):
        assert ours.tolist() == published
    # The float64 constants the kernels use are those rationals, correctly rounded.
    for variant in (winograd.F2X3, winograd.F4X3, winograd.F3X2):
        exact = winograd.toom_cook(variant.m, variant.r, variant.points)
        floats = (variant.output_transform, variant.filter_transform, variant.input_transform)
        for rational, constant in zip(exact, floats):
            assert constant.dtype == np.float64 and (np.vectorize(float)(rational) == constant).all()


@pytest.mark.parametrize("variant", [winograd.F2X3, winograd.F3X2])
def test_float64_identity_is_exact_on_integers_for_dyadic_matrices(variant):
    """F(2,3) and F(3,2) have only halves in G: on small integers float64 makes no rounding at all."""
    rng = np.random.default_rng(0)
    d = rng.integers(-50, 50, (variant.a, variant.a)).astype(np.float64)
    g = rng.integers(-50, 50, (variant.r, variant.r)).astype(np.float64)
    a_t, g_matrix, b_t = variant.output_transform, variant.filter_transform, variant.input_transform
    y = a_t @ ((g_matrix @ g @ g_matrix.T) * (b_t @ d @ b_t.T)) @ a_t.T
    assert np.array_equal(y, correlate(d.astype(int).astype(object), g.astype(int).astype(object)).astype(float))


def test_f2x3_convolution_is_exact_on_integer_data():
    rng = np.random.default_rng(1)
    x = rng.integers(-8, 9, (2, 5, 9, 7)).astype(np.float64)
    w = rng.integers(-8, 9, (4, 5, 3, 3)).astype(np.float64)
    pads = ((1, 2), (0, 1))
    y = F.conv2d(x, w, padding=pads, algorithm="winograd_f2x3").array
    assert np.array_equal(y, reference(x, w, None, pads, 1)[0])


# ---- forward and both gradients against the reference ---------------------------------------------------
@st.composite
def winograd_configs(draw):
    """(shape, filters, pads, groups) of an eligible 2-D 3x3 stride-1 convolution, sizes ragged for
    both tile sizes, padding 0..2 on each side."""
    groups = draw(st.integers(1, 2))
    pads = tuple(draw(st.tuples(st.integers(0, 2), st.integers(0, 2))) for _ in range(2))
    sizes = tuple(draw(st.integers(max(1, 3 - sum(pair)), 11)) for pair in pads)
    shape = (draw(st.integers(1, 2)), groups * draw(st.integers(1, 3))) + sizes
    return shape, groups * draw(st.integers(1, 3)), pads, groups


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=30)
@given(config=winograd_configs(), dtype=st.sampled_from([np.float32, np.float64]))
def test_matches_reference_on_drawn_shapes(name, config, dtype):
    check(name, dtype, *config)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_accuracy_on_a_resnet_sized_layer(name, dtype):
    """C = K = 64 at 56x56 ("same" padding) and a ragged 13x13 with no padding and two groups."""
    check(name, dtype, (1, 64, 56, 56), 64, ((1, 1), (1, 1)), 1)
    check(name, dtype, (2, 32, 13, 13), 48, ((0, 0), (0, 0)), 2)


def test_data_gradient_with_padding_beyond_the_kernel():
    """p > 2: grad_y is cropped, not padded, in the data gradient."""
    for name in NAMES:
        check(name, np.float64, (1, 2, 4, 5), 3, ((3, 4), (2, 3)), 1)


# ---- the fused kernels' blocks of tiles ----------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("block, parts", [(16, 3), (16, 8), (32, 1)])
def test_many_blocks_of_tiles_and_a_short_last_one(monkeypatch, name, block, parts):
    """Blocks cut across images and tile rows, the last block short, the weight gradient's blocks
    shared between fewer or more partial sums than there are blocks."""
    monkeypatch.setattr(winograd, "BLOCK_MIN", block)
    monkeypatch.setattr(winograd, "BLOCK_MAX", block)
    monkeypatch.setattr(winograd, "WEIGHT_PARTS", parts)
    check(name, np.float64, (3, 4, 13, 11), 6, ((1, 2), (0, 1)), 2)
    check(name, np.float32, (5, 3, 9, 10), 2, ((1, 1), (1, 1)), 1)


@pytest.mark.parametrize("name", NAMES)
def test_gradients_do_not_depend_on_the_thread_count(monkeypatch, name):
    """The weight gradient sums a fixed number of partial sums, whatever the threads: same bits
    (blocks of 64 tiles: 7 blocks of 400 pieces of dL/dy, more than threads or parts)."""
    monkeypatch.setattr(winograd, "BLOCK_MIN", 64)
    monkeypatch.setattr(winograd, "BLOCK_MAX", 64)
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((4, 8, 20, 20)), rng.standard_normal((8, 8, 3, 3))
    grad_y = rng.standard_normal((4, 8, 20, 20))
    previous = mc.get_num_threads()
    if previous == 1:
        pytest.skip("one thread only")
    many = run(name, x, w, grad_y, ((1, 1), (1, 1)), 1)
    try:
        mc.set_num_threads(1)
        one = run(name, x, w, grad_y, ((1, 1), (1, 1)), 1)
    finally:
        mc.set_num_threads(previous)
    for a, b in zip(one, many):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("x_shape, w_shape", [((0, 3, 5, 5), (4, 3, 3, 3)), ((2, 3, 5, 5), (0, 3, 3, 3))])
def test_an_empty_batch_or_no_filters_give_empty_or_zero_gradients(name, x_shape, w_shape):
    """N = 0: no tiles at all; K = 0: the data gradient sums over no channel."""
    x = mc.tensor(np.ones(x_shape), requires_grad=True)
    w = mc.tensor(np.ones(w_shape), requires_grad=True)
    y = F.conv2d(x, w, padding=1, algorithm=name)
    assert y.shape == (x_shape[0], w_shape[0], 5, 5)
    y.backward(np.ones(y.shape))
    assert x.grad.shape == x_shape and not x.grad.array.any()
    assert w.grad.shape == w_shape and not w.grad.array.any()


# ---- finite differences ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape, filters, pads, groups", [((2, 2, 5, 7), 3, ((1, 2), (0, 1)), 1),
                                                          ((1, 4, 6, 5), 2, ((2, 0), (1, 1)), 2)])
def test_gradcheck(name, shape, filters, pads, groups):
    rng = np.random.default_rng(0)
    x = mc.tensor(rng.standard_normal(shape), requires_grad=True)
    w = mc.tensor(rng.standard_normal((filters, shape[1] // groups, 3, 3)), requires_grad=True)
    b = mc.tensor(rng.standard_normal(filters), requires_grad=True)
    assert_gradcheck(lambda x, w, b: F.conv2d(x, w, b, padding=pads, groups=groups, algorithm=name), [x, w, b])


def _unrotated(algorithm):
    """A classic bug: the data gradient correlates with the filters not rotated by 180 degrees."""
    return lambda grad_y, weight, geometry: algorithm.backward_data(grad_y, weight[..., ::-1, ::-1].copy(), geometry)


def _transposed(algorithm):
    """Another: the weight gradient's 3x3 result read out transposed."""
    return lambda x, grad_y, geometry: algorithm.backward_weight(x, grad_y, geometry).swapaxes(-1, -2).copy()


@pytest.mark.parametrize("name", NAMES)
def test_gradcheck_catches_a_wrong_winograd_backward(name):
    rng = np.random.default_rng(0)
    x = mc.tensor(rng.standard_normal((1, 2, 5, 6)), requires_grad=True)
    w = mc.tensor(rng.standard_normal((3, 2, 3, 3)), requires_grad=True)
    geometry = conv_geometry("conv2d", x, w, None, 1, 1, 1, 1, 2)
    right = ALGORITHMS[name]
    assert_gradcheck(lambda x, w: Conv.apply(x, w, None, geometry, right), [x, w])
    for wrong, index in ((dataclasses.replace(right, backward_data=_unrotated(right)), 0),
                         (dataclasses.replace(right, backward_weight=_transposed(right)), 1)):
        with pytest.raises(GradcheckError, match=f"input {index}"):
            mc.gradcheck(lambda x, w: Conv.apply(x, w, None, geometry, wrong), [x, w])


# ---- what Winograd refuses, and what it needs -----------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_unsupported_configurations_say_why(name):
    x, x1 = np.zeros((1, 2, 8, 8), np.float32), np.zeros((1, 2, 8), np.float32)
    w = np.zeros((3, 2, 3, 3), np.float32)
    cases = [(lambda: F.conv2d(x, np.zeros((3, 2, 5, 5), np.float32), algorithm=name), "needs a 3x3 kernel, got 5x5"),
             (lambda: F.conv2d(x, np.zeros((3, 2, 3, 1), np.float32), algorithm=name), "needs a 3x3 kernel, got 3x1"),
             (lambda: F.conv2d(x, w, stride=2, algorithm=name), "needs stride 1"),
             (lambda: F.conv2d(x, w, dilation=(1, 2), algorithm=name), "needs dilation 1"),
             (lambda: F.conv1d(x1, np.zeros((3, 2, 3), np.float32), algorithm=name), "2-D only")]
    for call, reason in cases:
        with pytest.raises(ValueError, match=f"conv.d: algorithm '{name}' cannot run .*{reason}"):
            call()


def test_workspace_counts_the_transformed_filters_and_a_block_of_tiles(monkeypatch):
    """N = C = K = 1, 4x4 input, no padding, F(2x2,3x3), blocks of 16 tiles: every pass has one block
    (1 tile forward, 4 in the data gradient, 1 piece of dL/dy) of 16 * (1 + 1) * 16 values, and 16
    values of transformed filters, or 32 of one partial sum and the product added to it."""
    monkeypatch.setattr(winograd, "BLOCK_MIN", 16)
    monkeypatch.setattr(winograd, "BLOCK_MAX", 16)
    geometry = conv_geometry("conv2d", np.zeros((1, 1, 4, 4), np.float32), np.zeros((1, 1, 3, 3), np.float32),
                             None, 1, 0, 1, 1, 2)
    assert ALGORITHMS["winograd_f2x3"].workspace(geometry) == (32 + 16 * 2 * 16) * 4
