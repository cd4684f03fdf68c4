"""Dropout (Srivastava et al. 2014), channel dropout, and drop-path (stochastic depth, Huang et al.
2016).

All three multiply the input by a random mask that keeps an element, a channel or a whole sample
and zeroes the rest; they differ only in the mask's shape, so one Function serves them. The mask
is drawn from `generator` (None: minicnn.random.default_generator()), so re-seeding the
generator replays the same mask (what a gradient check of a network with dropout needs).
"""
from __future__ import annotations


from ..random import get_generator
from ..tensor import Function
from .arithmetic import mul
from .checks import float_array, probability


class MaskMultiply(Function):
    """y = x * mask (mask broadcast against x, holding 0 or the survivors' scale)."""

    @staticmethod
    def forward(ctx, x, mask):
        ctx.mask = mask
        return x * mask

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.mask, None


def _keep_mask(mask_shape, keep_prob, scale, dtype, generator):
    """0 with probability 1 - keep_prob, else `scale`."""
    keep = get_generator(generator).random(mask_shape) < keep_prob
    return keep.astype(dtype) * dtype.type(scale)


def _drop_mask(mask_shape, p, dtype, generator):
    """Inverted dropout's mask: 0 with probability p, else 1 / (1 - p); all zeros for p = 1."""
    return _keep_mask(mask_shape, 1 - p, 1 / (1 - p) if p < 1 else 0.0, dtype, generator)


def _check_ndim(op, array, ndims):
    if array.ndim not in ndims:
        raise ValueError(f"{op}: expected a {' or '.join(map(str, ndims))}-D input, got shape {array.shape}")


def dropout(input, p=0.5, training=True, *, generator=None):
    """Inverted dropout: each element is zeroed with probability p and survivors are scaled by
    1 / (1 - p), so the expected output equals the input and evaluation is the identity.

    any shape -> same shape. training=False (or p=0) returns the input unchanged; p=1 zeroes
    everything (and the gradient), as PyTorch.
    """
    array = float_array("dropout", "input", input)
    p = probability("dropout", "p", p)
    if not training or p == 0:
        return input
    return MaskMultiply.apply(input, _drop_mask(array.shape, p, array.dtype, generator))


def dropout2d(input, p=0.5, training=True, *, generator=None):
    """Channel dropout (Tompson et al. 2015): every (sample, channel) plane is zeroed with
    probability p, survivors scaled by 1 / (1 - p). (N, C, H, W) or (C, H, W) -> same shape.

    Neighbouring activations in a feature map are strongly correlated, so dropping single
    elements barely regularises a convolutional layer; dropping whole maps does.
    """
    array = float_array("dropout2d", "input", input)
    _check_ndim("dropout2d", array, (3, 4))
    p = probability("dropout2d", "p", p)
    if not training or p == 0:
        return input
    return MaskMultiply.apply(input, _drop_mask(array.shape[:-2] + (1, 1), p, array.dtype, generator))


def drop_path(input, survival_prob, training=True, *, inverted=True, generator=None):
    """Stochastic depth for a residual branch: each sample's whole branch output is kept with
    probability `survival_prob` (Huang et al. 2016's p_l) and zeroed otherwise.

    input: (N, ...), the branch's output, before it is added to the shortcut -> same shape.

    Note the argument is the SURVIVAL probability p_l, as in the paper; torchvision's
    stochastic_depth and timm's drop_path take the drop probability 1 - p_l instead.

    inverted=True (default, as torchvision and timm): survivors are scaled by 1 / p_l during
    training, so evaluation is the identity.
    inverted=False (the paper's rule): survivors pass unscaled during training and evaluation
    multiplies the branch by p_l, its expected survival. Both give the same expected output.
    """
    array = float_array("drop_path", "input", input)
    if array.ndim == 0:
        raise ValueError("drop_path: expected an input with a batch axis (N, ...), got a 0-D one")
    if probability("drop_path", "survival_prob", survival_prob) == 0:
        raise ValueError("drop_path: survival_prob must be in (0, 1], got 0 (a branch that never survives)")
    if not training:
        return input if inverted or survival_prob == 1 else mul(input, array.dtype.type(survival_prob))
    if survival_prob == 1:
        return input
    mask_shape = array.shape[:1] + (1,) * (array.ndim - 1)
    scale = 1 / survival_prob if inverted else 1.0
    mask = _keep_mask(mask_shape, survival_prob, scale, array.dtype, generator)
    return MaskMultiply.apply(input, mask)
