"""The Tensor methods and top-level functions PyTorch code uses, each against NumPy and, where
differentiable, gradchecked in float64 over hypothesis-drawn shapes."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minicnn as mc
from minicnn.testing import arrays, assert_gradcheck, shapes


def leaf(values, dtype=np.float64):
    return mc.tensor(np.asarray(values, dtype=dtype), requires_grad=True)


def distinct(x):
    """x with values at least 1e-3 apart, so a finite-difference step never crosses a tie: the
    k-th smallest value (ties in a fixed random order) moves up by k * 1e-3. (Adding a random
    multiple of 1e-3 to each value instead can make two values meet: 0 + 1e-3 and 1e-3 + 0.)"""
    values = x.reshape(-1)
    order = np.lexsort((np.random.default_rng(0).permutation(values.size), values))
    out = np.empty_like(values)
    out[order] = values[order] + 1e-3 * np.arange(values.size)
    return out.reshape(x.shape)


@st.composite
def array_and_dim(draw, min_dims=1):
    x = draw(arrays(shapes(min_dims=min_dims, max_dims=4, max_side=4)))
    return x, draw(st.integers(-max(x.ndim, 1), max(x.ndim, 1) - 1)), draw(st.booleans())


# ---- size and friends -------------------------------------------------------------------------

def test_size_dim_numel():
    t = mc.zeros(2, 3)
    assert t.size() == (2, 3) and isinstance(t.size(), tuple) and repr(t.size()) == "minicnn.Size([2, 3])"
    assert t.size(1) == 3 and t.size(-2) == 2 and t.dim() == 2 and t.numel() == 6
    assert t.size().numel() == 6 and mc.tensor(1.0).size() == ()
    with pytest.raises(ValueError, match="size: axis 2 is out of range"):
        t.size(2)


# ---- max / min / argmax / sort / topk ----------------------------------------------------------------

@pytest.mark.parametrize("name", ["max", "min"])
@settings(max_examples=30, deadline=None)
@given(case=array_and_dim(min_dims=0))
def test_max_min_along_a_dim_give_values_and_indices(name, case):
    x, dim, keepdim = case
    x = distinct(x)
    values, indices = getattr(leaf(x), name)(dim, keepdim)
    arg = np.argmax if name == "max" else np.argmin
    axis = dim if x.ndim else None
    expected_index = np.asarray(arg(x, axis=axis, keepdims=keepdim and x.ndim > 0))
    assert indices.dtype == np.int64
    np.testing.assert_array_equal(indices.array, expected_index)
    np.testing.assert_array_equal(values.array, (np.amax if name == "max" else np.amin)(x, axis=axis,
                                                                   keepdims=keepdim and x.ndim > 0))
    out = getattr(leaf(x), name)(dim=dim, keepdim=keepdim)
    assert out.values.shape == values.shape and out.indices.shape == indices.shape
    assert_gradcheck(lambda t: getattr(t, name)(dim, keepdim).values, [leaf(x)])


def test_unpacking_max_of_logits_gives_the_predicted_classes():
    logits = mc.tensor([[0.1, 2.0, -1.0], [3.0, 0.5, 0.2]])  # batch of 2: values and indices differ
    _, predicted = logits.max(1)
    np.testing.assert_array_equal(predicted.array, [1, 0])
    _, predicted = mc.max(logits, dim=1)
    np.testing.assert_array_equal(predicted.array, [1, 0])


def test_max_without_dim_and_with_another_tensor():
    x = leaf([[1.0, 3.0, 3.0], [2.0, 0.0, 1.0]])
    assert x.max().shape == () and x.max().item() == 3.0 and x.min().item() == 0.0
    y = leaf([[2.0, 3.0, 0.0], [1.0, 1.0, 5.0]])
    np.testing.assert_array_equal(x.max(y).array, np.maximum(x.array, y.array))
    np.testing.assert_array_equal(mc.min(x, y).array, np.minimum(x.array, y.array))
    mc.maximum(x, y).sum().backward()  # the tie at [0, 1] splits the gradient, as torch.maximum
    np.testing.assert_allclose(x.grad.array, [[0, 0.5, 1], [1, 0, 0]])
    np.testing.assert_allclose(y.grad.array, [[1, 0.5, 0], [0, 1, 1]])
    with pytest.raises(TypeError, match="max: dim must be an int"):
        x.max((0, 1))
    with pytest.raises(ValueError, match="cannot reduce"):
        mc.zeros(0, 3).max(0)


@given(x=arrays(shapes(min_dims=1, max_dims=3, max_side=4)), other=st.booleans())
def test_maximum_minimum_gradcheck(x, other):
    y = distinct(x)[::-1].copy() + 0.0005  # never equal to x
    op = mc.maximum if other else mc.minimum
    np.testing.assert_array_equal(op(leaf(x), leaf(y)).array, (np.maximum if other else np.minimum)(x, y))
    # broadcasting too, against a column above or below every x in turn: both inputs win
    # somewhere, and none ties with x within the finite differences' step (a tie splits the gradient)
    column = np.resize([x.max() + 1, x.min() - 1], x.shape[:-1] + (1,))
    assert_gradcheck(op, [leaf(x), leaf(column)])


@settings(max_examples=30, deadline=None)
@given(case=array_and_dim(min_dims=0))
def test_argmax_argmin(case):
    x, dim, keepdim = case
    t = mc.tensor(x)
    if x.ndim:
        np.testing.assert_array_equal(t.argmax(dim, keepdim).array, np.argmax(x, dim, keepdims=keepdim))
        np.testing.assert_array_equal(mc.argmin(t, dim=dim).array, np.argmin(x, dim))
    np.testing.assert_array_equal(t.argmax().array, np.argmax(x))  # flat index, as torch
    assert t.argmax().dtype == np.int64 and t.argmin(keepdim=True).shape == (1,) * x.ndim


@settings(max_examples=30, deadline=None)
@given(case=array_and_dim(), descending=st.booleans())
def test_sort(case, descending):
    x, dim, _ = case
    x = np.round(x, 1)  # ties are likely: the sort is stable
    values, indices = leaf(x).sort(dim, descending=descending)
    expected = np.argsort(-x if descending else x, axis=dim, kind="stable")
    np.testing.assert_array_equal(indices.array, expected)
    np.testing.assert_array_equal(values.array, np.take_along_axis(x, expected, dim))
    weights = np.arange(x.size, dtype=float).reshape(x.shape)
    assert_gradcheck(lambda t: t.sort(dim, descending)[0] * weights, [leaf(distinct(x))])


@settings(max_examples=30, deadline=None)
@given(case=array_and_dim(), data=st.data())
def test_topk(case, data):
    x, dim, _ = case
    x = distinct(x)
    k = data.draw(st.integers(0, x.shape[dim]))
    largest = data.draw(st.booleans())
    values, indices = mc.topk(leaf(x), k, dim, largest)
    order = np.argsort(-x if largest else x, axis=dim)
    expected = np.take(order, np.arange(k), axis=dim)
    np.testing.assert_array_equal(indices.array, expected)
    np.testing.assert_array_equal(values.array, np.take_along_axis(x, expected, dim))
    assert_gradcheck(lambda t: t.topk(k, dim, largest).values ** 2, [leaf(x)])


def test_sort_and_topk_follow_torch_on_ties_nan_and_errors():
    x = mc.tensor([2.0, np.nan, 2.0, 1.0])
    values, indices = x.sort(descending=True)
    np.testing.assert_array_equal(indices.array, [1, 0, 2, 3])  # NaN is largest; ties keep order
    np.testing.assert_array_equal(x.sort().indices.array, [3, 0, 2, 1])
    with pytest.raises(ValueError, match=r"topk: k must be an int in \[0, 4\]"):
        x.topk(5)


# ---- conversions, copies and comparisons -----------------------------------------------------------

def test_clone_t_T_and_casts():
    x = leaf([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    c = x.clone()
    c.add_(1)  # a copy: x is untouched, and the graph flows back through the clone
    np.testing.assert_array_equal(x.array, [[1, 2, 3], [4, 5, 6]])
    (c * c).sum().backward()
    np.testing.assert_allclose(x.grad.array, 2 * (x.array + 1))
    np.testing.assert_array_equal(x.t().array, x.array.T)
    np.testing.assert_array_equal(x.T.array, x.array.T)
    assert mc.ones(3).t().shape == (3,)
    with pytest.raises(ValueError, match="t\\(\\): expects a tensor with at most 2 dimensions"):
        mc.ones(2, 2, 2).t()
    assert x.long().dtype == np.int64 and x.int().dtype == np.int32 and x.bool().dtype == bool
    assert x.float().dtype == np.float32 and x.double().dtype == np.float64
    assert x.type(mc.float32).dtype == mc.float32 and x.type() == "minicnn.DoubleTensor"
    assert mc.tensor([1.5, -2.7]).long().tolist() == [1, -2]
    assert x.tolist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]] and isinstance(x.tolist()[0][0], float)


def test_device_and_to():
    x = mc.ones(2)
    assert str(x.device) == "cpu" and x.device == "cpu" and x.device == mc.device("cpu")
    assert x.to("cpu") is x and x.cpu() is x and x.to(mc.float32) is x
    assert x.to(mc.float64).dtype == np.float64
    assert x.to("cpu", mc.float64).dtype == np.float64 and x.to(device="cpu", dtype=mc.int64).dtype == np.int64
    assert x.to(mc.zeros(1, dtype=mc.float64)).dtype == np.float64
    for bad in (lambda: x.to("cuda"), lambda: x.cuda(), lambda: mc.device("cuda:0"), lambda: x.to("mps")):
        with pytest.raises(ValueError, match="minicnn runs on the CPU"):
            bad()


@given(x=arrays(shapes(min_dims=0, max_dims=3, max_side=4), low=-2, high=2))
def test_comparisons_all_any(x):
    x = np.round(x)
    t = mc.tensor(x)
    for name, reference in [("eq", np.equal), ("ne", np.not_equal), ("lt", np.less),
                            ("le", np.less_equal), ("gt", np.greater), ("ge", np.greater_equal)]:
        out = getattr(t, name)(1.0)
        assert out.dtype == bool and not out.requires_grad
        np.testing.assert_array_equal(out.array, reference(x, 1.0))
    np.testing.assert_array_equal((t >= mc.zeros(())).array, x >= 0)
    assert t.all().dtype == bool and t.all().shape == ()
    assert bool(t.any()) == bool(x.any()) and bool(t.all()) == bool(x.all())
    if x.ndim:
        np.testing.assert_array_equal(t.any(0).array, x.any(0))
        np.testing.assert_array_equal(t.all(-1, keepdim=True).array, x.all(-1, keepdims=True))


def test_comparison_errors():
    with pytest.raises(ValueError, match=r"lt: shapes \(2,\) and \(3,\) cannot be broadcast"):
        mc.ones(2) < mc.ones(3)
    assert (mc.ones(2) == None) is False  # noqa: E711  (as for any object)


def test_formatting_and_python_numbers():
    loss = mc.tensor(0.123456)
    assert f"{loss:.3f}" == "0.123" and float(loss) == pytest.approx(0.123456) and int(mc.tensor([7.9])) == 7
    with pytest.raises(TypeError, match="len\\(\\) of a 0-d tensor"):
        len(loss)


# ---- top-level functions, dtypes and constructors --------------------------------------------------

@given(x=arrays(shapes(min_dims=1, max_dims=3), low=0.5, high=2.0))
def test_top_level_math_mirrors_torch(x):
    t = mc.tensor(x)
    for name, reference in [("sqrt", np.sqrt), ("exp", np.exp), ("log", np.log), ("abs", np.abs),
                            ("tanh", np.tanh), ("relu", lambda a: np.maximum(a, 0)),
                            ("sigmoid", lambda a: 1 / (1 + np.exp(-a)))]:
        np.testing.assert_allclose(getattr(mc, name)(t).array, reference(x), rtol=1e-12)
    np.testing.assert_allclose(mc.matmul(t.reshape(-1, 1), t.reshape(1, -1)).array, np.outer(x, x), rtol=1e-12)
    np.testing.assert_array_equal(mc.flatten(t).array, x.ravel())
    np.testing.assert_array_equal(mc.where(t > 1, t, mc.zeros(())).array, np.where(x > 1, x, 0))
    np.testing.assert_array_equal(mc.cat([t, t]).array, np.concatenate([x, x]))
    np.testing.assert_array_equal(mc.stack([t, t], 1).array, np.stack([x, x], 1))


def test_dtypes_and_constructors():
    assert mc.float32 == np.float32 and mc.float64 == np.float64 and mc.int64 == np.int64
    assert mc.bool == np.bool_ and mc.float is mc.float32 and mc.long is mc.int64 and mc.uint8 == np.uint8
    assert mc.zeros(2, dtype=mc.float64).dtype == mc.float64 and mc.tensor([1.0], dtype=mc.float64).dtype == mc.float64
    np.testing.assert_array_equal(mc.zeros_like(mc.ones(2, 3, dtype=mc.int64)).array, np.zeros((2, 3), np.int64))
    assert mc.ones_like(mc.zeros(2)).array.tolist() == [1, 1] and mc.full_like(mc.zeros(2), 3).array.tolist() == [3, 3]
    assert mc.full((2,), 7).dtype == np.int64 and mc.full((2,), 7.0).dtype == np.float32
    assert mc.full((2,), True).dtype == bool
    assert mc.arange(3).dtype == np.int64 and mc.arange(0, 1, 0.25).dtype == np.float32
    np.testing.assert_array_equal(mc.arange(1, 7, 2).array, [1, 3, 5])
    np.testing.assert_allclose(mc.linspace(0, 1, 5).array, [0, 0.25, 0.5, 0.75, 1])
    np.testing.assert_array_equal(mc.eye(2, 3).array, np.eye(2, 3))
    r = mc.randint(0, 10, (1000,), generator=np.random.default_rng(0))
    assert r.dtype == np.int64 and r.array.min() >= 0 and r.array.max() <= 9
    np.testing.assert_array_equal(mc.randint(5, (3,), generator=np.random.default_rng(1)).array,
                                  np.random.default_rng(1).integers(0, 5, 3))
    assert sorted(mc.randperm(5, generator=np.random.default_rng(0)).tolist()) == [0, 1, 2, 3, 4]
    mc.manual_seed(3)
    a = mc.rand(4)
    mc.manual_seed(3)
    np.testing.assert_array_equal(a.array, mc.rand(4).array)
    np.testing.assert_array_equal(mc.normal(0.0, 2.0, (3,), generator=np.random.default_rng(2)).array,
                                  np.random.default_rng(2).normal(0, 2, 3).astype(np.float32))


def test_set_default_dtype():
    assert mc.get_default_dtype() == mc.float32
    try:
        mc.set_default_dtype(mc.float64)
        assert mc.tensor([1.5]).dtype == np.float64 and mc.zeros(2).dtype == np.float64
        assert mc.rand(2).dtype == np.float64 and mc.arange(0.0, 1.0, 0.5).dtype == np.float64
        assert (mc.ones(2, dtype=mc.float64) * 0.1).dtype == np.float64
    finally:
        mc.set_default_dtype(mc.float32)
    assert mc.tensor([1.5]).dtype == np.float32
    with pytest.raises(TypeError, match="set_default_dtype: only float32 and float64"):
        mc.set_default_dtype(mc.int64)


# ---- issue 10: empty dims, 0-d tensors, tensor() of tensors -----------------------------------------

def test_squeeze_several_dims_and_none():
    x = leaf(np.ones((2, 1, 3, 1)))
    assert mc.squeeze(x, (1, 3)).shape == (2, 3)
    assert x.squeeze((0, 1)).shape == (2, 3, 1)  # a dim that is not 1 is left alone
    assert mc.squeeze(x, ()).shape == (2, 1, 3, 1)
    assert x.squeeze(dim=[-1]).shape == (2, 1, 3)
    assert_gradcheck(lambda t: t.squeeze((1, 3)) * np.arange(6.0).reshape(2, 3), [x])


@pytest.mark.parametrize("name", ["sum", "mean", "amax", "amin"])
@given(x=arrays(shapes(min_dims=0, max_dims=3, max_side=3)), empty=st.sampled_from([(), []]))
def test_empty_dim_reduces_every_axis(name, x, empty):
    out = getattr(mc, name)(leaf(x), empty)
    np.testing.assert_allclose(out.array, getattr(np, name)(x), rtol=1e-12)
    assert out.shape == ()


@pytest.mark.parametrize("dim", [0, -1])
def test_zero_dim_tensors_accept_dim_0_and_minus_1(dim):
    x = leaf(2.5)
    for name in ("sum", "mean", "amax", "amin"):
        out = getattr(x, name)(dim)
        assert out.shape == () and out.item() == 2.5
        assert getattr(x, name)(dim, keepdim=True).shape == ()
        assert_gradcheck(lambda t: getattr(t, name)(dim), [leaf(2.5)])
    values, indices = mc.max(x, dim)
    assert values.item() == 2.5 and indices.item() == 0 and indices.shape == ()
    assert x.min(dim).indices.item() == 0 and x.argmax(dim).item() == 0
    assert x.squeeze(dim).shape == () and x.transpose(0, dim).shape == () and x.unsqueeze(dim).shape == (1,)
    assert x.sort(dim).values.item() == 2.5 and x.topk(1, dim).values.shape == ()
    assert_gradcheck(lambda t: mc.max(t, dim).values * 3, [leaf(2.5)])
    with pytest.raises(ValueError, match="axis 1 is out of range"):
        x.sum(1)


def test_tensor_of_a_list_of_tensors_stacks_their_values():
    out = mc.tensor([mc.ones(2), mc.zeros(2)])
    assert out.dtype == np.float32 and out.shape == (2, 2)
    np.testing.assert_array_equal(out.array, [[1, 1], [0, 0]])
    scalars = mc.tensor([mc.tensor(1.0), mc.tensor(2.0, requires_grad=True)])
    assert scalars.shape == (2,) and not scalars.requires_grad
    assert mc.tensor([[mc.tensor(1), 2], [3, mc.tensor(4)]]).tolist() == [[1, 2], [3, 4]]


@pytest.mark.parametrize("bad", [["a", "b"], "abc", [object()], None, {"a": 1}, [1.0, "x"]])
def test_tensor_of_strings_or_objects_is_a_type_error(bad):
    with pytest.raises(TypeError, match="tensor: expected numbers"):
        mc.tensor(bad)
    with pytest.raises(TypeError, match="expected numbers"):
        mc.Tensor(bad)


def test_ragged_list_is_a_clear_value_error():
    with pytest.raises(ValueError, match="tensor: expected numbers or equally long"):
        mc.tensor([mc.ones(2), mc.ones(3)])


def test_cat_of_0d_tensors_is_refused_clearly():
    with pytest.raises(ValueError, match="cat: zero-dimensional tensors cannot be concatenated"):
        mc.cat([mc.tensor(1.0), mc.tensor(2.0)])
    assert mc.stack([mc.tensor(1.0), mc.tensor(2.0)]).shape == (2,)
