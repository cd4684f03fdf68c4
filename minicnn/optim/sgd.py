"""Stochastic gradient descent with momentum, Nesterov momentum and weight decay."""
from __future__ import annotations

from .optimizer import Optimizer


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
        for group in self.param_groups:
            lr, momentum, wd = group["lr"], group["momentum"], group["weight_decay"]
            for p, g, state in self._params_with_grad(group):
                if wd:
                    g = g + wd * p.array
                if momentum:
                    if "momentum_buffer" not in state:
                        state["momentum_buffer"] = g.copy()
                    else:
                        buf = state["momentum_buffer"]
                        buf *= momentum
                        buf += (1 - group["dampening"]) * g
                    buf = state["momentum_buffer"]
                    g = g + momentum * buf if group["nesterov"] else buf
                p.array = p.array - (lr * g).astype(p.dtype)
