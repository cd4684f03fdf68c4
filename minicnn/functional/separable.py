"""Separable convolutions: two 1-D filters for one 2-D filter, its low-rank approximation, and
depthwise-separable convolution.

separable_conv2d and low_rank_conv2d run on the separable kernels of minicnn.kernels.separable
(a 1 x kW pass along the rows, then a kH x 1 pass down the columns); depthwise_separable_conv2d
is two conv2d calls, the depthwise one on the dedicated depthwise kernel.
"""
from __future__ import annotations

import numpy as np

from ..kernels import im2col, separable
from ..kernels.registry import check_memory
from ..tensor import Function
from .conv import conv2d, conv_geometry
from .checks import check_rank, common_float_dtype, is_int, shape_of


def _stand_in(shape: tuple, dtype) -> np.ndarray:
    """An uninitialised array of the full weight's shape, for conv_geometry's checks."""
    return np.empty(shape, dtype)


def _planar_gradient(x5, grad_y, geometry):
    """dL/dA (K, C/G, kH, kW) for the full kernel A the layer applied: the ordinary weight gradient."""
    grad_w = im2col.backward_weight(x5, np.ascontiguousarray(grad_y.reshape(geometry.output_shape)), geometry)
    return grad_w.reshape(geometry.weight_shape[:2] + geometry.weight_shape[3:])


def _input(x, geometry):
    x5 = np.ascontiguousarray(x).reshape(geometry.input_shape)
    return x5 if x5.flags.writeable else x5.copy()


def _output(y):
    """(N, K, 1, oH, oW) -> (N, K, oH, oW)."""
    return y.reshape(y.shape[:2] + y.shape[3:])


# ---- two 1-D factors -------------------------------------------------------------------------------
def _factored_forward(ctx, x5, col, row, bias):
    """The row pass then the column pass with factors col (K, C/G, R, kH) and row (K, C/G, R, kW),
    plus the bias; saves what `_factored_backward` needs."""
    ctx.save_for_backward(x5, col, row)
    ctx.has_bias = bias is not None
    y = separable.separable_forward(x5, col, row, ctx.geometry)
    if bias is not None:
        y += bias.reshape(1, -1, 1, 1, 1)
    return _output(y)


def _factored_backward(ctx, grad_y, x_shape, bias_position):
    """What the gradient of a factored convolution needs whatever the factors came from:
    (x5, dL/dy in the 5-D layout, dL/dx or None, dL/dbias or None)."""
    x5, col, row = ctx.saved_tensors
    gy5 = np.ascontiguousarray(grad_y).reshape(ctx.geometry.output_shape)
    grad_x = grad_b = None
    if ctx.needs_input_grad[0]:
        grad_x = separable.separable_backward_data(gy5, col, row, ctx.geometry).reshape(x_shape)
    if ctx.has_bias and ctx.needs_input_grad[bias_position]:
        grad_b = grad_y.sum(axis=(0, 2, 3))
    return x5, gy5, grad_x, grad_b


class SeparableConv(Function):
    """y = conv2d(x, col outer row) + bias, run as a row pass and a column pass.

    With w[k, c, a, b] = u[k, c, a] v[k, c, b] and G = dL/dw the ordinary weight gradient, the
    chain rule through the outer product gives dL/du[a] = sum_b G[a, b] v[b] and
    dL/dv[b] = sum_a G[a, b] u[a].
    """

    @staticmethod
    def forward(ctx, x, col_filter, row_filter, bias, geometry):
        ctx.geometry, ctx.x_shape = geometry, x.shape
        col = np.ascontiguousarray(col_filter)[:, :, None, :]
        row = np.ascontiguousarray(row_filter)[:, :, None, :]
        return _factored_forward(ctx, _input(x, geometry), col, row, bias)

    @staticmethod
    def backward(ctx, grad_y):
        x5, gy5, grad_x, grad_b = _factored_backward(ctx, grad_y, ctx.x_shape, bias_position=3)
        grad_col = grad_row = None
        if ctx.needs_input_grad[1] or ctx.needs_input_grad[2]:
            _, col, row = ctx.saved_tensors
            grad_w = _planar_gradient(x5, gy5, ctx.geometry)
            grad_col = np.einsum("kcab,kcb->kca", grad_w, row[:, :, 0])
            grad_row = np.einsum("kcab,kca->kcb", grad_w, col[:, :, 0])
        return grad_x, grad_col, grad_row, grad_b, None


def separable_conv2d(input, col_filter, row_filter, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution with spatially separable kernels given by their two 1-D factors.

    weight[k, c, a, b] = col_filter[k, c, a] * row_filter[k, c, b], and
    y = conv2d(x, weight, bias, stride, padding, dilation, groups), computed as a 1 x kW
    convolution along the rows and a kH x 1 one down the columns: kH + kW multiplies per output
    and channel pair instead of kH * kW.

    x: (N, Cin, H, W), col_filter: (Cout, Cin/groups, kH), row_filter: (Cout, Cin/groups, kW),
    bias: (Cout,) -> (N, Cout, oH, oW), sizes as for conv2d. stride, padding, dilation as in conv2d.

    >>> y = separable_conv2d(x, gaussian[None, None], gaussian[None, None], padding="same")  # doctest: +SKIP
    """
    op = "separable_conv2d"
    dtype = common_float_dtype(op, input=input, col_filter=col_filter, row_filter=row_filter, bias=bias)
    cs, rs = shape_of(col_filter), shape_of(row_filter)
    check_rank(op, "col_filter", cs, 3, "(Cout, Cin/groups, kH)")
    check_rank(op, "row_filter", rs, 3, "(Cout, Cin/groups, kW)")
    if cs[0] == 0 or cs[:2] != rs[:2]:
        raise ValueError(f"{op}: col_filter {cs} and row_filter {rs} must agree on (Cout, Cin/groups)")
    weight = _stand_in(cs[:2] + (cs[2], rs[2]), dtype)
    geometry = conv_geometry(op, input, weight, bias, stride, padding, dilation, groups, 2)
    check_memory(op, separable.SEPARABLE, geometry)
    return SeparableConv.apply(input, col_filter, row_filter, bias, geometry)


# ---- rank-r approximation ----------------------------------------------------------------------------
def _svd(weight, geometry):
    """Full SVD of every kernel, padded with zeros to a square q x q (q = max(kH, kW)) so that the
    gradient below needs one formula: U (B, q, q), s (B, q), Vt (B, q, q), B = K * C/G."""
    c_out, c_group, _, k_h, k_w = geometry.weight_shape
    q = max(k_h, k_w)
    square = np.zeros((c_out * c_group, q, q))
    square[:, :k_h, :k_w] = weight.reshape(c_out * c_group, k_h, k_w)
    return np.linalg.svd(square)


def truncated_svd_backward(grad, u, s, vt, rank):
    """dL/dA from dL/dA_r = grad for A_r = U_r diag(s_r) V_r^T, the best rank-r approximation of A.

    In the singular bases (G' = U^T grad V, K the kept indices < r, D the dropped ones), the
    perturbation of the SVD (dU = U Omega_U, dV = V Omega_V, Omega antisymmetric) gives
    dL/dA = U H V^T with H = G' on K x K, 0 on D x D, and where one index is kept and one dropped

        H[i, j] = (s_i^2 G'[i, j] + s_i s_j G'[j, i]) / (s_i^2 - s_j^2)    i in K, j in D
        H[i, j] = (s_j^2 G'[i, j] + s_i s_j G'[j, i]) / (s_j^2 - s_i^2)    i in D, j in K

    It exists only when s_r > s_{r+1} (else the best rank-r approximation is not unique): a
    ValueError then. u, vt: (B, q, q), s: (B, q), grad: (B, q, q) -> (B, q, q).
    """
    g = np.einsum("bji,bjk,blk->bil", u, grad, vt)  # U^T grad V
    kept = np.arange(s.shape[1]) < rank
    si, sj = s[:, :, None], s[:, None, :]
    gap = si ** 2 - sj ** 2
    mixed = kept[:, None] != kept[None, :]
    if np.any(np.abs(gap[:, mixed]) <= 1e-12 * s[:, :1] ** 2):
        raise ValueError(f"low_rank_conv2d: the rank-{rank} approximation has no gradient here: a kernel's "
                         f"singular values {rank} and {rank + 1} are equal (it has no unique best "
                         f"rank-{rank} approximation); choose another rank")
    safe_gap = np.where(mixed, gap, 1.0)
    transposed = g.transpose(0, 2, 1)
    row_kept = kept[:, None] & ~kept[None, :]
    h = np.where(kept[:, None] & kept[None, :], g, 0.0)
    h = np.where(row_kept, (si ** 2 * g + si * sj * transposed) / safe_gap, h)
    h = np.where(~kept[:, None] & kept[None, :], (sj ** 2 * g + si * sj * transposed) / -safe_gap, h)
    return np.einsum("bij,bjk,bkl->bil", u, h, vt)


class LowRankConv(Function):
    """y = conv2d(x, A_r) + bias, A_r the SVD rank-r approximation of each kernel, run as a sum of
    r separable convolutions; backward through the truncated SVD (truncated_svd_backward)."""

    @staticmethod
    def forward(ctx, x, weight, bias, geometry, rank):
        c_out, c_group, _, k_h, k_w = geometry.weight_shape
        u, s, vt = _svd(np.asarray(weight, np.float64), geometry)
        col = (u[:, :k_h, :rank] * s[:, None, :rank]).transpose(0, 2, 1)
        col = np.ascontiguousarray(col.reshape(c_out, c_group, rank, k_h), geometry.dtype)
        row = np.ascontiguousarray(vt[:, :rank, :k_w].reshape(c_out, c_group, rank, k_w), geometry.dtype)
        ctx.svd, ctx.geometry, ctx.rank, ctx.shapes = (u, s, vt), geometry, rank, (x.shape, weight.shape)
        return _factored_forward(ctx, _input(x, geometry), col, row, bias)

    @staticmethod
    def backward(ctx, grad_y):
        x5, gy5, grad_x, grad_b = _factored_backward(ctx, grad_y, ctx.shapes[0], bias_position=2)
        grad_w = None
        if ctx.needs_input_grad[1]:
            c_out, c_group, _, k_h, k_w = ctx.geometry.weight_shape
            q = max(k_h, k_w)
            grad_ar = np.zeros((c_out * c_group, q, q))
            grad_ar[:, :k_h, :k_w] = _planar_gradient(x5, gy5, ctx.geometry).reshape(-1, k_h, k_w)
            if ctx.rank < min(k_h, k_w):  # else A_r = A and the truncation passes the gradient through
                grad_ar = truncated_svd_backward(grad_ar, *ctx.svd, ctx.rank)
            grad_w = grad_ar[:, :k_h, :k_w].reshape(ctx.shapes[1])
        return grad_x, grad_w, grad_b, None


def low_rank_conv2d(input, weight, rank, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """conv2d with every kernel replaced by its best rank-`rank` approximation: LOSSY unless
    rank >= the kernels' rank.

    Each kH x kW kernel w = sum_i s_i u_i v_i^T (its SVD, s_1 >= s_2 >= ...) is cut to its first
    `rank` terms (Eckart-Young: the closest rank-r matrix in the Frobenius norm, off by
    sqrt(s_{r+1}^2 + ...)), and y = sum_{i <= r} separable_conv2d(x, s_i u_i, v_i): r (kH + kW)
    multiplies per output and channel pair instead of kH kW (Denton et al. 2014; Jaderberg,
    Vedaldi & Zisserman 2014). rank = min(kH, kW) reproduces conv2d. The gradient with respect to
    weight goes through the truncation and exists when s_rank > s_{rank+1}.

    x: (N, Cin, H, W), weight: (Cout, Cin/groups, kH, kW), bias: (Cout,) -> (N, Cout, oH, oW);
    stride, padding, dilation, groups as in conv2d.
    """
    op = "low_rank_conv2d"
    geometry = conv_geometry(op, input, weight, bias, stride, padding, dilation, groups, 2)
    check_memory(op, separable.SEPARABLE, geometry)  # the same passes, run `rank` times
    k_h, k_w = geometry.kernel_size[1:]
    if not is_int(rank) or not 1 <= rank <= min(k_h, k_w):
        raise ValueError(f"{op}: rank must be an int from 1 to min(kH, kW) = {min(k_h, k_w)}, got {rank!r}")
    return LowRankConv.apply(input, weight, bias, geometry, rank=int(rank))


# ---- depthwise separable -----------------------------------------------------------------------------
def depthwise_separable_conv2d(input, depthwise_weight, pointwise_weight, depthwise_bias=None, pointwise_bias=None,
                               stride=1, padding=0, dilation=1, algorithm="depthwise"):
    """Depthwise-separable convolution (Sifre 2014; Xception, MobileNet): a kH x kW filter per
    input channel, then a 1 x 1 convolution mixing the channels.

    h = conv2d(x, depthwise_weight, depthwise_bias, stride, padding, dilation, groups=Cin)
    y = conv2d(h, pointwise_weight, pointwise_bias)
    Cin (kH kW + Cout) multiplies per output position instead of Cin kH kW Cout.

    x: (N, Cin, H, W), depthwise_weight: (Cin, 1, kH, kW), pointwise_weight: (Cout, Cin, 1, 1),
    biases (Cin,) and (Cout,) -> (N, Cout, oH, oW). `algorithm` runs the depthwise step
    ("depthwise", the dedicated kernel, by default); the pointwise step is a GEMM ("auto").
    """
    op = "depthwise_separable_conv2d"
    common_float_dtype(op, input=input, depthwise_weight=depthwise_weight, pointwise_weight=pointwise_weight,
                       depthwise_bias=depthwise_bias, pointwise_bias=pointwise_bias)
    xs, ds, ps = shape_of(input), shape_of(depthwise_weight), shape_of(pointwise_weight)
    check_rank(op, "input", xs, 4, "(N, Cin, H, W)")
    check_rank(op, "depthwise_weight", ds, 4, "(Cin, 1, kH, kW)")
    check_rank(op, "pointwise_weight", ps, 4, "(Cout, Cin, 1, 1)")
    if ds[:2] != (xs[1], 1):
        raise ValueError(f"{op}: depthwise_weight must have shape ({xs[1]}, 1, kH, kW) for an input with "
                         f"{xs[1]} channels, got {ds}")
    if ps[1:] != (xs[1], 1, 1):
        raise ValueError(f"{op}: pointwise_weight must have shape (Cout, {xs[1]}, 1, 1), got {ps}")
    h = conv2d(input, depthwise_weight, depthwise_bias, stride, padding, dilation, groups=xs[1], algorithm=algorithm)
    return conv2d(h, pointwise_weight, pointwise_bias)
