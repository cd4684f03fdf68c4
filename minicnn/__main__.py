"""python -m minicnn: train a classifier on the bundled digits and report test accuracy.

--model lenet5 (the default) trains LeNet-5 on the 8x8 digits resampled to its 32x32 input
(bilinear interpolation); --model mlp trains a one-hidden-layer perceptron on the 64 raw pixels.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

from . import nn, optim
from .architectures import build
from .data import DataLoader, TensorDataset, load_digits
from .train import evaluate, fit


def mlp(generator) -> nn.Module:
    """64 -> 128 -> 10 with ReLU: the smallest model that learns the digits well."""
    return nn.Sequential(nn.Linear(64, 128, generator=generator), nn.ReLU(),
                         nn.Linear(128, 10, generator=generator))


def lenet5(generator) -> nn.Module:
    return build("lenet5", num_classes=10, generator=generator)


def digits(split: str, model: str):
    """The digits as the model wants them: (N, 64) for the MLP, (N, 1, 32, 32) for LeNet-5."""
    return load_digits(split, flatten=model == "mlp", size=32 if model == "lenet5" else 8)


MODELS = {"mlp": mlp, "lenet5": lenet5}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m minicnn", description=__doc__)
    parser.add_argument("--model", choices=sorted(MODELS), default="lenet5")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.epochs <= 0 or args.batch_size <= 0 or args.lr <= 0:
        parser.error("--epochs, --batch-size and --lr must be positive")

    generator = np.random.default_rng(args.seed)
    x_train, y_train = digits("train", args.model)
    x_test, y_test = digits("test", args.model)
    model = MODELS[args.model](generator)
    print(f"minicnn: {args.model} on the UCI digits ({len(x_train)} train / {len(x_test)} test), "
          f"{sum(p.size for p in model.parameters()):,} parameters, seed {args.seed}")
    optimizer = optim.Adam(model.parameters(), lr=args.lr)
    loader = DataLoader(TensorDataset(x_train, y_train), args.batch_size, shuffle=True, generator=generator)
    fit(model, optimizer, loader, (x_test, y_test), epochs=args.epochs)
    accuracy = evaluate(model, x_test, y_test)
    print(f"final test accuracy: {100 * accuracy:.2f}% ({round(accuracy * len(y_test))}/{len(y_test)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
