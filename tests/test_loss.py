"""Losses against float64 closed forms, and their gradients against finite differences."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minicnn as mc
import minicnn.functional as F
from minicnn import nn
from minicnn.testing import arrays, assert_gradcheck, shapes


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


# ---- probability targets: the true gradient (issue 10, item 1) -------------------------------------
def test_cross_entropy_gradient_for_targets_not_summing_to_one():
    x, q = leaf([[1.0, 2.0, 3.0]]), leaf([[0.5, 0.5, 0.5]])
    F.cross_entropy(x, q).backward()
    p = np.exp([1.0, 2.0, 3.0]) / np.exp([1.0, 2.0, 3.0]).sum()
    np.testing.assert_allclose(x.grad.array[0], p * 1.5 - 0.5)  # softmax(x) * sum(q) - q
    np.testing.assert_allclose(x.grad.array[0], [-0.365, -0.133, 0.498], atol=5e-4)
    np.testing.assert_allclose(q.grad.array[0], -np.log(p))  # d/dq of -sum q log p


def reference_soft_cross_entropy(logits, target, weight, smoothing, reduction):
    """PyTorch's definition for probability targets, one prediction at a time."""
    c = logits.shape[1]
    rows = np.moveaxis(logits, 1, -1).reshape(-1, c)
    q = (1 - smoothing) * np.moveaxis(target, 1, -1).reshape(-1, c) + smoothing / c
    w = np.ones(c) if weight is None else weight
    losses = np.array([-(w * t * (r - r.max() - np.log(np.exp(r - r.max()).sum()))).sum()
                       for r, t in zip(rows, q)])
    losses = losses.reshape((logits.shape[0],) + logits.shape[2:])
    return {"mean": losses.mean(), "sum": losses.sum(), "none": losses}[reduction]


@settings(max_examples=30)
@given(case=classification(), smoothing=st.sampled_from([0.0, 0.2]), weighted=st.booleans(),
       reduction=st.sampled_from(["mean", "sum", "none"]))
def test_cross_entropy_probability_targets_with_weights(case, smoothing, weighted, reduction):
    logits, _ = case
    rng = np.random.default_rng(logits.size)
    target = rng.uniform(0, 1, logits.shape)  # rows need not sum to 1
    weight = rng.uniform(0.5, 2.0, logits.shape[1]) if weighted else None
    out = F.cross_entropy(leaf(logits), leaf(target), weight, reduction=reduction, label_smoothing=smoothing)
    np.testing.assert_allclose(out.array, reference_soft_cross_entropy(logits, target, weight, smoothing, reduction),
                               rtol=1e-10, atol=1e-12)
    assert_gradcheck(lambda x, t: F.cross_entropy(x, t, weight, reduction=reduction, label_smoothing=smoothing),
                     [leaf(logits), leaf(target)])


# ---- class weights and ignore_index --------------------------------------------------------------
def reference_weighted_cross_entropy(logits, target, weight, ignore_index, smoothing, reduction):
    """PyTorch's definition: loss_i = (1-e) w[t_i] (-log p[t_i]) + e/C sum_c w_c (-log p_c), 0 for
    ignored targets; "mean" divides by the sum of w[t_i] over the targets not ignored."""
    c = logits.shape[1]
    rows = np.moveaxis(logits, 1, -1).reshape(-1, c)
    w = np.ones(c) if weight is None else weight
    losses, total_weight = [], 0.0
    for r, t in zip(rows, target.reshape(-1)):
        if t == ignore_index:
            losses.append(0.0)
            continue
        log_p = r - r.max() - np.log(np.exp(r - r.max()).sum())
        losses.append(-(1 - smoothing) * w[t] * log_p[t] - smoothing / c * (w * log_p).sum())
        total_weight += w[t]
    losses = np.array(losses).reshape(target.shape)
    return {"mean": losses.sum() / total_weight, "sum": losses.sum(), "none": losses}[reduction]


@settings(max_examples=40)
@given(case=classification(), smoothing=st.sampled_from([0.0, 0.3]), weighted=st.booleans(),
       ignore=st.booleans(), reduction=st.sampled_from(["mean", "sum", "none"]))
def test_cross_entropy_and_nll_with_weight_and_ignore_index(case, smoothing, weighted, ignore, reduction):
    logits, target = case
    rng = np.random.default_rng(target.size)
    weight = rng.uniform(0.5, 2.0, logits.shape[1]) if weighted else None
    ignore_index = -100
    if ignore:
        target = np.where(rng.uniform(size=target.shape) < 0.3, ignore_index, target)
        target.flat[0] = 0  # at least one target counts
    expected = reference_weighted_cross_entropy(logits, target, weight, ignore_index, smoothing, reduction)
    kwargs = dict(ignore_index=ignore_index, reduction=reduction)
    out = F.cross_entropy(leaf(logits), target, weight, label_smoothing=smoothing, **kwargs)
    np.testing.assert_allclose(out.array, expected, rtol=1e-10, atol=1e-12)
    assert_gradcheck(lambda x: F.cross_entropy(x, target, weight, label_smoothing=smoothing, **kwargs),
                     [leaf(logits)])
    log_p = F.log_softmax(mc.tensor(logits), 1).array
    np.testing.assert_allclose(F.nll_loss(leaf(log_p), target, weight, **kwargs).array,
                               reference_weighted_cross_entropy(logits, target, weight, ignore_index, 0.0,
                                                                reduction), rtol=1e-10, atol=1e-12)
    assert_gradcheck(lambda x: F.nll_loss(x, target, weight, **kwargs), [leaf(log_p)])


def test_weighted_mean_is_pytorchs_and_all_ignored_is_nan():
    logits = np.zeros((3, 2))  # every -log p is log 2
    target = np.array([0, 1, 1])
    weight = np.array([1.0, 3.0])
    out = F.cross_entropy(leaf(logits), target, weight)
    np.testing.assert_allclose(out.item(), np.log(2) * (1 + 3 + 3) / (1 + 3 + 3))
    np.testing.assert_allclose(F.cross_entropy(leaf(logits), target, weight, reduction="sum").item(),
                               7 * np.log(2))
    assert np.isnan(F.cross_entropy(leaf(logits), np.array([5, 5, 5]), ignore_index=5).item())
    x = leaf(logits)
    F.cross_entropy(x, np.array([0, -100, 1])).backward()
    np.testing.assert_array_equal(x.grad.array[1], [0.0, 0.0])  # an ignored row gets no gradient


@pytest.mark.parametrize("call, error, match", [
    (lambda x: F.cross_entropy(x, np.array([0, 1]), np.ones(4)), ValueError,
     r"cross_entropy: weight must be a floating tensor of shape \(3,\)"),
    (lambda x: F.nll_loss(x, np.array([0, 1]), "sum"), TypeError, "nll_loss: weight must be a tensor.*reduction="),
    (lambda x: F.cross_entropy(x, np.array([0, 1]), ignore_index=1.0), TypeError,
     "cross_entropy: ignore_index must be an int"),
    (lambda x: F.cross_entropy(x, np.ones((2, 3)), ignore_index=0), ValueError,
     "cross_entropy: ignore_index is not supported with probability targets"),
    (lambda x: F.nll_loss(x, np.array([0, 7]), ignore_index=5), ValueError,
     r"nll_loss: target value 7 is outside \[0, 3\)"),
    (lambda x: F.cross_entropy(x.astype(np.int64), np.array([0, 1])), TypeError,
     "cross_entropy: input must be float32 or float64"),
])
def test_classification_loss_errors(call, error, match):
    with pytest.raises(error, match=match):
        call(leaf(np.zeros((2, 3))))


# ---- binary cross-entropy ------------------------------------------------------------------------
def reference_bce(x, y, weight=1.0):
    """PyTorch's definition for probabilities inside (0, 1), where no log reaches the -100 clamp."""
    return -weight * (y * np.log(x) + (1 - y) * np.log(1 - x))


REDUCE = {"mean": np.mean, "sum": np.sum, "none": lambda a: a}


@settings(max_examples=30)
@given(x=arrays(shapes(max_dims=3), low=0.02, high=0.98), reduction=st.sampled_from(["mean", "sum", "none"]),
       weighted=st.booleans())
def test_binary_cross_entropy(x, reduction, weighted):
    rng = np.random.default_rng(x.size)
    y = rng.uniform(0, 1, x.shape)
    weight = rng.uniform(0.5, 2, x.shape[-1:]) if weighted else None
    expected = REDUCE[reduction](reference_bce(x, y, 1.0 if weight is None else weight))
    np.testing.assert_allclose(F.binary_cross_entropy(leaf(x), leaf(y), weight, reduction=reduction).array, expected,
                               rtol=1e-10)
    assert_gradcheck(lambda a, b: F.binary_cross_entropy(a, b, weight, reduction=reduction), [leaf(x), leaf(y)])


def test_binary_cross_entropy_clamps_the_log_at_minus_100():
    x, y = leaf([0.0, 1.0, 0.0, 1.0]), leaf([1.0, 0.0, 0.0, 1.0])
    out = F.binary_cross_entropy(x, y, reduction="none")
    np.testing.assert_array_equal(out.array, [100.0, 100.0, 0.0, 0.0])
    out.sum().backward()
    assert np.isfinite(x.grad.array).all()  # PyTorch's (x - y) / max(x (1 - x), 1e-12)
    np.testing.assert_allclose(x.grad.array, [-1e12, 1e12, 0.0, 0.0])


def reference_bce_with_logits(x, y, weight=1.0, pos_weight=1.0):
    s = 1 / (1 + np.exp(-x))
    return -weight * (pos_weight * y * np.log(s) + (1 - y) * np.log(1 - s))


@settings(max_examples=30)
@given(x=arrays(shapes(min_dims=1, max_dims=3), low=-6.0, high=6.0), reduction=st.sampled_from(["mean", "sum", "none"]),
       weighted=st.booleans())
def test_binary_cross_entropy_with_logits(x, reduction, weighted):
    rng = np.random.default_rng(x.size)
    y = rng.uniform(0, 1, x.shape)
    weight = rng.uniform(0.5, 2, x.shape) if weighted else None
    pos_weight = rng.uniform(0.5, 3, x.shape[-1:]) if weighted else None
    expected = REDUCE[reduction](reference_bce_with_logits(x, y, 1.0 if weight is None else weight,
                                                           1.0 if pos_weight is None else pos_weight))
    out = F.binary_cross_entropy_with_logits(leaf(x), leaf(y), weight, reduction=reduction,
                                              pos_weight=pos_weight)
    np.testing.assert_allclose(out.array, expected, rtol=1e-10, atol=1e-12)
    assert_gradcheck(lambda a, b: F.binary_cross_entropy_with_logits(a, b, weight, reduction=reduction,
                                                                       pos_weight=pos_weight),
                     [leaf(x), leaf(y)])


def test_binary_cross_entropy_with_logits_is_stable():
    x = leaf([1000.0, -1000.0, 1000.0])
    out = F.binary_cross_entropy_with_logits(x, leaf([0.0, 1.0, 1.0]), reduction="none")
    np.testing.assert_allclose(out.array, [1000.0, 1000.0, 0.0])  # closed forms: softplus(+-x)
    out.sum().backward()
    np.testing.assert_allclose(x.grad.array, [1.0, -1.0, 0.0])


@pytest.mark.parametrize("call, error, match", [
    (lambda: F.binary_cross_entropy(leaf([0.5, 1.5]), leaf([0.0, 1.0])), ValueError,
     r"binary_cross_entropy: input must hold probabilities in \[0, 1\]"),
    (lambda: F.binary_cross_entropy(leaf([0.5, 0.5]), leaf([1.0])), ValueError,
     r"binary_cross_entropy: input shape \(2,\) and target shape \(1,\) differ"),
    (lambda: F.binary_cross_entropy_with_logits(leaf([0.5]), np.array([1])), TypeError,
     "binary_cross_entropy_with_logits: target must be floating"),
    (lambda: F.binary_cross_entropy_with_logits(leaf(np.zeros((2, 3))), leaf(np.zeros((2, 3))),
                                                pos_weight=np.ones(2)), ValueError,
     r"binary_cross_entropy_with_logits: pos_weight of shape \(2,\) does not broadcast"),
    (lambda: F.binary_cross_entropy(leaf([0.5]), leaf([1.0]), reduction="avg"), ValueError,
     "binary_cross_entropy: reduction must be one of"),
])
def test_binary_cross_entropy_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


# ---- l1 and smooth l1 ----------------------------------------------------------------------------
def reference_smooth_l1(d, beta):
    return np.where(np.abs(d) < beta, 0.5 * d * d / beta, np.abs(d) - 0.5 * beta)


@settings(max_examples=30)
@given(pair=arrays(shapes(max_dims=3)).map(lambda a: (a, np.random.default_rng(a.size).standard_normal(a.shape))),
       beta=st.sampled_from([0.0, 0.5, 1.0]), reduction=st.sampled_from(["mean", "sum", "none"]))
def test_l1_and_smooth_l1(pair, beta, reduction):
    x, y = pair
    d = x - y
    x = np.where(np.abs(np.abs(d) - beta) < 1e-3, x + 0.01, x)  # off the kinks at |d| = beta (and 0)
    d = x - y
    np.testing.assert_allclose(F.l1_loss(leaf(x), leaf(y), reduction=reduction).array, REDUCE[reduction](np.abs(d)))
    expected = REDUCE[reduction](np.abs(d) if beta == 0 else reference_smooth_l1(d, beta))
    np.testing.assert_allclose(F.smooth_l1_loss(leaf(x), leaf(y), reduction=reduction, beta=beta).array, expected, rtol=1e-12)
    assert_gradcheck(lambda a, b: F.l1_loss(a, b, reduction=reduction), [leaf(x), leaf(y)])
    assert_gradcheck(lambda a, b: F.smooth_l1_loss(a, b, reduction=reduction, beta=beta), [leaf(x), leaf(y)])


def test_regression_loss_errors():
    with pytest.raises(ValueError, match=r"l1_loss: input shape \(2,\) and target shape \(3,\) differ"):
        F.l1_loss(leaf([1.0, 2.0]), leaf([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="smooth_l1_loss: beta must be a non-negative number"):
        F.smooth_l1_loss(leaf([1.0]), leaf([1.0]), beta=-1.0)


# ---- loss modules ----------------------------------------------------------------------------------
def test_loss_modules_match_the_functions():
    rng = np.random.default_rng(0)
    logits, target = rng.standard_normal((4, 3)), np.array([0, 2, -100, 1])
    weight = mc.tensor(rng.uniform(0.5, 2, 3))
    module = nn.CrossEntropyLoss(weight=weight, label_smoothing=0.1)
    assert set(module.state_dict()) == {"weight"}
    np.testing.assert_array_equal(module(leaf(logits), target).array,
                                  F.cross_entropy(leaf(logits), target, weight, label_smoothing=0.1).array)
    log_p = F.log_softmax(mc.tensor(logits), 1)
    np.testing.assert_array_equal(nn.NLLLoss(reduction="sum")(log_p, target).array,
                                  F.nll_loss(log_p, target, reduction="sum").array)
    p, y = rng.uniform(0.1, 0.9, (4, 3)), rng.uniform(0, 1, (4, 3))
    pairs = [(nn.MSELoss(), F.mse_loss), (nn.L1Loss(), F.l1_loss), (nn.SmoothL1Loss(beta=0.5),
             lambda a, b: F.smooth_l1_loss(a, b, beta=0.5)), (nn.BCELoss(), F.binary_cross_entropy),
             (nn.BCEWithLogitsLoss(pos_weight=mc.tensor(np.full(3, 2.0))),
              lambda a, b: F.binary_cross_entropy_with_logits(a, b, pos_weight=np.full(3, 2.0)))]
    for module, function in pairs:
        np.testing.assert_array_equal(module(leaf(p), leaf(y)).array, function(leaf(p), leaf(y)).array)
    with pytest.raises(ValueError, match="MSELoss: reduction must be one of"):
        nn.MSELoss(reduction="avg")


def test_cross_entropy_takes_targets_as_lists():
    x = leaf(np.zeros((2, 3)))
    np.testing.assert_allclose(F.cross_entropy(x, [[0.2, 0.3, 0.5], [1.0, 0.0, 0.0]]).item(), np.log(3), rtol=1e-6)
    np.testing.assert_allclose(F.cross_entropy(x, [0, 2]).item(), np.log(3))
