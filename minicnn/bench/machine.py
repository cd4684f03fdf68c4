"""What the benchmark ran on: CPU, threads, the BLAS in use, and its measured SGEMM rate."""
from __future__ import annotations

import os
import platform
import time

import numpy as np


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def blas_info() -> str:
    """The BLAS library NumPy calls and, with threadpoolctl installed, the kernel it runs."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        config = np.show_config(mode="dicts").get("Build Dependencies", {}).get("blas", {})
        name = config.get("name", "unknown")
        return f"{name} (kernel unknown: pip install threadpoolctl to see it)"
    for pool in threadpool_info():
        if pool.get("user_api") == "blas":
            return (f"{pool.get('internal_api')} {pool.get('version')}, kernel "
                    f"{pool.get('architecture')}, {pool.get('num_threads')} threads")
    return "unknown"


def threads() -> dict:
    import numba

    return {"numba": numba.get_num_threads(), "cpus": os.cpu_count(),
            "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE", "(unset)")}


def sgemm_gflops(n: int = 1024, repeats: int = 5) -> float:
    """Best float32 matrix-multiply rate of NumPy's BLAS: 2 n^3 flops per n x n product."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((n, n), np.float32), rng.standard_normal((n, n), np.float32)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * n ** 3 / best / 1e9


def copy_gbytes_per_s(megabytes: int = 64, repeats: int = 5) -> float:
    """Best rate of copying a float32 array far larger than the caches: bytes read + written per
    second, the memory bandwidth a memory-bound convolution can use."""
    src = np.ones(megabytes * 2 ** 20 // 4, np.float32)
    dst = np.empty_like(src)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - start)
    return 2 * src.nbytes / best / 1e9


def describe() -> dict:
    return {"cpu": cpu_name(), "blas": blas_info(), "threads": threads(),
            "numpy": np.__version__, "python": platform.python_version(),
            "sgemm_gflops": sgemm_gflops(), "copy_gbytes_per_s": copy_gbytes_per_s()}


def summary_line(info: dict) -> str:
    """The machine in one line, for comparing results between users."""
    t = info["threads"]
    return (f"machine: {info['cpu']} ({t['cpus']} logical CPUs), Numba {t['numba']} threads, "
            f"BLAS {info['blas']}; measured SGEMM {info['sgemm_gflops']:.0f} GFLOP/s, "
            f"copy {info['copy_gbytes_per_s']:.1f} GB/s")
