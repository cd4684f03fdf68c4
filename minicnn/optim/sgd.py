"""Stochastic gradient descent with momentum, Nesterov momentum and weight decay."""
from __future__ import annotations

import numpy as np

from ..kernels import optim as optim_kernels
from .optimizer import Optimizer, update_in_place


class SGD(Optimizer):
    """PyTorch's SGD update, for each parameter p with gradient g:

        g <- g + weight_decay * p
        b <- g                                   (first step)
        b <- momentum * b + (1 - dampening) * g  (later steps)
        g <- g + momentum * b if nesterov else b     (when momentum > 0)
        p <- p - lr * g
    """

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
        if momentum < 0:
            raise ValueError(f"SGD: momentum must be >= 0, got {momentum}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: Nesterov momentum needs momentum > 0 and dampening 0")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov))

    def step(self) -> None:
        """One update of every parameter that has a gradient, in place (one fused pass each)."""
        for group in self.param_groups:
            momentum = group["momentum"]
            for p, g, state in self._params_with_grad(group):
                first = momentum and "momentum_buffer" not in state
                if first:
                    state["momentum_buffer"] = np.empty(p.shape, p.dtype)
                buf = state["momentum_buffer"] if momentum else np.empty(0, p.dtype)
                update_in_place(p, optim_kernels.sgd_step, g, (buf,), group["lr"], momentum,
                                group["dampening"], group["weight_decay"], bool(group["nesterov"]),
                                bool(first))
