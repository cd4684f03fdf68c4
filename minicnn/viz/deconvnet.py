"""Zeiler & Fergus's deconvnet ("Visualizing and understanding convolutional networks", 2013/14):
project the strongest activations of a chosen layer back to pixel space.

The input goes forward once while every layer's input is recorded. Then, from the chosen layer's
output with all but its strongest activations set to zero, the layers are undone in reverse:

- max pooling: unpooling with the recorded "switches" (the position of each window's maximum);
  windows that overlap and chose the same pixel add their values there;
- ReLU: ReLU again (the reconstruction is kept non-negative, as in the paper);
- convolution: transposed convolution with the same filters (no bias), same stride, padding,
  dilation and groups, output sized as the layer's input;
- average pooling (LeNet's): its transpose, each value spread evenly over its window;
- normalisation, dropout and other element-wise activations: passed through unchanged
  (the paper's net had contrast normalisation, which its deconvnet does not invert either).

Any other layer on the way (fully connected, residual blocks) is a ValueError: the deconvnet
follows a plain chain of convolutions, as ZFNet is. The result has the input's shape.
"""
from __future__ import annotations

import numpy as np

from .. import functional as F
from .. import nn
from ..tensor import Tensor, enable_grad, no_grad
from .features import layer_named, look_at

PASSED_THROUGH = (nn.BatchNorm2d, nn.LocalResponseNorm, nn.LocalContrastNorm, nn.Dropout, nn.Dropout2d,
                  nn.Identity, nn.Tanh, nn.Sigmoid, nn.LeakyReLU, nn.ELU)


def record_chain(model, name: str, image) -> list:
    """[(module, input array)] of every innermost layer the forward pass of `image` calls, in order,
    up to and including layer `name`; checks that each layer reads the previous one's output."""
    target = layer_named(model, name)
    leaves = [m for m in model.modules() if not any(True for _ in m.children())]
    inside = {id(m) for m in target.modules()}
    calls = []

    def hook(module, inputs, output):
        calls.append((module, inputs[0], output))

    look_at(model, image, [(module, hook) for module in leaves])
    last = max(i for i, (module, _, _) in enumerate(calls) if id(module) in inside)
    chain = calls[:last + 1]
    for (_, _, before), (module, x, _) in zip(chain, chain[1:]):
        if x is not before:
            raise ValueError(f"deconvnet: {type(module).__name__} does not read the previous layer's output "
                             "(a branch or a functional op in between); the deconvnet follows plain chains")
    return [(module, np.asarray(x.array)) for module, x, _ in chain]


def strongest(activations: np.ndarray, top: int = 1, channel: int | None = None) -> np.ndarray:
    """activations (C, H, W) with every value zeroed except the `top` largest of one channel:
    `channel`, or the one holding the largest activation."""
    if channel is None:
        channel = int(np.unravel_index(np.argmax(activations), activations.shape)[0])
    if not 0 <= channel < activations.shape[0]:
        raise ValueError(f"deconvnet: channel {channel} is outside 0..{activations.shape[0] - 1}")
    kept = np.zeros_like(activations)
    plane = activations[channel].ravel()
    order = np.argsort(plane)[::-1][:top]
    kept[channel].flat[order] = plane[order]
    return kept


def unpool(r: np.ndarray, switches: np.ndarray, input_shape: tuple) -> np.ndarray:
    """Each pooled value put back at its switch, the position its maximum came from (summed
    where overlapping windows chose the same one). r, switches (N, C, oH, oW) -> input_shape."""
    n, c = r.shape[:2]
    out = np.zeros((n * c, int(np.prod(input_shape[2:]))), r.dtype)
    rows = np.repeat(np.arange(n * c), r[0, 0].size)
    np.add.at(out, (rows, switches.reshape(-1)), r.reshape(-1))
    return out.reshape(input_shape)


def undo(module, x: np.ndarray, r: np.ndarray) -> np.ndarray:
    """The reconstruction r at `module`'s output taken to its input x (the rules of the module)."""
    if isinstance(module, nn.ReLU):
        return np.maximum(r, 0)
    if isinstance(module, nn.MaxPool2d):
        _, switches = F.max_pool2d(Tensor(x), module.kernel_size, module.stride, module.padding,
                                   module.dilation, module.ceil_mode, return_indices=True)
        return unpool(r, np.asarray(switches.array if isinstance(switches, Tensor) else switches), x.shape)
    if isinstance(module, nn.Conv2d):
        if module.padding_mode != "zeros":
            raise ValueError(f"deconvnet: Conv2d with padding_mode={module.padding_mode!r} is not supported")
        (top, bottom), (left, right) = module._pairs
        size = [(o - 1) * s - pb - pa + d * (k - 1) + 1 for o, s, (pb, pa), d, k in zip(
            r.shape[2:], module.stride, module._pairs, module.dilation, module.kernel_size)]
        extra = tuple(n - m for n, m in zip(x.shape[2:], size))
        y = F.conv_transpose2d(Tensor(r), module.weight.detach(), None, module.stride, module._pairs,
                               extra, module.groups, module.dilation)
        return np.asarray(y.array)
    if isinstance(module, nn.AvgPool2d):
        # average pooling is linear: its transpose is its gradient, taken by autograd
        x_t = Tensor(x, requires_grad=True)
        with enable_grad():
            module(x_t).backward(Tensor(r))
        return np.asarray(x_t.grad.array)
    if isinstance(module, PASSED_THROUGH):
        return r
    raise ValueError(f"deconvnet: cannot project back through {type(module).__name__}; it handles "
                     "Conv2d, MaxPool2d, AvgPool2d, ReLU and shape-preserving normalisation, dropout and activations")


def deconvnet(model, name: str, image, top: int = 1, channel: int | None = None) -> np.ndarray:
    """Project the `top` strongest activations of one channel of layer `name` (for `image`,
    (C, H, W)) back to pixel space; returns an array of the image's shape.

    channel: which feature map (default: the one holding the layer's largest activation).
    """
    chain = record_chain(model, name, image)
    last, x_last = chain[-1]
    with no_grad():
        output = last(Tensor(x_last))
    r = strongest(np.asarray(output.array)[0], top, channel)[None]
    with no_grad():
        for module, x in reversed(chain):
            r = undo(module, x, r)
    return r[0]
