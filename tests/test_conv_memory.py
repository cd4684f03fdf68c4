"""A convolution that would not fit in memory is refused before anything is allocated, with a
MemoryError naming the op, the algorithm and the bytes; "auto" passes over algorithms that do
not fit; the direct kernel's buffers do not grow with the stride."""
import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from minicnn import functional as F
from minicnn.kernels import (ALGORITHMS, ConvGeometry, autotune, choose_algorithm, memory_limit,
                             set_memory_limit)
from minicnn.kernels import direct


@pytest.fixture
def limit():
    """set_memory_limit for one test, restored after it."""
    previous = set_memory_limit(None)
    yield set_memory_limit
    set_memory_limit(previous)


def test_the_default_limit_is_a_fraction_of_physical_memory(limit):
    assert 2 ** 26 < memory_limit() < 2 ** 50


def test_an_output_too_large_for_memory_is_a_memory_error_before_allocating():
    # A broadcast view: 10^5 images of 64x64x64 cost nothing to hold, ~100 GB to convolve.
    x = np.broadcast_to(np.zeros((1, 1, 1, 1), np.float32), (100_000, 64, 64, 64))
    w = np.zeros((64, 64, 3, 3), np.float32)
    with pytest.raises(MemoryError, match=r"^conv2d: algorithm '\w+' would allocate [\d,]+ bytes"):
        F.conv2d(x, w)


@pytest.mark.parametrize("algorithm", ["direct", "im2col", "fft"])
def test_the_limit_applies_to_every_algorithm(algorithm, limit):
    limit(10_000)
    with pytest.raises(MemoryError, match=rf"^conv2d: algorithm '{algorithm}' would allocate [\d,]+ bytes "
                                          r".* more than the limit of 10,000 bytes"):
        F.conv2d(np.zeros((1, 2, 32, 32)), np.zeros((2, 2, 5, 5)), algorithm=algorithm)


def test_autotune_refuses_a_layer_too_large_without_timing_it():
    x = np.broadcast_to(np.zeros((1, 1, 1, 1), np.float32), (100_000, 64, 64, 64))
    previous = autotune(True)
    try:
        with pytest.raises(MemoryError, match=r"^conv2d: algorithm 'direct' would allocate"):
            F.conv2d(x, np.zeros((64, 64, 3, 3), np.float32))
    finally:
        autotune(previous)


X = np.ones((2, 4, 9, 9), np.float32)


@pytest.mark.parametrize("op, call", [
    ("separable_conv2d", lambda: F.separable_conv2d(X, np.ones((4, 4, 3), np.float32), np.ones((4, 4, 3), np.float32),
                                                    padding=10 ** 5)),
    ("low_rank_conv2d", lambda: F.low_rank_conv2d(X, np.ones((4, 4, 3, 3), np.float32), 1, padding=10 ** 5)),
    ("conv_transpose2d", lambda: F.conv_transpose2d(X, np.ones((4, 4, 3, 3), np.float32), stride=10 ** 5)),
    ("max_unpool2d", lambda: F.max_unpool2d(X, np.zeros(X.shape, np.int64), 10 ** 5)),
])
def test_every_op_with_a_large_output_checks_its_size_first(op, call):
    with pytest.raises(MemoryError, match=rf"^{op}: .*[\d,]+ bytes"):
        call()


def test_auto_never_picks_an_algorithm_that_does_not_fit(limit):
    geometry = ConvGeometry((8, 64, 1, 32, 32), (64, 64, 1, 3, 3), (1, 1, 1), ((0, 0), (1, 1), (1, 1)),
                            (1, 1, 1), 1, np.dtype(np.float32), 2)
    assert choose_algorithm(geometry).name == "winograd_f4x3"
    winograd_needs = ALGORITHMS["winograd_f4x3"].workspace(geometry)
    limit(winograd_needs)  # Winograd's workspace alone, without the output, no longer fits
    chosen = choose_algorithm(geometry)
    assert "winograd" not in chosen.name
    assert chosen.workspace(geometry) < winograd_needs


def test_the_direct_kernel_does_not_allocate_per_unit_of_stride():
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((1, 2, 6, 56)), rng.standard_normal((3, 2, 3, 3))
    y = np.asarray(F.conv2d(x, w, stride=(1, 10 ** 7), algorithm="direct"))
    reference = np.einsum("nchwij,kcij->nkhw", sliding_window_view(x, (3, 3), axis=(2, 3))[:, :, :, :1], w)
    np.testing.assert_allclose(y, reference, rtol=1e-12)
    geometry = ConvGeometry(x.shape[:2] + (1,) + x.shape[2:], w.shape[:2] + (1, 3, 3), (1, 1, 10 ** 7),
                            ((0, 0), (0, 0), (0, 0)), (1, 1, 1), 1, np.dtype(np.float64), 2)
    assert direct.workspace(geometry) < 10 * x.nbytes  # was 10^7 columns per row: 2 GiB for these 12 rows


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_estimating_a_huge_layer_allocates_almost_nothing(name):
    """An algorithm's workspace estimate is arithmetic: it must not build the blocks it describes
    (im2col's plan of a layer with 2 x 10^7 output rows held hundreds of thousands of blocks;
    at 10^9 rows, the fuzz's padding, it filled the machine's memory before the MemoryError)."""
    import tracemalloc

    geometry = ConvGeometry((2, 3, 1, 6, 6), (4, 3, 1, 3, 3), (1, 1, 1), ((0, 0), (10 ** 7, 10 ** 7), (1, 1)),
                            (1, 1, 1), 1, np.dtype(np.float32), spatial_dims=2)
    tracemalloc.start()
    try:
        ALGORITHMS[name].workspace(geometry)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 ** 20
