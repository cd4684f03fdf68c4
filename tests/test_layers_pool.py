"""Pooling and unpooling: forward against loops written from the definitions, gradient checks,
PyTorch's shape rules, ties, NaN and infinities, the switches of max-unpooling, and bad input."""
import contextlib
import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minicnn
from minicnn import functional as F
from minicnn import nn
from minicnn.kernels import pool as pool_kernels
from minicnn.testing import assert_gradcheck, pool_configs

MAX_POOL = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
AVG_POOL = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}
ADAPTIVE_AVG = {1: F.adaptive_avg_pool1d, 2: F.adaptive_avg_pool2d, 3: F.adaptive_avg_pool3d}
ADAPTIVE_MAX = {1: F.adaptive_max_pool1d, 2: F.adaptive_max_pool2d, 3: F.adaptive_max_pool3d}


# ---- independent references ----------------------------------------------------------------
def out_size(L, k, s, p, d, ceil_mode):
    """PyTorch's pooling output size, written out again for the test."""
    exact = (L + 2 * p - d * (k - 1) - 1) / s
    n = (math.ceil(exact) if ceil_mode else math.floor(exact)) + 1
    if ceil_mode and (n - 1) * s >= L + p:
        n -= 1
    return n


def window_positions(i, k, s, p, d):
    return [i * s - p + j * d for j in range(k)]


def reference_max_pool(x, kernel, stride, padding, dilation, ceil_mode):
    """PyTorch's CPU loop, over the leading axes at once: each window starts at -inf found at its
    first position inside the input, then scans its positions in order and takes a value greater
    than the best so far, or NaN. So the first of tied maxima wins, and the last NaN. A dilated
    window can fall entirely in the padding: -inf at index -1. Returns the values and the flat
    in-plane indices."""
    nd = len(kernel)
    spatial = x.shape[-nd:]
    outs = tuple(out_size(*a, ceil_mode) for a in zip(spatial, kernel, stride, padding, dilation))
    values = np.full(x.shape[:-nd] + outs, -np.inf)
    index = np.full(x.shape[:-nd] + outs, -1, np.int64)
    for pos in itertools.product(*map(range, outs)):
        axes = [[q for q in window_positions(i, *a) if 0 <= q < L]
                for i, a, L in zip(pos, zip(kernel, stride, padding, dilation), spatial)]
        cells = list(itertools.product(*axes))
        if cells:
            index[(...,) + pos] = np.ravel_multi_index(cells[0], spatial)
        for cell in cells:
            v = x[(...,) + cell]
            take = (v > values[(...,) + pos]) | np.isnan(v)
            values[(...,) + pos] = np.where(take, v, values[(...,) + pos])
            index[(...,) + pos] = np.where(take, np.ravel_multi_index(cell, spatial), index[(...,) + pos])
    return values, index


def reference_max_pool_backward(grad, index, shape, nd):
    """Each output's gradient added at its recorded index (none for index -1)."""
    planes = math.prod(shape[:-nd])
    grad, index = grad.reshape(planes, -1), index.reshape(planes, -1)
    out = np.zeros((planes, math.prod(shape[-nd:])))
    inside = index >= 0
    np.add.at(out, (np.nonzero(inside)[0], index[inside]), grad[inside])
    return out.reshape(shape)


def avg_windows(spatial, kernel, stride, padding, ceil_mode, count_include_pad, divisor):
    """For every output position of average pooling: (position, the window's input cells, the
    divisor: divisor_override, or the window's size in the padded input or in the input)."""
    outs = [out_size(*a, 1, ceil_mode) for a in zip(spatial, kernel, stride, padding)]
    for pos in itertools.product(*map(range, outs)):
        padded_count, axes = 1, []
        for i, k, s, p, L in zip(pos, kernel, stride, padding, spatial):
            window = window_positions(i, k, s, p, 1)
            padded_count *= sum(-p <= q < L + p for q in window)
            axes.append([q for q in window if 0 <= q < L])
        cells = list(itertools.product(*axes))
        if divisor is None:
            yield pos, cells, padded_count if count_include_pad else len(cells)
        else:
            yield pos, cells, divisor


def reference_avg_pool(x, kernel, stride, padding, ceil_mode, count_include_pad, divisor):
    nd = len(kernel)
    spatial = x.shape[-nd:]
    outs = [out_size(*a, 1, ceil_mode) for a in zip(spatial, kernel, stride, padding)]
    out = np.empty(x.shape[:-nd] + tuple(outs))
    for pos, cells, divisor_here in avg_windows(spatial, kernel, stride, padding, ceil_mode, count_include_pad,
                                                divisor):
        out[(...,) + pos] = sum(x[(...,) + c] for c in cells) / divisor_here
    return out


def reference_avg_pool_backward(grad, shape, kernel, stride, padding, ceil_mode, count_include_pad, divisor):
    """Each output's gradient / divisor added to every input cell of its window."""
    out = np.zeros(shape)
    for pos, cells, divisor_here in avg_windows(shape[-len(kernel):], kernel, stride, padding, ceil_mode,
                                                count_include_pad, divisor):
        for c in cells:
            out[(...,) + c] += grad[(...,) + pos] / divisor_here
    return out


def reference_adaptive(x, outs, reduce):
    nd = len(outs)
    spatial = x.shape[-nd:]
    out = np.empty(x.shape[:-nd] + tuple(outs))
    for pos in itertools.product(*map(range, outs)):
        region = tuple(slice(i * L // o, -(-(i + 1) * L // o)) for i, L, o in zip(pos, spatial, outs))
        block = x[(...,) + region].reshape(x.shape[:-nd] + (-1,))
        out[(...,) + pos] = reduce(block, axis=-1)
    return out


def distinct_values(shape, seed):
    """Values at least 0.1 apart, so no window has a tie and finite differences stay smooth."""
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    return (rng.permutation(n) * 0.1 + rng.uniform(0, 0.01, n)).reshape(shape) - 0.05 * n


# ---- max pooling ---------------------------------------------------------------------------
@settings(max_examples=25)
@given(nd=st.sampled_from([1, 2, 3]), data=st.data(), seed=st.integers(0, 2**16))
def test_max_pool_matches_reference_and_gradcheck(nd, data, seed):
    config = data.draw(pool_configs(nd, max_side=5 if nd < 3 else 3, max_dilation=2))
    x = distinct_values(config["shape"], seed)
    args = (config["kernel_size"], config["stride"], config["padding"], config["dilation"],
            config["ceil_mode"])
    out, index = MAX_POOL[nd](minicnn.tensor(x), *args, return_indices=True)
    expected, expected_index = reference_max_pool(x, *args)
    np.testing.assert_allclose(out.array, expected, rtol=0, atol=0)
    np.testing.assert_array_equal(index.array, expected_index)
    if np.isfinite(expected).all():  # finite differences of -inf outputs are meaningless
        t = minicnn.tensor(x, requires_grad=True)
        assert_gradcheck(lambda a: MAX_POOL[nd](a, *args), [t])


def test_max_pool2d_hand_example():
    x = np.array([[1., 2., 5., 0.],
                  [3., 4., 1., 1.],
                  [0., 0., 2., 9.],
                  [7., 0., 3., 1.]])[None, None]
    out, index = F.max_pool2d(minicnn.tensor(x), 2, return_indices=True)
    np.testing.assert_array_equal(out.array[0, 0], [[4., 5.], [7., 9.]])
    np.testing.assert_array_equal(index.array[0, 0], [[5, 2], [12, 11]])  # h * W + w


def test_overlapping_pooling_alexnet_sizes():
    x = minicnn.tensor(np.zeros((1, 96, 55, 55), np.float32))
    assert nn.MaxPool2d(3, 2)(x).shape == (1, 96, 27, 27)
    assert nn.MaxPool2d(3, 2)(minicnn.tensor(np.zeros((1, 256, 27, 27), np.float32))).shape == \
        (1, 256, 13, 13)


def test_ceil_mode_drops_a_window_starting_in_the_right_padding():
    # L=3, k=2, s=2, p=1: ceil((3+2-1-1)/2)+1 = 3, but window 2 would start at 3 = L, inside the
    # right padding, so PyTorch keeps 2 windows.
    assert minicnn.kernels.output_length(3, 2, 2, 1, 1, 1, ceil_mode=True) == 2
    x = minicnn.tensor(np.arange(3.0)[None, None])
    np.testing.assert_array_equal(F.max_pool1d(x, 2, 2, 1, ceil_mode=True).array[0, 0], [0., 2.])
    # ceil_mode adds a partial window when it starts inside the input: L=5, k=2, s=2
    y = F.max_pool1d(minicnn.tensor(np.arange(5.0)[None, None]), 2, ceil_mode=True)
    np.testing.assert_array_equal(y.array[0, 0], [1., 3., 4.])


def test_max_pool_tie_routes_gradient_to_one_element():
    x = minicnn.tensor(np.ones((1, 1, 4, 4)), requires_grad=True)
    out = F.max_pool2d(x, 2)
    out.sum().backward()
    grad = x.grad.array[0, 0]
    # each 2x2 window sends its 1 to its first element only
    np.testing.assert_array_equal(grad, [[1, 0, 1, 0], [0, 0, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]])
    # overlapping windows with a tie: still one element per window
    x = minicnn.tensor(np.ones((1, 1, 1, 5)), requires_grad=True)
    F.max_pool2d(x, (1, 3), (1, 1)).sum().backward()
    np.testing.assert_array_equal(x.grad.array.ravel(), [1, 1, 1, 0, 0])


def test_max_pool_propagates_nan():
    x = np.array([[[1.0, np.nan, 0.5, 2.0]]])
    out = F.max_pool1d(minicnn.tensor(x), 2)
    assert np.isnan(out.array[0, 0, 0]) and out.array[0, 0, 1] == 2.0


def test_max_pool_unbatched_and_float32():
    x = np.random.default_rng(0).standard_normal((3, 6, 6)).astype(np.float32)
    out = F.max_pool2d(minicnn.tensor(x), 2)
    assert out.dtype == np.float32 and out.shape == (3, 3, 3)
    np.testing.assert_array_equal(out.array, x.reshape(3, 3, 2, 3, 2).max(axis=(2, 4)))


# ---- average pooling -----------------------------------------------------------------------
@settings(max_examples=25)
@given(nd=st.sampled_from([1, 2, 3]), data=st.data(), seed=st.integers(0, 2**16),
       count_include_pad=st.booleans(), divisor=st.sampled_from([None, None, 2, 5]))
def test_avg_pool_matches_reference_and_gradcheck(nd, data, seed, count_include_pad, divisor):
    config = data.draw(pool_configs(nd, max_side=5 if nd < 3 else 3))
    x = np.random.default_rng(seed).standard_normal(config["shape"])
    args = (config["kernel_size"], config["stride"], config["padding"], config["ceil_mode"],
            count_include_pad, divisor)
    out = AVG_POOL[nd](minicnn.tensor(x), *args)
    np.testing.assert_allclose(out.array, reference_avg_pool(x, *args), rtol=1e-12, atol=1e-12)
    assert_gradcheck(lambda a: AVG_POOL[nd](a, *args), [minicnn.tensor(x, requires_grad=True)])


def test_avg_pool2d_hand_example_padding_divisors():
    x = minicnn.tensor(np.arange(1.0, 5.0).reshape(1, 1, 2, 2))  # [[1, 2], [3, 4]]
    # 3x3 window, padding 1, stride 2: one window covering the whole input (sum 10)
    assert F.avg_pool2d(x, 3, 2, 1).array.item() == pytest.approx(10 / 9)
    assert F.avg_pool2d(x, 3, 2, 1, count_include_pad=False).array.item() == pytest.approx(10 / 4)
    assert F.avg_pool2d(x, 3, 2, 1, divisor_override=2).array.item() == pytest.approx(5.0)


def test_avg_pool_ceil_mode_window_past_padding_counts_only_to_the_padding():
    # L=4, k=3, s=2, p=1, ceil_mode: windows start at -1, 1, 3; the last covers 3, 4(pad), 5
    # (beyond the padded input): PyTorch divides by 2 (positions 3 and 4), not 3.
    x = minicnn.tensor(np.array([[[1.0, 2.0, 3.0, 4.0]]]))
    out = F.avg_pool1d(x, 3, 2, 1, ceil_mode=True)
    np.testing.assert_allclose(out.array[0, 0], [3 / 3, 9 / 3, 4 / 2])


# ---- ties, NaN and infinities, float32, many planes, both kernel builds ----------------------
SPECIAL_VALUES = np.array([-np.inf, -1.0, 0.0, 1.0, np.inf, np.nan])


def special_values(shape, seed):
    """Few distinct values, so that most windows hold ties, with infinities and NaN among them
    (windows of -inf only, NaN beside +inf)."""
    return np.random.default_rng(seed).choice(SPECIAL_VALUES, size=shape, p=[.15, .25, .2, .25, .1, .05])


@contextlib.contextmanager
def pool_kernel_build(build):
    """Run the pooling kernels' "serial" or "parallel" build whatever the array size."""
    kernels = [pool_kernels.max_pool_forward, pool_kernels.scatter_add_planes, pool_kernels.avg_pool_forward,
               pool_kernels.avg_pool_backward]
    saved = [k.parallel_from for k in kernels]
    for k in kernels:
        k.parallel_from = 0 if build == "parallel" else 1 << 62
    try:
        yield
    finally:
        for k, parallel_from in zip(kernels, saved):
            k.parallel_from = parallel_from


# (N, C): one plane, a few, or more than the kernels' tasks (pool_kernels.PLANE_TASKS), which
# then share planes
PLANES = st.sampled_from([(1, 1), (2, 3), (3, 25)])


@settings(max_examples=30)
@given(nd=st.sampled_from([1, 2, 3]), data=st.data(), seed=st.integers(0, 2**16),
       dtype=st.sampled_from([np.float32, np.float64]), build=st.sampled_from(["serial", "parallel"]))
def test_max_pool_ties_nan_infinities_forward_and_backward(nd, data, seed, dtype, build):
    config = data.draw(pool_configs(nd, max_side=6 if nd < 3 else 3, max_dilation=2))
    x = special_values(data.draw(PLANES) + config["shape"][2:], seed).astype(dtype)
    args = (config["kernel_size"], config["stride"], config["padding"], config["dilation"], config["ceil_mode"])
    expected, expected_index = reference_max_pool(x.astype(np.float64), *args)
    grad = np.random.default_rng(seed).standard_normal(expected.shape).astype(dtype)
    t = minicnn.tensor(x, requires_grad=True)
    with pool_kernel_build(build):
        out, index = MAX_POOL[nd](t, *args, return_indices=True)
        out.backward(minicnn.tensor(grad))
    assert out.dtype == dtype and t.grad.dtype == dtype
    np.testing.assert_array_equal(out.array, expected.astype(dtype))  # NaN where expected NaN
    np.testing.assert_array_equal(index.array, expected_index)
    np.testing.assert_allclose(t.grad.array, reference_max_pool_backward(grad, expected_index, x.shape, nd),
                               rtol=1e-6, atol=1e-6)


@settings(max_examples=30)
@given(nd=st.sampled_from([1, 2, 3]), data=st.data(), seed=st.integers(0, 2**16),
       dtype=st.sampled_from([np.float32, np.float64]), build=st.sampled_from(["serial", "parallel"]),
       count_include_pad=st.booleans(), divisor=st.sampled_from([None, None, 3]))
def test_avg_pool_infinities_forward_and_backward(nd, data, seed, dtype, build, count_include_pad, divisor):
    config = data.draw(pool_configs(nd, max_side=6 if nd < 3 else 3))
    shape, rng = data.draw(PLANES) + config["shape"][2:], np.random.default_rng(seed)
    x = np.where(rng.random(shape) < 0.05, special_values(shape, seed), rng.standard_normal(shape)).astype(dtype)
    args = (config["kernel_size"], config["stride"], config["padding"], config["ceil_mode"], count_include_pad,
            divisor)
    expected = reference_avg_pool(x.astype(np.float64), *args)
    grad = rng.standard_normal(expected.shape).astype(dtype)
    t = minicnn.tensor(x, requires_grad=True)
    with pool_kernel_build(build):
        out = AVG_POOL[nd](t, *args)
        out.backward(minicnn.tensor(grad))
    tolerance = dict(rtol=1e-6, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    assert out.dtype == dtype and t.grad.dtype == dtype
    np.testing.assert_allclose(out.array, expected, **tolerance)  # NaN where expected NaN
    np.testing.assert_allclose(t.grad.array, reference_avg_pool_backward(grad.astype(np.float64), x.shape, *args),
                               **tolerance)


# ---- adaptive and global pooling -----------------------------------------------------------
@settings(max_examples=20)
@given(nd=st.sampled_from([1, 2, 3]), data=st.data(), seed=st.integers(0, 2**16))
def test_adaptive_pools_match_reference_and_gradcheck(nd, data, seed):
    spatial = data.draw(st.tuples(*[st.integers(1, 6 if nd < 3 else 4)] * nd))
    outs = tuple(data.draw(st.integers(1, L + 1)) for L in spatial)  # may exceed the input
    shape = (2, 2) + spatial
    x = distinct_values(shape, seed)
    avg = ADAPTIVE_AVG[nd](minicnn.tensor(x), outs)
    np.testing.assert_allclose(avg.array, reference_adaptive(x, outs, np.mean), rtol=1e-12)
    top = ADAPTIVE_MAX[nd](minicnn.tensor(x), outs)
    np.testing.assert_array_equal(top.array, reference_adaptive(x, outs, np.max))
    t = minicnn.tensor(x, requires_grad=True)
    assert_gradcheck(lambda a: (ADAPTIVE_AVG[nd](a, outs), ADAPTIVE_MAX[nd](a, outs)), [t])


def test_global_average_pooling():
    x = np.random.default_rng(1).standard_normal((2, 3, 4, 5))
    expected = x.mean(axis=(2, 3))
    np.testing.assert_allclose(F.global_avg_pool2d(minicnn.tensor(x)).array, expected)
    np.testing.assert_allclose(nn.GlobalAvgPool2d()(minicnn.tensor(x)).array, expected)
    np.testing.assert_allclose(nn.AdaptiveAvgPool2d(1)(minicnn.tensor(x)).array[..., 0, 0], expected)
    np.testing.assert_allclose(nn.AdaptiveAvgPool2d((None, 1))(minicnn.tensor(x)).array[..., 0],
                               x.mean(axis=3))


# ---- max-unpooling -------------------------------------------------------------------------
def test_unpool_puts_each_value_at_its_argmax():
    x = distinct_values((2, 3, 6, 6), 7)
    pooled, index = F.max_pool2d(minicnn.tensor(x), 2, return_indices=True)
    restored = F.max_unpool2d(pooled, index, 2).array
    for n, c, i, j in itertools.product(range(2), range(3), range(3), range(3)):
        window = x[n, c, 2 * i:2 * i + 2, 2 * j:2 * j + 2]
        a, b = np.unravel_index(window.argmax(), (2, 2))
        assert restored[n, c, 2 * i + a, 2 * j + b] == window.max()
    assert np.count_nonzero(restored) == pooled.numel()  # everything else is zero


@settings(max_examples=20)
@given(data=st.data(), seed=st.integers(0, 2**16))
def test_pool_unpool_pool_is_stable(data, seed):
    """For non-negative input (post-ReLU, as in the deconvnet) pooling the unpooled map gives
    back the same maxima at the same switches: the zeros unpooling adds never win."""
    config = data.draw(pool_configs(2, max_side=6))
    x = np.abs(distinct_values(config["shape"], seed)) + 1.0
    args = (config["kernel_size"], config["stride"], config["padding"])
    pooled, index = F.max_pool2d(minicnn.tensor(x), *args, ceil_mode=config["ceil_mode"],
                                 return_indices=True)
    restored = F.max_unpool2d(pooled, index, *args, output_size=x.shape[-2:])
    again, again_index = F.max_pool2d(restored, *args, ceil_mode=config["ceil_mode"],
                                      return_indices=True)
    np.testing.assert_array_equal(again.array, pooled.array)
    np.testing.assert_array_equal(again_index.array, index.array)


@settings(max_examples=15)
@given(data=st.data(), seed=st.integers(0, 2**16))
def test_unpool_gradcheck(data, seed):
    config = data.draw(pool_configs(2, max_side=5))
    x = distinct_values(config["shape"], seed)
    args = (config["kernel_size"], config["stride"], config["padding"])
    _, index = F.max_pool2d(minicnn.tensor(x), *args, ceil_mode=config["ceil_mode"],
                            return_indices=True)
    values = np.random.default_rng(seed).standard_normal(index.shape)
    t = minicnn.tensor(values, requires_grad=True)
    assert_gradcheck(lambda v: F.max_unpool2d(v, index, *args, output_size=x.shape[-2:]), [t])


def test_unpool_modules_and_1d_3d():
    x = distinct_values((1, 2, 4, 4, 4), 3)
    pooled, index = nn.MaxPool3d(2, return_indices=True)(minicnn.tensor(x))
    restored = nn.MaxUnpool3d(2)(pooled, index)
    assert restored.shape == x.shape
    np.testing.assert_array_equal(np.sort(restored.array[restored.array != 0]),
                                  np.sort(pooled.array.ravel()))
    y = distinct_values((1, 1, 5), 4)
    pooled, index = F.max_pool1d(minicnn.tensor(y), 2, return_indices=True)
    np.testing.assert_array_equal(F.max_unpool1d(pooled, index, 2, output_size=(5,)).array.ravel()[
        index.array.ravel()], pooled.array.ravel())


# ---- bad input -----------------------------------------------------------------------------
@pytest.mark.parametrize("call, message", [
    (lambda x: F.max_pool2d(x, 3, padding=2), "padding .* at most half the kernel"),
    (lambda x: F.avg_pool2d(x, 2, padding=(0, 2)), "at most half the kernel"),
    (lambda x: F.max_pool2d(x, 7), "max_pool2d: kernel of size 7 .* larger than the padded input along H"),
    (lambda x: F.max_pool2d(x, 3, dilation=3), "larger than the padded input"),
    (lambda x: F.avg_pool2d(x, 2, stride=0), "avg_pool2d: stride must be positive, got 0"),
    (lambda x: F.max_pool2d(x, (2, 2, 2)), "tuple of 2 ints"),
    (lambda x: F.max_pool2d(x[0, 0], 2), "max_pool2d: input must be 4-D .* or 3-D unbatched"),
    (lambda x: F.avg_pool2d(x, 2, divisor_override=0), "divisor_override"),
    (lambda x: F.adaptive_avg_pool2d(x, 0), "adaptive_avg_pool2d: output_size must be positive"),
    (lambda x: F.max_unpool2d(x, np.full(x.shape, 100), 2), "max_unpool2d: indices .* outside"),
    (lambda x: F.max_unpool2d(x, np.zeros((1, 1), np.int64), 2), "indices have shape"),
    (lambda x: F.max_unpool2d(x, np.zeros(x.shape), 2), "max_unpool2d: indices must be integers"),
    (lambda x: F.max_pool2d(x, True), "max_pool2d: kernel_size must be an int or a tuple of 2 ints, got True"),
])
def test_bad_input_names_the_op(call, message):
    x = minicnn.tensor(np.zeros((1, 2, 5, 5)))
    with pytest.raises((ValueError, TypeError), match=message):
        call(x)


def test_integer_input_is_a_type_error():
    with pytest.raises(TypeError, match="max_pool2d: input must be float32 or float64, got int64"):
        F.max_pool2d(minicnn.tensor(np.zeros((1, 1, 4, 4), np.int64)), 2)
