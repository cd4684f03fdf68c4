"""MNIST and Fashion-MNIST from the IDX files a user has on disk (gzipped or not).

IDX (LeCun et al., http://yann.lecun.com/exdb/mnist/): a big-endian header, the magic number
0x00000803 = 2051 for images (unsigned bytes, 3 dimensions) or 0x00000801 = 2049 for labels
(unsigned bytes, 1 dimension), then one 32-bit size per dimension, then the bytes, row-major.
"""
from __future__ import annotations

import pathlib

import numpy as np

from .dataset import ImageDataset
from .files import find_file, read_bytes

IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049
FILE_STEMS = {True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
              False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def read_idx(path, magic: int, dataset: str = "read_idx") -> np.ndarray:
    """The uint8 array in an IDX file, checking the magic number and that the sizes match the bytes."""
    path = pathlib.Path(path)
    raw = read_bytes(path, dataset)
    if len(raw) < 4:
        raise ValueError(f"{dataset}: {path} is truncated: {len(raw)} bytes, too short for an IDX header")
    found = int.from_bytes(raw[:4], "big")
    if found != magic:
        raise ValueError(f"{dataset}: {path} has bad magic number {found} (expected {magic}, "
                         f"{'images' if magic == IMAGES_MAGIC else 'labels'} in IDX format)")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{dataset}: {path} is truncated: {len(raw)} bytes, its IDX header needs {header}")
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape))
    if len(raw) != expected:
        what = "truncated" if len(raw) < expected else "longer than its header says"
        raise ValueError(f"{dataset}: {path} is {what}: header gives shape {shape}, {expected} bytes in all, "
                         f"the file has {len(raw)}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


class MNIST(ImageDataset):
    """MNIST from its four IDX files, found in `root`, `root/raw` or `root/MNIST/raw` (torchvision's
    layout), each gzipped (.gz) or not. `images` (N, 1, 28, 28) float32 in [0, 1], `labels` (N,)
    int64. train=True reads the 60,000 training images, False the 10,000 test images."""

    CLASS_NAMES = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four",
                     "5 - five", "6 - six", "7 - seven", "8 - eight", "9 - nine"]

    def __init__(self, root, train=True, transform=None):
        name = type(self).__name__
        root = pathlib.Path(root)
        folders = (root, root / "raw", root / name / "raw")
        stems = FILE_STEMS[bool(train)]
        image_path, label_path = (find_file(folders, (stem, stem + ".gz"), name) for stem in stems)
        images = read_idx(image_path, IMAGES_MAGIC, name)
        labels = read_idx(label_path, LABELS_MAGIC, name)
        if len(images) != len(labels):
            raise ValueError(f"{name}: {image_path} holds {len(images)} images but {label_path} "
                             f"holds {len(labels)} labels")
        if len(labels) and labels.max() >= len(self.CLASS_NAMES):
            raise ValueError(f"{name}: {label_path} has label {labels.max()}, expected 0..{len(self.CLASS_NAMES) - 1}")
        super().__init__((images[:, None] / np.float32(255)).astype(np.float32), labels.astype(np.int64),
                         self.CLASS_NAMES, transform)


class FashionMNIST(MNIST):
    """Fashion-MNIST (Xiao et al. 2017): Zalando's clothes in MNIST's format and file names,
    found in `root`, `root/raw` or `root/FashionMNIST/raw`."""

    CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                     "Sneaker", "Bag", "Ankle boot"]
