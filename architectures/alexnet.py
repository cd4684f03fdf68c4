"""AlexNet (Krizhevsky, Sutskever & Hinton 2012) and ZFNet (Zeiler & Fergus 2014), its retuned
successor. Both are five convolutions and three fully connected layers:

    AlexNet, 3x227x227                         ZFNet, 3x224x224
    conv1 96@11x11/4, ReLU, LRN, max 3x3/2     conv1 96@7x7/2 pad 1, ReLU, max 3x3/2, contrast norm
    conv2 256@5x5 pad 2, ReLU, LRN, max 3x3/2  conv2 256@5x5/2, ReLU, max 3x3/2, contrast norm
    conv3 384@3x3, conv4 384@3x3, conv5 256@3x3 (pad 1, ReLU), max 3x3/2 -> 256x6x6
    fc6 4096, ReLU, dropout 0.5; fc7 4096, ReLU, dropout 0.5; fc8 num_classes

AlexNet's pools overlap (3x3 windows, stride 2); ZFNet's pools round up (ceil mode) so that
its 110x110 conv1 output pools to the paper's 55x55.
"""
from __future__ import annotations

from collections import OrderedDict

from minicnn import nn

from .common import Classifier, check_width, conv_out, gaussian_init_, require_size, scaled, square


def _classifier_layers(in_features, hidden, generator):
    """fc6 and fc7 with dropout on their outputs (AlexNet section 4.2: "the first two
    fully-connected layers"), the embedding the head fc8 reads."""
    return OrderedDict(
        flatten=nn.Flatten(),
        fc6=nn.Linear(in_features, hidden, generator=generator), relu6=nn.ReLU(),
        drop6=nn.Dropout(0.5, generator=generator),
        fc7=nn.Linear(hidden, hidden, generator=generator), relu7=nn.ReLU(),
        drop7=nn.Dropout(0.5, generator=generator))


def _normalise_and_pool(index, lrn, lrn_after_pool):
    """AlexNet's LRN and overlapping 3x3/2 max-pool after conv1 and conv2, in either order."""
    norm = (f"norm{index}", nn.LocalResponseNorm(**lrn))
    pool = (f"pool{index}", nn.MaxPool2d(3, 2))
    return OrderedDict([pool, norm] if lrn_after_pool else [norm, pool])


def alexnet(*, num_classes=1000, groups=1, width=1.0, input_size=227, lrn_after_pool=False,
            generator=None):
    """AlexNet: (N, 3, H, W) -> (N, num_classes); features(x) is fc7's output (N, 4096 * width).

    groups=2 is the paper's two-GPU split: conv2, conv4 and conv5 only see the half of the
    previous layer's maps on their own GPU (grouped convolutions; conv3 and the FC layers talk
    across). LRN: size 5, k=2, alpha=1e-4 per the paper's sum (5e-4 in minicnn's alpha/size
    convention), beta=0.75. Initialisation as section 5: weights N(0, 0.01^2), biases 1 in
    conv2, conv4, conv5 and the hidden FC layers, 0 elsewhere.
    width scales every hidden width (channels and the FC units), for reduced copies.
    lrn_after_pool=True swaps each LRN with the max-pool after it (conv, ReLU, pool, LRN): the
    order of CaffeNet and of the cost table in the notes, which normalises 4x fewer positions.
    The paper (section 3.5) normalises before pooling, the default.
    """
    check_width("alexnet", width)
    if groups not in (1, 2):
        raise ValueError(f"alexnet: groups must be 1 or 2 (the paper's two GPUs), got {groups!r}")
    height, width_px = square("alexnet", input_size)
    c = [scaled(n, width, groups) for n in (96, 256, 384, 384, 256)]
    hidden = scaled(4096, width)
    sides = []
    for s in (height, width_px):
        s = conv_out(conv_out(s, 11, 4), 3, 2)          # conv1, pool1
        s = conv_out(s, 3, 2)                           # conv2 keeps the size; pool2
        sides.append(conv_out(s, 3, 2))                 # conv3-5 keep it; pool5
    require_size("alexnet", min(sides), 1, "after pool5")

    def conv(cin, cout, kernel, padding=0, stride=1, g=1):
        return nn.Conv2d(cin, cout, kernel, stride, padding, groups=g, generator=generator)

    lrn = dict(size=5, alpha=5e-4, beta=0.75, k=2.0)
    body = nn.Sequential(OrderedDict(
        conv1=conv(3, c[0], 11, stride=4), relu1=nn.ReLU(),
        **_normalise_and_pool(1, lrn, lrn_after_pool),
        conv2=conv(c[0], c[1], 5, padding=2, g=groups), relu2=nn.ReLU(),
        **_normalise_and_pool(2, lrn, lrn_after_pool),
        conv3=conv(c[1], c[2], 3, padding=1), relu3=nn.ReLU(),
        conv4=conv(c[2], c[3], 3, padding=1, g=groups), relu4=nn.ReLU(),
        conv5=conv(c[3], c[4], 3, padding=1, g=groups), relu5=nn.ReLU(),
        pool5=nn.MaxPool2d(3, 2),
        **_classifier_layers(c[4] * sides[0] * sides[1], hidden, generator)))
    head = nn.Linear(hidden, num_classes, generator=generator)
    gaussian_init_([body.conv1, body.conv3, head], 0.01, generator, bias=0.0)
    gaussian_init_([body.conv2, body.conv4, body.conv5, body.fc6, body.fc7], 0.01, generator, bias=1.0)
    return Classifier(body, head, input_shape=(3, height, width_px))


def zfnet(*, num_classes=1000, width=1.0, input_size=224, generator=None):
    """ZFNet (Zeiler & Fergus 2014, figure 3): (N, 3, H, W) -> (N, num_classes); features(x) is
    fc7's output (N, 4096 * width).

    Against AlexNet: conv1 is 7x7 stride 2 (not 11x11 stride 4) and conv2 stride 2, chosen
    after visualising aliasing in AlexNet's first layers; no grouping; local contrast
    normalisation across feature maps after pool1 and pool2 instead of LRN. Initialisation as
    section 3: weights N(0, 0.01^2), biases 0.
    """
    check_width("zfnet", width)
    height, width_px = square("zfnet", input_size)
    c = [scaled(n, width) for n in (96, 256, 384, 384, 256)]
    hidden = scaled(4096, width)
    sides = []
    for s in (height, width_px):
        s = conv_out(conv_out(s, 7, 2, 1), 3, 2, ceil_mode=True)     # conv1, pool1: 224 -> 110 -> 55
        s = conv_out(conv_out(s, 5, 2), 3, 2, ceil_mode=True)        # conv2, pool2: 26 -> 13
        sides.append(conv_out(s, 3, 2, ceil_mode=True))              # conv3-5, pool5: 6
    require_size("zfnet", min(sides), 1, "after pool5")

    def conv(cin, cout, kernel, stride=1, padding=0):
        return nn.Conv2d(cin, cout, kernel, stride, padding, generator=generator)

    body = nn.Sequential(OrderedDict(
        conv1=conv(3, c[0], 7, 2, 1), relu1=nn.ReLU(), pool1=nn.MaxPool2d(3, 2, ceil_mode=True),
        norm1=nn.LocalContrastNorm(),
        conv2=conv(c[0], c[1], 5, 2), relu2=nn.ReLU(), pool2=nn.MaxPool2d(3, 2, ceil_mode=True),
        norm2=nn.LocalContrastNorm(),
        conv3=conv(c[1], c[2], 3, 1, 1), relu3=nn.ReLU(),
        conv4=conv(c[2], c[3], 3, 1, 1), relu4=nn.ReLU(),
        conv5=conv(c[3], c[4], 3, 1, 1), relu5=nn.ReLU(),
        pool5=nn.MaxPool2d(3, 2, ceil_mode=True),
        **_classifier_layers(c[4] * sides[0] * sides[1], hidden, generator)))
    head = nn.Linear(hidden, num_classes, generator=generator)
    gaussian_init_([m for m in body.modules() if isinstance(m, (nn.Conv2d, nn.Linear))] + [head],
                   0.01, generator)
    return Classifier(body, head, input_shape=(3, height, width_px))
