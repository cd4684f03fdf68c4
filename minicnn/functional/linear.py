"""The fully connected layer as one op: y = x W^T + b."""
from __future__ import annotations

from ..kernels.threads import matmul
from ..tensor import Function
from .checks import common_float_dtype, shape_of


class Linear(Function):
    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        out = matmul(x, weight.T)
        return out + bias if bias is not None else out

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        grad_x = matmul(grad, weight) if ctx.needs_input_grad[0] else None
        grad_w = grad_b = None
        if ctx.needs_input_grad[1]:
            grad_w = matmul(grad.reshape(-1, grad.shape[-1]).T, x.reshape(-1, x.shape[-1]))
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = grad.reshape(-1, grad.shape[-1]).sum(axis=0)
        return grad_x, grad_w, grad_b


def linear(input, weight, bias=None):
    """y = x W^T + b.  x: (*, in_features), weight: (out_features, in_features), bias: (out_features,)
    -> (*, out_features)."""
    common_float_dtype("linear", input=input, weight=weight, bias=bias)
    xs, ws = shape_of(input), shape_of(weight)
    if len(ws) != 2:
        raise ValueError(f"linear: weight must be (out_features, in_features), got shape {ws}")
    if len(xs) == 0 or xs[-1] != ws[1]:
        raise ValueError(f"linear: input has {xs[-1] if xs else 0} features (shape {xs}) "
                         f"but weight expects {ws[1]}")
    if bias is not None:
        bs = shape_of(bias)
        if bs != (ws[0],):
            raise ValueError(f"linear: bias must have shape ({ws[0]},), got {bs}")
    return Linear.apply(input, weight, bias)
