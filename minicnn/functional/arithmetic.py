"""Elementwise arithmetic with broadcasting, matrix products, and dtype casts.

Each backward sums its gradient back to the input's shape (`unbroadcast`), so `x + b` with `b` of
shape (C,) gives `b.grad` of shape (C,).
"""
from __future__ import annotations

import numpy as np

from ..tensor import Function
from ._util import broadcast_shape, unbroadcast


def _binary_grads(ctx, grad_a, grad_b):
    a_shape, b_shape = ctx.shapes
    return (
        unbroadcast(grad_a, a_shape) if ctx.needs_input_grad[0] else None,
        unbroadcast(grad_b, b_shape) if ctx.needs_input_grad[1] else None,
    )


class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = (np.shape(a), np.shape(b))
        broadcast_shape("add", *ctx.shapes)
        return np.add(a, b)

    @staticmethod
    def backward(ctx, grad):
        return _binary_grads(ctx, grad, grad)


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = (np.shape(a), np.shape(b))
        broadcast_shape("sub", *ctx.shapes)
        return np.subtract(a, b)

    @staticmethod
    def backward(ctx, grad):
        return _binary_grads(ctx, grad, -grad)


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = (np.shape(a), np.shape(b))
        broadcast_shape("mul", *ctx.shapes)
        ctx.save_for_backward(a, b)
        return np.multiply(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        return _binary_grads(
            ctx,
            grad * b if ctx.needs_input_grad[0] else None,
            grad * a if ctx.needs_input_grad[1] else None,
        )


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = (np.shape(a), np.shape(b))
        broadcast_shape("div", *ctx.shapes)
        ctx.save_for_backward(a, b)
        return np.true_divide(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        return _binary_grads(
            ctx,
            grad / b if ctx.needs_input_grad[0] else None,
            -grad * a / (b * b) if ctx.needs_input_grad[1] else None,
        )


class Pow(Function):
    """a ** b. d/da = b a^(b-1); d/db = a^b log a (taken as 0 where a == 0 and b >= 0, as PyTorch)."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = (np.shape(a), np.shape(b))
        broadcast_shape("pow", *ctx.shapes)
        out = np.power(a, b)
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, b, out = ctx.saved_tensors
        grad_a = grad_b = None
        if ctx.needs_input_grad[0]:
            with np.errstate(divide="ignore", invalid="ignore"):
                grad_a = grad * np.where(np.equal(b, 0), 0.0, b * np.power(a, b - 1))
        if ctx.needs_input_grad[1]:
            with np.errstate(divide="ignore", invalid="ignore"):
                log_a = np.where((np.equal(a, 0)) & (np.greater_equal(b, 0)), 0.0, np.log(a))
            grad_b = grad * out * log_a
        return _binary_grads(ctx, grad_a, grad_b)


class Neg(Function):
    @staticmethod
    def forward(ctx, a):
        return np.negative(a)

    @staticmethod
    def backward(ctx, grad):
        return -grad


class MatMul(Function):
    """a @ b with NumPy's rules: 1-D operands are promoted, leading (batch) axes broadcast."""

    @staticmethod
    def forward(ctx, a, b):
        a, b = np.asarray(a), np.asarray(b)
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError(f"matmul: both operands need at least 1 dimension, got {a.shape} @ {b.shape}")
        inner_a = a.shape[-1]
        inner_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
        if inner_a != inner_b:
            raise ValueError(
                f"matmul: inner dimensions differ in {a.shape} @ {b.shape} ({inner_a} vs {inner_b})"
            )
        broadcast_shape("matmul (batch dimensions)", a.shape[:-2], b.shape[:-2])
        ctx.save_for_backward(a, b)
        return np.matmul(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        a2 = a[None, :] if a.ndim == 1 else a  # promote as NumPy does, then undo at the end
        b2 = b[:, None] if b.ndim == 1 else b
        g2 = grad[..., None] if b.ndim == 1 else grad
        g2 = np.expand_dims(g2, -2) if a.ndim == 1 else g2
        grad_a = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_a = unbroadcast(g2 @ np.swapaxes(b2, -1, -2), a2.shape).reshape(a.shape)
        if ctx.needs_input_grad[1]:
            grad_b = unbroadcast(np.swapaxes(a2, -1, -2) @ g2, b2.shape).reshape(b.shape)
        return grad_a, grad_b


class PairwiseExtremum(Function):
    """maximum(a, b) or minimum(a, b), broadcasting. The gradient goes to the larger (smaller)
    side; where a == b each side gets half, as PyTorch."""

    @staticmethod
    def forward(ctx, a, b, largest):
        ctx.shapes = (np.shape(a), np.shape(b))
        broadcast_shape("maximum" if largest else "minimum", *ctx.shapes)
        ctx.save_for_backward(a, b)
        ctx.largest = largest
        return np.maximum(a, b) if largest else np.minimum(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        wins = np.greater(a, b) if ctx.largest else np.less(a, b)
        share_a = np.where(np.equal(a, b), 0.5, wins).astype(grad.dtype)
        return _binary_grads(ctx, grad * share_a, grad * (1 - share_a))


class Cast(Function):
    @staticmethod
    def forward(ctx, a, dtype):
        return np.asarray(a).astype(dtype)

    @staticmethod
    def backward(ctx, grad):
        return grad, None  # the graph walk casts it back to the input's dtype


def add(a, b):
    """a + b, broadcasting."""
    return Add.apply(a, b)


def sub(a, b):
    """a - b, broadcasting."""
    return Sub.apply(a, b)


def mul(a, b):
    """a * b, broadcasting."""
    return Mul.apply(a, b)


def div(a, b):
    """a / b, broadcasting."""
    return Div.apply(a, b)


def pow(a, b):
    """a ** b, broadcasting; either side may be a tensor."""
    return Pow.apply(a, b)


def neg(a):
    """-a."""
    return Neg.apply(a)


def matmul(a, b):
    """a @ b: (..., n, k) @ (..., k, m) -> (..., m), with NumPy's 1-D promotion and batch broadcast."""
    return MatMul.apply(a, b)


def maximum(input, other):
    """Elementwise maximum, broadcasting; ties split the gradient equally (torch.maximum)."""
    return PairwiseExtremum.apply(input, other, largest=True)


def minimum(input, other):
    """Elementwise minimum, broadcasting; ties split the gradient equally (torch.minimum)."""
    return PairwiseExtremum.apply(input, other, largest=False)


def cast(a, dtype):
    """`a` converted to `dtype`; the gradient flows back in the input's dtype."""
    return Cast.apply(a, np.dtype(dtype))
