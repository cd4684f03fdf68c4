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
   LeNet-sized kernel took 8 ms instead of 0.4 ms. Sleeping at once avoids it.

A future thread budget (how many threads the kernels and BLAS use) belongs here too.
"""
import os

import numba

# numba.config has read NUMBA_THREADING_LAYER already: "default" means the user chose nothing.
if numba.config.THREADING_LAYER == "default":
    numba.config.THREADING_LAYER = "forksafe"
os.environ.setdefault("OMP_WAIT_POLICY", "passive")


def threading_layer() -> str:
    """The threading layer the parallel kernels run on ("workqueue", "tbb" or "omp"), known once
    a parallel kernel has run; before that, the layer asked for."""
    try:
        return numba.threading_layer()
    except ValueError:  # no parallel kernel has run yet
        return numba.config.THREADING_LAYER
