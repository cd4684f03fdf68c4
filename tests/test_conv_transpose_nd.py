"""conv_transpose1d / conv_transpose3d (and the 2-D one through the same code): against a float64
scatter loop written from the definition, as the adjoint of conv1d / conv3d, and against finite
differences."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minicnn as mc
import minicnn.functional as F
from minicnn import nn
from minicnn.testing import assert_gradcheck

OPS = {1: (F.conv1d, F.conv_transpose1d), 2: (F.conv2d, F.conv_transpose2d), 3: (F.conv3d, F.conv_transpose3d)}


def reference_conv_transpose(x, w, bias, stride, padding, output_padding, groups, dilation):
    """Each input sample scatters its kernel, scaled by its value, onto the output:
    y[n, g*Cout/G + co, i*s - p + a*d] += x[n, ci, i] * w[ci, co, a], g = ci // (Cin/G)."""
    n, c_in = x.shape[:2]
    c_out_g = w.shape[1]
    in_g = c_in // groups
    size = tuple((i - 1) * s - 2 * p + d * (k - 1) + e + 1
                 for i, s, p, d, k, e in zip(x.shape[2:], stride, padding, dilation, w.shape[2:], output_padding))
    y = np.zeros((n, c_out_g * groups) + size)
    for ci in range(c_in):
        g = ci // in_g
        for i in np.ndindex(*x.shape[2:]):
            for a in np.ndindex(*w.shape[2:]):
                o = tuple(ii * s - p + aa * d for ii, s, p, aa, d in zip(i, stride, padding, a, dilation))
                if all(0 <= oo < nn_ for oo, nn_ in zip(o, size)):
                    for co in range(c_out_g):
                        y[(slice(None), g * c_out_g + co) + o] += x[(slice(None), ci) + i] * w[(ci, co) + a]
    if bias is not None:
        y += bias.reshape((1, -1) + (1,) * len(size))
    return y


@st.composite
def transpose_case(draw, dims):
    groups = draw(st.integers(1, 2))
    c_in, c_out = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    side = 3 if dims < 3 else 2
    kernel = tuple(draw(st.integers(1, side)) for _ in range(dims))
    stride = tuple(draw(st.integers(1, 2)) for _ in range(dims))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(dims))
    padding = tuple(draw(st.integers(0, (d * (k - 1)) // 2)) for k, d in zip(kernel, dilation))
    output_padding = tuple(draw(st.integers(0, s - 1)) for s in stride)
    size = tuple(draw(st.integers(1, side)) for _ in range(dims))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 16)))
    x = rng.standard_normal((draw(st.integers(1, 2)), c_in) + size)
    w = rng.standard_normal((c_in, c_out // groups) + kernel)
    bias = rng.standard_normal(c_out) if draw(st.booleans()) else None
    return x, w, bias, dict(stride=stride, padding=padding, output_padding=output_padding, groups=groups,
                            dilation=dilation)


@pytest.mark.parametrize("dims", [1, 3])
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_against_the_definition_the_adjoint_and_finite_differences(dims, data):
    x, w, bias, kwargs = data.draw(transpose_case(dims))
    conv, conv_transpose = OPS[dims]
    y = conv_transpose(mc.tensor(x), mc.tensor(w), None if bias is None else mc.tensor(bias), **kwargs)
    np.testing.assert_allclose(y.array, reference_conv_transpose(x, w, bias, *kwargs.values()), rtol=1e-10,
                               atol=1e-10)
    # <conv(z), x> = <z, conv_transpose(x)> with the same weight (bias left out)
    z = np.random.default_rng(0).standard_normal(y.shape)
    conv_z = conv(mc.tensor(z), mc.tensor(w), stride=kwargs["stride"], padding=kwargs["padding"],
                  dilation=kwargs["dilation"], groups=kwargs["groups"]).array
    assert conv_z.shape == x.shape
    transposed = conv_transpose(mc.tensor(x), mc.tensor(w), **kwargs).array
    np.testing.assert_allclose(np.sum(conv_z * x), np.sum(z * transposed), rtol=1e-10, atol=1e-10)
    inputs = [mc.tensor(x, requires_grad=True), mc.tensor(w, requires_grad=True)]
    if bias is not None:
        inputs.append(mc.tensor(bias, requires_grad=True))
    assert_gradcheck(lambda *t: conv_transpose(*t, **kwargs), inputs)


@pytest.mark.parametrize("dims", [1, 3])
def test_modules(dims):
    module_type = {1: nn.ConvTranspose1d, 3: nn.ConvTranspose3d}[dims]
    layer = module_type(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2, generator=np.random.default_rng(0))
    assert layer.weight.shape == (4, 3) + (3,) * dims and layer.bias.shape == (6,)
    x = mc.tensor(np.random.default_rng(1).standard_normal((1, 4) + (3,) * dims).astype(np.float32))
    y = layer(x)
    assert y.shape == (1, 6) + (6,) * dims and y.dtype == np.float32
    expected = reference_conv_transpose(x.array.astype(np.float64), layer.weight.array.astype(np.float64),
                                        layer.bias.array.astype(np.float64), (2,) * dims, (1,) * dims, (1,) * dims,
                                        2, (1,) * dims)
    np.testing.assert_allclose(y.array, expected, rtol=1e-4, atol=1e-5)
    assert "output_padding" in repr(layer)


@pytest.mark.parametrize("call, match", [
    (lambda: F.conv_transpose1d(np.zeros((1, 2, 4)), np.zeros((3, 1, 2))),
     r"conv_transpose1d: input has 2 channels but weight expects 3"),
    (lambda: F.conv_transpose3d(np.zeros((2, 4, 4)), np.zeros((2, 1, 2, 2, 2))),
     r"conv_transpose3d: input must be 5-D \(N, C, D, H, W\) or 4-D unbatched \(C, D, H, W\), got shape \(2, 4, 4\)"),
    (lambda: F.conv_transpose1d(np.zeros((1, 2, 4)), np.zeros((2, 1, 2)), stride=2, output_padding=2),
     "conv_transpose1d: output_padding .* must be smaller than the stride"),
    (lambda: F.conv_transpose3d(np.zeros((1, 2, 1, 1, 1)), np.zeros((2, 1, 1, 1, 1)), padding=1),
     "conv_transpose3d: padding 1 removes the whole output"),
    (lambda: F.conv_transpose1d(np.zeros((1, 2, 4)), np.zeros((2, 1, 2)), stride=(1, 1)),
     "conv_transpose1d: stride must be an int or a tuple of 1 ints"),
])
def test_errors(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()
