"""Where each SizedKernel's parallel build starts to pay: serial against parallel, by size.

A SizedKernel (minicnn/kernels/threads.py) is compiled twice and runs its parallel build from
`parallel_from` values on. This times both builds of each on float32 arrays of growing size, in
one process, alternating, and prints serial time / parallel time (above 1: parallel is faster)
beside the threshold the kernel declares. On Numba's workqueue layer a parallel call costs about
0.1 ms before any work, so a kernel that streams memory (ReLU, SGD, batch norm's passes) needs
millions of values before two threads beat one.

    python benchmarks/bench_sized_kernels.py [--sizes 262144,1048576,4194304,16777216] [--repeats 40]
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

from minicnn.kernels import batch_norm, optim, pointwise, pool


def cases(size: int, rng) -> dict:
    """{kernel: its arguments} for arrays of `size` values (batch norm as (64, 16, size/1024),
    pooling as 32x32 planes with 2x2 windows)."""
    f32 = np.float32
    x, g = rng.standard_normal(size, dtype=f32), rng.standard_normal(size, dtype=f32)
    out, buf, m, v = np.empty_like(x), g.copy(), g.copy(), np.abs(g)
    x3, g3, y3 = x.reshape(64, 16, -1), g.reshape(64, 16, -1), out.reshape(64, 16, -1)
    mean, var, sums, products, ones = np.zeros(16), np.ones(16), np.empty(16), np.empty(16), np.ones(16, f32)
    planes = x.reshape(-1, 1, 32, 32)
    count = planes.shape[0]
    grad = rng.standard_normal((count, 1, 16, 16), dtype=f32)
    window = (1, 2, 2, 1, 2, 2, 0, 0, 0)
    argmax = pool.max_pool_forward.serial(planes, *window, 1, 1, 1, 1, 16, 16)[1].reshape(count, 256)
    return {
        pointwise.relu_forward: (x, out),
        pointwise.relu_backward: (x, g, out),
        optim.sgd_step: (out, g, buf, f32(0.01), f32(0.9), f32(0), f32(0), False, False),
        optim.adam_step: (out, g, m, v, f32(1e-3), f32(0.9), f32(0.999), f32(1e-8), f32(0), False, f32(0.5), f32(0.5)),
        batch_norm.channel_mean_var: (x3, mean, var),
        batch_norm.channel_affine: (x3, ones, ones, ones, y3),
        batch_norm.batch_norm_grad_sums: (x3, g3, mean, var, sums, products),
        batch_norm.batch_norm_grad_input: (x3, g3, ones, ones, ones, ones, ones, y3),
        pool.max_pool_forward: (planes, *window, 1, 1, 1, 1, 16, 16),
        pool.scatter_add_planes: (grad.reshape(count, 256), argmax, 1024),
        pool.avg_pool_forward: (planes, *window, 1, 16, 16, True, 0),
        pool.avg_pool_backward: (grad, 1, 32, 32, *window, True, 0),
    }


def median_us(function, args, repeats: int) -> float:
    function(*args)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function(*args)
        times.append(time.perf_counter() - start)
    return 1e6 * float(np.median(times))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="262144,1048576,4194304,16777216")
    p.add_argument("--repeats", type=int, default=40)
    args = p.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    rng = np.random.default_rng(0)
    ratios = {}
    for size in sizes:
        for kernel, arguments in cases(size, rng).items():
            serial = median_us(kernel.serial, arguments, args.repeats)
            parallel = median_us(kernel.parallel, arguments, args.repeats)
            ratios.setdefault(kernel, []).append(serial / parallel)
    print(f"serial time / parallel time by size (above 1: the parallel build is faster); "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"{'kernel':<24} {'parallel_from':>13} " + " ".join(f"{s:>9}" for s in sizes))
    for kernel, row in ratios.items():
        print(f"{kernel.__name__:<24} {kernel.parallel_from:>13} " + " ".join(f"{r:>8.2f}x" for r in row))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
