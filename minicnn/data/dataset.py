"""PyTorch's dataset shapes: Dataset, TensorDataset, Subset and random_split.

A dataset is anything with `__len__` and `__getitem__(i)` returning one sample, a tuple such as
(image, label) of NumPy arrays. A dataset whose samples are rows of whole arrays also says so with
`arrays()`, so that the DataLoader can take a batch with one fancy-index instead of N calls.
"""
from __future__ import annotations

import numpy as np

from ..functional.checks import is_int
from ..random import get_generator
from ..tensor import Tensor


class Dataset:
    """The base of every dataset: `len(dataset)` samples, `dataset[i]` the i-th one."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must define __len__")

    def arrays(self):
        """The whole dataset as a tuple of arrays whose rows are the samples' fields, or None when
        samples must be fetched one at a time (the default, and whenever a transform is set)."""
        return None


class TensorDataset(Dataset):
    """Samples are rows of equally long arrays: `TensorDataset(images, labels)[i] == (images[i], labels[i])`.

    Takes NumPy arrays, minicnn Tensors or nested lists; stores NumPy arrays (without copying
    arrays) and returns NumPy rows. The DataLoader turns batches into Tensors.
    """

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset: needs at least one array")
        self.tensors = tuple(t.array if isinstance(t, Tensor) else np.asarray(t) for t in tensors)
        if any(t.ndim == 0 for t in self.tensors):
            raise ValueError("TensorDataset: every array needs a first (sample) axis, got a 0-d array")
        lengths = [len(t) for t in self.tensors]
        if len(set(lengths)) != 1:
            raise ValueError(f"TensorDataset: arrays must have the same length along axis 0, got lengths {lengths}")

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return len(self.tensors[0])

    def arrays(self):
        return self.tensors


class Subset(Dataset):
    """The samples of `dataset` at `indices`, in that order: `Subset(d, idx)[i] == d[idx[i]]`."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        n = len(dataset)
        if len(self.indices) and (self.indices.min() < -n or self.indices.max() >= n):
            raise IndexError(f"Subset: indices must lie in [-{n}, {n}) for a dataset of {n} samples, "
                             f"got {self.indices.min()}..{self.indices.max()}")

    def __getitem__(self, index):
        return self.dataset[int(self.indices[index])]

    def __len__(self) -> int:
        return len(self.indices)


def random_split(dataset, lengths, generator=None) -> list:
    """Split `dataset` into non-overlapping Subsets of the given lengths, at random (torch's random_split).

    `lengths`: ints summing to len(dataset), or fractions summing to 1; fractions become
    floor(f * n) samples each, and the samples left over go one each to the first subsets, as in
    PyTorch. The permutation is drawn from `generator` (None: minicnn's default), so a seeded
    generator gives the same split every time.
    """
    n = len(dataset)
    lengths = list(lengths)
    if not lengths:
        raise ValueError("random_split: lengths is empty")
    if all(is_int(x) for x in lengths):
        counts = [int(x) for x in lengths]
        if min(counts) < 0 or sum(counts) != n:
            raise ValueError(f"random_split: lengths {counts} must be non-negative and sum to the "
                             f"dataset's length {n}")
    elif all(isinstance(x, (int, float, np.floating)) and not isinstance(x, bool) for x in lengths):
        if min(lengths) < 0 or abs(sum(lengths) - 1) > 1e-6:
            raise ValueError(f"random_split: fractions {lengths} must be non-negative and sum to 1")
        counts = [int(np.floor(f * n)) for f in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
    else:
        raise TypeError(f"random_split: lengths must be ints or fractions, got {lengths!r}")
    order = get_generator(generator).permutation(n)
    ends = np.cumsum(counts)
    return [Subset(dataset, order[end - count:end]) for count, end in zip(counts, ends)]


class ImageDataset(Dataset):
    """The built-in datasets' common shape: `images` (N, C, H, W) float32 in [0, 1], `labels` (N,)
    int64, `classes` (names), and an optional per-sample `transform` applied in __getitem__."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, classes, transform=None):
        if transform is not None and not callable(transform):
            raise TypeError(f"{type(self).__name__}: transform must be callable, got {type(transform).__name__}")
        self.images, self.labels, self.classes, self.transform = images, labels, list(classes), transform

    def targets(self) -> np.ndarray:
        """What __getitem__ pairs with each image: the labels (Shapes can give masks instead)."""
        return self.labels

    def __getitem__(self, index):
        image = self.images[index]
        return (image if self.transform is None else self.transform(image)), self.targets()[index]

    def __len__(self) -> int:
        return len(self.images)

    def arrays(self):
        return (self.images, self.targets()) if self.transform is None else None

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({len(self)} images of shape {self.images.shape[1:]}, "
                f"{len(self.classes)} classes)")

SPLITS = {"train": 0, "test": 1}


def generated_stream(name: str, num_samples, seed, split: str, *stream: int) -> np.random.Generator:
    """The generator a made-up dataset draws its `split` from: seeded by (seed, split, *stream),
    so the train and test sets of one seed never share a sample and each dataset has its own
    stream. Checks the arguments every generated dataset shares, naming the dataset."""
    if not is_int(num_samples) or num_samples < 0:
        raise ValueError(f"{name}: num_samples must be a non-negative integer, got {num_samples!r}")
    if split not in SPLITS:
        raise ValueError(f"{name}: split must be 'train' or 'test', got {split!r}")
    if not is_int(seed) or seed < 0:
        raise ValueError(f"{name}: seed must be a non-negative integer, got {seed!r}")
    return np.random.default_rng([int(seed), SPLITS[split], *stream])
