"""Direct loops against im2col + GEMM on layers from the classic networks, forward and backward.

    python benchmarks/bench_conv_direct_im2col.py [--batch 2] [--repeats 5] [--threads 1]

Times each algorithm of minicnn.kernels on the same float32 arrays (best of `repeats` runs, after
one warm-up run that also compiles the Numba kernels) and prints the milliseconds and the ratio
direct / im2col (above 1: im2col is faster). "backward" is the data gradient plus the weight
gradient. Layer shapes are the papers'; the VGG layer's image is cropped to keep the run short.
--threads limits both Numba's and OpenBLAS's thread pools (they must be sized before NumPy and
Numba are imported), which makes the comparison steadier on a busy machine.
"""
from __future__ import annotations

import argparse
import os
import sys
import time


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="threads for Numba and BLAS (default: all)")
    return parser.parse_args(argv)


ARGS = parse_args(sys.argv[1:] if __name__ == "__main__" else [])
if ARGS.threads is not None:
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[variable] = str(ARGS.threads)

import numpy as np  # noqa: E402  (after the thread counts are set)

from minicnn.kernels import ALGORITHMS, ConvGeometry  # noqa: E402

# name, (Cin, H, W), (Cout, k), stride, padding
LAYERS = [
    ("LeNet-5 C1", (1, 32, 32), (6, 5), 1, 0),
    ("AlexNet conv1", (3, 227, 227), (96, 11), 4, 0),
    ("VGG-16 conv3_2 (56x56 cropped to 28x28)", (256, 28, 28), (256, 3), 1, 1),
    ("ResNet-50 conv2_x 1x1 (256->64)", (256, 56, 56), (64, 1), 1, 0),
]


def best_time(run, repeats: int) -> float:
    run()  # warm-up (and Numba compilation on the first call)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def measure(algorithm, x, w, grad_y, geometry, repeats):
    forward = best_time(lambda: algorithm.forward(x, w, geometry), repeats)
    backward = best_time(lambda: (algorithm.backward_data(grad_y, w, geometry),
                                  algorithm.backward_weight(x, grad_y, geometry)), repeats)
    return forward, backward


def main(args) -> None:
    rng = np.random.default_rng(0)
    threads = "all" if args.threads is None else args.threads
    print(f"float32, batch {args.batch}, best of {args.repeats}, threads: {threads}; "
          "ratio = direct time / im2col time")
    header = f"{'layer':42s} {'GMAC':>6s} | {'fwd direct':>10s} {'fwd im2col':>10s} {'ratio':>6s} | " \
             f"{'bwd direct':>10s} {'bwd im2col':>10s} {'ratio':>6s}"
    print(header)
    print("-" * len(header))
    for name, (c_in, h, w_size), (c_out, k), stride, pad in LAYERS:
        geometry = ConvGeometry(input_shape=(args.batch, c_in, 1, h, w_size), weight_shape=(c_out, c_in, 1, k, k),
                                stride=(1, stride, stride), padding=((0, 0), (pad, pad), (pad, pad)),
                                dilation=(1, 1, 1), groups=1, dtype=np.dtype(np.float32), spatial_dims=2)
        x = rng.standard_normal(geometry.input_shape).astype(np.float32)
        w = rng.standard_normal(geometry.weight_shape).astype(np.float32)
        grad_y = rng.standard_normal(geometry.output_shape).astype(np.float32)
        direct = measure(ALGORITHMS["direct"], x, w, grad_y, geometry, args.repeats)
        im2col = measure(ALGORITHMS["im2col"], x, w, grad_y, geometry, args.repeats)
        print(f"{name:42s} {geometry.multiply_adds / 1e9:6.3f} | "
              f"{direct[0] * 1e3:8.1f}ms {im2col[0] * 1e3:8.1f}ms {direct[0] / im2col[0]:6.1f} | "
              f"{direct[1] * 1e3:8.1f}ms {im2col[1] * 1e3:8.1f}ms {direct[1] / im2col[1]:6.1f}", flush=True)


if __name__ == "__main__":
    main(ARGS)
