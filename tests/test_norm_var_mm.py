"""p-norms (norm, vector_norm, Tensor.norm), variance and standard deviation (var, std, var_mean,
std_mean) and the matrix products mm and bmm. Values against float64 NumPy (np.linalg.norm on
each flattened vector, np.var with ddof, einsum), gradients against finite differences, PyTorch's
choices at the edges (a zero vector, a constant input, one entry, no entries) against closed forms,
and bad arguments against the messages."""
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minicnn as mc
import minicnn.functional as F
from minicnn.testing import arrays, assert_gradcheck, shapes

ORDERS = [2, 1, 3, 1.5, 0.5, 0, -1, math.inf, -math.inf]


def leaf(a):
    return mc.tensor(np.asarray(a, dtype=np.float64), requires_grad=True)


@st.composite
def array_and_dims(draw, max_dims=3):
    """An array (some with an axis of size 0) and a `dim` argument: None, an int, or a tuple of
    distinct axes (maybe negative)."""
    x = draw(arrays(shapes(min_dims=1, max_dims=max_dims, min_side=0, max_side=4)))
    choice = draw(st.sampled_from(["none", "int", "tuple"]))
    if choice == "none":
        return x, None
    axes = draw(st.lists(st.integers(0, x.ndim - 1), min_size=1, max_size=x.ndim, unique=True))
    axes = [a - x.ndim if draw(st.booleans()) else a for a in axes]
    return x, (axes[0] if choice == "int" else tuple(axes))


def reduced_axes(x, dim):
    if dim is None:
        return tuple(range(x.ndim))
    return tuple(sorted(d % x.ndim for d in ((dim,) if isinstance(dim, int) else dim)))


def reduced_count(x, dim):
    return math.prod(x.shape[a] for a in reduced_axes(x, dim))


def vectors(x, dim):
    """x with the axes of `dim` moved last and flattened into one: each row is one vector."""
    axes = reduced_axes(x, dim)
    kept = [a for a in range(x.ndim) if a not in axes]
    moved = np.transpose(x, kept + list(axes))
    return moved.reshape(moved.shape[:len(kept)] + (reduced_count(x, dim),)), axes


def reference_norm(x, p, dim, keepdim):
    rows, axes = vectors(x, dim)
    with np.errstate(divide="ignore", over="ignore"):  # a negative order meets a (near-)zero entry
        out = np.linalg.norm(rows, ord=p, axis=-1)
    return np.expand_dims(out, axes) if keepdim else out


def spread_out(x, rng):
    """x with every |value| distinct and at least 0.1 from 0 and from every other: no kinks or ties
    within a finite-difference step, whatever the order of the norm."""
    magnitudes = 0.1 * (1 + rng.permutation(x.size)).reshape(x.shape)
    return np.where(x < 0, -1.0, 1.0) * magnitudes


# ---- norms ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("p", ORDERS)
@settings(max_examples=15, deadline=None)
@given(case=array_and_dims(), keepdim=st.booleans())
def test_vector_norm_matches_numpy_on_each_flattened_vector(p, case, keepdim):
    x, dim = case
    if (p < 0 or p == math.inf) and reduced_count(x, dim) == 0:
        with pytest.raises(ValueError, match="cannot compute the"):  # no entries: no max, min or 1/sum
            mc.norm(leaf(x), p, dim, keepdim)
        return
    expected = reference_norm(x, p, dim, keepdim)
    for out in (mc.linalg.vector_norm(leaf(x), p, dim, keepdim), mc.norm(leaf(x), p, dim, keepdim),
                leaf(x).norm(p, dim, keepdim)):
        assert out.shape == expected.shape
        np.testing.assert_allclose(out.array, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("p", [o for o in ORDERS if o != 0])
@settings(max_examples=10, deadline=None)
@given(case=array_and_dims(), keepdim=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_vector_norm_gradient_matches_finite_differences(p, case, keepdim, seed):
    x, dim = case
    if (p < 0 or p == math.inf) and reduced_count(x, dim) == 0:
        return  # refused, as the test above checks
    x = spread_out(x, np.random.default_rng(seed))
    assert_gradcheck(lambda t: mc.linalg.vector_norm(t, p, dim, keepdim), [leaf(x)])


def test_float32_stays_float32_and_the_default_is_the_2_norm_of_every_entry():
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert mc.norm(mc.tensor(x)).dtype == np.float32
    np.testing.assert_allclose(mc.tensor(x).norm().array, math.sqrt((x.astype(np.float64) ** 2).sum()),
                               rtol=1e-6)


@pytest.mark.parametrize("p", [2, 3, 1.5, 1, math.inf])
def test_the_gradient_at_a_zero_vector_is_zero_not_nan(p):
    # PyTorch's choice (norm_backward masks norm == 0): 0 is a subgradient, NaN would poison training.
    x = leaf(np.zeros((2, 3)))
    mc.norm(x, p, dim=1).sum().backward()
    np.testing.assert_array_equal(x.grad.array, np.zeros((2, 3)))


def test_orders_below_one_give_zero_gradient_at_zero_entries():
    # p = 0.5 on (0, 1, 4): norm = (0 + 1 + 2)^2 = 9, d/dx_i = sign(x_i) |x_i|^(-1/2) * 9^(1/2)
    x = leaf([0.0, 1.0, 4.0])
    out = mc.norm(x, 0.5)
    out.backward()
    assert out.item() == pytest.approx(9.0)
    np.testing.assert_allclose(x.grad.array, [0.0, 3.0, 1.5])
    x = leaf([0.0, 2.0, -3.0])  # p = 0 counts the non-zero entries; the count has gradient 0
    out = mc.norm(x, 0)
    out.backward()
    assert out.item() == 2.0 and not x.grad.array.any()


def test_tied_largest_entries_share_the_inf_norm_gradient():
    x = leaf([3.0, -3.0, 1.0])
    mc.norm(x, math.inf).backward()
    np.testing.assert_allclose(x.grad.array, [0.5, -0.5, 0.0])
    x = leaf([1.0, -1.0, 3.0])
    mc.norm(x, -math.inf).backward()
    np.testing.assert_allclose(x.grad.array, [0.5, -0.5, 0.0])


def test_frobenius_is_the_2_norm_over_at_most_two_dims():
    x = np.random.default_rng(0).standard_normal((2, 3, 4))
    np.testing.assert_allclose(mc.norm(leaf(x)).array, np.sqrt((x ** 2).sum()))
    np.testing.assert_allclose(leaf(x).norm("fro", (1, 2)).array, np.sqrt((x ** 2).sum(axis=(1, 2))))
    np.testing.assert_allclose(leaf(x).norm(dim=0).array, np.sqrt((x ** 2).sum(axis=0)))
    np.testing.assert_allclose(mc.norm(leaf(x), None, 1).array, np.sqrt((x ** 2).sum(axis=1)))
    with pytest.raises(ValueError, match=r"norm: the Frobenius norm is over at most 2 dims"):
        mc.norm(leaf(x), "fro", (0, 1, 2))
    with pytest.raises(ValueError, match=r"norm: p must be a number or 'fro', got 'nuc'"):
        mc.norm(leaf(x), "nuc")


def test_norms_of_empty_tensors_follow_pytorch():
    empty = leaf(np.zeros((0, 3)))
    for p in (2, 1, 0.5, 0):  # a sum over no entries: 0
        assert mc.norm(empty, p).item() == 0.0
        np.testing.assert_array_equal(mc.norm(empty, p, dim=0).array, np.zeros(3))
    assert mc.norm(empty, math.inf, dim=1).shape == (0,)  # nothing is reduced over an empty axis
    for p in (math.inf, -math.inf, -1):  # max, min and negative orders have no value for no entries
        with pytest.raises(ValueError, match=r"vector_norm: cannot compute the .* norm over an empty dimension"):
            mc.linalg.vector_norm(empty, p)
        with pytest.raises(ValueError, match=r"vector_norm: cannot compute"):
            mc.linalg.vector_norm(empty, p, dim=0)
    out = mc.norm(empty, 2, dim=0)
    out.sum().backward()
    assert empty.grad.shape == (0, 3)


@pytest.mark.parametrize("call, error, message", [
    (lambda: mc.norm(mc.tensor([1, 2])), TypeError, r"norm: input must be float32 or float64, got int64"),
    (lambda: mc.linalg.vector_norm(mc.tensor([1.0]), "fro"), TypeError, r"vector_norm: the order must be a number"),
    (lambda: mc.norm(mc.tensor([1.0]), math.nan), ValueError, r"norm: the order must not be NaN"),
    (lambda: mc.norm(mc.tensor([1.0]), 2, 1), ValueError, r"norm: axis 1 is out of range"),
    (lambda: mc.norm(mc.tensor([1.0]), 2, 0.5), TypeError, r"norm: axis must be an int"),
    (lambda: mc.norm(mc.tensor([1.0]), 2, 0, "yes"), TypeError, r"norm: keepdim must be a bool"),
    (lambda: mc.norm("abc"), TypeError, r"norm: input must be"),
])
def test_bad_norm_arguments_name_the_op(call, error, message):
    with pytest.raises(error, match=message):
        call()


# ---- variance and standard deviation --------------------------------------------------------------
@pytest.mark.parametrize("correction", [0, 1, 2, 0.5])
@settings(max_examples=15, deadline=None)
@given(case=array_and_dims(), keepdim=st.booleans())
def test_var_and_std_match_numpy_with_ddof(correction, case, keepdim):
    x, dim = case
    if reduced_count(x, dim) <= correction:
        return  # the no-degrees-of-freedom case has its own test
    axis = reduced_axes(x, dim)
    expected = np.var(x, axis=axis, ddof=correction, keepdims=keepdim)
    np.testing.assert_allclose(mc.var(leaf(x), dim, keepdim=keepdim, correction=correction).array, expected,
                               rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(leaf(x).std(dim, keepdim=keepdim, correction=correction).array,
                               np.sqrt(expected), rtol=1e-10, atol=1e-12)
    variance, mean = mc.var_mean(leaf(x), dim, keepdim=keepdim, correction=correction)
    np.testing.assert_allclose(variance.array, expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(mean.array, np.mean(x, axis=axis, keepdims=keepdim), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("op", ["var", "std"])
@settings(max_examples=15, deadline=None)
@given(case=array_and_dims(), keepdim=st.booleans(), correction=st.sampled_from([0, 1]),
       seed=st.integers(0, 2 ** 16))
def test_var_and_std_gradients_match_finite_differences(op, case, keepdim, correction, seed):
    x, dim = case
    if reduced_count(x, dim) <= correction:
        return
    x = spread_out(x, np.random.default_rng(seed))  # no constant vector, where std has a kink
    assert_gradcheck(lambda t: getattr(mc, op)(t, dim, keepdim=keepdim, correction=correction), [leaf(x)])
    assert_gradcheck(lambda t: sum(getattr(mc, f"{op}_mean")(t, dim, keepdim=keepdim, correction=correction)),
                     [leaf(x)])


def test_the_gradient_of_a_constant_input_is_zero():
    # PyTorch's std_backward masks std == 0: the derivative of sqrt is infinite there, 0 is its choice.
    for op in ("var", "std"):
        x = leaf(np.full((2, 3), 1.5))
        getattr(x, op)(1).sum().backward()
        np.testing.assert_array_equal(x.grad.array, np.zeros((2, 3)))


def test_the_older_unbiased_spellings_mean_correction_one_or_zero():
    x = np.random.default_rng(1).standard_normal((3, 4))
    population, sample = np.var(x, axis=1, ddof=0), np.var(x, axis=1, ddof=1)
    np.testing.assert_allclose(leaf(x).var(1, False).array, population)  # var(input, dim, unbiased)
    np.testing.assert_allclose(leaf(x).var(1, True, True).array, sample[:, None])  # ..., keepdim
    np.testing.assert_allclose(mc.var(leaf(x), 1, unbiased=False).array, population)
    np.testing.assert_allclose(mc.std(leaf(x), False).array, np.std(x))  # std(input, unbiased)
    np.testing.assert_allclose(mc.var(leaf(x)).array, np.var(x, ddof=1))  # correction 1 by default


def test_no_degrees_of_freedom_give_nan_or_inf_with_pytorchs_warning():
    with pytest.warns(UserWarning, match=r"var\(\): degrees of freedom is <= 0"):
        assert math.isnan(mc.var(leaf([2.0])).item())  # one entry, correction 1: 0 / 0
    with pytest.warns(UserWarning, match=r"std\(\): degrees of freedom is <= 0"):
        np.testing.assert_array_equal(mc.std(leaf([[1.0, 3.0]]), 1, correction=2).array, [np.inf])
    with pytest.warns(UserWarning, match=r"var\(\): degrees of freedom"):
        out = mc.var(leaf(np.zeros((0, 3))), 0)  # no entries: the mean itself is NaN
    assert out.shape == (3,) and np.isnan(out.array).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert mc.var(leaf([2.0]), correction=0).item() == 0.0
        assert mc.var(leaf(np.zeros((3, 0))), 0).shape == (0,)  # three entries per (absent) column


@pytest.mark.parametrize("call, error, message", [
    (lambda: mc.var(mc.tensor([1, 2, 3])), TypeError, r"var: input must be float32 or float64, got int64"),
    (lambda: mc.std(mc.tensor([1.0, 2.0]), unbiased=True, correction=0), TypeError,
     r"std: give unbiased= or correction=, not both"),
    (lambda: mc.var(mc.tensor([1.0, 2.0]), unbiased=1), TypeError, r"var: unbiased must be a bool"),
    (lambda: mc.var(mc.tensor([1.0, 2.0]), correction=-1), ValueError, r"var: correction must be a non-negative"),
    (lambda: mc.var(mc.tensor([1.0, 2.0]), correction="1"), ValueError, r"var: correction must be a non-negative"),
    (lambda: mc.std(mc.tensor([1.0, 2.0]), 2), ValueError, r"std: axis 2 is out of range"),
    (lambda: mc.var_mean(mc.tensor([1.0, 2.0]), keepdim=None), TypeError, r"var_mean: keepdim must be a bool"),
])
def test_bad_var_arguments_name_the_op(call, error, message):
    with pytest.raises(error, match=message):
        call()


# ---- mm and bmm ---------------------------------------------------------------------------------
@settings(max_examples=20, deadline=None)
@given(sizes=st.tuples(st.integers(0, 4), st.integers(0, 4), st.integers(0, 4), st.integers(0, 3)),
       seed=st.integers(0, 2 ** 16))
def test_mm_and_bmm_match_the_sum_of_products(sizes, seed):
    n, k, m, b = sizes
    rng = np.random.default_rng(seed)
    a, c = rng.standard_normal((n, k)), rng.standard_normal((k, m))
    np.testing.assert_allclose(mc.mm(leaf(a), leaf(c)).array, np.einsum("ik,kj->ij", a, c), atol=1e-12)
    np.testing.assert_allclose(leaf(a).mm(leaf(c)).array, np.einsum("ik,kj->ij", a, c), atol=1e-12)
    assert_gradcheck(mc.mm, [leaf(a), leaf(c)])
    a, c = rng.standard_normal((b, n, k)), rng.standard_normal((b, k, m))
    np.testing.assert_allclose(leaf(a).bmm(leaf(c)).array, np.einsum("bik,bkj->bij", a, c), atol=1e-12)
    assert_gradcheck(mc.bmm, [leaf(a), leaf(c)])


@pytest.mark.parametrize("call, message", [
    (lambda: mc.mm(mc.ones(3), mc.ones(3, 2)), r"mm: input must be 2-D \(n, k\), got shape \(3,\)"),
    (lambda: mc.mm(mc.ones(2, 3), mc.ones(1, 3, 2)), r"mm: mat2 must be 2-D \(n, k\), got shape \(1, 3, 2\)"),
    (lambda: mc.mm(mc.ones(2, 3), mc.ones(4, 5)), r"mm: input and mat2 shapes cannot be multiplied \(2x3 and 4x5\)"),
    (lambda: mc.bmm(mc.ones(2, 3), mc.ones(2, 3)), r"bmm: input must be 3-D \(batch, n, k\)"),
    (lambda: mc.bmm(mc.ones(2, 2, 3), mc.ones(1, 3, 2)), r"bmm: input and mat2 must have the same batch size"),
    (lambda: mc.bmm(mc.ones(2, 2, 3), mc.ones(2, 2, 3)), r"bmm: input and mat2 shapes cannot be multiplied"),
])
def test_mm_and_bmm_refuse_other_shapes(call, message):
    with pytest.raises(ValueError, match=message):
        call()
