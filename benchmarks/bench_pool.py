"""Max and average pooling, forward and backward, on training shapes: minicnn against PyTorch.

    python benchmarks/bench_pool.py [--threads 1,2] [--repeats 60] [--baseline OLD_POOL_PY]

Each case runs minicnn's functional op on a float32 batch that requires grad (the graph is
built, as in training), then its backward, and the same in PyTorch (imported here only),
alternating call by call so that both see the same machine load; the table shows medians in ms
and minicnn / PyTorch. Both run on the same number of threads (minicnn.set_num_threads,
torch.set_num_threads). The backward is the pooling node's alone: minicnn's Function.backward,
PyTorch's torch.autograd.grad (which includes its engine's overhead), so that neither copies the
gradient into a leaf's .grad, which in a network it would not do either.

--baseline: another version of minicnn/kernels/pool.py (e.g. `git show main:kernels/pool.py >
old_pool.py`), timed in the same alternation through this version's functional ops, so that old
and new kernels are compared under the same load (columns "old").
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time

import numpy as np

import minicnn
from minicnn import functional as F
from minicnn.functional import pool as functional_pool

# After minicnn, which sets OMP_WAIT_POLICY=passive: PyTorch's OpenMP threads then sleep between
# calls instead of spinning against minicnn's threads on the same cores.
import torch  # noqa: E402

CASES = [
    # (name, shape, minicnn op, torch op), float32, batch 64: LeNet-5, reduced ResNet-18, VGG-11
    ("avg 2x2/2", (64, 6, 28, 28), lambda x: F.avg_pool2d(x, 2, 2), lambda x: torch.nn.functional.avg_pool2d(x, 2, 2)),
    ("avg 2x2/2", (64, 16, 10, 10), lambda x: F.avg_pool2d(x, 2, 2), lambda x: torch.nn.functional.avg_pool2d(x, 2, 2)),
    ("max 3x3/2 p1", (64, 32, 16, 16), lambda x: F.max_pool2d(x, 3, 2, 1),
     lambda x: torch.nn.functional.max_pool2d(x, 3, 2, 1)),
    ("max 2x2/2", (64, 32, 32, 32), lambda x: F.max_pool2d(x, 2, 2), lambda x: torch.nn.functional.max_pool2d(x, 2, 2)),
    ("max 2x2/2", (64, 64, 16, 16), lambda x: F.max_pool2d(x, 2, 2), lambda x: torch.nn.functional.max_pool2d(x, 2, 2)),
]


def load_baseline(path: str):
    """The pooling kernels in `path`, loaded as a module of minicnn.kernels (its relative imports work)."""
    spec = importlib.util.spec_from_file_location("minicnn.kernels.baseline_pool", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # Numba's cache finds the module again by name
    spec.loader.exec_module(module)
    return module


def timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def minicnn_backward(out, x, grad):
    node = out.grad_fn
    node.function.backward(node, grad, *[None] * (len(node.outputs_meta) - 1))


def torch_backward(out, x, grad):
    torch.autograd.grad(out, x, grad, retain_graph=True)


def passes(op, backward, x, grad):
    """(forward, backward) callables for op on x (a minicnn or torch tensor requiring grad)."""
    state = {}

    def forward():
        state["out"] = op(x)

    return forward, lambda: backward(state["out"], x, grad)


def run_case(shape, minicnn_op, torch_op, kernel_sets, repeats, rng):
    """Median ms of {version: (forward, backward)}, versions: the kernel sets and "torch"."""
    x = rng.standard_normal(shape, dtype=np.float32)
    grad = rng.standard_normal(torch_op(torch.from_numpy(x)).shape, dtype=np.float32)
    x_minicnn = minicnn.tensor(x, requires_grad=True)
    x_torch = torch.from_numpy(x.copy()).requires_grad_()
    versions = {"torch": passes(torch_op, torch_backward, x_torch, torch.from_numpy(grad))}
    for name in kernel_sets:
        versions[name] = passes(minicnn_op, minicnn_backward, x_minicnn, grad)
    times = {name: ([], []) for name in versions}
    for repeat in range(repeats + 2):  # the first two calls compile and warm up
        for name, (forward, backward) in versions.items():
            if name in kernel_sets:
                functional_pool.kernels = kernel_sets[name]
            elapsed = timed(forward), timed(backward)
            if repeat >= 2:
                for series, t in zip(times[name], elapsed):
                    series.append(t)
    return {name: tuple(1e3 * float(np.median(s)) for s in series) for name, series in times.items()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", default="1,2")
    p.add_argument("--repeats", type=int, default=60)
    p.add_argument("--baseline", help="another minicnn/kernels/pool.py to time alongside")
    args = p.parse_args(argv)
    kernel_sets = {"new": functional_pool.kernels}
    if args.baseline:
        kernel_sets = {"old": load_baseline(args.baseline), **kernel_sets}
    rng = np.random.default_rng(0)
    columns = [f"{name} {direction}" for name in kernel_sets for direction in ("fwd", "bwd")]
    header = f"{'threads':>7} {'case':<13} {'shape':<13} " + " ".join(f"{c:>8}" for c in columns)
    print(f"median ms per call; ratio = minicnn / torch; load average {os.getloadavg()[0]:.2f} at start")
    print(header + f" {'torch fwd':>9} {'torch bwd':>9} {'ratio fwd':>9} {'ratio bwd':>9}")
    for threads in (int(t) for t in args.threads.split(",")):
        minicnn.set_num_threads(threads)
        torch.set_num_threads(threads)
        for name, shape, minicnn_op, torch_op in CASES:
            ms = run_case(shape, minicnn_op, torch_op, kernel_sets, args.repeats, rng)
            mine = " ".join(f"{t:>8.3f}" for version in kernel_sets for t in ms[version])
            torch_fwd, torch_bwd = ms["torch"]
            new_fwd, new_bwd = ms["new"]
            print(f"{threads:>7} {name:<13} {'x'.join(map(str, shape)):<13} {mine} {torch_fwd:>9.3f} "
                  f"{torch_bwd:>9.3f} {new_fwd / torch_fwd:>8.2f}x {new_bwd / torch_bwd:>8.2f}x")
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
