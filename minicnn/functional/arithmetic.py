"""Elementwise arithmetic with broadcasting, matrix products, and dtype casts.

Each backward sums its gradient back to the input's shape (`unbroadcast`), so `x + b` with `b` of
shape (C,) gives `b.grad` of shape (C,).
"""
from __future__ import annotations

import numpy as np

from ..tensor import Function
from ._util import broadcast_shape, unbroadcast
from .checks import is_real, number_array


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


def _scaled(op, other, alpha):
    """alpha * other for add and sub's `alpha` keyword (PyTorch's), other itself when alpha is 1."""
    if not is_real(alpha):
        raise TypeError(f"{op}: alpha must be a number, got {alpha!r}")
    return other if alpha == 1 else mul(other, alpha)


def add(input, other, *, alpha=1):
    """input + alpha * other, broadcasting (torch.add)."""
    number_array("add", "input", input)
    number_array("add", "other", other)
    return Add.apply(input, _scaled("add", other, alpha))


def sub(input, other, *, alpha=1):
    """input - alpha * other, broadcasting (torch.sub)."""
    number_array("sub", "input", input)
    number_array("sub", "other", other)
    return Sub.apply(input, _scaled("sub", other, alpha))


def mul(input, other):
    """input * other, broadcasting."""
    number_array("mul", "input", input)
    number_array("mul", "other", other)
    return Mul.apply(input, other)


def div(input, other):
    """input / other, broadcasting (true division)."""
    number_array("div", "input", input)
    number_array("div", "other", other)
    return Div.apply(input, other)


def pow(input, exponent):
    """input ** exponent, broadcasting; either side may be a tensor (torch.pow's names)."""
    number_array("pow", "input", input)
    number_array("pow", "exponent", exponent)
    return Pow.apply(input, exponent)


def neg(input):
    """-input."""
    number_array("neg", "input", input)
    return Neg.apply(input)


def matmul(input, other):
    """input @ other: (..., n, k) @ (..., k, m) -> (..., n, m), with NumPy's 1-D promotion and batch
    broadcast (torch.matmul)."""
    number_array("matmul", "input", input)
    number_array("matmul", "other", other)
    return MatMul.apply(input, other)


def _matrix_operands(op, input, mat2, rank) -> None:
    """A ValueError unless input and mat2 are both `rank`-D and multiply (mm: 2, bmm: 3, batch sizes equal)."""
    shapes = {"input": number_array(op, "input", input).shape, "mat2": number_array(op, "mat2", mat2).shape}
    for name, shape in shapes.items():
        if len(shape) != rank:
            layout = "(n, k)" if rank == 2 else "(batch, n, k)"
            raise ValueError(f"{op}: {name} must be {rank}-D {layout}, got shape {shape} (matmul broadcasts "
                             "and takes other ranks)")
    a, b = shapes["input"], shapes["mat2"]
    if rank == 3 and a[0] != b[0]:
        raise ValueError(f"{op}: input and mat2 must have the same batch size, got shapes {a} and {b}")
    if a[-1] != b[-2]:
        listed = " and ".join("x".join(map(str, shape)) for shape in (a, b))
        raise ValueError(f"{op}: input and mat2 shapes cannot be multiplied ({listed})")


def mm(input, mat2):
    """Matrix product of two matrices, torch.mm: (n, k) @ (k, m) -> (n, m). Both must be 2-D: no
    broadcasting and no 1-D promotion (matmul does those)."""
    _matrix_operands("mm", input, mat2, 2)
    return MatMul.apply(input, mat2)


def bmm(input, mat2):
    """Batched matrix product, torch.bmm: (b, n, k) @ (b, k, m) -> (b, n, m), the same b on both sides."""
    _matrix_operands("bmm", input, mat2, 3)
    return MatMul.apply(input, mat2)


def maximum(input, other):
    """Elementwise maximum, broadcasting; ties split the gradient equally (torch.maximum)."""
    number_array("maximum", "input", input)
    number_array("maximum", "other", other)
    return PairwiseExtremum.apply(input, other, largest=True)


def minimum(input, other):
    """Elementwise minimum, broadcasting; ties split the gradient equally (torch.minimum)."""
    number_array("minimum", "input", input)
    number_array("minimum", "other", other)
    return PairwiseExtremum.apply(input, other, largest=False)


def cast(input, dtype):
    """`input` converted to `dtype`; the gradient flows back in the input's dtype."""
    number_array("cast", "input", input)
    return Cast.apply(input, np.dtype(dtype))
