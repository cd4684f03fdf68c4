"""Adam (Kingma & Ba 2015) and AdamW (Loshchilov & Hutter 2019, decoupled weight decay)."""
from __future__ import annotations

import math

import numpy as np

from ..kernels import optim as optim_kernels
from .optimizer import Optimizer, update_in_place


class Adam(Optimizer):
    """For each parameter p with gradient g, at step t:

        g <- g + weight_decay * p            (Adam: L2 penalty through the gradient)
        m <- b1 m + (1 - b1) g,   v <- b2 v + (1 - b2) g^2
        p <- p - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
    """

    decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        if not (0.0 <= betas[0] < 1.0 and 0.0 <= betas[1] < 1.0):
            raise ValueError(f"{type(self).__name__}: betas must be in [0, 1), got {betas}")
        if eps < 0:
            raise ValueError(f"{type(self).__name__}: eps must be >= 0, got {eps}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay))

    def step(self) -> None:
        """One update of every parameter that has a gradient, in place (one fused pass each)."""
        for group in self.param_groups:
            lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
            for p, g, state in self._params_with_grad(group):
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = np.zeros(p.shape, p.dtype)
                    state["exp_avg_sq"] = np.zeros(p.shape, p.dtype)
                state["step"] += 1
                t = state["step"]
                update_in_place(p, optim_kernels.adam_step, g, (state["exp_avg"], state["exp_avg_sq"]),
                                lr, b1, b2, eps, wd, self.decoupled, 1 - b1 ** t, math.sqrt(1 - b2 ** t))


class AdamW(Adam):
    """Adam with decoupled weight decay: p <- p (1 - lr * weight_decay) before the Adam step."""

    decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
