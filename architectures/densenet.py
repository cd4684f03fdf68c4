"""DenseNet (Huang et al. 2017): inside a dense block every layer receives the concatenation of
all earlier maps and adds `growth` new ones, x_l = [x_{l-1}, H_l(x_{l-1})] (nn.Concat of an
identity and the layer). DenseNet-BC: H_l is the bottleneck BN-ReLU-conv1x1 (4 x growth
maps)-BN-ReLU-conv3x3 (growth maps), and the transitions between blocks, BN-ReLU-conv1x1-avg
pool 2x2/2, compress the channels by half.
"""
from __future__ import annotations

from collections import OrderedDict

from minicnn import nn

from .common import Classifier, check_width, he_init_, require_size, scaled, square, variant

IMAGENET_BLOCKS = {121: (6, 12, 24, 16), 169: (6, 12, 32, 32), 201: (6, 12, 48, 32), 264: (6, 12, 64, 48)}


def bn_relu_conv(cin, cout, kernel, padding=0, *, generator=None):
    return [nn.BatchNorm2d(cin), nn.ReLU(),
            nn.Conv2d(cin, cout, kernel, padding=padding, bias=False, generator=generator)]


def dense_layer(cin, growth, bottleneck_width, *, generator=None) -> nn.Concat:
    """(N, cin, H, W) -> (N, cin + growth, H, W): the input with H_l's new maps appended."""
    new_maps = nn.Sequential(*bn_relu_conv(cin, bottleneck_width, 1, generator=generator),
                             *bn_relu_conv(bottleneck_width, growth, 3, 1, generator=generator))
    return nn.Concat(nn.Identity(), new_maps)


def transition(cin, cout, *, generator=None) -> nn.Sequential:
    """BN-ReLU-conv1x1 to cout channels, then 2x2/2 average pool: (N, cin, H, W) -> (N, cout, H/2, W/2)."""
    return nn.Sequential(*bn_relu_conv(cin, cout, 1, generator=generator), nn.AvgPool2d(2, 2))


def _dense_stages(layers, channels, blocks, growth, bottleneck_width, compression, generator):
    """Append the dense blocks (and a transition after each but the last) to `layers`, then the
    final BN-ReLU and global average pooling; return the number of output channels."""
    for index, count in enumerate(blocks, start=1):
        block = []
        for _ in range(count):
            block.append(dense_layer(channels, growth, bottleneck_width, generator=generator))
            channels += growth
        layers[f"block{index}"] = nn.Sequential(*block)
        if index < len(blocks):
            reduced = int(channels * compression)
            layers[f"transition{index}"] = transition(channels, reduced, generator=generator)
            channels = reduced
    layers.update(bn=nn.BatchNorm2d(channels), relu=nn.ReLU(), pool=nn.GlobalAvgPool2d())
    return channels


def densenet(*, depth=121, num_classes=1000, growth=32, width=1.0, input_size=224, generator=None):
    """DenseNet-BC for ImageNet (table 1): 7x7/2 conv to 2 x growth maps, BN-ReLU, 3x3/2 max-pool,
    four dense blocks (121: 6, 12, 24, 16 layers), compression 0.5, final BN-ReLU, global
    average, linear. (N, 3, H, W) -> (N, num_classes); features(x) is the pooled last block
    (1024 channels for DenseNet-121). width scales the growth rate (and so every width).
    Initialisation as torchvision: He-normal (fan_in) convs, BN weight 1 bias 0, Linear bias 0.
    """
    if depth not in IMAGENET_BLOCKS:
        raise ValueError(f"densenet: depth must be one of {sorted(IMAGENET_BLOCKS)}, got {depth!r}")
    check_width("densenet", width)
    height, width_px = square("densenet", input_size)
    require_size("densenet", min(height, width_px), 32, "at the input (five stride-2 steps)")
    k = scaled(growth, width)
    layers = OrderedDict(stem=nn.Sequential(
        nn.Conv2d(3, 2 * k, 7, 2, 3, bias=False, generator=generator), nn.BatchNorm2d(2 * k), nn.ReLU(),
        nn.MaxPool2d(3, 2, 1)))
    channels = _dense_stages(layers, 2 * k, IMAGENET_BLOCKS[depth], k, 4 * k, 0.5, generator)
    model = Classifier(nn.Sequential(layers), nn.Linear(channels, num_classes, generator=generator),
                       input_shape=(3, height, width_px))
    he_init_(model, generator, mode="fan_in", linear_bias_zero=True)
    return model


densenet121 = variant(densenet, "densenet121", "DenseNet-121", depth=121)
densenet169 = variant(densenet, "densenet169", "DenseNet-169", depth=169)
densenet201 = variant(densenet, "densenet201", "DenseNet-201", depth=201)


def densenet_bc_cifar(*, depth=100, growth=12, num_classes=10, generator=None):
    """DenseNet-BC for CIFAR (section 3, "Implementation details"): 3x3 conv to 2 x growth maps,
    three dense blocks of n = (depth - 4) / 6 bottleneck layers on 32, 16, 8 grids with
    compressing transitions between them, final BN-ReLU, global average, linear.
    (N, 3, 32, 32) -> (N, num_classes); features(x) is the pooled last block. DenseNet-BC
    (L=100, k=12): 769,162 parameters. growth is the width knob here.
    """
    if not isinstance(depth, int) or (depth - 4) % 6 or depth < 10:
        raise ValueError(f"densenet_bc_cifar: depth must be 6n+4 for n >= 1, got {depth!r}")
    if not isinstance(growth, int) or growth < 1:
        raise ValueError(f"densenet_bc_cifar: growth must be a positive int, got {growth!r}")
    n = (depth - 4) // 6
    layers = OrderedDict(stem=nn.Conv2d(3, 2 * growth, 3, 1, 1, bias=False, generator=generator))
    channels = _dense_stages(layers, 2 * growth, (n, n, n), growth, 4 * growth, 0.5, generator)
    model = Classifier(nn.Sequential(layers), nn.Linear(channels, num_classes, generator=generator),
                       input_shape=(3, 32, 32))
    he_init_(model, generator, mode="fan_in", linear_bias_zero=True)
    return model
