"""Functions with deliberately wrong backwards, shared by the tests of the gradient checkers
(minicnn.gradcheck, minicnn.testing.check_function): each checker must catch every one."""
import numpy as np

from minicnn import Function


class BiasAddFirstRowOnly(Function):
    """x (N, C) + b (C,); the backward for b keeps the first row instead of summing over N."""

    @staticmethod
    def forward(ctx, x, b):
        return x + b

    @staticmethod
    def backward(ctx, grad):
        return grad, grad[0].copy()


class GatherOffByOne(Function):
    """a[index]; the backward scatters each gradient one position too far."""

    @staticmethod
    def forward(ctx, a, index):
        ctx.index, ctx.n = index, a.shape[0]
        return a[index]

    @staticmethod
    def backward(ctx, grad):
        out = np.zeros(ctx.n)
        np.add.at(out, (ctx.index + 1) % ctx.n, grad)
        return out, None
