"""Feature maps of any named layer for one input image, caught by a forward hook.

`name` is the layer's dotted name, as in dict(model.named_modules()) (e.g. "body.conv2").
"""
from __future__ import annotations

import numpy as np

from ..tensor import Tensor, no_grad
from .figure import MAGNITUDE_CMAP, figure, image_grid


def layer_named(model, name: str):
    """The module called `name` in `model`, or a ValueError listing the names there are."""
    modules = dict(model.named_modules())
    if name not in modules or name == "":
        names = ", ".join(n for n in modules if n)
        raise ValueError(f"viz: {type(model).__name__} has no layer {name!r}; its layers: {names}")
    return modules[name]


def batch_of_one(image) -> Tensor:
    """A (C, H, W) image (array or Tensor) as a float32 (1, C, H, W) Tensor."""
    a = np.asarray(image, dtype=np.float32)
    if a.ndim != 3:
        raise ValueError(f"viz: expected one image (C, H, W), got shape {a.shape}")
    return Tensor(a[None])


def look_at(model, image, hooks: list) -> None:
    """Run `model` in eval mode, recording no graph, on one `image` (C, H, W), with forward hooks
    [(module, hook)] registered for that one call; the model's mode is restored after."""
    handles = [module.register_forward_hook(hook) for module, hook in hooks]
    training = model.training
    try:
        model.eval()
        with no_grad():
            model(batch_of_one(image))
    finally:
        for handle in handles:
            handle.remove()
        model.train(training)


def feature_maps(model, name: str, image) -> np.ndarray:
    """The output of layer `name` when `model` (in eval mode) sees `image` (C, H, W): (C', H', W')."""
    layer = layer_named(model, name)
    caught = {}

    def hook(module, inputs, output):
        caught["output"] = output[0] if isinstance(output, (tuple, list)) else output

    look_at(model, image, [(layer, hook)])
    return np.asarray(caught["output"].array[0])


def plot_feature_maps(model, name: str, image, max_maps: int = 32):
    """Figure: the input image, then the first `max_maps` feature maps of layer `name`."""
    maps = feature_maps(model, name, image)
    if maps.ndim != 3:
        raise ValueError(f"viz: layer {name!r} outputs shape {maps.shape} per image, not feature maps (C, H, W)")
    shown = [np.asarray(image)] + [m[None] for m in maps[:max_maps]]
    titles = ["input"] + [f"map {i}  max {m.max():.2g}" for i, m in enumerate(maps[:max_maps])]
    fig = figure(8, 8)
    image_grid(fig, shown, titles=titles, cmap=["gray"] + [MAGNITUDE_CMAP] * (len(shown) - 1),
               suptitle=f"Feature maps of {name} ({maps.shape[0]} maps of {maps.shape[1]}x{maps.shape[2]}; "
                        f"each scaled to its own range)")
    return fig
