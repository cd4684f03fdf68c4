"""Shared pieces of the lab's experiments: seeded data, a small configurable CNN, training with
per-epoch records, and timing."""
from __future__ import annotations

import time

import numpy as np

from .. import nn, optim
from ..data import DataLoader, Digits, Shapes, Subset
from ..train import evaluate, fit


def digits(quick: bool):
    """(train, test) of the bundled 8x8 digits; quick: 200 / 100 images."""
    train, test = Digits("train", size=8), Digits("test", size=8)
    if quick:
        train, test = Subset(train, np.arange(200)), Subset(test, np.arange(100))
    return train, test


def shapes(quick: bool, size: int = 16, num_train: int = 2000, num_test: int = 500, seed: int = 0):
    """(train, test) of the procedural Shapes at size x size; quick: 96 / 48 images."""
    if quick:
        num_train, num_test = 96, 48
    return (Shapes(num_train, image_size=size, seed=seed, split="train"),
            Shapes(num_test, image_size=size, seed=seed, split="test"))


def small_cnn(*, in_channels=1, side=8, activation=nn.ReLU, norm=None, dropout=0.0, widths=(16, 32),
              hidden=64, num_classes=10, generator=None):
    """conv3x3-[norm]-act-maxpool2 twice, then [dropout]-fc(hidden)-act-[dropout]-fc.

    norm: None, "bn" (BatchNorm2d) or "lrn" (LocalResponseNorm(5) as AlexNet's, after the ReLU)."""
    layers, channels = [], in_channels
    for width in widths:
        layers.append(nn.Conv2d(channels, width, 3, padding=1, generator=generator))
        if norm == "bn":
            layers.append(nn.BatchNorm2d(width))
        layers.append(activation())
        if norm == "lrn":
            layers.append(nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0))
        layers.append(nn.MaxPool2d(2))
        channels, side = width, side // 2
    layers.append(nn.Flatten())
    if dropout:
        layers.append(nn.Dropout(dropout, generator=generator))
    layers += [nn.Linear(channels * side * side, hidden, generator=generator), activation()]
    if dropout:
        layers.append(nn.Dropout(dropout, generator=generator))
    layers.append(nn.Linear(hidden, num_classes, generator=generator))
    return nn.Sequential(*layers)


def train(model, train_set, test_set, *, epochs, lr, seed, batch_size=32, momentum=0.9, weight_decay=0.0):
    """SGD with momentum for `epochs`; per-epoch records with train_loss, train_accuracy (running,
    in training mode) and val_accuracy (the test set, eval mode)."""
    loader = DataLoader(train_set, batch_size, shuffle=True, generator=np.random.default_rng(seed))
    optimizer = optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    return fit(model, loader, DataLoader(test_set, 256), optimizer, epochs, progress=False, log=None)


def accuracy(model, dataset) -> float:
    """Accuracy of `model` in eval mode on a whole dataset."""
    return evaluate(model, DataLoader(dataset, 256))["accuracy"]


def epochs_to(records, key: str, target: float):
    """The first epoch whose records[key] reaches `target`, or None."""
    return next((r["epoch"] for r in records if r[key] >= target), None)


def median_seconds(call, repeats: int = 3) -> float:
    """Median wall time of `repeats` calls after one warm-up call (which may compile)."""
    call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def series(records, key: str, scale: float = 1.0) -> tuple:
    """(epochs, values) of one record field, for a Panel."""
    return [r["epoch"] for r in records], [scale * r[key] for r in records]
