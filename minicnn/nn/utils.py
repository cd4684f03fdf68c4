"""Gradient clipping (PyTorch's torch.nn.utils.clip_grad_norm_ and clip_grad_value_).

Both change `.grad` in place, between `loss.backward()` and `optimizer.step()`; parameters
without a gradient are skipped.
"""
from __future__ import annotations

import math

import numpy as np

from ..tensor import Tensor


def _grads(parameters, op: str) -> list:
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    grads = []
    for p in parameters:
        if not isinstance(p, Tensor):
            raise TypeError(f"{op}: expected Tensors (e.g. model.parameters()), got {type(p).__name__}")
        if p.grad is not None:
            grads.append(p.grad)
    return grads


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> Tensor:
    """Scale all gradients together so that their joint norm is at most max_norm.

    total = ||(g_1, ..., g_n)||_p, the p-norm of every gradient entry taken as one vector
    (p = inf: the largest |g|); each g <- g * min(1, max_norm / (total + 1e-6)).
    Returns total, the norm before clipping, as a 0-d Tensor (float64). error_if_nonfinite=True
    raises if total is nan or inf (then the gradients are left as they are).
    """
    op = "clip_grad_norm_"
    norm_type = float(norm_type)
    if not norm_type > 0:
        raise ValueError(f"{op}: norm_type must be positive (or inf), got {norm_type}")
    if not max_norm >= 0:
        raise ValueError(f"{op}: max_norm must be >= 0, got {max_norm}")
    grads = _grads(parameters, op)
    if not grads:
        return Tensor(np.array(0.0))
    entries = np.concatenate([g.array.ravel().astype(np.float64) for g in grads])
    total = float(np.linalg.norm(entries, ord=norm_type)) if entries.size else 0.0
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"{op}: the total norm of order {norm_type} of the gradients is {total}; "
                           "pass error_if_nonfinite=False to clip anyway")
    scale = min(1.0, max_norm / (total + 1e-6))
    for g in grads:
        g.array = (g.array * scale).astype(g.dtype)
    return Tensor(np.array(total))


def clip_grad_value_(parameters, clip_value: float) -> None:
    """Clamp every gradient entry into [-clip_value, clip_value]."""
    op = "clip_grad_value_"
    if not clip_value >= 0:
        raise ValueError(f"{op}: clip_value must be >= 0, got {clip_value}")
    for g in _grads(parameters, op):
        g.array = np.clip(g.array, -clip_value, clip_value).astype(g.dtype)
