"""The confusion matrix as a heat-map: row = true class, column = predicted class."""
from __future__ import annotations

import numpy as np

from .figure import figure


def plot_confusion(matrix, classes=None, title: str = "Confusion matrix"):
    """Figure of `matrix` (K, K) counts; each cell is coloured by its share of the row (recall per
    true class) and labelled with its count."""
    m = np.asarray(matrix)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"plot_confusion: expected a square (K, K) matrix, got shape {m.shape}")
    k = m.shape[0]
    classes = list(classes) if classes else [str(i) for i in range(k)]
    share = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    size = max(4.5, 0.55 * k + 2)
    fig = figure(size + 1, size)
    ax = fig.subplots()
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, label="fraction of the true class")
    ax.set_xticks(range(k), classes, rotation=45, ha="right")
    ax.set_yticks(range(k), classes)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if k <= 20:
        for i in range(k):
            for j in range(k):
                ax.text(j, i, str(int(m[i, j])), ha="center", va="center", fontsize=8,
                        color="white" if share[i, j] > 0.5 else "black")
    accuracy = np.trace(m) / max(m.sum(), 1)
    ax.set_title(f"{title} (accuracy {100 * accuracy:.1f}%, {int(m.sum())} images)")
    return fig
