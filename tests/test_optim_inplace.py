"""The optimisers update parameters in place, by PyTorch's formulas, in the parameter's dtype.

The reference is each update rule written out in float64 NumPy from its formula (PyTorch's
documentation of SGD, Adam and AdamW), run step by step beside the optimiser.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minicnn as mc
from minicnn import nn, optim
from minicnn.testing import shapes


def sgd_reference(p, grads, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    buf = None
    for g in grads:
        d = g + weight_decay * p
        if momentum:
            buf = d if buf is None else momentum * buf + (1 - dampening) * d
            d = d + momentum * buf if nesterov else buf
        p = p - lr * d
    return p


def adam_reference(p, grads, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled=False):
    m = v = np.zeros_like(p)
    for t, g in enumerate(grads, start=1):
        if decoupled:
            p = p * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * p
        m = betas[0] * m + (1 - betas[0]) * g
        v = betas[1] * v + (1 - betas[1]) * g * g
        p = p - lr / (1 - betas[0] ** t) * m / (np.sqrt(v / (1 - betas[1] ** t)) + eps)
    return p


def run_steps(optimizer, p, grads):
    for g in grads:
        p.grad = mc.tensor(g.astype(p.dtype))
        optimizer.step()


OPTIONS = st.sampled_from([
    ("sgd", dict(lr=0.1)),
    ("sgd", dict(lr=0.1, momentum=0.9)),
    ("sgd", dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.01)),
    ("sgd", dict(lr=0.1, momentum=0.9, weight_decay=0.1, nesterov=True)),
    ("adam", dict(lr=0.1)),
    ("adam", dict(lr=0.01, betas=(0.8, 0.9), weight_decay=0.1)),
    ("adamw", dict(lr=0.01, weight_decay=0.1)),
])


def build(kind, params, options):
    return {"sgd": optim.SGD, "adam": optim.Adam, "adamw": optim.AdamW}[kind](params, **options)


def reference(kind, p, grads, options):
    if kind == "sgd":
        return sgd_reference(p, grads, **options)
    return adam_reference(p, grads, decoupled=kind == "adamw", **options)


@settings(max_examples=25, deadline=None)
@given(shape=shapes(min_dims=0, max_dims=3, min_side=0, max_side=5), setting=OPTIONS,
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2 ** 16))
def test_updates_follow_the_formulas_in_place(shape, setting, dtype, seed):
    kind, options = setting
    rng = np.random.default_rng(seed)
    start = rng.standard_normal(shape)
    grads = [rng.standard_normal(shape) for _ in range(3)]
    p = nn.Parameter(start.astype(dtype))
    memory, view = p.array, p.data
    run_steps(build(kind, [p], options), p, grads)
    expected = reference(kind, start, grads, options)
    tolerance = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(p.array, expected, rtol=tolerance, atol=tolerance)
    assert p.array is memory and p.dtype == dtype
    np.testing.assert_array_equal(view.array, p.array)  # p.data taken before the steps is not stale


@pytest.mark.parametrize("kind, options", [("sgd", dict(lr=0.1, momentum=0.9, nesterov=True)),
                                             ("adamw", dict(lr=0.1, weight_decay=0.01))])
@pytest.mark.parametrize("shape", [(4, 3), (200, 180)])  # the serial and the parallel kernel
def test_a_non_contiguous_parameter_is_updated_in_its_own_memory(kind, options, shape):
    rng = np.random.default_rng(0)
    start = rng.standard_normal(shape)
    p = nn.Parameter(np.asfortranarray(start))
    memory = p.array
    grads = [rng.standard_normal(shape) for _ in range(2)]
    run_steps(build(kind, [p], options), p, grads)
    assert p.array is memory
    np.testing.assert_allclose(p.array, reference(kind, start, grads, options), rtol=1e-12)


@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_a_step_between_forward_and_backward_fails_loudly(kind):
    # the graph saved w; the step changes w's memory, so backward must refuse (as PyTorch does)
    w = nn.Parameter(np.ones((3, 3)))
    x = mc.tensor(np.ones((2, 3)), requires_grad=True)
    loss = mc.matmul(x, w).sum()
    w.grad = mc.tensor(np.ones((3, 3)))
    build(kind, [w], dict(lr=0.1)).step()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()


def test_a_read_only_parameter_is_refused_with_a_clear_error():
    values = np.ones(3)
    values.flags.writeable = False
    p = nn.Parameter(values)
    p.grad = mc.tensor(np.ones(3))
    with pytest.raises(ValueError, match="read-only"):
        optim.SGD([p], lr=0.1).step()


def test_inf_stays_inf_without_weight_decay():
    # weight_decay = 0 adds nothing (0 * inf would be NaN), as in PyTorch
    p = nn.Parameter(np.array([np.inf, 1.0]))
    p.grad = mc.tensor(np.array([1.0, 1.0]))
    optim.SGD([p], lr=0.1, momentum=0.9).step()
    assert p.array[0] == np.inf and p.array[1] == pytest.approx(0.9)
