"""Every core op: forward against NumPy, gradient against finite differences (float64),
over hypothesis-drawn shapes including broadcasting."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minicnn as mc
import minicnn.functional as F
from minicnn.testing import arrays, assert_gradcheck, broadcastable_shapes, shapes


def leaf(a):
    return mc.tensor(np.asarray(a, dtype=np.float64), requires_grad=True)


@st.composite
def broadcast_pair(draw, low=-2.0, high=2.0):
    shape = draw(shapes(min_dims=0, max_dims=4, max_side=4))
    other = draw(broadcastable_shapes(shape))
    if draw(st.booleans()):
        shape, other = other, shape
    return draw(arrays(shape, low=low, high=high)), draw(arrays(other, low=low, high=high))


BINARY = {
    "add": (lambda a, b: a + b, np.add),
    "sub": (lambda a, b: a - b, np.subtract),
    "mul": (lambda a, b: a * b, np.multiply),
}


@pytest.mark.parametrize("name", sorted(BINARY))
@given(pair=broadcast_pair())
def test_binary_ops_broadcast(name, pair):
    op, reference = BINARY[name]
    a, b = pair
    np.testing.assert_allclose(op(leaf(a), leaf(b)).array, reference(a, b))
    assert_gradcheck(op, [leaf(a), leaf(b)])


@given(pair=broadcast_pair())
def test_div_broadcast(pair):
    a, b = pair
    b = np.where(np.abs(b) < 0.5, 0.5 + np.abs(b), b)  # keep away from the pole
    np.testing.assert_allclose((leaf(a) / leaf(b)).array, a / b)
    assert_gradcheck(lambda x, y: x / y, [leaf(a), leaf(b)])


@given(pair=broadcast_pair(low=0.5, high=2.0))
def test_pow_with_tensor_exponent(pair):
    a, b = pair
    np.testing.assert_allclose((leaf(a) ** leaf(b)).array, a ** b)
    assert_gradcheck(lambda x, y: x ** y, [leaf(a), leaf(b)])


@given(x=arrays(shapes(max_dims=3)), p=st.sampled_from([2, 3, 0.5, -1.0]))
def test_pow_scalar_exponent_and_scalar_operands(x, p):
    x = np.abs(x) + 0.5
    assert_gradcheck(lambda t: t ** p, [leaf(x)])
    assert_gradcheck(lambda t: 2.0 ** t, [leaf(x)])
    assert_gradcheck(lambda t: 1.0 - t, [leaf(x)])
    assert_gradcheck(lambda t: 3.0 / t, [leaf(x)])
    assert_gradcheck(lambda t: -t, [leaf(x)])


def test_pow_gradient_at_zero_base_is_finite():
    x = leaf([0.0, 1.0])
    (x ** 2).sum().backward()
    np.testing.assert_allclose(x.grad.array, [0.0, 2.0])
    e = leaf([2.0])
    (mc.tensor(np.array([0.0]), requires_grad=False) ** e).sum().backward()
    assert e.grad.array[0] == 0.0  # d/de 0^e = 0 (masked log), as PyTorch


@st.composite
def matmul_operands(draw):
    n, k, m = (draw(st.integers(1, 4)) for _ in range(3))
    batch = draw(shapes(min_dims=0, max_dims=2, max_side=3))
    other_batch = draw(broadcastable_shapes(batch))
    kind = draw(st.sampled_from(["mm", "vec_mat", "mat_vec", "vec_vec"]))
    a_shape = (k,) if kind in ("vec_mat", "vec_vec") else batch + (n, k)
    b_shape = (k,) if kind in ("mat_vec", "vec_vec") else other_batch + (k, m)
    return draw(arrays(a_shape)), draw(arrays(b_shape))


@given(operands=matmul_operands())
def test_matmul_with_batch_broadcast_and_vectors(operands):
    a, b = operands
    np.testing.assert_allclose((leaf(a) @ leaf(b)).array, a @ b, atol=1e-12)
    assert_gradcheck(lambda x, y: x @ y, [leaf(a), leaf(b)])


def test_matmul_errors_name_the_shapes():
    with pytest.raises(ValueError, match=r"matmul: inner dimensions differ in \(2, 3\) @ \(4, 5\)"):
        leaf(np.ones((2, 3))) @ leaf(np.ones((4, 5)))
    with pytest.raises(ValueError, match="at least 1 dimension"):
        F.matmul(leaf(np.ones(3)), leaf(2.0))


def test_broadcast_error_is_clear():
    with pytest.raises(ValueError, match=r"add: shapes \(2, 3\) and \(4,\) cannot be broadcast"):
        leaf(np.ones((2, 3))) + leaf(np.ones(4))


@st.composite
def array_and_axis(draw):
    x = draw(arrays(shapes(min_dims=1, max_dims=4, max_side=4)))
    axis = draw(st.one_of(st.none(), st.integers(-x.ndim, x.ndim - 1),
                          st.lists(st.integers(0, x.ndim - 1), min_size=1, max_size=x.ndim, unique=True).map(tuple)))
    return x, axis, draw(st.booleans())


@pytest.mark.parametrize("name", ["sum", "mean", "amax", "amin"])
@given(case=array_and_axis())
def test_reductions(name, case):
    x, axis, keepdims = case
    reference = {"sum": np.sum, "mean": np.mean, "amax": np.amax, "amin": np.amin}[name]
    dim = () if axis is None else axis  # () is "every axis" for all four, as in PyTorch
    out = getattr(leaf(x), name)(dim, keepdims)
    np.testing.assert_allclose(out.array, reference(x, axis=axis, keepdims=keepdims))
    # amax/amin: values at least 1e-3 apart, so a finite-difference step never crosses a tie
    x = x + 1e-3 * np.random.default_rng(0).permutation(x.size).reshape(x.shape)
    assert_gradcheck(lambda t: getattr(t, name)(dim, keepdims), [leaf(x)])


def test_max_ties_split_the_gradient():
    x = leaf([[1.0, 3.0, 3.0], [2.0, 0.0, 1.0]])
    x.amax(1).sum().backward()
    np.testing.assert_allclose(x.grad.array, [[0, 0.5, 0.5], [1, 0, 0]])
    y = leaf([[1.0, 3.0, 3.0]])
    y.max().backward()  # max() with no dim is amax over everything: ties share, as torch
    np.testing.assert_allclose(y.grad.array, [[0, 0.5, 0.5]])


def test_pytorch_spellings_dim_and_keepdim():
    x = leaf(np.arange(6.0).reshape(2, 3))
    np.testing.assert_allclose(x.sum(dim=1, keepdim=True).array, [[3.0], [12.0]])
    np.testing.assert_allclose(F.mean(x, dim=0).array, [1.5, 2.5, 3.5])
    with pytest.raises(TypeError, match="not both"):
        F.sum(x, axis=0, dim=1)
    with pytest.raises(ValueError, match="axis 2 is out of range"):
        x.sum(axis=2)


UNARY = {
    "exp": (np.exp, None),
    "log": (np.log, "positive"),
    "sqrt": (np.sqrt, "positive"),
    "abs": (np.abs, "nonzero"),
    "tanh": (np.tanh, None),
    "sigmoid": (lambda x: 1 / (1 + np.exp(-x)), None),
    "relu": (lambda x: np.maximum(x, 0), "nonzero"),
    "leaky_relu": (lambda x: np.where(x > 0, x, 0.01 * x), "nonzero"),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@given(x=arrays(shapes(min_dims=0, max_dims=3)))
def test_unary_ops(name, x):
    reference, domain = UNARY[name]
    if domain == "positive":
        x = np.abs(x) + 0.1
    elif domain == "nonzero":  # keep finite differences away from the kink
        x = np.where(np.abs(x) < 1e-3, 0.5, x)
    np.testing.assert_allclose(getattr(leaf(x), name)().array, reference(x), rtol=1e-12, atol=1e-15)
    assert_gradcheck(lambda t: getattr(t, name)(), [leaf(x)])


def test_kinks_follow_pytorch():
    x = leaf([0.0, 0.0, 0.0])
    (x.relu() + x.abs() + x.leaky_relu(0.2)).sum().backward()
    np.testing.assert_allclose(x.grad.array, [0.2, 0.2, 0.2])


@given(x=arrays(shapes(max_dims=3)), bounds=st.sampled_from([(-1.0, 1.0), (None, 0.5), (-0.5, None)]))
def test_clip(x, bounds):
    low, high = bounds
    x = np.where(np.isin(np.round(x, 6), [-1.0, 1.0, 0.5, -0.5]), 0.1, x)
    np.testing.assert_allclose(leaf(x).clip(low, high).array, np.clip(x, low, high))
    assert_gradcheck(lambda t: t.clip(low, high), [leaf(x)])
    np.testing.assert_array_equal(F.clip(leaf(x), 2, 1).array, np.ones_like(x))  # min > max: max


def test_nan_and_inf_propagate():
    x = mc.tensor(np.array([np.nan, np.inf, -1.0]))
    with np.errstate(invalid="ignore"):
        y = (x.log() * 2).array
    assert np.isnan(y[0]) and y[1] == np.inf and np.isnan(y[2])


@st.composite
def array_and_dim(draw):
    x = draw(arrays(shapes(min_dims=1, max_dims=4, max_side=4), low=-5, high=5))
    return x, draw(st.integers(-x.ndim, x.ndim - 1))


@given(case=array_and_dim())
def test_softmax_and_log_softmax_along_any_axis(case):
    x, dim = case
    e = np.exp(x - x.max(axis=dim, keepdims=True))
    expected = e / e.sum(axis=dim, keepdims=True)
    np.testing.assert_allclose(F.softmax(leaf(x), dim).array, expected, rtol=1e-12)
    np.testing.assert_allclose(F.log_softmax(leaf(x), dim).array, np.log(expected), atol=1e-12)
    assert_gradcheck(lambda t: F.softmax(t, dim), [leaf(x)])
    assert_gradcheck(lambda t: F.log_softmax(t, dim), [leaf(x)])


def test_softmax_is_stable_for_huge_logits():
    y = F.softmax(mc.tensor(np.array([1000.0, 1000.0, -1000.0])))
    np.testing.assert_allclose(y.array, [0.5, 0.5, 0.0])


@st.composite
def reshape_case(draw):
    x = draw(arrays(shapes(min_dims=1, max_dims=4, max_side=4)))
    perm = draw(st.permutations(range(x.ndim)))
    return x, tuple(perm)


@given(case=reshape_case())
def test_shape_ops(case):
    x, perm = case
    t = leaf(x)
    np.testing.assert_array_equal(t.reshape(-1).array, x.reshape(-1))
    np.testing.assert_array_equal(t.permute(*perm).array, np.transpose(x, perm))
    np.testing.assert_array_equal(t.flatten().array, x.reshape(-1))
    np.testing.assert_array_equal(t.unsqueeze(0).array, x[None])
    np.testing.assert_array_equal(t.T.array, x.T)
    assert_gradcheck(lambda a: a.permute(*perm) * np.arange(a.numel()).reshape(np.transpose(x, perm).shape), [leaf(x)])
    assert_gradcheck(lambda a: a.reshape(-1) * np.arange(a.numel()), [leaf(x)])
    assert_gradcheck(lambda a: a.unsqueeze(-1).squeeze(-1).flatten() * np.arange(a.numel()), [leaf(x)])
    if x.ndim >= 2:
        np.testing.assert_array_equal(t.transpose(0, -1).array, np.swapaxes(x, 0, -1))
        np.testing.assert_array_equal(F.flatten(t, 1).array, x.reshape(x.shape[0], -1))
        assert_gradcheck(lambda a: a.transpose(0, 1) * np.swapaxes(x, 0, 1), [leaf(x)])


def test_squeeze_unsqueeze_follow_pytorch():
    t = leaf(np.ones((2, 1, 3)))
    assert t.squeeze().shape == (2, 3)
    assert t.squeeze(0).shape == (2, 1, 3)  # a non-unit axis is kept, as torch.squeeze(dim)
    assert t.squeeze(1).shape == (2, 3)
    assert t.unsqueeze(-1).shape == (2, 1, 3, 1)
    assert t.view(3, 2).shape == (3, 2) and t.reshape((6,)).shape == (6,)
    with pytest.raises(ValueError, match=r"reshape: cannot reshape a tensor of shape \(2, 1, 3\)"):
        t.reshape(4)


INDEXES = [
    (slice(None), 1),
    (Ellipsis, slice(0, 2)),
    (np.array([0, 0, 2]),),  # repeated index: gradients must add up
    (np.array([True, False, True]),),
    (slice(None, None, -1), np.array([1, 0])),
    (None, 0),
    (1, 2),
    (slice(None, None, 2), slice(1, None, 2)),  # strided, as a ResNet shortcut's x[:, :, ::2, ::2]
    (np.int64(-1), Ellipsis),
]


@pytest.mark.parametrize("index", INDEXES, ids=range(len(INDEXES)))
def test_indexing_basic_and_advanced(index, rng):
    x = rng.standard_normal((3, 4))
    np.testing.assert_array_equal(leaf(x)[index].array, x[index])
    assert_gradcheck(lambda t: t[index] * 1.5, [leaf(x)])


def test_repeated_index_accumulates():
    x = leaf([1.0, 2.0, 3.0])
    x[np.array([0, 0, 2])].sum().backward()
    np.testing.assert_allclose(x.grad.array, [2.0, 0.0, 1.0])
    with pytest.raises(IndexError, match="getitem"):
        x[5]


@given(x=arrays(shapes(min_dims=1, max_dims=3, max_side=4)), data=st.data())
def test_cat_stack_split(x, data):
    axis = data.draw(st.integers(0, x.ndim - 1))
    y = x * 2 + 1
    np.testing.assert_array_equal(F.cat([leaf(x), leaf(y)], axis).array, np.concatenate([x, y], axis))
    np.testing.assert_array_equal(F.stack([leaf(x), leaf(y)], axis).array, np.stack([x, y], axis))
    weights = np.random.default_rng(1).standard_normal(np.concatenate([x, y], axis).shape)
    assert_gradcheck(lambda a, b: F.cat([a, b], dim=axis) * weights, [leaf(x), leaf(y)])
    assert_gradcheck(lambda a, b: F.stack([a, b], axis=axis) ** 2, [leaf(x), leaf(y)])
    size = data.draw(st.integers(1, x.shape[axis]))
    pieces = leaf(x).split(size, axis)
    expected = np.array_split(x, range(size, x.shape[axis], size), axis)
    assert len(pieces) == len(expected)
    for p, e in zip(pieces, expected):
        np.testing.assert_array_equal(p.array, e)
    # only some pieces used: the unused ones contribute zero gradient
    assert_gradcheck(lambda a: a.split(size, axis)[0] ** 2, [leaf(x)])


def test_join_errors_are_clear():
    a, b = leaf(np.ones((2, 3))), leaf(np.ones((2, 4)))
    with pytest.raises(ValueError, match=r"cat: tensor 1 has shape \(2, 4\)"):
        F.cat([a, b], 0)
    assert F.cat([a, b], 1).shape == (2, 7)
    with pytest.raises(ValueError, match="stack"):
        F.stack([a, b])
    with pytest.raises(ValueError, match="do not add up"):
        F.split(a, [1, 3], 1)
    with pytest.raises(ValueError, match="non-empty"):
        F.cat([])
    with pytest.raises(TypeError, match="different dtypes"):
        F.cat([a, mc.tensor(np.ones((2, 3), np.float32))])


def _reference_pad(x, widths, mode, value):
    numpy_mode = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}[mode]
    kwargs = {"constant_values": value} if mode == "constant" else {}
    return np.pad(x, widths, mode=numpy_mode, **kwargs)


@given(x=arrays(shapes(min_dims=1, max_dims=4, min_side=2, max_side=5)), data=st.data(),
       mode=st.sampled_from(["constant", "reflect", "replicate", "circular"]))
def test_pad_modes(x, data, mode):
    k = data.draw(st.integers(1, x.ndim))
    pad = []
    for axis in range(x.ndim - 1, x.ndim - 1 - k, -1):
        limit = x.shape[axis] - 1 if mode == "reflect" else x.shape[axis]
        pad += [data.draw(st.integers(0, limit)), data.draw(st.integers(0, limit))]
    widths = [(0, 0)] * x.ndim
    for i in range(k):
        widths[x.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    out = F.pad(leaf(x), tuple(pad), mode, value=0.25)
    np.testing.assert_array_equal(out.array, _reference_pad(x, widths, mode, 0.25))
    weights = np.random.default_rng(2).standard_normal(out.shape)
    assert_gradcheck(lambda t: F.pad(t, tuple(pad), mode) * weights, [leaf(x)])


def test_pad_errors():
    x = leaf(np.ones((2, 3)))
    with pytest.raises(ValueError, match="reflect padding 3 must be smaller than the axis size 3"):
        F.pad(x, (3, 0), "reflect")
    with pytest.raises(ValueError, match="mode must be one of"):
        F.pad(x, (1, 1), "mirror")
    with pytest.raises(ValueError, match="even number"):
        F.pad(x, (1,))
    with pytest.raises(ValueError, match=r"pad: widths \(-2, -2\) crop more than the 3 entries of axis 1"):
        F.pad(x, (-2, -2))
    with pytest.raises(TypeError, match="pad: pad must be an int or a tuple of 2 ints"):
        F.pad(x, (1.0, 1))


@given(x=arrays(shapes(min_dims=1, max_dims=3, min_side=1, max_side=5)), data=st.data(),
       mode=st.sampled_from(["constant", "replicate"]))
def test_negative_pad_widths_crop(x, data, mode):
    """PyTorch's cropping: a negative width drops entries from that side, the positive ones pad
    what is left. Reference: the slice of the definition, then NumPy's pad."""
    k = data.draw(st.integers(1, x.ndim))
    pad, crop, widths = [], [slice(None)] * x.ndim, [(0, 0)] * x.ndim
    for axis in range(x.ndim - 1, x.ndim - 1 - k, -1):
        n = x.shape[axis]
        before = data.draw(st.integers(-n, 2))
        after = data.draw(st.integers(-(n + min(before, 0)), 2))
        if mode == "replicate" and n + min(before, 0) + min(after, 0) == 0:
            before, after = min(before, 0), min(after, 0)  # nothing left to replicate
        pad += [before, after]
        crop[axis] = slice(-min(before, 0), n + min(after, 0))
        widths[axis] = (max(before, 0), max(after, 0))
    expected = _reference_pad(x[tuple(crop)], widths, mode, 0.5)
    out = F.pad(leaf(x), tuple(pad), mode, value=0.5)
    np.testing.assert_array_equal(out.array, expected)
    weights = np.random.default_rng(3).standard_normal(out.shape)
    assert_gradcheck(lambda t: F.pad(t, tuple(pad), mode, value=0.5) * weights, [leaf(x)])


@given(pair=broadcast_pair())
def test_where(pair):
    a, b = pair
    condition = np.broadcast_to(a, np.broadcast_shapes(a.shape, b.shape)) > 0
    np.testing.assert_array_equal(F.where(condition, leaf(a), leaf(b)).array, np.where(condition, a, b))
    assert_gradcheck(lambda x, y: F.where(condition, x, y), [leaf(a), leaf(b)])


def test_cast_keeps_gradient_dtype():
    x = mc.tensor(np.ones(3, np.float32), requires_grad=True)
    y = x.double()
    assert y.dtype == np.float64
    (y * 2).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad.array, 2)


@given(x=arrays(st.tuples(st.integers(1, 4), st.integers(1, 5))), out=st.integers(1, 4), bias=st.booleans())
def test_linear(x, out, bias):
    rng = np.random.default_rng(3)
    w = rng.standard_normal((out, x.shape[1]))
    b = rng.standard_normal(out) if bias else None
    y = F.linear(leaf(x), leaf(w), leaf(b) if bias else None)
    np.testing.assert_allclose(y.array, x @ w.T + (b if bias else 0), atol=1e-12)
    inputs = [leaf(x), leaf(w)] + ([leaf(b)] if bias else [])
    assert_gradcheck(lambda *t: F.linear(*t) if bias else F.linear(t[0], t[1]), inputs)


def test_linear_errors():
    with pytest.raises(ValueError, match="linear: input has 3 features"):
        F.linear(leaf(np.ones((2, 3))), leaf(np.ones((4, 5))))
    with pytest.raises(ValueError, match=r"bias must have shape \(4,\)"):
        F.linear(leaf(np.ones((2, 5))), leaf(np.ones((4, 5))), leaf(np.ones(3)))
