"""The layers the benchmark times: the default set (convolutions from the architectures in the
notes and the public convnet-benchmarks layers L1-L5), one ad-hoc layer from `--layer`, or every
convolution of a model (models.py)."""
from __future__ import annotations

import dataclasses

import numpy as np

from ..kernels.registry import ConvGeometry, output_length

LAYER_FIELDS = ("N", "C", "H", "W", "K", "kh", "kw", "stride", "pad", "dilation", "groups")


@dataclasses.dataclass(frozen=True)
class Layer:
    """One 2-D convolution: input (batch, channels, height, width), `filters` output channels,
    kernel (kH, kW), stride, dilation (sH, sW), padding ((top, bottom), (left, right)), groups.
    `count`: how many layers of a model share this geometry."""

    name: str
    batch: int
    channels: int
    height: int
    width: int
    filters: int
    kernel: tuple
    stride: tuple = (1, 1)
    padding: tuple = ((0, 0), (0, 0))
    dilation: tuple = (1, 1)
    groups: int = 1
    count: int = 1

    def geometry(self, dtype=np.float32) -> ConvGeometry:
        """The layer in the kernels' 3-D layout (depth 1)."""
        return ConvGeometry(
            input_shape=(self.batch, self.channels, 1, self.height, self.width),
            weight_shape=(self.filters, self.channels // self.groups, 1) + tuple(self.kernel),
            stride=(1,) + tuple(self.stride), padding=((0, 0),) + tuple(self.padding),
            dilation=(1,) + tuple(self.dilation), groups=self.groups, dtype=np.dtype(dtype), spatial_dims=2)

    def describe(self, batch=True) -> str:
        """e.g. "N8 C64 56x56 K64 3x3 s1 p1" (the batch left out with batch=False)."""
        (kh, kw), (sh, sw), (dh, dw) = self.kernel, self.stride, self.dilation
        (top, bottom), (left, right) = self.padding
        if top == bottom and left == right:
            pad = f"{top}" if top == left else f"{top},{left}"
        else:
            pad = f"({top},{bottom}),({left},{right})"
        text = (f"C{self.channels} {self.height}x{self.width} K{self.filters} {kh}x{kw} "
                f"s{sh if sh == sw else f'{sh},{sw}'} p{pad}")
        text += f" d{dh if dh == dw else f'{dh},{dw}'}" if (dh, dw) != (1, 1) else ""
        text += f" g{self.groups}" if self.groups > 1 else ""
        return f"N{self.batch} {text}" if batch else text

    def with_batch(self, batch: int) -> Layer:
        return dataclasses.replace(self, batch=batch)

    def shrunk(self) -> Layer:
        """A tiny copy with the same kernel, stride, padding, dilation and kind of grouping (--quick)."""
        g = self.groups
        if g == self.channels == self.filters:  # depthwise stays depthwise
            c = k = g = 8
        elif g > 1:
            g = 4
            c, k = g * min(self.channels // self.groups, 4), g * min(self.filters // self.groups, 4)
        else:
            c, k = min(self.channels, 8), min(self.filters, 8)
        spans = [d * (n - 1) + 1 for n, d in zip(self.kernel, self.dilation)]
        h, w = (max(span + s, min(size, 16)) for span, s, size in zip(spans, self.stride, (self.height, self.width)))
        return dataclasses.replace(self, batch=1, channels=c, filters=k, groups=g, height=h, width=w)


def square_layer(name, n, c, hw, k, kernel, stride, pad, groups=1) -> Layer:
    """A layer on an hw x hw input with symmetric padding; kernel and pad an int or a pair."""
    kernel = (kernel, kernel) if isinstance(kernel, int) else kernel
    pad = (pad, pad) if isinstance(pad, int) else pad
    return Layer(name, n, c, hw, hw, k, kernel, (stride, stride), ((pad[0], pad[0]), (pad[1], pad[1])),
                 groups=groups)


LAYERS = {layer.name: layer for layer in [
    square_layer("lenet5_c3", 8, 6, 14, 16, 5, 1, 0),
    square_layer("alexnet_conv1", 8, 3, 227, 96, 11, 4, 0),
    square_layer("zfnet_conv1", 8, 3, 224, 96, 7, 2, 1),
    square_layer("vgg16_conv3_2", 1, 256, 56, 256, 3, 1, 1),
    square_layer("googlenet_5x5", 8, 192, 28, 32, 5, 1, 2),
    square_layer("resnet50_1x1", 8, 256, 56, 64, 1, 1, 0),
    square_layer("incv3_1x7", 8, 128, 17, 128, (1, 7), 1, (0, 3)),
    square_layer("resnet18_3x3", 8, 64, 56, 64, 3, 1, 1),
    square_layer("resnext50_g32", 8, 128, 56, 128, 3, 1, 1, 32),
    square_layer("mobilenet_dw3x3", 8, 128, 56, 128, 3, 1, 1, 128),
    square_layer("cb_L1", 4, 3, 128, 96, 11, 1, 0),
    square_layer("cb_L2", 1, 64, 64, 128, 9, 1, 0),
    square_layer("cb_L3", 2, 128, 32, 128, 9, 1, 0),
    square_layer("cb_L4", 8, 128, 16, 128, 7, 1, 0),
    square_layer("cb_L5", 8, 384, 13, 384, 3, 1, 0),
]}


def parse_layer(spec: str) -> Layer:
    """The layer of `--layer "N,C,H,W,K,kh,kw,stride,pad,dilation,groups"` (every field an int;
    the last three may be left out: dilation 1, groups 1). ValueError naming the bad field."""
    parts = [p.strip() for p in spec.split(",")]
    if not 9 <= len(parts) <= len(LAYER_FIELDS):
        raise ValueError(f"--layer wants {','.join(LAYER_FIELDS)} (dilation and groups may be left out), "
                         f"got {len(parts)} fields in {spec!r}")
    values = {}
    for field, text in zip(LAYER_FIELDS, parts):
        try:
            values[field] = int(text)
        except ValueError:
            raise ValueError(f"--layer: field {field} must be an integer, got {text!r}") from None
        if values[field] < (0 if field == "pad" else 1):
            raise ValueError(f"--layer: field {field} must be {'>= 0' if field == 'pad' else 'positive'}, "
                             f"got {values[field]}")
    values.setdefault("dilation", 1)
    values.setdefault("groups", 1)
    v = values
    for field in ("C", "K"):
        if v[field] % v["groups"]:
            raise ValueError(f"--layer: groups={v['groups']} must divide {field}={v[field]}")
    for size, k in (("H", "kh"), ("W", "kw")):
        if output_length(v[size], v[k], v["stride"], v["pad"], v["pad"], v["dilation"]) < 1:
            raise ValueError(f"--layer: the {v[k]}-tap kernel (dilation {v['dilation']}) does not fit "
                             f"{size}={v[size]} padded by {v['pad']} on each side")
    p = v["pad"]
    return Layer("custom", v["N"], v["C"], v["H"], v["W"], v["K"], (v["kh"], v["kw"]), (v["stride"],) * 2,
                  ((p, p), (p, p)), (v["dilation"],) * 2, v["groups"])
