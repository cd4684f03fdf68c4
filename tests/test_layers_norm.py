"""Normalisation: local response norm, local contrast norm and batch norm, against references
written from their formulas, gradient checks, running statistics, and bad input."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minicnn
from minicnn import functional as F
from minicnn import nn
from minicnn.functional.norm import LocalResponseNorm
from minicnn.gradcheck import GradcheckError
from minicnn.testing import assert_gradcheck


# ---- local response normalisation ----------------------------------------------------------
def reference_lrn(a, size, alpha, beta, k):
    """b[c] = a[c] / (k + alpha/size * sum_{j=c-size//2}^{c+(size-1)//2} a[j]^2)^beta, a loop
    over channels."""
    C = a.shape[1]
    out = np.empty_like(a)
    for c in range(C):
        lo, hi = max(0, c - size // 2), min(C - 1, c + (size - 1) // 2)
        total = (a[:, lo:hi + 1] ** 2).sum(axis=1)
        out[:, c] = a[:, c] / (k + alpha / size * total) ** beta
    return out


@settings(max_examples=25)
@given(shape=st.tuples(st.integers(1, 2), st.integers(1, 6), st.integers(1, 3), st.integers(1, 3)),
       size=st.integers(1, 6), alpha=st.floats(0.0, 2.0), beta=st.floats(0.1, 1.5),
       k=st.floats(0.5, 3.0), seed=st.integers(0, 2**16))
def test_lrn_matches_reference_and_gradcheck(shape, size, alpha, beta, k, seed):
    x = np.random.default_rng(seed).standard_normal(shape)
    out = F.local_response_norm(minicnn.tensor(x), size, alpha, beta, k)
    np.testing.assert_allclose(out.array, reference_lrn(x, size, alpha, beta, k), rtol=1e-12)
    assert_gradcheck(lambda a: F.local_response_norm(a, size, alpha, beta, k),
                     [minicnn.tensor(x, requires_grad=True)])


def test_lrn_hand_example():
    # a = [1, 2, 3] over channels, size 3, alpha/size = 1, k = 1, beta = 1:
    # scale = [1 + 1 + 4, 1 + 1 + 4 + 9, 1 + 4 + 9] = [6, 15, 14]
    a = minicnn.tensor(np.array([1.0, 2.0, 3.0]).reshape(1, 3, 1, 1))
    out = F.local_response_norm(a, 3, alpha=3.0, beta=1.0, k=1.0)
    np.testing.assert_allclose(out.array.ravel(), [1 / 6, 2 / 15, 3 / 14])


def test_lrn_alexnet_parameterisation():
    """The paper's b = a / (2 + 1e-4 * sum_{5 channels} a^2)^0.75 is alpha = 5 * 1e-4 here."""
    x = np.random.default_rng(0).standard_normal((2, 8, 3, 3)) * 30
    paper = np.empty_like(x)
    for i in range(8):
        window = slice(max(0, i - 2), min(7, i + 2) + 1)
        paper[:, i] = x[:, i] / (2 + 1e-4 * (x[:, window] ** 2).sum(axis=1)) ** 0.75
    layer = nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)
    np.testing.assert_allclose(layer(minicnn.tensor(x)).array, paper, rtol=1e-12)


def test_lrn_float32_and_3d_input():
    x = np.random.default_rng(1).standard_normal((2, 5, 7)).astype(np.float32)
    out = F.local_response_norm(minicnn.tensor(x), 3)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.array, reference_lrn(x.astype(np.float64), 3, 1e-4, 0.75, 1.0),
                               rtol=1e-5)


class LRNWithoutCrossTerm(LocalResponseNorm):
    """A plausible mistake: treat the scale as a constant (drop the sum over the window)."""

    @staticmethod
    def backward(ctx, grad):
        a, out, scale = ctx.saved_tensors
        beta = ctx.settings[2]
        return (grad.reshape(a.shape) * scale ** -beta).reshape(ctx.shape), None, None, None, None


def test_gradcheck_catches_a_wrong_lrn_backward():
    x = minicnn.tensor(np.random.default_rng(2).standard_normal((1, 4, 2, 2)), requires_grad=True)
    assert_gradcheck(lambda a: LocalResponseNorm.apply(a, 3, 0.5, 0.75, 1.0), [x])
    with pytest.raises(GradcheckError):
        minicnn.gradcheck(lambda a: LRNWithoutCrossTerm.apply(a, 3, 0.5, 0.75, 1.0), [x])


# ---- local contrast normalisation ----------------------------------------------------------
def reference_lcn(x, size, sigma, eps):
    """Jarrett et al.'s subtractive and divisive normalisation, loops over the neighbourhood."""
    N, C, H, W = x.shape
    t = np.arange(size) - (size - 1) / 2
    g = np.exp(-t ** 2 / (2 * sigma ** 2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    r = size // 2

    def weighted_mean(field):  # field (N, C, H, W) -> (N, H, W), mean over channels and window
        out = np.zeros((N, H, W))
        for j in range(H):
            for k in range(W):
                total, weight = np.zeros(N), 0.0
                for p in range(-r, r + 1):
                    for q in range(-r, r + 1):
                        if 0 <= j + p < H and 0 <= k + q < W:
                            total += w[p + r, q + r] * field[:, :, j + p, k + q].sum(axis=1)
                            weight += w[p + r, q + r] * C
                out[:, j, k] = total / weight
        return out

    v = x - weighted_mean(x)[:, None]
    sd = np.sqrt(np.maximum(weighted_mean(v ** 2), eps ** 2))
    c = sd.mean(axis=(1, 2), keepdims=True)
    return v / np.maximum(c, sd)[:, None]


@settings(max_examples=10)
@given(shape=st.tuples(st.integers(1, 2), st.integers(1, 3), st.integers(2, 5), st.integers(2, 5)),
       size=st.sampled_from([1, 3, 5]), sigma=st.floats(0.5, 2.0), seed=st.integers(0, 2**16))
def test_lcn_matches_reference_and_gradcheck(shape, size, sigma, seed):
    x = np.random.default_rng(seed).standard_normal(shape)
    out = F.local_contrast_norm(minicnn.tensor(x), size, sigma)
    np.testing.assert_allclose(out.array, reference_lcn(x, size, sigma, 1e-4), rtol=1e-10, atol=1e-12)
    assert_gradcheck(lambda a: F.local_contrast_norm(a, size, sigma),
                     [minicnn.tensor(x, requires_grad=True)])


def test_lcn_removes_a_constant_and_normalises_contrast():
    flat = F.local_contrast_norm(minicnn.tensor(np.full((1, 2, 6, 6), 3.0))).array
    np.testing.assert_allclose(flat, 0, atol=1e-9)
    x = np.random.default_rng(3).standard_normal((1, 3, 8, 8))
    layer = nn.LocalContrastNorm(5)
    # scaling the input's contrast leaves the output unchanged (the divisive step undoes it)
    np.testing.assert_allclose(layer(minicnn.tensor(10 * x + 4)).array,
                               layer(minicnn.tensor(x)).array, rtol=1e-9, atol=1e-12)


# ---- batch normalisation -------------------------------------------------------------------
def reference_bn_train(x, weight, bias, eps):
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    mu = x.mean(axis=axes, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=axes, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * weight.reshape(shape) + bias.reshape(shape)


BN_SHAPES = st.one_of(st.tuples(st.integers(2, 4), st.integers(1, 3)),
                      st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(2, 3)),
                      st.tuples(st.integers(1, 2), st.integers(1, 3), st.integers(1, 3),
                                st.integers(2, 3)))


@settings(max_examples=20)
@given(shape=BN_SHAPES, training=st.booleans(), affine=st.booleans(), seed=st.integers(0, 2**16))
def test_batch_norm_matches_reference_and_gradcheck(shape, training, affine, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * 2 + 1
    C = shape[1]
    weight, bias = rng.standard_normal(C), rng.standard_normal(C)
    running_mean, running_var = rng.standard_normal(C), rng.uniform(0.5, 2, C)
    params = [minicnn.tensor(weight, requires_grad=True), minicnn.tensor(bias, requires_grad=True)]
    if training:
        expected = reference_bn_train(x, weight, bias, 1e-5)
    else:
        b = (1, -1) + (1,) * (x.ndim - 2)
        expected = ((x - running_mean.reshape(b)) / np.sqrt(running_var.reshape(b) + 1e-5)
                    * weight.reshape(b) + bias.reshape(b))
    out = F.batch_norm(minicnn.tensor(x), running_mean.copy(), running_var.copy(), weight, bias,
                       training)
    np.testing.assert_allclose(out.array, expected, rtol=1e-10, atol=1e-12)

    def fn(a, *weight_and_bias):
        return F.batch_norm(a, running_mean.copy(), running_var.copy(), *weight_and_bias,
                            training=training)
    assert_gradcheck(fn, [minicnn.tensor(x, requires_grad=True)] + (params if affine else []))


def test_batch_norm_hand_example():
    # one channel, values 1, 2, 3, 6: mean 3, biased var (4 + 1 + 0 + 9) / 4 = 3.5
    x = minicnn.tensor(np.array([[1.0], [2.0], [3.0], [6.0]]))
    rm, rv = np.zeros(1), np.ones(1)
    out = F.batch_norm(x, rm, rv, training=True, momentum=0.5, eps=1e-12)
    np.testing.assert_allclose(out.array.ravel(), (np.array([1, 2, 3, 6]) - 3) / np.sqrt(3.5))
    np.testing.assert_allclose(rm, [1.5])                   # 0.5 * 0 + 0.5 * 3
    np.testing.assert_allclose(rv, [0.5 + 0.5 * 14 / 3])    # unbiased variance 14 / 3


@pytest.mark.parametrize("momentum", [0.1, 0.3, None])
def test_running_stats_after_k_steps_match_closed_form(momentum):
    rng = np.random.default_rng(5)
    layer = nn.BatchNorm2d(3, momentum=momentum).double()
    batches = [rng.standard_normal((4, 3, 2, 2)) * (t + 1) + t for t in range(5)]
    for x in batches:
        layer(minicnn.tensor(x))
    means = [x.mean(axis=(0, 2, 3)) for x in batches]
    variances = [x.var(axis=(0, 2, 3), ddof=1) for x in batches]
    k = len(batches)
    if momentum is None:  # cumulative average
        expected_mean, expected_var = np.mean(means, axis=0), np.mean(variances, axis=0)
    else:  # r_k = (1-m)^k r_0 + sum_t m (1-m)^(k-t) s_t
        m = momentum
        weights = [m * (1 - m) ** (k - t) for t in range(1, k + 1)]
        expected_mean = sum(w * s for w, s in zip(weights, means))
        expected_var = (1 - m) ** k + sum(w * s for w, s in zip(weights, variances))
    np.testing.assert_allclose(layer.running_mean.array, expected_mean, rtol=1e-12)
    np.testing.assert_allclose(layer.running_var.array, expected_var, rtol=1e-12)
    assert int(layer.num_batches_tracked.array) == k


def test_eval_uses_running_stats_and_state_dict_holds_them():
    rng = np.random.default_rng(6)
    layer = nn.BatchNorm1d(2).double()
    layer.weight.array[:] = [2.0, 0.5]
    layer.bias.array[:] = [1.0, -1.0]
    for _ in range(3):
        layer(minicnn.tensor(rng.standard_normal((8, 2)) + 3))
    layer.eval()
    x = rng.standard_normal((5, 2))
    expected = ((x - layer.running_mean.array) / np.sqrt(layer.running_var.array + 1e-5)
                * [2.0, 0.5] + [1.0, -1.0])
    before = layer.running_mean.array.copy()
    np.testing.assert_allclose(layer(minicnn.tensor(x)).array, expected)
    np.testing.assert_array_equal(layer.running_mean.array, before)  # eval never updates
    state = layer.state_dict()
    assert set(state) == {"weight", "bias", "running_mean", "running_var", "num_batches_tracked"}
    fresh = nn.BatchNorm1d(2).double()
    fresh.load_state_dict(state)
    fresh.eval()
    np.testing.assert_allclose(fresh(minicnn.tensor(x)).array, expected)


def test_without_running_stats_batch_statistics_are_used_in_eval_too():
    layer = nn.BatchNorm2d(2, affine=False, track_running_stats=False).double().eval()
    x = np.random.default_rng(7).standard_normal((3, 2, 2, 2))
    np.testing.assert_allclose(layer(minicnn.tensor(x)).array,
                               reference_bn_train(x, np.ones(2), np.zeros(2), 1e-5))
    assert layer.state_dict() == {} and list(layer.parameters()) == []


def test_batch_norm_module_gradcheck():
    layer = nn.BatchNorm2d(3).double()
    x = minicnn.tensor(np.random.default_rng(8).standard_normal((2, 3, 2, 2)), requires_grad=True)
    assert_gradcheck(layer, [x])


@pytest.mark.parametrize("call, message", [
    (lambda: nn.BatchNorm1d(3)(minicnn.tensor(np.zeros((1, 3)))),
     "expected more than 1 value per channel when training"),
    (lambda: nn.BatchNorm2d(3)(minicnn.tensor(np.zeros((2, 4, 2, 2)))),
     "BatchNorm2d: expected 3 channels"),
    (lambda: nn.BatchNorm2d(3)(minicnn.tensor(np.zeros((2, 3, 2)))), "BatchNorm2d: expected a 4-D"),
    (lambda: F.batch_norm(minicnn.tensor(np.zeros((2, 3))), np.zeros(4), np.ones(4)),
     "batch_norm: running_mean should have shape \\(3,\\)"),
    (lambda: F.batch_norm(minicnn.tensor(np.zeros((2, 3))), None, None), "needed when training=False"),
    (lambda: F.local_response_norm(minicnn.tensor(np.zeros((2, 3, 4))), 0), "size must be a positive"),
    (lambda: F.local_contrast_norm(minicnn.tensor(np.zeros((1, 1, 4, 4))), 4), "positive odd int"),
    (lambda: nn.BatchNorm1d(3, momentum=1.5), "momentum must be in"),
])
def test_bad_input(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()
