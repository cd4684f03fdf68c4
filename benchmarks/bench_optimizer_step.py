"""One optimiser step over many parameters, minicnn against PyTorch, on one thread each.

The parameters are float32 tensors of the sizes of VGG-16's (138M values) scaled to --millions
in total (default 45), each with a gradient; the table is the median time of a step of SGD with
momentum, Adam and AdamW after two warm-up steps (which create the state). Each framework runs
in its own process.

    python benchmarks/bench_optimizer_step.py [--millions 45] [--repeats 10]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

# VGG-16's parameter shapes in values per tensor (weights and biases), scaled to the total asked for
VGG16 = (1728, 64, 36864, 64, 73728, 128, 147456, 128, 294912, 256, 589824, 256, 589824, 256,
         1179648, 512, 2359296, 512, 2359296, 512, 2359296, 512, 2359296, 512, 2359296, 512,
         102760448, 4096, 16777216, 4096, 4096000, 1000)
OPTIMIZERS = {"SGD": dict(lr=0.01, momentum=0.9), "Adam": dict(lr=1e-3), "AdamW": dict(lr=1e-3)}


def sizes(millions: float) -> list:
    scale = millions * 1e6 / sum(VGG16)
    return [max(1, int(n * scale)) for n in VGG16]


def child(framework: str, millions: float, repeats: int) -> dict:
    import numpy as np

    rng = np.random.default_rng(0)
    arrays = [(rng.standard_normal(n, dtype=np.float32), rng.standard_normal(n, dtype=np.float32))
              for n in sizes(millions)]
    if framework == "torch":
        import torch

        torch.set_num_threads(1)
        params = [torch.nn.Parameter(torch.from_numpy(p)) for p, _ in arrays]
        for p, (_, g) in zip(params, arrays):
            p.grad = torch.from_numpy(g)
        optimizers = {name: getattr(torch.optim, name)(params, **options) for name, options in OPTIMIZERS.items()}
    else:
        import minicnn

        minicnn.set_num_threads(1)
        params = [minicnn.nn.Parameter(p) for p, _ in arrays]
        for p, (_, g) in zip(params, arrays):
            p.grad = minicnn.tensor(g)
        optimizers = {name: getattr(minicnn.optim, name)(params, **options) for name, options in OPTIMIZERS.items()}
    result = {}
    for name, optimizer in optimizers.items():
        for _ in range(2):
            optimizer.step()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            optimizer.step()
            times.append(time.perf_counter() - start)
        result[name] = 1e3 * statistics.median(times)
    return result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--millions", type=float, default=45.0, help="parameter values in total, in millions")
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--child", choices=("minicnn", "torch"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.millions, args.repeats)))
        return 0
    results = {}
    for framework in ("minicnn", "torch"):
        done = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", framework,
                               "--millions", str(args.millions), "--repeats", str(args.repeats)],
                              capture_output=True, text=True, check=True)
        results[framework] = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"{sum(sizes(args.millions)) / 1e6:.1f}M float32 parameters, one thread, median of {args.repeats} steps")
    print(f"{'optimiser':<10} {'minicnn ms':>10} {'torch ms':>9} {'ratio':>6}")
    for name in OPTIMIZERS:
        mine, theirs = results["minicnn"][name], results["torch"][name]
        print(f"{name:<10} {mine:>10.1f} {theirs:>9.1f} {mine / theirs:>5.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
