"""conv_transpose2d, local_conv2d, tiled_conv2d and the nn convolution layers.

Transposed convolution is checked as the adjoint of convolution; local and tiled convolution
against a reference written here from their definitions (sliding_window_view), and against
ordinary convolution where they reduce to it; all of them against finite differences.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.lib.stride_tricks import sliding_window_view

import minicnn as mc
from minicnn import functional as F
from minicnn import nn
from minicnn.functional.conv import conv_geometry
from minicnn.kernels import ALGORITHMS, eligible_algorithms
from minicnn.testing import assert_gradcheck, conv_configs

EXPLICIT_PADDING = ("int", "tuple", "pairs")


def pairs_of(padding, kernel=(1, 1), dilation=(1, 1)):
    """(before, after) per axis, as documented for conv2d's padding argument."""
    spans = [d * (k - 1) for k, d in zip(kernel, dilation)]
    if isinstance(padding, str):
        return {"valid": [(0, 0)] * 2, "full": [(e, e) for e in spans],
                "same": [(e // 2, e - e // 2) for e in spans]}[padding]
    if isinstance(padding, int):
        return [(padding, padding)] * 2
    return [(p, p) if isinstance(p, int) else tuple(p) for p in padding]


def random(shape, seed, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def receptive_fields(x, kernel, stride, pairs, dilation):
    """(N, C, oH, oW, kH, kW) windows of the zero-padded x."""
    x = np.pad(x, [(0, 0), (0, 0)] + list(pairs))
    spans = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    view = sliding_window_view(x, spans, axis=(2, 3))
    return view[:, :, ::stride[0], ::stride[1], ::dilation[0], ::dilation[1]]


# ---- transposed convolution ----------------------------------------------------------------------
def transpose_arguments(config):
    """conv_transpose2d arguments that map conv2d's output shape back to config.input_shape."""
    pairs = pairs_of(config.padding)
    output_padding = tuple(
        (n + b + a - d * (k - 1) - 1) % s for n, (b, a), d, k, s in zip(
            config.input_shape[2:], pairs, config.dilation, config.weight_shape[2:], config.stride))
    return dict(stride=config.stride, padding=config.padding, output_padding=output_padding,
                groups=config.groups, dilation=config.dilation)


@settings(max_examples=40)
@given(conv_configs(spatial_dims=2, padding_forms=EXPLICIT_PADDING, dtypes=(np.float64,)))
def test_conv_transpose_is_the_adjoint_of_conv(config):
    """<conv(x), y> = <x, conv_transpose(y)>, for every algorithm."""
    x, w = random(config.input_shape, 0), random(config.weight_shape, 1)
    geometry = conv_geometry("test", x, w, None, config.stride, config.padding, config.dilation, config.groups, 2)
    for algorithm in eligible_algorithms(geometry):
        conv_x = F.conv2d(x, w, **config.kwargs(), algorithm=algorithm).array
        y = random(conv_x.shape, 2)
        transposed = F.conv_transpose2d(y, w, **transpose_arguments(config), algorithm=algorithm).array
        assert transposed.shape == x.shape
        np.testing.assert_allclose(np.sum(conv_x * y), np.sum(x * transposed), rtol=1e-10, atol=1e-10)


def test_conv_transpose_output_size_formula():
    x = np.zeros((2, 4, 5, 6), np.float32)
    w = np.zeros((4, 3, 3, 2), np.float32)
    y = F.conv_transpose2d(x, w, stride=(2, 3), padding=(1, 0), output_padding=(1, 2), groups=2, dilation=(1, 2))
    assert y.shape == (2, 6, (5 - 1) * 2 - 2 + 2 + 1 + 1, (6 - 1) * 3 - 0 + 2 + 2 + 1)


def test_conv_transpose_upsamples_by_scattering_the_kernel():
    """Stride 2, a 2x2 kernel of ones: every input pixel becomes a 2x2 block (a closed form)."""
    x = np.arange(4.0).reshape(1, 1, 2, 2)
    y = F.conv_transpose2d(x, np.ones((1, 1, 2, 2)), stride=2).array
    np.testing.assert_array_equal(y[0, 0], np.kron(x[0, 0], np.ones((2, 2))))


@pytest.mark.parametrize("algorithm", ["direct", "im2col"])
@settings(max_examples=6)
@given(config=conv_configs(spatial_dims=2, max_channels_per_group=2, max_extra_size=1,
                           padding_forms=EXPLICIT_PADDING, dtypes=(np.float64,)))
def test_conv_transpose_gradcheck(algorithm, config):
    args = transpose_arguments(config)
    out = F.conv2d(np.zeros(config.input_shape), np.zeros(config.weight_shape), **config.kwargs()).shape
    x = mc.tensor(random(out, 0), requires_grad=True)
    w = mc.tensor(random(config.weight_shape, 1), requires_grad=True)
    b = mc.tensor(random(config.input_shape[1], 2), requires_grad=True)
    assert_gradcheck(lambda x, w, b: F.conv_transpose2d(x, w, b, **args, algorithm=algorithm), [x, w, b])


# ---- local (unshared) and tiled convolution ------------------------------------------------------
local_configs = conv_configs(spatial_dims=2, max_groups=1, dtypes=(np.float64,))


def local_reference(x, weight, bias, stride, pairs, dilation):
    """y[n, o, i, j] = bias[i, j, o] + sum_{c, a, b} weight[i, j, o, c, a, b] * field[n, c, i, j, a, b]."""
    fields = receptive_fields(x, weight.shape[4:], stride, pairs, dilation)
    y = np.einsum("ncijab,ijocab->noij", fields, weight)
    return y if bias is None else y + bias.transpose(2, 0, 1)


@settings(max_examples=30)
@given(local_configs)
def test_local_conv_matches_reference_and_gradcheck(config):
    x = random(config.input_shape, 0)
    out = F.conv2d(x, random(config.weight_shape, 1), **config.kwargs()).shape[2:]
    weight = random(out + config.weight_shape, 1)
    bias = random(out + config.weight_shape[:1], 2)
    pairs = pairs_of(config.padding, config.weight_shape[2:], config.dilation)
    y = F.local_conv2d(x, weight, bias, config.stride, config.padding, config.dilation)
    expected = local_reference(x, weight, bias, config.stride, pairs, config.dilation)
    np.testing.assert_allclose(y.array, expected, rtol=1e-10, atol=1e-10)
    # Directional finite differences: a few forward passes, however many weights there are.
    xt, wt, bt = (mc.tensor(a, requires_grad=True) for a in (x, weight, bias))
    assert_gradcheck(lambda x, w, b: F.local_conv2d(x, w, b, config.stride, config.padding, config.dilation),
                     [xt, wt, bt], mode="directional")


@settings(max_examples=30)
@given(local_configs)
def test_local_conv_with_equal_kernels_is_conv(config):
    x, w = random(config.input_shape, 0), random(config.weight_shape, 1)
    b = random(config.weight_shape[:1], 2)
    expected = F.conv2d(x, w, b, **config.kwargs())
    out = expected.shape[2:]
    weight = np.broadcast_to(w, out + w.shape).copy()
    bias = np.broadcast_to(b, out + b.shape).copy()
    got = F.local_conv2d(x, weight, bias, config.stride, config.padding, config.dilation)
    np.testing.assert_allclose(got.array, expected.array, rtol=1e-10, atol=1e-10)


@settings(max_examples=30)
@given(local_configs)
def test_tiled_conv_with_one_tile_is_conv(config):
    x, w = random(config.input_shape, 0), random(config.weight_shape, 1)
    b = random(config.weight_shape[:1], 2)
    expected = F.conv2d(x, w, b, **config.kwargs())
    got = F.tiled_conv2d(x, w[None, None], b[None, None], config.stride, config.padding, config.dilation,
                         tile=(1, 1))
    np.testing.assert_allclose(got.array, expected.array, rtol=1e-10, atol=1e-10)


@settings(max_examples=30)
@given(local_configs, st.tuples(st.integers(1, 3), st.integers(1, 3)))
def test_tiled_conv_rotates_its_kernels(config, tile):
    """Position (i, j) uses kernel (i mod t_h, j mod t_w): the reference repeats the kernels."""
    x = random(config.input_shape, 0)
    weight = random(tile + config.weight_shape, 1)
    bias = random(tile + config.weight_shape[:1], 2)
    y = F.tiled_conv2d(x, weight, bias, config.stride, config.padding, config.dilation, tile=tile)
    oh, ow = y.shape[2:]
    rows, cols = np.arange(oh) % tile[0], np.arange(ow) % tile[1]
    expected = local_reference(x, weight[rows][:, cols], bias[rows][:, cols], config.stride,
                               pairs_of(config.padding, config.weight_shape[2:], config.dilation), config.dilation)
    np.testing.assert_allclose(y.array, expected, rtol=1e-10, atol=1e-10)


def test_tiled_conv_gradcheck():
    x = mc.tensor(random((2, 2, 6, 5), 0), requires_grad=True)
    w = mc.tensor(random((2, 3, 3, 2, 2, 2), 1), requires_grad=True)
    b = mc.tensor(random((2, 3, 3), 2), requires_grad=True)
    assert_gradcheck(lambda x, w, b: F.tiled_conv2d(x, w, b, stride=1, padding=((1, 0), (0, 1)), tile=(2, 3)),
                     [x, w, b])


def test_local_and_tiled_conv_work_in_float32():
    x = random((2, 3, 7, 7), 0, np.float32)
    y = F.local_conv2d(x, random((5, 5, 4, 3, 3, 3), 1, np.float32))
    z = F.tiled_conv2d(x, random((2, 2, 4, 3, 3, 3), 1, np.float32), padding="same")
    assert (y.dtype, y.shape, z.dtype, z.shape) == (np.float32, (2, 4, 5, 5), np.float32, (2, 4, 7, 7))


# ---- nn layers ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("layer, fan_in", [
    (lambda g: nn.Conv1d(4, 6, 3, groups=2, generator=g), 2 * 3),
    (lambda g: nn.Conv2d(3, 8, (5, 3), generator=g), 3 * 15),
    (lambda g: nn.Conv3d(2, 4, 3, generator=g), 2 * 27),
    (lambda g: nn.ConvTranspose2d(4, 6, 3, groups=2, generator=g), 3 * 9),
    (lambda g: nn.LocallyConnected2d(3, 4, (6, 6), 3, generator=g), 3 * 9),
    (lambda g: nn.TiledConv2d(3, 4, 3, (2, 2), generator=g), 3 * 9),
])
def test_layers_use_pytorch_default_init(layer, fan_in):
    a, b = layer(np.random.default_rng(5)), layer(np.random.default_rng(5))
    bound = 1 / np.sqrt(fan_in)
    for p, q in ((a.weight, b.weight), (a.bias, b.bias)):
        np.testing.assert_array_equal(p.array, q.array)  # the generator reproduces the draw
        assert p.dtype == np.float32 and np.abs(p.array).max() <= bound
    # U(-bound, bound) has standard deviation bound / sqrt(3)
    assert abs(a.weight.array.std() - bound / np.sqrt(3)) < 0.2 * bound


def test_conv_layers_shapes_and_dtype():
    x = mc.tensor(random((2, 4, 9, 9), 0))
    cases = [
        (nn.Conv2d(4, 6, 3, stride=2, padding=1, dtype=np.float64), (2, 6, 5, 5)),
        (nn.Conv2d(4, 6, 4, padding="same", dtype=np.float64), (2, 6, 9, 9)),
        (nn.Conv2d(4, 6, 3, padding="full", groups=2, bias=False, dtype=np.float64), (2, 6, 11, 11)),
        (nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1, dtype=np.float64), (2, 2, 18, 18)),
        (nn.LocallyConnected2d(4, 3, 9, 3, stride=2, dtype=np.float64), (2, 3, 4, 4)),
        (nn.TiledConv2d(4, 3, 3, 2, padding="same", dtype=np.float64), (2, 3, 9, 9)),
    ]
    for layer, shape in cases:
        y = layer(x)
        assert y.shape == shape and y.dtype == np.float64, layer
    assert nn.Conv1d(2, 3, 2)(np.zeros((1, 2, 5), np.float32)).shape == (1, 3, 4)
    assert nn.Conv3d(2, 3, 2)(np.zeros((1, 2, 3, 4, 5), np.float32)).shape == (1, 3, 2, 3, 4)


@pytest.mark.parametrize("mode, numpy_mode", [("reflect", "reflect"), ("circular", "wrap"),
                                              ("replicate", "edge"), ("zeros", "constant")])
def test_conv2d_padding_modes(mode, numpy_mode):
    layer = nn.Conv2d(2, 3, (3, 2), padding=((1, 2), (1, 0)), padding_mode=mode, dtype=np.float64,
                      generator=np.random.default_rng(0))
    x = random((2, 2, 5, 6), 1)
    padded = np.pad(x, [(0, 0), (0, 0), (1, 2), (1, 0)], mode=numpy_mode)
    fields = receptive_fields(padded, (3, 2), (1, 1), [(0, 0), (0, 0)], (1, 1))
    expected = np.einsum("ncijab,ocab->noij", fields, layer.weight.array) + layer.bias.array[:, None, None]
    np.testing.assert_allclose(layer(x).array, expected, rtol=1e-10, atol=1e-10)


def test_conv2d_layer_gradcheck_with_circular_padding():
    layer = nn.Conv2d(2, 2, 3, stride=2, padding=1, padding_mode="circular", dtype=np.float64)
    assert_gradcheck(layer, [mc.tensor(random((1, 2, 5, 4), 0), requires_grad=True)])


def test_layer_state_dict_round_trip():
    a = nn.Conv2d(3, 4, 3, generator=np.random.default_rng(0))
    b = nn.Conv2d(3, 4, 3, generator=np.random.default_rng(1))
    b.load_state_dict(a.state_dict())
    x = random((1, 3, 5, 5), 2, np.float32)
    np.testing.assert_array_equal(a(x).array, b(x).array)
    assert "kernel_size=(3, 3)" in repr(a)
