"""LeNet-5 (LeCun et al. 1998, "Gradient-based learning applied to document recognition").

    input 1x32x32
    C1  conv 6@5x5 -> 6x28x28, tanh      S2  2x2/2 pooling -> 6x14x14
    C3  conv 16@5x5 -> 16x10x10, tanh    S4  2x2/2 pooling -> 16x5x5
    C5  conv 120@5x5 -> 120x1x1, tanh    F6  fully connected 84, tanh
    output: fully connected num_classes

61,706 parameters. Simplifications the lecture notes make and this builder follows: every C3
map sees all six S2 maps (the paper connects each to a subset), pooling has no trainable
coefficients, tanh is plain tanh (the paper's is 1.7159 tanh(2a/3)) and the output layer is a
linear layer rather than Euclidean RBF units.
"""
from __future__ import annotations

from collections import OrderedDict

from minicnn import nn

from .common import Classifier, conv_out, require_size, square

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU}
POOLS = {"avg": nn.AvgPool2d, "max": nn.MaxPool2d}


def lenet5(*, num_classes=10, activation="tanh", pool="avg", input_size=32, generator=None):
    """LeNet-5 for 1-channel images. activation: "tanh" or "relu"; pool: "avg" or "max".

    (N, 1, H, W) -> (N, num_classes); features(x) is F6's output, (N, 84). Layers keep
    PyTorch's default initialisation (U(-1/sqrt(fan_in), 1/sqrt(fan_in))), close to the paper's
    U(-2.4/fan_in, 2.4/fan_in) in spirit: scaled by the fan-in.
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"lenet5: activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    if pool not in POOLS:
        raise ValueError(f"lenet5: pool must be one of {sorted(POOLS)}, got {pool!r}")
    height, width = square("lenet5", input_size)
    # C1, S2, C3, S4, C5 in turn
    c5 = [conv_out(conv_out(conv_out(conv_out(conv_out(s, 5), 2, 2), 5), 2, 2), 5) for s in (height, width)]
    require_size("lenet5", min(c5), 1, "after C5")
    act, pool_layer = ACTIVATIONS[activation], POOLS[pool]
    body = nn.Sequential(OrderedDict(
        c1=nn.Conv2d(1, 6, 5, generator=generator), act1=act(), s2=pool_layer(2, 2),
        c3=nn.Conv2d(6, 16, 5, generator=generator), act3=act(), s4=pool_layer(2, 2),
        c5=nn.Conv2d(16, 120, 5, generator=generator), act5=act(),
        flatten=nn.Flatten(),
        f6=nn.Linear(120 * c5[0] * c5[1], 84, generator=generator), act6=act()))
    head = nn.Linear(84, num_classes, generator=generator)
    return Classifier(body, head, input_shape=(1, height, width))
