"""LayerNorm and GroupNorm (PyTorch's torch.nn layers over F.layer_norm and F.group_norm)."""
from __future__ import annotations

import numpy as np

from .. import functional as F
from ..functional.checks import is_int, non_negative
from ..tensor import float_dtype
from .module import Module, Parameter


class LayerNorm(Module):
    """Layer normalisation over the last axes, of shape normalized_shape (see F.layer_norm).

    elementwise_affine=True adds weight (init 1) and bias (init 0, unless bias=False), each of
    shape normalized_shape, as in PyTorch.
    """

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, *, dtype=None):
        super().__init__()
        shape = (normalized_shape,) if is_int(normalized_shape) else normalized_shape
        if not isinstance(shape, (tuple, list)) or not shape or not all(is_int(n) and n > 0 for n in shape):
            raise ValueError(f"LayerNorm: normalized_shape must be a positive int or a tuple of them, "
                             f"got {normalized_shape!r}")
        self.normalized_shape = tuple(int(n) for n in shape)
        self.eps, self.elementwise_affine = non_negative("LayerNorm", "eps", eps), elementwise_affine
        dtype = float_dtype(dtype)
        self.weight = Parameter(np.ones(self.normalized_shape, dtype)) if elementwise_affine else None
        self.bias = Parameter(np.zeros(self.normalized_shape, dtype)) if elementwise_affine and bias else None
        for name in ("weight", "bias"):
            if getattr(self, name) is None:
                self.register_parameter(name, None)

    def forward(self, x):
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class GroupNorm(Module):
    """Group normalisation: num_channels channels in num_groups groups (see F.group_norm).

    affine=True adds per-channel weight (init 1) and bias (init 0), shape (num_channels,).
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True, *,
                 dtype=None):
        super().__init__()
        for name, value in (("num_groups", num_groups), ("num_channels", num_channels)):
            if not is_int(value) or value <= 0:
                raise ValueError(f"GroupNorm: {name} must be a positive int, got {value!r}")
        if num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_groups={num_groups} must divide num_channels={num_channels}")
        self.num_groups, self.num_channels, self.affine = int(num_groups), int(num_channels), affine
        self.eps = non_negative("GroupNorm", "eps", eps)
        dtype = float_dtype(dtype)
        if affine:
            self.weight = Parameter(np.ones(num_channels, dtype))
            self.bias = Parameter(np.zeros(num_channels, dtype))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x):
        shape = np.shape(x)
        if len(shape) < 2 or shape[1] != self.num_channels:
            raise ValueError(f"GroupNorm: expected input (N, {self.num_channels}, *), got shape {shape}")
        return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"
