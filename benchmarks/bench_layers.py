"""Time max pooling, local response normalisation and batch normalisation, forward and
forward + backward, on AlexNet- and ResNet-sized float32 tensors.

    python benchmarks/bench_layers.py [--repeats 5]

Each case is run once to compile (Numba) and warm up, then `repeats` times; the table shows the
median wall time in milliseconds.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import minicnn
from minicnn import functional as F

CASES = [
    # (name, shape, op)
    ("max_pool2d 3x3/2 (AlexNet pool1)", (8, 96, 55, 55), lambda x: F.max_pool2d(x, 3, 2)),
    ("max_pool2d 3x3/2 p1 (ResNet stem)", (8, 64, 112, 112), lambda x: F.max_pool2d(x, 3, 2, 1)),
    ("local_response_norm n=5 (AlexNet)", (8, 96, 55, 55),
     lambda x: F.local_response_norm(x, 5, alpha=5e-4, beta=0.75, k=2.0)),
    ("local_response_norm n=5 (AlexNet)", (8, 256, 27, 27),
     lambda x: F.local_response_norm(x, 5, alpha=5e-4, beta=0.75, k=2.0)),
    ("batch_norm train (AlexNet-sized)", (8, 96, 55, 55), None),
    ("batch_norm train (ResNet stem)", (8, 64, 112, 112), None),
    ("batch_norm train (ResNet stage 2)", (8, 256, 56, 56), None),
]


def batch_norm_op(channels):
    weight = minicnn.tensor(np.ones(channels, np.float32), requires_grad=True)
    bias = minicnn.tensor(np.zeros(channels, np.float32), requires_grad=True)
    running_mean, running_var = np.zeros(channels, np.float32), np.ones(channels, np.float32)
    return lambda x: F.batch_norm(x, running_mean, running_var, weight, bias, training=True)


def median_ms(fn, repeats):
    fn()  # compile and warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"{'op':<36} {'shape':<20} {'forward ms':>11} {'fwd+bwd ms':>11}")
    for name, shape, op in CASES:
        op = op or batch_norm_op(shape[1])
        x = minicnn.tensor(rng.standard_normal(shape, dtype=np.float32), requires_grad=True)
        grad = rng.standard_normal(op(x).shape, dtype=np.float32)

        def forward():
            with minicnn.no_grad():
                op(x)

        def forward_backward():
            x.grad = None
            op(x).backward(grad)

        print(f"{name:<36} {'x'.join(map(str, shape)):<20} {median_ms(forward, args.repeats):>11.1f} "
              f"{median_ms(forward_backward, args.repeats):>11.1f}")


if __name__ == "__main__":
    main()
