"""Dataset, TensorDataset, Subset, random_split and the DataLoader, against what PyTorch does."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minicnn as mc
from minicnn.data import (DataLoader, Dataset, Digits, Subset, TensorDataset, default_collate, load_digits,
                          random_split)
from minicnn.tensor import Tensor


def numbered(n, features=2):
    """A dataset whose row i holds the value i everywhere, so a batch shows which samples it took."""
    return TensorDataset(np.repeat(np.arange(n, dtype=np.float32)[:, None], features, axis=1), np.arange(n))


class Counting(TensorDataset):
    """Counts __getitem__ calls, to tell the fast path from the sample-by-sample one."""
    calls = 0

    def __getitem__(self, index):
        Counting.calls += 1
        return super().__getitem__(index)


class NoArrays(Dataset):
    """A dataset that only knows how to give one sample at a time."""

    def __init__(self, base):
        self.base = base

    def __getitem__(self, index):
        return self.base[index]

    def __len__(self):
        return len(self.base)


def test_tensor_dataset_rows_and_errors():
    x, y = np.arange(12.0).reshape(6, 2), np.arange(6)
    ds = TensorDataset(mc.tensor(x), y)
    assert len(ds) == 6
    row, label = ds[4]
    np.testing.assert_array_equal(row, [8.0, 9.0])
    assert label == 4
    with pytest.raises(ValueError, match=r"same length along axis 0, got lengths \[6, 5\]"):
        TensorDataset(x, y[:5])
    with pytest.raises(ValueError, match="at least one array"):
        TensorDataset()


def test_subset_and_random_split_follow_torch():
    ds = numbered(10)
    sub = Subset(ds, [7, 2, 5])
    assert len(sub) == 3 and sub[1][1] == 2
    with pytest.raises(IndexError, match=r"indices must lie in \[-10, 10\)"):
        Subset(ds, [3, 10])
    parts = random_split(ds, [6, 4], generator=np.random.default_rng(3))
    again = random_split(ds, [6, 4], generator=np.random.default_rng(3))
    assert [len(p) for p in parts] == [6, 4]
    assert [p.indices.tolist() for p in parts] == [p.indices.tolist() for p in again]
    assert sorted(np.concatenate([p.indices for p in parts]).tolist()) == list(range(10))
    # fractions: floor(f * n) each, the remainder dealt one at a time from the first (torch's rule)
    assert [len(p) for p in random_split(numbered(5), [0.5, 0.5])] == [3, 2]
    assert [len(p) for p in random_split(numbered(10), [0.34, 0.33, 0.33])] == [4, 3, 3]
    with pytest.raises(ValueError, match="sum to the dataset's length 10"):
        random_split(ds, [6, 5])
    with pytest.raises(ValueError, match="sum to 1"):
        random_split(ds, [0.5, 0.6])


def test_batches_are_tensors_of_the_right_types_and_sizes():
    ds = TensorDataset(np.zeros((10, 1, 3, 3), np.float32), np.arange(10, dtype=np.uint8))
    batches = list(DataLoader(ds, batch_size=4))
    assert [len(b[1]) for b in batches] == [4, 4, 2] and len(DataLoader(ds, 4)) == 3
    images, labels = batches[0]
    assert isinstance(images, Tensor) and images.dtype == np.float32 and images.shape == (4, 1, 3, 3)
    assert isinstance(labels, Tensor) and labels.dtype == np.int64  # like torch's default collate
    dropping = DataLoader(ds, 4, drop_last=True)
    assert [len(b[1]) for b in dropping] == [4, 4] and len(dropping) == 2
    assert len(list(DataLoader(numbered(0), 3))) == 0
    assert DataLoader(ds).batch_size == 1 and DataLoader(ds).dataset is ds


def test_shuffle_is_seeded_and_new_each_epoch():
    ds = numbered(20)
    order = lambda loader: np.concatenate([b[1].array for b in loader]).tolist()
    first = DataLoader(ds, 6, shuffle=True, generator=np.random.default_rng(5))
    second = DataLoader(ds, 6, shuffle=True, generator=np.random.default_rng(5))
    epoch1, epoch2 = order(first), order(first)
    assert epoch1 == order(second) and sorted(epoch1) == list(range(20)) and epoch1 != epoch2
    assert order(DataLoader(ds, 6)) == list(range(20))


def test_generator_defaults_to_minicnn_default_generator():
    ds = numbered(30)
    loader = DataLoader(ds, 30, shuffle=True)
    mc.manual_seed(11)
    assert loader.generator is mc.default_generator()
    a = loader.__iter__().__next__()[1].array
    mc.manual_seed(11)
    b = next(iter(loader))[1].array
    np.testing.assert_array_equal(a, b)
    explicit = np.random.default_rng(0)
    assert DataLoader(ds, generator=explicit).generator is explicit
    loader.generator = explicit  # a trainer may swap in a restored generator
    assert loader.generator is explicit
    with pytest.raises(TypeError, match="expected a numpy.random.Generator"):
        loader.generator = 5


def test_fast_path_takes_a_batch_with_one_index_and_agrees_with_the_slow_path():
    Counting.calls = 0
    ds = Counting(np.arange(40.0).reshape(20, 2), np.arange(20))
    fast = list(DataLoader(Subset(Subset(ds, np.arange(19, -1, -1)), np.arange(0, 20, 2)), 4,
                           shuffle=True, generator=np.random.default_rng(1)))
    assert Counting.calls == 0
    slow = list(DataLoader(NoArrays(Subset(Subset(ds, np.arange(19, -1, -1)), np.arange(0, 20, 2))), 4,
                           shuffle=True, generator=np.random.default_rng(1)))
    assert Counting.calls == 10
    for (fx, fy), (sx, sy) in zip(fast, slow, strict=True):
        np.testing.assert_array_equal(fx.array, sx.array)
        np.testing.assert_array_equal(fy.array, sy.array)
    assert np.concatenate([b[1].array for b in fast]).tolist() != list(range(18, -1, -2))


@settings(max_examples=30)
@given(n=st.integers(0, 25), batch_size=st.integers(1, 8), shuffle=st.booleans(), drop_last=st.booleans(),
       seed=st.integers(0, 2 ** 32 - 1))
def test_batches_cover_the_dataset_in_the_drawn_order(n, batch_size, shuffle, drop_last, seed):
    ds = numbered(n, features=3)
    loader = DataLoader(ds, batch_size, shuffle=shuffle, drop_last=drop_last, generator=np.random.default_rng(seed))
    expected = np.random.default_rng(seed).permutation(n) if shuffle else np.arange(n)
    expected = expected[:len(loader) * batch_size]
    batches = list(loader)
    assert len(batches) == len(loader) == (n // batch_size if drop_last else -(-n // batch_size))
    assert all(len(b[1]) == batch_size for b in batches[:-1] if b)
    labels = np.concatenate([b[1].array for b in batches]) if batches else np.zeros(0, np.int64)
    np.testing.assert_array_equal(labels, expected)
    for x, y in batches:
        np.testing.assert_array_equal(x.array, np.repeat(y.array[:, None], 3, axis=1).astype(np.float32))


def test_collate_fn_gets_the_list_of_samples():
    seen = []

    def collate(samples):
        seen.append(len(samples))
        return samples

    batches = list(DataLoader(numbered(5), 2, collate_fn=collate))
    assert seen == [2, 2, 1] and batches[2][0][1] == 4
    x, y = default_collate([(np.ones(2, np.float32), 3), (np.zeros(2, np.float32), 1)])
    assert x.shape == (2, 2) and y.dtype == np.int64 and y.array.tolist() == [3, 1]


def test_loader_refuses_bad_arguments_clearly():
    x, y = np.zeros((10, 2)), np.zeros(10)
    with pytest.raises(ValueError, match=r"batch_size must be a positive integer.*TensorDataset\(inputs, targets\)"):
        DataLoader(x, y)  # the old DataLoader(inputs, targets) call
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        DataLoader(numbered(3), 0)
    with pytest.raises(TypeError, match="shuffle must be True or False"):
        DataLoader(numbered(3), 2, shuffle="yes")
    with pytest.raises(TypeError, match="expected a numpy.random.Generator"):
        DataLoader(numbered(3), 2, generator=0)
    with pytest.raises(TypeError, match="dataset must have __len__ and __getitem__"):
        DataLoader(3)


def bilinear_by_definition(image, m):
    """Upsample a 2-D float64 image to m x m from the align_corners=False definition, one pixel at a time."""
    n = image.shape[0]
    out = np.zeros((m, m))
    for i in range(m):
        for j in range(m):
            sy, sx = max((i + 0.5) * n / m - 0.5, 0), max((j + 0.5) * n / m - 0.5, 0)
            y0, x0 = int(sy), int(sx)
            y1, x1 = min(y0 + 1, n - 1), min(x0 + 1, n - 1)
            fy, fx = sy - y0, sx - x0
            out[i, j] = ((1 - fy) * ((1 - fx) * image[y0, x0] + fx * image[y0, x1])
                         + fy * ((1 - fx) * image[y1, x0] + fx * image[y1, x1]))
    return out


def test_digits_at_32_are_resampled_not_repeated():
    small, labels = load_digits("test")
    large, labels32 = load_digits("test", size=32)
    assert large.shape == (359, 1, 32, 32) and large.dtype == np.float32
    np.testing.assert_array_equal(labels, labels32)
    assert 0 <= large.min() and large.max() <= 1
    np.testing.assert_allclose(large[7, 0], bilinear_by_definition(small[7, 0].astype(np.float64), 32), atol=1e-6)
    blocks = large[:, 0].reshape(359, 8, 4, 8, 4)
    assert (blocks.max(axis=(2, 4)) - blocks.min(axis=(2, 4))).max() > 0.3  # not 4x4 constant blocks
    with pytest.raises(ValueError, match="size must be 8 or 32"):
        load_digits(size=16)


def test_digits_dataset():
    ds = Digits("train", size=32)
    assert len(ds) == 1438 and ds.images.shape == (1438, 1, 32, 32) and ds.classes[3] == "3"
    assert ds.arrays() is not None
    flipped = Digits("test", transform=lambda image: image[:, :, ::-1])
    assert flipped.arrays() is None
    np.testing.assert_array_equal(flipped[0][0], flipped.images[0][:, :, ::-1])
