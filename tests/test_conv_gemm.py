"""The 1x1 "gemm" algorithm against a reference written from the definition."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minicnn as mc
import minicnn.functional as F
from minicnn.testing import assert_gradcheck


def reference_1x1(x, w, stride, groups):
    """y[n, o, i, j] = sum_c w[o, c] x[n, g(o) C/G + c, i s, j s], a loop over output channels."""
    sub = x[:, :, ::stride, ::stride]
    k, cg = w.shape[:2]
    kg = k // groups
    y = np.zeros((x.shape[0], k) + sub.shape[2:])
    for o in range(k):
        g = o // kg
        y[:, o] = np.tensordot(w[o, :, 0, 0], sub[:, g * cg:(g + 1) * cg], axes=([0], [1]))
    return y


@given(n=st.integers(0, 3), groups=st.sampled_from([1, 2, 3]), cg=st.integers(1, 12), kg=st.integers(1, 12),
       h=st.integers(1, 7), w_=st.integers(1, 7), stride=st.integers(1, 3), dtype=st.sampled_from([np.float32, np.float64]))
def test_gemm_matches_the_definition(n, groups, cg, kg, h, w_, stride, dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, groups * cg, h, w_))
    w = rng.standard_normal((groups * kg, cg, 1, 1))
    tx, tw = mc.tensor(x.astype(dtype), requires_grad=True), mc.tensor(w.astype(dtype), requires_grad=True)
    y = F.conv2d(tx, tw, stride=stride, groups=groups, algorithm="gemm")
    expected = reference_1x1(x, w, stride, groups)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(y.array, expected, rtol=tol, atol=tol * np.abs(expected).max(initial=0))
    gy = rng.standard_normal(y.shape)
    y.backward(gy.astype(dtype))
    # adjoint identities against the reference forward: <y, gy> = <x, dx> = <w, dw>
    inner = np.sum(expected * gy)
    assert np.sum(x * tx.grad.array) == pytest.approx(inner, rel=tol * 10, abs=tol * 10)
    assert np.sum(w * tw.grad.array) == pytest.approx(inner, rel=tol * 10, abs=tol * 10)


@pytest.mark.parametrize("size, stride, groups", [(1, 1, 1), (1, 1, 2), (2, 1, 1), (3, 2, 1), (3, 1, 1), (4, 2, 2), (8, 1, 1)])
def test_gemm_passes_on_small_and_large_maps(size, stride, groups):
    """Wide layers on maps of 1-4 positions run each pass as one product over all images'
    positions, larger maps as per-image products: all three passes against einsum of the definition."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 32, size, size))
    w = rng.standard_normal((24, 32 // groups, 1, 1))
    tx, tw = mc.tensor(x, requires_grad=True), mc.tensor(w, requires_grad=True)
    y = F.conv2d(tx, tw, stride=stride, groups=groups, algorithm="gemm")
    sub = x[:, :, ::stride, ::stride]
    w_groups = w.reshape(groups, 24 // groups, 32 // groups)
    expected_y = np.einsum("gkc,ngcp->ngkp", w_groups, sub.reshape(3, groups, 32 // groups, -1))
    np.testing.assert_allclose(y.array, expected_y.reshape(y.shape), rtol=1e-12, atol=1e-12)
    gy = rng.standard_normal(y.shape)
    y.backward(gy)
    gy_groups = gy.reshape(3, groups, 24 // groups, -1)
    expected_w = np.einsum("ngkp,ngcp->gkc", gy_groups, sub.reshape(3, groups, 32 // groups, -1)).reshape(w.shape)
    np.testing.assert_allclose(tw.grad.array, expected_w, rtol=1e-12, atol=1e-12)
    expected_x = np.zeros_like(x)
    expected_x[:, :, ::stride, ::stride][:, :, :y.shape[2], :y.shape[3]] = np.einsum(
        "gkc,ngkp->ngcp", w_groups, gy_groups).reshape(3, 32, y.shape[2], y.shape[3])
    np.testing.assert_allclose(tx.grad.array, expected_x, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("stride, groups", [(1, 1), (2, 2), (3, 1)])
def test_gemm_gradcheck(stride, groups):
    rng = np.random.default_rng(1)
    x = mc.tensor(rng.standard_normal((2, 4, 5, 5)), requires_grad=True)
    w = mc.tensor(rng.standard_normal((6, 4 // groups, 1, 1)), requires_grad=True)
    assert_gradcheck(lambda a, b: F.conv2d(a, b, stride=stride, groups=groups, algorithm="gemm"), [x, w])
    x1 = mc.tensor(rng.standard_normal((2, 4, 7)), requires_grad=True)
    w1 = mc.tensor(rng.standard_normal((3, 4, 1)), requires_grad=True)
    assert_gradcheck(lambda a, b: F.conv1d(a, b, stride=stride, algorithm="gemm"), [x1, w1])
