"""Pooling layers: thin modules over minicnn.functional.pool (the formulas and shapes are there)."""
from __future__ import annotations

from .. import functional as F
from .module import Module


class _MaxPoolNd(Module):
    function = None  # the functional op, set by each subclass

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False,
                 ceil_mode=False):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.dilation, self.return_indices, self.ceil_mode = dilation, return_indices, ceil_mode

    def forward(self, x):
        return self.function(x, self.kernel_size, self.stride, self.padding, self.dilation,
                                   self.ceil_mode, self.return_indices)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool1d(_MaxPoolNd):
    """F.max_pool1d as a layer: (N, C, L) -> (N, C, L_out)."""
    function = staticmethod(F.max_pool1d)


class MaxPool2d(_MaxPoolNd):
    """F.max_pool2d as a layer: (N, C, H, W) -> (N, C, H_out, W_out); MaxPool2d(3, 2) is
    AlexNet's overlapping pooling. return_indices=True returns (output, indices)."""
    function = staticmethod(F.max_pool2d)


class MaxPool3d(_MaxPoolNd):
    """F.max_pool3d as a layer: (N, C, D, H, W) -> (N, C, D_out, H_out, W_out)."""
    function = staticmethod(F.max_pool3d)


class _AvgPoolNd(Module):
    function = None

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True, divisor_override=None):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad
        self.divisor_override = divisor_override

    def forward(self, x):
        return self.function(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                                   self.count_include_pad, self.divisor_override)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"ceil_mode={self.ceil_mode}, count_include_pad={self.count_include_pad}")


class AvgPool1d(_AvgPoolNd):
    """F.avg_pool1d as a layer: (N, C, L) -> (N, C, L_out)."""
    function = staticmethod(F.avg_pool1d)


class AvgPool2d(_AvgPoolNd):
    """F.avg_pool2d as a layer: (N, C, H, W) -> (N, C, H_out, W_out)."""
    function = staticmethod(F.avg_pool2d)


class AvgPool3d(_AvgPoolNd):
    """F.avg_pool3d as a layer: (N, C, D, H, W) -> (N, C, D_out, H_out, W_out)."""
    function = staticmethod(F.avg_pool3d)


class _AdaptivePoolNd(Module):
    function = None

    def __init__(self, output_size, **options):
        super().__init__()
        self.output_size, self.options = output_size, options

    def forward(self, x):
        return self.function(x, self.output_size, **self.options)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveAvgPool1d(_AdaptivePoolNd):
    """F.adaptive_avg_pool1d as a layer: (N, C, L) -> (N, C, output_size)."""
    function = staticmethod(F.adaptive_avg_pool1d)


class AdaptiveAvgPool2d(_AdaptivePoolNd):
    """F.adaptive_avg_pool2d as a layer: (N, C, H, W) -> (N, C, oH, oW); AdaptiveAvgPool2d(1)
    is global average pooling keeping (1, 1) spatial axes."""
    function = staticmethod(F.adaptive_avg_pool2d)


class AdaptiveAvgPool3d(_AdaptivePoolNd):
    """F.adaptive_avg_pool3d as a layer: (N, C, D, H, W) -> (N, C, oD, oH, oW)."""
    function = staticmethod(F.adaptive_avg_pool3d)


class _AdaptiveMaxPoolNd(_AdaptivePoolNd):
    def __init__(self, output_size, return_indices=False):
        super().__init__(output_size, return_indices=return_indices)


class AdaptiveMaxPool1d(_AdaptiveMaxPoolNd):
    """F.adaptive_max_pool1d as a layer: (N, C, L) -> (N, C, output_size)."""
    function = staticmethod(F.adaptive_max_pool1d)


class AdaptiveMaxPool2d(_AdaptiveMaxPoolNd):
    """F.adaptive_max_pool2d as a layer: (N, C, H, W) -> (N, C, oH, oW)."""
    function = staticmethod(F.adaptive_max_pool2d)


class AdaptiveMaxPool3d(_AdaptiveMaxPoolNd):
    """F.adaptive_max_pool3d as a layer: (N, C, D, H, W) -> (N, C, oD, oH, oW)."""
    function = staticmethod(F.adaptive_max_pool3d)


class GlobalAvgPool2d(Module):
    """Global average pooling, (N, C, H, W) -> (N, C): NiN's, GoogLeNet's and ResNet's head."""

    def forward(self, x):
        return F.global_avg_pool2d(x)


class _MaxUnpoolNd(Module):
    function = None

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x, indices, output_size=None):
        return self.function(x, indices, self.kernel_size, self.stride, self.padding,
                                   output_size)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool1d(_MaxUnpoolNd):
    """F.max_unpool1d as a layer: module(x, indices, output_size=None)."""
    function = staticmethod(F.max_unpool1d)


class MaxUnpool2d(_MaxUnpoolNd):
    """F.max_unpool2d as a layer: module(x, indices, output_size=None), indices from
    MaxPool2d(..., return_indices=True) (the deconvnet's switches)."""
    function = staticmethod(F.max_unpool2d)


class MaxUnpool3d(_MaxUnpoolNd):
    """F.max_unpool3d as a layer: module(x, indices, output_size=None)."""
    function = staticmethod(F.max_unpool3d)
