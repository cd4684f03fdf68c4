"""Loss functions, PyTorch's: cross-entropy from logits, negative log-likelihood, binary
cross-entropy (from probabilities and from logits), mean squared, absolute and smooth-L1 error;
and one_hot, the encoding of class indices the classification losses use.

reduction="mean" averages, "sum" adds, "none" keeps one loss per element (per prediction for the
classification losses). PyTorch's deprecated size_average and reduce are not taken, so reduction
(and what follows) is keyword-only in the losses added with that rule: a positional "sum" fails
loudly instead of landing in a different slot than in PyTorch. With class weights, "mean" is PyTorch's weighted mean: the sum of the
weighted losses divided by the sum of the weights of the targets that count (not ignored), so a
mean over nothing is NaN, as in PyTorch.
"""
from __future__ import annotations

import numpy as np

from ..tensor import Function, Tensor, as_array
from .arithmetic import cast, mul, sub
from .checks import float_array, is_int, number_array, shape_of
from .pointwise import abs
from .reduction import mean, sum

REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(op, reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {REDUCTIONS}, got {reduction!r}")


def _reduce(op, losses, reduction):
    """Apply `reduction` to a Tensor of elementwise losses (differentiably)."""
    _check_reduction(op, reduction)
    if reduction == "mean":
        return mean(losses)
    return sum(losses) if reduction == "sum" else losses


def _same_shape(op, input, target):
    a, b = number_array(op, "input", input).shape, number_array(op, "target", target).shape
    if a != b:
        raise ValueError(f"{op}: input shape {a} and target shape {b} differ")


# ---- one-hot encoding ----------------------------------------------------------------------
def _index_array(op, value) -> np.ndarray:
    array = number_array(op, "class indices", value)
    if not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"{op}: class indices must be integers, got dtype {array.dtype}")
    return array


def one_hot(tensor, num_classes=-1):
    """One-hot encoding of class indices, PyTorch's F.one_hot.

    out[..., c] = 1 if tensor[...] == c else 0. tensor: integers of any shape (*) ->
    int64 (*, num_classes); num_classes=-1 means tensor.max() + 1. Not differentiable.
    """
    op = "one_hot"
    indices = _index_array(op, tensor)
    if not is_int(num_classes) or num_classes < -1:
        raise ValueError(f"{op}: num_classes must be a non-negative int or -1, got {num_classes!r}")
    if indices.size and indices.min() < 0:
        raise ValueError(f"{op}: class values must be non-negative, got {indices.min()}")
    if num_classes == -1:
        if indices.size == 0:
            raise ValueError(f"{op}: cannot infer num_classes from an empty tensor; pass num_classes")
        num_classes = int(indices.max()) + 1
    if indices.size and indices.max() >= num_classes:
        raise ValueError(f"{op}: class value {indices.max()} is not smaller than num_classes={num_classes}")
    out = np.zeros(indices.shape + (int(num_classes),), np.int64)
    np.put_along_axis(out, indices[..., None].astype(np.intp), 1, axis=-1)
    return Tensor(out)


# ---- cross-entropy and negative log-likelihood ---------------------------------------------
def _to_rows(a: np.ndarray) -> np.ndarray:
    """(N, C, d1, ...) -> (N*d1*..., C): the class axis last, one row per prediction."""
    return np.moveaxis(a, 1, -1).reshape(-1, a.shape[1])


def _from_rows(rows: np.ndarray, shape) -> np.ndarray:
    moved = (shape[0],) + tuple(shape[2:]) + (shape[1],)
    return np.moveaxis(rows.reshape(moved), -1, 1)


def _reduce_rows(losses, reduction, denominator, out_shape):
    if reduction == "sum":
        return losses.sum()
    if reduction == "mean":
        with np.errstate(invalid="ignore", divide="ignore"):  # nothing counted: NaN, as PyTorch
            return losses.sum() / denominator
    return losses.reshape(out_shape)


def _row_scale(grad, reduction, denominator, rows):
    """d(reduced loss) / d(loss of each row), as a (rows, 1) column."""
    if reduction == "none":
        return grad.reshape(-1, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = grad / denominator if reduction == "mean" else grad
    return np.full((rows, 1), scale, dtype=grad.dtype)


class CrossEntropy(Function):
    """loss_i = -sum_c w_c a_ic log softmax(x_i)_c, one row i per prediction, with
    a = ((1 - e) t + e / C) * kept the smoothed target (t one-hot or probabilities, e the
    label smoothing, kept 0 on ignored rows) and w the class weights (1 if none).

        d loss_i / d x_i  = softmax(x_i) * sum_c w_c a_ic - w * a_i
        d loss_i / d t_ic = -(1 - e) kept_i w_c log softmax(x_i)_c

    (the first is softmax(x) - t only when the row of w * a sums to 1).
    """

    @staticmethod
    def forward(ctx, logits, target, *, weight, smoothing, kept, denominator, reduction, out_shape):
        rows = _to_rows(logits)
        shifted = rows - rows.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        kept_w = kept[:, None] * (1.0 if weight is None else weight)  # (rows, 1) or (rows, C)
        weighted = ((1.0 - smoothing) * _to_rows(target) + smoothing / rows.shape[1]) * kept_w  # w * a
        losses = -(weighted * log_p).sum(axis=1)
        ctx.save_for_backward(log_p, weighted, kept_w)
        ctx.settings = (smoothing, denominator, reduction, logits.shape)
        return np.asarray(_reduce_rows(losses, reduction, denominator, out_shape), logits.dtype)

    @staticmethod
    def backward(ctx, grad):
        log_p, weighted, kept_w = ctx.saved_tensors
        smoothing, denominator, reduction, shape = ctx.settings
        scale = _row_scale(grad, reduction, denominator, log_p.shape[0])
        grad_x = grad_t = None
        if ctx.needs_input_grad[0]:
            grad_x = _from_rows((np.exp(log_p) * weighted.sum(axis=1, keepdims=True) - weighted) * scale, shape)
        if ctx.needs_input_grad[1]:
            grad_t = _from_rows(-(1.0 - smoothing) * kept_w * log_p * scale, shape)
        return grad_x, grad_t


class NLLLoss(Function):
    """loss_i = -sum_c a_ic x_ic, a_ic = w_c where c is row i's target (0 elsewhere and on
    ignored rows): PyTorch's -w[t_i] x[i, t_i]. Linear in x, so d loss_i / d x_i = -a_i."""

    @staticmethod
    def forward(ctx, log_probs, *, picks, denominator, reduction, out_shape):
        losses = -(_to_rows(log_probs) * picks).sum(axis=1)
        ctx.save_for_backward(picks)
        ctx.settings = (denominator, reduction, log_probs.shape)
        return np.asarray(_reduce_rows(losses, reduction, denominator, out_shape), log_probs.dtype)

    @staticmethod
    def backward(ctx, grad):
        (picks,) = ctx.saved_tensors
        denominator, reduction, shape = ctx.settings
        return _from_rows(-picks * _row_scale(grad, reduction, denominator, picks.shape[0]), shape)


def _scores_shape(op, scores):
    shape = float_array(op, "input", scores).shape
    if len(shape) < 2:
        raise ValueError(f"{op}: input must be (N, C) or (N, C, d1, ...), got shape {shape}")
    return shape


def _class_weights(op, weight, classes, dtype):
    if weight is None:
        return None
    if isinstance(weight, str):
        raise TypeError(f"{op}: weight must be a tensor of class weights, got {weight!r} "
                        "(pass reduction= by keyword; the third argument is weight, as in PyTorch)")
    w = number_array(op, "weight", weight)
    if w.shape != (classes,) or not np.issubdtype(w.dtype, np.floating):
        raise ValueError(f"{op}: weight must be a floating tensor of shape ({classes},), one per class, "
                         f"got {w.dtype} of shape {w.shape}")
    return w.astype(dtype)


def _class_targets(op, scores_shape, target, ignore_index):
    """Integer class targets (N, d1, ...) for scores (N, C, d1, ...), each in [0, C) or ignore_index.

    Returns the flat targets (ignored ones set to 0) and the mask of those that count.
    """
    if not is_int(ignore_index):
        raise TypeError(f"{op}: ignore_index must be an int, got {ignore_index!r}")
    target = _index_array(op, target)
    expected = (scores_shape[0],) + tuple(scores_shape[2:])
    if target.shape != expected:
        raise ValueError(f"{op}: input of shape {scores_shape} needs target of shape {expected}, "
                         f"got {target.shape}")
    flat = target.reshape(-1)
    kept = flat != ignore_index
    classes = scores_shape[1]
    bad = kept & ((flat < 0) | (flat >= classes))
    if bad.any():
        raise ValueError(f"{op}: target value {flat[bad][0]} is outside [0, {classes}) for {classes} "
                         f"classes (and is not ignore_index={ignore_index})")
    return np.where(kept, flat, 0), kept


def _picked_weights(weight, flat, kept, dtype):
    """w[t_i] for the rows that count, 0 for ignored rows: the weight of each prediction."""
    w = np.ones(len(flat), dtype) if weight is None else weight[flat]
    return w * kept


def cross_entropy(input, target, weight=None, *, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """Cross-entropy between logits and targets, PyTorch's F.cross_entropy.

    input: (N, C) or (N, C, d1, ...) unnormalised scores.
    target: class indices (N,) or (N, d1, ...), or class probabilities shaped like input (floating;
    those get a gradient if they require one).
    weight: (C,) class weights w. Class-index targets: loss_i = -w[t_i] log softmax(x_i)[t_i],
    and "mean" divides by the sum of w[t_i] over the targets that are not ignore_index.
    Probability targets: loss_i = -sum_c w_c t_ic log softmax(x_i)_c, "mean" divides by the number
    of predictions; ignore_index is not supported (must stay negative).
    label_smoothing e mixes the target with the uniform distribution: (1 - e) t + e / C.
    reduction: "mean", "sum" or "none" (one loss per prediction, 0 for ignored ones).
    """
    op = "cross_entropy"
    _check_reduction(op, reduction)
    shape = _scores_shape(op, input)
    if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, (int, float, np.number)) \
            or not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{op}: label_smoothing must be in [0, 1], got {label_smoothing!r}")
    dtype = as_array(input).dtype
    classes = shape[1]
    weight = _class_weights(op, weight, classes, dtype)
    out_shape = (shape[0],) + tuple(shape[2:])
    rows = int(np.prod(out_shape))
    t = number_array(op, "target", target)
    if np.issubdtype(t.dtype, np.floating):
        if t.shape != shape:
            raise ValueError(f"{op}: probability targets must have the input's shape {shape}, got {t.shape}")
        if not is_int(ignore_index) or ignore_index >= 0:
            raise ValueError(f"{op}: ignore_index is not supported with probability targets, "
                             f"got ignore_index={ignore_index}")
        kept, denominator = np.ones(rows, dtype), rows
        if not isinstance(target, Tensor):
            target = t.astype(dtype, copy=False)
        elif t.dtype != dtype:
            target = cast(target, dtype)  # differentiable: a float64 target keeps its gradient
    else:
        flat, kept_mask = _class_targets(op, shape, t, ignore_index)
        denominator = _picked_weights(weight, flat, kept_mask, dtype).sum()
        kept = kept_mask.astype(dtype)
        target = _from_rows(one_hot(flat, classes).array.astype(dtype), shape)
    return CrossEntropy.apply(input, target, weight=weight, smoothing=float(label_smoothing), kept=kept,
                              denominator=denominator, reduction=reduction, out_shape=out_shape)


def nll_loss(input, target, weight=None, *, ignore_index=-100, reduction="mean"):
    """Negative log-likelihood of class indices given log-probabilities, PyTorch's F.nll_loss.

    input: (N, C) or (N, C, d1, ...) log-probabilities; target: (N,) or (N, d1, ...) class indices.
    loss_i = -w[t_i] input[i, t_i] (w = 1 without weight; 0 where t_i == ignore_index);
    "mean" divides the sum by the sum of w[t_i] over the targets not ignored.
    """
    op = "nll_loss"
    _check_reduction(op, reduction)
    shape = _scores_shape(op, input)
    dtype = as_array(input).dtype
    weight = _class_weights(op, weight, shape[1], dtype)
    flat, kept = _class_targets(op, shape, target, ignore_index)
    picked = _picked_weights(weight, flat, kept, dtype)
    picks = one_hot(flat, shape[1]).array.astype(dtype) * picked[:, None]
    return NLLLoss.apply(input, picks=picks, denominator=picked.sum(), reduction=reduction,
                         out_shape=(shape[0],) + tuple(shape[2:]))


# ---- binary cross-entropy --------------------------------------------------------------------
class BinaryCrossEntropy(Function):
    """l = -(y log x + (1 - y) log(1 - x)) elementwise, each log clamped at -100 (PyTorch), so
    x = 0 or 1 give a finite loss.

        dl/dx = (x - y) / max(x (1 - x), 1e-12)     (PyTorch's backward, finite at 0 and 1)
        dl/dy = log(1 - x) - log x                  (with the clamped logs)
    """

    @staticmethod
    def forward(ctx, x, y):
        with np.errstate(divide="ignore"):
            log_x, log_1mx = np.maximum(np.log(x), -100), np.maximum(np.log1p(-x), -100)
        ctx.save_for_backward(x, y, log_x, log_1mx)
        return -(y * log_x + (1 - y) * log_1mx)

    @staticmethod
    def backward(ctx, grad):
        x, y, log_x, log_1mx = ctx.saved_tensors
        grad_x = grad * (x - y) / np.maximum(x * (1 - x), 1e-12) if ctx.needs_input_grad[0] else None
        grad_y = grad * (log_1mx - log_x) if ctx.needs_input_grad[1] else None
        return grad_x, grad_y


class BinaryCrossEntropyWithLogits(Function):
    """l = -(p y log sigmoid(x) + (1 - y) log(1 - sigmoid(x))) elementwise, p the pos_weight,
    from log sigmoid(x) = -softplus(-x) and log(1 - sigmoid(x)) = -softplus(x), stable for any x.

        dl/dx = sigmoid(x) (p y + 1 - y) - p y
        dl/dy = p softplus(-x) - softplus(x)
    """

    @staticmethod
    def forward(ctx, x, y, pos_weight):
        softplus_neg, softplus_pos = np.logaddexp(0, -x), np.logaddexp(0, x)
        p = 1.0 if pos_weight is None else pos_weight
        ctx.save_for_backward(x, y, p, softplus_neg, softplus_pos)
        return p * y * softplus_neg + (1 - y) * softplus_pos

    @staticmethod
    def backward(ctx, grad):
        x, y, p, softplus_neg, softplus_pos = ctx.saved_tensors
        grad_x = grad_y = None
        if ctx.needs_input_grad[0]:
            sigmoid = np.exp(-softplus_neg)
            grad_x = grad * (sigmoid * (p * y + 1 - y) - p * y)
        if ctx.needs_input_grad[1]:
            grad_y = grad * (p * softplus_neg - softplus_pos)
        return grad_x, grad_y, None


def _binary_arguments(op, input, target, reduction):
    _check_reduction(op, reduction)
    _same_shape(op, input, target)
    dtype = as_array(input).dtype
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"{op}: input must be float32 or float64, got {dtype}")
    if not np.issubdtype(as_array(target).dtype, np.floating):
        raise TypeError(f"{op}: target must be floating (0/1 labels or probabilities), "
                        f"got {as_array(target).dtype}")
    return dtype


def _broadcast_constant(op, name, value, shape, dtype):
    if value is None:
        return None
    array = number_array(op, name, value)
    try:
        np.broadcast_to(array, shape)
    except ValueError:
        raise ValueError(f"{op}: {name} of shape {array.shape} does not broadcast to the input's "
                         f"shape {shape}") from None
    return array.astype(dtype)


def binary_cross_entropy(input, target, weight=None, *, reduction="mean"):
    """Binary cross-entropy between probabilities and targets, PyTorch's F.binary_cross_entropy.

    l = -weight * (y log x + (1 - y) log(1 - x)), logs clamped at -100 (so l <= 100 per element).
    input x: probabilities in [0, 1], any shape; target y: the same shape; weight broadcasts to it.
    """
    op = "binary_cross_entropy"
    dtype = _binary_arguments(op, input, target, reduction)
    x = as_array(input)
    if x.size and not ((x >= 0) & (x <= 1)).all():
        raise ValueError(f"{op}: input must hold probabilities in [0, 1], got values from {x.min()} "
                         f"to {x.max()} (for logits use binary_cross_entropy_with_logits)")
    losses = BinaryCrossEntropy.apply(input, target)
    weight = _broadcast_constant(op, "weight", weight, x.shape, dtype)
    return _reduce(op, losses if weight is None else mul(losses, weight), reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, *, reduction="mean", pos_weight=None):
    """Sigmoid and binary cross-entropy in one stable op, PyTorch's F.binary_cross_entropy_with_logits.

    l = -weight * (pos_weight * y log sigmoid(x) + (1 - y) log(1 - sigmoid(x))).
    input x: logits, any shape; target y: the same shape; weight broadcasts to it; pos_weight
    (the weight of positive examples, e.g. (C,) for C labels on the last axis) too.
    """
    op = "binary_cross_entropy_with_logits"
    dtype = _binary_arguments(op, input, target, reduction)
    shape = shape_of(input)
    pos_weight = _broadcast_constant(op, "pos_weight", pos_weight, shape, dtype)
    losses = BinaryCrossEntropyWithLogits.apply(input, target, pos_weight)
    weight = _broadcast_constant(op, "weight", weight, shape, dtype)
    return _reduce(op, losses if weight is None else mul(losses, weight), reduction)


# ---- regression losses -----------------------------------------------------------------------
class SmoothL1(Function):
    """l(d) = d^2 / (2 beta) for |d| < beta, |d| - beta / 2 otherwise (Girshick 2015, Fast R-CNN);
    dl/dd = d / beta inside, sign(d) outside. beta > 0 (the wrapper sends beta = 0 to l1_loss)."""

    @staticmethod
    def forward(ctx, d, beta):
        size = np.abs(d)
        inside = size < beta
        ctx.save_for_backward(d, inside)
        ctx.beta = beta
        return np.where(inside, 0.5 * d * d / beta, size - 0.5 * beta).astype(d.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        d, inside = ctx.saved_tensors
        slope = np.where(inside, d / ctx.beta, np.sign(d))
        return (grad * slope).astype(grad.dtype, copy=False), None


def _difference(op, input, target, reduction):
    _check_reduction(op, reduction)
    _same_shape(op, input, target)
    return sub(input, target)


def mse_loss(input, target, reduction="mean"):
    """Mean squared error (input - target)^2, reduced; shapes must match exactly."""
    d = _difference("mse_loss", input, target, reduction)
    return _reduce("mse_loss", d * d, reduction)


def l1_loss(input, target, *, reduction="mean"):
    """Mean absolute error |input - target|, reduced; shapes must match. Gradient sign(input - target)."""
    return _reduce("l1_loss", abs(_difference("l1_loss", input, target, reduction)), reduction)


def smooth_l1_loss(input, target, *, reduction="mean", beta=1.0):
    """Smooth L1 (Huber-like) loss, PyTorch's F.smooth_l1_loss: with d = input - target,
    l = d^2 / (2 beta) where |d| < beta, |d| - beta / 2 elsewhere; beta = 0 is l1_loss."""
    op = "smooth_l1_loss"
    if isinstance(beta, bool) or not isinstance(beta, (int, float, np.number)) or beta < 0:
        raise ValueError(f"{op}: beta must be a non-negative number, got {beta!r}")
    if beta == 0:  # as PyTorch: the quadratic part vanishes
        return l1_loss(input, target, reduction=reduction)
    d = _difference(op, input, target, reduction)
    return _reduce(op, SmoothL1.apply(d, float(beta)), reduction)
