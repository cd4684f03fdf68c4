"""Experiments on layer shapes: counted (summary) and timed, no training."""
from __future__ import annotations

import numpy as np

from .. import nn
from ..architectures import build, googlenet
from ..model_summary import summary
from ..tensor import Tensor
from .common import median_seconds
from .report import Report


def _stack(channels, kernel, count, generator):
    return nn.Sequential(*[m for _ in range(count) for m in
                           (nn.Conv2d(channels, channels, kernel, padding=kernel // 2, bias=False,
                                      generator=generator), nn.ReLU())])


def _forward_backward(model, x):
    def call():
        model.zero_grad()
        model(x).sum().backward()
    return call


def stacked_3x3(quick: bool = False, seed: int = 0) -> Report:
    """Stacked 3x3 convolutions see as far as one larger kernel with fewer parameters
    (Simonyan & Zisserman 2015, section 2.3): 1x(7x7) vs 3x(3x3) and 1x(5x5) vs 2x(3x3), C channels
    in and out, stride 1, padding k // 2. Held if every stack's receptive field equals the large
    kernel's and it has fewer parameters. FLOPs and a measured forward+backward time are shown
    beside (time is not part of the claim)."""
    channels, side, batch = (8, 16, 2) if quick else (32, 32, 4)
    g = np.random.default_rng(seed)
    x = Tensor(g.standard_normal((batch, channels, side, side)).astype(np.float32), requires_grad=True)
    rows, held = [], True
    for large, count in ((7, 3), (5, 2)):
        pair = []
        for kernel, n in ((large, 1), (3, count)):
            model = _stack(channels, kernel, n, g)
            s = summary(model, (channels, side, side), verbose=False)
            seconds = median_seconds(_forward_backward(model, x), repeats=1 if quick else 3)
            pair.append((s.leaves()[-1].receptive_field[0], s.total_params, s.total_flops))
            rows.append([f"{n} x ({kernel}x{kernel})", pair[-1][0], pair[-1][1], pair[-1][2] * batch,
                         1e3 * seconds])
        (rf_large, p_large, _), (rf_stack, p_stack, _) = pair
        held &= rf_stack == rf_large and p_stack < p_large
    ratio_7 = rows[1][2] / rows[0][2]
    ratio_5 = rows[3][2] / rows[2][2]
    return Report(
        "stacked-3x3", "stacked 3x3 convolutions see as far as one 7x7 (or 5x5) with fewer parameters",
        ["layers", "receptive field", "params", f"FLOPs (batch {batch})", "fwd+bwd ms"], rows, held,
        f"3 x 3x3 has {ratio_7:.0%} of 7x7's parameters (27C^2 vs 49C^2), 2 x 3x3 {ratio_5:.0%} of 5x5's "
        f"(18C^2 vs 25C^2), same receptive fields",
        setting=f"C = {channels} channels, {side}x{side} input, batch {batch}, float32, seed {seed}")


def _inception_3a(reductions: bool, generator):
    """GoogLeNet's inception (3a) at 192 -> 256 channels (Szegedy et al. 2015, table 1), or the
    naive version of figure 2(a): the same 3x3 and 5x5 convolutions on all 192 input channels
    and the pooled input concatenated unprojected."""
    if reductions:
        return googlenet.inception_module(192, 64, 96, 128, 16, 32, 32, generator=generator)
    def conv(cin, cout, k):
        return nn.Sequential(nn.Conv2d(cin, cout, k, padding=k // 2, generator=generator), nn.ReLU())
    return nn.Concat(conv(192, 64, 1), conv(192, 128, 3), conv(192, 32, 5), nn.MaxPool2d(3, 1, padding=1))


def bottleneck_1x1(quick: bool = False, seed: int = 0) -> Report:
    """1x1 reductions cut an Inception module's cost (Szegedy et al. 2015, section 4): inception
    (3a) on a 28x28x192 input with and without its 1x1 reductions. Held if the module with
    reductions has fewer parameters and FLOPs."""
    g = np.random.default_rng(seed)
    side = 14 if quick else 28
    rows = []
    for reductions in (False, True):
        module = _inception_3a(reductions, g)
        s = summary(module, (192, side, side), verbose=False)
        out_channels = module(Tensor(np.zeros((1, 192, side, side), np.float32))).shape[1]
        rows.append(["with 1x1 reductions" if reductions else "naive (figure 2a)", out_channels,
                     s.total_params, s.total_flops])
    naive, reduced = rows
    held = reduced[2] < naive[2] and reduced[3] < naive[3]
    return Report(
        "bottleneck-1x1", "1x1 reductions cut an Inception module's parameters and FLOPs",
        ["inception (3a)", "output channels", "params", f"FLOPs at {side}x{side}"], rows, held,
        f"the reductions cut parameters {naive[2] / reduced[2]:.1f}x and FLOPs {naive[3] / reduced[3]:.1f}x "
        f"(and the output from {naive[1]} to {reduced[1]} channels)",
        setting=f"input 192 x {side} x {side}, batch 1")


# (builder, options, input side, published parameters, published multiply-adds in G or None, source)
# Parameters: torchvision's model tables and the papers (as in tests/test_architectures.py);
# GMACs: torchvision's "GFLOPS" column (which counts multiply-adds), the papers otherwise.
PUBLISHED = [
    ("lenet5", {}, 32, 61_706, None, "LeCun et al. 1998"),
    ("alexnet", {}, 227, 62_378_344, None, "Krizhevsky et al. 2012 (the notes' 61,378,344 is an addition slip)"),
    ("zfnet", {}, 224, 62_357_608, None, "Zeiler & Fergus 2014"),
    ("vgg11", {}, 224, 132_863_336, 7.61, "torchvision"),
    ("vgg13", {}, 224, 133_047_848, 11.31, "torchvision"),
    ("vgg16", {}, 224, 138_357_544, 15.47, "torchvision"),
    ("vgg19", {}, 224, 143_667_240, 19.63, "torchvision"),
    ("nin_cifar", {}, 32, 966_986, None, "Lin et al. 2014"),
    ("googlenet", {}, 224, 6_998_552, 1.5, "Szegedy et al. 2015 (1.5 G multiply-adds)"),
    ("inception_v2", {}, 224, None, None, "Ioffe & Szegedy 2015"),
    ("inception_v3", {}, 299, 27_161_264, 5.71, "torchvision"),
    ("resnet18", {}, 224, 11_689_512, 1.81, "torchvision"),
    ("resnet34", {}, 224, 21_797_672, 3.66, "torchvision"),
    ("resnet50", {}, 224, 25_557_032, 4.09, "torchvision"),
    ("resnet101", {}, 224, 44_549_160, 7.80, "torchvision"),
    ("resnet152", {}, 224, 60_192_808, 11.51, "torchvision"),
    ("se_resnet50", {}, 224, 28_088_024, 3.87, "Hu et al. 2018 (3.87 GFLOPs)"),
    ("wide_resnet50_2", {}, 224, 68_883_240, 11.40, "torchvision"),
    ("resnext50_32x4d", {}, 224, 25_028_904, 4.23, "torchvision"),
    ("resnext101_32x8d", {}, 224, 88_791_336, 16.41, "torchvision"),
    ("resnet_cifar", {"depth": 20}, 32, 269_722, None, "He et al. 2016 (0.27 M)"),
    ("resnet_cifar", {"depth": 56}, 32, 853_018, 0.125, "He et al. 2016 (0.85 M); Li et al. 2017 (1.25e8 FLOP)"),
    ("resnet_cifar", {"depth": 110}, 32, 1_727_962, 0.253, "He et al. 2016 (1.7 M); Li et al. 2017 (2.53e8 FLOP)"),
    ("preact_resnet_cifar", {"depth": 164}, 32, 1_703_258, None, "He et al. 2016b"),
    ("stochastic_depth_resnet_cifar", {"depth": 110}, 32, 1_727_962, None, "Huang et al. 2016"),
    ("wide_resnet_cifar", {"depth": 28, "widen": 10}, 32, 36_479_194, None, "Zagoruyko & Komodakis 2016 (36.5 M)"),
    ("densenet121", {}, 224, 7_978_856, 2.83, "torchvision"),
    ("densenet169", {}, 224, 14_149_480, 3.36, "torchvision"),
    ("densenet201", {}, 224, 20_013_928, 4.29, "torchvision"),
    ("densenet_bc_cifar", {"depth": 100, "growth": 12}, 32, 769_162, None, "Huang et al. 2017 (0.8 M)"),
]
QUICK_MODELS = ("lenet5", "resnet_cifar")


def params(quick: bool = False, seed: int = 0) -> Report:
    """Every zoo model's parameters and multiply-adds (one forward pass of minicnn.summary at
    the published input size) beside the published figures, and the notes' claim that GoogLeNet
    has about 12x fewer parameters than AlexNet. Held if every published parameter count is
    matched within 1% and GoogLeNet/AlexNet is at least 8x (the notes round ~60 M / ~5 M)."""
    rows, counts, mismatches = [], {}, []
    for name, options, side, published, gmacs, source in PUBLISHED:
        if quick and (name not in QUICK_MODELS or options.get("depth", 20) != 20):
            continue
        model = build(name, generator=np.random.default_rng(seed), **options)
        channels = model.input_shape[0]
        s = summary(model, (channels, side, side), verbose=False)
        label = name + "".join(f" {k}={v}" for k, v in options.items())
        counts[name] = s.trainable_params
        if published and abs(s.trainable_params - published) > 0.01 * published:
            mismatches.append(label)
        rows.append([label, side, s.trainable_params, published, s.total_macs / 1e9, gmacs, source])
    if not quick:
        ratio = counts["alexnet"] / counts["googlenet"]
        held = not mismatches and ratio >= 8
        verdict = (f"GoogLeNet has {ratio:.1f}x fewer parameters than AlexNet (the notes: ~12x, from ~60 M / ~5 M); "
                   + ("every published parameter count matched" if not mismatches
                      else f"parameter counts off by more than 1%: {', '.join(mismatches)}"))
    else:
        held = not mismatches
        verdict = "quick run (small models only): parameter counts " + ("match" if held else "do not match")
    return Report("params", "the zoo's parameter counts and FLOPs are the published ones; GoogLeNet ~12x fewer "
                  "parameters than AlexNet",
                  ["model", "input", "params", "published", "GMACs", "published GMACs", "source"], rows, held, verdict,
                  setting="trainable parameters; GMACs = multiply-adds of conv and FC layers at batch 1 (FLOPs = 2x)")
