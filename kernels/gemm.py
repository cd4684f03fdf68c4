"""1x1 convolution as a plain matrix product: no column matrix, no copies.

A kernel of one tap (kD = kH = kW = 1) with no padding reads each output position's C input
values at one place, so for group g, with x_g the (C/G, positions) matrix of one image:

    y_g[n]  = W_g @ x_g[n]                 forward: N x G GEMMs (K/G x C/G)(C/G x P)
    dx_g[n] = W_g^T @ dy_g[n]              data gradient
    dW_g    = sum_n dy_g[n] @ x_g[n]^T     weight gradient

all as single batched NumPy matmul calls, each GEMM running in BLAS; on maps of a few positions,
where those per-image products are almost matrix-vector products, each pass is instead one
product over all the images side by side. A stride s > 1 (the
projection shortcuts of ResNets) first takes every s-th position; its data gradient scatters
back to those positions and leaves the others zero. This is the "1x1 -> plain GEMM" branch of
algorithm="auto" (the bottleneck layers of ResNet, GoogLeNet's reductions, NiN's mlpconv).
"""
from __future__ import annotations

import math

import numpy as np

from . import threads
from .registry import DTYPES, ConvAlgorithm


def supports(geometry):
    if geometry.dtype not in DTYPES:
        return f"dtype {geometry.dtype} is not float32 or float64"
    if any(k != 1 for k in geometry.kernel_size):
        return f"needs a 1x1 kernel, got {'x'.join(map(str, geometry.kernel_size[3 - geometry.spatial_dims:]))}"
    if any(p != (0, 0) for p in geometry.padding):
        return "needs padding 0"
    return None


def _sampled(x, geometry):
    """x at the positions the 1x1 kernel reads: every s-th sample along each axis."""
    sd, sh, sw = geometry.stride
    if (sd, sh, sw) == (1, 1, 1):
        return x
    o_d, o_h, o_w = geometry.output_spatial
    return x[:, :, :sd * o_d:sd, :sh * o_h:sh, :sw * o_w:sw]


def _by_group(a, groups):
    """(N, C, *spatial) -> (N, G, C/G, positions), a view when a is contiguous."""
    n, c = a.shape[:2]
    # the positions are spelled out, not -1: NumPy cannot infer an axis of an empty batch
    return np.ascontiguousarray(a).reshape(n, groups, c // groups, math.prod(a.shape[2:]))


def _weight(weight, groups):
    """(K, C/G, 1, 1, 1) -> (G, K/G, C/G)."""
    k, c_group = weight.shape[:2]
    return weight.reshape(groups, k // groups, c_group)


def _one_product(rows: int, inner: int, positions: int) -> bool:
    """Whether a pass should be one product over every image's positions rather than one per
    image: when the matrix the per-image products share (rows x inner) outweighs twice an
    image's operands (positions x (rows + inner)), each of the N products would mostly pack
    that matrix again (a map of one position makes them matrix-vector products), and moving the
    images side by side costs less."""
    return rows * inner > 2 * positions * (rows + inner)


def _product(matrix, grouped):
    """matrix (G, R, I) applied to each image of grouped (N, G, I, P): (N, G, R, P), as N
    products, or as one (G, R, I) @ (G, I, N * P) when _one_product says so."""
    n, groups, inner, positions = grouped.shape
    rows = matrix.shape[1]
    if not _one_product(rows, inner, positions):
        return threads.matmul(matrix, grouped)
    side_by_side = grouped.transpose(1, 2, 0, 3).reshape(groups, inner, n * positions)
    product = threads.matmul(matrix, side_by_side).reshape(groups, rows, n, positions)
    return np.ascontiguousarray(product.transpose(2, 0, 1, 3))


def forward(x, weight, geometry):
    """y (N, K, oD, oH, oW) = W x, one GEMM per image and group."""
    y = _product(_weight(weight, geometry.groups), _by_group(_sampled(x, geometry), geometry.groups))
    return y.reshape(geometry.output_shape)


def backward_data(grad_y, weight, geometry):
    """dL/dx (N, C, D, H, W) = W^T dL/dy at the sampled positions, 0 elsewhere."""
    w_t = _weight(weight, geometry.groups).transpose(0, 2, 1)
    sampled = _product(w_t, _by_group(grad_y, geometry.groups))
    n, c = geometry.input_shape[:2]
    sampled = sampled.reshape((n, c) + geometry.output_spatial)
    if geometry.stride == (1, 1, 1):
        return sampled
    grad_x = np.zeros(geometry.input_shape, geometry.dtype)
    sd, sh, sw = geometry.stride
    o_d, o_h, o_w = geometry.output_spatial
    grad_x[:, :, :sd * o_d:sd, :sh * o_h:sh, :sw * o_w:sw] = sampled
    return grad_x


def backward_weight(x, grad_y, geometry):
    """dL/dW (K, C/G, 1, 1, 1) = sum over images of dL/dy x^T: N products (K/G x C/G) summed,
    or, where those N products would outweigh the activations (maps of a few positions: a
    ResNet's last stage at 32x32 input, where the N products took 40x longer), one product
    over every image's positions, (K/G, N * P) @ (N * P, C/G), at the cost of copying both."""
    x_groups = _by_group(_sampled(x, geometry), geometry.groups)  # (N, G, C/G, P)
    gy_groups = _by_group(grad_y, geometry.groups)                 # (N, G, K/G, P)
    n, groups, c_group, positions = x_groups.shape
    k_group = gy_groups.shape[2]
    if _one_product(k_group, c_group, positions):
        a = gy_groups.transpose(1, 2, 0, 3).reshape(groups, k_group, n * positions)
        b = x_groups.transpose(1, 0, 3, 2).reshape(groups, n * positions, c_group)
        return threads.matmul(a, b).reshape(geometry.weight_shape)
    per_image = threads.matmul(gy_groups, x_groups.transpose(0, 1, 3, 2))
    return per_image.sum(axis=0).reshape(geometry.weight_shape)


ALGORITHM = ConvAlgorithm(
    name="gemm",
    capabilities="1x1 kernels with no padding (any stride, groups and rank), float32 and float64",
    forward=forward, backward_data=backward_data, backward_weight=backward_weight,
    supports=supports,
    # a strided layer copies the sampled input; otherwise everything is a view
    workspace=lambda g: 0 if g.stride == (1, 1, 1) else int(np.prod(g.input_shape[:2]) *
                                                             np.prod(g.output_spatial)) * g.dtype.itemsize,
)
