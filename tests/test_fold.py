"""unfold (im2col) against a loop from its definition, fold as its adjoint, both against finite
differences, and the convolution written as a matrix product with unfold."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minicnn as mc
import minicnn.functional as F
from minicnn import nn
from minicnn.testing import assert_gradcheck


def reference_unfold(x, kernel, dilation, padding, stride):
    """out[n, (c*kh + a)*kw + b, i*oW + j] = x_padded[n, c, i*sh + a*dh, j*sw + b*dw], as a loop."""
    n, c, h, w = x.shape
    (kh, kw), (dh, dw), (ph, pw), (sh, sw) = kernel, dilation, padding, stride
    padded = np.zeros((n, c, h + 2 * ph, w + 2 * pw))
    padded[:, :, ph:ph + h, pw:pw + w] = x
    oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((n, c * kh * kw, oh * ow))
    for ci in range(c):
        for a in range(kh):
            for b in range(kw):
                for i in range(oh):
                    for j in range(ow):
                        out[:, (ci * kh + a) * kw + b, i * ow + j] = padded[:, ci, i * sh + a * dh, j * sw + b * dw]
    return out


@st.composite
def window(draw):
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    size = tuple(max(1, d * (k - 1) + 1 - 2 * p) + draw(st.integers(0, 3))
                 for k, d, p in zip(kernel, dilation, padding))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3))) + size
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 16)))
    return rng.standard_normal(shape), dict(kernel_size=kernel, dilation=dilation, padding=padding, stride=stride)


@settings(max_examples=40)
@given(case=window())
def test_unfold_against_the_definition_and_fold_as_its_adjoint(case):
    x, kwargs = case
    cols = F.unfold(mc.tensor(x), **kwargs)
    np.testing.assert_array_equal(cols.array, reference_unfold(x, *kwargs.values()))
    y = np.random.default_rng(1).standard_normal(cols.shape)
    folded = F.fold(mc.tensor(y), x.shape[2:], **kwargs)
    assert folded.shape == x.shape
    np.testing.assert_allclose(np.sum(cols.array * y), np.sum(x * folded.array), rtol=1e-10, atol=1e-10)
    assert_gradcheck(lambda t: F.unfold(t, **kwargs), [mc.tensor(x, requires_grad=True)])
    assert_gradcheck(lambda t: F.fold(t, x.shape[2:], **kwargs), [mc.tensor(y, requires_grad=True)])


def test_convolution_is_a_matrix_product_with_unfold():
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((4, 3, 3, 2))
    cols = F.unfold(mc.tensor(x), (3, 2), padding=1, stride=2)
    y = (w.reshape(4, -1) @ cols.array).reshape(2, 4, 3, 3)
    np.testing.assert_allclose(y, F.conv2d(x, w, padding=1, stride=2).array, rtol=1e-12)


def test_fold_of_unfold_counts_the_overlaps():
    x = np.ones((1, 1, 3, 3), np.float32)
    out = F.fold(F.unfold(mc.tensor(x), 2), (3, 3), 2)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out.array[0, 0], [[1, 2, 1], [2, 4, 2], [1, 2, 1]])


def test_unbatched_input_and_modules():
    x = np.random.default_rng(0).standard_normal((2, 4, 4))
    cols = F.unfold(x, 2, stride=2)
    assert cols.shape == (8, 4)
    np.testing.assert_array_equal(cols.array, reference_unfold(x[None], (2, 2), (1, 1), (0, 0), (2, 2))[0])
    np.testing.assert_array_equal(F.fold(cols, (4, 4), 2, stride=2).array, x)  # stride = kernel: no overlap
    batched = mc.tensor(x[None])
    np.testing.assert_array_equal(nn.Fold((4, 4), 2, stride=2)(nn.Unfold(2, stride=2)(batched)).array, x[None])


@pytest.mark.parametrize("call, error, match", [
    (lambda: F.unfold(np.zeros((2, 3)), 2), ValueError, r"unfold: input must be \(N, C, H, W\) or \(C, H, W\)"),
    (lambda: F.unfold(np.zeros((1, 1, 2, 2)), 3), ValueError, "unfold: kernel of size 3"),
    (lambda: F.unfold(np.zeros((1, 1, 2, 2)), 2.5), TypeError, "unfold: kernel_size must be an int or a tuple of 2"),
    (lambda: F.unfold(np.zeros((1, 1, 2, 2)), 1, padding=-1), ValueError, "unfold: padding must be non-negative"),
    (lambda: F.unfold(np.zeros((1, 1, 2, 2), np.int64), 1), TypeError, "unfold: input must be float32 or float64"),
    (lambda: F.fold(np.zeros((1, 5, 4)), (3, 3), 2), ValueError, r"fold: input's dimension 1 \(5\) must be a positive multiple of kh\*kw = 4"),
    (lambda: F.fold(np.zeros((1, 4, 3)), (3, 3), 2), ValueError, r"fold: output_size \(3, 3\) .* has 2x2 = 4 blocks, but input has L = 3"),
    (lambda: F.fold(np.zeros((1, 4, 4)), (3, 3, 3), 2), TypeError, "fold: output_size must be an int or a tuple of 2"),
])
def test_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_empty_batch():
    x = mc.tensor(np.zeros((0, 2, 3, 3)), requires_grad=True)
    cols = F.unfold(x, 2)
    assert cols.shape == (0, 8, 4)
    folded = F.fold(cols, (3, 3), 2)
    assert folded.shape == (0, 2, 3, 3)
    folded.sum().backward()
    assert x.grad.shape == (0, 2, 3, 3)
