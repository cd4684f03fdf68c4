"""The DataLoader: mini-batches of a dataset as minicnn Tensors, in order or shuffled by a seeded generator."""
from __future__ import annotations

import numpy as np

from ..functional.checks import is_int
from ..random import get_generator
from ..tensor import Tensor
from .dataset import Subset


def batch_tensor(rows) -> Tensor:
    """One field of a batch as a Tensor: integers (labels, masks) become int64 as PyTorch's
    default collate makes them; floating arrays keep their dtype (float32, or float64 for gradient checks)."""
    array = np.asarray(rows)
    if np.issubdtype(array.dtype, np.integer):
        array = array.astype(np.int64, copy=False)
    return Tensor(array)


def default_collate(samples):
    """Stack a list of samples into a batch: each field of a tuple sample becomes one Tensor with
    a leading batch axis, [(x0, y0), (x1, y1)] -> (Tensor([x0, x1]), Tensor([y0, y1]))."""
    if isinstance(samples[0], tuple):
        return tuple(batch_tensor(np.stack([np.asarray(s[k]) for s in samples]))
                     for k in range(len(samples[0])))
    return batch_tensor(np.stack([np.asarray(s) for s in samples]))


def whole_arrays(dataset):
    """(arrays, index map) when the samples of `dataset` are rows of whole arrays, through any
    chain of Subsets; (None, None) when they must be fetched one by one."""
    index_map = None
    while isinstance(dataset, Subset):
        index_map = dataset.indices if index_map is None else dataset.indices[index_map]
        dataset = dataset.dataset
    arrays = dataset.arrays() if hasattr(dataset, "arrays") else None
    return (arrays, index_map) if arrays is not None else (None, None)


class DataLoader:
    """Iterate over mini-batches of `dataset` (torch.utils.data.DataLoader, in one process).

    Each batch is what `collate_fn` makes of a list of samples; by default a tuple of Tensors, one
    per field, e.g. (images float32 (B, C, H, W), labels int64 (B,)). shuffle=True draws a new order
    at the start of every epoch from `generator` (None: minicnn's default generator at that time),
    so a seeded generator reproduces the batches. The last batch is smaller unless drop_last.
    When the dataset's samples are rows of whole arrays (TensorDataset, the built-in datasets
    without a transform, Subsets of these) a batch is one fancy-index of those arrays.
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False, generator=None,
                 collate_fn=None):
        if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
            raise TypeError(f"DataLoader: dataset must have __len__ and __getitem__, got {type(dataset).__name__}")
        if not is_int(batch_size) or batch_size <= 0:
            hint = (" (inputs and targets go in one dataset: DataLoader(TensorDataset(inputs, targets), "
                    "batch_size))") if hasattr(batch_size, "__len__") else ""
            raise ValueError(f"DataLoader: batch_size must be a positive integer, got {batch_size!r:.60}{hint}")
        for name, flag in (("shuffle", shuffle), ("drop_last", drop_last)):
            if not isinstance(flag, (bool, np.bool_)):
                raise TypeError(f"DataLoader: {name} must be True or False, got {flag!r}")
        if generator is not None:
            get_generator(generator)  # a TypeError now rather than at the first epoch
        if collate_fn is not None and not callable(collate_fn):
            raise TypeError(f"DataLoader: collate_fn must be callable, got {type(collate_fn).__name__}")
        self.dataset = dataset
        self.batch_size, self.shuffle, self.drop_last = int(batch_size), bool(shuffle), bool(drop_last)
        self.collate_fn = collate_fn
        self._generator = generator

    @property
    def generator(self) -> np.random.Generator:
        """The generator that shuffles: the one given, or minicnn's default generator."""
        return get_generator(self._generator)

    @generator.setter
    def generator(self, generator) -> None:
        get_generator(generator)  # the same TypeError as the constructor's
        self._generator = generator

    def __len__(self) -> int:
        n, b = len(self.dataset), self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def __iter__(self):
        n = len(self.dataset)
        order = self.generator.permutation(n) if self.shuffle else np.arange(n)
        arrays, index_map = whole_arrays(self.dataset) if self.collate_fn is None else (None, None)
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            index = order[start:start + self.batch_size]
            if arrays is not None:
                rows = index if index_map is None else index_map[index]
                yield tuple(batch_tensor(a[rows]) for a in arrays)
            else:
                samples = [self.dataset[int(i)] for i in index]
                yield (self.collate_fn or default_collate)(samples)
