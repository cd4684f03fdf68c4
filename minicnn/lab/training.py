"""Experiments that train small networks: each compares two or more settings on the same data,
the same initialisation seed and the same batches."""
from __future__ import annotations

import numpy as np

from .. import nn
from ..architectures import build
from ..viz.gradients import gradient_norms
from ..data import Digits, Subset
from .common import accuracy, digits, epochs_to, series, small_cnn, train
from .report import Panel, Report


def relu_vs_tanh(quick: bool = False, seed: int = 0) -> Report:
    """ReLU networks train several times faster than tanh ones (Krizhevsky et al. 2012, section
    3.1, figure 1: 6x to 25% training error on CIFAR-10). The same small CNN with ReLU and with
    tanh, same initialisation seed, SGD lr 0.01 momentum 0.9, on the 8x8 digits. Held if ReLU
    reaches the target training accuracy (95%; quick: 50%) in fewer epochs than tanh (tanh
    never reaching it counts as more)."""
    epochs = 2 if quick else 15
    target = 0.5 if quick else 0.95
    train_set, test_set = digits(quick)
    runs = {}
    for name, activation in (("ReLU", nn.ReLU), ("tanh", nn.Tanh)):
        model = small_cnn(activation=activation, generator=np.random.default_rng(seed))
        runs[name] = train(model, train_set, test_set, epochs=epochs, lr=0.01, seed=seed)
    reach = {name: epochs_to(records, "train_accuracy", target) for name, records in runs.items()}
    rows = [[name, reach[name] or f"> {epochs}", records[-1]["train_loss"], 100 * records[-1]["train_accuracy"],
             100 * records[-1]["val_accuracy"]] for name, records in runs.items()]
    relu, tanh = reach["ReLU"], reach["tanh"]
    held = relu is not None and (tanh is None or relu < tanh)
    if relu is None:
        verdict = f"ReLU did not reach {target:.0%} training accuracy in {epochs} epochs"
    elif tanh is None:
        verdict = f"ReLU reached {target:.0%} in {relu} epochs, tanh not within {epochs}"
    else:
        verdict = f"ReLU reached {target:.0%} in {relu} epochs, tanh in {tanh} ({tanh / relu:.1f}x)"
    return Report(
        "relu-vs-tanh", "ReLU trains faster than tanh",
        ["activation", f"epochs to {target:.0%} train acc", "final train loss", "train acc %", "test acc %"],
        rows, held, verdict,
        setting=f"small CNN (2 conv + 2 FC) on the 8x8 digits ({len(train_set)} train), SGD lr 0.01 momentum 0.9, "
                f"batch 32, {epochs} epochs, seed {seed}",
        panels=[Panel("training loss", "epoch", "loss", {n: series(r, "train_loss") for n, r in runs.items()}),
                Panel("training accuracy (running, train mode)", "epoch", "accuracy (%)",
                      {n: series(r, "train_accuracy", 100) for n, r in runs.items()})])


def _gap_experiment(name, claim, variants, quick, seed, epochs, full_epochs, lr, rule, train_size=None):
    """Train each (label, model builder) variant; table of train/test accuracy (eval mode), their gap,
    and epochs to 90% running training accuracy."""
    epochs = epochs if quick else full_epochs
    train_set, test_set = digits(quick)
    if train_size and not quick:
        from ..data import Subset
        train_set = Subset(train_set, np.arange(train_size))
    runs, rows = {}, []
    for label, make in variants:
        model = make(np.random.default_rng(seed))
        records = train(model, train_set, test_set, epochs=epochs, lr=lr, seed=seed)
        runs[label] = records
        train_acc, test_acc = accuracy(model, train_set), accuracy(model, test_set)
        rows.append([label, epochs_to(records, "train_accuracy", 0.9) or f"> {epochs}", records[-1]["train_loss"],
                     100 * train_acc, 100 * test_acc, 100 * (train_acc - test_acc)])
    held, verdict = rule(rows)
    return Report(
        name, claim, ["variant", "epochs to 90% train acc", "final train loss", "train acc %", "test acc %",
                      "gap (points)"], rows, held, verdict,
        setting=f"small CNN on the 8x8 digits ({len(train_set)} train, {len(test_set)} test), SGD lr {lr} "
                f"momentum 0.9, batch 32, {epochs} epochs, seed {seed}; accuracies in eval mode after training",
        panels=[Panel("training loss", "epoch", "loss", {n: series(r, "train_loss") for n, r in runs.items()}, log_y=True),
                Panel("test accuracy", "epoch", "accuracy (%)", {n: series(r, "val_accuracy", 100) for n, r in runs.items()})])


def _epochs(row, never):
    return row[1] if isinstance(row[1], int) else never


def dropout(quick: bool = False, seed: int = 0) -> Report:
    """Dropout narrows the gap between training and test accuracy (Srivastava et al. 2014;
    AlexNet section 4.2). A wide small CNN trained on 300 digits, with and without dropout 0.5
    before both FC layers. Held if the train-test gap with dropout is smaller."""
    def rule(rows):
        plain, dropped = rows
        held = dropped[5] < plain[5]
        return held, f"gap {plain[5]:.1f} points without dropout, {dropped[5]:.1f} with (test {plain[4]:.1f}% vs {dropped[4]:.1f}%)"
    return _gap_experiment(
        "dropout", "dropout narrows the train/test gap",
        [("no dropout", lambda g: small_cnn(hidden=256, generator=g)),
         ("dropout 0.5", lambda g: small_cnn(hidden=256, dropout=0.5, generator=g))],
        quick, seed, epochs=2, full_epochs=40, lr=0.02, rule=rule, train_size=300)


def batchnorm(quick: bool = False, seed: int = 0) -> Report:
    """Batch normalisation speeds up training (Ioffe & Szegedy 2015, figure 1/2). The same small CNN
    with and without BatchNorm2d after each convolution, same learning rate. Held if the BN net
    reaches 90% running training accuracy in fewer epochs (or the other never does), or, if both
    reach it at the same epoch, ends with the lower training loss."""
    def rule(rows):
        plain, bn = rows
        never = 10 ** 6
        a, b = _epochs(plain, never), _epochs(bn, never)
        held = b < a or (a == b and bn[2] < plain[2])
        return held, (f"90% train accuracy after {bn[1]} epochs with BN, {plain[1]} without; final loss "
                      f"{bn[2]:.3g} vs {plain[2]:.3g}")
    return _gap_experiment(
        "batchnorm", "batch normalisation speeds up training",
        [("no normalisation", lambda g: small_cnn(generator=g)), ("batch norm", lambda g: small_cnn(norm="bn", generator=g))],
        quick, seed, epochs=2, full_epochs=10, lr=0.01, rule=rule)


def lrn_vs_bn(quick: bool = False, seed: int = 0) -> Report:
    """Batch norm made AlexNet's local response normalisation obsolete (Ioffe & Szegedy 2015;
    Simonyan & Zisserman 2015 found LRN did not help VGG). The same small CNN with no
    normalisation, LRN (AlexNet's constants) after each ReLU, and BN after each convolution.
    Held if BN reaches 90% running training accuracy no later than LRN and its test accuracy is
    at least LRN's."""
    def rule(rows):
        plain, lrn, bn = rows
        never = 10 ** 6
        held = _epochs(bn, never) <= _epochs(lrn, never) and bn[4] >= lrn[4]
        return held, (f"90% train accuracy after {bn[1]} epochs with BN, {lrn[1]} with LRN, {plain[1]} with neither; "
                      f"test {bn[4]:.1f}% / {lrn[4]:.1f}% / {plain[4]:.1f}%")
    return _gap_experiment(
        "lrn-vs-bn", "batch norm trains faster than, and generalises at least as well as, LRN",
        [("none", lambda g: small_cnn(generator=g)), ("LRN", lambda g: small_cnn(norm="lrn", generator=g)),
         ("batch norm", lambda g: small_cnn(norm="bn", generator=g))],
        quick, seed, epochs=2, full_epochs=10, lr=0.01, rule=rule)


def plain_cifar(depth: int, width: float, generator):
    """A plain CIFAR-style net: resnet_cifar(depth) with every residual block replaced by its
    branch and its ReLU, i.e. the same layers without the shortcuts (He et al. 2016, section 4.2)."""
    model = build("resnet_cifar", depth=depth, width=width, generator=generator)
    for stage in ("stage1", "stage2", "stage3"):
        blocks = getattr(model.body, stage)
        for index, block in enumerate(list(blocks)):
            blocks.add_module(str(index), nn.Sequential(block.branch, block.post_activation))
    return model


def _grey_to_rgb(image):
    """(1, H, W) -> (3, H, W): the digits in the three input channels resnet_cifar's stem expects."""
    return np.repeat(image, 3, axis=0)


def vanishing_gradients(quick: bool = False, seed: int = 0) -> Report:
    """Plain deep nets degrade where residual ones do not (He et al. 2016, figure 1 and 6):
    per-layer gradient norms at initialisation, then training curves of plain-20/56 and
    ResNet-20/56 (CIFAR-style, option A shortcuts, half width) on the bundled 8x8 digits (grey
    copied to three channels; quick: depths 8/14 on 200 images, 3 epochs) for a few epochs.
    Held if plain-20 learned (training accuracy above 20%, twice chance: otherwise the run says
    nothing), plain-56 ends with a higher training loss than plain-20, and ResNet-56's is no
    higher than 1.1x ResNet-20's (the degradation problem, and its absence with shortcuts)."""
    depths = (8, 14) if quick else (20, 56)
    epochs = 3 if quick else 5
    width, lr = 0.5, 0.05
    train_set, test_set = Digits("train", transform=_grey_to_rgb), Digits("test", transform=_grey_to_rgb)
    if quick:
        train_set, test_set = Subset(train_set, np.arange(200)), Subset(test_set, np.arange(100))
    x = np.stack([train_set[i][0] for i in range(32 if not quick else 8)]).astype(np.float32)
    y = np.array([train_set[i][1] for i in range(len(x))])
    makers = {}
    for depth in depths:
        makers[f"plain-{depth}"] = lambda g, d=depth: plain_cifar(d, width, g)
        makers[f"ResNet-{depth}"] = lambda g, d=depth: build("resnet_cifar", depth=d, width=width, generator=g)
    norms, runs, rows = {}, {}, []
    for label, make in makers.items():
        model = make(np.random.default_rng(seed))
        grads = gradient_norms(model, x, y)
        norms[label] = grads
        records = train(model, train_set, test_set, epochs=epochs, lr=lr, seed=seed, weight_decay=1e-4)
        runs[label] = records
        first, last = grads[0][2], grads[-1][2]
        rows.append([label, len(grads), first, last, first / last, records[-1]["train_loss"],
                     100 * records[-1]["train_accuracy"], 100 * records[-1]["val_accuracy"]])
    loss = {row[0]: row[5] for row in rows}
    shallow, deep = depths
    degraded = loss[f"plain-{deep}"] > loss[f"plain-{shallow}"]
    residual_ok = loss[f"ResNet-{deep}"] <= 1.1 * loss[f"ResNet-{shallow}"]
    learned = next(row[6] for row in rows if row[0] == f"plain-{shallow}") > 20
    held = learned and degraded and residual_ok
    verdict = ("" if learned else f"inconclusive, plain-{shallow} did not learn (training accuracy <= 20%); ") + (
               f"final training loss plain-{shallow} {loss[f'plain-{shallow}']:.3f}, plain-{deep} "
               f"{loss[f'plain-{deep}']:.3f}; ResNet-{shallow} {loss[f'ResNet-{shallow}']:.3f}, ResNet-{deep} "
               f"{loss[f'ResNet-{deep}']:.3f}")
    return Report(
        "vanishing-gradients", "plain deep nets degrade (train worse than shallower ones); residual nets do not",
        ["net", "conv + FC layers", "|dL/dW| first layer", "|dL/dW| last layer", "first / last",
         "final train loss", "train acc %", "test acc %"], rows, held, verdict,
        setting=f"8x8 digits as RGB ({len(train_set)} train, {len(test_set)} test), depths {shallow}/{deep}, width "
                f"{width} (8/16/32 channels on 8/4/2 grids), SGD lr {lr} momentum 0.9 weight decay 1e-4, batch 32, "
                f"{epochs} epochs, seed {seed}; "
                f"gradient norms of one batch of {len(x)} at initialisation",
        panels=[Panel("|dL/dW| per layer at initialisation", "layer (1 = input side)", "||dL/dW||",
                      {n: (list(range(1, len(g) + 1)), [w for _, _, w in g]) for n, g in norms.items()}, log_y=True),
                Panel("training loss", "epoch", "loss", {n: series(r, "train_loss") for n, r in runs.items()})])
