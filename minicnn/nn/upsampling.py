"""Upsample: F.interpolate as a layer (PyTorch's torch.nn.Upsample)."""
from __future__ import annotations

from .. import functional as F
from .module import Module


class Upsample(Module):
    """Resize by interpolation; give size or scale_factor (see F.interpolate for the coordinates).

    mode: "nearest" (default), "linear" (3-D input), "bilinear" (4-D) or "trilinear" (5-D).
    """

    def __init__(self, size=None, scale_factor=None, mode: str = "nearest", align_corners=None,
                 recompute_scale_factor=None):
        super().__init__()
        self.size, self.scale_factor, self.mode = size, scale_factor, mode
        self.align_corners, self.recompute_scale_factor = align_corners, recompute_scale_factor

    def forward(self, x):
        return F.interpolate(x, self.size, self.scale_factor, self.mode, self.align_corners,
                             self.recompute_scale_factor)

    def extra_repr(self) -> str:
        shape = f"size={self.size}" if self.size is not None else f"scale_factor={self.scale_factor}"
        return f"{shape}, mode={self.mode!r}"
