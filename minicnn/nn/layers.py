"""Basic layers: Linear, Identity, Flatten."""
from __future__ import annotations

import numpy as np

from .. import functional as F
from ..tensor import DEFAULT_DTYPE
from . import init
from .module import Module, Parameter


class Linear(Module):
    """y = x W^T + b.  x: (*, in_features) -> (*, out_features).

    weight: (out_features, in_features), bias: (out_features,), initialised as PyTorch does
    (U(-1/sqrt(in_features), 1/sqrt(in_features))) from `generator`.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *,
                 dtype=DEFAULT_DTYPE, generator=None):
        super().__init__()
        for name, value in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(value, (int, np.integer)) or value <= 0:
                raise ValueError(f"Linear: {name} must be a positive integer, got {value!r}")
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.weight = Parameter(np.empty((out_features, in_features), dtype))
        self.bias = Parameter(np.empty(out_features, dtype)) if bias else None
        if not bias:
            self.register_parameter("bias", None)
        init.default_layer_init_(self.weight, self.bias, generator)

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Identity(Module):
    """Returns its input unchanged (a placeholder, or a shortcut that does nothing)."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x):
        return x


class Flatten(Module):
    """Merge axes start_dim..end_dim: (N, C, H, W) -> (N, C*H*W) with the defaults."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        return F.flatten(x, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
