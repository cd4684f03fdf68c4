"""VGG (Simonyan & Zisserman 2015): stacks of 3x3 convolutions (stride 1, pad 1, ReLU), five
2x2/2 max-pools, then FC 4096-4096-num_classes with dropout 0.5 on the two hidden layers.

Configurations A, B, D and E of the paper's table 1 are depths 11, 13, 16 and 19 (weight
layers); each number below is a conv's output channels, "M" a max-pool.
"""
from __future__ import annotations

from collections import OrderedDict

from minicnn import nn
from minicnn.nn import init

from .common import Classifier, check_width, layers_of, require_size, scaled, square, variant

CONFIGS = {
    11: (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    13: (64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    16: (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),
    19: (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
         512, 512, 512, 512, "M"),
}


def vgg(*, depth=16, num_classes=1000, batch_norm=False, width=1.0, input_size=224, generator=None):
    """VGG-`depth` (11, 13, 16 or 19): (N, 3, H, W) -> (N, num_classes); features(x) is the
    second FC layer's output (N, 4096 * width).

    batch_norm=True puts BatchNorm2d between each conv and its ReLU (torchvision's vgg*_bn;
    the convs keep their biases, as there). Initialisation as torchvision: convs He-normal
    (fan_out), FC weights N(0, 0.01^2), all biases 0.
    """
    if depth not in CONFIGS:
        raise ValueError(f"vgg: depth must be one of {sorted(CONFIGS)}, got {depth!r}")
    check_width("vgg", width)
    height, width_px = square("vgg", input_size)
    sides = (height // 32, width_px // 32)                       # five 2x2/2 pools
    require_size("vgg", min(sides), 1, "after the fifth pool")
    layers, channels, index = OrderedDict(), 3, 1
    for item in CONFIGS[depth]:
        if item == "M":
            layers[f"pool{index}"] = nn.MaxPool2d(2, 2)
            index += 1
            continue
        out = scaled(item, width)
        name = f"conv{index}_{sum(k.startswith(f'conv{index}_') for k in layers) + 1}"
        layers[name] = nn.Conv2d(channels, out, 3, padding=1, generator=generator)
        if batch_norm:
            layers[name.replace("conv", "bn")] = nn.BatchNorm2d(out)
        layers[name.replace("conv", "relu")] = nn.ReLU()
        channels = out
    hidden = scaled(4096, width)
    layers.update(
        flatten=nn.Flatten(),
        fc6=nn.Linear(channels * sides[0] * sides[1], hidden, generator=generator), relu6=nn.ReLU(),
        drop6=nn.Dropout(0.5, generator=generator),
        fc7=nn.Linear(hidden, hidden, generator=generator), relu7=nn.ReLU(),
        drop7=nn.Dropout(0.5, generator=generator))
    body = nn.Sequential(layers)
    head = nn.Linear(hidden, num_classes, generator=generator)
    for conv in layers_of(body, nn.Conv2d):
        init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu", generator=generator)
        init.zeros_(conv.bias)
    for linear in layers_of(body, nn.Linear) + [head]:
        init.normal_(linear.weight, 0.0, 0.01, generator)
        init.zeros_(linear.bias)
    return Classifier(body, head, input_shape=(3, height, width_px))


vgg11 = variant(vgg, "vgg11", "VGG-11 (configuration A)", depth=11)
vgg13 = variant(vgg, "vgg13", "VGG-13 (configuration B)", depth=13)
vgg16 = variant(vgg, "vgg16", "VGG-16 (configuration D)", depth=16)
vgg19 = variant(vgg, "vgg19", "VGG-19 (configuration E)", depth=19)
