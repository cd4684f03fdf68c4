"""Training curves from a run folder's metrics.jsonl (written by minicnn.train.fit: one JSON
record per epoch with epoch, lr, train_loss, train_accuracy, val_loss, val_accuracy, seconds)."""
from __future__ import annotations

import json
import pathlib

from .figure import figure


def read_metrics(run) -> list:
    """The per-epoch records of a run folder (or of a metrics.jsonl file given directly)."""
    path = pathlib.Path(run)
    if path.is_dir():
        path = path / "metrics.jsonl"
    if not path.exists():
        raise FileNotFoundError(f"viz: no metrics file {path} (a run folder written by fit(..., out=FOLDER))")
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if not records:
        raise ValueError(f"viz: {path} holds no epochs")
    return records


def plot_curves(run, title: str | None = None):
    """Figure of loss, accuracy and learning rate against epoch: train and validation."""
    from matplotlib.ticker import MaxNLocator

    records = read_metrics(run)
    epochs = [r["epoch"] for r in records]
    fig = figure(11, 3.6)
    loss_ax, acc_ax, lr_ax = fig.subplots(1, 3)
    for ax, key, label in ((loss_ax, "loss", "loss"), (acc_ax, "accuracy", "accuracy (%)")):
        for split, style in (("train", "-o"), ("val", "--s")):
            values = [r.get(f"{split}_{key}") for r in records]
            if all(v is not None for v in values):
                scale = 100 if key == "accuracy" else 1
                ax.plot(epochs, [scale * v for v in values], style, markersize=3, label=split)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(label)
        ax.set_title(label.split(" ")[0].capitalize())
        ax.grid(alpha=0.3)
        ax.legend()
    lr_ax.plot(epochs, [r["lr"] for r in records], "-o", markersize=3, color="tab:green")
    lr_ax.set_xlabel("epoch")
    lr_ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    lr_ax.set_ylabel("learning rate")
    lr_ax.set_title("Learning rate")
    lr_ax.grid(alpha=0.3)
    fig.suptitle(title or f"Training curves of {pathlib.Path(run).name}")
    return fig
