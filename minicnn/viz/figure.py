"""Figures without a display: matplotlib's object-oriented API on its Agg canvas.

matplotlib is minicnn's optional `plot` extra; every figure function calls `figure()`, which
raises an ImportError saying how to install it when it is missing. Figures are built on
`matplotlib.figure.Figure` directly (not pyplot), so they need no GUI backend and nothing keeps
them alive after they are saved.
"""
from __future__ import annotations

import numpy as np

# Perceptually uniform colour maps: "viridis" for magnitudes, a diverging one for signed values.
MAGNITUDE_CMAP = "viridis"
SIGNED_CMAP = "RdBu_r"


def figure(width: float = 6.4, height: float = 4.8):
    """A new matplotlib Figure of (width, height) inches with constrained layout (no overlaps)."""
    try:
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError("minicnn.viz needs matplotlib, minicnn's optional 'plot' extra: "
                          "pip install 'minicnn[plot]'") from error
    return Figure(figsize=(width, height), layout="constrained")


def save(fig, path) -> str:
    """Write `fig` to `path` (the format from its extension, e.g. .png) at 120 dpi; returns path."""
    fig.savefig(path, dpi=120)
    return str(path)


def as_image(chw: np.ndarray) -> np.ndarray:
    """A (C, H, W) array as something imshow shows: (H, W) for one channel, (H, W, 3) for three,
    each rescaled to [0, 1] by its own minimum and maximum (a constant array becomes 0.5)."""
    a = np.asarray(chw, dtype=np.float64)
    lo, hi = a.min(), a.max()
    a = (a - lo) / (hi - lo) if hi > lo else np.full_like(a, 0.5)
    return a[0] if a.shape[0] == 1 else np.moveaxis(a[:3], 0, -1)


def grid_shape(count: int) -> tuple:
    """(rows, columns) of a near-square grid holding `count` panels."""
    cols = int(np.ceil(np.sqrt(count)))
    return int(np.ceil(count / cols)), cols


def image_grid(fig, images, titles=None, cmap="gray", suptitle=None):
    """Show `images` (a list of (C, H, W) arrays) on a near-square grid of `fig`, axes off.
    cmap: one colour map for the one-channel panels, or a list of one per panel."""
    rows, cols = grid_shape(len(images))
    axes = fig.subplots(rows, cols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i < len(images):
            ax.imshow(as_image(images[i]), cmap=cmap[i] if isinstance(cmap, list) else cmap,
                      interpolation="nearest")
            if titles is not None:
                ax.set_title(titles[i], fontsize=8)
    if suptitle:
        fig.suptitle(suptitle)
    return axes
