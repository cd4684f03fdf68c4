"""Batch normalisation (Ioffe & Szegedy 2015) in fused passes over (N, C, M) arrays, M the flattened
positions, one channel per parallel task (SizedKernels, threads.py: the serial build
runs on small arrays); every per-channel sum is accumulated in float64.

    forward:   mean_c = sum x / K,  var_c = sum (x - mean_c)^2 / K     (K = N * M, two passes)
               y = (x - mean_c) * scale_c + bias_c,  scale_c = weight_c / sqrt(var_c + eps)
    backward:  x_hat = (x - mean_c) * inv_std_c (recomputed: x is saved, not x_hat)
               sum_g = sum g,  sum_gx = sum g * x_hat                  (one pass)
               dx = scale_c * (g - mean_g - x_hat * mean_gx)           (one pass)
with mean_g = sum_g / K and mean_gx = sum_gx / K in training, and both 0 in evaluation, where
the statistics are constants.

The sums may be reassociated (fastmath "reassoc"), which lets them run in SIMD lanes; no other
fast-math flag is set, so NaN and infinity propagate as in plain arithmetic.
"""
from numba import prange

from .threads import SizedKernel


SUMS = {"reassoc", "contract"}


def channel_mean_var(x, mean, var):
    """mean[c], var[c] (biased) of x[:, c, :] (N, C, M), in float64."""
    n_batch, channels, size = x.shape
    count = n_batch * size
    for c in prange(channels):
        total = 0.0
        for n in range(n_batch):
            for m in range(size):
                total += x[n, c, m]
        mu = total / count
        squares = 0.0
        for n in range(n_batch):
            for m in range(size):
                d = x[n, c, m] - mu
                squares += d * d
        mean[c], var[c] = mu, squares / count


def channel_affine(x, shift, scale, bias, out):
    """out[n, c, m] = (x[n, c, m] - shift[c]) * scale[c] + bias[c]."""
    n_batch, channels, size = x.shape
    for c in prange(channels):
        s, k, b = shift[c], scale[c], bias[c]
        for n in range(n_batch):
            for m in range(size):
                out[n, c, m] = (x[n, c, m] - s) * k + b


def batch_norm_grad_sums(x, grad, mean, inv_std, sum_g, sum_gx):
    """sum_g[c] = sum g, sum_gx[c] = sum g * (x - mean[c]) * inv_std[c], in float64."""
    n_batch, channels, size = x.shape
    for c in prange(channels):
        mu, r = mean[c], inv_std[c]
        total_g = 0.0
        total_gx = 0.0
        for n in range(n_batch):
            for m in range(size):
                g = grad[n, c, m]
                total_g += g
                total_gx += g * (x[n, c, m] - mu)
        sum_g[c], sum_gx[c] = total_g, total_gx * r


def batch_norm_grad_input(x, grad, mean, inv_std, scale, mean_g, mean_gx, grad_x):
    """grad_x = scale[c] * (g - mean_g[c] - x_hat * mean_gx[c]), x_hat = (x - mean[c]) * inv_std[c]."""
    n_batch, channels, size = x.shape
    for c in prange(channels):
        mu, r, k, a, b = mean[c], inv_std[c], scale[c], mean_g[c], mean_gx[c]
        for n in range(n_batch):
            for m in range(size):
                grad_x[n, c, m] = k * (grad[n, c, m] - a - (x[n, c, m] - mu) * r * b)


# parallel from these sizes on (benchmarks/bench_sized_kernels.py): below, one core streams the
# array faster than two woken for it
channel_mean_var = SizedKernel(channel_mean_var, parallel_from=1 << 21, fastmath=SUMS)
channel_affine = SizedKernel(channel_affine, parallel_from=1 << 22)
batch_norm_grad_sums = SizedKernel(batch_norm_grad_sums, parallel_from=1 << 22, fastmath=SUMS)
batch_norm_grad_input = SizedKernel(batch_norm_grad_input, parallel_from=1 << 22)
