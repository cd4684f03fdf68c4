"""Data: the bundled digits set, a seeded train/test split, and a mini-batch loader."""
from __future__ import annotations

import pathlib

import numpy as np

from ..random import get_generator

DIGITS_PATH = pathlib.Path(__file__).with_name("digits.npz")
DIGITS_SPLIT_SEED = 0
DIGITS_TEST_FRACTION = 0.2


def load_digits(split: str = "train", dtype=np.float32, flatten: bool = False):
    """The UCI optical handwritten digits bundled with minicnn (1,797 images; see DIGITS_LICENSE.txt).

    split: "train" (1,438 images), "test" (359) or "all". The split is fixed: a permutation drawn
    from numpy.random.default_rng(0), the last 20% of it being the test set, stratified by nothing
    (the classes are balanced to within a few images either way).
    Returns (images, labels): images (N, 1, 8, 8) scaled to [0, 1] (or (N, 64) with flatten=True),
    labels (N,) int64.
    """
    if split not in ("train", "test", "all"):
        raise ValueError(f"load_digits: split must be 'train', 'test' or 'all', got {split!r}")
    with np.load(DIGITS_PATH) as archive:
        images, labels = archive["images"], archive["labels"]
    order = np.random.default_rng(DIGITS_SPLIT_SEED).permutation(len(labels))
    n_test = int(round(DIGITS_TEST_FRACTION * len(labels)))
    chosen = {"train": order[:-n_test], "test": order[-n_test:], "all": np.arange(len(labels))}[split]
    x = images[chosen].astype(dtype) / 16.0
    x = x.reshape(len(chosen), 64) if flatten else x[:, None, :, :]
    return x, labels[chosen].astype(np.int64)


class DataLoader:
    """Iterate over (inputs, targets) mini-batches of NumPy arrays.

    shuffle=True draws a new order each epoch from `generator` (None: minicnn's default), so a
    seeded generator reproduces the batches. The last batch may be smaller unless drop_last.
    """

    def __init__(self, inputs, targets, batch_size: int = 32, shuffle: bool = False,
                 drop_last: bool = False, generator=None):
        inputs, targets = np.asarray(inputs), np.asarray(targets)
        if len(inputs) != len(targets):
            raise ValueError(f"DataLoader: {len(inputs)} inputs but {len(targets)} targets")
        if not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
            raise ValueError(f"DataLoader: batch_size must be a positive integer, got {batch_size!r}")
        self.inputs, self.targets = inputs, targets
        self.batch_size, self.shuffle, self.drop_last = int(batch_size), shuffle, drop_last
        self.generator = get_generator(generator) if shuffle else None

    def __len__(self) -> int:
        n, b = len(self.inputs), self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def __iter__(self):
        n = len(self.inputs)
        order = self.generator.permutation(n) if self.shuffle else np.arange(n)
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            index = order[start:start + self.batch_size]
            yield self.inputs[index], self.targets[index]
