"""Normalisation layers: BatchNorm1d/2d/3d, LocalResponseNorm, LocalContrastNorm."""
from __future__ import annotations

import numpy as np

from .. import functional as F
from ..functional.checks import float_array, is_int
from ..tensor import float_dtype
from .module import Module, Parameter


class _BatchNorm(Module):
    """Batch normalisation over channel axis 1 (F.batch_norm has the formula), PyTorch's layer.

    weight (gamma, init 1) and bias (beta, init 0) are Parameters when affine=True. With
    track_running_stats=True the buffers running_mean (init 0), running_var (init 1) and
    num_batches_tracked are kept and saved in state_dict; eval() then normalises with them.
    momentum=None makes the running statistics a cumulative average over all batches seen
    (factor 1 / num_batches_tracked). Without running statistics the batch's own are used in
    both modes.
    """

    dims = ()  # the input dimensionalities the layer accepts, set by each subclass

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, *, dtype=None):
        super().__init__()
        name = type(self).__name__
        if not is_int(num_features) or num_features <= 0:
            raise ValueError(f"{name}: num_features must be a positive int, got {num_features!r}")
        if momentum is not None and not 0.0 <= momentum <= 1.0:
            raise ValueError(f"{name}: momentum must be in [0, 1] or None, got {momentum}")
        self.num_features, self.eps, self.momentum = int(num_features), eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        dtype = float_dtype(dtype)
        if affine:
            self.weight = Parameter(np.ones(num_features, dtype))
            self.bias = Parameter(np.zeros(num_features, dtype))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(num_features, dtype))
            self.register_buffer("running_var", np.ones(num_features, dtype))
            self.register_buffer("num_batches_tracked", np.array(0, np.int64))
        else:
            for buffer in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(buffer, None)

    def forward(self, x):
        name = type(self).__name__
        shape = float_array(name, "input", x).shape
        if len(shape) not in self.dims:
            raise ValueError(f"{name}: expected a {' or '.join(map(str, self.dims))}-D input, "
                             f"got shape {shape}")
        if shape[1] != self.num_features:
            raise ValueError(f"{name}: expected {self.num_features} channels (num_features), got "
                             f"input of shape {shape}")
        factor = 0.0
        if self.training and self.track_running_stats:
            self.num_batches_tracked.array += 1
            factor = (1.0 / int(self.num_batches_tracked.array) if self.momentum is None
                      else self.momentum)
        use_batch_stats = self.training or self.running_mean is None
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            use_batch_stats, factor, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch norm for (N, C) or (N, C, L) inputs: statistics per channel over N (and L)."""
    dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch norm for (N, C, H, W) inputs: statistics per channel over N, H and W."""
    dims = (4,)


class BatchNorm3d(_BatchNorm):
    """Batch norm for (N, C, D, H, W) volumes: statistics per channel over N, D, H and W."""
    dims = (5,)


class LocalResponseNorm(Module):
    """F.local_response_norm as a layer (PyTorch's parameterisation; AlexNet's layer is
    LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0), see the function's docstring)."""

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, x):
        return F.local_response_norm(x, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


class LocalContrastNorm(Module):
    """F.local_contrast_norm as a layer (Jarrett et al. 2009; ZFNet): subtractive then divisive
    normalisation over channels and a Gaussian size x size neighbourhood."""

    def __init__(self, size: int = 9, sigma: float | None = None, eps: float = 1e-4):
        super().__init__()
        self.size, self.sigma, self.eps = size, sigma, eps

    def forward(self, x):
        return F.local_contrast_norm(x, self.size, self.sigma, self.eps)

    def extra_repr(self) -> str:
        return f"size={self.size}, sigma={self.sigma}, eps={self.eps}"
