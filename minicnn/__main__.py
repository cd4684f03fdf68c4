"""python -m minicnn: train LeNet-5 on the bundled digits and report test accuracy.

With no subcommand this is the quick demonstration: --model lenet5 (the default) trains LeNet-5
(tanh, average pooling) on the 8x8 digits resampled to its 32x32 input; --model mlp trains a
one-hidden-layer perceptron on the 64 raw pixels.

    python -m minicnn train --arch NAME --dataset shapes ...   train any zoo model (see train --help)
    python -m minicnn eval --checkpoint RUN/last.npz            the metrics table of a saved run
    python -m minicnn viz KIND --checkpoint RUN/best.npz --out F  figures (see viz --help)
    python -m minicnn lab NAME                                  experiments that test the notes' claims
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

from . import nn, optim
from .architectures import build
from .data import DataLoader, Digits, TensorDataset, load_digits
from .train import evaluate, fit


def mlp(generator) -> nn.Module:
    """64 -> 128 -> 10 with ReLU: the smallest model that learns the digits well."""
    return nn.Sequential(nn.Linear(64, 128, generator=generator), nn.ReLU(),
                         nn.Linear(128, 10, generator=generator))


def lenet5(generator) -> nn.Module:
    return build("lenet5", num_classes=10, generator=generator)


def digits(split: str, model: str):
    """The digits as the model wants them: (N, 64) for the MLP, (N, 1, 32, 32) for LeNet-5."""
    if model == "mlp":
        return TensorDataset(*load_digits(split, flatten=True))
    return Digits(split, size=32)


MODELS = {"mlp": mlp, "lenet5": lenet5}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in ("train", "eval"):
        from .commands import run
        return run(argv)
    if argv and argv[0] in ("viz", "lab"):  # python -m minicnn viz ... is python -m minicnn.viz ...
        from importlib import import_module
        return import_module(f".{argv[0]}.__main__", __package__).main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m minicnn", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=sorted(MODELS), default="lenet5")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.epochs <= 0 or args.batch_size <= 0 or args.lr <= 0:
        parser.error("--epochs, --batch-size and --lr must be positive")

    generator = np.random.default_rng(args.seed)
    train_set, test_set = digits("train", args.model), digits("test", args.model)
    model = MODELS[args.model](generator)
    print(f"minicnn: {args.model} on the UCI digits ({len(train_set)} train / {len(test_set)} test), "
          f"{sum(p.numel() for p in model.parameters()):,} parameters, seed {args.seed}")
    optimizer = optim.Adam(model.parameters(), lr=args.lr)
    loader = DataLoader(train_set, args.batch_size, shuffle=True, generator=generator)
    test_loader = DataLoader(test_set, 256)
    fit(model, loader, test_loader, optimizer, args.epochs, progress=False)
    accuracy = evaluate(model, test_loader)["accuracy"]
    print(f"final test accuracy: {100 * accuracy:.2f}% ({round(accuracy * len(test_set))}/{len(test_set)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
