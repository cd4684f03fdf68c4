"""layer_norm / LayerNorm and group_norm / GroupNorm against float64 loops written from the papers'
definitions, and against finite differences."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minicnn as mc
import minicnn.functional as F
from minicnn import nn
from minicnn.testing import assert_gradcheck


def leaf(a):
    return mc.tensor(np.asarray(a, dtype=np.float64), requires_grad=True)


def standardized(values, eps):
    """(v - mean) / sqrt(biased variance + eps) of a flat list of numbers, written out."""
    m = sum(values) / len(values)
    var = sum((v - m) ** 2 for v in values) / len(values)
    return [(v - m) / (var + eps) ** 0.5 for v in values]


def reference_layer_norm(x, k, weight, bias, eps):
    lead, tail = x.shape[:x.ndim - k], x.shape[x.ndim - k:]
    out = np.empty_like(x)
    for index in np.ndindex(lead):
        out[index] = np.array(standardized(list(x[index].ravel()), eps)).reshape(tail)
    return out * (1 if weight is None else weight) + (0 if bias is None else bias)


def reference_group_norm(x, groups, weight, bias, eps):
    n, c = x.shape[:2]
    size = c // groups
    out = np.empty_like(x)
    for i in range(n):
        for g in range(groups):
            block = x[i, g * size:(g + 1) * size]
            out[i, g * size:(g + 1) * size] = np.array(standardized(list(block.ravel()), eps)).reshape(block.shape)
    shape = (1, c) + (1,) * (x.ndim - 2)
    return out * (1 if weight is None else weight.reshape(shape)) + (0 if bias is None else bias.reshape(shape))


@st.composite
def layer_norm_case(draw):
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=4)))
    k = draw(st.integers(1, len(shape)))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 16)))
    affine = draw(st.booleans())
    tail = shape[len(shape) - k:]
    weight, bias = (rng.standard_normal(tail), rng.standard_normal(tail)) if affine else (None, None)
    return rng.standard_normal(shape) * 3 + 1, k, weight, bias, draw(st.sampled_from([1e-5, 0.1]))


@settings(max_examples=40)
@given(case=layer_norm_case())
def test_layer_norm(case):
    x, k, weight, bias, eps = case
    tail = x.shape[x.ndim - k:]
    out = F.layer_norm(leaf(x), tail, weight, bias, eps)
    np.testing.assert_allclose(out.array, reference_layer_norm(x, k, weight, bias, eps), rtol=1e-10, atol=1e-10)
    inputs = [leaf(x)] + ([leaf(weight), leaf(bias)] if weight is not None else [])
    assert_gradcheck(lambda t, *wb: F.layer_norm(t, tail, *wb, eps=eps), inputs)


@st.composite
def group_norm_case(draw):
    groups = draw(st.integers(1, 3))
    c = groups * draw(st.integers(1, 3))
    shape = (draw(st.integers(1, 3)), c) + tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 16)))
    affine = draw(st.booleans())
    weight, bias = (rng.standard_normal(c), rng.standard_normal(c)) if affine else (None, None)
    return rng.standard_normal(shape) * 2 - 1, groups, weight, bias


@settings(max_examples=40)
@given(case=group_norm_case())
def test_group_norm(case):
    x, groups, weight, bias = case
    out = F.group_norm(leaf(x), groups, weight, bias, eps=1e-3)
    np.testing.assert_allclose(out.array, reference_group_norm(x, groups, weight, bias, 1e-3), rtol=1e-10,
                               atol=1e-10)
    inputs = [leaf(x)] + ([leaf(weight), leaf(bias)] if weight is not None else [])
    assert_gradcheck(lambda t, *wb: F.group_norm(t, groups, *wb, eps=1e-3), inputs)


def test_modules_float32_parameters_and_state():
    x = mc.tensor(np.random.default_rng(0).standard_normal((2, 4, 3, 3)).astype(np.float32))
    layer = nn.LayerNorm([3, 3])
    assert layer.weight.shape == (3, 3) and set(layer.state_dict()) == {"weight", "bias"}
    out = layer(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.array, reference_layer_norm(x.array.astype(np.float64), 2, None, None, 1e-5),
                               atol=1e-5)
    assert nn.LayerNorm(3, elementwise_affine=False).state_dict() == {}
    assert nn.LayerNorm(3, bias=False).bias is None
    group = nn.GroupNorm(2, 4)
    assert group.weight.shape == (4,)
    np.testing.assert_allclose(group(x).array, reference_group_norm(x.array.astype(np.float64), 2, None, None, 1e-5),
                               atol=1e-5)
    assert list(nn.GroupNorm(2, 4, affine=False).parameters()) == []


@pytest.mark.parametrize("call, error, match", [
    (lambda x: F.layer_norm(x, (3,)), ValueError, r"layer_norm: normalized_shape=\(3,\) needs an input of shape \(\*, 3\), got \(2, 4\)"),
    (lambda x: F.layer_norm(x, 4, weight=np.ones(3)), ValueError, r"layer_norm: weight must have shape \(4,\)"),
    (lambda x: F.layer_norm(x, 4.0), TypeError, "layer_norm: normalized_shape must be an int"),
    (lambda x: F.layer_norm(x, 4, eps=-1), ValueError, "layer_norm: eps must be a non-negative number"),
    (lambda x: F.group_norm(x, 3), ValueError, "group_norm: num_groups=3 must divide the 4 channels"),
    (lambda x: F.group_norm(x, 0), ValueError, "group_norm: num_groups must be a positive int"),
    (lambda x: F.group_norm(x, 2, bias=np.ones(2)), ValueError, r"group_norm: bias should have shape \(4,\)"),
    (lambda x: F.layer_norm(x.astype(np.int64), 4), TypeError, "layer_norm: input must be float32 or float64, got int64"),
    (lambda x: nn.GroupNorm(3, 4), ValueError, "GroupNorm: num_groups=3 must divide num_channels=4"),
    (lambda x: nn.GroupNorm(2, 6)(x), ValueError, r"GroupNorm: expected input \(N, 6, \*\)"),
    (lambda x: nn.LayerNorm(0), ValueError, "LayerNorm: normalized_shape must be a positive int"),
])
def test_errors(call, error, match):
    with pytest.raises(error, match=match):
        call(leaf(np.zeros((2, 4))))


def test_empty_batch():
    for op in (lambda t: F.layer_norm(t, (4, 2)), lambda t: F.group_norm(t, 2)):
        x = mc.tensor(np.zeros((0, 4, 2)), requires_grad=True)
        y = op(x)
        y.sum().backward()
        assert y.shape == (0, 4, 2) and x.grad.shape == (0, 4, 2)
