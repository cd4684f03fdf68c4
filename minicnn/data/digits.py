"""The UCI optical handwritten digits bundled with minicnn, at 8x8 or resampled to LeNet-5's 32x32."""
from __future__ import annotations

import pathlib

import numpy as np

from .dataset import ImageDataset
from .transforms import resize_bilinear

DIGITS_PATH = pathlib.Path(__file__).with_name("digits.npz")
DIGITS_SPLIT_SEED = 0
DIGITS_TEST_FRACTION = 0.2
DIGITS_SIZES = (8, 32)


def load_digits(split: str = "train", dtype=np.float32, flatten: bool = False, size: int = 8):
    """The UCI optical handwritten digits bundled with minicnn (1,797 images; see DIGITS_LICENSE.txt).

    split: "train" (1,438 images), "test" (359) or "all". The split is fixed: a permutation drawn
    from numpy.random.default_rng(0), the last 20% of it being the test set, stratified by nothing
    (the classes are balanced to within a few images either way).
    size: 8 (the original 8x8 counts) or 32, LeNet-5's input: the 8x8 images upsampled by bilinear
    interpolation (resize_bilinear, PyTorch's align_corners=False convention), so strokes get
    smooth edges instead of the 4x4 blocks of pixel repetition.
    Returns (images, labels): images (N, 1, size, size) scaled to [0, 1] (or (N, size*size) with
    flatten=True), labels (N,) int64.
    """
    if split not in ("train", "test", "all"):
        raise ValueError(f"load_digits: split must be 'train', 'test' or 'all', got {split!r}")
    if size not in DIGITS_SIZES:
        raise ValueError(f"load_digits: size must be 8 or 32, got {size!r}")
    with np.load(DIGITS_PATH) as archive:
        images, labels = archive["images"], archive["labels"]
    order = np.random.default_rng(DIGITS_SPLIT_SEED).permutation(len(labels))
    n_test = int(round(DIGITS_TEST_FRACTION * len(labels)))
    chosen = {"train": order[:-n_test], "test": order[-n_test:], "all": np.arange(len(labels))}[split]
    x = images[chosen][:, None, :, :].astype(np.float64) / 16.0
    if size != 8:
        x = resize_bilinear(x, (size, size))
    x = x.astype(dtype)
    return (x.reshape(len(chosen), -1) if flatten else x), labels[chosen].astype(np.int64)


class Digits(ImageDataset):
    """The bundled digits as a Dataset: `images` (N, 1, size, size) float32 in [0, 1], `labels` (N,),
    `classes` "0".."9". split and size as load_digits; `transform` is applied to each image."""

    def __init__(self, split: str = "train", size: int = 8, transform=None):
        images, labels = load_digits(split, size=size)
        super().__init__(images, labels, [str(d) for d in range(10)], transform)
