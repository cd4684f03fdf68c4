"""Winograd's three passes in this tree against those of another git revision, in one process.

    python benchmarks/bench_winograd.py --against 2222220            # ResNet-20's layers at batch 64, ...
    python benchmarks/bench_winograd.py --against 2222220 --threads 1 --cpu-time

The other revision's kernels/winograd.py is loaded beside this tree's (as a module of
minicnn.kernels, so it runs on this tree's registry and threads). Both run on the same float32
arrays, alternating call by call, after a warm-up call each (Numba's compilation); the table shows
the median milliseconds of each pass and the ratio old / new. --cpu-time measures the process's
CPU time instead of the wall clock: steadier on a busy machine, and with --threads 1 the work
itself, without waiting for the other threads. The layers: ResNet-20's three 3x3 stride-1
geometries at batch 64, and the bench's resnet18_3x3 and vgg16_conv3_2 (python -m minicnn.bench).
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import time

import numba
import numpy as np

import minicnn
from minicnn.bench.layers import square_layer
from minicnn.kernels import winograd

LAYERS = {"resnet20_16@32": (64, 16, 32), "resnet20_32@16": (64, 32, 16), "resnet20_64@8": (64, 64, 8),
          "resnet18_3x3": (8, 64, 56), "vgg16_conv3_2": (1, 256, 56)}
PASSES = ("fwd", "bwd_data", "bwd_weight")


def load_revision(revision: str):
    """kernels/winograd.py of `revision`, imported as minicnn.kernels.winograd_<revision> (its kernels
    compiled without Numba's on-disk cache)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    source = subprocess.run(["git", "show", f"{revision}:kernels/winograd.py"], cwd=root, check=True,
                            capture_output=True, text=True).stdout
    name = f"minicnn.kernels.winograd_{revision.replace('-', '_')}"
    spec = importlib.util.spec_from_loader(name, loader=None)
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "minicnn.kernels"  # its relative imports find this tree's registry and threads
    sys.modules[name] = module
    njit = numba.njit  # Numba's on-disk cache needs a file: every njit of the module (its own, and
    numba.njit = lambda *args, **options: njit(*args, **dict(options, cache=False))  # SizedKernel's)
    try:
        exec(compile(source, f"{revision}:kernels/winograd.py", "exec"), module.__dict__)
    finally:
        numba.njit = njit
    return module


def passes(module, x, w, grad_y, geometry, variant_name):
    variant = getattr(module, variant_name)
    return {"fwd": lambda: module._forward(x, w, geometry, variant),
            "bwd_data": lambda: module._backward_data(grad_y, w, geometry, variant),
            "bwd_weight": lambda: module.winograd_backward_weight(x, grad_y, geometry)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--against", required=True, help="the git revision to compare with")
    parser.add_argument("--layers", default=",".join(LAYERS), help="comma-separated, from: " + ", ".join(LAYERS))
    parser.add_argument("--variant", default="F4X3", choices=("F2X3", "F4X3"))
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--threads", type=int, default=None, help="minicnn.set_num_threads (default: all)")
    parser.add_argument("--cpu-time", action="store_true", help="process CPU time instead of the wall clock")
    args = parser.parse_args(argv)
    if args.threads is not None:
        minicnn.set_num_threads(args.threads)
    clock = time.process_time if args.cpu_time else time.perf_counter
    old = load_revision(args.against)
    measure = "CPU time" if args.cpu_time else "wall clock"
    print(f"{args.variant}, float32, {minicnn.get_num_threads()} threads, {measure}, medians of {args.rounds}; "
          f"load average {os.getloadavg()[0]:.2f} at the start")
    print(f"{'layer':16s} {'pass':10s} {args.against:>10s} {'this tree':>10s}  ratio")
    for name in args.layers.split(","):
        n, c, size = LAYERS[name]
        geometry = square_layer(name, n, c, size, c, 3, 1, 1).geometry()
        rng = np.random.default_rng(0)
        x, w, grad_y = (rng.standard_normal(shape, dtype=np.float32)
                        for shape in (geometry.input_shape, geometry.weight_shape, geometry.output_shape))
        calls = [passes(module, x, w, grad_y, geometry, args.variant) for module in (old, winograd)]
        for p in PASSES:
            times = ([], [])
            for call, _ in zip(calls, times):
                call[p]()
            for _ in range(args.rounds):
                for call, samples in zip(calls, times):
                    start = clock()
                    call[p]()
                    samples.append(clock() - start)
            before, after = (statistics.median(samples) * 1e3 for samples in times)
            print(f"{name:16s} {p:10s} {before:10.2f} {after:10.2f}  {before / after:4.2f}x", flush=True)
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    sys.exit(main())
