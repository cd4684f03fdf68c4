"""python -m minicnn.bench: which convolution algorithm wins which layer, by how much, at what
memory and numerical cost, and how far that is from PyTorch.

Times are medians over repeats after a warm-up call (whose extra time, Numba's compilation or
cache load, is reported as "compile s"). GFLOP/s counts the direct method's 2 x multiply-adds
whatever the algorithm does, so a faster algorithm shows as a higher rate.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

from .. import kernels
from . import machine, report
from .layers import LAYERS
from .runner import PASSES, run_layer


def _names(text, known, what):
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"unknown {what}: {', '.join(unknown)}; choose from {', '.join(known)}")
    return names


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m minicnn.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layers", default=",".join(LAYERS), help="comma-separated layer names")
    parser.add_argument("--batch", type=int, help="override every layer's batch size")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--algorithms", default=None, help="comma-separated (default: all registered)")
    parser.add_argument("--passes", default=",".join(PASSES))
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--budget", type=float, default=1.0, help="seconds of repeats per measurement")
    parser.add_argument("--quick", action="store_true", help="tiny copies of the layers (for CI)")
    parser.add_argument("--no-numpy", action="store_true", help="skip the NumPy baseline column")
    parser.add_argument("--compare", choices=("torch",), help="add PyTorch's CPU convolution")
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("--csv", metavar="PATH")
    parser.add_argument("--plot", metavar="PATH", help="bar chart of GFLOP/s (needs matplotlib)")
    args = parser.parse_args(argv)

    layers = [LAYERS[n] for n in _names(args.layers, list(LAYERS), "layers")]
    algorithms = _names(args.algorithms or ",".join(kernels.ALGORITHMS), list(kernels.ALGORITHMS), "algorithms")
    passes = _names(args.passes, list(PASSES), "passes")
    if args.batch is not None:
        if args.batch <= 0:
            parser.error("--batch must be positive")
        layers = [layer.with_batch(args.batch) for layer in layers]
    if args.quick:
        layers = [layer.shrunk() for layer in layers]
    torch_conv = False
    if args.compare == "torch":
        try:
            import torch
        except ImportError:
            raise SystemExit("--compare torch needs PyTorch: pip install 'minicnn[compare]'") from None
        import numba

        torch.set_num_threads(numba.get_num_threads())
        torch_conv = True

    info = machine.describe()
    threads = info["threads"]
    print(f"minicnn.bench: {args.dtype}, {len(layers)} layers, passes {','.join(passes)}")
    print(f"CPU: {info['cpu']} ({threads['cpus']} logical CPUs); Numba threads {threads['numba']}; "
          f"OPENBLAS_CORETYPE {threads['OPENBLAS_CORETYPE']}")
    print(f"BLAS: {info['blas']}; measured SGEMM {info['sgemm_gflops']:.0f} GFLOP/s")
    if torch_conv:
        print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads, oneDNN "
              f"{'on' if torch.backends.mkldnn.is_available() else 'off'}")
    print("* marks the fastest algorithm of each row\n")

    rows = []
    for layer in layers:
        for row in run_layer(layer, algorithms, passes, np.dtype(args.dtype), args.repeats, args.budget,
                             info["sgemm_gflops"], torch_conv, not args.no_numpy):
            print(report.row_block(row), flush=True)
            rows.append(row)
    print(report.torch_summary(rows))
    if args.json:
        report.write_json(args.json, rows, info)
    if args.csv:
        report.write_csv(args.csv, rows)
    if args.plot:
        report.write_plot(args.plot, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
