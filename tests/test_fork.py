"""A fork-started multiprocessing Pool whose workers run convolutions works after the parent ran a
parallel kernel (kernels/threads.py: GNU OpenMP would kill the workers and the Pool would wait for
them forever). Run in a subprocess under a timeout so a regression fails instead of hanging."""
import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import multiprocessing
    import numpy as np
    from numpy.lib.stride_tricks import sliding_window_view
    from minicnn import functional as F

    def data(seed):
        rng = np.random.default_rng(seed)
        return (rng.standard_normal((2, 3, 9, 9)).astype(np.float32),
                rng.standard_normal((4, 3, 3, 3)).astype(np.float32))

    def conv(seed):  # the direct kernel's loops are parallel (prange)
        x, w = data(seed)
        return np.asarray(F.conv2d(x, w, algorithm="direct"))

    def reference(seed):  # the definition, in float64
        x, w = data(seed)
        windows = sliding_window_view(x.astype(np.float64), (3, 3), axis=(2, 3))
        return np.einsum("nchwij,kcij->nkhw", windows, w.astype(np.float64))

    if __name__ == "__main__":
        assert np.allclose(conv(0), reference(0), atol=1e-4)  # a parallel kernel ran in the parent
        with multiprocessing.get_context("fork").Pool(2) as pool:
            results = pool.map(conv, [1, 2])
        for seed, y in zip([1, 2], results):
            assert np.allclose(y, reference(seed), atol=1e-4)
        print("ok")
""")


def test_a_fork_pool_runs_convolutions_after_the_parent_did():
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
