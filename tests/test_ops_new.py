"""The activations gelu, silu, hardswish, relu6, softplus; clamp with tensor bounds; NaN through the
activations; one_hot; normalize. Forward against float64 formulas written here, gradients against
finite differences, bad arguments against the messages."""
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minicnn as mc
import minicnn.functional as F
from minicnn import nn
from minicnn.testing import arrays, assert_gradcheck, shapes


def leaf(a):
    return mc.tensor(np.asarray(a, dtype=np.float64), requires_grad=True)


def away_from(x, kinks, gap=1e-3):
    """x with the values within `gap` of a kink moved off it (finite differences need smoothness)."""
    for k in kinks:
        x = np.where(np.abs(x - k) < gap, k + 10 * gap, x)
    return x


# ---- activations: definitions in float64 ---------------------------------------------------------
def gelu_exact(x):
    return np.array([0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x.ravel()]).reshape(x.shape)


def gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


ACTIVATIONS = {  # name: (op, float64 definition, kinks)
    "gelu": (F.gelu, gelu_exact, ()),
    "gelu_tanh": (lambda t: F.gelu(t, approximate="tanh"), gelu_tanh, ()),
    "silu": (F.silu, lambda x: x / (1 + np.exp(-x)), ()),
    "hardswish": (F.hardswish, lambda x: x * np.minimum(np.maximum(x + 3, 0), 6) / 6, (-3, 3)),
    "relu6": (F.relu6, lambda x: np.minimum(np.maximum(x, 0), 6), (0, 6)),
    "softplus": (F.softplus, lambda x: np.log1p(np.exp(x)), ()),
    "softplus_beta": (lambda t: F.softplus(t, beta=2.0, threshold=3.0),
                      lambda x: np.where(2 * x > 3, x, np.log1p(np.exp(2 * x)) / 2), (1.5,)),
}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@settings(max_examples=25)
@given(x=arrays(shapes(min_dims=0, max_dims=3), low=-8.0, high=8.0))
def test_activation_forward_and_gradient(name, x):
    op, definition, kinks = ACTIVATIONS[name]
    x = away_from(x, kinks)
    np.testing.assert_allclose(op(leaf(x)).array, definition(x), rtol=1e-12, atol=1e-12)
    assert_gradcheck(op, [leaf(x)])


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_float32_and_empty(name):
    op, definition, _ = ACTIVATIONS[name]
    x = np.linspace(-7, 7, 11, dtype=np.float32)
    out = op(mc.tensor(x))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.array, definition(x.astype(np.float64)), rtol=1e-5, atol=1e-6)
    assert op(mc.tensor(np.zeros((0, 3)))).shape == (0, 3)


def test_softplus_is_linear_above_the_threshold_and_never_overflows():
    x = mc.tensor(np.array([1000.0, -1000.0, 25.0]), requires_grad=True)
    y = F.softplus(x)
    np.testing.assert_array_equal(y.array, [1000.0, 0.0, 25.0])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.array, [1.0, 0.0, 1.0])


def test_gradients_at_the_kinks_follow_pytorch():
    """relu6 is hardtanh(0, 6): gradient 0 at both ends; hardswish: x/3 + 1/2 on [-3, 3] inclusive."""
    x = leaf([0.0, 6.0])
    F.relu6(x).sum().backward()
    np.testing.assert_array_equal(x.grad.array, [0.0, 0.0])
    x = leaf([-3.0, 3.0])
    F.hardswish(x).sum().backward()
    np.testing.assert_array_equal(x.grad.array, [-0.5, 1.5])


def test_activation_modules_call_their_functions():
    rng = np.random.default_rng(0)
    x = mc.tensor(rng.standard_normal((2, 3, 4)) * 4)
    pairs = [(nn.GELU(), F.gelu(x)), (nn.GELU("tanh"), F.gelu(x, "tanh")), (nn.SiLU(), F.silu(x)),
             (nn.Hardswish(), F.hardswish(x)), (nn.ReLU6(), F.relu6(x)),
             (nn.Softplus(0.5, 2.0), F.softplus(x, 0.5, 2.0)), (nn.Softmax(dim=1), F.softmax(x, 1)),
             (nn.LogSoftmax(dim=-1), F.log_softmax(x, -1))]
    for module, expected in pairs:
        np.testing.assert_array_equal(module(x).array, expected.array)


@pytest.mark.parametrize("ndim, dim", [(1, 0), (2, 1), (3, 0), (4, 1)])
def test_softmax_without_dim_follows_pytorch_with_a_warning(ndim, dim):
    x = np.random.default_rng(0).standard_normal((2,) * ndim)
    with pytest.warns(UserWarning, match="implicit dimension"):
        out = nn.Softmax()(mc.tensor(x)).array
    expected = np.exp(x) / np.exp(x).sum(axis=dim, keepdims=True)
    np.testing.assert_allclose(out, expected, rtol=1e-12)


@pytest.mark.parametrize("call, error, match", [
    (lambda x: F.gelu(x, approximate="fast"), ValueError, "gelu: approximate must be 'none' or 'tanh'"),
    (lambda x: F.softplus(x, beta=0), ValueError, "softplus: beta must be non-zero"),
    (lambda x: F.softplus(x, beta="2"), TypeError, "softplus: beta must be a number"),
    (lambda x: F.leaky_relu(x, None), TypeError, "leaky_relu: negative_slope must be a number"),
    (lambda x: F.elu(x, alpha=[1.0]), TypeError, "elu: alpha must be a number"),
    (lambda x: nn.GELU("erf"), ValueError, "GELU: approximate"),
])
def test_activation_bad_arguments(call, error, match):
    with pytest.raises(error, match=match):
        call(leaf([1.0, 2.0]))


# ---- NaN (issue 10, item 5) ------------------------------------------------------------------------
def test_relu_lets_nan_through():
    np.testing.assert_array_equal(F.relu(mc.tensor([np.nan, 1.0])).array, [np.nan, 1.0])


# The gradient at NaN of each op, from PyTorch's backward formulas: the branch taken when every
# comparison with NaN is false (relu: threshold_backward `x <= 0 ? 0 : g`; elu: `x <= 0 ? ... : g`;
# abs: g * sign(x) with sign = (0 < x) - (x < 0); leaky_relu: `x > 0 ? g : g * slope`;
# hardsigmoid: `-3 < x < 3 ? g / 6 : 0`; relu6 as hardtanh: `x <= 0 || x >= 6 ? 0 : g`;
# hardswish: `x < -3 ? 0 : x <= 3 ? ... : g`), NaN for the smooth ones.
NAN_GRADIENTS = {
    "relu": (F.relu, 1.0), "elu": (F.elu, 1.0), "abs": (F.abs, 0.0),
    "leaky_relu": (lambda t: F.leaky_relu(t, 0.2), 0.2), "leaky_relu_0": (lambda t: F.leaky_relu(t, 0.0), 0.0),
    "hardsigmoid": (F.hardsigmoid, 0.0),
    "relu6": (F.relu6, 1.0), "hardswish": (F.hardswish, 1.0), "tanh": (F.tanh, np.nan),
    "sigmoid": (F.sigmoid, np.nan), "gelu": (F.gelu, np.nan), "silu": (F.silu, np.nan),
    "softplus": (F.softplus, np.nan),
}


@pytest.mark.parametrize("name", sorted(NAN_GRADIENTS))
def test_nan_passes_through_activations_with_pytorch_gradients(name):
    op, gradient_at_nan = NAN_GRADIENTS[name]
    x = mc.tensor(np.array([np.nan, 1.5]), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        y = op(x)
        y.backward(np.array([1.0, 1.0]))
    assert np.isnan(y.array[0]) and not np.isnan(y.array[1])
    np.testing.assert_array_equal(x.grad.array[0], gradient_at_nan)


# ---- clamp with tensor bounds (issue 10, item 2) -----------------------------------------------------
@st.composite
def clamp_case(draw):
    # input and bounds each broadcast to one shape, so a bound may be larger than the input
    full = draw(shapes(min_dims=0, max_dims=3, max_side=4))

    def part():  # full with some axes set to 1 and some leading axes dropped
        kept = tuple(n if draw(st.booleans()) else 1 for n in full)
        return kept[draw(st.integers(0, len(full))):]

    shape, low_shape, high_shape = part(), part(), part()
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 16)))
    # three grids of step 0.25 offset from each other: no ties (where clamp has kinks), gaps >= 1/16
    x = rng.integers(-8, 8, shape) * 0.25
    low = rng.integers(-8, 8, low_shape) * 0.25 + 0.125
    high = rng.integers(-8, 8, high_shape) * 0.25 + 0.0625
    return x, low, high, draw(st.sampled_from(["both", "min", "max"]))


@settings(max_examples=60)
@given(case=clamp_case())
def test_clamp_with_tensor_bounds_against_the_definition_and_finite_differences(case):
    x, low, high, which = case
    low = None if which == "max" else low
    high = None if which == "min" else high
    expected = x
    if low is not None:
        expected = np.maximum(expected, low)
    if high is not None:
        expected = np.minimum(expected, high)
    out = F.clamp(leaf(x), None if low is None else leaf(low), None if high is None else leaf(high))
    np.testing.assert_array_equal(out.array, expected)
    inputs = [leaf(x)] + [leaf(b) for b in (low, high) if b is not None]
    if which == "both":
        assert_gradcheck(lambda t, lo, hi: F.clamp(t, lo, hi), inputs, eps=1e-3)
    elif which == "min":
        assert_gradcheck(lambda t, lo: F.clamp(t, min=lo), inputs, eps=1e-3)
    else:
        assert_gradcheck(lambda t, hi: F.clamp(t, max=hi), inputs, eps=1e-3)


def test_clamp_bound_broadcasting_past_the_input():
    x = leaf(np.arange(5.0).reshape(5, 1))
    low = leaf(np.arange(5.0) - 0.5)
    y = F.clamp(x, min=low)
    assert y.shape == (5, 5)
    np.testing.assert_array_equal(y.array, np.maximum(x.array, low.array))
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.array[:, 0], [1, 2, 3, 4, 5])  # rows where x >= low
    np.testing.assert_array_equal(low.grad.array, [0, 1, 2, 3, 4])  # columns where x < low


def test_clamp_min_above_max_gives_max_and_its_gradient():
    x, low, high = leaf([0.0, 5.0, 10.0]), leaf([6.0, 6.0, 6.0]), leaf([4.0, 4.0, 4.0])
    y = F.clamp(x, low, high)
    np.testing.assert_array_equal(y.array, [4.0, 4.0, 4.0])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.array, [0, 0, 0])
    np.testing.assert_array_equal(low.grad.array, [0, 0, 0])
    np.testing.assert_array_equal(high.grad.array, [1, 1, 1])
    np.testing.assert_array_equal(F.clamp(leaf([0.0, 9.0]), 6, 4).array, [4.0, 4.0])  # numbers too


def test_clamp_keeps_float32_with_numpy_scalar_bounds_and_rejects_bad_bounds():
    assert F.clamp(mc.tensor(np.ones(3, np.float32)), np.float64(0.5)).dtype == np.float32
    assert leaf([1.0, 2.0]).clamp(max=leaf([1.5, 1.5])).shape == (2,)
    with pytest.raises(ValueError, match=r"clamp: shapes \(3,\) and \(2,\) cannot be broadcast"):
        F.clamp(leaf([1.0, 2.0, 3.0]), min=leaf([0.0, 1.0]))
    with pytest.raises(TypeError, match="clamp: min must be a number or a tensor, got str"):
        F.clamp(leaf([1.0]), min="0")
    with pytest.raises(ValueError, match="clamp: at least one of min and max"):
        F.clamp(leaf([1.0]))


# ---- one_hot -----------------------------------------------------------------------------------------
@given(shape=shapes(min_dims=0, max_dims=3, max_side=3), seed=st.integers(0, 2 ** 16), extra=st.integers(0, 2))
def test_one_hot_against_a_loop(shape, seed, extra):
    indices = np.random.default_rng(seed).integers(0, 5, shape)
    classes = int(indices.max()) + 1 + extra
    out = F.one_hot(mc.tensor(indices), classes)
    expected = np.zeros(indices.shape + (classes,), np.int64)
    for position in np.ndindex(indices.shape):
        expected[position + (indices[position],)] = 1
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out.array, expected)
    assert F.one_hot(indices).shape == indices.shape + (int(indices.max()) + 1,)  # num_classes=-1


@pytest.mark.parametrize("value, classes, error, match", [
    (np.array([0.0, 1.0]), -1, TypeError, "one_hot: class indices must be integers"),
    (np.array([0, -1]), -1, ValueError, "one_hot: class values must be non-negative"),
    (np.array([0, 3]), 3, ValueError, r"one_hot: class value 3 is not smaller than num_classes=3"),
    (np.array([0, 1]), 2.0, ValueError, "one_hot: num_classes must be"),
    (np.zeros(0, np.int64), -1, ValueError, "one_hot: cannot infer num_classes from an empty tensor"),
])
def test_one_hot_errors(value, classes, error, match):
    with pytest.raises(error, match=match):
        F.one_hot(value, classes)


# ---- normalize ---------------------------------------------------------------------------------------
@settings(max_examples=40)
@given(x=arrays(shapes(min_dims=1, max_dims=3)), p=st.sampled_from([1.0, 2.0, 3.0, np.inf]),
       which=st.integers(0, 2))
def test_normalize_against_the_definition(x, p, which):
    dim = which % x.ndim
    norm = np.linalg.norm(np.moveaxis(x, dim, -1), ord=p, axis=-1, keepdims=True)
    expected = x / np.moveaxis(np.maximum(norm, 1e-12), -1, dim)
    np.testing.assert_allclose(F.normalize(leaf(x), p, dim).array, expected, rtol=1e-12, atol=1e-12)
    x = np.where(np.abs(x) < 1e-2, 0.5, x)  # |x|^p and max |x| are smooth away from 0 and from ties
    if p == np.inf:
        x = x + np.arange(x.size).reshape(x.shape) * 1e-2
    assert_gradcheck(lambda t: F.normalize(t, p, dim), [leaf(x)])


def test_normalize_zero_vector_and_eps():
    x = leaf(np.zeros((2, 3)))
    y = F.normalize(x)
    y.sum().backward()
    np.testing.assert_array_equal(y.array, 0)
    np.testing.assert_allclose(x.grad.array, 1e12)  # d(x / eps)/dx: finite, as PyTorch
    np.testing.assert_allclose(F.normalize(leaf([[3.0, 4.0]]), eps=10.0).array, [[0.3, 0.4]])
    np.testing.assert_allclose(F.normalize(leaf([[3.0], [4.0]]), dim=0).array, [[0.6], [0.8]])


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(p=0), ValueError, "normalize: p must be a positive number"),
    (dict(dim=2), ValueError, "normalize: axis 2 is out of range"),
    (dict(eps=-1.0), ValueError, "normalize: eps must be a non-negative number"),
])
def test_normalize_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        F.normalize(leaf(np.ones((2, 3))), **kwargs)
    with pytest.raises(TypeError, match="normalize: input must be float32 or float64, got int64"):
        F.normalize(np.ones((2, 3), np.int64))
