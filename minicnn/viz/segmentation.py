"""Segmentation at a glance: each image beside its true mask and the mask a network predicts.

Masks are shown with one fixed colour per class (background black), the same in both columns, so
a wrong class shows as a wrong colour and a wrong outline as a wrong shape.
"""
from __future__ import annotations

import numpy as np

from ..tensor import Tensor, no_grad
from .figure import as_image, figure

# Background black, then ten well-separated colours (the "tab10" palette), then repeated.
PALETTE = np.array([
    (0.0, 0.0, 0.0), (0.122, 0.467, 0.706), (1.0, 0.498, 0.055), (0.173, 0.627, 0.173),
    (0.839, 0.153, 0.157), (0.580, 0.404, 0.741), (0.549, 0.337, 0.294), (0.890, 0.467, 0.761),
    (0.498, 0.498, 0.498), (0.737, 0.741, 0.133), (0.090, 0.745, 0.812)])


def colour_masks(masks) -> np.ndarray:
    """(N, H, W) integer classes -> (N, H, W, 3) RGB in [0, 1]: class k gets PALETTE[k] (class 0,
    the background, black); classes past the palette reuse its colours (after the background)."""
    masks = np.asarray(masks)
    if not np.issubdtype(masks.dtype, np.integer) or masks.ndim != 3 or (masks.size and masks.min() < 0):
        raise ValueError(f"colour_masks: expected (N, H, W) non-negative integer classes, got {masks.dtype} "
                         f"of shape {masks.shape}")
    index = np.where(masks == 0, 0, (masks - 1) % (len(PALETTE) - 1) + 1)
    return PALETTE[index]


def predict_masks(model, images, batch_size: int = 64) -> np.ndarray:
    """(N, H, W) int64: the argmax over classes of the model's (N, K, H, W) scores, in eval mode."""
    images = np.asarray(images)
    model.eval()
    masks = []
    with no_grad():
        for start in range(0, len(images), batch_size):
            scores = model(Tensor(images[start:start + batch_size]))
            if scores.ndim != 4:
                raise ValueError(f"predict_masks: the model gives scores of shape {scores.shape}, not a "
                                 f"per-pixel (N, K, H, W) map: is it a segmentation network?")
            masks.append(scores.array.argmax(axis=1))
    return np.concatenate(masks) if masks else np.zeros((0,) + images.shape[2:], np.int64)


def plot_segmentation(images, true_masks, predicted_masks, class_names=None):
    """A figure of one row per image: the image, its true mask, the predicted mask, and each
    predicted mask's pixel accuracy; a legend names the classes that appear."""
    images, true_masks, predicted_masks = (np.asarray(a) for a in (images, true_masks, predicted_masks))
    if not len(images) == len(true_masks) == len(predicted_masks) or true_masks.shape != predicted_masks.shape:
        raise ValueError(f"plot_segmentation: {len(images)} images, true masks {true_masks.shape} and predicted "
                         f"masks {predicted_masks.shape} do not match")
    fig = figure(6.0, 2.0 * len(images) + 0.6)
    axes = fig.subplots(len(images), 3, squeeze=False)
    true_rgb, predicted_rgb = colour_masks(true_masks), colour_masks(predicted_masks)
    for row, (image, truth, guess) in enumerate(zip(images, true_rgb, predicted_rgb)):
        accuracy = np.mean(true_masks[row] == predicted_masks[row])
        panels = (("image", as_image(image)), ("true mask", truth),
                  (f"predicted ({100 * accuracy:.0f}% of pixels)", guess))
        for ax, (title, picture) in zip(axes[row], panels):
            ax.imshow(picture, cmap="gray", interpolation="nearest")
            ax.set_title(title, fontsize=8)
            ax.set_axis_off()
    shown = np.union1d(np.unique(true_masks), np.unique(predicted_masks))
    names = class_names if class_names is not None else [str(k) for k in range(int(shown.max(initial=0)) + 1)]
    from matplotlib.patches import Patch

    handles = [Patch(color=colour_masks(np.array([[[k]]]))[0, 0, 0],
                     label=names[k] if k < len(names) else str(k)) for k in shown]
    fig.legend(handles=handles, loc="outside lower center", ncol=min(6, len(handles)), fontsize=7)
    return fig
