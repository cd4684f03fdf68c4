"""Losses against float64 closed forms, and their gradients against finite differences."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minicnn as mc
import minicnn.functional as F
from minicnn.testing import assert_gradcheck


def leaf(a):
    return mc.tensor(np.asarray(a, np.float64), requires_grad=True)


def reference_cross_entropy(logits, target, smoothing, reduction):
    """Written from the definition, one prediction at a time."""
    n, c = logits.shape[0], logits.shape[1]
    rows = np.moveaxis(logits, 1, -1).reshape(-1, c)
    losses = []
    for row, t in zip(rows, np.asarray(target).reshape(-1)):
        log_p = row - np.log(np.sum(np.exp(row - row.max()))) - row.max()
        losses.append(-(1 - smoothing) * log_p[t] - smoothing / c * log_p.sum())
    losses = np.array(losses).reshape(np.asarray(target).shape)
    return {"mean": losses.mean(), "sum": losses.sum(), "none": losses}[reduction]


@st.composite
def classification(draw):
    n, c = draw(st.integers(1, 5)), draw(st.integers(2, 5))
    extra = draw(st.lists(st.integers(1, 3), max_size=2))
    rng = np.random.default_rng(draw(st.integers(0, 1000)))
    logits = rng.standard_normal((n, c, *extra)) * 3
    target = rng.integers(0, c, (n, *extra))
    return logits, target


@given(case=classification(), smoothing=st.sampled_from([0.0, 0.1, 0.5]),
       reduction=st.sampled_from(["mean", "sum", "none"]))
def test_cross_entropy(case, smoothing, reduction):
    logits, target = case
    out = F.cross_entropy(leaf(logits), target, reduction=reduction, label_smoothing=smoothing)
    np.testing.assert_allclose(out.array, reference_cross_entropy(logits, target, smoothing, reduction),
                               rtol=1e-10, atol=1e-12)
    assert_gradcheck(lambda x: F.cross_entropy(x, target, reduction=reduction, label_smoothing=smoothing),
                     [leaf(logits)])


def test_cross_entropy_with_probability_targets():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((4, 3))
    probs = rng.dirichlet(np.ones(3), 4)
    log_p = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    out = F.cross_entropy(leaf(logits), probs)
    np.testing.assert_allclose(out.item(), -(probs * log_p).sum(1).mean())
    assert_gradcheck(lambda x: F.cross_entropy(x, probs), [leaf(logits)])


def test_cross_entropy_is_stable_for_huge_logits():
    out = F.cross_entropy(mc.tensor(np.array([[1000.0, -1000.0]])), np.array([1]))
    assert out.item() == pytest.approx(2000.0)


def test_cross_entropy_float32_result_and_gradient():
    x = mc.tensor(np.zeros((2, 4), np.float32), requires_grad=True)
    loss = F.cross_entropy(x, np.array([0, 3]))
    assert loss.dtype == np.float32 and loss.item() == pytest.approx(np.log(4))
    loss.backward()
    np.testing.assert_allclose(x.grad.array, [[-0.375, 0.125, 0.125, 0.125], [0.125, 0.125, 0.125, -0.375]])


@pytest.mark.parametrize("target, error, match", [
    (np.array([0, 5]), ValueError, r"target value 5 is outside \[0, 3\)"),
    (np.array([0, -1]), ValueError, "target value -1"),
    (np.array([0, 1, 2]), ValueError, r"needs target of shape \(2,\)"),
    (np.array([0.0, 1.0]), ValueError, "probability targets must have the input's shape"),
    (np.array([[0, 1]]), ValueError, "needs target of shape"),
])
def test_cross_entropy_bad_targets(target, error, match):
    with pytest.raises(error, match=match):
        F.cross_entropy(leaf(np.zeros((2, 3))), target)


def test_cross_entropy_bad_arguments():
    with pytest.raises(ValueError, match="reduction must be one of"):
        F.cross_entropy(leaf(np.zeros((2, 3))), np.array([0, 1]), reduction="avg")
    with pytest.raises(ValueError, match=r"label_smoothing must be in \[0, 1\]"):
        F.cross_entropy(leaf(np.zeros((2, 3))), np.array([0, 1]), label_smoothing=1.5)
    with pytest.raises(ValueError, match=r"input must be \(N, C\)"):
        F.cross_entropy(leaf(np.zeros(3)), np.array([0]))


@given(case=classification(), reduction=st.sampled_from(["mean", "sum", "none"]))
def test_nll_loss(case, reduction):
    logits, target = case
    log_p = F.log_softmax(mc.tensor(logits), 1).array
    picked = np.take_along_axis(log_p, target[:, None], 1)[:, 0]
    expected = {"mean": -picked.mean(), "sum": -picked.sum(), "none": -picked}[reduction]
    np.testing.assert_allclose(F.nll_loss(leaf(log_p), target, reduction=reduction).array, expected)
    assert_gradcheck(lambda x: F.nll_loss(x, target, reduction=reduction), [leaf(log_p)])
    # log_softmax followed by nll_loss is cross_entropy
    np.testing.assert_allclose(F.nll_loss(F.log_softmax(leaf(logits), 1), target, reduction=reduction).array,
                               F.cross_entropy(leaf(logits), target, reduction=reduction).array, rtol=1e-12)


def test_mse_loss():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    np.testing.assert_allclose(F.mse_loss(leaf(a), b).item(), ((a - b) ** 2).mean())
    np.testing.assert_allclose(F.mse_loss(leaf(a), b, "sum").item(), ((a - b) ** 2).sum())
    assert F.mse_loss(leaf(a), b, "none").shape == (3, 4)
    assert_gradcheck(lambda x, y: F.mse_loss(x, y), [leaf(a), leaf(b)])
    with pytest.raises(ValueError, match=r"mse_loss: input shape \(3, 4\) and target shape \(4,\) differ"):
        F.mse_loss(leaf(a), np.ones(4))
