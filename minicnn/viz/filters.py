"""The first layer's filters as a grid of small images (Krizhevsky et al. 2012, figure 3).

The first convolution sees pixels, so its filters can be shown as images: each filter
(C, kH, kW) rescaled to [0, 1], in colour when C = 3, grey when C = 1 (other channel counts:
the mean over channels).
"""
from __future__ import annotations

import numpy as np

from .. import nn
from .figure import figure, image_grid


def first_conv(model) -> tuple:
    """(name, module) of the first convolution in `model`, in registration order."""
    for name, module in model.named_modules():
        if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)) and getattr(module, "weight", None) is not None:
            return name, module
    raise ValueError(f"viz: {type(model).__name__} has no convolution layer")


def filter_images(weight) -> list:
    """(Cout, C, kH, kW) weights as a list of Cout (1 or 3, kH, kW) arrays to show."""
    w = np.asarray(weight, dtype=np.float64)
    if w.ndim != 4:
        raise ValueError(f"viz.filter_images: expected 2-D convolution weights (Cout, C, kH, kW), got shape {w.shape}")
    return [f if f.shape[0] in (1, 3) else f.mean(axis=0, keepdims=True) for f in w]


def plot_filters(model, max_filters: int = 64):
    """Figure of the first `max_filters` filters of the first convolution of `model`."""
    name, conv = first_conv(model)
    images = filter_images(conv.weight.array)[:max_filters]
    fig = figure(7, 7)
    kh, kw = conv.weight.shape[2:]
    image_grid(fig, images, titles=[str(i) for i in range(len(images))],
               suptitle=f"First-layer filters: {name} ({len(images)} of {conv.weight.shape[0]}, "
                        f"{kh}x{kw}, each scaled to its own range)")
    return fig
