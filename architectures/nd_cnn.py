"""Small CNNs for the other data types of the notes' table (convolution module, section 7):
1-D signals (time along one axis, sensors as channels) and 3-D volumes (scans, voxels).

    cnn1d  (N, C, L)        conv 9, pool 4, conv 5, pool 4, conv 3, pool 2, conv 3, global average, linear
    cnn3d  (N, C, D, H, W)  conv 3, pool 2, conv 3, pool 2, conv 3, global average, linear

Each convolution ("same" padding) is followed by batch norm and ReLU, each pooling is a max.
The global average over time (or space) makes the prediction indifferent to where in the
window the pattern sits, as global pooling does for NiN's and ResNet's images; the pooling
before it is what lets the last layers see a long stretch: cnn1d's last convolution spans
9 + 4 x 4 + 2 x 16 + 2 x 32 = 121 input samples, enough to tell a chirp's changing period from
a tone's steady one. Channels 16, 32, 64, 64 (cnn1d) and 8, 16, 32 (cnn3d) times `width`.
Built for Signals and Volumes in minicnn.data, usable on any input of that rank.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from minicnn import nn

from .common import Classifier, check_width, scaled

LAYERS = {  # rank -> (conv, batch norm, max pool, global average pool)
    1: (nn.Conv1d, nn.BatchNorm1d, nn.MaxPool1d, nn.AdaptiveAvgPool1d),
    3: (nn.Conv3d, nn.BatchNorm3d, nn.MaxPool3d, nn.AdaptiveAvgPool3d),
}


def _cnn(name, dims, kernels, pools, channels, *, num_classes, in_channels, width, input_size, generator):
    """conv-BN-ReLU (kernels[i], 'same' padding), each followed by max pooling of pools[i] (if any),
    then global average and linear."""
    check_width(name, width)
    shrink = int(np.prod(pools))
    if not isinstance(input_size, int) or input_size < shrink:
        raise ValueError(f"{name}: input_size must be an int >= {shrink} (the poolings divide it by {shrink}), "
                         f"got {input_size!r}")
    conv, norm, pool, global_pool = LAYERS[dims]
    widths = [scaled(c, width) for c in channels]
    layers, previous = [], in_channels
    for i, (kernel, out) in enumerate(zip(kernels, widths), 1):
        layers += [(f"conv{i}", conv(previous, out, kernel, padding=kernel // 2, bias=False, generator=generator)),
                   (f"bn{i}", norm(out)), (f"relu{i}", nn.ReLU())]
        if i <= len(pools):
            layers.append((f"pool{i}", pool(pools[i - 1])))
        previous = out
    layers += [("gap", global_pool(1)), ("flatten", nn.Flatten())]
    head = nn.Linear(previous, num_classes, generator=generator)
    return Classifier(nn.Sequential(OrderedDict(layers)), head, input_shape=(in_channels,) + (input_size,) * dims)


def cnn1d(*, num_classes=6, in_channels=3, width=1.0, input_size=256, generator=None):
    """A 1-D CNN for (N, in_channels, L) signals (Signals: 3 sensors, L = 256, 6 classes) -> (N, num_classes).
    input_size is L (for the model summary; any L >= 32 runs)."""
    return _cnn("cnn1d", 1, (9, 5, 3, 3), (4, 4, 2), (16, 32, 64, 64), num_classes=num_classes, in_channels=in_channels,
                width=width, input_size=input_size, generator=generator)


def cnn3d(*, num_classes=4, in_channels=1, width=1.0, input_size=16, generator=None):
    """A 3-D CNN for (N, in_channels, S, S, S) volumes (Volumes: 1 channel, S = 16, 4 classes) ->
    (N, num_classes). input_size is S (for the model summary; any S >= 4 runs)."""
    return _cnn("cnn3d", 3, (3, 3, 3), (2, 2), (8, 16, 32), num_classes=num_classes, in_channels=in_channels,
                width=width, input_size=input_size, generator=generator)
