"""What every model of the zoo shares: the Classifier that holds a body and a head, channel
scaling for reduced copies, the conv-BN-ReLU unit, and the initialisation schemes."""
from __future__ import annotations

import inspect
from collections import OrderedDict

from minicnn import nn
from minicnn.kernels import output_length
from minicnn.nn import init


class Classifier(nn.Module):
    """A network as `body` (image -> embedding) followed by `head` (embedding -> logits).

    features(x) is the body's output, the embedding a new head is trained on for transfer
    learning; forward(x) = head(features(x)). `aux` lists auxiliary classifiers as pairs
    (name of the body layer whose output feeds it, head): in training mode forward returns
    (logits, aux_logits_1, ...), in eval mode the logits alone (GoogLeNet, Inception v3).
    input_shape is the (C, H, W) the network was built for.
    """

    def __init__(self, body: nn.Sequential, head: nn.Module, *, input_shape, aux=()):
        super().__init__()
        self.body, self.head = body, head
        self.aux_heads = nn.ModuleList(h for _, h in aux) if aux else None
        self.aux_taps = tuple(name for name, _ in aux)
        self.input_shape = tuple(input_shape)

    def features(self, x):
        """x: (N, *input_shape) -> the embedding the head takes."""
        return self.body(x)

    def forward(self, x):
        if not (self.training and self.aux_taps):
            return self.head(self.body(x))
        aux_logits = []
        for name, layer in self.body.named_children():
            x = layer(x)
            aux_logits += [head(x) for tap, head in zip(self.aux_taps, self.aux_heads) if tap == name]
        return (self.head(x), *aux_logits)


def variant(family, name: str, description: str, **fixed):
    """A named builder that is `family` with some options fixed: vgg16 = variant(vgg, "vgg16",
    ..., depth=16). Its other options are `family`'s (see `options_of`)."""
    def builder(**options):
        clash = sorted(fixed.keys() & options.keys())
        if clash:
            raise TypeError(f"{name}: {', '.join(clash)} is fixed by the name; call {family.__name__}() to choose it")
        return family(**fixed, **options)

    builder.__name__ = builder.__qualname__ = name
    builder.__module__ = family.__module__
    builder.__doc__ = f"{description}: {family.__name__}({', '.join(f'{k}={v!r}' for k, v in fixed.items())}, ...)."
    builder.family, builder.fixed = family, fixed
    return builder


def options_of(builder) -> list:
    """The keyword options a builder accepts."""
    family = getattr(builder, "family", builder)
    fixed = getattr(builder, "fixed", {})
    return [p for p in inspect.signature(family).parameters if p not in fixed]


def scaled(channels: int, width: float, multiple: int = 1) -> int:
    """`channels` times the width multiplier, rounded to a positive multiple of `multiple` (the
    number of groups of a grouped convolution that consumes them)."""
    return max(multiple, int(round(channels * width / multiple)) * multiple)


def check_width(builder: str, width) -> None:
    if not isinstance(width, (int, float)) or isinstance(width, bool) or width <= 0:
        raise ValueError(f"{builder}: width must be a positive number, got {width!r}")


def square(builder: str, input_size) -> tuple:
    """input_size as (H, W); an int means a square image."""
    size = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
    if len(size) != 2 or any(not isinstance(s, int) or s <= 0 for s in size):
        raise ValueError(f"{builder}: input_size must be a positive int or an (H, W) pair, got {input_size!r}")
    return size


def conv_out(size: int, kernel: int, stride: int = 1, padding: int = 0, ceil_mode: bool = False) -> int:
    """Output length of a convolution or pooling window along one axis: the formula the layers
    themselves use (minicnn.kernels.output_length), with symmetric padding and no dilation."""
    return output_length(size, kernel, stride, padding, padding, 1, ceil_mode)


def require_size(builder: str, spatial: int, minimum: int, where: str) -> None:
    if spatial < minimum:
        raise ValueError(f"{builder}: input_size is too small: the feature map {where} would be "
                         f"{spatial}x{spatial}, at least {minimum}x{minimum} is needed")


def conv_bn_relu(in_channels, out_channels, kernel_size, stride=1, padding=0, *, groups=1,
                 eps=1e-5, generator=None) -> nn.Sequential:
    """Convolution without bias (the BN's shift replaces it), batch norm, ReLU."""
    return nn.Sequential(OrderedDict(
        conv=nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, groups=groups,
                       bias=False, generator=generator),
        bn=nn.BatchNorm2d(out_channels, eps=eps),
        relu=nn.ReLU()))


def conv_relu(in_channels, out_channels, kernel_size, stride=1, padding=0, *, generator=None):
    """Convolution with bias, then ReLU: the unit of the networks before batch norm."""
    return nn.Sequential(OrderedDict(
        conv=nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, generator=generator),
        relu=nn.ReLU()))


def layers_of(model: nn.Module, *types):
    return [m for m in model.modules() if isinstance(m, types)]


def he_init_(model: nn.Module, generator, *, mode: str = "fan_out", linear_bias_zero: bool = False) -> None:
    """He et al. 2015 (section 2.2) for every convolution: N(0, 2 / fan), fan = kernel area x
    output channels for mode="fan_out" (torchvision's ResNet) or x input channels for "fan_in";
    conv biases 0. BatchNorm keeps weight 1, bias 0; Linear keeps PyTorch's default, with the bias
    zeroed when asked (torchvision's DenseNet)."""
    for conv in layers_of(model, nn.Conv2d):
        init.kaiming_normal_(conv.weight, mode=mode, nonlinearity="relu", generator=generator)
        if conv.bias is not None:
            init.zeros_(conv.bias)
    if linear_bias_zero:
        for linear in layers_of(model, nn.Linear):
            if linear.bias is not None:
                init.zeros_(linear.bias)


def gaussian_init_(layers, std: float, generator, bias: float = 0.0) -> None:
    """Weights N(0, std^2) and biases constant, as the early papers (AlexNet, ZFNet) describe."""
    for layer in layers:
        init.normal_(layer.weight, 0.0, std, generator)
        if layer.bias is not None:
            init.constant_(layer.bias, bias)
