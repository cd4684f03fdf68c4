"""RMSprop (Hinton's lecture 6e, 2012) and Adagrad (Duchi et al. 2011), with PyTorch's update rules."""
from __future__ import annotations

import numpy as np

from .optimizer import Optimizer


class RMSprop(Optimizer):
    """For each parameter p with gradient g:

        g <- g + weight_decay * p
        v <- alpha v + (1 - alpha) g^2
        centered: a <- alpha a + (1 - alpha) g,   v~ = v - a^2;   otherwise v~ = v
        momentum > 0: b <- momentum b + g / (sqrt(v~) + eps),   p <- p - lr b
        otherwise:    p <- p - lr g / (sqrt(v~) + eps)
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"RMSprop: alpha must be in [0, 1], got {alpha}")
        if eps < 0 or momentum < 0:
            raise ValueError(f"RMSprop: eps and momentum must be >= 0, got eps={eps}, momentum={momentum}")
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered))

    def step(self) -> None:
        for group in self.param_groups:
            lr, alpha, eps, momentum = group["lr"], group["alpha"], group["eps"], group["momentum"]
            for p, g, state in self._params_with_grad(group):
                if group["weight_decay"]:
                    g = g + group["weight_decay"] * p.array
                if not state:
                    state["step"] = 0
                    state["square_avg"] = np.zeros_like(p.array)
                    if momentum:
                        state["momentum_buffer"] = np.zeros_like(p.array)
                    if group["centered"]:
                        state["grad_avg"] = np.zeros_like(p.array)
                state["step"] += 1
                v = state["square_avg"]
                v *= alpha
                v += (1 - alpha) * g * g
                if group["centered"]:
                    a = state["grad_avg"]
                    a *= alpha
                    a += (1 - alpha) * g
                    denom = np.sqrt(v - a * a) + eps
                else:
                    denom = np.sqrt(v) + eps
                if momentum:
                    b = state["momentum_buffer"]
                    b *= momentum
                    b += g / denom
                    update = lr * b
                else:
                    update = lr * g / denom
                p.array = p.array - update.astype(p.dtype)


class Adagrad(Optimizer):
    """For each parameter p with gradient g, at step t (sum starts at initial_accumulator_value):

        g <- g + weight_decay * p
        lr_t = lr / (1 + (t - 1) * lr_decay)
        sum <- sum + g^2
        p <- p - lr_t g / (sqrt(sum) + eps)
    """

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10):
        if lr_decay < 0 or initial_accumulator_value < 0 or eps < 0:
            raise ValueError(f"Adagrad: lr_decay, initial_accumulator_value and eps must be >= 0, got "
                             f"{lr_decay}, {initial_accumulator_value}, {eps}")
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, eps=eps))

    def step(self) -> None:
        for group in self.param_groups:
            for p, g, state in self._params_with_grad(group):
                if group["weight_decay"]:
                    g = g + group["weight_decay"] * p.array
                if not state:
                    state["step"] = 0
                    state["sum"] = np.full_like(p.array, group["initial_accumulator_value"])
                state["step"] += 1
                lr_t = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
                state["sum"] += g * g
                p.array = p.array - (lr_t * g / (np.sqrt(state["sum"]) + group["eps"])).astype(p.dtype)
