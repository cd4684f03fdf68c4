"""The benchmark's layer set: convolutions from the architectures in the notes and the public
convnet-benchmarks layers (L1-L5), each as (N, C, H=W, K, kernel, stride, padding, groups)."""
from __future__ import annotations

import dataclasses

import numpy as np

from ..kernels.registry import ConvGeometry


@dataclasses.dataclass(frozen=True)
class Layer:
    name: str
    batch: int
    channels: int
    size: int
    filters: int
    kernel: tuple  # (kH, kW)
    stride: int
    padding: tuple  # (pH, pW), symmetric
    groups: int = 1

    def geometry(self, dtype=np.float32) -> ConvGeometry:
        """The layer in the kernels' 3-D layout (depth 1)."""
        (kh, kw), (ph, pw) = self.kernel, self.padding
        return ConvGeometry(
            input_shape=(self.batch, self.channels, 1, self.size, self.size),
            weight_shape=(self.filters, self.channels // self.groups, 1, kh, kw),
            stride=(1, self.stride, self.stride), padding=((0, 0), (ph, ph), (pw, pw)),
            dilation=(1, 1, 1), groups=self.groups, dtype=np.dtype(dtype), spatial_dims=2)

    def describe(self) -> str:
        (kh, kw), (ph, pw) = self.kernel, self.padding
        pad = ph if ph == pw else f"({ph},{pw})"
        return (f"N{self.batch} C{self.channels} {self.size}x{self.size} K{self.filters} {kh}x{kw} "
                f"s{self.stride} p{pad}" + (f" g{self.groups}" if self.groups > 1 else ""))

    def with_batch(self, batch: int) -> Layer:
        return dataclasses.replace(self, batch=batch)

    def shrunk(self) -> Layer:
        """A tiny copy with the same kernel, stride, padding and kind of grouping (for --quick)."""
        g = self.groups
        if g == self.channels:  # depthwise stays depthwise
            c = k = g = 8
        elif g > 1:
            g = 4
            c, k = g * min(self.channels // self.groups, 4), g * min(self.filters // self.groups, 4)
        else:
            c, k = min(self.channels, 8), min(self.filters, 8)
        size = max(max(self.kernel) + self.stride, min(self.size, 16))
        return dataclasses.replace(self, batch=1, channels=c, filters=k, groups=g, size=size)


def _layer(name, n, c, hw, k, kernel, stride, pad, groups=1):
    kernel = (kernel, kernel) if isinstance(kernel, int) else kernel
    pad = (pad, pad) if isinstance(pad, int) else pad
    return Layer(name, n, c, hw, k, kernel, stride, pad, groups)


LAYERS = {layer.name: layer for layer in [
    _layer("lenet5_c3", 8, 6, 14, 16, 5, 1, 0),
    _layer("alexnet_conv1", 8, 3, 227, 96, 11, 4, 0),
    _layer("zfnet_conv1", 8, 3, 224, 96, 7, 2, 1),
    _layer("vgg16_conv3_2", 1, 256, 56, 256, 3, 1, 1),
    _layer("googlenet_5x5", 8, 192, 28, 32, 5, 1, 2),
    _layer("resnet50_1x1", 8, 256, 56, 64, 1, 1, 0),
    _layer("incv3_1x7", 8, 128, 17, 128, (1, 7), 1, (0, 3)),
    _layer("resnet18_3x3", 8, 64, 56, 64, 3, 1, 1),
    _layer("resnext50_g32", 8, 128, 56, 128, 3, 1, 1, 32),
    _layer("mobilenet_dw3x3", 8, 128, 56, 128, 3, 1, 1, 128),
    _layer("cb_L1", 4, 3, 128, 96, 11, 1, 0),
    _layer("cb_L2", 1, 64, 64, 128, 9, 1, 0),
    _layer("cb_L3", 2, 128, 32, 128, 9, 1, 0),
    _layer("cb_L4", 8, 128, 16, 128, 7, 1, 0),
    _layer("cb_L5", 8, 384, 13, 384, 3, 1, 0),
]}
