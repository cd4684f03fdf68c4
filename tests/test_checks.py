"""The one validation layer (minicnn.functional.checks) and the inputs PyTorch accepts that
minicnn once refused: unbatched convolutions, dropout(p=1), conv_transpose2d's output_padding
below the dilation, batch norm's momentum in eval mode."""
import math

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

import minicnn as mc
from minicnn import functional as F
from minicnn import nn
from minicnn.functional import checks
from minicnn.kernels import output_length


# ---- the helpers ----------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [True, False, np.bool_(True), 2.0, 2.5, "2", None, (1, True), [1.5, 1]])
def test_int_tuple_refuses_bools_floats_and_strings(value):
    with pytest.raises(TypeError, match=r"^op: stride must be an int or a tuple of 2 ints"):
        checks.int_tuple(value, 2, "stride", "op")


def test_int_tuple_accepts_ints_and_checks_the_minimum():
    assert checks.int_tuple(np.int64(3), 2, "k", "op") == (3, 3)
    assert checks.int_tuple([1, 2], 2, "k", "op") == (1, 2)
    assert checks.int_tuple((-2, 1), 2, "pad", "op", minimum=None) == (-2, 1)  # F.pad's cropping widths
    with pytest.raises(ValueError, match=r"^op: padding must be non-negative, got -1"):
        checks.int_tuple(-1, 1, "padding", "op", minimum=0)


@pytest.mark.parametrize("call", [lambda: F.max_pool2d(np.ones((1, 1, 4, 4), np.float32), True),
                                  lambda: F.conv2d(np.ones((1, 1, 4, 4)), np.ones((1, 1, 1, 1)), stride=True),
                                  lambda: F.avg_pool1d(np.ones((1, 1, 4), np.float32), 2, stride=True)])
def test_bools_are_refused_by_every_op_alike(call):
    with pytest.raises(TypeError, match=r"must be an int or a tuple of \d ints, got True"):
        call()


@pytest.mark.parametrize("value, error", [(None, TypeError), ("0.5", TypeError), (True, TypeError),
                                          (-0.1, ValueError), (1.01, ValueError), (math.nan, ValueError)])
def test_probability(value, error):
    with pytest.raises(error, match=r"^dropout: p must be"):
        checks.probability("dropout", "p", value)


@pytest.mark.parametrize("dtype", [np.float16, np.longdouble, np.int32, np.bool_, np.complex64, object, str])
def test_float_array_refuses_every_dtype_but_float32_and_float64(dtype):
    with pytest.raises(TypeError, match=r"^conv2d: input must be float32 or float64, got"):
        checks.float_array("conv2d", "input", np.zeros(3, dtype))


def test_is_batched():
    assert checks.is_batched("op", (0, 3, 4, 4), 2)
    assert not checks.is_batched("op", (3, 4, 4), 2)
    with pytest.raises(ValueError, match=r"^op: input must be 4-D \(N, C, H, W\) or 3-D unbatched \(C, H, W\)"):
        checks.is_batched("op", (4, 4), 2)
    with pytest.raises(ValueError, match=r"^op: input has an empty dimension"):
        checks.is_batched("op", (0, 4, 4), 2)


# ---- one output-size formula ----------------------------------------------------------------------
def windows(size, kernel, stride, pad, dilation, ceil_mode):
    """Count the window positions by walking them (PyTorch's rule): a window starts at i*stride
    on the padded axis; it must fit inside the padding, or with ceil_mode may run past the end
    as long as it starts inside the input or the padding before it."""
    span, padded = dilation * (kernel - 1) + 1, size + 2 * pad
    starts = range(0, padded, stride)
    if ceil_mode:
        return sum(1 for s in starts if s + span - stride < padded and s < size + pad)
    return sum(1 for s in starts if s + span <= padded)


@pytest.mark.parametrize("ceil_mode", [False, True])
def test_output_length_counts_the_windows(ceil_mode):
    for size in range(1, 9):
        for kernel in range(1, 4):
            for stride in range(1, 4):
                for pad in range(0, kernel // 2 + 1):
                    for dilation in (1, 2):
                        if dilation * (kernel - 1) + 1 <= size + 2 * pad:
                            assert (output_length(size, kernel, stride, pad, pad, dilation, ceil_mode)
                                    == windows(size, kernel, stride, pad, dilation, ceil_mode))


# ---- inputs PyTorch accepts ----------------------------------------------------------------------
def reference_conv(x, w, stride=1, padding=0):
    """conv of one (C, *spatial) sample from the definition, in float64."""
    dims = x.ndim - 1
    x = np.pad(x.astype(np.float64), [(0, 0)] + [(padding, padding)] * dims)
    win = sliding_window_view(x, w.shape[2:], axis=tuple(range(1, dims + 1)))
    win = win[(slice(None),) + (slice(None, None, stride),) * dims]
    out, taps = "dhw"[3 - dims:], "DHW"[3 - dims:]
    return np.einsum(f"c{out}{taps},kc{taps}->k{out}", win, w)


@pytest.mark.parametrize("dims, conv", [(1, F.conv1d), (2, F.conv2d), (3, F.conv3d)])
def test_convolutions_accept_an_unbatched_sample(dims, conv):
    rng = np.random.default_rng(dims)
    x = mc.tensor(rng.standard_normal((3,) + (6,) * dims), requires_grad=True)
    w = rng.standard_normal((2, 3) + (3,) * dims)
    y = conv(x, w, stride=2, padding=1)
    np.testing.assert_allclose(y.array, reference_conv(x.array, w, 2, 1), rtol=1e-10)
    F.sum(y).backward()
    batched = mc.tensor(x.array[None], requires_grad=True)
    F.sum(conv(batched, w, stride=2, padding=1)).backward()
    np.testing.assert_allclose(x.grad.array, batched.grad.array[0], rtol=1e-12)


def test_conv_transpose2d_accepts_an_unbatched_sample():
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((3, 4, 4)), rng.standard_normal((3, 2, 3, 3))
    y = F.conv_transpose2d(x, w, stride=2)
    np.testing.assert_allclose(y.array, F.conv_transpose2d(x[None], w, stride=2).array[0], rtol=1e-12)


def conv_transpose_reference(x, w, stride, dilation, output_padding, padding=0):
    """Scatter each input value times its kernel onto the output, from the definition, then crop
    the padding: y[co, i*s - p + a*d, j*s - p + b*d] += x[ci, i, j] * w[ci, co, a, b]."""
    c_in, h, width = x.shape
    k = w.shape[2]
    size = [(n - 1) * stride + dilation * (k - 1) + 1 + output_padding for n in (h, width)]
    y = np.zeros((w.shape[1], size[0], size[1]))
    for ci in range(c_in):
        for i in range(h):
            for j in range(width):
                for a in range(k):
                    for b in range(k):
                        y[:, i * stride + a * dilation, j * stride + b * dilation] += x[ci, i, j] * w[ci, :, a, b]
    return y[:, padding:size[0] - padding, padding:size[1] - padding]


@pytest.mark.parametrize("stride, dilation, output_padding, padding",
                         [(1, 2, 1, 0), (1, 3, 2, 0), (1, 3, 2, 1), (2, 3, 2, 0), (2, 3, 2, 3), (2, 1, 1, 1)])
def test_conv_transpose2d_output_padding_may_reach_below_the_dilation(stride, dilation, output_padding, padding):
    """PyTorch's rule: output_padding < max(stride, dilation). Checked against the definition,
    forward and backward (the gradient of the linear map <y(x), g>, column by column)."""
    rng = np.random.default_rng(stride * 10 + dilation)
    x = mc.tensor(rng.standard_normal((1, 2, 3, 4)), requires_grad=True)
    w, bias = rng.standard_normal((2, 3, 3, 3)), rng.standard_normal(3)
    y = F.conv_transpose2d(x, w, bias, stride=stride, padding=padding, output_padding=output_padding,
                           dilation=dilation)
    expected = conv_transpose_reference(x.array[0], w, stride, dilation, output_padding, padding)
    np.testing.assert_allclose(y.array[0], expected + bias[:, None, None], rtol=1e-10, atol=1e-12)
    g = rng.standard_normal(y.shape)
    F.sum(F.mul(y, g)).backward()
    gradient = np.zeros(x.shape)
    for index in np.ndindex(x.shape):
        unit = np.zeros(x.shape)
        unit[index] = 1.0
        gradient[index] = np.vdot(conv_transpose_reference(unit[0], w, stride, dilation, output_padding, padding),
                                  g[0])
    np.testing.assert_allclose(x.grad.array, gradient, rtol=1e-10, atol=1e-12)


def test_conv_transpose2d_output_padding_must_be_below_stride_or_dilation():
    with pytest.raises(ValueError, match=r"output_padding \(2, 2\) must be smaller than the stride \(1, 1\) "
                                         r"or the dilation \(2, 2\)"):
        F.conv_transpose2d(np.ones((1, 2, 4, 4)), np.ones((2, 3, 3, 3)), dilation=2, output_padding=2)


@pytest.mark.parametrize("drop", [F.dropout, F.dropout2d])
def test_dropout_with_p_1_zeroes_everything_and_its_gradient(drop):
    x = mc.tensor(np.ones((2, 3, 4, 4), np.float32), requires_grad=True)
    y = drop(x, p=1.0)
    assert not np.any(y.array) and np.all(np.isfinite(y.array))
    F.sum(y).backward()
    assert not np.any(x.grad.array)
    assert nn.Dropout(1.0).p == 1.0


def test_batch_norm_ignores_momentum_in_eval_mode():
    x = np.ones((2, 3, 2, 2), np.float32)
    mean, var = np.zeros(3, np.float32), np.ones(3, np.float32)
    y = F.batch_norm(x, mean, var, training=False, momentum=None)
    np.testing.assert_allclose(y.array, x / np.sqrt(1 + 1e-5), rtol=1e-6)
    with pytest.raises(ValueError, match=r"^batch_norm: momentum must be a number in \[0, 1\], got 2"):
        F.batch_norm(x, mean, var, training=True, momentum=2)
