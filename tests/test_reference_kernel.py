"""kernels/reference.py, the definition as loops: checked against an independent formula (SciPy's
correlation of a dilated kernel, sampled at the stride), then every registered algorithm checked
against it, forward and both gradients, in float64 on drawn shapes."""
import numpy as np
from hypothesis import given, settings
from scipy import signal

import minicnn as mc
from minicnn import functional as F
from minicnn.functional.conv import conv_geometry
from minicnn.kernels import ALGORITHMS, choose_algorithm, eligible_algorithms, reference
from minicnn.testing import conv_configs

CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def scipy_conv(x, w, stride, pairs, dilation, groups):
    """Cross-correlation per (image, output channel, input channel) by scipy.signal.correlate of the
    zero-padded input with the kernel spread `dilation` apart, then every stride-th position."""
    n, c = x.shape[:2]
    c_out, c_group = w.shape[:2]
    x = np.pad(x, [(0, 0), (0, 0)] + list(pairs))
    kernel_dims = w.shape[2:]
    spread = np.zeros(w.shape[:2] + tuple(d * (k - 1) + 1 for k, d in zip(kernel_dims, dilation)))
    spread[(slice(None), slice(None)) + tuple(slice(None, None, d) for d in dilation)] = w
    outs = []
    for i in range(n):
        channels = []
        for co in range(c_out):
            g = co // (c_out // groups)
            total = sum(signal.correlate(x[i, g * c_group + ci], spread[co, ci], mode="valid")
                        for ci in range(c_group))
            channels.append(total[tuple(slice(None, None, s) for s in stride)])
        outs.append(channels)
    return np.array(outs)


def geometry_of(config):
    x = np.zeros(config.input_shape, config.dtype)
    w = np.zeros(config.weight_shape, config.dtype)
    return conv_geometry("test", x, w, None, stride=config.stride, padding=config.padding,
                         dilation=config.dilation, groups=config.groups, spatial_dims=config.spatial_dims)


@settings(max_examples=30)
@given(conv_configs(spatial_dims=(1, 2, 3), max_extra_size=3, dtypes=(np.float64,)))
def test_reference_forward_matches_scipy(config):
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal(config.input_shape), rng.standard_normal(config.weight_shape)
    geometry = geometry_of(config)
    y = reference.forward(x.reshape(geometry.input_shape), w.reshape(geometry.weight_shape), geometry)
    pairs = [pair for pair in geometry.padding[3 - config.spatial_dims:]]
    expected = scipy_conv(x, w, config.stride, pairs, config.dilation, config.groups)
    np.testing.assert_allclose(y.reshape(expected.shape), expected, rtol=1e-10, atol=1e-10)


@settings(max_examples=30)
@given(conv_configs(spatial_dims=(1, 2, 3), max_extra_size=3, dtypes=(np.float64,)))
def test_reference_gradients_are_the_adjoints_of_its_forward(config):
    """<conv(x), gy> = <x, dL/dx(gy)> = <w, dL/dw(x, gy)>: both gradients from the forward's
    bilinearity, with the forward already checked against SciPy."""
    geometry = geometry_of(config)
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal(geometry.input_shape), rng.standard_normal(geometry.weight_shape)
    gy = rng.standard_normal(geometry.output_shape)
    inner = np.vdot(reference.forward(x, w, geometry), gy)
    np.testing.assert_allclose(np.vdot(x, reference.backward_data(gy, w, geometry)), inner, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(np.vdot(w, reference.backward_weight(x, gy, geometry)), inner, rtol=1e-10, atol=1e-10)


def test_reference_hand_computed():
    """y = [1*1 + 2*0 + 3*(-1), 2 - 4] for x = 1 2 3 4, w = 1 0 -1: by hand."""
    y = F.conv1d(mc.tensor([[[1.0, 2.0, 3.0, 4.0]]]), mc.tensor([[[1.0, 0.0, -1.0]]]), algorithm="reference")
    np.testing.assert_array_equal(y.array, [[[-2.0, -2.0]]])


def rank_one(shape, rng):
    """Weights whose every kH x kW kernel is an outer product (what "separable" requires)."""
    col = rng.standard_normal(shape[:-1] + (1,))
    row = rng.standard_normal(shape[:-2] + (1, shape[-1]))
    return col * row if len(shape) > 3 else rng.standard_normal(shape)


@settings(max_examples=30)
@given(conv_configs(spatial_dims=(1, 2, 3), max_extra_size=3, dtypes=(np.float64,)))
def test_every_algorithm_matches_the_reference(config):
    """Every registered algorithm that accepts the configuration, forward and both gradients."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal(config.input_shape)
    w = rank_one(config.weight_shape, rng)
    grad_y = None
    results = {}
    for name, algorithm in ALGORITHMS.items():
        if algorithm.supports(geometry_of(config)) is not None:
            continue
        xt, wt = mc.tensor(x, requires_grad=True), mc.tensor(w, requires_grad=True)
        y = CONV[config.spatial_dims](xt, wt, **config.kwargs(), algorithm=name)
        if grad_y is None:
            grad_y = rng.standard_normal(y.shape)
        y.backward(grad_y)
        results[name] = (y.array, xt.grad.array, wt.grad.array)
    assert "reference" in results
    expected = results["reference"]
    for name, got in results.items():
        for what, a, b in zip(("y", "dL/dx", "dL/dw"), got, expected):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9, err_msg=f"{name}: {what}")


def test_auto_never_runs_the_reference():
    x, w = np.zeros((2, 16, 9, 9), np.float32), np.zeros((16, 16, 3, 3), np.float32)
    geometry = conv_geometry("test", x, w, None, 1, 1, 1, 1, 2)
    assert "reference" not in eligible_algorithms(geometry)
    assert choose_algorithm(geometry).name != "reference"
    assert ALGORITHMS["reference"].supports(geometry) is None
