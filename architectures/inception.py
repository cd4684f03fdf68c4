"""Inception v2 and v3: the Inception modules rebuilt around batch normalisation.

Every convolution here is conv (no bias) -> BatchNorm -> ReLU.

- inception_v2 is BN-Inception (Ioffe & Szegedy 2015, figure 5): GoogLeNet with batch norm,
  each 5x5 branch factorised into two stacked 3x3 convolutions, and two stride-2 modules (3c,
  4e) that shrink the grid by concatenating strided branches with a max-pool's pass-through.
- inception_v3 (Szegedy et al. 2016, "Rethinking the Inception architecture") factorises
  further: n x n into 1 x n then n x 1 (the 17x17 modules, n=7), splits the last 3x3s into
  parallel 1x3 and 3x1 (the 8x8 modules), reduces the grid with strided branches beside a pool
  (section 5), and keeps one auxiliary classifier on the 17x17 grid. Layer for layer as
  torchvision's inception_v3 (BN eps 0.001), 27,161,264 parameters with the auxiliary head.
"""
from __future__ import annotations

from collections import OrderedDict

from minicnn import nn

from .common import Classifier, check_width, conv_bn_relu, conv_out, he_init_, require_size, scaled, square


def _units(generator, eps):
    """unit(cin, cout, kernel, stride=1, padding=0): conv-BN-ReLU bound to the builder's settings;
    chain(cin, (cout, kernel, stride, padding), ...): such units in sequence."""
    def unit(cin, cout, kernel, stride=1, padding=0):
        return conv_bn_relu(cin, cout, kernel, stride, padding, eps=eps, generator=generator)

    def chain(cin, *specs):
        layers = []
        for cout, *geometry in specs:
            layers.append(unit(cin, cout, *geometry))
            cin = cout
        return nn.Sequential(*layers)
    return unit, chain


# ---- Inception v2 (BN-Inception) ------------------------------------------------------------
#         #1x1 #3x3red #3x3 #double3x3red #double3x3 pool  proj  (figure 5; 0 / None: stride-2 module)
V2_MODULES = {
    "3a": (64, 64, 64, 64, 96, "avg", 32),
    "3b": (64, 64, 96, 64, 96, "avg", 64),
    "3c": (0, 128, 160, 64, 96, "max", None),
    "4a": (224, 64, 96, 96, 128, "avg", 128),
    "4b": (192, 96, 128, 96, 128, "avg", 128),
    "4c": (160, 128, 160, 128, 160, "avg", 128),
    "4d": (96, 128, 192, 160, 192, "avg", 128),
    "4e": (0, 128, 192, 192, 256, "max", None),
    "5a": (352, 192, 320, 160, 224, "avg", 128),
    "5b": (352, 192, 320, 192, 224, "max", 128),
}


def bn_inception_module(cin, c1, c3_reduce, c3, d3_reduce, d3, pool, proj, *, unit, chain):
    """A BN-Inception module. proj=None makes it a grid reduction: the 3x3 branches end with
    stride 2 and the max-pool (3x3/2) passes its input through unprojected; then c1 must be 0.
    (N, cin, H, W) -> (N, c1 + c3 + d3 + (proj or cin), H', W')."""
    stride = 2 if proj is None else 1
    branches = [] if c1 == 0 else [unit(cin, c1, 1)]
    branches.append(chain(cin, (c3_reduce, 1), (c3, 3, stride, 1)))
    branches.append(chain(cin, (d3_reduce, 1), (d3, 3, 1, 1), (d3, 3, stride, 1)))
    if proj is None:
        branches.append(nn.MaxPool2d(3, 2, ceil_mode=True))
    else:
        pooling = nn.AvgPool2d(3, 1, 1) if pool == "avg" else nn.MaxPool2d(3, 1, 1)
        branches.append(nn.Sequential(pooling, unit(cin, proj, 1)))
    return nn.Concat(*branches)


def inception_v2(*, num_classes=1000, width=1.0, input_size=224, generator=None):
    """BN-Inception: (N, 3, H, W) -> (N, num_classes); features(x) is the globally averaged
    1024-vector (times width). As in the paper there is no dropout (section 4.2.1) and no
    auxiliary classifier. Pools round up (ceil mode): 224 -> 112 -> 56 -> 28 -> 14 -> 7.
    Initialisation: He-normal convs, BN weight 1 bias 0, default Linear.
    """
    check_width("inception_v2", width)
    height, width_px = square("inception_v2", input_size)
    side = min(height, width_px)
    for _ in range(4):                                   # conv1, pool1, pool2, module 3c
        side = conv_out(side, 3, 2, 1)
    require_size("inception_v2", side, 1, "at inception 4e")
    unit, chain = _units(generator, 1e-5)

    def c(n):
        return scaled(n, width)

    layers = OrderedDict(
        conv1=unit(3, c(64), 7, 2, 3), pool1=nn.MaxPool2d(3, 2, ceil_mode=True),
        conv2_reduce=unit(c(64), c(64), 1), conv2=unit(c(64), c(192), 3, 1, 1),
        pool2=nn.MaxPool2d(3, 2, ceil_mode=True))
    channels = c(192)
    for name, (c1, c3r, c3, d3r, d3, pool, proj) in V2_MODULES.items():
        widths = [c(n) if n else 0 for n in (c1, c3r, c3, d3r, d3)]
        proj = None if proj is None else c(proj)
        layers[f"inception{name}"] = bn_inception_module(channels, *widths, pool, proj, unit=unit, chain=chain)
        channels = widths[0] + widths[2] + widths[4] + (channels if proj is None else proj)
    layers["pool"] = nn.GlobalAvgPool2d()
    model = Classifier(nn.Sequential(layers), nn.Linear(channels, num_classes, generator=generator),
                       input_shape=(3, height, width_px))
    he_init_(model, generator, mode="fan_in")
    return model


# ---- Inception v3 ---------------------------------------------------------------------------
def inception_35(cin, pool_features, c, unit, chain):
    """35x35 module (figure 5, torchvision's InceptionA): 1x1 | 1x1 -> 5x5 | 1x1 -> 3x3 -> 3x3 |
    avg-pool -> 1x1. Out: c(64) + c(64) + c(96) + pool_features channels."""
    return nn.Concat(
        unit(cin, c(64), 1),
        chain(cin, (c(48), 1), (c(64), 5, 1, 2)),
        chain(cin, (c(64), 1), (c(96), 3, 1, 1), (c(96), 3, 1, 1)),
        nn.Sequential(nn.AvgPool2d(3, 1, 1), unit(cin, pool_features, 1)))


def reduction_35_to_17(cin, c, unit, chain):
    """Grid reduction 35 -> 17 (figure 10, InceptionB): 3x3/2 | 1x1 -> 3x3 -> 3x3/2 | max 3x3/2.
    Out: c(384) + c(96) + cin."""
    return nn.Concat(
        unit(cin, c(384), 3, 2),
        chain(cin, (c(64), 1), (c(96), 3, 1, 1), (c(96), 3, 2)),
        nn.MaxPool2d(3, 2))


def inception_17(cin, c7, c, unit, chain):
    """17x17 module with n=7 factorised as 1x7 then 7x1 (figure 6, InceptionC). Out: 4 x c(192)."""
    row, column = ((1, 7), 1, (0, 3)), ((7, 1), 1, (3, 0))
    return nn.Concat(
        unit(cin, c(192), 1),
        chain(cin, (c7, 1), (c7, *row), (c(192), *column)),
        chain(cin, (c7, 1), (c7, *column), (c7, *row), (c7, *column), (c(192), *row)),
        nn.Sequential(nn.AvgPool2d(3, 1, 1), unit(cin, c(192), 1)))


def reduction_17_to_8(cin, c, unit, chain):
    """Grid reduction 17 -> 8 (InceptionD): 1x1 -> 3x3/2 | 1x1 -> 1x7 -> 7x1 -> 3x3/2 | max 3x3/2.
    Out: c(320) + c(192) + cin."""
    return nn.Concat(
        chain(cin, (c(192), 1), (c(320), 3, 2)),
        chain(cin, (c(192), 1), (c(192), (1, 7), 1, (0, 3)), (c(192), (7, 1), 1, (3, 0)), (c(192), 3, 2)),
        nn.MaxPool2d(3, 2))


def inception_8(cin, c, unit, chain):
    """8x8 module with the 3x3s split into parallel 1x3 and 3x1 (figure 7, InceptionE).
    Out: c(320) + 2 c(384) + 2 c(384) + c(192)."""
    def split(channels):
        return nn.Concat(unit(channels, c(384), (1, 3), 1, (0, 1)), unit(channels, c(384), (3, 1), 1, (1, 0)))
    return nn.Concat(
        unit(cin, c(320), 1),
        nn.Sequential(unit(cin, c(384), 1), split(c(384))),
        nn.Sequential(chain(cin, (c(448), 1), (c(384), 3, 1, 1)), split(c(384))),
        nn.Sequential(nn.AvgPool2d(3, 1, 1), unit(cin, c(192), 1)))


def inception_v3(*, num_classes=1000, aux_logits=True, width=1.0, input_size=299, generator=None):
    """Inception v3: (N, 3, H, W) -> (N, num_classes); features(x) is the globally averaged
    2048-vector (times width) after dropout 0.5.

    aux_logits=True (the default, and in the parameter count) keeps the auxiliary classifier on
    the 17x17 grid: 5x5/3 average pool, 1x1 conv 128, 5x5 conv 768 (which covers the whole 5x5
    pooled map; on a smaller input its kernel shrinks to the pooled map's size), linear. In
    training mode forward returns (logits, aux_logits), in eval mode the logits.
    Initialisation: He-normal convs, BN weight 1 bias 0, default Linear (torchvision draws
    truncated normals; minicnn has no truncated normal, and He suits the ReLUs).
    """
    check_width("inception_v3", width)
    height, width_px = square("inception_v3", input_size)
    sides = []
    for s in (height, width_px):
        s = conv_out(conv_out(conv_out(s, 3, 2), 3), 3, 2)   # conv 1a, 2a, pool1 (2b keeps it)
        s = conv_out(conv_out(s, 3), 3, 2)                   # conv 4a, pool2: the 35x35 grid
        sides.append(conv_out(s, 3, 2))                      # the 17x17 grid
    require_size("inception_v3", min(sides), 5 if aux_logits else 3, "on the 17x17 grid")
    unit, chain = _units(generator, 1e-3)

    def c(n):
        return scaled(n, width)

    layers = OrderedDict(
        conv1a=unit(3, c(32), 3, 2), conv2a=unit(c(32), c(32), 3), conv2b=unit(c(32), c(64), 3, 1, 1),
        pool1=nn.MaxPool2d(3, 2),
        conv3b=unit(c(64), c(80), 1), conv4a=unit(c(80), c(192), 3),
        pool2=nn.MaxPool2d(3, 2))
    channels = c(192)
    for name, pool_features in (("mixed5b", 32), ("mixed5c", 64), ("mixed5d", 64)):
        layers[name] = inception_35(channels, c(pool_features), c, unit, chain)
        channels = 2 * c(64) + c(96) + c(pool_features)
    layers["mixed6a"] = reduction_35_to_17(channels, c, unit, chain)
    channels += c(384) + c(96)
    for name, c7 in (("mixed6b", 128), ("mixed6c", 160), ("mixed6d", 160), ("mixed6e", 192)):
        layers[name] = inception_17(channels, c(c7), c, unit, chain)
        channels = 4 * c(192)
    aux_channels = channels
    layers["mixed7a"] = reduction_17_to_8(channels, c, unit, chain)
    channels += c(320) + c(192)
    for name in ("mixed7b", "mixed7c"):
        layers[name] = inception_8(channels, c, unit, chain)
        channels = c(320) + 4 * c(384) + c(192)
    layers.update(pool=nn.GlobalAvgPool2d(), drop=nn.Dropout(0.5, generator=generator))
    aux = ()
    if aux_logits:
        pooled = tuple(conv_out(s, 5, 3) for s in sides)
        aux = (("mixed6e", nn.Sequential(OrderedDict(
            pool=nn.AvgPool2d(5, 3), conv0=unit(aux_channels, c(128), 1), conv1=unit(c(128), c(768), pooled),
            flatten=nn.Flatten(), fc=nn.Linear(c(768), num_classes, generator=generator)))),)
    model = Classifier(nn.Sequential(layers), nn.Linear(channels, num_classes, generator=generator),
                       input_shape=(3, height, width_px), aux=aux)
    he_init_(model, generator, mode="fan_in")
    return model
