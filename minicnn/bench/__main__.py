"""python -m minicnn.bench: which convolution algorithm wins which layer, by how much, at what
memory and numerical cost, and how far that is from PyTorch.

What is benchmarked: the default layer set (--layers), one layer (--layer
"N,C,H,W,K,kh,kw,stride,pad,dilation,groups"), or every convolution of a model (--model NAME from
minicnn.architectures, or --module package.module:factory for your own nn.Module), each distinct
geometry once, with the model's total per algorithm choice.

Times are medians over repeats after a warm-up call (whose extra time, Numba's compilation or
cache load, is reported as "compile s" with --verbose). GFLOP/s counts the direct method's
2 x multiply-adds whatever the algorithm does, so a faster algorithm shows as a higher rate.
"workspace" is measured: the peak bytes tracemalloc sees NumPy allocate during one call, beyond
the returned array (small scratch arrays allocated inside Numba kernels are not seen; "declared"
is the algorithm's own estimate). "error" is the float32 result's
max |y - y64| / max |y64| against float64 im2col; "NaN reach" counts the outputs made non-finite
by one NaN in the input, against the count the definition gives.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

from .. import kernels
from . import machine, models, report
from .layers import LAYERS, parse_layer
from .runner import PASSES, run_layer

PROG = "python -m minicnn.bench"


class UsageError(Exception):
    """A bad command line or a missing optional dependency: one line on stderr, exit code 2."""


def _names(text, known, what):
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UsageError(f"unknown {what}: {', '.join(unknown)}; choose from {', '.join(known)}")
    return names


def _ints(text, option):
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise UsageError(f"{option} wants comma-separated integers, got {text!r}") from None
    if not 1 <= len(values) <= 3 or min(values) <= 0:
        raise UsageError(f"{option} wants H, H,W or C,H,W (positive), got {text!r}")
    return values


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    what = p.add_mutually_exclusive_group()
    what.add_argument("--layers", help="comma-separated names from the default set (default: all)")
    what.add_argument("--layer", metavar="SPEC", help='one layer: "N,C,H,W,K,kh,kw,stride,pad,dilation,groups"')
    what.add_argument("--model", metavar="NAME", help="every convolution of a minicnn.architectures model")
    what.add_argument("--module", metavar="PKG.MOD:FACTORY", help="every convolution of your nn.Module")
    p.add_argument("--input-size", metavar="[C,]H[,W]", help="model input (default: the model's own; "
                   "required with --module)")
    p.add_argument("--width", type=float, help="width multiplier of a --model")
    p.add_argument("--batch", type=int, help="batch size (default: each layer's; 1 for models)")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    p.add_argument("--algorithms", default=None, help="comma-separated (default: all registered)")
    p.add_argument("--passes", default=",".join(PASSES))
    p.add_argument("--repeats", type=int, help="timed calls per measurement (default 7, --quick 5)")
    p.add_argument("--budget", type=float, help="seconds of repeats per measurement (default 1, --quick 0.05)")
    p.add_argument("--quick", action="store_true", help="tiny layers, a model at a quarter of its input size")
    p.add_argument("--no-numpy", action="store_true", help="skip the NumPy baseline")
    p.add_argument("--compare", choices=("torch",), help="add PyTorch's CPU convolution")
    p.add_argument("--verbose", action="store_true", help="every algorithm of every layer and pass")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (none when stderr is not a terminal)")
    p.add_argument("--json", metavar="PATH")
    p.add_argument("--csv", metavar="PATH")
    p.add_argument("--plot", metavar="PATH.png", help="charts of GFLOP/s per layer, algorithm and pass (matplotlib)")
    return p


def _check_optional_dependencies(args):
    """Fail before any work if an option needs what is not installed."""
    if args.plot:
        from .plot import require_matplotlib

        try:
            require_matplotlib()
        except SystemExit as error:
            raise UsageError(str(error)) from None
    if args.compare == "torch":
        try:
            import torch
        except ImportError:
            raise UsageError("--compare torch needs PyTorch: pip install 'minicnn[compare]'") from None
        import numba

        torch.set_num_threads(numba.get_num_threads())
        return torch
    return None


def _select(args, dtype):
    """(layers, title, model or None, model input shape or None)."""
    if args.batch is not None and args.batch <= 0:
        raise UsageError("--batch must be positive")
    if args.model or args.module:
        size = _ints(args.input_size, "--input-size") if args.input_size else None
        try:
            if args.model:
                model, size = models.zoo_model(args.model, args.width, size)
                if args.quick and not args.input_size:
                    size = tuple(max(32, n // 4) for n in size)
                    model, size = models.zoo_model(args.model, args.width, size)
            else:
                if size is None:
                    raise UsageError("--module needs --input-size (H, H,W or C,H,W)")
                model = models.user_model(args.module)
            shape = models.input_shape(model, size, args.batch or 1)
            layers = models.conv_layers(model, shape, dtype)
        except models.ModelError as error:
            raise UsageError(str(error)) from None
        name = args.model or args.module
        return layers, f"{name}, input {'x'.join(map(str, shape))}", model, shape
    if args.input_size or args.width:
        raise UsageError("--input-size and --width apply to --model and --module")
    if args.layer:
        try:
            layers = [parse_layer(args.layer)]
        except ValueError as error:
            raise UsageError(str(error)) from None
    else:
        layers = [LAYERS[n] for n in _names(args.layers or ",".join(LAYERS), list(LAYERS), "layers")]
    if args.batch is not None:
        layers = [layer.with_batch(args.batch) for layer in layers]
    if args.quick and not args.layer:
        layers = [layer.shrunk() for layer in layers]
    return layers, f"{len(layers)} layer{'s' * (len(layers) > 1)}", None, None


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        return _run(args)
    except UsageError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2


def _run(args) -> int:
    torch = _check_optional_dependencies(args)
    dtype = np.dtype(args.dtype)
    algorithms = _names(args.algorithms or ",".join(kernels.ALGORITHMS), list(kernels.ALGORITHMS), "algorithms")
    passes = _names(args.passes, list(PASSES), "passes")
    layers, title, model, shape = _select(args, dtype)
    repeats = args.repeats or (5 if args.quick else 7)
    budget = args.budget if args.budget is not None else (0.05 if args.quick else 1.0)

    info = machine.describe()
    print(f"minicnn.bench: {title}, {args.dtype}; per pass the fastest algorithm and its median time")
    print(machine.summary_line(info))
    if torch is not None:
        print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads, oneDNN "
              f"{'on' if torch.backends.mkldnn.is_available() else 'off'}")

    from tqdm import tqdm

    bar = tqdm(total=len(layers) * len(passes) * len(algorithms), file=sys.stderr, leave=False, unit="run",
               disable=args.no_progress or not sys.stderr.isatty())

    def progress(text):
        bar.set_description(text, refresh=False)
        bar.update(1)

    rows = []
    for layer in layers:
        rows += run_layer(layer, algorithms, passes, dtype, repeats, budget, info["sgemm_gflops"],
                          torch is not None, not args.no_numpy, progress)
    whole = models.whole_model_times(model, shape, dtype, repeats, budget) if model is not None else None
    bar.close()

    if args.verbose:
        print("\n" + "\n".join(report.row_block(row) for row in rows))
    print()
    print(report.summary_table(rows, torch is not None))
    print(report.closing_summary(rows, info, {layer.name: layer for layer in layers}, by_time=model is not None))
    model_summary = None
    if model is not None:
        choices = models.totals(rows, algorithms)
        print(report.model_block(f"Convolutions of {title} ({sum(l.count for l in layers)} layers, "
                                 f"{len(layers)} distinct), total ms per algorithm choice:", choices, whole))
        model_summary = {"title": title, "whole_forward_ms": whole[0], "whole_forward_backward_ms": whole[1],
                         "totals": {name: sums for name, sums, _ in choices}}
    if not args.verbose:
        print("\n(--verbose: every algorithm; --json/--csv FILE: machine-readable; --plot FILE.png: charts)")
    if args.json:
        report.write_json(args.json, rows, info, model_summary)
    if args.csv:
        report.write_csv(args.csv, rows)
    if args.plot:
        from .plot import write_plot

        write_plot(args.plot, rows, f"minicnn.bench: {title}, {args.dtype}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
