"""python -m minicnn: train a classifier on the bundled digits and report test accuracy."""
from __future__ import annotations

import argparse
import sys

import numpy as np

from . import nn, optim
from .data import DataLoader, load_digits
from .train import evaluate, fit


def mlp(generator) -> nn.Module:
    """64 -> 128 -> 10 with ReLU: the smallest model that learns the digits well."""
    return nn.Sequential(nn.Linear(64, 128, generator=generator), nn.ReLU(),
                         nn.Linear(128, 10, generator=generator))


MODELS = {"mlp": mlp}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m minicnn", description=__doc__)
    parser.add_argument("--model", choices=sorted(MODELS), default="mlp")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.epochs <= 0 or args.batch_size <= 0 or args.lr <= 0:
        parser.error("--epochs, --batch-size and --lr must be positive")

    generator = np.random.default_rng(args.seed)
    flat = args.model == "mlp"
    x_train, y_train = load_digits("train", flatten=flat)
    x_test, y_test = load_digits("test", flatten=flat)
    model = MODELS[args.model](generator)
    print(f"minicnn: {args.model} on the UCI digits ({len(x_train)} train / {len(x_test)} test), "
          f"{sum(p.size for p in model.parameters()):,} parameters, seed {args.seed}")
    optimizer = optim.Adam(model.parameters(), lr=args.lr)
    loader = DataLoader(x_train, y_train, args.batch_size, shuffle=True, generator=generator)
    fit(model, optimizer, loader, (x_test, y_test), epochs=args.epochs)
    accuracy = evaluate(model, x_test, y_test)
    print(f"final test accuracy: {100 * accuracy:.2f}% ({round(accuracy * len(y_test))}/{len(y_test)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
