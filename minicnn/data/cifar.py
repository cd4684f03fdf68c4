"""CIFAR-10 and CIFAR-100 (Krizhevsky 2009) from the files a user has on disk, in either of the
formats they are distributed in (https://www.cs.toronto.edu/~kriz/cifar.html).

Binary version: records of <1 x label><3072 x pixel> (CIFAR-100: <1 x coarse label><1 x fine
label><3072 x pixel>), the pixels being the 32x32 red, then green, then blue planes, row-major.
Python version: pickled dicts (written by Python 2) with b"data", a (N, 3072) uint8 array in the
same pixel order, and b"labels" (CIFAR-10) or b"fine_labels" and b"coarse_labels" (CIFAR-100).

A pickle can name any function to call while it loads (an `os.system` hidden in a downloaded
file runs when the file is opened), so the Python files are read by an unpickler that admits
only what these dicts of bytes, lists, ints and NumPy arrays need, and refuses anything else.
"""
from __future__ import annotations

import io
import pathlib
import pickle

import numpy as np

from .dataset import ImageDataset
from .files import find_file, read_bytes

PIXELS = 3 * 32 * 32
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


class RefusedPickle(pickle.UnpicklingError):
    """A pickle asked for something ArrayUnpickler does not admit."""


def _latin1_encode(text, encoding="latin1"):
    """Python 3 pickles bytes at protocol 2 as _codecs.encode(text, "latin1"): that call, and only with latin1."""
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise RefusedPickle(f"refusing _codecs.encode with encoding {encoding!r}")
    return text.encode("latin1")


class ArrayUnpickler(pickle.Unpickler):
    """An unpickler that builds only dicts, lists, bytes, strings, numbers and NumPy arrays.

    A pickle refers to classes and functions by module and name (find_class), and loading calls
    them; this one admits numpy's array reconstructor, ndarray and dtype, and the latin1 bytes
    encoding, and raises RefusedPickle (a pickle.UnpicklingError) for every other name.
    """

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): np.ndarray.__reduce__(np.empty(0))[0],
        ("numpy._core.multiarray", "_reconstruct"): np.ndarray.__reduce__(np.empty(0))[0],
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): _latin1_encode,
    }

    def find_class(self, module, name):
        try:
            return self.ALLOWED[(module, name)]
        except KeyError:
            raise RefusedPickle(
                f"refusing to load {module}.{name}: only NumPy arrays, dicts, lists, bytes and numbers "
                "are allowed in a CIFAR batch") from None


def load_restricted_pickle(path, dataset: str = "load_restricted_pickle"):
    """Unpickle the file at `path` with ArrayUnpickler (Python 2 strings become bytes); a ValueError
    naming the path if the pickle is refused or corrupt."""
    path = pathlib.Path(path)
    raw = read_bytes(path, dataset)
    try:
        return ArrayUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except RefusedPickle as error:
        raise ValueError(f"{dataset}: {path} was refused: {error}") from error
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError, KeyError, AttributeError) as error:
        raise ValueError(f"{dataset}: {path} is not a readable pickle (corrupt or truncated: {error})") from error


def _as_images(data, path, dataset: str) -> np.ndarray:
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != PIXELS:
        found = f"{data.dtype} array of shape {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise ValueError(f"{dataset}: {path}: b'data' must be a uint8 array of shape (N, {PIXELS}), got {found}")
    return data.reshape(-1, 3, 32, 32)


def _as_labels(values, n: int, key: bytes, path, dataset: str) -> np.ndarray:
    labels = np.asarray(values)
    if labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{dataset}: {path}: {key!r} must be {n} integers, got {labels.dtype} of shape {labels.shape}")
    return labels


def read_python_batch(path, label_keys, dataset: str) -> tuple:
    """(images (N, 3, 32, 32) uint8, [labels (N,) for each key]) from one Python-version file."""
    batch = load_restricted_pickle(path, dataset)
    missing = [k for k in (b"data",) + tuple(label_keys) if not isinstance(batch, dict) or k not in batch]
    if missing:
        raise ValueError(f"{dataset}: {path} is not a CIFAR batch: missing {missing}")
    images = _as_images(batch[b"data"], path, dataset)
    return images, [_as_labels(batch[k], len(images), k, path, dataset) for k in label_keys]


def read_binary_batch(path, label_count: int, dataset: str) -> tuple:
    """(images (N, 3, 32, 32) uint8, [labels (N,) for each of the label_count leading bytes]) from one binary file."""
    raw = read_bytes(pathlib.Path(path), dataset)
    record = label_count + PIXELS
    if len(raw) == 0 or len(raw) % record:
        raise ValueError(f"{dataset}: {path} has {len(raw)} bytes, not a positive multiple of the "
                         f"{record}-byte record (<{label_count} label byte(s)><{PIXELS} pixels>): "
                         "truncated or not CIFAR")
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(-1, record)
    return rows[:, label_count:].reshape(-1, 3, 32, 32), [rows[:, k] for k in range(label_count)]


def _names(path, key, count: int) -> list:
    """Class names from a meta file (text: one per line; Python: a pickled dict), or "0".."count-1"."""
    if path is None:
        return [str(k) for k in range(count)]
    if path.suffix == ".txt":
        names = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    else:
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in load_restricted_pickle(path).get(key, [])]
    return names if len(names) == count else [str(k) for k in range(count)]


class _CIFAR(ImageDataset):
    """Shared by CIFAR10 and CIFAR100: find the binary or Python folder in root, read, check the labels."""

    def _load(self, root, train, layouts, label_count: int, pick: int, num_classes: int, classes, transform):
        name = type(self).__name__
        root = pathlib.Path(root)
        for folder, files, kind in layouts:
            if (root / folder).is_dir():
                break
        else:
            raise FileNotFoundError(f"{name}: found neither " + " nor ".join(str(root / f) for f, _, _ in layouts))
        images, labels = [], []
        for file in files[bool(train)]:
            path = find_file([root / folder], [file], name)
            if kind == "binary":
                batch_images, batch_labels = read_binary_batch(path, label_count, name)
            else:
                batch_images, batch_labels = read_python_batch(path, self.PYTHON_LABEL_KEYS, name)
            bad = batch_labels[pick] >= num_classes
            if bad.any() or (batch_labels[pick] < 0).any():
                raise ValueError(f"{name}: {path} has label {batch_labels[pick][bad | (batch_labels[pick] < 0)][0]}, "
                                 f"expected 0..{num_classes - 1}")
            images.append(batch_images)
            labels.append(batch_labels[pick])
        pixels = np.concatenate(images)
        super().__init__((pixels / np.float32(255)).astype(np.float32), np.concatenate(labels).astype(np.int64),
                         classes(root / folder), transform)


class CIFAR10(_CIFAR):
    """CIFAR-10 from `root`/cifar-10-batches-bin (binary version) or `root`/cifar-10-batches-py
    (Python version), whichever is there. train=True reads the five training batches (50,000
    images), False the test batch (10,000). `images` (N, 3, 32, 32) float32 in [0, 1], `labels` (N,) int64."""

    PYTHON_LABEL_KEYS = (b"labels",)
    LAYOUTS = (("cifar-10-batches-bin", {True: [f"data_batch_{i}.bin" for i in range(1, 6)],
                                          False: ["test_batch.bin"]}, "binary"),
               ("cifar-10-batches-py", {True: [f"data_batch_{i}" for i in range(1, 6)],
                                         False: ["test_batch"]}, "python"))

    def __init__(self, root, train=True, transform=None):
        self._load(root, train, self.LAYOUTS, 1, 0, 10, lambda folder: list(CIFAR10_CLASSES), transform)


class CIFAR100(_CIFAR):
    """CIFAR-100 from `root`/cifar-100-binary or `root`/cifar-100-python. label="fine" (100
    classes, the default) or "coarse" (20 superclasses) picks the labels; class names come from
    the folder's meta files when present. train=True: 50,000 images, False: 10,000."""

    PYTHON_LABEL_KEYS = (b"coarse_labels", b"fine_labels")  # the binary records' byte order
    LAYOUTS = (("cifar-100-binary", {True: ["train.bin"], False: ["test.bin"]}, "binary"),
               ("cifar-100-python", {True: ["train"], False: ["test"]}, "python"))

    def __init__(self, root, train=True, transform=None, label="fine"):
        if label not in ("fine", "coarse"):
            raise ValueError(f"CIFAR100: label must be 'fine' or 'coarse', got {label!r}")
        pick, count = (1, 100) if label == "fine" else (0, 20)

        def classes(folder):
            text, meta = folder / f"{label}_label_names.txt", folder / "meta"
            source = text if text.is_file() else meta if meta.is_file() else None
            return _names(source, f"{label}_label_names".encode(), count)

        self._load(root, train, self.LAYOUTS, 2, pick, count, classes, transform)
        self.label = label
