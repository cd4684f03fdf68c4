"""Bad input to the convolutions: a clear TypeError/ValueError that names the op and the values.

Hypothesis draws a valid configuration and breaks one thing about it.
"""
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minicnn import functional as F
from minicnn import nn
from minicnn.kernels import ALGORITHMS, ConvAlgorithm, register_algorithm
from minicnn.testing import conv_configs

CONV = {1: ("conv1d", F.conv1d), 2: ("conv2d", F.conv2d), 3: ("conv3d", F.conv3d)}


def arrays_for(config):
    x = np.ones(config.input_shape, config.dtype)
    w = np.ones(config.weight_shape, config.dtype)
    return x, w


def break_config(kind, config):
    """(x, w, bias, kwargs, error type, regex the message must match) with one thing wrong."""
    x, w = arrays_for(config)
    kw = config.kwargs()
    c_in, c_out, groups = x.shape[1], w.shape[0], config.groups
    if kind == "rank":
        return (x[None], w, None, kw, ValueError,
                rf"input must be {x.ndim}-D .* or {x.ndim - 1}-D unbatched .* got shape {re.escape(str(x[None].shape))}")
    if kind == "weight rank":
        return x, w[..., None], None, kw, ValueError, r"weight must be .*-D"
    if kind == "channels":
        wrong = np.ones((c_out, w.shape[1] + 1) + w.shape[2:], config.dtype)
        return x, wrong, None, kw, ValueError, (rf"input has {c_in} channels but weight expects "
                                                rf"{(w.shape[1] + 1) * groups} \(weight.shape\[1\]={w.shape[1] + 1} "
                                                rf"x groups={groups}\)")
    if kind == "groups":
        return x, w, None, dict(kw, groups=c_in + 1), ValueError, rf"groups={c_in + 1} must divide"
    if kind == "zero groups":
        return x, w, None, dict(kw, groups=0), ValueError, r"groups must be positive, got 0"
    if kind == "kernel too large":
        big = np.ones(w.shape[:2] + tuple(n + 1 for n in x.shape[2:]), config.dtype)
        return x, big, None, dict(kw, padding=0), ValueError, r"larger than the padded input"
    if kind in ("stride", "dilation"):
        return x, w, None, dict(kw, **{kind: 0}), ValueError, rf"{kind} must be positive, got 0"
    if kind == "negative stride":
        return x, w, None, dict(kw, stride=-1), ValueError, r"stride must be positive, got -1"
    if kind == "float stride":
        return x, w, None, dict(kw, stride=1.5), TypeError, r"stride must be an int or a tuple of \d ints, got 1.5"
    if kind == "float padding":
        return x, w, None, dict(kw, padding=0.5), TypeError, r"padding must be an int, a tuple .* got 0.5"
    if kind == "negative padding":
        return x, w, None, dict(kw, padding=-1), ValueError, r"padding must be non-negative, got -1"
    if kind == "padding string":
        return x, w, None, dict(kw, padding="half"), ValueError, r"padding must be .* got 'half'"
    if kind == "same with stride":
        return x, w, None, dict(kw, padding="same", stride=2), ValueError, r"padding='same' needs stride 1"
    if kind == "wrong tuple length":
        return x, w, None, dict(kw, dilation=(1,) * (x.ndim - 1)), TypeError, r"dilation must be an int or a tuple"
    if kind == "mixed dtypes":
        other = np.float64 if config.dtype == np.float32 else np.float32
        return (x, w.astype(other), None, kw, TypeError,
                rf"mixed dtypes \(input is {np.dtype(config.dtype)}, weight is {np.dtype(other)}\)")
    if kind == "integer input":
        return x.astype(np.int64), w, None, kw, TypeError, r"input must be float32 or float64, got int64"
    if kind == "bias shape":
        return (x, w, np.ones(c_out + 1, config.dtype), kw, ValueError,
                rf"bias must have shape \({c_out},\), got \({c_out + 1},\)")
    if kind == "algorithm":
        return x, w, None, dict(kw, algorithm="magic"), ValueError, r"unknown algorithm 'magic'; available: auto, "
    raise AssertionError(kind)


KINDS = ["rank", "weight rank", "channels", "groups", "zero groups", "kernel too large", "stride", "dilation",
         "negative stride", "float stride", "float padding", "negative padding", "padding string",
         "same with stride", "wrong tuple length", "mixed dtypes", "integer input", "bias shape", "algorithm"]


@given(conv_configs(spatial_dims=(1, 2, 3), max_extra_size=2), st.sampled_from(KINDS))
def test_bad_input_raises_a_clear_error(config, kind):
    name, conv = CONV[config.spatial_dims]
    x, w, bias, kwargs, error, message = break_config(kind, config)
    with pytest.raises(error, match=rf"^{name}: .*{message}"):
        conv(x, w, bias, **kwargs)


def test_an_algorithm_refusing_a_configuration_says_what_it_supports():
    def unsupported(*args):
        raise AssertionError("must not run")

    register_algorithm(ConvAlgorithm("only-3x3", "3x3 kernels only", unsupported, unsupported, unsupported,
                                     lambda g: None if g.kernel_size[1:] == (3, 3) else f"kernel {g.kernel_size[1:]}",
                                     workspace=lambda g: 0))
    try:
        with pytest.raises(ValueError, match=r"conv2d: algorithm 'only-3x3' cannot run this configuration "
                                             r"\(kernel \(5, 5\)\); it supports 3x3 kernels only"):
            F.conv2d(np.ones((1, 1, 6, 6)), np.ones((1, 1, 5, 5)), algorithm="only-3x3")
    finally:
        del ALGORITHMS["only-3x3"]


@pytest.mark.parametrize("call, error, message", [
    (lambda: F.conv_transpose2d(np.ones((1, 2, 3, 3)), np.ones((3, 2, 2, 2))), ValueError,
     r"conv_transpose2d: input has 2 channels but weight expects 3"),
    (lambda: F.conv_transpose2d(np.ones((1, 2, 3, 3)), np.ones((2, 2, 2, 2)), stride=2, output_padding=2),
     ValueError, r"conv_transpose2d: output_padding \(2, 2\) must be smaller than the stride \(2, 2\)"),
    (lambda: F.conv_transpose2d(np.ones((1, 2, 1, 1)), np.ones((2, 2, 1, 1)), padding=1), ValueError,
     r"conv_transpose2d: padding 1 removes the whole output"),
    (lambda: F.conv_transpose2d(np.ones((1, 2, 3, 3)), np.ones((2, 2, 2, 2)), padding="same"), ValueError,
     r"conv_transpose2d: padding must be an int or a tuple, got 'same'"),
    (lambda: F.conv_transpose2d(np.ones((1, 3, 3, 3)), np.ones((3, 2, 2, 2)), groups=2), ValueError,
     r"conv_transpose2d: groups=2 must divide the input channels \(3\)"),
    (lambda: F.local_conv2d(np.ones((1, 2, 5, 5)), np.ones((2, 2, 1, 2, 3, 3))), ValueError,
     r"local_conv2d: the output is 3x3 positions but weight has kernels for 2x2"),
    (lambda: F.local_conv2d(np.ones((1, 2, 5, 5)), np.ones((3, 3, 1, 3, 3, 3))), ValueError,
     r"local_conv2d: input has 2 channels but weight expects 3"),
    (lambda: F.local_conv2d(np.ones((1, 2, 5, 5)), np.ones((3, 3, 1, 2, 3))), ValueError,
     r"local_conv2d: weight must be 6-D \(oH, oW, Cout, Cin, kH, kW\), got shape \(3, 3, 1, 2, 3\)"),
    (lambda: F.tiled_conv2d(np.ones((1, 2, 5, 5)), np.ones((2, 2, 1, 2, 3, 3)), tile=(3, 3)), ValueError,
     r"tiled_conv2d: tile=\(3, 3\) but weight holds 2x2 kernels"),
    (lambda: F.tiled_conv2d(np.ones((1, 2, 5, 5)), np.ones((2, 2, 1, 2, 3, 3)), np.ones(1)), ValueError,
     r"tiled_conv2d: bias must have shape \(2, 2, 1\), got \(1,\)"),
    (lambda: nn.Conv2d(3, 4, 3, groups=2), ValueError, r"Conv2d: groups=2 must divide in_channels=3"),
    (lambda: nn.Conv2d(0, 4, 3), ValueError, r"Conv2d: in_channels must be a positive integer, got 0"),
    (lambda: nn.Conv2d(3, 4, 3, padding_mode="mirror"), ValueError, r"Conv2d: padding_mode must be one of"),
    (lambda: nn.Conv2d(3, 4, 3, stride=2, padding="same"), ValueError, r"Conv2d: padding='same' needs stride 1"),
    (lambda: nn.Conv1d(3, 4, (3, 3)), TypeError, r"Conv1d: kernel_size must be an int or a tuple of 1 ints"),
    (lambda: nn.ConvTranspose2d(3, 4, 3, padding_mode="reflect"), ValueError,
     r"ConvTranspose2d: only padding_mode='zeros' is supported"),
    (lambda: nn.LocallyConnected2d(3, 4, (2, 2), 3), ValueError,
     r"LocallyConnected2d: kernel of size 3 .* larger than the padded input along H"),
    (lambda: nn.TiledConv2d(3, 4, 3, tile=0), ValueError, r"TiledConv2d: tile must be positive, got 0"),
])
def test_other_conv_ops_and_layers_reject_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()
