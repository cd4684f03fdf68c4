"""Learning-rate schedules against their closed forms (PyTorch's documented formulas) over many steps."""
import math

import numpy as np
import pytest

from minicnn import nn, optim
from minicnn.optim import lr_scheduler


def sgd(lr=0.1, momentum=0.9, groups=1):
    params = [nn.Parameter(np.ones(1)) for _ in range(groups)]
    return optim.SGD([{"params": [p], "lr": lr * (i + 1)} for i, p in enumerate(params)], lr=lr, momentum=momentum)


def rates(scheduler, steps):
    """The first group's rate at epochs 0 .. steps-1."""
    out = []
    for _ in range(steps):
        out.append(scheduler.optimizer.param_groups[0]["lr"])
        scheduler.step()
    return out


def test_step_lr():
    s = lr_scheduler.StepLR(sgd(), step_size=7, gamma=0.5)
    assert rates(s, 40) == pytest.approx([0.1 * 0.5 ** (t // 7) for t in range(40)], rel=1e-12)
    assert s.optimizer.param_groups[0]["initial_lr"] == 0.1 and s.last_epoch == 40


def test_multistep_lr_each_group_from_its_own_rate():
    opt = sgd(groups=2)
    s = lr_scheduler.MultiStepLR(opt, milestones=[30, 60, 60], gamma=0.1)
    for t in range(90):
        expected = 0.1 ** (sum(m <= t for m in (30, 60, 60)))
        assert s.get_last_lr() == pytest.approx([0.1 * expected, 0.2 * expected], rel=1e-9)
        s.step()


@pytest.mark.parametrize("eta_min", [0.0, 0.01])
def test_cosine_annealing_matches_the_closed_form_and_its_continuation(eta_min):
    s = lr_scheduler.CosineAnnealingLR(sgd(), T_max=10, eta_min=eta_min)
    closed = [eta_min + (0.1 - eta_min) * (1 + math.cos(math.pi * t / 10)) / 2 for t in range(35)]
    assert rates(s, 35) == pytest.approx(closed, abs=1e-12)


def test_linear_warmup():
    s = lr_scheduler.LinearLR(sgd(), start_factor=0.25, end_factor=1.0, total_iters=4)
    closed = [0.1 * (0.25 + 0.75 * min(t, 4) / 4) for t in range(10)]
    assert rates(s, 10) == pytest.approx(closed, rel=1e-12)


def test_sequential_warmup_then_cosine():
    opt = sgd()
    warm = lr_scheduler.LinearLR(opt, start_factor=0.1, total_iters=3)
    cosine = lr_scheduler.CosineAnnealingLR(opt, T_max=7)
    s = lr_scheduler.SequentialLR(opt, [warm, cosine], milestones=[3])
    closed = [0.1 * (0.1 + 0.9 * t / 3) for t in range(3)] + [0.1 * (1 + math.cos(math.pi * t / 7)) / 2 for t in range(8)]
    assert rates(s, 11) == pytest.approx(closed, abs=1e-12)


def one_cycle_closed_form(t, total, max_lr, pct, div, final_div, three_phase, strategy):
    def anneal(a, b, p):
        return b + (a - b) * (1 + math.cos(math.pi * p)) / 2 if strategy == "cos" else a + (b - a) * p
    lo, hi = max_lr / div, max_lr
    floor = lo / final_div
    up = pct * total - 1
    if three_phase:
        phases = [(0, up, lo, hi, .95, .85), (up, 2 * pct * total - 2, hi, lo, .85, .95), (2 * pct * total - 2, total - 1, lo, floor, .95, .95)]
    else:
        phases = [(0, up, lo, hi, .95, .85), (up, total - 1, hi, floor, .85, .95)]
    for i, (start, end, a, b, ma, mb) in enumerate(phases):
        if t <= end or i == len(phases) - 1:
            p = (t - start) / (end - start)
            return anneal(a, b, p), anneal(ma, mb, p)


@pytest.mark.parametrize("three_phase, strategy", [(False, "cos"), (False, "linear"), (True, "cos")])
def test_one_cycle_rate_and_momentum(three_phase, strategy):
    opt = sgd()
    s = lr_scheduler.OneCycleLR(opt, max_lr=1.0, epochs=5, steps_per_epoch=20, pct_start=0.25,
                                anneal_strategy=strategy, three_phase=three_phase, div_factor=10, final_div_factor=100)
    for t in range(100):
        lr, momentum = one_cycle_closed_form(t, 100, 1.0, 0.25, 10, 100, three_phase, strategy)
        assert opt.param_groups[0]["lr"] == pytest.approx(lr, abs=1e-12)
        assert opt.param_groups[0]["momentum"] == pytest.approx(momentum, abs=1e-12)
        s.step()
    with pytest.raises(ValueError, match="more than total_steps"):
        s.step()
        s.step()


def test_one_cycle_cycles_adam_beta1():
    opt = optim.Adam([nn.Parameter(np.ones(1))], lr=1e-3)
    lr_scheduler.OneCycleLR(opt, max_lr=0.01, total_steps=10)
    assert opt.param_groups[0]["betas"] == (0.95, 0.999)
    with pytest.raises(ValueError, match="cycle_momentum"):
        lr_scheduler.OneCycleLR(optim.Adagrad([nn.Parameter(np.ones(1))]), max_lr=0.01, total_steps=10)


def plateau_by_hand(losses, lr, factor, patience, cooldown, threshold, min_lr):
    """The rule as AlexNet states it, made exact: reduce after more than `patience` epochs whose loss
    is not below best * (1 - threshold); then ignore `cooldown` epochs."""
    best, bad, cool, out = math.inf, 0, 0, []
    for loss in losses:
        if loss < best * (1 - threshold):
            best, bad = loss, 0
        else:
            bad += 1
        if cool:
            cool, bad = cool - 1, 0
        if bad > patience:
            lr, cool, bad = max(lr * factor, min_lr), cooldown, 0
        out.append(lr)
    return out


def test_reduce_on_plateau():
    losses = [1.0, 0.9, 0.9, 0.9, 0.9, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8]
    opt = sgd()
    s = lr_scheduler.ReduceLROnPlateau(opt, factor=0.1, patience=2, cooldown=1, min_lr=1e-4)
    got = []
    for loss in losses:
        s.step(loss)
        got.append(opt.param_groups[0]["lr"])
    assert got == pytest.approx(plateau_by_hand(losses, 0.1, 0.1, 2, 1, 1e-4, 1e-4), rel=1e-12)
    assert got[4] == pytest.approx(0.01) and got[-1] == pytest.approx(1e-4)  # reduced, and floored


def test_reduce_on_plateau_max_mode_abs_threshold():
    opt = sgd()
    s = lr_scheduler.ReduceLROnPlateau(opt, mode="max", patience=0, threshold=0.05, threshold_mode="abs")
    for accuracy in (0.5, 0.6, 0.62):  # 0.62 is not 0.05 better than 0.6
        s.step(accuracy)
    assert s.get_last_lr() == pytest.approx([0.01])


@pytest.mark.parametrize("make", [lambda o: lr_scheduler.StepLR(o, 3), lambda o: lr_scheduler.CosineAnnealingLR(o, 10),
                                  lambda o: lr_scheduler.OneCycleLR(o, 1.0, total_steps=20),
                                  lambda o: lr_scheduler.SequentialLR(o, [lr_scheduler.LinearLR(o, total_iters=2),
                                                                          lr_scheduler.StepLR(o, 3)], [2])])
def test_state_dict_resumes(make):
    straight = make(sgd())
    straight_rates = rates(straight, 15)
    first = make(sgd())
    head = rates(first, 6)
    saved, lr = first.state_dict(), dict(first.optimizer.param_groups[0])
    opt = sgd()
    opt.param_groups[0].update({k: v for k, v in lr.items() if k != "params"})
    resumed = make(opt)
    resumed.load_state_dict(saved)
    opt.param_groups[0].update({k: v for k, v in lr.items() if k != "params"})
    assert head + rates(resumed, 9) == pytest.approx(straight_rates, abs=1e-12)


def test_resuming_without_initial_lr_is_an_error():
    with pytest.raises(KeyError, match="initial_lr"):
        lr_scheduler.StepLR(sgd(), 3, last_epoch=5)
