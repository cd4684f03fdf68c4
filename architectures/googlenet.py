"""GoogLeNet, Inception v1 (Szegedy et al. 2015, "Going deeper with convolutions"), as in the
paper's table 1: convolutions with biases and ReLU, no batch norm, real 5x5 branches, LRN after
the stem's first and second convolutions, and the two auxiliary classifiers of section 5.

An Inception module runs four branches on the same input and concatenates them:
1x1 | 1x1 reduce -> 3x3 | 1x1 reduce -> 5x5 | 3x3/1 max-pool -> 1x1 projection.
"""
from __future__ import annotations

from collections import OrderedDict

from minicnn import nn
from minicnn.nn import init

from .common import Classifier, check_width, conv_out, conv_relu, layers_of, require_size, scaled, square

#          #1x1 #3x3red #3x3 #5x5red #5x5 pool proj   (table 1)
MODULES = {
    "3a": (64, 96, 128, 16, 32, 32),
    "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64),
    "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}
LRN = dict(size=5, alpha=1e-4, beta=0.75, k=1.0)  # the reference Caffe model's


def inception_module(in_channels, c1, c3_reduce, c3, c5_reduce, c5, pool_proj, *, generator=None):
    """(N, in_channels, H, W) -> (N, c1 + c3 + c5 + pool_proj, H, W)."""
    return nn.Concat(
        conv_relu(in_channels, c1, 1, generator=generator),
        nn.Sequential(conv_relu(in_channels, c3_reduce, 1, generator=generator),
                      conv_relu(c3_reduce, c3, 3, padding=1, generator=generator)),
        nn.Sequential(conv_relu(in_channels, c5_reduce, 1, generator=generator),
                      conv_relu(c5_reduce, c5, 5, padding=2, generator=generator)),
        nn.Sequential(nn.MaxPool2d(3, 1, padding=1),
                      conv_relu(in_channels, pool_proj, 1, generator=generator)))


def auxiliary_classifier(in_channels, side, num_classes, width, *, generator=None):
    """Section 5: 5x5/3 average pool (14x14 -> 4x4), 1x1 conv 128 + ReLU, FC 1024 + ReLU,
    dropout 0.7, linear classifier. `side`: the input map's size (14 at 224x224)."""
    pooled = conv_out(side, 5, 3)
    channels, hidden = scaled(128, width), scaled(1024, width)
    return nn.Sequential(OrderedDict(
        pool=nn.AvgPool2d(5, 3), conv=conv_relu(in_channels, channels, 1, generator=generator),
        flatten=nn.Flatten(), fc=nn.Linear(channels * pooled * pooled, hidden, generator=generator),
        relu=nn.ReLU(), drop=nn.Dropout(0.7, generator=generator),
        classifier=nn.Linear(hidden, num_classes, generator=generator)))


def googlenet(*, num_classes=1000, aux_logits=False, width=1.0, input_size=224, generator=None):
    """GoogLeNet: (N, 3, H, W) -> (N, num_classes); features(x) is the pooled 1024-vector (times
    width) after dropout 0.4, the input of the final linear layer.

    aux_logits=True adds the auxiliary classifiers on inception 4a and 4d; in training mode
    forward then returns (logits, aux1, aux2) (the paper weights their losses by 0.3), in eval
    mode the logits only. Max-pools round up (the reference Caffe model's convention) so that
    224 -> 112 -> 56 -> 28 -> 14 -> 7. Initialisation as that model: Xavier-uniform weights,
    biases 0.2 (0 for the classifiers).
    """
    check_width("googlenet", width)
    height, width_px = square("googlenet", input_size)
    if height != width_px:
        raise ValueError(f"googlenet: the auxiliary classifiers' pooling needs a square input, got {input_size}")
    side = conv_out(conv_out(height, 7, 2, 3), 3, 2, ceil_mode=True)    # conv1, pool1
    side = conv_out(side, 3, 2, ceil_mode=True)                          # conv2 keeps it, pool2
    side4 = conv_out(side, 3, 2, ceil_mode=True)                         # pool3: inception 4
    require_size("googlenet", side4, 5 if aux_logits else 1, "at inception 4a")

    def c(n):
        return scaled(n, width)

    layers = OrderedDict(
        conv1=conv_relu(3, c(64), 7, 2, 3, generator=generator),
        pool1=nn.MaxPool2d(3, 2, ceil_mode=True), norm1=nn.LocalResponseNorm(**LRN),
        conv2_reduce=conv_relu(c(64), c(64), 1, generator=generator),
        conv2=conv_relu(c(64), c(192), 3, 1, 1, generator=generator),
        norm2=nn.LocalResponseNorm(**LRN), pool2=nn.MaxPool2d(3, 2, ceil_mode=True))
    channels, out_channels = c(192), {}
    for name, config in MODULES.items():
        if name in ("4a", "5a"):
            layers[f"pool{int(name[0]) - 1}"] = nn.MaxPool2d(3, 2, ceil_mode=True)
        widths = [c(n) for n in config]
        layers[f"inception{name}"] = inception_module(channels, *widths, generator=generator)
        channels = out_channels[name] = widths[0] + widths[2] + widths[4] + widths[5]
    layers.update(pool5=nn.GlobalAvgPool2d(), drop=nn.Dropout(0.4, generator=generator))
    body = nn.Sequential(layers)
    head = nn.Linear(channels, num_classes, generator=generator)
    aux = [(f"inception{name}", auxiliary_classifier(out_channels[name], side4, num_classes, width,
                                                     generator=generator))
           for name in (("4a", "4d") if aux_logits else ())]
    model = Classifier(body, head, input_shape=(3, height, width_px), aux=aux)
    for layer in layers_of(model, nn.Conv2d, nn.Linear):
        init.xavier_uniform_(layer.weight, generator=generator)
        init.constant_(layer.bias, 0.2)
    for classifier in [head] + [aux_head.classifier for _, aux_head in aux]:
        init.zeros_(classifier.bias)
    return model
