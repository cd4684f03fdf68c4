"""minicnn.set_num_threads / get_num_threads: one budget for Numba's loops and BLAS."""
import numba
import numpy as np
import pytest
from threadpoolctl import threadpool_info

import minicnn as mc
import minicnn.functional as F


def blas_threads():
    return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}


@pytest.fixture
def restore_threads():
    before = mc.get_num_threads()
    yield
    mc.set_num_threads(before)


@pytest.mark.parametrize("n", sorted({1, numba.config.NUMBA_NUM_THREADS}))
def test_set_num_threads_sets_numba_and_keeps_blas_on_one_thread(n, restore_threads):
    mc.set_num_threads(n)
    assert mc.get_num_threads() == numba.get_num_threads() == n
    assert blas_threads() == {1}
    x = mc.tensor(np.random.default_rng(0).standard_normal((2, 3, 8, 8)))
    w = mc.tensor(np.random.default_rng(1).standard_normal((4, 3, 3, 3)))
    assert F.conv2d(x, w).shape == (2, 4, 6, 6)  # kernels run within the budget


@pytest.mark.parametrize("value, error", [(0, ValueError), (numba.config.NUMBA_NUM_THREADS + 1, ValueError),
                                          (1.5, TypeError), (True, TypeError)])
def test_bad_thread_counts_are_refused(value, error, restore_threads):
    with pytest.raises(error, match="set_num_threads"):
        mc.set_num_threads(value)
