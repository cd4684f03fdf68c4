"""How the parallel kernels get their threads: the one place minicnn sets Numba's threading up.

Imported by minicnn.kernels before any kernel, because both settings below only take effect if
made before the first parallel kernel runs. A value the user set (environment variable) wins.

1. Fork safety. Numba runs `prange` loops on a threading layer: TBB, OpenMP or its own
   "workqueue". GNU OpenMP (the one Numba finds on Linux) cannot survive fork(): once a parallel
   kernel ran in the parent, a child started by fork (multiprocessing's default start method on
   Linux before Python 3.14, e.g. a Pool of data workers) that runs one prints "fork() called from
   a process already using GNU OpenMP" and dies, and the Pool waits for it forever. Numba's
   "forksafe" choice takes the first fork-safe layer installed: TBB (if the `tbb` package is
   there), an OpenMP other than GNU's, or workqueue (always there). Workqueue has one limit: two
   Python threads may not run parallel kernels at the same time (Numba stops the process with a
   message saying so); minicnn itself never does. Cost on a conv: see the README's measurements
   (`NUMBA_THREADING_LAYER=omp` versus the default, same command).
2. When the layer is OpenMP after all (chosen by the user), its threads spin for a while after
   each loop by default, competing for the cores with whatever runs next (OpenBLAS's GEMM
   threads, the next kernel, other processes): measured on 2 busy cores, every parallel call of a
   LeNet-sized kernel took 8 ms instead of 0.4 ms. Sleeping at once avoids it. The setting
   also reaches PyTorch if it is imported after minicnn (its GNU OpenMP reads it when it loads).
   PyTorch imported first has read it already, spinning: its threads then take a core for a few
   milliseconds after each of its ops, and minicnn's steps run beside them (LeNet-5's step, each
   after a PyTorch step in one process: 12.7-13.5 ms against 8.7-9.1 alone; with
   OMP_WAIT_POLICY=PASSIVE set before torch's import, 9.3). minicnn cannot change that policy
   once loaded, so it warns.

3. One thread budget. `set_num_threads(n)` gives Numba's parallel loops n threads and BLAS one:
   the big matrix products run on a single BLAS thread, between the parallel loops, so minicnn
   never runs more threads than the budget at once. Measured (bench_train_step.py's ResNet-20
   step, batch 64, 2 cores shared with about 18 other busy processes): 391 ms with BLAS on one
   thread, 7392 ms with two. OpenBLAS's threads wait for each other inside every GEMM by
   spinning, so one of them preempted by another process stalls the product for a time slice;
   Numba's loops split work statically but their idle threads sleep. So that the products do
   not lose the other cores on a quiet machine, `matmul` (point 4) runs them in parts. The
   default budget is the CPUs this process may run on. A BLAS thread count the
   user set (OPENBLAS_NUM_THREADS, OMP_NUM_THREADS, MKL_NUM_THREADS) is left alone at import.
4. The matrix products get their parallelism from `matmul` below instead: it cuts a product
   into as many independent parts as the budget allows (along a batch axis, or the columns)
   and runs each as a single-threaded BLAS call, one on the calling thread and the others on a
   small pool of Python threads (NumPy releases the GIL inside BLAS). Those threads block on
   a queue when idle, and a part that finishes early waits by sleeping, never by spinning.
"""
import math
import os
import sys
import types
import warnings
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
from threadpoolctl import threadpool_limits

# numba.config has read NUMBA_THREADING_LAYER already: "default" means the user chose nothing.
if numba.config.THREADING_LAYER == "default":
    numba.config.THREADING_LAYER = "forksafe"
if "torch" in sys.modules and "OMP_WAIT_POLICY" not in os.environ:
    warnings.warn("PyTorch was imported before minicnn: its OpenMP threads spin for a few milliseconds "
                  "after each of its ops, on the cores minicnn's kernels use (measured: LeNet-5 steps "
                  "1.4x slower when each follows a PyTorch step). Import minicnn first, or set "
                  "OMP_WAIT_POLICY=PASSIVE in the environment before importing torch.", RuntimeWarning, stacklevel=2)
os.environ.setdefault("OMP_WAIT_POLICY", "passive")


def threading_layer() -> str:
    """The threading layer the parallel kernels run on ("workqueue", "tbb" or "omp"), known once
    a parallel kernel has run; before that, the layer asked for."""
    try:
        return numba.threading_layer()
    except ValueError:  # no parallel kernel has run yet
        return numba.config.THREADING_LAYER


class SizedKernel:
    """A kernel with `prange` loops compiled twice, parallel and serial; `for_size(n)` is the
    one to run on n values: the parallel build from `parallel_from` values on. Below that,
    waking the thread pool costs more than the work saves: on the workqueue layer a parallel
    call makes two round trips to every thread (one to pass on the thread count, one for the
    work), about 0.1 ms on a quiet machine, and on a busy one each call waits until every thread
    has been scheduled. Where that pays off depends on the work per value: a ReLU streams memory
    at what one core can move, so its parallel build wins only from about 8M values, while
    Adam's arithmetic pays from 32K. Each kernel states its own threshold, measured by
    benchmarks/bench_sized_kernels.py. `instances` lists them all (the benchmark and the tests
    walk it)."""

    PARALLEL_MIN_SIZE = 1 << 15  # the default, for kernels with much arithmetic per value
    instances: list = []

    def __init__(self, function, parallel_from: int = PARALLEL_MIN_SIZE, **options):
        """parallel_from: the smallest size (values) the parallel build runs on; options: further
        numba.njit options for both builds (e.g. fastmath)."""
        self.__name__ = function.__name__
        self.parallel_from = parallel_from
        self.parallel = numba.njit(parallel=True, cache=True, **options)(function)
        # Numba's on-disk cache tells functions apart by qualified name, not by compile options:
        # the serial build gets its own name, or it would load the parallel one.
        serial = types.FunctionType(function.__code__, function.__globals__, f"{function.__name__}_serial",
                                    function.__defaults__, function.__closure__)
        serial.__qualname__ = f"{function.__qualname__}_serial"
        self.serial = numba.njit(cache=True, **options)(serial)
        SizedKernel.instances.append(self)

    def for_size(self, size: int):
        """The build for `size` values: the serial one below parallel_from, or on one thread."""
        return self.parallel if size >= self.parallel_from and numba.get_num_threads() > 1 else self.serial

    def __call__(self, *args):
        """Run the build for the largest array among args (a kernel's work grows with it)."""
        size = max((a.size for a in args if isinstance(a, np.ndarray)), default=0)
        return self.for_size(size)(*args)


# Below ~32 MFLOP, handing parts to threads costs more than it saves: a part handed over and waited
# for costs 35-60 us on 2 cores, and a 2-thread split of (120x400)@(400x512) (49 MFLOP) took as
# long as one call (230 us), of 64 products (64x64)@(64x64) (34 MFLOP) 162 us against 146
MATMUL_PARALLEL_MIN_FLOPS = 1 << 25
# split: whether matmul cuts products into parts, true once set_num_threads has put BLAS on one
# thread; parts of a multi-threaded BLAS would run budget x BLAS threads (measured: LeNet-5's step
# took 404 ms instead of 16 with OPENBLAS_NUM_THREADS=2 and parts)
_workers = {"pool": None, "split": False}


def _pool() -> ThreadPoolExecutor:
    if _workers["pool"] is None:
        _workers["pool"] = ThreadPoolExecutor(max(numba.config.NUMBA_NUM_THREADS - 1, 1),
                                              thread_name_prefix="minicnn-matmul")
    return _workers["pool"]


# A forked child inherits the pool object but not its threads: it starts its own on first use.
os.register_at_fork(after_in_child=lambda: _workers.update(pool=None))


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """np.matmul(a, b) (batch axes broadcast, as NumPy's), run as get_num_threads() parts at once.

    Only when BLAS runs on one thread (set_num_threads put it there); otherwise np.matmul as is.
    The parts split the first batch axis of the result that has at least that many entries, or
    else the result's columns (b's last axis); each is one np.matmul into its slice of the result.
    """
    if a.ndim < 2 or b.ndim < 2:  # a vector: NumPy's rules for it, and too little work to split
        return np.matmul(a, b)
    threads = numba.get_num_threads() if _workers["split"] else 1
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    shape = batch + (a.shape[-2], b.shape[-1])
    if threads == 1 or 2 * math.prod(shape) * a.shape[-1] < MATMUL_PARALLEL_MIN_FLOPS:
        return np.matmul(a, b)
    a = a.reshape((1,) * (len(shape) - a.ndim) + a.shape)
    b = b.reshape((1,) * (len(shape) - b.ndim) + b.shape)
    out = np.empty(shape, np.result_type(a, b))
    axis = next((i for i, n in enumerate(batch) if n >= threads), len(shape) - 1)
    threads = min(threads, shape[axis])
    bounds = [shape[axis] * i // threads for i in range(threads + 1)]

    def part(start, stop):
        index = (slice(None),) * axis + (slice(start, stop),)
        a_part = a if axis == len(shape) - 1 or a.shape[axis] == 1 else a[index]  # columns: all of a
        b_part = b if b.shape[axis] == 1 else b[index]
        np.matmul(a_part, b_part, out=out[index])

    others = [_pool().submit(part, start, stop) for start, stop in zip(bounds[1:-1], bounds[2:])]
    part(bounds[0], bounds[1])
    for future in others:
        future.result()
    return out


def part_count() -> int:
    """How many parts work made of single-threaded BLAS calls may run as at once: the thread
    budget once BLAS is on one thread, else 1 (a multi-threaded BLAS has the cores already)."""
    return numba.get_num_threads() if _workers["split"] else 1


def run_parts(part, shares) -> list:
    """[part(share) for share in shares], run at once: the first on the calling thread, the
    others on the pool (at most part_count() of them make sense). For work that releases the
    GIL: BLAS calls, Numba kernels compiled with nogil=True."""
    others = [_pool().submit(part, share) for share in shares[1:]]
    return [part(shares[0])] + [future.result() for future in others]


BLAS_ENVIRONMENT = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def set_num_threads(n: int) -> None:
    """Run minicnn's kernels on at most `n` threads: Numba's parallel loops on n, BLAS on one
    (point 3 above says why). n is at most the thread count Numba started with
    (NUMBA_NUM_THREADS, by default the CPU count). Like Numba's own setting, it applies to the
    calling Python thread's kernels; the BLAS limit applies to the whole process."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"set_num_threads: n must be an int, got {type(n).__name__}")
    if not 1 <= n <= numba.config.NUMBA_NUM_THREADS:
        raise ValueError(f"set_num_threads: n must be between 1 and {numba.config.NUMBA_NUM_THREADS} "
                         f"(NUMBA_NUM_THREADS), got {n}")
    numba.set_num_threads(n)
    threadpool_limits(1, user_api="blas")
    _workers["split"] = True


def get_num_threads() -> int:
    """The threads minicnn's parallel kernels use (set by `set_num_threads`)."""
    return numba.get_num_threads()


if not any(name in os.environ for name in BLAS_ENVIRONMENT):
    set_num_threads(min(available_cpus(), numba.config.NUMBA_NUM_THREADS))
