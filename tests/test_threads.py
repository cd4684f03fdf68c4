"""minicnn.set_num_threads / get_num_threads: one budget for Numba's loops and BLAS."""
import multiprocessing
import os

import numba
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from threadpoolctl import threadpool_info

import minicnn as mc
import minicnn.functional as F
from minicnn.kernels import threads


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


@settings(max_examples=40, deadline=None)
@given(batch=st.lists(st.integers(1, 4), max_size=3), ones_a=st.lists(st.booleans(), min_size=3, max_size=3),
       ones_b=st.lists(st.booleans(), min_size=3, max_size=3), drop_a=st.integers(0, 3), drop_b=st.integers(0, 3),
       m=st.integers(1, 5), k=st.integers(0, 5), n=st.integers(1, 7), split=st.booleans(),
       seed=st.integers(0, 2 ** 16))
def test_matmul_in_parts_equals_numpy(batch, ones_a, ones_b, drop_a, drop_b, m, k, n, split, seed):
    # batch axes of a and b: the result's, some set to 1, some leading ones dropped (broadcasting)
    batch_a = [1 if one else size for size, one in zip(batch, ones_a)][drop_a:]
    batch_b = [1 if one else size for size, one in zip(batch, ones_b)][drop_b:]
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(tuple(batch_a) + (m, k))
    b = rng.standard_normal(tuple(batch_b) + (k, n))
    expected = np.einsum("...ij,...jk->...ik", a, b)
    saved = threads.MATMUL_PARALLEL_MIN_FLOPS
    threads.MATMUL_PARALLEL_MIN_FLOPS = 0 if split else 1 << 40  # tiny products forced into parts
    try:
        np.testing.assert_allclose(threads.matmul(a, b), expected, rtol=1e-12, atol=1e-12)
    finally:
        threads.MATMUL_PARALLEL_MIN_FLOPS = saved


def _product_in_parts(seed):
    a = np.random.default_rng(seed).standard_normal((4, 64, 64))
    saved = threads.MATMUL_PARALLEL_MIN_FLOPS
    threads.MATMUL_PARALLEL_MIN_FLOPS = 0
    try:
        return float(np.abs(threads.matmul(a, a) - a @ a).max())
    finally:
        threads.MATMUL_PARALLEL_MIN_FLOPS = saved


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_matmul_in_parts_works_in_a_forked_child_after_the_parent_used_its_threads():
    _product_in_parts(0)  # the parent's worker threads exist now; a forked child has none
    with multiprocessing.get_context("fork").Pool(1) as pool:
        assert pool.apply_async(_product_in_parts, (1,)).get(timeout=60) < 1e-12


# ---- SizedKernel: the parallel and the serial build compute the same thing -------------------------
def _every_op(x, w):
    """Forward and backward of the ops whose kernels are SizedKernels, as one list of arrays."""
    x, w = mc.tensor(x, requires_grad=True), mc.tensor(w, requires_grad=True)
    outputs = [F.max_pool2d(x, 3, 2, 1), F.avg_pool2d(x, 3, 1, 1, count_include_pad=False),
               F.adaptive_avg_pool2d(x, 3), F.adaptive_max_pool2d(x, 3), F.relu(x - 0.1),
               F.batch_norm(x, None, None, training=True),
               F.conv2d(x, w, padding=1, algorithm="winograd_f4x3"), F.conv2d(x, w, algorithm="winograd_f2x3")]
    total = sum((o * o).sum() for o in outputs)
    total.backward()
    return [o.array for o in outputs] + [x.grad.array, w.grad.array]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sized_kernels_parallel_and_serial_builds_agree(dtype, monkeypatch):
    rng = np.random.default_rng(4)
    x, w = rng.standard_normal((3, 16, 12, 12)).astype(dtype), rng.standard_normal((16, 16, 3, 3)).astype(dtype)
    calls = {"parallel": 0}
    for_size = threads.SizedKernel.for_size

    def counting(self, size):
        chosen = for_size(self, size)
        calls["parallel"] += chosen is self.parallel
        return chosen

    monkeypatch.setattr(threads.SizedKernel, "for_size", counting)
    for kernel in threads.SizedKernel.instances:
        monkeypatch.setattr(kernel, "parallel_from", 1 << 62)
    serial = _every_op(x, w)
    assert calls["parallel"] == 0
    for kernel in threads.SizedKernel.instances:
        monkeypatch.setattr(kernel, "parallel_from", 0)
    parallel = _every_op(x, w)
    if mc.get_num_threads() > 1:  # on one thread the serial build runs whatever the size
        assert calls["parallel"] >= 10  # every sized kernel above ran its parallel build
    for a, b in zip(serial, parallel):
        np.testing.assert_allclose(a, b, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-6)


def test_sized_kernels_run_serially_on_one_thread(restore_threads):
    kernel = threads.SizedKernel.instances[0]
    mc.set_num_threads(1)
    assert kernel.for_size(1 << 40) is kernel.serial
    if numba.config.NUMBA_NUM_THREADS > 1:
        mc.set_num_threads(2)
        assert kernel.for_size(1 << 40) is kernel.parallel
        assert kernel.for_size(kernel.parallel_from - 1) is kernel.serial


# ---- PyTorch imported first: its spinning OpenMP threads are named in a warning ---------------------
@pytest.mark.parametrize("torch_first, policy, warns", [(True, None, True), (True, "PASSIVE", False),
                                                        (False, None, False)])
def test_a_spinning_pytorch_imported_first_is_warned_about(torch_first, policy, warns):
    import subprocess
    import sys

    # a stand-in module named torch: the check looks for the name only (tests never import torch)
    code = ("import sys, types, warnings\n"
            + ("sys.modules['torch'] = types.ModuleType('torch')\n" if torch_first else "")
            + "with warnings.catch_warnings(record=True) as caught:\n"
              "    warnings.simplefilter('always')\n"
              "    import minicnn\n"
              "print(any('OMP_WAIT_POLICY=PASSIVE' in str(w.message) for w in caught))\n")
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if policy:
        env["OMP_WAIT_POLICY"] = policy
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(warns)
