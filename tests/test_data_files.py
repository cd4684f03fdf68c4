"""MNIST, Fashion-MNIST, CIFAR-10 and CIFAR-100 readers, on small files written here in the real formats."""
import gzip
import os
import pickle

import numpy as np
import pytest

from minicnn.data import CIFAR10, CIFAR100, MNIST, FashionMNIST
from minicnn.data.cifar import load_restricted_pickle


def idx_bytes(array, magic):
    """An IDX file: big-endian magic number, one 32-bit size per dimension, the unsigned bytes."""
    header = magic.to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write(path, data, gz=False):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


@pytest.fixture
def digits():
    g = np.random.default_rng(0)
    return g.integers(0, 256, size=(5, 28, 28), dtype=np.uint8), g.integers(0, 10, size=5).astype(np.uint8)


def write_mnist(folder, images, labels, train=True, gz=False):
    stem = "train" if train else "t10k"
    suffix = ".gz" if gz else ""
    write(folder / f"{stem}-images-idx3-ubyte{suffix}", idx_bytes(images, 2051), gz)
    write(folder / f"{stem}-labels-idx1-ubyte{suffix}", idx_bytes(labels, 2049), gz)


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_reads_idx_files(tmp_path, digits, gz):
    images, labels = digits
    write_mnist(tmp_path / "raw", images, labels, gz=gz)
    write_mnist(tmp_path / "raw", images[:2], labels[:2], train=False, gz=not gz)
    ds = MNIST(tmp_path)
    assert ds.images.shape == (5, 1, 28, 28) and ds.images.dtype == np.float32
    np.testing.assert_array_equal(ds.images[:, 0], images / np.float32(255))
    assert ds.labels.dtype == np.int64 and ds.labels.tolist() == labels.tolist()
    assert len(MNIST(tmp_path, train=False)) == 2 and ds.classes[0] == "0 - zero"


def test_fashion_mnist_in_torchvision_layout(tmp_path, digits):
    write_mnist(tmp_path / "FashionMNIST" / "raw", *digits, train=False)
    ds = FashionMNIST(tmp_path, train=False)
    assert len(ds) == 5 and ds.classes[9] == "Ankle boot"


def test_mnist_errors_name_the_file_and_the_fault(tmp_path, digits):
    images, labels = digits
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte.gz"):
        MNIST(tmp_path)
    folder = tmp_path / "raw"
    write(folder / "train-images-idx3-ubyte", idx_bytes(labels, 2049))  # labels where images belong
    write(folder / "train-labels-idx1-ubyte", idx_bytes(labels, 2049))
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte has bad magic number 2049 \(expected 2051"):
        MNIST(tmp_path)
    write(folder / "train-images-idx3-ubyte", idx_bytes(images, 2051)[:-1])
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte is truncated: header gives shape \(5, 28, 28\)"):
        MNIST(tmp_path)
    write(folder / "train-images-idx3-ubyte", idx_bytes(images, 2051)[:10])
    with pytest.raises(ValueError, match="is truncated: 10 bytes, its IDX header needs 16"):
        MNIST(tmp_path)
    write(folder / "train-images-idx3-ubyte", idx_bytes(images[:4], 2051))
    with pytest.raises(ValueError, match="holds 4 images but .*train-labels-idx1-ubyte holds 5 labels"):
        MNIST(tmp_path)
    os.remove(folder / "train-images-idx3-ubyte")
    write(folder / "train-images-idx3-ubyte.gz", gzip.compress(idx_bytes(images, 2051))[:-20])
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.gz is a corrupt or truncated gzip file"):
        MNIST(tmp_path)
    write(folder / "train-images-idx3-ubyte.gz", idx_bytes(images, 2051), gz=True)
    write(folder / "train-labels-idx1-ubyte", idx_bytes(labels + 10, 2049))
    with pytest.raises(ValueError, match="has label 1[0-9], expected 0..9"):
        MNIST(tmp_path)


def cifar_pixels(n, seed):
    return np.random.default_rng(seed).integers(0, 256, size=(n, 3072), dtype=np.uint8)


def test_cifar10_binary(tmp_path):
    folder = tmp_path / "cifar-10-batches-bin"
    expected_images, expected_labels = [], []
    for i, name in enumerate([f"data_batch_{k}.bin" for k in range(1, 6)] + ["test_batch.bin"]):
        pixels, labels = cifar_pixels(3, i), np.arange(3, dtype=np.uint8) + i
        # each record: <1 x label><3072 x pixel>
        write(folder / name, np.concatenate([labels[:, None], pixels], axis=1).tobytes())
        expected_images.append(pixels)
        expected_labels.append(labels)
    train, test = CIFAR10(tmp_path), CIFAR10(tmp_path, train=False)
    assert train.images.shape == (15, 3, 32, 32) and len(test) == 3
    expected = np.concatenate(expected_images[:5]).reshape(15, 3, 32, 32) / np.float32(255)
    np.testing.assert_array_equal(train.images, expected)
    assert train.labels.tolist() == np.concatenate(expected_labels[:5]).tolist()
    # the planes are red, green, blue, each row-major: pixel (row 1, column 2) of green is byte 1024 + 32 + 2
    assert test.images[0, 1, 1, 2] == np.float32(expected_images[5][0, 1024 + 34]) / np.float32(255)
    assert train.classes[0] == "airplane"
    write(folder / "test_batch.bin", np.zeros(3073 * 2 + 5, np.uint8).tobytes())
    with pytest.raises(ValueError, match="test_batch.bin has 6151 bytes, not a positive multiple of the 3073-byte"):
        CIFAR10(tmp_path, train=False)
    write(folder / "test_batch.bin", np.full(3073, 10, np.uint8).tobytes())
    with pytest.raises(ValueError, match="test_batch.bin has label 10, expected 0..9"):
        CIFAR10(tmp_path, train=False)
    os.remove(folder / "data_batch_3.bin")
    with pytest.raises(FileNotFoundError, match="data_batch_3.bin"):
        CIFAR10(tmp_path)


def test_cifar100_binary(tmp_path):
    folder = tmp_path / "cifar-100-binary"
    pixels, coarse, fine = cifar_pixels(4, 0), np.array([0, 19, 3, 4], np.uint8), np.array([99, 0, 50, 7], np.uint8)
    write(folder / "test.bin", np.concatenate([coarse[:, None], fine[:, None], pixels], axis=1).tobytes())
    (folder / "coarse_label_names.txt").write_text("\n".join(f"super{k}" for k in range(20)) + "\n")
    ds = CIFAR100(tmp_path, train=False)
    assert ds.labels.tolist() == fine.tolist() and ds.classes[5] == "5"
    np.testing.assert_array_equal(ds.images.reshape(4, -1), pixels / np.float32(255))
    coarse_ds = CIFAR100(tmp_path, train=False, label="coarse")
    assert coarse_ds.labels.tolist() == coarse.tolist() and coarse_ds.classes[19] == "super19"
    with pytest.raises(ValueError, match="label must be 'fine' or 'coarse'"):
        CIFAR100(tmp_path, label="superclass")


def dump(path, obj):
    """Write a pickle the way the CIFAR files were: protocol 2, dicts with bytes keys, NumPy arrays."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)


def test_cifar10_python(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        dump(folder / name, {b"batch_label": b"batch %d" % i, b"labels": [i, (i + 1) % 10],
                             b"data": cifar_pixels(2, i), b"filenames": [b"a.png", b"b.png"]})
    dump(folder / "batches.meta", {b"label_names": [b"airplane"] * 10, b"num_vis": 3072})
    train = CIFAR10(tmp_path)
    assert train.images.shape == (10, 3, 32, 32) and train.labels.tolist()[:4] == [0, 1, 1, 2]
    np.testing.assert_array_equal(train.images[2].reshape(-1), cifar_pixels(2, 1)[0] / np.float32(255))
    # the original files were written by NumPy 1, whose reconstructor lives in numpy.core.multiarray
    old = (folder / "data_batch_1").read_bytes().replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    assert b"numpy.core.multiarray\n_reconstruct" in old
    (folder / "data_batch_1").write_bytes(old)
    np.testing.assert_array_equal(CIFAR10(tmp_path).images, train.images)
    dump(folder / "test_batch", {b"labels": [1, 2], b"data": cifar_pixels(2, 0)[:, :100]})
    with pytest.raises(ValueError, match=r"b'data' must be a uint8 array of shape \(N, 3072\), got .* \(2, 100\)"):
        CIFAR10(tmp_path, train=False)
    dump(folder / "test_batch", {b"data": cifar_pixels(2, 0)})
    with pytest.raises(ValueError, match=r"test_batch is not a CIFAR batch: missing \[b'labels'\]"):
        CIFAR10(tmp_path, train=False)
    (folder / "test_batch").write_bytes((folder / "data_batch_1").read_bytes()[:3000])
    with pytest.raises(ValueError, match="test_batch is not a readable pickle"):
        CIFAR10(tmp_path, train=False)


def test_cifar100_python(tmp_path):
    folder = tmp_path / "cifar-100-python"
    dump(folder / "train", {b"fine_labels": [5, 99, 0], b"coarse_labels": [1, 2, 19], b"data": cifar_pixels(3, 4)})
    dump(folder / "meta", {b"fine_label_names": [b"apple%d" % k for k in range(100)],
                           b"coarse_label_names": [b"group%d" % k for k in range(20)]})
    fine, coarse = CIFAR100(tmp_path), CIFAR100(tmp_path, label="coarse")
    assert fine.labels.tolist() == [5, 99, 0] and coarse.labels.tolist() == [1, 2, 19]
    assert fine.classes[99] == "apple99" and coarse.classes[0] == "group0"


class System:
    """Unpickling this runs a shell command."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


class Eval:
    def __reduce__(self):
        return eval, ("__import__('os').getcwd()",)


def test_malicious_pickles_are_refused(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    marker = tmp_path / "pwned"
    dump(folder / "test_batch", {b"labels": [0], b"data": cifar_pixels(1, 0), b"x": System(f"touch {marker}")})
    with pytest.raises(ValueError, match=r"test_batch was refused: refusing to load (posix|nt|os)\.system"):
        CIFAR10(tmp_path, train=False)
    assert not marker.exists()
    dump(tmp_path / "eval.pkl", [Eval()])
    with pytest.raises(ValueError, match=r"refusing to load (__builtin__|builtins)\.eval"):
        load_restricted_pickle(tmp_path / "eval.pkl")
    dump(tmp_path / "codec.pkl", [b"ok"])  # _codecs.encode(text, "latin1"): admitted, but only with latin1
    assert load_restricted_pickle(tmp_path / "codec.pkl") == [b"ok"]
    (tmp_path / "codec.pkl").write_bytes((tmp_path / "codec.pkl").read_bytes().replace(b"latin1", b"rot_13"))
    with pytest.raises(ValueError, match="refusing _codecs.encode with encoding 'rot_13'"):
        load_restricted_pickle(tmp_path / "codec.pkl")


def test_missing_cifar_folder_names_both_versions(tmp_path):
    with pytest.raises(FileNotFoundError, match="found neither .*cifar-10-batches-bin nor .*cifar-10-batches-py"):
        CIFAR10(tmp_path)
