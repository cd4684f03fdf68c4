"""Normalisation layers: local response normalisation (AlexNet), local contrast normalisation
(Jarrett et al. 2009, used by ZFNet), batch normalisation (Ioffe and Szegedy 2015), layer and group
normalisation, and normalize (vectors to unit p-norm).
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import correlate1d

from ..kernels import batch_norm as bn_kernels, lrn as lrn_kernels
from ..tensor import Function
from ._util import normalize_axes
from .arithmetic import add, div, mul, sub
from .checks import float_array, is_int, is_real, non_negative, shape_of
from .pointwise import clamp, sqrt
from .reduction import VectorNorm, mean
from .shape import reshape, transpose, where


def _floating_input(x, op, min_ndim):
    array = float_array(op, "input", x)
    if array.ndim < min_ndim:
        raise ValueError(f"{op}: expected at least {min_ndim} dimensions (N, C, ...), "
                         f"got shape {array.shape}")
    return array


# ---- local response normalisation ----------------------------------------------------------
class LocalResponseNorm(Function):
    """Forward and analytic backward in minicnn.kernels.lrn (the formulas are there)."""

    @staticmethod
    def forward(ctx, x, size, alpha, beta, k):
        a = np.ascontiguousarray(x.reshape(x.shape[0], x.shape[1], -1))
        out, scale = lrn_kernels.lrn_forward(a, size, alpha, beta, k)
        ctx.save_for_backward(a, out, scale)
        ctx.settings, ctx.shape = (size, alpha, beta), x.shape
        return out.reshape(x.shape)

    @staticmethod
    def backward(ctx, grad):
        a, out, scale = ctx.saved_tensors
        g = np.ascontiguousarray(grad.reshape(a.shape))
        grad_x = lrn_kernels.lrn_backward(g, a, out, scale, *ctx.settings)
        return grad_x.reshape(ctx.shape), None, None, None, None


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):
    """Local response normalisation across channels (Krizhevsky et al. 2012, section 3.3), with
    PyTorch's definition:

        b[c] = a[c] / (k + alpha / size * sum_{c' = c - size//2}^{c + (size-1)//2} a[c']^2) ** beta

    channels outside 0..C-1 counting as zero. (N, C, *) -> (N, C, *).

    The AlexNet paper writes the sum without dividing by n: b = a / (k + alpha_paper * sum) ** beta
    with k=2, n=5, alpha_paper=1e-4, beta=0.75. Because this function (like PyTorch and Caffe)
    divides alpha by `size`, AlexNet's layer is local_response_norm(x, size=5, alpha=5e-4,
    beta=0.75, k=2.0): alpha = n * alpha_paper.
    """
    array = _floating_input(input, "local_response_norm", 3)
    if not is_int(size) or size < 1:
        raise ValueError(f"local_response_norm: size must be a positive int, got {size!r}")
    if k <= 0 or alpha < 0:
        raise ValueError(f"local_response_norm: needs k > 0 and alpha >= 0 so the base stays "
                         f"positive, got k={k}, alpha={alpha}")
    if array.size == 0:
        raise ValueError(f"local_response_norm: empty input of shape {array.shape}")
    return LocalResponseNorm.apply(input, int(size), float(alpha), float(beta), float(k))


# ---- local contrast normalisation ----------------------------------------------------------
def gaussian_window(size: int, sigma: float) -> np.ndarray:
    """The 1-D Gaussian exp(-t^2 / 2 sigma^2), t = -(size-1)/2 .. (size-1)/2, summing to 1."""
    t = np.arange(size) - (size - 1) / 2
    window = np.exp(-t * t / (2.0 * sigma * sigma))
    return window / window.sum()


def _blur(planes, window):
    """Zero-padded 'same' correlation of (N, 1, H, W) planes with the separable window."""
    out = correlate1d(planes, window, axis=2, mode="constant")
    return correlate1d(out, window, axis=3, mode="constant")


class NeighbourhoodMean(Function):
    """m[n, 0, j, k] = sum_{i, p, q} w[p] w[q] x[n, i, j+p, k+q] / (C * coverage[j, k]).

    A weighted mean over all channels and a Gaussian spatial window; `coverage` (the window's
    weight inside the image) makes it a true mean at the borders too. It is linear, and the
    zero-padded correlation with a symmetric window is its own transpose, so the backward
    blurs again.
    """

    @staticmethod
    def forward(ctx, x, window):
        coverage = _blur(np.ones((1, 1) + x.shape[2:], x.dtype), window)
        ctx.window, ctx.coverage, ctx.channels = window, coverage, x.shape[1]
        return _blur(x.mean(axis=1, keepdims=True), window) / coverage

    @staticmethod
    def backward(ctx, grad):
        spread = _blur(grad / ctx.coverage, ctx.window) / ctx.channels
        return np.repeat(spread, ctx.channels, axis=1), None


def local_contrast_norm(input, size=9, sigma=None, eps=1e-4):
    """Local contrast normalisation (Jarrett et al. 2009, sec. 2; ZFNet's "contrast normalize
    the responses across feature maps"): subtract a local mean, then divide by a local standard
    deviation, both over all channels and a Gaussian spatial neighbourhood.

        m(x)[j, k]  = sum_{i, p, q} w_pq x[i, j+p, k+q] / (C Z[j, k])  (w Gaussian size x size)
        v           = x - m(x)                                          (subtractive)
        sigma[j, k] = sqrt(m(v^2)[j, k])
        y           = v / max(c, sigma[j, k]),  c = mean over (j, k) of sigma, per sample (divisive)

    Z[j, k] is the window weight that falls inside the image (1 away from the borders), so m is a
    weighted mean everywhere. (N, C, H, W) -> (N, C, H, W). Jarrett et al. use a 9x9 window and
    give no width; sigma defaults to size / 4 (Torch 7's contrast-normalisation layers).
    sigma is floored at eps to keep the division and the square root's gradient finite.
    """
    array = _floating_input(input, "local_contrast_norm", 4)
    if array.ndim != 4:
        raise ValueError(f"local_contrast_norm: expected (N, C, H, W), got shape {array.shape}")
    if not is_int(size) or size < 1 or size % 2 == 0:
        raise ValueError(f"local_contrast_norm: size must be a positive odd int, got {size!r}")
    sigma = size / 4 if sigma is None else sigma
    if sigma <= 0 or eps <= 0:
        raise ValueError(f"local_contrast_norm: sigma and eps must be positive, got sigma={sigma}, "
                         f"eps={eps}")
    window = gaussian_window(int(size), float(sigma)).astype(array.dtype)
    centred = sub(input, NeighbourhoodMean.apply(input, window))
    deviation = sqrt(clamp(NeighbourhoodMean.apply(mul(centred, centred), window), min=eps * eps))
    floor = mean(deviation, (2, 3), keepdims=True)
    return div(centred, where(deviation.array > floor.array, deviation, floor))


# ---- batch normalisation -------------------------------------------------------------------
class BatchNorm(Function):
    """y = (x - mean) / sqrt(var + eps) * weight + bias, per channel (axis 1).

    Training: mean and biased var of the batch (over every axis but 1), and the backward goes
    through them:
        dx = weight / sqrt(var + eps) * (g - mean(g) - x_hat * mean(g * x_hat))
    Evaluation: the given statistics are constants, so dx = g * weight / sqrt(var + eps).
    Floating arrays run in fused Numba passes (kernels/batch_norm.py); backward recomputes x_hat
    from the saved x, as PyTorch does, rather than keeping a second array of the input's size.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, training, momentum, eps):
        channels = x.shape[1]
        positions = int(np.prod(x.shape[2:], dtype=np.int64))  # not -1: any axis may be empty
        x3 = np.ascontiguousarray(x).reshape(x.shape[0], channels, positions)
        if training:
            mean_, var = np.empty(channels), np.empty(channels)
            bn_kernels.channel_mean_var(x3, mean_, var)
            if running_mean is not None:  # updated in place: they are the module's buffers
                count = x.size // channels
                running_mean[...] = (1 - momentum) * running_mean + momentum * mean_
                running_var[...] = (1 - momentum) * running_var + momentum * var * count / (count - 1)
        else:
            mean_, var = running_mean.astype(np.float64), running_var.astype(np.float64)
        inv_std = 1.0 / np.sqrt(var + eps)
        scale = inv_std if weight is None else inv_std * weight
        shift = np.zeros(channels) if bias is None else bias
        dtype = x.dtype  # float32 or float64 (the wrapper checks)
        y = np.empty(x3.shape, dtype)
        bn_kernels.channel_affine(x3, mean_.astype(dtype), scale.astype(dtype), shift.astype(dtype), y)
        ctx.save_for_backward(x3, mean_, inv_std, weight)
        ctx.training = training
        return y.reshape(x.shape)

    @staticmethod
    def backward(ctx, grad):
        x3, mean_, inv_std, weight = ctx.saved_tensors
        grad3 = np.ascontiguousarray(grad, x3.dtype).reshape(x3.shape)
        sum_g, sum_gx = np.empty(len(mean_)), np.empty(len(mean_))
        bn_kernels.batch_norm_grad_sums(x3, grad3, mean_, inv_std, sum_g, sum_gx)
        dtype = x3.dtype
        grad_weight = sum_gx.astype(dtype) if ctx.needs_input_grad[1] else None
        grad_bias = sum_g.astype(dtype) if ctx.needs_input_grad[2] else None
        grad_x = None
        if ctx.needs_input_grad[0]:
            scale = inv_std if weight is None else inv_std * weight
            count = x3.shape[0] * x3.shape[2] if ctx.training else 0
            mean_g = sum_g / count if count else np.zeros_like(sum_g)
            mean_gx = sum_gx / count if count else np.zeros_like(sum_gx)
            grad_x = np.empty(x3.shape, dtype)
            bn_kernels.batch_norm_grad_input(x3, grad3, mean_.astype(dtype), inv_std.astype(dtype),
                                             scale.astype(dtype), mean_g.astype(dtype), mean_gx.astype(dtype),
                                             grad_x)
            grad_x = grad_x.reshape(grad.shape)
        return grad_x, grad_weight, grad_bias, None, None, None, None, None


def _check_channel_vector(op, name, value, channels):
    if value is None:
        return None
    array = float_array(op, name, value)
    if array.shape != (channels,):
        raise ValueError(f"{op}: {name} should have shape ({channels},) for an input with "
                         f"{channels} channels, got {array.shape}")
    return array


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """Batch normalisation (Ioffe and Szegedy 2015, Algorithm 1), PyTorch's F.batch_norm.

        y = (x - mu) / sqrt(sigma^2 + eps) * weight + bias      per channel c (axis 1)

    input: (N, C) or (N, C, *) (BatchNorm1d: (N, C) / (N, C, L); BatchNorm2d: (N, C, H, W);
BatchNorm3d: (N, C, D, H, W));
    running_mean, running_var, weight, bias: (C,) or None.
    training=True: mu and sigma^2 are the batch's mean and biased variance over every axis but 1,
    and running_mean / running_var (if given) are updated in place:
        running_mean <- (1 - momentum) * running_mean + momentum * mu
        running_var  <- (1 - momentum) * running_var  + momentum * sigma^2 * M / (M - 1)
    (M values per channel: the running variance is the unbiased estimate, as PyTorch).
    training=False: mu and sigma^2 are running_mean and running_var.
    """
    op = "batch_norm"
    x = _floating_input(input, op, 2)
    channels = x.shape[1]
    mean_ = _check_channel_vector(op, "running_mean", running_mean, channels)
    var = _check_channel_vector(op, "running_var", running_var, channels)
    _check_channel_vector(op, "weight", weight, channels)
    _check_channel_vector(op, "bias", bias, channels)
    if (mean_ is None) != (var is None):
        raise ValueError(f"{op}: give both running_mean and running_var, or neither")
    # momentum only matters when training (PyTorch checks it nowhere; eval mode ignores it here)
    if training and not (is_real(momentum) and 0.0 <= momentum <= 1.0):
        raise ValueError(f"{op}: momentum must be a number in [0, 1], got {momentum!r}")
    if not is_real(eps) or not eps > 0:
        raise ValueError(f"{op}: eps must be a positive number, got {eps!r}")
    if training and x.size // channels <= 1:
        raise ValueError(f"{op}: expected more than 1 value per channel when training, got "
                         f"input of shape {x.shape}")
    if not training and mean_ is None:
        raise ValueError(f"{op}: running_mean and running_var are needed when training=False")
    return BatchNorm.apply(input, weight, bias, mean_, var, bool(training),
                           float(momentum) if training else None, float(eps))


# ---- layer and group normalisation ---------------------------------------------------------
def _standardize_rows(rows, eps):
    """(M, K) -> (M, K): each row minus its mean, over sqrt(its biased variance + eps).

    This is batch normalisation of the transposed matrix (K samples of M channels), so it reuses
    BatchNorm's Function and its backward: layer norm is batch norm across the features instead of
    across the batch (Ba, Kiros and Hinton 2016, section 3).
    """
    columns = transpose(rows, 0, 1)
    return transpose(BatchNorm.apply(columns, None, None, None, None, True, 0.0, eps), 0, 1)


def _affine(x, weight, bias, shape):
    """x * weight + bias with weight and bias reshaped to `shape` (None skips either)."""
    if weight is not None:
        x = mul(x, reshape(weight, shape))
    return x if bias is None else add(x, reshape(bias, shape))


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Layer normalisation (Ba, Kiros and Hinton 2016), PyTorch's F.layer_norm.

        y = (x - mean) / sqrt(var + eps) * weight + bias

    mean and (biased) var over the last len(normalized_shape) axes of each sample, which must be
    `normalized_shape`. input: (*, *normalized_shape); weight, bias: normalized_shape or None.
    """
    op = "layer_norm"
    array = _floating_input(input, op, 1)
    normalized = (normalized_shape,) if is_int(normalized_shape) else normalized_shape
    if not isinstance(normalized, (tuple, list)) or not normalized or not all(is_int(n) for n in normalized):
        raise TypeError(f"{op}: normalized_shape must be an int or a non-empty tuple of ints, "
                        f"got {normalized_shape!r}")
    normalized = tuple(int(n) for n in normalized)
    k = len(normalized)
    if array.shape[array.ndim - k:] != normalized or array.ndim < k:
        raise ValueError(f"{op}: normalized_shape={normalized} needs an input of shape (*, "
                         f"{', '.join(map(str, normalized))}), got {array.shape}")
    for name, value in (("weight", weight), ("bias", bias)):
        if value is not None and float_array(op, name, value).shape != normalized:
            raise ValueError(f"{op}: {name} must have shape {normalized} (normalized_shape), "
                             f"got {shape_of(value)}")
    eps = non_negative(op, "eps", eps)
    features = int(np.prod(normalized))
    rows = reshape(input, (array.size // features if features else 0, features))
    out = reshape(_standardize_rows(rows, eps), array.shape)
    return _affine(out, weight, bias, normalized)


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Group normalisation (Wu and He 2018), PyTorch's F.group_norm.

    The C channels are split into num_groups groups of C / num_groups; each sample is normalised
    over each group's channels and all spatial positions, then scaled per channel:

        y[n, c] = (x[n, c] - mean[n, g]) / sqrt(var[n, g] + eps) * weight[c] + bias[c],  g = c // (C/G)

    input: (N, C, *); weight, bias: (C,) or None. num_groups=1 is layer norm over (C, *);
    num_groups=C is instance norm.
    """
    op = "group_norm"
    array = _floating_input(input, op, 2)
    channels = array.shape[1]
    if not is_int(num_groups) or num_groups < 1:
        raise ValueError(f"{op}: num_groups must be a positive int, got {num_groups!r}")
    if channels % num_groups:
        raise ValueError(f"{op}: num_groups={num_groups} must divide the {channels} channels of input "
                         f"of shape {array.shape}")
    _check_channel_vector(op, "weight", weight, channels)
    _check_channel_vector(op, "bias", bias, channels)
    eps = non_negative(op, "eps", eps)
    n = array.shape[0]
    rows = reshape(input, (n * num_groups, channels // num_groups * int(np.prod(array.shape[2:]))))
    out = reshape(_standardize_rows(rows, eps), array.shape)
    return _affine(out, weight, bias, (channels,) + (1,) * (array.ndim - 2))


# ---- normalising vectors to unit length ----------------------------------------------------
def normalize(input, p=2.0, dim=1, eps=1e-12):
    """input / max(||input||_p, eps) along `dim`, PyTorch's F.normalize: unit vectors along dim.

    input: any shape; dim an int or a tuple of ints; p > 0 or inf. Vectors shorter than eps are
    divided by eps (so a zero vector stays zero, with a finite gradient).
    """
    op = "normalize"
    array = float_array(op, "input", input)
    if not is_real(p) or not p > 0:
        raise ValueError(f"{op}: p must be a positive number or inf, got {p!r}")
    axes = normalize_axes(dim, array.ndim, op)
    eps = non_negative(op, "eps", eps)
    return div(input, clamp(VectorNorm.apply(input, float(p), axes, True), min=eps))
