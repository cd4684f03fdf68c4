"""Inception-v4 and Inception-ResNet-v2 (Szegedy, Ioffe, Vanhoucke & Alemi 2017, "Inception-v4,
Inception-ResNet and the Impact of Residual Connections on Learning").

Every convolution is conv (no bias) -> BatchNorm (eps 0.001) -> ReLU, except the 1x1 convolution
that closes each residual Inception block: it has a bias, no batch norm and no ReLU, and its output
is scaled before it is added to the block's input.

- inception_v4: the pure Inception network of figures 3-9: a stem of plain and concatenating
  stride-2 splits (35x35x384), 4 Inception-A, Reduction-A (17x17x1024), 7 Inception-B with n x n
  factorised into 1 x n and n x 1, Reduction-B (8x8x1536), 3 Inception-C whose last 3x3s are split
  into parallel 1x3 and 3x1, then average pooling, dropout (keep 0.8) and the classifier.
- inception_resnet_v2: Inception blocks as residual branches (figure 15's schema), in the
  definition the published ImageNet weights use (TF-slim's inception_resnet_v2, also timm's).
  It differs from the paper: the stem is Inception v3's (3x3/2 32, 3x3 32, 3x3 64, max-pool,
  1x1 80, 3x3 192, max-pool) and a v3-style mixed block to 320 channels, where the paper reuses
  Inception-v4's stem (figure 3, 384 channels); so the three grids carry 320, 1088 and 2080
  channels, where the figures' 1x1 projections give 384, 1154 and 2048 (figures 16, 17, 19; the
  last two do not match the 1152 and 2144 channels the reductions deliver). The branches are the
  figures' (Reduction-A with k, l, m, n = 256, 256, 384, 384 of table 1, Reduction-B of figure
  18); the last block C is neither scaled nor followed by a ReLU, and a 1x1 unit to 1536
  precedes the pooling.

Residual scaling (section 3.3): with more than about 1000 filters the residual variants "died"
early in training unless each residual was scaled by 0.1-0.3 before the addition. The scales
(0.17, 0.10, 0.20 for blocks A, B, C, as the published weights) are the `residual_scale` option.
"""
from __future__ import annotations

from collections import OrderedDict

from minicnn import nn

from .common import Classifier, check_width, conv_out, he_init_, require_size, scaled, square
from .inception import _units

# (kernel, stride, padding) of the factorised convolutions: 1 x n along the row, n x 1 along the column.
ROW7, COLUMN7 = ((1, 7), 1, (0, 3)), ((7, 1), 1, (3, 0))
ROW3, COLUMN3 = ((1, 3), 1, (0, 1)), ((3, 1), 1, (1, 0))
SAME3 = (3, 1, 1)
VALID3, REDUCE3 = (3,), (3, 2)     # 3x3 without padding; 3x3 stride 2 without padding


def average_then(unit, cin, cout):
    """3x3 average pooling (padding not counted, TensorFlow's SAME pooling), then a 1x1 unit."""
    return nn.Sequential(nn.AvgPool2d(3, 1, 1, count_include_pad=False), unit(cin, cout, 1))


def split_1x3_3x1(unit, cin, cout):
    """Parallel 1x3 and 3x1 units on the same input (figure 6), 2 cout channels."""
    return nn.Concat(unit(cin, cout, *ROW3), unit(cin, cout, *COLUMN3))


class Scale(nn.Module):
    """y = scale * x: the constant that shrinks a residual before the addition (section 3.3)."""

    def __init__(self, scale: float):
        super().__init__()
        self.scale = scale

    def forward(self, x):
        return x * self.scale

    def extra_repr(self) -> str:
        return f"scale={self.scale}"


# ---- Inception-v4 ---------------------------------------------------------------------------
def v4_stem(c, unit, chain):
    """Figure 3: 299x299x3 -> 35x35x384, through three concatenating splits."""
    return nn.Sequential(OrderedDict(
        conv1=unit(3, c(32), *REDUCE3), conv2=unit(c(32), c(32), *VALID3), conv3=unit(c(32), c(64), *SAME3),
        mixed3a=nn.Concat(nn.MaxPool2d(3, 2), unit(c(64), c(96), *REDUCE3)),
        mixed4a=nn.Concat(
            chain(c(64) + c(96), (c(64), 1), (c(96), *VALID3)),
            chain(c(64) + c(96), (c(64), 1), (c(64), *ROW7), (c(64), *COLUMN7), (c(96), *VALID3))),
        mixed5a=nn.Concat(unit(2 * c(96), c(192), *REDUCE3), nn.MaxPool2d(3, 2))))


def v4_inception_a(cin, c, unit, chain):
    """Figure 4, 35x35: avg-pool - 1x1 96 | 1x1 96 | 1x1 64 - 3x3 96 | 1x1 64 - 3x3 96 - 3x3 96."""
    return nn.Concat(
        average_then(unit, cin, c(96)),
        unit(cin, c(96), 1),
        chain(cin, (c(64), 1), (c(96), *SAME3)),
        chain(cin, (c(64), 1), (c(96), *SAME3), (c(96), *SAME3)))


def v4_reduction_a(cin, c, unit, chain):
    """Figure 7 with k, l, m, n = 192, 224, 256, 384 (table 1), 35 -> 17:
    max-pool 3x3/2 | 3x3/2 n | 1x1 k - 3x3 l - 3x3/2 m."""
    return nn.Concat(
        nn.MaxPool2d(3, 2),
        unit(cin, c(384), *REDUCE3),
        chain(cin, (c(192), 1), (c(224), *SAME3), (c(256), *REDUCE3)))


def v4_inception_b(cin, c, unit, chain):
    """Figure 5, 17x17: avg-pool - 1x1 128 | 1x1 384 | 1x1 192 - 1x7 224 - 7x1 256 |
    1x1 192 - 1x7 192 - 7x1 224 - 1x7 224 - 7x1 256."""
    return nn.Concat(
        average_then(unit, cin, c(128)),
        unit(cin, c(384), 1),
        chain(cin, (c(192), 1), (c(224), *ROW7), (c(256), *COLUMN7)),
        chain(cin, (c(192), 1), (c(192), *ROW7), (c(224), *COLUMN7), (c(224), *ROW7), (c(256), *COLUMN7)))


def v4_reduction_b(cin, c, unit, chain):
    """Figure 8, 17 -> 8: max-pool 3x3/2 | 1x1 192 - 3x3/2 192 | 1x1 256 - 1x7 256 - 7x1 320 - 3x3/2 320."""
    return nn.Concat(
        nn.MaxPool2d(3, 2),
        chain(cin, (c(192), 1), (c(192), *REDUCE3)),
        chain(cin, (c(256), 1), (c(256), *ROW7), (c(320), *COLUMN7), (c(320), *REDUCE3)))


def v4_inception_c(cin, c, unit, chain):
    """Figure 6, 8x8: avg-pool - 1x1 256 | 1x1 256 | 1x1 384 - (1x3 256 | 3x1 256) |
    1x1 384 - 1x3 448 - 3x1 512 - (1x3 256 | 3x1 256)."""
    return nn.Concat(
        average_then(unit, cin, c(256)),
        unit(cin, c(256), 1),
        nn.Sequential(unit(cin, c(384), 1), split_1x3_3x1(unit, c(384), c(256))),
        nn.Sequential(chain(cin, (c(384), 1), (c(448), *ROW3), (c(512), *COLUMN3)),
                      split_1x3_3x1(unit, c(512), c(256))))


def inception_v4(*, num_classes=1000, width=1.0, input_size=299, generator=None):
    """Inception-v4 (figure 9): (N, 3, H, W) -> (N, num_classes); features(x) is the globally
    averaged 1536-vector (times width) after dropout 0.2 (keep probability 0.8).

    42,679,816 trainable parameters at full size. Within the 1 x n / n x 1 chains the order is
    the figures'; the ports of the published weights start the long Inception-B chain and the
    Inception-C chain with n x 1 instead (the same counts).
    Initialisation: He-normal convs, BN weight 1 bias 0, default Linear.
    """
    check_width("inception_v4", width)
    height, width_px = square("inception_v4", input_size)
    side = min(height, width_px)
    side = conv_out(conv_out(conv_out(side, 3, 2), 3), 3, 2)          # conv1, conv2, mixed3a
    side = conv_out(conv_out(side, 3), 3, 2)                           # mixed4a, mixed5a: 35x35
    side = conv_out(conv_out(side, 3, 2), 3, 2)                        # reductions A, B: 8x8
    require_size("inception_v4", side, 1, "after Reduction-B")
    unit, chain = _units(generator, 1e-3)

    def c(n):
        return scaled(n, width)

    layers = OrderedDict(stem=v4_stem(c, unit, chain))
    channels = c(192) + 2 * c(96)
    for i in range(4):
        layers[f"inception_a{i + 1}"] = v4_inception_a(channels, c, unit, chain)
        channels = 4 * c(96)
    layers["reduction_a"] = v4_reduction_a(channels, c, unit, chain)
    channels += c(384) + c(256)
    for i in range(7):
        layers[f"inception_b{i + 1}"] = v4_inception_b(channels, c, unit, chain)
        channels = c(128) + c(384) + 2 * c(256)
    layers["reduction_b"] = v4_reduction_b(channels, c, unit, chain)
    channels += c(192) + c(320)
    for i in range(3):
        layers[f"inception_c{i + 1}"] = v4_inception_c(channels, c, unit, chain)
        channels = 6 * c(256)
    layers.update(pool=nn.GlobalAvgPool2d(), drop=nn.Dropout(0.2, generator=generator))
    model = Classifier(nn.Sequential(layers), nn.Linear(channels, num_classes, generator=generator),
                       input_shape=(3, height, width_px))
    he_init_(model, generator, mode="fan_in")
    return model


# ---- Inception-ResNet-v2 --------------------------------------------------------------------
def residual_block(branches, cin, scale, generator, relu=True):
    """y = ReLU(x + scale * conv1x1(concat(branches)(x))): the concatenated branches are projected
    back to the input's cin channels by a 1x1 convolution with bias and no batch norm."""
    width = sum(branch_channels for _, branch_channels in branches)
    return nn.Residual(
        nn.Sequential(OrderedDict(
            branches=nn.Concat(*(branch for branch, _ in branches)),
            up=nn.Conv2d(width, cin, 1, generator=generator),
            scale=Scale(scale))),
        post_activation=nn.ReLU() if relu else None)


def block_a(cin, scale, c, unit, chain, generator):
    """Block A (block35), 35x35: 1x1 32 | 1x1 32 - 3x3 32 | 1x1 32 - 3x3 48 - 3x3 64 -> 128."""
    return residual_block([
        (unit(cin, c(32), 1), c(32)),
        (chain(cin, (c(32), 1), (c(32), *SAME3)), c(32)),
        (chain(cin, (c(32), 1), (c(48), *SAME3), (c(64), *SAME3)), c(64))], cin, scale, generator)


def block_b(cin, scale, c, unit, chain, generator):
    """Block B (block17), 17x17: 1x1 192 | 1x1 128 - 1x7 160 - 7x1 192 -> 384."""
    return residual_block([
        (unit(cin, c(192), 1), c(192)),
        (chain(cin, (c(128), 1), (c(160), *ROW7), (c(192), *COLUMN7)), c(192))], cin, scale, generator)


def block_c(cin, scale, c, unit, chain, generator, relu=True):
    """Block C (block8), 8x8: 1x1 192 | 1x1 192 - 1x3 224 - 3x1 256 -> 448."""
    return residual_block([
        (unit(cin, c(192), 1), c(192)),
        (chain(cin, (c(192), 1), (c(224), *ROW3), (c(256), *COLUMN3)), c(256))], cin, scale, generator, relu)


def resnet_v2_stem(c, unit, chain):
    """299x299x3 -> 35x35x320: Inception v3's stem and a mixed block (mixed_5b)."""
    stem = OrderedDict(
        conv1=unit(3, c(32), *REDUCE3), conv2=unit(c(32), c(32), *VALID3), conv3=unit(c(32), c(64), *SAME3),
        pool1=nn.MaxPool2d(3, 2),
        conv4=unit(c(64), c(80), 1), conv5=unit(c(80), c(192), *VALID3),
        pool2=nn.MaxPool2d(3, 2))
    stem["mixed5b"] = nn.Concat(
        unit(c(192), c(96), 1),
        chain(c(192), (c(48), 1), (c(64), 5, 1, 2)),
        chain(c(192), (c(64), 1), (c(96), *SAME3), (c(96), *SAME3)),
        average_then(unit, c(192), c(64)))
    return nn.Sequential(stem)


def resnet_v2_reduction_a(cin, c, unit, chain):
    """mixed_6a, 35 -> 17: 3x3/2 384 | 1x1 256 - 3x3 256 - 3x3/2 384 | max-pool 3x3/2."""
    return nn.Concat(
        unit(cin, c(384), *REDUCE3),
        chain(cin, (c(256), 1), (c(256), *SAME3), (c(384), *REDUCE3)),
        nn.MaxPool2d(3, 2))


def resnet_v2_reduction_b(cin, c, unit, chain):
    """mixed_7a, 17 -> 8: 1x1 256 - 3x3/2 384 | 1x1 256 - 3x3/2 288 | 1x1 256 - 3x3 288 - 3x3/2 320 |
    max-pool 3x3/2."""
    return nn.Concat(
        chain(cin, (c(256), 1), (c(384), *REDUCE3)),
        chain(cin, (c(256), 1), (c(288), *REDUCE3)),
        chain(cin, (c(256), 1), (c(288), *SAME3), (c(320), *REDUCE3)),
        nn.MaxPool2d(3, 2))


def inception_resnet_v2(*, num_classes=1000, residual_scale=(0.17, 0.10, 0.20), width=1.0, input_size=299,
                        generator=None):
    """Inception-ResNet-v2 as the published weights define it (see the module docstring for where
    that differs from the paper's figures): (N, 3, H, W) -> (N, num_classes); features(x) is the
    globally averaged 1536-vector (times width) after dropout 0.2 (keep probability 0.8).

    Stem to 35x35x320, 10 blocks A, Reduction-A to 17x17x1088, 20 blocks B, Reduction-B to
    8x8x2080, 9 blocks C and a tenth unscaled without the final ReLU, a 1x1 unit to 1536.
    residual_scale: the factor on the residuals of blocks A, B and C, one number for all three
    or a triple; (1, 1, 1) trains without the scaling of section 3.3. The last block's is 1.
    55,843,464 trainable parameters at full size.
    Initialisation: He-normal convs (the residual projections' biases 0), BN weight 1 bias 0,
    default Linear.
    """
    check_width("inception_resnet_v2", width)
    scales = _residual_scales(residual_scale)
    height, width_px = square("inception_resnet_v2", input_size)
    side = min(height, width_px)
    side = conv_out(conv_out(conv_out(side, 3, 2), 3), 3, 2)          # conv1, conv2, pool1
    side = conv_out(conv_out(side, 3), 3, 2)                           # conv5, pool2: 35x35
    side = conv_out(conv_out(side, 3, 2), 3, 2)                        # reductions A, B: 8x8
    require_size("inception_resnet_v2", side, 1, "after Reduction-B")
    unit, chain = _units(generator, 1e-3)

    def c(n):
        return scaled(n, width)

    layers = OrderedDict(stem=resnet_v2_stem(c, unit, chain))
    channels = 2 * c(96) + 2 * c(64)
    for i in range(10):
        layers[f"block_a{i + 1}"] = block_a(channels, scales[0], c, unit, chain, generator)
    layers["reduction_a"] = resnet_v2_reduction_a(channels, c, unit, chain)
    channels += 2 * c(384)
    for i in range(20):
        layers[f"block_b{i + 1}"] = block_b(channels, scales[1], c, unit, chain, generator)
    layers["reduction_b"] = resnet_v2_reduction_b(channels, c, unit, chain)
    channels += c(384) + c(288) + c(320)
    for i in range(9):
        layers[f"block_c{i + 1}"] = block_c(channels, scales[2], c, unit, chain, generator)
    layers["block_c10"] = block_c(channels, 1.0, c, unit, chain, generator, relu=False)
    layers.update(conv=unit(channels, c(1536), 1), pool=nn.GlobalAvgPool2d(),
                  drop=nn.Dropout(0.2, generator=generator))
    model = Classifier(nn.Sequential(layers), nn.Linear(c(1536), num_classes, generator=generator),
                       input_shape=(3, height, width_px))
    he_init_(model, generator, mode="fan_in")
    return model


def _residual_scales(residual_scale) -> tuple:
    """residual_scale as (A, B, C): one number for all three, or three numbers."""
    scales = tuple(residual_scale) if isinstance(residual_scale, (tuple, list)) else (residual_scale,) * 3
    if len(scales) != 3 or not all(isinstance(s, (int, float)) and not isinstance(s, bool) for s in scales):
        raise ValueError(f"inception_resnet_v2: residual_scale must be a number or three numbers "
                         f"(blocks A, B, C), got {residual_scale!r}")
    return tuple(float(s) for s in scales)
