"""interpolate / Upsample against PyTorch's documented outputs and a per-pixel float64 reference
written from PyTorch's coordinate rules; gradients against finite differences."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minicnn as mc
import minicnn.functional as F
from minicnn import nn
from minicnn.testing import assert_gradcheck

SMALL = np.arange(1.0, 5.0).reshape(1, 1, 2, 2)
LARGE = np.zeros((1, 1, 3, 3))
LARGE[..., :2, :2] = SMALL

# The outputs printed in PyTorch's nn.Upsample documentation.
DOCUMENTED = [
    (SMALL, dict(mode="nearest"), [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]]),
    (SMALL, dict(mode="bilinear"), [[1.0, 1.25, 1.75, 2.0], [1.5, 1.75, 2.25, 2.5], [2.5, 2.75, 3.25, 3.5],
                                    [3.0, 3.25, 3.75, 4.0]]),
    (SMALL, dict(mode="bilinear", align_corners=True),
     [[1.0, 1.3333, 1.6667, 2.0], [1.6667, 2.0, 2.3333, 2.6667], [2.3333, 2.6667, 3.0, 3.3333],
      [3.0, 3.3333, 3.6667, 4.0]]),
    (LARGE, dict(mode="bilinear"),
     [[1.0, 1.25, 1.75, 1.5, 0.5, 0.0], [1.5, 1.75, 2.25, 1.875, 0.625, 0.0], [2.5, 2.75, 3.25, 2.625, 0.875, 0.0],
      [2.25, 2.4375, 2.8125, 2.25, 0.75, 0.0], [0.75, 0.8125, 0.9375, 0.75, 0.25, 0.0], [0.0] * 6]),
    (LARGE, dict(mode="bilinear", align_corners=True),
     [[1.0, 1.4, 1.8, 1.6, 0.8, 0.0], [1.8, 2.2, 2.6, 2.24, 1.12, 0.0], [2.6, 3.0, 3.4, 2.88, 1.44, 0.0],
      [2.4, 2.72, 3.04, 2.56, 1.28, 0.0], [1.2, 1.36, 1.52, 1.28, 0.64, 0.0], [0.0] * 6]),
]


@pytest.mark.parametrize("image, kwargs, expected", DOCUMENTED)
def test_pytorch_documented_examples(image, kwargs, expected):
    out = nn.Upsample(scale_factor=2, **kwargs)(mc.tensor(image.astype(np.float32)))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.array[0, 0], expected, atol=1e-4)


def nearest_source(o, n_in, n_out, scale_factor):
    """PyTorch's nearest_idx, one output index at a time (float32 arithmetic, as in ATen)."""
    if n_out == n_in:
        return o
    if n_out == 2 * n_in:
        return o >> 1
    scale = np.float32(1.0 / scale_factor) if scale_factor else np.float32(n_in) / np.float32(n_out)
    return min(int(math.floor(np.float32(o) * scale)), n_in - 1)


def linear_source(o, n_in, n_out, scale_factor, align_corners):
    """PyTorch's area_pixel_compute_source_index and guard_index_and_lambda: (i0, i1, l0, l1)."""
    if n_out == n_in:
        return o, o, 1.0, 0.0
    if align_corners:
        x = o * (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
    else:
        scale = 1.0 / scale_factor if scale_factor else n_in / n_out
        x = max(scale * (o + 0.5) - 0.5, 0.0)
    i0 = min(int(math.floor(x)), n_in - 1)
    i1 = i0 + (1 if i0 < n_in - 1 else 0)
    l1 = min(max(x - i0, 0.0), 1.0)
    return i0, i1, 1.0 - l1, l1


def reference(x, out_size, scales, mode, align_corners):
    """Each output pixel from the 1 (nearest) or 2^d (linear) input pixels around its source point."""
    n, c = x.shape[:2]
    out = np.zeros((n, c) + tuple(out_size))
    for position in np.ndindex(*out_size):
        if mode == "nearest":
            source = tuple(nearest_source(o, n_in, n_out, s)
                           for o, n_in, n_out, s in zip(position, x.shape[2:], out_size, scales))
            out[(slice(None), slice(None)) + position] = x[(slice(None), slice(None)) + source]
            continue
        axes = [linear_source(o, n_in, n_out, s, align_corners)
                for o, n_in, n_out, s in zip(position, x.shape[2:], out_size, scales)]
        for corner in np.ndindex(*(2,) * len(axes)):
            index = tuple(a[bit] for a, bit in zip(axes, corner))
            weight = np.prod([a[2 + bit] for a, bit in zip(axes, corner)])
            out[(slice(None), slice(None)) + position] += weight * x[(slice(None), slice(None)) + index]
    return out


@st.composite
def interpolation(draw):
    mode = draw(st.sampled_from(["nearest", "linear", "bilinear", "trilinear"]))
    dims = {"linear": 1, "bilinear": 2, "trilinear": 3}.get(mode) or draw(st.integers(1, 3))
    spatial = tuple(draw(st.integers(1, 5 if dims < 3 else 3)) for _ in range(dims))
    align_corners = None if mode == "nearest" else draw(st.sampled_from([None, False, True]))
    if draw(st.booleans()):
        size = tuple(draw(st.integers(1, 7 if dims < 3 else 4)) for _ in range(dims))
        kwargs, scales, out = dict(size=size), (None,) * dims, size
    else:
        scales = tuple(draw(st.sampled_from([0.5, 0.75, 1.0, 1.1, 1.3, 1.55, 2.0, 2.2, 2.5, 3.0])) for _ in range(dims))
        out = tuple(math.floor(n * s) for n, s in zip(spatial, scales))
        if min(out) < 1:
            scales, out = tuple(max(s, 1.0) for s in scales), tuple(math.floor(n * max(s, 1.0))
                                                                     for n, s in zip(spatial, scales))
        kwargs = dict(scale_factor=scales)
        if draw(st.booleans()):
            kwargs["recompute_scale_factor"] = True
            scales = (None,) * dims
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 16)))
    x = rng.standard_normal((draw(st.integers(1, 2)), draw(st.integers(1, 2))) + spatial)
    return x, dict(kwargs, mode=mode, align_corners=align_corners), out, scales


@settings(max_examples=60)
@given(case=interpolation())
def test_against_pytorchs_coordinate_rules_and_finite_differences(case):
    x, kwargs, out_size, scales = case
    out = F.interpolate(mc.tensor(x), **kwargs)
    expected = reference(x, out_size, scales, kwargs["mode"], bool(kwargs["align_corners"]))
    np.testing.assert_allclose(out.array, expected, rtol=1e-12, atol=1e-12)
    assert_gradcheck(lambda t: F.interpolate(t, **kwargs), [mc.tensor(x, requires_grad=True)])


def test_nearest_scale_factor_samples_with_one_over_the_factor():
    # 10 -> 15 samples: 1/1.55 and 10/15 pick different sources at output 3 (floor 1.93 vs 2.0)
    x = mc.tensor(np.arange(10.0).reshape(1, 1, 10))
    by_factor = F.interpolate(x, scale_factor=1.55).array[0, 0]
    by_size = F.interpolate(x, size=15).array[0, 0]
    assert by_factor[3] == 1.0 and by_size[3] == 2.0
    np.testing.assert_array_equal(F.interpolate(x, scale_factor=1.55, recompute_scale_factor=True).array[0, 0],
                                  by_size)


def test_nearest_copies_when_the_size_is_kept_and_halves_when_it_doubles():
    # PyTorch's two special cases: 5 * 1.1 -> 5 samples copy (1/1.1 would read 3 at output 4);
    # 3 * 2.2 -> 6 samples read o // 2 (1/2.2 would read 1 at output 4)
    np.testing.assert_array_equal(F.interpolate(mc.tensor(np.arange(5.0)[None, None]), scale_factor=1.1).array[0, 0],
                                  np.arange(5.0))
    np.testing.assert_array_equal(F.interpolate(mc.tensor(np.arange(3.0)[None, None]), scale_factor=2.2).array[0, 0],
                                  [0, 0, 1, 1, 2, 2])


def test_backward_adds_where_outputs_share_a_source():
    x = mc.tensor(np.ones((1, 1, 2, 2)), requires_grad=True)
    F.interpolate(x, scale_factor=(2, 3)).sum().backward()
    np.testing.assert_array_equal(x.grad.array, np.full((1, 1, 2, 2), 6.0))  # each read by 2 x 3 outputs


def test_nan_stays_where_it_is_read():
    x = np.zeros((1, 1, 4))
    x[0, 0, 0] = np.nan
    out = F.interpolate(mc.tensor(x), size=8, mode="linear").array[0, 0]
    assert np.isnan(out[:2]).all() and not np.isnan(out[3:]).any()


@pytest.mark.parametrize("kwargs, shape, error, match", [
    (dict(scale_factor=2, mode="bicubic"), (1, 1, 2, 2), ValueError, "interpolate: mode must be one of"),
    (dict(scale_factor=2, mode="bilinear"), (1, 1, 2), ValueError,
     r"interpolate: mode='bilinear' needs a \(N, C, H, W\) input, got shape \(1, 1, 2\)"),
    (dict(size=4, scale_factor=2), (1, 1, 2), ValueError, "interpolate: give exactly one of size and scale_factor"),
    (dict(), (1, 1, 2), ValueError, "interpolate: give exactly one of size and scale_factor"),
    (dict(scale_factor=2, align_corners=True), (1, 1, 2), ValueError,
     "interpolate: align_corners can only be set with the linear modes"),
    (dict(size=(2, 3, 4)), (1, 1, 2, 2), TypeError, r"interpolate: size must be one number or a tuple of 2"),
    (dict(size=2.5), (1, 1, 2), TypeError, "interpolate: size must be one number"),
    (dict(scale_factor=-1.0), (1, 1, 2), ValueError, "interpolate: scale_factor must be positive and finite"),
    (dict(scale_factor=0.1), (1, 1, 2), ValueError, "interpolate: the channel and spatial sizes of input and output must be positive"),
    (dict(size=3, mode="linear", align_corners=1), (1, 1, 2), TypeError, "interpolate: align_corners must be a bool"),
])
def test_errors(kwargs, shape, error, match):
    with pytest.raises(error, match=match):
        F.interpolate(mc.tensor(np.zeros(shape)), **kwargs)
    with pytest.raises(TypeError, match="interpolate: input must be float32 or float64"):
        F.interpolate(np.zeros((1, 1, 2), np.int64), size=3)


def test_empty_batch():
    x = mc.tensor(np.zeros((0, 2, 3, 3)), requires_grad=True)
    y = F.interpolate(x, scale_factor=2, mode="bilinear")
    assert y.shape == (0, 2, 6, 6)
    y.sum().backward()
    assert x.grad.shape == (0, 2, 3, 3)
