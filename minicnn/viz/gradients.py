"""Per-layer gradient norms, caught by full backward hooks: how strongly the loss reaches each layer.

For every innermost layer with parameters, the L2 norm of dL/d(output) of that layer and of
dL/d(weight) for one batch. In a plain deep net at initialisation the norms shrink (or grow)
geometrically towards the input (vanishing/exploding gradients); residual connections keep them level.
"""
from __future__ import annotations

import numpy as np

from .. import functional as F
from ..tensor import Tensor
from .figure import figure


def gradient_norms(model, inputs, targets, loss_fn=F.cross_entropy) -> list:
    """[(layer name, |dL/d output|, |dL/d weight|)] in forward order for one batch, one
    backward pass of loss_fn(model(inputs), targets); the model's gradients are left zeroed."""
    named = [(name, m) for name, m in model.named_modules()
             if name and not any(True for _ in m.children()) and getattr(m, "weight", None) is not None]
    order, caught, handles = [], {}, []

    def forward_hook(module, args, output):
        order.append(id(module))

    def backward_hook(module, grad_input, grad_output):
        g = grad_output[0]
        caught[id(module)] = caught.get(id(module), 0.0) + float(np.sum(np.square(g.array)))

    for _, module in named:
        handles.append(module.register_forward_hook(forward_hook))
        handles.append(module.register_full_backward_hook(backward_hook))
    try:
        for p in model.parameters():
            p.grad = None
        loss = loss_fn(model(inputs if isinstance(inputs, Tensor) else Tensor(inputs)), targets)
        loss.backward()
    finally:
        for handle in handles:
            handle.remove()
    names = {id(m): name for name, m in named}
    rows = []
    for key in dict.fromkeys(order):  # first call order, once per layer
        module = next(m for _, m in named if id(m) == key)
        weight_norm = float(np.linalg.norm(module.weight.grad.array)) if module.weight.grad is not None else 0.0
        rows.append((names[key], float(np.sqrt(caught.get(key, 0.0))), weight_norm))
    for p in model.parameters():
        p.grad = None
    return rows


def plot_gradient_norms(runs: dict, title: str = "Gradient norm per layer at initialisation"):
    """Figure: for each `runs` entry label -> gradient_norms(...) rows, |dL/dW| against layer depth
    (log scale)."""
    fig = figure(8, 4.5)
    ax = fig.subplots()
    for label, rows in runs.items():
        ax.semilogy(range(1, len(rows) + 1), [max(w, 1e-30) for _, _, w in rows], "-o", markersize=2, label=label)
    ax.set_xlabel("layer with weights (1 = nearest the input)")
    ax.set_ylabel("||dL/dW|| (log scale)")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    return fig
