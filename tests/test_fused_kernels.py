"""ReLU and batch norm run in fused Numba passes (kernels/pointwise.py, kernels/batch_norm.py):
float32 results against float64 loops of the definitions, on strided and empty inputs.

The gradients' float64 correctness is gradchecked in test_ops.py and test_layers_norm.py; these
tests cover what those do not: float32 kernels, non-contiguous arrays, empty axes.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minicnn as mc
import minicnn.functional as F
from minicnn.kernels import pointwise


def leaf(array):
    return mc.tensor(array, requires_grad=True)


# ---- ReLU ------------------------------------------------------------------------------------------
@settings(max_examples=20, deadline=None)
@given(shape=st.tuples(st.integers(0, 4), st.integers(0, 5), st.integers(1, 6)),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2 ** 16))
def test_relu_float32_and_strided_match_the_definition(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    x[..., 0] = 0.0  # the kink: output 0, gradient 0
    x = x.transpose(2, 0, 1)  # a strided view
    g = rng.standard_normal(x.shape[::-1]).astype(dtype).T  # strided too
    t = leaf(x)
    y = F.relu(t)
    y.backward(g)
    expected = np.array([v if v > 0 else 0 for v in x.ravel()], dtype).reshape(x.shape)
    np.testing.assert_array_equal(y.array, expected)
    np.testing.assert_array_equal(t.grad.array, np.where(x > 0, g, 0))
    assert y.dtype == dtype and t.grad.dtype == dtype


def test_relu_large_arrays_take_the_parallel_kernel_and_match(monkeypatch):
    for kernel in (pointwise.relu_forward, pointwise.relu_backward):
        monkeypatch.setattr(kernel, "parallel_from", 1 << 15)  # these 50,000 values run in parallel
    rng = np.random.default_rng(0)
    x = rng.standard_normal((50, 1000)).astype(np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)
    t = leaf(x)
    y = F.relu(t)
    y.backward(g)
    np.testing.assert_array_equal(y.array, np.maximum(x, 0))
    np.testing.assert_array_equal(t.grad.array, np.where(x > 0, g, 0))


def test_relu_gradient_at_nan_input_passes_and_nan_gradient_is_cut_where_the_output_is_0():
    t = leaf(np.array([np.nan, -1.0, 2.0], np.float32))
    F.relu(t).backward(np.array([5.0, np.nan, 3.0], np.float32))
    np.testing.assert_array_equal(t.grad.array, [5.0, 0.0, 3.0])  # PyTorch: x <= 0 ? 0 : g


def test_relu_output_changed_in_place_before_backward_is_refused():
    # backward reads the output (as PyTorch's does), so changing it must fail loudly
    t = leaf(np.array([1.0, -1.0]))
    y = F.relu(t)
    with mc.no_grad():
        y.data.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


# ---- batch norm ------------------------------------------------------------------------------------
def bn_train_reference(x, weight, bias, g, eps=1e-5):
    """Forward and dL/dx, dL/dweight, dL/dbias by the formulas, in float64 loops over channels."""
    x, g = x.astype(np.float64), g.astype(np.float64)
    y, dx = np.empty_like(x), np.empty_like(x)
    dw, db = np.empty(x.shape[1]), np.empty(x.shape[1])
    for c in range(x.shape[1]):
        xc, gc = x[:, c], g[:, c]
        mu = xc.sum() / xc.size
        var = ((xc - mu) ** 2).sum() / xc.size
        x_hat = (xc - mu) / np.sqrt(var + eps)
        y[:, c] = x_hat * weight[c] + bias[c]
        dw[c], db[c] = (gc * x_hat).sum(), gc.sum()
        dx[:, c] = weight[c] / np.sqrt(var + eps) * (gc - gc.mean() - x_hat * (gc * x_hat).mean())
    return y, dx, dw, db


@settings(max_examples=20, deadline=None)
@given(shape=st.tuples(st.integers(1, 4), st.integers(1, 5), st.integers(1, 4), st.integers(1, 4)),
       seed=st.integers(0, 2 ** 16))
def test_batch_norm_float32_strided_matches_float64_definition(shape, seed):
    rng = np.random.default_rng(seed)
    if np.prod(shape) // shape[1] < 2:
        shape = (shape[0] + 1,) + shape[1:]
    x = (rng.standard_normal(shape[::-1]) * 3 + 2).astype(np.float32).T  # strided, channels on axis 1
    g = rng.standard_normal(x.shape).astype(np.float32)
    weight, bias = rng.standard_normal(x.shape[1]), rng.standard_normal(x.shape[1])
    t, w, b = leaf(x), leaf(weight.astype(np.float32)), leaf(bias.astype(np.float32))
    y = F.batch_norm(t, None, None, w, b, training=True)
    y.backward(g)
    ry, rdx, rdw, rdb = bn_train_reference(x, weight.astype(np.float32), bias.astype(np.float32), g)
    for got, want in ((y, ry), (t.grad, rdx), (w.grad, rdw), (b.grad, rdb)):
        assert got.dtype == np.float32
        np.testing.assert_allclose(got.array, want, rtol=1e-4, atol=1e-4 * max(1.0, np.abs(want).max()))


def test_batch_norm_eval_on_an_empty_batch():
    x = leaf(np.zeros((0, 3, 2, 2), np.float32))
    y = F.batch_norm(x, np.zeros(3), np.ones(3))
    y.backward(np.zeros(y.shape, np.float32))
    assert y.shape == x.grad.shape == (0, 3, 2, 2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op, from_output", [(mc.tanh, lambda y, g: g * (1 - y * y)),
                                             (mc.sigmoid, lambda y, g: g * y * (1 - y))])
def test_tanh_and_sigmoid_backward_are_numpys_formula_to_the_bit(op, from_output, dtype):
    """The fused pass computes in the array's dtype, as NumPy does (a float64 literal would
    round differently in float32); NaN propagates."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 5, 7)).astype(dtype)
    x[0, 0, 0] = np.nan
    g = rng.standard_normal(x.shape).astype(dtype)
    t = leaf(x)
    y = op(t)
    y.backward(g)
    np.testing.assert_array_equal(t.grad.array, from_output(y.array, g))
    assert t.grad.dtype == dtype and np.isnan(t.grad.array[0, 0, 0])
