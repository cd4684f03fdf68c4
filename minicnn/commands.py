"""The `python -m minicnn train` and `python -m minicnn eval` commands.

    python -m minicnn train --arch resnet_cifar --depth 20 --dataset shapes --epochs 30 \\
        --optimizer sgd --lr 0.1 --momentum 0.9 --weight-decay 5e-4 --schedule cosine --out runs/r20
    python -m minicnn train ... --out runs/r20 --resume       # continue where it stopped
    python -m minicnn eval --checkpoint runs/r20/best.npz    # accuracy, top-5, P/R/F1, confusion

Datasets: digits (the bundled UCI digits, 8x8 or resampled to 32x32), shapes (procedural,
offline), mnist:DIR, fashion-mnist:DIR, cifar10:DIR, cifar100:DIR (files already on disk);
shapes-seg (Shapes' per-pixel masks, for the segmentation networks fcn*), signals (1-D, for
cnn1d) and volumes (3-D, for cnn3d), both procedural.
Any zoo builder works (`--arch`, its options by --width, --depth, or --option name=value);
num_classes and, where the builder has it, input_size come from the dataset. A 1-channel
dataset feeding a 3-channel model is an error unless --gray-to-rgb repeats the channel.
Every checkpoint records the architecture, its options and the dataset, so eval rebuilds the model.
"""
from __future__ import annotations

import argparse
import ast
import shlex
import sys

import numpy as np

from . import architectures, optim
from .metrics import classification_report
from .metrics_segmentation import segmentation_report
from .optim import lr_scheduler
from .random import manual_seed
from .train import fit, predict, read_checkpoint
from .train.checkpoint import load_model_state

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad")
SCHEDULES = ("none", "step", "multistep", "cosine", "plateau", "onecycle", "warmup-cosine")


class CommandError(Exception):
    """A mistake in the command line or its files: printed as one line, exit status 2."""


# ---- data ------------------------------------------------------------------------------------
def open_datasets(spec: str, image_size=None, num_train=None, num_test=None, seed=0, gray_to_rgb=False):
    """(train, test) Datasets for a --dataset spec; their images (N, C, S, S) float32 in [0, 1]."""
    from . import data

    name, _, root = spec.partition(":")
    if name in ("mnist", "fashion-mnist", "cifar10", "cifar100") and not root:
        raise CommandError(f"--dataset {name} needs the folder holding the files: --dataset {name}:DIR")
    if name == "digits":
        size = image_size or 32
        if size not in (8, 32):
            raise CommandError(f"--image-size for digits must be 8 or 32, got {size}")
        train, test = data.Digits("train", size=size), data.Digits("test", size=size)
    elif name in ("shapes", "shapes-seg"):
        size, masks = image_size or 32, name == "shapes-seg"
        train = data.Shapes(num_train, image_size=size, seed=seed, split="train", segmentation=masks)
        test = data.Shapes(num_test, image_size=size, seed=seed, split="test", segmentation=masks)
        num_train = num_test = None
    elif name == "signals":  # --image-size is the signal length
        length = image_size or 256
        train = data.Signals(num_train, length=length, seed=seed, split="train")
        test = data.Signals(num_test, length=length, seed=seed, split="test")
        num_train = num_test = None
    elif name == "volumes":  # --image-size is the side of the cube
        size = image_size or 16
        train = data.Volumes(num_train, size=size, seed=seed, split="train")
        test = data.Volumes(num_test, size=size, seed=seed, split="test")
        num_train = num_test = None
    elif name in ("mnist", "fashion-mnist"):
        cls = data.MNIST if name == "mnist" else data.FashionMNIST
        train, test = cls(root, train=True), cls(root, train=False)
    elif name in ("cifar10", "cifar100"):
        cls = data.CIFAR10 if name == "cifar10" else data.CIFAR100
        train, test = cls(root, train=True), cls(root, train=False)
    else:
        raise CommandError(f"unknown --dataset {spec!r}: use digits, shapes, shapes-seg, signals, volumes, "
                           f"mnist:DIR, fashion-mnist:DIR, cifar10:DIR or cifar100:DIR")
    generated = ("digits", "shapes", "shapes-seg", "signals", "volumes")  # made at the asked size
    if image_size and name not in generated and train.images.shape[-1] != image_size:
        raise CommandError(f"--image-size {image_size}: {name} images are {train.images.shape[-1]}x"
                           f"{train.images.shape[-1]} and are not resized")
    train, test = limit(train, num_train), limit(test, num_test)
    if gray_to_rgb:
        train, test = (three_channels(d) for d in (train, test))
    return train, test


def limit(dataset, n):
    from .data import Subset

    return dataset if n is None or n >= len(dataset) else Subset(dataset, np.arange(n))


def whole(dataset):
    """(images, labels) arrays of a dataset of whole arrays (a built-in one, a TensorDataset, Subsets of these)."""
    from .data.loader import whole_arrays

    arrays, index_map = whole_arrays(dataset)
    if arrays is None:
        raise CommandError(f"the dataset {type(dataset).__name__} does not hold whole image arrays")
    images, labels = arrays[:2]
    return (images, labels) if index_map is None else (images[index_map], labels[index_map])


def three_channels(dataset):
    """A 1-channel dataset as RGB, the grey level repeated in each channel (--gray-to-rgb)."""
    from .data import TensorDataset

    images, labels = whole(dataset)
    if images.shape[1] != 1:
        raise CommandError(f"--gray-to-rgb: the images already have {images.shape[1]} channels")
    rgb = TensorDataset(np.repeat(images, 3, axis=1), labels)
    rgb.classes = class_names(dataset)
    return rgb


def class_names(dataset):
    while not hasattr(dataset, "classes") and hasattr(dataset, "dataset"):
        dataset = dataset.dataset
    return list(getattr(dataset, "classes", None) or [])


# ---- model -----------------------------------------------------------------------------------
def parse_option(text: str):
    """'name=value' with value a Python literal (3, 0.5, True, (4, 4)) or else a string."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise CommandError(f"--option expects name=value, got {text!r}")
    try:
        return name, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return name, value


def model_options(arch: str, args, num_classes: int, image_size: int) -> dict:
    """The builder's options: those given, num_classes from the data, input_size if the builder has it."""
    if arch not in architectures.BUILDERS:
        raise CommandError(f"unknown --arch {arch!r}; available: {', '.join(architectures.available())}")
    accepted = architectures.options_of(architectures.BUILDERS[arch])
    options = dict(parse_option(o) for o in args.option or [])
    for name in ("width", "depth"):
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    options["num_classes"] = num_classes
    if "input_size" in accepted and "input_size" not in options:
        options["input_size"] = image_size
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise CommandError(f"{arch} has no option {', '.join(unknown)}; its options are {', '.join(accepted)}")
    return options


def build_model(arch: str, options: dict, seed: int):
    try:
        return architectures.build(arch, **options, generator=np.random.default_rng([seed, 0]))
    except (ValueError, TypeError) as error:
        raise CommandError(str(error)) from error


def check_channels(model, images, arch, dataset):
    wanted, given = model.input_shape[0], images.shape[1]
    if wanted != given:
        hint = " (add --gray-to-rgb to repeat the grey channel)" if (given, wanted) == (1, 3) else ""
        raise CommandError(f"{arch} takes {wanted}-channel images but {dataset} has {given}{hint}")


# ---- optimisation ----------------------------------------------------------------------------
def make_optimizer(name, params, lr, momentum, weight_decay):
    if name == "sgd":
        return optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "rmsprop":
        return optim.RMSprop(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "adagrad":
        return optim.Adagrad(params, lr=lr, weight_decay=weight_decay)
    cls = optim.Adam if name == "adam" else optim.AdamW
    return cls(params, lr=lr, weight_decay=weight_decay)


def make_schedule(name, optimizer, epochs, steps_per_epoch, lr):
    """The --schedule choices: step (x0.1 every third of the run), multistep (x0.1 at 1/2 and 3/4,
    ResNet's), cosine, plateau (x0.1 when the validation loss stalls for 2 epochs, AlexNet's),
    onecycle (per batch, peak --lr), warmup-cosine (linear warm-up over ~1/10 of the epochs)."""
    if name == "none":
        return None
    if name == "step":
        return lr_scheduler.StepLR(optimizer, step_size=max(1, epochs // 3))
    if name == "multistep":
        return lr_scheduler.MultiStepLR(optimizer, milestones=[max(1, epochs // 2), max(1, 3 * epochs // 4)])
    if name == "cosine":
        return lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    if name == "plateau":
        return lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.1, patience=2)
    if name == "onecycle":
        cycle = "momentum" in optimizer.defaults or "betas" in optimizer.defaults
        return lr_scheduler.OneCycleLR(optimizer, max_lr=lr, epochs=epochs, steps_per_epoch=steps_per_epoch,
                                       cycle_momentum=cycle)
    warmup = max(1, epochs // 10)
    if epochs <= warmup:
        return lr_scheduler.LinearLR(optimizer, start_factor=0.1, total_iters=warmup)
    return lr_scheduler.SequentialLR(optimizer, [lr_scheduler.LinearLR(optimizer, start_factor=0.1, total_iters=warmup),
                                                 lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs - warmup)],
                                     milestones=[warmup])


# ---- commands --------------------------------------------------------------------------------
def train_parser(sub):
    p = sub.add_parser("train", help="train a zoo model on a dataset",
                       description="Train a zoo architecture; see `python -m minicnn train --help`.")
    p.add_argument("--arch", required=True, help="a zoo builder: " + ", ".join(architectures.available()))
    p.add_argument("--width", type=float, help="width multiplier (builders that have one)")
    p.add_argument("--depth", type=int, help="depth (builders that have one)")
    p.add_argument("--option", action="append", metavar="NAME=VALUE", help="any other builder option (repeatable)")
    p.add_argument("--dataset", default="shapes", help="digits | shapes | shapes-seg | signals | volumes | "
                                                        "mnist:DIR | fashion-mnist:DIR | cifar10:DIR | cifar100:DIR")
    p.add_argument("--image-size", type=int, help="image side (digits: 8 or 32; shapes: any >= 16)")
    p.add_argument("--num-train", type=int, help="use only the first N training images")
    p.add_argument("--num-test", type=int, help="use only the first N test images")
    p.add_argument("--gray-to-rgb", action="store_true", help="repeat a grey channel three times for RGB models")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="sgd")
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--momentum", type=float, default=0.9, help="sgd and rmsprop")
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--schedule", choices=SCHEDULES, default="cosine")
    p.add_argument("--label-smoothing", type=float, default=0.0)
    p.add_argument("--clip-grad-norm", type=float)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="run folder: checkpoints last.npz / best.npz and metrics.jsonl")
    p.add_argument("--resume", action="store_true", help="continue the run in --out where it stopped")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def train(args, argv) -> int:
    from .data import DataLoader

    for name in ("epochs", "batch_size"):
        if getattr(args, name) <= 0:
            raise CommandError(f"--{name.replace('_', '-')} must be positive")
    if args.resume and not args.out:
        raise CommandError("--resume needs --out, the run folder to continue")
    manual_seed(args.seed)
    train_set, test_set = open_datasets(args.dataset, args.image_size, args.num_train, args.num_test,
                                        args.seed, args.gray_to_rgb)
    images, labels = whole(train_set)
    num_classes = max(len(class_names(train_set)), int(labels.max()) + 1)
    options = model_options(args.arch, args, num_classes, images.shape[-1])
    model = build_model(args.arch, options, args.seed)
    check_channels(model, images, args.arch, args.dataset)
    train_loader = DataLoader(train_set, args.batch_size, shuffle=True, generator=np.random.default_rng([args.seed, 1]))
    test_loader = DataLoader(test_set, 256)
    optimizer = make_optimizer(args.optimizer, model.parameters(), args.lr, args.momentum, args.weight_decay)
    scheduler = make_schedule(args.schedule, optimizer, args.epochs, len(train_loader), args.lr)
    config = {"arch": args.arch, "options": options, "dataset": args.dataset, "image_size": images.shape[-1],
              "gray_to_rgb": args.gray_to_rgb, "seed": args.seed, "num_test": args.num_test,
              "command": "python -m minicnn " + shlex.join(argv)}
    print(f"minicnn: {args.arch} ({sum(p.numel() for p in model.parameters()):,} parameters) on {args.dataset} "
          f"({len(train_set)} train / {len(test_set)} test, {'x'.join(map(str, images.shape[1:]))}), "
          f"{args.optimizer} lr {args.lr}, schedule {args.schedule}, seed {args.seed}")
    try:
        fit(model, train_loader, test_loader, optimizer, args.epochs, scheduler, label_smoothing=args.label_smoothing,
            clip_grad_norm=args.clip_grad_norm, out=args.out, resume=args.resume, progress=not args.no_progress,
            config=config)
    except KeyboardInterrupt:
        if args.out:
            again = argv if "--resume" in argv else [*argv, "--resume"]
            print(f"to continue: python -m minicnn {shlex.join(again)}", file=sys.stderr)
        return 130
    scores, targets = predict(model, test_loader)
    print("\nfinal model on the test set\n" + report(scores, targets, num_classes, class_names(test_set)))
    return 0


def report(scores, targets, num_classes, names):
    """The classification table, or for per-pixel targets (shapes-seg) the segmentation one,
    whose class 0 is the background."""
    if targets.ndim == 1:
        return classification_report(scores, targets, num_classes, names or None)
    names = ["background", *names] if len(names) == num_classes - 1 else None
    return segmentation_report(scores, targets, num_classes, names)


def eval_parser(sub):
    p = sub.add_parser("eval", help="evaluate a checkpoint: accuracy, top-5 error, per-class P/R/F1, confusion")
    p.add_argument("--checkpoint", required=True, help="a run's last.npz or best.npz")
    p.add_argument("--dataset", help="default: the dataset the run trained on (its test split)")
    p.add_argument("--num-test", type=int, help="use only the first N test images")
    p.add_argument("--batch-size", type=int, default=256)
    return p


def evaluate_checkpoint(args, argv) -> int:
    from .data import DataLoader

    try:
        state = read_checkpoint(args.checkpoint)
    except (OSError, ValueError, KeyError) as error:
        raise CommandError(f"cannot read the checkpoint {args.checkpoint}: {error}") from error
    config = state.get("config") or {}
    if "arch" not in config:
        raise CommandError(f"{args.checkpoint} does not record its architecture (not saved by `python -m minicnn train`)")
    spec = args.dataset or config["dataset"]
    num_test = args.num_test if args.num_test is not None else config.get("num_test")
    _, test_set = open_datasets(spec, config["image_size"], 1, num_test, config.get("seed", 0),
                                config.get("gray_to_rgb", False))
    model = build_model(config["arch"], config["options"], config.get("seed", 0))
    try:
        load_model_state(model, state["model"], args.checkpoint)
    except ValueError as error:
        raise CommandError(str(error)) from error
    images, _ = whole(test_set)
    check_channels(model, images, config["arch"], spec)
    scores, targets = predict(model, DataLoader(test_set, args.batch_size))
    print(f"{config['arch']} from {args.checkpoint} (epoch {state['epoch']}) on {spec}, {len(targets)} test images")
    print(report(scores, targets, config["options"]["num_classes"], class_names(test_set)))
    return 0


def run(argv) -> int:
    """Parse `argv` (starting with the subcommand) and run it; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m minicnn", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    train_parser(sub)
    eval_parser(sub)
    args = parser.parse_args(argv)
    try:
        return train(args, argv) if args.command == "train" else evaluate_checkpoint(args, argv)
    except (CommandError, FileNotFoundError, FloatingPointError, OSError, ValueError, TypeError) as error:
        print(f"python -m minicnn {args.command}: error: {error}", file=sys.stderr)
        return 2
