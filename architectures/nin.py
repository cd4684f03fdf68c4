"""Network in Network (Lin, Chen & Yan 2014), the CIFAR-10 model of the authors' Caffe release.

An mlpconv block is a spatial convolution followed by two 1x1 convolutions (a small MLP slid
over the image), each with ReLU. Three blocks; the last ends with one map per class, and global
average pooling turns each map into a class score: no fully connected layer at all.

    mlpconv 192@5x5, 160@1x1, 96@1x1; max 3x3/2; dropout 0.5     32 -> 16
    mlpconv 192@5x5, 192@1x1, 192@1x1; avg 3x3/2; dropout 0.5    16 -> 8
    mlpconv 192@3x3, 192@1x1, num_classes@1x1; global average    8 -> 1
"""
from __future__ import annotations

from collections import OrderedDict

from minicnn import nn

from .common import Classifier, check_width, scaled


def mlpconv(in_channels, channels, kernel_size, *, generator=None) -> nn.Sequential:
    """conv kernel_size x kernel_size ('same' padding), then two 1x1 convs; ReLU after each.
    channels: the three output widths."""
    c1, c2, c3 = channels
    return nn.Sequential(OrderedDict(
        conv=nn.Conv2d(in_channels, c1, kernel_size, padding=kernel_size // 2, generator=generator),
        relu=nn.ReLU(),
        cccp1=nn.Conv2d(c1, c2, 1, generator=generator), relu1=nn.ReLU(),
        cccp2=nn.Conv2d(c2, c3, 1, generator=generator), relu2=nn.ReLU()))


def nin_cifar(*, num_classes=10, width=1.0, generator=None):
    """NiN for 3x32x32 images: (N, 3, 32, 32) -> (N, num_classes). Works on any input size
    whose feature maps stay non-empty, since the head is a global average.

    features(x) is the third block's 192-map output before its last 1x1 conv, (N, 192*width,
    H/4, W/4): NiN's "classifier" is that 1x1 conv (with its ReLU, as in the Caffe model) and the
    global average. Pools round up (Caffe), so 32 -> 16 -> 8.
    """
    check_width("nin_cifar", width)
    c = {n: scaled(n, width) for n in (192, 160, 96)}
    body = nn.Sequential(OrderedDict(
        block1=mlpconv(3, (c[192], c[160], c[96]), 5, generator=generator),
        pool1=nn.MaxPool2d(3, 2, ceil_mode=True), drop1=nn.Dropout(0.5, generator=generator),
        block2=mlpconv(c[96], (c[192], c[192], c[192]), 5, generator=generator),
        pool2=nn.AvgPool2d(3, 2, ceil_mode=True), drop2=nn.Dropout(0.5, generator=generator),
        # the third mlpconv block, but for its last 1x1 conv, which is the classifier
        conv3=nn.Conv2d(c[192], c[192], 3, padding=1, generator=generator), relu3=nn.ReLU(),
        cccp5=nn.Conv2d(c[192], c[192], 1, generator=generator), relu5=nn.ReLU()))
    head = nn.Sequential(OrderedDict(
        cccp6=nn.Conv2d(c[192], num_classes, 1, generator=generator), relu6=nn.ReLU(),
        pool=nn.GlobalAvgPool2d()))
    return Classifier(body, head, input_shape=(3, 32, 32))
