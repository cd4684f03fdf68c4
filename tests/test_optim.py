"""Optimiser updates against steps computed by hand (two steps each, scalar parameter p0 = 1)."""
import numpy as np
import pytest

import minicnn as mc
from minicnn import nn, optim


def run(optimizer_cls, grads, **kwargs):
    p = nn.Parameter(np.array([1.0]))
    opt = optimizer_cls([p], **kwargs)
    values = []
    for g in grads:
        p.grad = mc.tensor(np.array([g]))
        opt.step()
        values.append(p.array[0])
    return values


def test_sgd_plain():
    # p <- p - lr g: 1 - 0.1*0.5 = 0.95, then 0.95 + 0.1*1.0 = 1.05
    assert run(optim.SGD, [0.5, -1.0], lr=0.1) == pytest.approx([0.95, 1.05])


def test_sgd_momentum_and_weight_decay():
    # step 1: g = 0.5 + 0.01*1 = 0.51, b = 0.51, p = 1 - 0.051 = 0.949
    # step 2: g = 0.5 + 0.01*0.949 = 0.50949, b = 0.9*0.51 + 0.50949 = 0.96849, p = 0.949 - 0.096849
    values = run(optim.SGD, [0.5, 0.5], lr=0.1, momentum=0.9, weight_decay=0.01)
    assert values == pytest.approx([0.949, 0.852151], abs=1e-12)


def test_sgd_nesterov():
    # step 1: g = 0.51, b = 0.51, g + 0.9 b = 0.969, p = 0.9031
    # step 2: g = 0.509031, b = 0.459 + 0.509031 = 0.968031, g + 0.9 b = 1.3802589, p = 0.76507411
    values = run(optim.SGD, [0.5, 0.5], lr=0.1, momentum=0.9, weight_decay=0.01, nesterov=True)
    assert values == pytest.approx([0.9031, 0.76507411], abs=1e-12)


def test_sgd_dampening():
    # step 2: b = 0.9*0.5 + (1-0.5)*0.5 = 0.7; p = 0.95 - 0.07
    assert run(optim.SGD, [0.5, 0.5], lr=0.1, momentum=0.9, dampening=0.5) == pytest.approx([0.95, 0.88])


def test_adam():
    # step 1: m = 0.05, v = 0.00025, m^ = 0.5, v^ = 0.25: p = 1 - 0.1 * 0.5 / (0.5 + 1e-8)
    # step 2 (g = -1): m = -0.055, v = 0.00124975, m^ = -0.289473..., v^ = 0.625187...
    values = run(optim.Adam, [0.5, -1.0], lr=0.1)
    assert values == pytest.approx([0.9000000019999999, 0.9366103542405653], abs=1e-12)


def test_adam_weight_decay_is_l2_through_the_gradient():
    values = run(optim.Adam, [0.5, -1.0], lr=0.1, weight_decay=0.1)
    assert values == pytest.approx([0.9000000016666666, 0.9252635194456063], abs=1e-12)


def test_adamw_decays_the_weight_directly():
    # step 1: p = 1 * (1 - 0.1*0.1) = 0.99, then the Adam step of 0.1: 0.89
    values = run(optim.AdamW, [0.5, -1.0], lr=0.1, weight_decay=0.1)
    assert values == pytest.approx([0.8900000019999998, 0.9177103542205652], abs=1e-12)


def test_parameters_without_grad_are_skipped_and_dtype_kept():
    a = nn.Parameter(np.ones(2, np.float32))
    b = nn.Parameter(np.ones(2, np.float32))
    opt = optim.Adam([a, b], lr=0.1)
    a.grad = mc.tensor(np.ones(2, np.float32))
    opt.step()
    assert (b.array == 1).all() and (a.array < 1).all() and a.dtype == np.float32


def test_param_groups_have_their_own_settings():
    a, b = nn.Parameter(np.array([1.0])), nn.Parameter(np.array([1.0]))
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 1.0}], lr=0.1)
    a.grad = b.grad = mc.tensor(np.array([1.0]))
    opt.step()
    assert a.array[0] == pytest.approx(0.9) and b.array[0] == pytest.approx(0.0)


@pytest.mark.parametrize("cls, kwargs", [(optim.SGD, dict(lr=0.1, momentum=0.9)), (optim.Adam, dict(lr=0.1)),
                                         (optim.AdamW, dict(lr=0.1))])
def test_state_dict_resumes_exactly(cls, kwargs):
    grads = [0.5, -1.0, 0.25, 2.0]
    uninterrupted = run(cls, grads, **kwargs)
    p = nn.Parameter(np.array([1.0]))
    opt = cls([p], **kwargs)
    for g in grads[:2]:
        p.grad = mc.tensor(np.array([g]))
        opt.step()
    saved, value = opt.state_dict(), p.array.copy()
    q = nn.Parameter(value)
    resumed = cls([q], **kwargs)
    resumed.load_state_dict(saved)
    for g in grads[2:]:
        q.grad = mc.tensor(np.array([g]))
        resumed.step()
    assert q.array[0] == pytest.approx(uninterrupted[-1], abs=1e-12)


def test_zero_grad():
    p = nn.Parameter(np.ones(2))
    p.grad = mc.tensor(np.ones(2))
    opt = optim.SGD([p], lr=0.1)
    opt.zero_grad(set_to_none=False)
    assert (p.grad.array == 0).all()
    opt.zero_grad()
    assert p.grad is None


def test_bad_arguments():
    p = nn.Parameter(np.ones(2))
    with pytest.raises(ValueError, match="learning rate must be >= 0"):
        optim.SGD([p], lr=-1)
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="betas"):
        optim.Adam([p], betas=(1.0, 0.9))
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.Adam([])
    with pytest.raises(TypeError, match="must be Tensors"):
        optim.SGD([np.ones(2)], lr=0.1)
    with pytest.raises(ValueError, match="more than one group"):
        optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1)


def test_training_reduces_the_loss():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 3))
    y = x @ np.array([[1.0], [-2.0], [0.5]])
    model = nn.Linear(3, 1, generator=rng).double()
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for _ in range(300):
        opt.zero_grad()
        loss = mc.functional.mse_loss(model(mc.tensor(x)), y)
        loss.backward()
        opt.step()
    assert loss.item() < 1e-6


def rmsprop_by_hand(grads, lr, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
    """PyTorch's documented RMSprop algorithm, scalar by scalar."""
    p, v, a, b, values = 1.0, 0.0, 0.0, 0.0, []
    for g in grads:
        g = g + weight_decay * p
        v = alpha * v + (1 - alpha) * g * g
        denom = v
        if centered:
            a = alpha * a + (1 - alpha) * g
            denom = v - a * a
        if momentum:
            b = momentum * b + g / (denom ** 0.5 + eps)
            p = p - lr * b
        else:
            p = p - lr * g / (denom ** 0.5 + eps)
        values.append(p)
    return values


@pytest.mark.parametrize("kwargs", [dict(), dict(weight_decay=0.1), dict(momentum=0.9),
                                    dict(centered=True, momentum=0.5, alpha=0.9)])
def test_rmsprop(kwargs):
    grads = [0.5, -1.0, 0.25, 2.0]
    assert run(optim.RMSprop, grads, lr=0.01, **kwargs) == pytest.approx(
        rmsprop_by_hand(grads, 0.01, **kwargs), abs=1e-12)


def test_rmsprop_first_step_by_hand():
    # v = 0.01 * 0.25 = 0.0025, sqrt = 0.05: p = 1 - 0.01 * 0.5 / 0.05 = 0.9 (eps aside)
    assert run(optim.RMSprop, [0.5], lr=0.01, eps=0.0) == pytest.approx([0.9], abs=1e-12)


def test_adagrad():
    # step 1: sum = 0.1 + 0.25, p = 1 - 0.1 * 0.5 / sqrt(0.35)
    # step 2: lr_t = 0.1 / (1 + 0.5), sum = 0.35 + 1, p -= lr_t * (-1) / sqrt(1.35)
    first = 1 - 0.1 * 0.5 / (0.35 ** 0.5 + 1e-10)
    second = first + (0.1 / 1.5) / (1.35 ** 0.5 + 1e-10)
    assert run(optim.Adagrad, [0.5, -1.0], lr=0.1, lr_decay=0.5, initial_accumulator_value=0.1) == pytest.approx(
        [first, second], abs=1e-12)
    # weight decay goes through the gradient: g = 0.5 + 0.2 * 1
    assert run(optim.Adagrad, [0.5], lr=0.1, weight_decay=0.2) == pytest.approx([1 - 0.1 * 0.7 / 0.7], abs=1e-9)


@pytest.mark.parametrize("cls, kwargs", [(optim.RMSprop, dict(lr=0.01, momentum=0.9, centered=True)),
                                         (optim.Adagrad, dict(lr=0.1, lr_decay=0.1))])
def test_new_optimisers_resume_exactly(cls, kwargs):
    test_state_dict_resumes_exactly(cls, kwargs)


def test_param_groups_from_module_generators_for_transfer_learning():
    body, head = nn.Linear(2, 2), nn.Linear(2, 1)
    opt = optim.SGD([{"params": body.parameters(), "lr": 1e-4}, {"params": head.parameters()}], lr=0.1)
    assert [g["lr"] for g in opt.param_groups] == [1e-4, 0.1]
    assert [len(g["params"]) for g in opt.param_groups] == [2, 2]


def test_new_optimisers_bad_arguments():
    p = nn.Parameter(np.ones(2))
    with pytest.raises(ValueError, match="RMSprop: alpha"):
        optim.RMSprop([p], alpha=1.5)
    with pytest.raises(ValueError, match="Adagrad: lr_decay"):
        optim.Adagrad([p], lr_decay=-1)
