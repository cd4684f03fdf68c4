"""Image-specific class saliency (Simonyan, Vedaldi & Zisserman 2014, section 3.1): how much each
pixel moves the class score. One backward pass of the score S_c (the logit, before softmax) to the
input; the map is M[i, j] = max over colour channels of |dS_c / dx[c, i, j]|.
"""
from __future__ import annotations

import numpy as np

from ..tensor import Tensor, no_grad
from .deconvnet import deconvnet
from .figure import MAGNITUDE_CMAP, as_image, figure


def saliency(model, image, target: int | None = None) -> np.ndarray:
    """(H, W) saliency of class `target` (default: the predicted class) for `image` (C, H, W)."""
    x = Tensor(np.asarray(image, dtype=np.float32)[None], requires_grad=True)
    training = model.training
    try:
        model.eval()
        logits = model(x)
        if target is None:
            target = int(np.argmax(logits.array[0]))
        if not 0 <= target < logits.shape[1]:
            raise ValueError(f"saliency: target {target} is outside 0..{logits.shape[1] - 1}")
        logits[0, target].backward()
    finally:
        model.train(training)
    return np.abs(x.grad.array[0]).max(axis=0)


def predicted_class(model, image) -> int:
    """The class `model` (in eval mode) predicts for one image (C, H, W)."""
    training = model.training
    try:
        model.eval()
        with no_grad():
            return int(np.argmax(model(Tensor(np.asarray(image, dtype=np.float32)[None])).array[0]))
    finally:
        model.train(training)


def _show(ax, array, title, cmap=None):
    ax.imshow(array, cmap=cmap, interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def plot_saliency(model, image, target: int | None = None, classes=None):
    """Figure: the image and its saliency map for class `target` (default: the prediction)."""
    x = np.asarray(image)
    target = predicted_class(model, x) if target is None else target
    label = classes[target] if classes else str(target)
    fig = figure(7, 3.6)
    left, right = fig.subplots(1, 2)
    _show(left, as_image(x), "input", cmap="gray")
    _show(right, saliency(model, x, target), f"|d score / d pixel|, class {label}", MAGNITUDE_CMAP)
    fig.suptitle("Saliency (Simonyan et al. 2014)")
    return fig


def plot_deconvnet(model, name: str, image, top: int = 1, channel: int | None = None, classes=None):
    """Figure: the image, the deconvnet projection of layer `name`'s strongest activation(s), and
    the saliency map of the predicted class beside them."""
    x = np.asarray(image)
    projection = deconvnet(model, name, x, top=top, channel=channel)
    fig = figure(10, 3.8)
    axes = fig.subplots(1, 3)
    _show(axes[0], as_image(x), "input", cmap="gray")
    _show(axes[1], as_image(projection), f"deconvnet: top {top} of {name}", cmap="gray")
    sal = saliency(model, x)
    _show(axes[2], sal, "saliency of the predicted class", MAGNITUDE_CMAP)
    fig.suptitle("Zeiler & Fergus deconvnet projection and input-gradient saliency")
    return fig
