"""minicnn.lab: small experiments that check the lecture notes' claims on a laptop.

    python -m minicnn lab list              the experiments, one line each
    python -m minicnn lab NAME [--quick] [--plot FILE] [--seed N]

Each experiment is seeded, runs in under 3 minutes on 2 cores (--quick: seconds, for tests),
prints a table and one line saying whether the claim held on this run. The rule that decides is
fixed in the experiment's docstring before it runs; a claim that does not hold is reported so.
"""
from .algorithms import conv_algorithms
from .architecture import bottleneck_1x1, params, stacked_3x3
from .report import Panel, Report
from .training import batchnorm, dropout, lrn_vs_bn, relu_vs_tanh, vanishing_gradients

# name -> (experiment, one line for `lab list`); each experiment's docstring gives its rule
EXPERIMENTS = {
    "stacked-3x3": (stacked_3x3, "3 x 3x3 vs 7x7, 2 x 3x3 vs 5x5: receptive field, params, FLOPs, time"),
    "relu-vs-tanh": (relu_vs_tanh, "epochs to 95% training accuracy with ReLU and with tanh (digits)"),
    "vanishing-gradients": (vanishing_gradients, "gradient norms at init and training of plain vs ResNet 20/56 (Shapes)"),
    "dropout": (dropout, "train/test gap with and without dropout (300 digits)"),
    "batchnorm": (batchnorm, "convergence with and without batch norm (digits)"),
    "lrn-vs-bn": (lrn_vs_bn, "no normalisation vs AlexNet's LRN vs batch norm (digits)"),
    "bottleneck-1x1": (bottleneck_1x1, "Inception (3a) params and FLOPs with and without 1x1 reductions"),
    "params": (params, "every zoo model's params and FLOPs beside the published figures"),
    "conv-algorithms": (conv_algorithms, "time vs kernel size 3..15 (FFT crossover); Winograd mults vs speed-up"),
}


def describe(name: str) -> str:
    """One line saying what experiment `name` measures."""
    return EXPERIMENTS[name][1]


def run(name: str, quick: bool = False, seed: int = 0) -> Report:
    """Run experiment `name`; a ValueError lists the names if it is unknown."""
    if name not in EXPERIMENTS:
        raise ValueError(f"lab: unknown experiment {name!r}; available: {', '.join(EXPERIMENTS)}")
    return EXPERIMENTS[name][0](quick=quick, seed=seed)
