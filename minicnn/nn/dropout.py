"""Dropout layers. Each draws its masks from the Generator given at construction, or from
minicnn.random.default_generator() at call time when none was given; all are the identity in
eval() mode (DropPath with inverted=False scales by survival_prob there instead)."""
from __future__ import annotations

from .. import functional as F
from ..functional.checks import probability
from .module import Module


class _DropoutNd(Module):
    function = None

    def __init__(self, p: float = 0.5, *, generator=None):
        super().__init__()
        self.p, self.generator = probability(type(self).__name__, "p", p), generator

    def forward(self, x):
        return self.function(x, self.p, self.training, generator=self.generator)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Dropout(_DropoutNd):
    """Inverted dropout of single elements (F.dropout): any shape -> same shape."""
    function = staticmethod(F.dropout)


class Dropout2d(_DropoutNd):
    """Dropout of whole channels (F.dropout2d): (N, C, H, W) -> (N, C, H, W)."""
    function = staticmethod(F.dropout2d)


class DropPath(Module):
    """Stochastic depth on a residual branch (F.drop_path): each sample's branch output survives
    with probability survival_prob (Huang et al.'s p_l). Put it at the end of the branch, or give
    it to nn.Residual(..., drop_path=DropPath(p_l)). (N, ...) -> (N, ...)."""

    def __init__(self, survival_prob: float, *, inverted: bool = True, generator=None):
        super().__init__()
        if probability("DropPath", "survival_prob", survival_prob) == 0:
            raise ValueError("DropPath: survival_prob must be in (0, 1], got 0 (a branch that never survives)")
        self.survival_prob, self.inverted, self.generator = survival_prob, inverted, generator

    def forward(self, x):
        return F.drop_path(x, self.survival_prob, self.training, inverted=self.inverted,
                           generator=self.generator)

    def extra_repr(self) -> str:
        return f"survival_prob={self.survival_prob}, inverted={self.inverted}"
