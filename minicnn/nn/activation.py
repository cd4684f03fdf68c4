"""Activation modules: thin wrappers over minicnn.functional."""
from __future__ import annotations

from .. import functional as F
from .module import Module


class InPlaceActivation(Module):
    """An activation with PyTorch's `inplace` flag: True writes the result over the input."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class ReLU(InPlaceActivation):
    """max(x, 0). inplace=True overwrites x (Tensor.relu_), as PyTorch's flag does."""

    def forward(self, x):
        return F.relu(x, inplace=self.inplace)


class LeakyReLU(InPlaceActivation):
    """x for x > 0, negative_slope * x otherwise."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        super().__init__(inplace)
        self.negative_slope = negative_slope

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope, self.inplace)

    def extra_repr(self) -> str:
        return ", ".join(filter(None, [f"negative_slope={self.negative_slope}", super().extra_repr()]))


class ELU(InPlaceActivation):
    """x for x > 0, alpha * (exp(x) - 1) otherwise."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__(inplace)
        self.alpha = alpha

    def forward(self, x):
        return F.elu(x, self.alpha, self.inplace)

    def extra_repr(self) -> str:
        return ", ".join(filter(None, [f"alpha={self.alpha}", super().extra_repr()]))


class Hardsigmoid(InPlaceActivation):
    """clip(x / 6 + 1/2, 0, 1), PyTorch's piecewise-linear sigmoid."""

    def forward(self, x):
        return F.hardsigmoid(x, self.inplace)


class Tanh(Module):
    """Hyperbolic tangent."""

    def forward(self, x):
        return F.tanh(x)


class Sigmoid(Module):
    """1 / (1 + exp(-x))."""

    def forward(self, x):
        return F.sigmoid(x)


class ReLU6(InPlaceActivation):
    """min(max(x, 0), 6)."""

    def forward(self, x):
        return F.relu6(x, self.inplace)


class Hardswish(InPlaceActivation):
    """x * relu6(x + 3) / 6 (MobileNetV3)."""

    def forward(self, x):
        return F.hardswish(x, self.inplace)


class GELU(Module):
    """x * Phi(x), Phi the standard normal CDF; approximate="tanh" for the tanh approximation."""

    def __init__(self, approximate: str = "none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x):
        return F.gelu(x, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(InPlaceActivation):
    """x * sigmoid(x) (swish)."""

    def forward(self, x):
        return F.silu(x, self.inplace)


class Softplus(Module):
    """log(1 + exp(beta x)) / beta, linear where beta x > threshold."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, x):
        return F.softplus(x, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class Softmax(Module):
    """Softmax along `dim`; without dim, PyTorch's legacy choice (with its warning): dim 0 for
    0-, 1- and 3-D input, else 1."""

    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.softmax(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    """log(softmax(x)) along `dim`."""

    def forward(self, x):
        return F.log_softmax(x, self.dim)
