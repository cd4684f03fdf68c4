"""conv1d/conv2d/conv3d: every algorithm against an independent float64 reference, and against
finite differences.

The reference below is written from the definition with NumPy's sliding_window_view and never
calls minicnn. Tolerances: float64 agrees to 1e-9 (relative and absolute); float32 to 1e-4,
enough for sums of a few thousand products of O(1) values in single precision.
"""
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from numpy.lib.stride_tricks import sliding_window_view

import minicnn as mc
from minicnn import functional as F
from minicnn.functional.conv import Conv, conv_geometry
from minicnn.gradcheck import GradcheckError
from minicnn.kernels import ALGORITHMS, eligible_algorithms, get_algorithm
from minicnn.testing import assert_gradcheck, conv_configs

CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
TOLERANCE = {np.float32: 1e-4, np.float64: 1e-9}


# ---- the reference, from the definition ----------------------------------------------------------
def padding_pairs(padding, kernel, dilation):
    """(before, after) per axis, from the padding argument as documented for conv2d."""
    dims = len(kernel)
    spans = [d * (k - 1) for k, d in zip(kernel, dilation)]
    if padding == "valid":
        return [(0, 0)] * dims
    if padding == "full":
        return [(e, e) for e in spans]
    if padding == "same":  # the odd extra sample goes after, as in PyTorch
        return [(e // 2, e - e // 2) for e in spans]
    if isinstance(padding, int):
        return [(padding, padding)] * dims
    return [(p, p) if isinstance(p, int) else tuple(p) for p in padding]


def letters(count, first):
    return "".join(chr(ord(first) + i) for i in range(count))


def windows(x, kernel, stride, pairs, dilation):
    """(N, C, *out, *kernel): every receptive field of the zero-padded x."""
    dims = len(kernel)
    x = np.pad(x, [(0, 0), (0, 0)] + list(pairs))
    spans = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    view = sliding_window_view(x, spans, axis=tuple(range(2, 2 + dims)))
    pick = (slice(None),) * 2 + tuple(slice(None, None, s) for s in stride) + tuple(
        slice(None, None, d) for d in dilation)
    return view[pick]


def reference_forward(x, w, stride, pairs, dilation, groups):
    dims = x.ndim - 2
    n, c = x.shape[:2]
    win = windows(x, w.shape[2:], stride, pairs, dilation)
    out = win.shape[2:2 + dims]
    win = win.reshape((n, groups, c // groups) + win.shape[2:])
    wg = w.reshape((groups, w.shape[0] // groups) + w.shape[1:])
    o, k = letters(dims, "p"), letters(dims, "t")
    y = np.einsum(f"ngc{o}{k},gdc{k}->ngd{o}", win, wg)
    return y.reshape((n, w.shape[0]) + out)


def reference_backward(x, w, grad_y, stride, pairs, dilation, groups):
    """(dL/dx, dL/dw) for dL/dy = grad_y, read off the definition."""
    dims = x.ndim - 2
    n, c = x.shape[:2]
    c_out, kernel, out = w.shape[0], w.shape[2:], grad_y.shape[2:]
    gy = grad_y.reshape((n, groups, c_out // groups) + out)
    wg = w.reshape((groups, c_out // groups) + w.shape[1:])
    o, k = letters(dims, "p"), letters(dims, "t")
    win = windows(x, kernel, stride, pairs, dilation).reshape((n, groups, c // groups) + out + kernel)
    grad_w = np.einsum(f"ngd{o},ngc{o}{k}->gdc{k}", gy, win).reshape(w.shape)
    # dL/dx: every kernel tap adds w[tap]-weighted output gradients onto the input samples it read.
    padded = np.zeros((n, c) + tuple(size + b + a for size, (b, a) in zip(x.shape[2:], pairs)))
    for tap in itertools.product(*(range(kk) for kk in kernel)):
        part = np.einsum(f"ngd{o},gdc->ngc{o}", gy, wg[(Ellipsis,) + tap]).reshape((n, c) + out)
        where = tuple(slice(t * d, t * d + s * (m - 1) + 1, s) for t, d, s, m in zip(tap, dilation, stride, out))
        padded[(slice(None), slice(None)) + where] += part
    crop = tuple(slice(b, b + size) for size, (b, _) in zip(x.shape[2:], pairs))
    return padded[(slice(None), slice(None)) + crop], grad_w


def output_size(n, k, s, pair, d):
    return (n + pair[0] + pair[1] - d * (k - 1) - 1) // s + 1


def random_inputs(config, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(config.input_shape).astype(config.dtype)
    w = rng.standard_normal(config.weight_shape).astype(config.dtype)
    b = rng.standard_normal(config.weight_shape[0]).astype(config.dtype)
    return x, w, b


def supporting_algorithms(x, w, stride=1, padding=0, dilation=1, groups=1):
    """The registered algorithms that support this convolution (the later ones may not)."""
    geometry = conv_geometry("test", x, w, None, stride, padding, dilation, groups, np.ndim(x) - 2)
    return eligible_algorithms(geometry)


def algorithms_for(config):
    """Every registered algorithm that supports this configuration, and "auto"."""
    x, w, _ = random_inputs(config)
    return ["auto"] + supporting_algorithms(x, w, **config.kwargs())


# ---- every algorithm agrees with the reference, forward and backward -------------------------------
def check_against_reference(config):
    x, w, b = random_inputs(config)
    pairs = padding_pairs(config.padding, config.weight_shape[2:], config.dilation)
    expected = reference_forward(x.astype(np.float64), w.astype(np.float64), config.stride, pairs,
                                 config.dilation, config.groups) + b.reshape((-1,) + (1,) * config.spatial_dims)
    sizes = tuple(output_size(n, k, s, p, d) for n, k, s, p, d in zip(
        config.input_shape[2:], config.weight_shape[2:], config.stride, pairs, config.dilation))
    assert expected.shape[2:] == sizes  # the reference itself obeys the output-size formula
    grad_y = np.random.default_rng(1).standard_normal(expected.shape)
    grad_x, grad_w = reference_backward(x.astype(np.float64), w.astype(np.float64), grad_y, config.stride,
                                        pairs, config.dilation, config.groups)
    tol = TOLERANCE[config.dtype]
    for algorithm in algorithms_for(config):
        xt, wt, bt = (mc.tensor(a, requires_grad=True) for a in (x, w, b))
        y = CONV[config.spatial_dims](xt, wt, bt, **config.kwargs(), algorithm=algorithm)
        assert y.shape == (config.input_shape[0], config.weight_shape[0]) + sizes
        assert y.dtype == config.dtype
        np.testing.assert_allclose(y.array, expected, rtol=tol, atol=tol, err_msg=f"{algorithm} forward")
        y.backward(grad_y.astype(config.dtype))
        np.testing.assert_allclose(xt.grad.array, grad_x, rtol=tol, atol=tol, err_msg=f"{algorithm} dL/dx")
        np.testing.assert_allclose(wt.grad.array, grad_w, rtol=tol, atol=tol, err_msg=f"{algorithm} dL/dw")
        np.testing.assert_allclose(bt.grad.array, grad_y.sum(axis=(0,) + tuple(range(2, y.ndim))),
                                   rtol=tol, atol=tol, err_msg=f"{algorithm} dL/db")


@settings(max_examples=40)
@given(conv_configs(spatial_dims=1, max_kernel=4, max_extra_size=6))
def test_conv1d_matches_reference(config):
    check_against_reference(config)


@settings(max_examples=40)
@given(conv_configs(spatial_dims=2))
def test_conv2d_matches_reference(config):
    check_against_reference(config)


@settings(max_examples=25)
@given(conv_configs(spatial_dims=3, max_extra_size=2))
def test_conv3d_matches_reference(config):
    check_against_reference(config)


def test_reference_matches_a_hand_computed_case():
    """Guards the reference itself: a 1-D case small enough to do by hand."""
    x = np.array([[[1.0, 2.0, 3.0, 4.0]]])
    w = np.array([[[1.0, 0.0, -1.0]]])
    assert reference_forward(x, w, (1,), [(1, 1)], (1,), 1).tolist() == [[[-2.0, -2.0, -2.0, 3.0]]]
    grad_x, grad_w = reference_backward(x, w, np.ones((1, 1, 4)), (1,), [(1, 1)], (1,), 1)
    assert grad_x.tolist() == [[[1.0, 0.0, 0.0, -1.0]]] and grad_w.tolist() == [[[6.0, 10.0, 9.0]]]


# ---- output sizes of the padding regimes ----------------------------------------------------------
@pytest.mark.parametrize("kernel, dilation", [(3, 1), (4, 1), (3, 2), (1, 1), (2, 3)])
def test_padding_modes_give_the_documented_sizes(kernel, dilation):
    x = np.zeros((1, 1, 9, 10), np.float32)
    w = np.zeros((1, 1, kernel, kernel), np.float32)
    span = dilation * (kernel - 1)
    for padding, expected in (("valid", (9 - span, 10 - span)), ("same", (9, 10)),
                              ("full", (9 + span, 10 + span))):
        assert F.conv2d(x, w, padding=padding, dilation=dilation).shape == (1, 1) + expected


def test_asymmetric_padding_follows_the_formula():
    x = np.zeros((2, 3, 7, 8), np.float64)
    w = np.zeros((4, 3, 3, 2), np.float64)
    y = F.conv2d(x, w, stride=(2, 3), padding=((0, 3), (2, 1)), dilation=(1, 2))
    assert y.shape == (2, 4, (7 + 3 - 2 - 1) // 2 + 1, (8 + 3 - 2 - 1) // 3 + 1)


# ---- finite differences ----------------------------------------------------------------------------
@settings(max_examples=12)
@given(conv_configs(spatial_dims=(1, 2, 3), max_batch=2, max_channels_per_group=2, max_extra_size=1,
                    dtypes=(np.float64,)))
def test_conv_gradcheck(config):
    x, w, b = (mc.tensor(a, requires_grad=True) for a in random_inputs(config))
    conv = CONV[config.spatial_dims]
    for algorithm in algorithms_for(config)[1:]:
        assert_gradcheck(lambda x, w, b: conv(x, w, b, **config.kwargs(), algorithm=algorithm), [x, w, b])


class ConvWithFlippedWeightGradient(Conv):
    """A classic bug: the weight gradient computed as a true convolution (kernel flipped) where
    the forward pass is a cross-correlation."""

    @staticmethod
    def backward(ctx, grad_y):
        grad_x, grad_w, grad_b, _, _ = Conv.backward(ctx, grad_y)
        return grad_x, grad_w[..., ::-1, ::-1].copy(), grad_b, None, None


@pytest.mark.parametrize("algorithm", ["direct", "im2col"])
def test_gradcheck_catches_a_wrong_conv_backward(algorithm):
    rng = np.random.default_rng(0)
    x = mc.tensor(rng.standard_normal((2, 2, 5, 5)), requires_grad=True)
    w = mc.tensor(rng.standard_normal((3, 2, 3, 3)), requires_grad=True)

    def conv(op):
        def run(x, w):
            geometry = conv_geometry("conv2d", x, w, None, 2, 1, 1, 1, 2)
            return op.apply(x, w, None, geometry, get_algorithm(algorithm, geometry, "conv2d"))
        return run

    assert_gradcheck(conv(Conv), [x, w])
    with pytest.raises(GradcheckError, match="input 1"):
        mc.gradcheck(conv(ConvWithFlippedWeightGradient), [x, w])


# ---- special values, algorithms, graph ---------------------------------------------------------------
@pytest.mark.parametrize("algorithm", ["direct", "im2col"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_and_inf_propagate_only_to_the_outputs_that_see_them(algorithm, bad):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 2, 9, 9))
    x[1, 0, 4, 6] = bad
    w = rng.uniform(0.5, 1.0, (3, 2, 3, 3))  # positive, so inf stays inf
    y = F.conv2d(x, w, stride=2, padding=1, algorithm=algorithm).array
    seen = np.zeros(y.shape, bool)
    seen[1, :, 2, 3] = True  # the one window (rows 2i-1..2i+1, columns 2j-1..2j+1) holding (4, 6)
    assert np.all(~np.isfinite(y[seen])) and np.all(np.isfinite(y[~seen]))
    if bad == np.inf:
        assert np.all(y[seen] == np.inf)


def test_auto_chooses_a_registered_algorithm_and_matches_the_others():
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 3, 8, 8)), rng.standard_normal((4, 3, 3, 3))
    names = ["auto"] + supporting_algorithms(x, w, padding=1)
    results = [F.conv2d(x, w, padding=1, algorithm=name).array for name in names]
    for other in results[1:]:
        np.testing.assert_allclose(results[0], other, rtol=1e-12, atol=1e-12)


def test_no_graph_is_recorded_without_requires_grad():
    x = mc.tensor(np.ones((1, 1, 3, 3), np.float32))
    w = mc.tensor(np.ones((1, 1, 2, 2), np.float32))
    y = F.conv2d(x, w)
    assert not y.requires_grad and y.array.tolist() == [[[[4.0, 4.0], [4.0, 4.0]]]]


def test_gradient_flows_through_a_stack_of_convolutions():
    rng = np.random.default_rng(0)
    x = mc.tensor(rng.standard_normal((1, 2, 6, 6)), requires_grad=True)
    w1 = mc.tensor(rng.standard_normal((3, 2, 3, 3)), requires_grad=True)
    w2 = mc.tensor(rng.standard_normal((2, 3, 1, 1)), requires_grad=True)
    assert_gradcheck(lambda x, w1, w2: F.conv2d(F.conv2d(x, w1, padding="same").tanh(), w2, stride=2),
                     [x, w1, w2])


@pytest.mark.parametrize("algorithm", ["direct", "im2col"])
def test_empty_batch_strided_and_read_only_inputs(algorithm):
    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    x = mc.tensor(np.zeros((0, 3, 5, 5), np.float32), requires_grad=True)
    y = F.conv2d(x, w, algorithm=algorithm)
    y.sum().backward()
    assert y.shape == (0, 4, 3, 3) and x.grad.shape == (0, 3, 5, 5)
    strided = rng.standard_normal((5, 5, 3, 2)).astype(np.float32).transpose(3, 2, 0, 1)
    read_only = np.ascontiguousarray(strided)
    read_only.flags.writeable = False
    expected = reference_forward(strided.astype(np.float64), w.astype(np.float64), (1, 1), [(0, 0)] * 2, (1, 1), 1)
    for x in (strided, read_only):
        np.testing.assert_allclose(F.conv2d(x, w, algorithm=algorithm).array, expected, rtol=1e-4, atol=1e-4)
