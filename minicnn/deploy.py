"""Deployment: a model for inference only, with batch norm folded into the convolutions before it.

In eval mode a batch norm after a convolution is an affine map per output channel c,
    y = gamma_c (conv(x)_c - mu_c) / sqrt(var_c + eps) + beta_c,
so it can be merged into the convolution (Jacob et al. 2018, section 3.2; as TensorRT and
torch.ao.quantization.fuse_modules do): with s_c = gamma_c / sqrt(var_c + eps),
    W'_c = s_c W_c,    b'_c = s_c (b_c - mu_c) + beta_c,
and the batch norm becomes the identity. One layer fewer per unit, the same outputs (to rounding).

    from minicnn.deploy import InferenceModel
    net = InferenceModel(trained_model)          # a folded copy in eval mode; the original is untouched
    labels = net.predict(images)                 # (N,) classes; net(x) gives the logits, no graph recorded
"""
from __future__ import annotations

import copy

import numpy as np

from . import nn
from .nn.conv import ConvNd
from .nn.norm import _BatchNorm
from .tensor import Tensor, no_grad


def fold_batch_norm(model, inplace: bool = False):
    """Fold every batch norm that directly follows a convolution inside a Sequential (the zoo's
    conv_bn_relu units, ResNet branches, ...) into that convolution; returns the folded model (a copy
    unless inplace). Only valid in eval mode: the folded model is put in eval mode. Batch norms that
    follow something else (pre-activation blocks) are left as they are."""
    model = model if inplace else copy.deepcopy(model)
    for module in list(model.modules()):
        if not isinstance(module, nn.Sequential):
            continue
        names = list(module._modules)
        for first, second in zip(names, names[1:]):
            conv, bn = module._modules[first], module._modules[second]
            if isinstance(conv, ConvNd) and isinstance(bn, _BatchNorm) and bn.running_mean is not None:
                _fold(conv, bn)
                module.add_module(second, nn.Identity())
    return model.eval()


def _fold(conv, bn) -> None:
    """W' = s W, b' = s (b - mu) + beta with s = gamma / sqrt(var + eps), computed in float64."""
    mean, var = bn.running_mean.array.astype(np.float64), bn.running_var.array.astype(np.float64)
    gamma = bn.weight.array.astype(np.float64) if bn.weight is not None else np.ones_like(mean)
    beta = bn.bias.array.astype(np.float64) if bn.bias is not None else np.zeros_like(mean)
    if conv.weight.shape[0] != mean.shape[0]:
        raise ValueError(f"fold_batch_norm: {type(conv).__name__} has {conv.weight.shape[0]} output channels, "
                         f"the batch norm after it {mean.shape[0]}")
    scale = gamma / np.sqrt(var + bn.eps)
    bias = conv.bias.array.astype(np.float64) if conv.bias is not None else np.zeros_like(mean)
    dtype = conv.weight.dtype
    weight = conv.weight.array.astype(np.float64) * scale.reshape((-1,) + (1,) * (conv.weight.ndim - 1))
    conv.weight.array = weight.astype(dtype)
    conv.bias = nn.Parameter(((bias - mean) * scale + beta).astype(dtype))


class InferenceModel:
    """A trained model ready for inference: a copy in eval mode, batch norm folded (fold_bn=True),
    called without recording a graph. net(x) -> logits Tensor (x a Tensor or an array);
    net.predict(inputs, batch_size) -> (N,) predicted classes; net.scores(...) -> (N, C) logits."""

    def __init__(self, model, fold_bn: bool = True):
        self.model = fold_batch_norm(model) if fold_bn else copy.deepcopy(model).eval()

    def __call__(self, input):
        with no_grad():
            return self.model(input if isinstance(input, Tensor) else Tensor(np.asarray(input)))

    def scores(self, inputs, batch_size: int = 256) -> np.ndarray:
        inputs = np.asarray(inputs)
        return np.concatenate([self(inputs[s:s + batch_size]).array for s in range(0, len(inputs), batch_size)])

    def predict(self, inputs, batch_size: int = 256) -> np.ndarray:
        return self.scores(inputs, batch_size).argmax(axis=1)
