"""Loss functions: cross-entropy from logits, negative log-likelihood, mean squared error."""
from __future__ import annotations

import numpy as np

from ..tensor import Function, Tensor

REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(op, reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {REDUCTIONS}, got {reduction!r}")


def _class_targets(op, scores_shape, target) -> np.ndarray:
    """Validate integer class targets for scores (N, C, *): target (N, *) with values in [0, C)."""
    target = np.asarray(target)
    if not np.issubdtype(target.dtype, np.integer):
        raise TypeError(f"{op}: class-index targets must be integers, got dtype {target.dtype}")
    expected = (scores_shape[0],) + tuple(scores_shape[2:])
    if target.shape != expected:
        raise ValueError(f"{op}: input of shape {scores_shape} needs target of shape {expected}, "
                         f"got {target.shape}")
    classes = scores_shape[1]
    if target.size and (target.min() < 0 or target.max() >= classes):
        bad = target[(target < 0) | (target >= classes)].flat[0]
        raise ValueError(f"{op}: target value {bad} is outside [0, {classes}) for {classes} classes")
    return target


def _to_rows(a: np.ndarray) -> np.ndarray:
    """(N, C, d1, ...) -> (N*d1*..., C): the class axis last, one row per prediction."""
    return np.moveaxis(a, 1, -1).reshape(-1, a.shape[1])


def _from_rows(rows: np.ndarray, shape) -> np.ndarray:
    moved = (shape[0],) + tuple(shape[2:]) + (shape[1],)
    return np.moveaxis(rows.reshape(moved), -1, 1)


def _reduce(losses, reduction, count):
    if reduction == "sum":
        return losses.sum()
    if reduction == "mean":
        return losses.sum() / max(count, 1)
    return losses


def _reduce_grad(grad, reduction, count, shape):
    """Gradient of the reduction, as one value per row."""
    if reduction == "none":
        return grad.reshape(-1, 1)
    scale = grad / max(count, 1) if reduction == "mean" else grad
    return np.full((int(np.prod(shape)), 1), scale, dtype=grad.dtype)


class CrossEntropy(Function):
    """loss_i = -sum_c q_ic log softmax(x_i)_c, q the (smoothed) target distribution.

    The gradient with respect to the logits is softmax(x) - q: one fused op, stable and exact.
    """

    @staticmethod
    def forward(ctx, logits, q_rows, reduction, out_shape):
        rows = _to_rows(logits)
        shifted = rows - rows.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        losses = -(q_rows * log_p).sum(axis=1)
        ctx.save_for_backward(np.exp(log_p), q_rows)
        ctx.reduction, ctx.shape, ctx.out_shape = reduction, logits.shape, out_shape
        return _reduce(losses.reshape(out_shape), reduction, losses.size).astype(logits.dtype)

    @staticmethod
    def backward(ctx, grad):
        p, q = ctx.saved_tensors
        scale = _reduce_grad(grad, ctx.reduction, p.shape[0], ctx.out_shape)
        return _from_rows((p - q) * scale, ctx.shape), None, None, None


class NLLLoss(Function):
    """loss_i = -log_probs[i, target_i]."""

    @staticmethod
    def forward(ctx, log_probs, target, reduction):
        rows = _to_rows(log_probs)
        flat = target.reshape(-1)
        losses = -rows[np.arange(len(flat)), flat]
        ctx.flat, ctx.reduction, ctx.shape, ctx.out_shape = flat, reduction, log_probs.shape, target.shape
        return np.asarray(_reduce(losses.reshape(target.shape), reduction, losses.size))

    @staticmethod
    def backward(ctx, grad):
        scale = _reduce_grad(grad, ctx.reduction, len(ctx.flat), ctx.out_shape)
        rows = np.zeros((len(ctx.flat), ctx.shape[1]), grad.dtype)
        rows[np.arange(len(ctx.flat)), ctx.flat] = -scale[:, 0]
        return _from_rows(rows, ctx.shape), None, None


def _scores_shape(op, scores):
    shape = np.shape(scores.array if isinstance(scores, Tensor) else scores)
    if len(shape) < 2:
        raise ValueError(f"{op}: input must be (N, C) or (N, C, d1, ...), got shape {shape}")
    return shape


def cross_entropy(input, target, reduction="mean", label_smoothing=0.0):
    """Cross-entropy between logits and targets (PyTorch's F.cross_entropy).

    input: (N, C) or (N, C, d1, ...) unnormalised scores.
    target: class indices (N,) or (N, d1, ...), or class probabilities shaped like input.
    label_smoothing e mixes the target with the uniform distribution: q = (1 - e) q + e / C.
    reduction: "mean" (over all predictions), "sum" or "none".
    """
    _check_reduction("cross_entropy", reduction)
    shape = _scores_shape("cross_entropy", input)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    t = target.array if isinstance(target, Tensor) else np.asarray(target)
    classes = shape[1]
    if np.issubdtype(t.dtype, np.floating):
        if t.shape != shape:
            raise ValueError(f"cross_entropy: probability targets must have the input's shape {shape}, "
                             f"got {t.shape}")
        q = _to_rows(t)
    else:
        t = _class_targets("cross_entropy", shape, t)
        q = np.zeros((t.size, classes))
        q[np.arange(t.size), t.reshape(-1)] = 1.0
    dtype = input.dtype if isinstance(input, Tensor) else np.asarray(input).dtype
    q = ((1.0 - label_smoothing) * q + label_smoothing / classes).astype(dtype)
    out_shape = (shape[0],) + tuple(shape[2:])
    return CrossEntropy.apply(input, q, reduction, out_shape)


def nll_loss(input, target, reduction="mean"):
    """Negative log-likelihood of class indices given log-probabilities (N, C) or (N, C, d1, ...)."""
    _check_reduction("nll_loss", reduction)
    shape = _scores_shape("nll_loss", input)
    t = _class_targets("nll_loss", shape, target.array if isinstance(target, Tensor) else target)
    return NLLLoss.apply(input, t, reduction)


def mse_loss(input, target, reduction="mean"):
    """Mean squared error (input - target)^2, reduced; shapes must match exactly."""
    _check_reduction("mse_loss", reduction)
    a = np.shape(input.array if isinstance(input, Tensor) else input)
    b = np.shape(target.array if isinstance(target, Tensor) else target)
    if a != b:
        raise ValueError(f"mse_loss: input shape {a} and target shape {b} differ")
    squared = (input - target) ** 2
    if reduction == "mean":
        return squared.mean()
    return squared.sum() if reduction == "sum" else squared
