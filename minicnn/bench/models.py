"""The convolutions of a whole model: found by running one forward pass with forward hooks on its
Conv2d modules, grouped by geometry, and what each algorithm choice costs the model in total."""
from __future__ import annotations

import dataclasses
import importlib
import inspect
import os
import statistics
import sys

import numpy as np

from .. import architectures, nn
from ..tensor import Tensor, no_grad
from .layers import Layer
from .runner import PASSES, measure


class ModelError(ValueError):
    """A model that cannot be built or benchmarked, with the reason for the user."""


def zoo_model(name: str, width=None, input_size=None):
    """(model, input size) for an architectures name; input_size (a tuple, see input_shape) is
    passed to builders that take one, and defaults to the builder's own (32 for the others)."""
    if name not in architectures.available():
        raise ModelError(f"--model: unknown architecture {name!r}; available: {', '.join(architectures.available())}")
    builder = architectures.BUILDERS[name]
    options = architectures.options_of(builder)
    kwargs = {}
    if width is not None:
        if "width" not in options:
            raise ModelError(f"--model {name} has no width option (its options: {', '.join(options)})")
        kwargs["width"] = width
    if "input_size" in options:
        if input_size is None:
            default = inspect.signature(getattr(builder, "family", builder)).parameters["input_size"].default
            input_size = tuple(default) if isinstance(default, (tuple, list)) else (default,)
        else:
            h, w = (input_size * 2)[-2:] if len(input_size) == 1 else input_size[-2:]
            kwargs["input_size"] = h if h == w else (h, w)
    return architectures.build(name, **kwargs), tuple(input_size or (32,))


def user_model(spec: str):
    """The nn.Module returned by the factory named in `--module package.module:factory`."""
    if ":" not in spec:
        raise ModelError(f"--module wants package.module:factory (a callable returning an nn.Module), got {spec!r}")
    path, factory_name = spec.split(":", 1)
    sys.path.insert(0, os.getcwd())  # the user's own modules, run from their project
    try:
        factory = getattr(importlib.import_module(path), factory_name)
    except (ImportError, AttributeError) as error:
        raise ModelError(f"--module {spec}: {error}") from None
    model = factory()
    if not isinstance(model, nn.Module):
        raise ModelError(f"--module {spec}: the factory returned {type(model).__name__}, not an nn.Module")
    return model


def input_shape(model, size, batch: int) -> tuple:
    """(N, C, H, W) from --input-size (H, (H, W) or (C, H, W)); C defaults to the in_channels of
    the model's first Conv2d."""
    size = tuple(size)
    if len(size) == 1:
        size = size * 2
    if len(size) == 2:
        first = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
        if first is None:
            raise ModelError("the model has no Conv2d layer to benchmark")
        size = (first.in_channels,) + size
    return (batch,) + size


def conv_layers(model, shape, dtype=np.float32) -> list:
    """One Layer per distinct Conv2d geometry met in one forward pass on an input of `shape`,
    named after the first module with it, `count` the number of modules sharing it."""
    seen = {}
    handles = []

    def record(name):
        def hook(module, inputs, output):
            _, c, h, w = inputs[0].shape
            pairs, mode = module._pairs, module.padding_mode
            if mode != "zeros":  # padded explicitly before the convolution (nn.Conv2d.forward)
                h, w = h + sum(pairs[0]), w + sum(pairs[1])
                pairs = ((0, 0), (0, 0))
            layer = Layer(name, shape[0], c, h, w, module.out_channels, module.kernel_size, module.stride,
                          tuple(pairs), module.dilation, module.groups)
            key = layer.describe()
            seen[key] = dataclasses.replace(seen[key], count=seen[key].count + 1) if key in seen else layer
        return hook

    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            handles.append(module.register_forward_hook(record(name or "conv")))
    try:
        with no_grad():
            model(Tensor(np.zeros(shape, dtype)))
    except Exception as error:
        raise ModelError(f"the model's forward failed on an input of shape {shape}: {error}") from None
    finally:
        for handle in handles:
            handle.remove()
    if not seen:
        raise ModelError("the model has no Conv2d layer to benchmark")
    return list(seen.values())


def totals(rows, algorithms) -> list:
    """[(choice, {pass: ms for the whole model}, note)]: auto (the heuristic's pick per layer),
    autotune (the fastest measured per layer and pass, what autotune(True) would pick), and each
    fixed algorithm, "n/a" with the reason where it cannot run every layer. Times are summed over
    layers times their counts."""
    by_layer = {}
    for row in rows:
        by_layer.setdefault(row.layer, {})[row.pass_name] = row
    passes = [p for p in PASSES if any(p in r for r in by_layer.values())]

    def total(pick):
        sums = {p: 0.0 for p in passes}
        for layer_rows in by_layer.values():
            for p in passes:
                row = layer_rows[p]
                result = pick(row)
                if result is None or result.median_ms is None:
                    return None
                sums[p] += row.count * result.median_ms
        return sums

    out = [("auto", total(lambda row: row.result(row.auto)), "the heuristic's choice per layer"),
           ("autotune", total(lambda row: row.winner), "the fastest per layer and pass")]
    for name in algorithms:
        sums = total(lambda row, name=name: row.result(name))
        missing = sum(layer_rows[passes[0]].result(name) is None or
                      layer_rows[passes[0]].result(name).median_ms is None for layer_rows in by_layer.values())
        out.append((name, sums, "" if sums else f"cannot run {missing} of {len(by_layer)} layers"))
    return out


def whole_model_times(model, shape, dtype, repeats, budget_s) -> tuple:
    """Median ms of the model's forward (no graph) and of forward + backward of the outputs' sum,
    with algorithm "auto" everywhere."""
    x = Tensor(np.random.default_rng(0).standard_normal(shape).astype(dtype))

    def forward():
        with no_grad():
            model(x)

    def forward_backward():
        model.zero_grad()
        model(x).sum().backward()

    return tuple(1e3 * statistics.median(measure(call, repeats, budget_s)[1]) for call in (forward, forward_backward))
