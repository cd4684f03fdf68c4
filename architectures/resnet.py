"""Residual networks (He et al. 2016) and the families built on the residual block.

A residual block computes y = relu(shortcut(x) + branch(x)) (nn.Residual). Everything below is
one of two branch shapes, basic (3x3, 3x3) or bottleneck (1x1 down, 3x3, 1x1 up, x4 channels),
arranged in stages that halve the grid and double the width:

- resnet (ImageNet): 7x7/2 stem, 3x3/2 max-pool, four stages, global average, linear.
  Depth 18/34 basic, 50/101/152 bottleneck; a 1x1 conv + BN projects the shortcut where the
  shape changes. stride_in_1x1=False (default) strides the bottleneck's 3x3 (torchvision's
  "v1.5"); True strides its first 1x1, as the paper's Caffe models. groups/width_per_group give
  ResNeXt (Xie et al. 2017: the 3x3 becomes a grouped conv of cardinality x width);
  width_per_group=128 gives Wide ResNet-50-2; se_reduction gives SE-ResNet (Hu et al. 2018:
  squeeze-and-excitation on the branch before the addition).
- resnet_cifar: the paper's section 4.2 nets, 6n+2 layers at widths 16/32/64, with parameter-free
  "option A" shortcuts (subsample, pad the new channels with zeros); final_survival_prob < 1
  gives stochastic depth (Huang et al. 2016).
- preact_resnet_cifar (He et al. 2016b) and wide_resnet_cifar (Zagoruyko & Komodakis 2016):
  pre-activation blocks, BN-ReLU before each conv and nothing after the addition.
"""
from __future__ import annotations

from collections import OrderedDict

from minicnn import functional as F, nn

from .common import Classifier, check_width, he_init_, require_size, scaled, square, variant

# depth -> (block kind, blocks per stage)   (table 1)
IMAGENET_STAGES = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}


def conv_bn(cin, cout, kernel, stride=1, padding=0, *, groups=1, generator=None):
    """Convolution (no bias: the BN that follows has one) and batch norm."""
    return [nn.Conv2d(cin, cout, kernel, stride, padding, groups=groups, bias=False, generator=generator),
            nn.BatchNorm2d(cout)]


def bn_relu_conv(cin, cout, kernel, stride=1, padding=0, *, generator=None):
    """The pre-activation unit: batch norm, ReLU, then the convolution (no bias)."""
    return [nn.BatchNorm2d(cin), nn.ReLU(),
            nn.Conv2d(cin, cout, kernel, stride, padding, bias=False, generator=generator)]


def projection(cin, cout, stride, generator):
    """The 1x1 conv + BN shortcut, used where the block changes the shape (option B)."""
    return nn.Sequential(*conv_bn(cin, cout, 1, stride, generator=generator))


class ZeroPadShortcut(nn.Module):
    """Option A shortcut (He et al. 2016, section 3.3): keep every `stride`-th position and
    append zero channels up to out_channels; no parameters.
    (N, C, H, W) -> (N, out_channels, ceil(H / stride), ceil(W / stride))."""

    def __init__(self, out_channels: int, stride: int):
        super().__init__()
        self.out_channels, self.stride = out_channels, stride

    def forward(self, x):
        s = self.stride
        x = x[:, :, ::s, ::s]
        return F.pad(x, (0, 0, 0, 0, 0, self.out_channels - x.shape[1]))

    def extra_repr(self) -> str:
        return f"out_channels={self.out_channels}, stride={self.stride}"


def basic_block(cin, cout, stride, *, shortcut, drop_path=None, se_reduction=None, generator=None):
    """conv3x3 (stride) - BN - ReLU - conv3x3 - BN [- SE], added to the shortcut, then ReLU."""
    layers = conv_bn(cin, cout, 3, stride, 1, generator=generator) + [nn.ReLU()]
    layers += conv_bn(cout, cout, 3, 1, 1, generator=generator)
    if se_reduction:
        layers.append(nn.SqueezeExcitation(cout, se_reduction, generator=generator))
    return nn.Residual(nn.Sequential(*layers), shortcut, nn.ReLU(), drop_path)


def bottleneck_block(cin, inner, cout, stride, *, shortcut, groups=1, stride_in_1x1=False,
                     se_reduction=None, generator=None):
    """conv1x1 - BN - ReLU - conv3x3 (groups) - BN - ReLU - conv1x1 - BN [- SE], added to the
    shortcut, then ReLU. The stride sits on the 3x3, or on the first 1x1 if stride_in_1x1."""
    s1, s3 = (stride, 1) if stride_in_1x1 else (1, stride)
    layers = conv_bn(cin, inner, 1, s1, generator=generator) + [nn.ReLU()]
    layers += conv_bn(inner, inner, 3, s3, 1, groups=groups, generator=generator) + [nn.ReLU()]
    layers += conv_bn(inner, cout, 1, generator=generator)
    if se_reduction:
        layers.append(nn.SqueezeExcitation(cout, se_reduction, generator=generator))
    return nn.Residual(nn.Sequential(*layers), shortcut, nn.ReLU())


# ---- ImageNet ResNet, ResNeXt, SE-ResNet, Wide ResNet-50-2 -----------------------------------
def resnet(*, depth=50, num_classes=1000, stride_in_1x1=False, groups=1, width_per_group=64,
           se_reduction=None, width=1.0, input_size=224, generator=None):
    """ResNet-`depth` for ImageNet: (N, 3, H, W) -> (N, num_classes); features(x) is the
    globally averaged last stage, (N, 512 * width) basic or (N, 2048 * width) bottleneck.

    Bottleneck inner width = planes * width_per_group / 64 * groups (torchvision's rule), planes
    64/128/256/512 per stage. Initialisation as torchvision: He-normal (fan_out) convs, BN
    weight 1 bias 0, default Linear. Any input of at least 32x32 works (global pooling).
    """
    if depth not in IMAGENET_STAGES:
        raise ValueError(f"resnet: depth must be one of {sorted(IMAGENET_STAGES)}, got {depth!r}")
    check_width("resnet", width)
    kind, blocks = IMAGENET_STAGES[depth]
    if kind == "basic" and (stride_in_1x1 or groups != 1 or width_per_group != 64):
        raise ValueError(f"resnet: stride_in_1x1, groups and width_per_group apply to bottleneck "
                         f"blocks (depth 50, 101, 152), not to depth {depth}")
    height, width_px = square("resnet", input_size)
    require_size("resnet", min(height, width_px), 32, "at the input (five stride-2 steps)")
    stem = scaled(64, width)
    layers = OrderedDict(stem=nn.Sequential(*conv_bn(3, stem, 7, 2, 3, generator=generator), nn.ReLU(),
                                            nn.MaxPool2d(3, 2, 1)))
    channels = stem
    for stage, (planes, count) in enumerate(zip((64, 128, 256, 512), blocks), start=1):
        stage_blocks = []
        for index in range(count):
            stride = 2 if stage > 1 and index == 0 else 1
            if kind == "basic":
                cout = scaled(planes, width)
            else:
                cout = scaled(4 * planes, width)
                inner = scaled(planes * width_per_group // 64 * groups, width, groups)
            shortcut = None if stride == 1 and channels == cout else projection(channels, cout, stride, generator)
            if kind == "basic":
                block = basic_block(channels, cout, stride, shortcut=shortcut, se_reduction=se_reduction,
                                    generator=generator)
            else:
                block = bottleneck_block(channels, inner, cout, stride, shortcut=shortcut, groups=groups,
                                         stride_in_1x1=stride_in_1x1, se_reduction=se_reduction,
                                         generator=generator)
            stage_blocks.append(block)
            channels = cout
        layers[f"stage{stage}"] = nn.Sequential(*stage_blocks)
    layers["pool"] = nn.GlobalAvgPool2d()
    model = Classifier(nn.Sequential(layers), nn.Linear(channels, num_classes, generator=generator),
                       input_shape=(3, height, width_px))
    he_init_(model, generator)
    return model


resnet18 = variant(resnet, "resnet18", "ResNet-18", depth=18)
resnet34 = variant(resnet, "resnet34", "ResNet-34", depth=34)
resnet50 = variant(resnet, "resnet50", "ResNet-50", depth=50)
resnet101 = variant(resnet, "resnet101", "ResNet-101", depth=101)
resnet152 = variant(resnet, "resnet152", "ResNet-152", depth=152)
se_resnet50 = variant(resnet, "se_resnet50", "SE-ResNet-50, reduction 16", depth=50, se_reduction=16)
wide_resnet50_2 = variant(resnet, "wide_resnet50_2", "Wide ResNet-50-2 (bottleneck twice as wide)",
                          depth=50, width_per_group=128)
resnext50_32x4d = variant(resnet, "resnext50_32x4d", "ResNeXt-50 32x4d", depth=50, groups=32,
                          width_per_group=4)
resnext101_32x8d = variant(resnet, "resnext101_32x8d", "ResNeXt-101 32x8d", depth=101, groups=32,
                           width_per_group=8)


# ---- CIFAR ResNets --------------------------------------------------------------------------
def _blocks_per_stage(builder, depth, layers_per_block, extra):
    n, remainder = divmod(depth - extra, 3 * layers_per_block) if isinstance(depth, int) else (0, 1)
    if remainder or n < 1:
        raise ValueError(f"{builder}: depth must be {3 * layers_per_block}n+{extra} for n >= 1, got {depth!r}")
    return n


def _cifar_classifier(body_layers, channels, num_classes, generator):
    body_layers["pool"] = nn.GlobalAvgPool2d()
    model = Classifier(nn.Sequential(body_layers), nn.Linear(channels, num_classes, generator=generator),
                       input_shape=(3, 32, 32))
    he_init_(model, generator)
    return model


def resnet_cifar(*, depth=20, num_classes=10, width=1.0, final_survival_prob=1.0, generator=None):
    """The CIFAR-10 ResNet of He et al. section 4.2: 3x3 conv 16, then three stages of n basic
    blocks at 16, 32, 64 channels (times width) on 32, 16, 8 grids, global average, linear;
    depth = 6n + 2 (20, 32, 44, 56, 110, ...). (N, 3, 32, 32) -> (N, num_classes); features(x)
    is the pooled (N, 64 * width).

    Shortcuts are option A (zero-padded identity), so the block count is the only thing that
    adds parameters. final_survival_prob < 1 adds stochastic depth: see
    stochastic_depth_resnet_cifar.
    """
    n = _blocks_per_stage("resnet_cifar", depth, 2, 2)
    check_width("resnet_cifar", width)
    if not 0.0 < final_survival_prob <= 1.0:
        raise ValueError(f"resnet_cifar: final_survival_prob must be in (0, 1], got {final_survival_prob}")
    widths = [scaled(c, width) for c in (16, 32, 64)]
    layers = OrderedDict(stem=nn.Sequential(*conv_bn(3, widths[0], 3, 1, 1, generator=generator), nn.ReLU()))
    channels, total, block_index = widths[0], 3 * n, 0
    for stage, cout in enumerate(widths, start=1):
        blocks = []
        for index in range(n):
            block_index += 1
            stride = 2 if stage > 1 and index == 0 else 1
            shortcut = None if stride == 1 and channels == cout else ZeroPadShortcut(cout, stride)
            # Huang et al. eq. (4): p_l = 1 - l / L (1 - p_L), from p_0 = 1 at the input
            survival = 1 - block_index / total * (1 - final_survival_prob)
            drop_path = (nn.DropPath(survival, inverted=False, generator=generator)
                         if final_survival_prob < 1 else None)
            blocks.append(basic_block(channels, cout, stride, shortcut=shortcut, drop_path=drop_path,
                                      generator=generator))
            channels = cout
        layers[f"stage{stage}"] = nn.Sequential(*blocks)
    return _cifar_classifier(layers, channels, num_classes, generator)


def stochastic_depth_resnet_cifar(*, depth=110, final_survival_prob=0.5, num_classes=10, width=1.0,
                                  generator=None):
    """ResNet-110 with stochastic depth (Huang et al. 2016): during training each block's
    residual branch is kept with probability p_l = 1 - l/L (1 - p_L), decaying linearly from 1 to
    p_L = final_survival_prob over the L = 54 blocks, and a dropped block is the identity
    shortcut; in evaluation every branch is scaled by its p_l (DropPath(inverted=False)).
    Otherwise exactly resnet_cifar(depth), with the same parameters."""
    return resnet_cifar(depth=depth, num_classes=num_classes, width=width,
                        final_survival_prob=final_survival_prob, generator=generator)


def preact_block(cin, cout, stride, *, inner=None, dropout=0.0, generator=None):
    """A pre-activation residual block: BN-ReLU-conv units on the branch, nothing after the
    addition. inner=None: basic (3x3 with the stride, 3x3); otherwise bottleneck (1x1 to
    `inner`, 3x3 with the stride, 1x1 to cout). Where the shape changes, the first BN-ReLU is
    shared by the branch and the 1x1 conv shortcut (as both reference implementations do), so
    the projection sees normalised input. dropout > 0 puts a dropout before the second conv
    (Wide ResNet's option)."""
    if inner is None:
        units = [(cin, cout, 3, stride, 1), (cout, cout, 3, 1, 1)]
    else:
        units = [(cin, inner, 1, 1, 0), (inner, inner, 3, stride, 1), (inner, cout, 1, 1, 0)]
    first, *rest = [bn_relu_conv(*unit, generator=generator) for unit in units]
    if dropout:
        rest[0].insert(2, nn.Dropout(dropout, generator=generator))
    rest = [layer for unit in rest for layer in unit]
    if stride == 1 and cin == cout:
        return nn.Residual(nn.Sequential(*first, *rest))
    bn, relu, conv = first
    shortcut = nn.Conv2d(cin, cout, 1, stride, bias=False, generator=generator)
    return nn.Sequential(bn, relu, nn.Residual(nn.Sequential(conv, *rest), shortcut))


def _preact_network(n, stem, widths, num_classes, generator, dropout=0.0):
    """3x3 conv to `stem` channels (no BN after it: the first block's BN-ReLU comes next), three
    stages of n pre-activation blocks at `widths`, (out, inner) pairs (stride 1, 2, 2), final
    BN-ReLU, global average, linear."""
    layers = OrderedDict(stem=nn.Conv2d(3, stem, 3, 1, 1, bias=False, generator=generator))
    channels = stem
    for stage, (cout, inner) in enumerate(widths, start=1):
        blocks = []
        for index in range(n):
            stride = 2 if stage > 1 and index == 0 else 1
            blocks.append(preact_block(channels, cout, stride, inner=inner, dropout=dropout,
                                       generator=generator))
            channels = cout
        layers[f"stage{stage}"] = nn.Sequential(*blocks)
    layers.update(bn=nn.BatchNorm2d(channels), relu=nn.ReLU())
    return _cifar_classifier(layers, channels, num_classes, generator)


def preact_resnet_cifar(*, depth=164, block="bottleneck", num_classes=10, width=1.0, generator=None):
    """Pre-activation ResNet for CIFAR (He et al. 2016b, "Identity mappings in deep residual
    networks"): (N, 3, 32, 32) -> (N, num_classes); features(x) is the pooled last stage.

    block="bottleneck": depth = 9n + 2 (164, 1001), blocks 1x1-3x3-1x1 with inner widths
    16/32/64 and outputs 64/128/256; block="basic": depth = 6n + 2 (110), widths 16/32/64.
    Shortcuts are identities except a 1x1 conv at each stage's first block.
    """
    if block not in ("basic", "bottleneck"):
        raise ValueError(f"preact_resnet_cifar: block must be 'basic' or 'bottleneck', got {block!r}")
    check_width("preact_resnet_cifar", width)
    bottleneck = block == "bottleneck"
    n = _blocks_per_stage("preact_resnet_cifar", depth, 3 if bottleneck else 2, 2)
    widths = [(scaled(4 * c, width), scaled(c, width)) if bottleneck else (scaled(c, width), None)
              for c in (16, 32, 64)]
    return _preact_network(n, scaled(16, width), widths, num_classes, generator)


def wide_resnet_cifar(*, depth=28, widen=10, dropout=0.0, num_classes=10, width=1.0, generator=None):
    """Wide ResNet WRN-depth-widen (Zagoruyko & Komodakis 2016): pre-activation basic blocks at
    16*widen, 32*widen, 64*widen channels, depth = 6n + 4 (the stem conv, the final linear and
    the two 1x1 shortcut convs where the width changes count as layers), no conv biases,
    final BN-ReLU. dropout: between the two 3x3s (the paper's 0.3 on some runs; 0 by default).
    (N, 3, 32, 32) -> (N, num_classes); features(x) is the pooled (N, 64 * widen * width).
    """
    n = _blocks_per_stage("wide_resnet_cifar", depth, 2, 4)
    check_width("wide_resnet_cifar", width)
    if not isinstance(widen, int) or widen < 1:
        raise ValueError(f"wide_resnet_cifar: widen must be a positive int, got {widen!r}")
    widths = [(scaled(c * widen, width), None) for c in (16, 32, 64)]
    return _preact_network(n, scaled(16, width), widths, num_classes, generator, dropout)
