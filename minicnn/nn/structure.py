"""Layers that wire other layers together: parallel branches (Concat), residual blocks (Residual)
and squeeze-and-excitation channel gating."""
from __future__ import annotations

import numpy as np

from .. import functional as F
from ..tensor import Tensor
from .layers import Linear
from .module import Module


class Concat(Module):
    """Run every branch on the same input and concatenate the outputs along `dim` (channels by
    default): an Inception module's parallel paths, or DenseNet's [x, layer(x)].

    Branch outputs must agree on every axis but `dim`. (N, C, H, W) -> (N, sum C_i, H, W).
    """

    def __init__(self, *branches: Module, dim: int = 1):
        super().__init__()
        if not branches:
            raise ValueError("Concat: needs at least one branch")
        for index, branch in enumerate(branches):
            self.add_module(str(index), branch)
        self.dim = dim

    def forward(self, x):
        return F.cat([branch(x) for branch in self.children()], dim=self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Residual(Module):
    """y = post_activation(shortcut(x) + drop_path(branch(x))) (He et al. 2016).

    shortcut: None for the identity, or a module (a 1x1 convolution with batch norm when the
    shape changes: the projection shortcut). post_activation: None or a module.
    - ResNet v1: branch = conv-BN-ReLU-conv-BN, post_activation = nn.ReLU().
    - ResNet v2 (pre-activation): branch = BN-ReLU-conv-BN-ReLU-conv, post_activation = None.
    drop_path: None, or an nn.DropPath for stochastic depth (Huang et al. 2016), applied to the
    branch only, so a dropped block passes shortcut(x) through.
    """

    def __init__(self, branch: Module, shortcut: Module | None = None,
                 post_activation: Module | None = None, drop_path: Module | None = None):
        super().__init__()
        self.branch = branch
        self.add_module("shortcut", shortcut)
        self.add_module("post_activation", post_activation)
        self.add_module("drop_path", drop_path)

    def forward(self, x):
        residual = self.branch(x)
        if self.drop_path is not None:
            residual = self.drop_path(residual)
        identity = x if self.shortcut is None else self.shortcut(x)
        residual_shape, identity_shape = np.shape(residual.array), np.shape(identity.array)
        if residual_shape != identity_shape:
            raise ValueError(f"Residual: the branch gives shape {residual_shape} but the shortcut "
                             f"{identity_shape}; use a projection shortcut to match them")
        out = F.add(identity, residual)
        return out if self.post_activation is None else self.post_activation(out)


class SqueezeExcitation(Module):
    """Squeeze-and-excitation (Hu et al. 2018): reweight each channel by a gate computed from
    the whole feature map.

        z = mean_{h, w} x[:, :, h, w]                 squeeze: (N, C)
        s = sigmoid(W2 relu(W1 z + b1) + b2)          excitation, W1: C -> C / reduction
        y = x * s[:, :, None, None]                    (N, C, H, W) -> (N, C, H, W)

    fc1 and fc2 are nn.Linear layers (PyTorch's default initialisation, from `generator`); the
    hidden width is max(1, channels // reduction).
    """

    def __init__(self, channels: int, reduction: int = 16, *, dtype=None, generator=None):
        super().__init__()
        if not isinstance(channels, (int, np.integer)) or channels <= 0:
            raise ValueError(f"SqueezeExcitation: channels must be a positive int, got {channels!r}")
        if not isinstance(reduction, (int, np.integer)) or reduction <= 0:
            raise ValueError(f"SqueezeExcitation: reduction must be a positive int, got {reduction!r}")
        self.channels, self.reduction = int(channels), int(reduction)
        hidden = max(1, self.channels // self.reduction)
        self.fc1 = Linear(self.channels, hidden, dtype=dtype, generator=generator)
        self.fc2 = Linear(hidden, self.channels, dtype=dtype, generator=generator)

    def forward(self, x):
        shape = np.shape(x.array if isinstance(x, Tensor) else x)
        if len(shape) != 4 or shape[1] != self.channels:
            raise ValueError(f"SqueezeExcitation: expected (N, {self.channels}, H, W), got "
                             f"shape {shape}")
        gate = F.sigmoid(self.fc2(F.relu(self.fc1(F.global_avg_pool2d(x)))))
        return F.mul(x, F.reshape(gate, (shape[0], self.channels, 1, 1)))

    def extra_repr(self) -> str:
        return f"channels={self.channels}, reduction={self.reduction}"
