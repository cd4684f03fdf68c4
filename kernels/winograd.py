"""Winograd minimal filtering for 3x3, stride-1 convolutions: F(2x2,3x3) and F(4x4,3x3).

Lavin & Gray 2016, "Fast Algorithms for Convolutional Neural Networks" (CVPR), after Winograd
1980, "Arithmetic Complexity of Computations". F(m, r) gives m outputs of an r-tap correlation,
y_i = sum_k d_{i+k} g_k, from a = m + r - 1 inputs with a multiplications instead of m * r:

    y = A^T [(G g) * (B^T d)]                       (* elementwise)

and nested in 2-D, for an a x a input tile d and an r x r filter g, an m x m output tile:

    Y = A^T [(G g G^T) * (B^T d B)] A

A layer cuts each input plane into a x a tiles, m apart (they overlap by r - 1), zero-extending
the input past its last tiles and cropping the output. With U = G g G^T for every filter (k, c)
and V = B^T d B for every (c, tile), each of the a^2 positions xi of a transformed tile is an
independent matrix product that sums over the input channels:

    M[xi, k, tile] = sum_c U[xi, k, c] V[xi, c, tile]        a^2 GEMMs (K x C)(C x tiles)

and channel k's output tile is A^T M[:, k, tile] A. Per output, F(2x2,3x3) multiplies 16/4 = 4
times where direct convolution multiplies 9 (2.25x fewer); F(4x4,3x3) 36/16 = 2.25 times (4x
fewer). The price is the transforms' additions and a rounding error that grows with the tile.

Where A, G, B come from: Toom-Cook, i.e. polynomial interpolation, i.e. the Chinese remainder
theorem for the moduli x - p_j (Lavin & Gray sec. 4; Blahut, "Fast Algorithms for Signal
Processing", ch. 5). The linear convolution s = g * h of g (r taps) and h (m taps) is the product
of polynomials s(x) = g(x) h(x), of degree a - 1. Pick a - 1 distinct points p_j. Because
s(x) - s_{a-1} M(x) has degree a - 2 and takes the values s(p_j) at the a - 1 points,

    s(x) = sum_j g(p_j) h(p_j) M_j(x) / M_j(p_j)  +  g_{r-1} h_{m-1} M(x)
    M(x) = prod_j (x - p_j),   M_j(x) = M(x) / (x - p_j)

a multiplications: one per point and one for the leading coefficients (the "point at infinity").
As matrices, s = C [(G g) * (H h)] with
    G row j = (1, p_j, ..., p_j^{r-1}) / M_j(p_j),  row infinity = (0, ..., 0, 1)
    H row j = (1, p_j, ..., p_j^{m-1}),             row infinity = (0, ..., 0, 1)
    C column j = the coefficients of M_j,           column infinity = those of M.
A CNN computes a correlation, the transpose of a convolution: y_i = sum_n d_n g_{n-i} is the
matrix of h -> g * h, transposed (the transposition principle). So y = H^T [(G g) * (C^T d)]:

    A^T[i, j] = p_j^i,   B^T row j = coefficients of M_j (row infinity: of M),   G as above.

`toom_cook` builds them in exact rationals. With points 0, 1, -1, 2, -2 they are the F(4,3)
matrices printed by Lavin & Gray; with 0, 1, -1 their F(2,3) ones up to the signs of one
row/column pair. Small points keep the entries, and so the rounding error, small; larger tiles
need points like +-1/2 (F(6,3)) and lose more precision. The matrices are derived exactly, stored
in float64 and cast to the input's dtype; every sum runs in the input's dtype (float32 or float64).

Backward passes (Lavin & Gray sec. 4), both Winograd too:
- dL/dx is a stride-1 correlation of dL/dy, padded by 2 - p (cropped where p > 2), with the
  filters rotated by 180 degrees and their in/out channels swapped: the forward path as it is.
- dL/dw[k, c, u, v] = sum_{n,i,j} dL/dy[n, k, i, j] x_pad[n, c, i+u, j+v] is a correlation of
  x_pad with dL/dy giving a 3x3 result. Cut dL/dy into 2x2 pieces; each piece at (2s, 2t) adds
  the correlation of the 4x4 x_pad tile at (2s, 2t) with that 2x2 "filter", which is F(3x3, 2x2):
      dL/dw[k, c] = A^T [ sum_{n, tiles} (G dy_tile G^T) * (B^T x_tile B) ] A
  a^2 = 16 GEMMs (K x N*tiles)(N*tiles x C). With the points 0, 1, -1 its a = 4 and its B^T are
  those of F(2x2,3x3), so it cuts x into the same tiles.
"""
from __future__ import annotations

import dataclasses
from fractions import Fraction

import numpy as np
from numba import njit, prange

from . import threads
from .registry import DTYPES, ConvAlgorithm


# ---- the transform matrices ------------------------------------------------------------------------
def _polynomial_from_roots(roots) -> list:
    """Coefficients, lowest power first, of prod (x - root), as Fractions."""
    coefficients = [Fraction(1)]
    for root in roots:
        product = [Fraction(0)] * (len(coefficients) + 1)
        for power, c in enumerate(coefficients):
            product[power] -= root * c
            product[power + 1] += c
        coefficients = product
    return coefficients


def toom_cook(m: int, r: int, points) -> tuple:
    """Exact (A^T (m x a), G (a x r), B^T (a x a)) of F(m, r), a = m + r - 1, from the a - 1 finite
    interpolation points (the last row/column is the point at infinity); see the module docstring.

    For any d (a) and g (r): A^T [(G g) * (B^T d)] = (sum_k d_{i+k} g_k for i < m). Object arrays
    of fractions.Fraction."""
    points = [Fraction(p) for p in points]
    a = m + r - 1
    if len(points) != a - 1 or len(set(points)) != a - 1:
        raise ValueError(f"F({m}, {r}) needs {a - 1} distinct points, got {points}")
    a_t = np.full((m, a), Fraction(0), dtype=object)
    g = np.full((a, r), Fraction(0), dtype=object)
    b_t = np.full((a, a), Fraction(0), dtype=object)
    for j, p in enumerate(points):
        others = points[:j] + points[j + 1:]
        m_j_at_p = np.prod([p - q for q in others], dtype=object)
        a_t[:, j] = [p ** i for i in range(m)]
        g[j] = [p ** k / m_j_at_p for k in range(r)]
        b_t[j, :a - 1] = _polynomial_from_roots(others)
    a_t[m - 1, a - 1] = g[a - 1, r - 1] = Fraction(1)
    b_t[a - 1] = _polynomial_from_roots(points)
    return a_t, g, b_t


@dataclasses.dataclass(frozen=True)
class MinimalFiltering:
    """F(m x m, r x r) with its transforms in float64: Y = A^T [(G g G^T) * (B^T d B)] A."""

    m: int
    r: int
    points: tuple
    output_transform: np.ndarray  # A^T, (m, a)
    filter_transform: np.ndarray  # G, (a, r)
    input_transform: np.ndarray   # B^T, (a, a)

    @property
    def a(self) -> int:
        """Side of an input tile: m + r - 1."""
        return self.m + self.r - 1

    @classmethod
    def from_points(cls, m: int, r: int, points: tuple) -> MinimalFiltering:
        """F(m x m, r x r) from its a - 1 finite interpolation points (see `toom_cook`)."""
        a_t, g, b_t = (matrix.astype(np.float64) for matrix in toom_cook(m, r, points))
        return cls(m, r, tuple(points), a_t, g, b_t)


F2X3 = MinimalFiltering.from_points(2, 3, (0, 1, -1))
F4X3 = MinimalFiltering.from_points(4, 3, (0, 1, -1, 2, -2))
F3X2 = MinimalFiltering.from_points(3, 2, (0, 1, -1))  # the weight gradient's


# ---- the fused transform loops -------------------------------------------------------------------
# Both loops work on blocks of BLOCK consecutive tiles of one channel, tile index innermost: the
# arithmetic then runs along contiguous vectors (SIMD) whatever the image size, a block's buffers
# stay in the L1 cache, and the tiles come out in the column order of the GEMM operands.
BLOCK = 128


@njit(parallel=True, cache=True)
def winograd_tile_transform(x, transform, out, step, pad_top, pad_left, tiles_h, tiles_w):
    """out[i*a + j, c, (n, s, t)] = (L d L^T)[i, j] for every t x t tile d of x (N, C, H, W), the one
    whose corner is at (s*step - pad_top, t*step - pad_left), zero outside x; L = transform (a x t).

    Serves B^T d B (input tiles, t = a, step m) and G g G^T (the 2x2 pieces of dL/dy, for the
    weight gradient). out: (a*a, C, N * tiles_h * tiles_w), so that each xi is one GEMM operand.
    """
    n_batch, channels, height, width = x.shape
    size_a, size_t = transform.shape
    tiles = tiles_h * tiles_w
    positions = n_batch * tiles
    blocks = (positions + BLOCK - 1) // BLOCK
    for task in prange(channels * blocks):  # tasks write disjoint slices of out
        c, first = task // blocks, (task % blocks) * BLOCK
        count = min(BLOCK, positions - first)
        d = np.empty((size_t, size_t, BLOCK), x.dtype)
        n, rest = divmod(first, tiles)
        s, t = divmod(rest, tiles_w)
        for q in range(count):  # cut out the tiles, zero outside x
            h0, w0 = s * step - pad_top, t * step - pad_left
            if h0 >= 0 and w0 >= 0 and h0 + size_t <= height and w0 + size_t <= width:
                for u in range(size_t):
                    for v in range(size_t):
                        d[u, v, q] = x[n, c, h0 + u, w0 + v]
            else:
                for u in range(size_t):
                    for v in range(size_t):
                        h, w = h0 + u, w0 + v
                        d[u, v, q] = x[n, c, h, w] if 0 <= h < height and 0 <= w < width else 0.0
            t += 1  # the next tile, in (n, s, t) order
            if t == tiles_w:
                t, s = 0, s + 1
                if s == tiles_h:
                    s, n = 0, n + 1
        # L d, then (L d) L^T. The transforms are about 40% zeros: skipping them saves that much.
        half = np.zeros((size_a, size_t, BLOCK), x.dtype)
        for i in range(size_a):
            for u in range(size_t):
                coefficient = transform[i, u]
                if coefficient != 0.0:
                    for v in range(size_t):
                        for q in range(count):
                            half[i, v, q] += coefficient * d[u, v, q]
        for i in range(size_a):
            for j in range(size_a):
                target = out[i * size_a + j, c, first:first + count]
                target[:] = 0.0
                for v in range(size_t):
                    coefficient = transform[j, v]
                    if coefficient != 0.0:
                        for q in range(count):
                            target[q] += coefficient * half[i, v, q]


@njit(parallel=True, cache=True)
def winograd_output_transform(products, transform, y, tiles_h, tiles_w):
    """y[n, k] tile (s, t) = A^T P A with P[i, j] = products[i*a + j, k, (n, s, t)], cropped to y.

    products: (a*a, K, N * tiles_h * tiles_w), transform = A^T (m x a), y: (N, K, oH, oW) with
    oH <= m * tiles_h and oW <= m * tiles_w.
    """
    n_batch, channels, out_h, out_w = y.shape
    size_m, size_a = transform.shape
    tiles = tiles_h * tiles_w
    positions = n_batch * tiles
    blocks = (positions + BLOCK - 1) // BLOCK
    for task in prange(channels * blocks):
        k, first = task // blocks, (task % blocks) * BLOCK
        count = min(BLOCK, positions - first)
        # P A (half[i, j] = sum_l P[i, l] A^T[j, l]), then A^T (P A), a block of tiles at once.
        half = np.zeros((size_a, size_m, BLOCK), y.dtype)
        for i in range(size_a):
            for l in range(size_a):
                source = products[i * size_a + l, k, first:first + count]
                for j in range(size_m):
                    coefficient = transform[j, l]
                    if coefficient != 0.0:
                        for q in range(count):
                            half[i, j, q] += coefficient * source[q]
        result = np.zeros((size_m, size_m, BLOCK), y.dtype)
        for row in range(size_m):
            for i in range(size_a):
                coefficient = transform[row, i]
                if coefficient != 0.0:
                    for j in range(size_m):
                        for q in range(count):
                            result[row, j, q] += coefficient * half[i, j, q]
        n, rest = divmod(first, tiles)
        s, t = divmod(rest, tiles_w)
        for q in range(count):  # put the tiles in place; the last ones overhang y: crop
            rows, cols = min(size_m, out_h - s * size_m), min(size_m, out_w - t * size_m)
            for row in range(rows):
                for col in range(cols):
                    y[n, k, s * size_m + row, t * size_m + col] = result[row, col, q]
            t += 1
            if t == tiles_w:
                t, s = 0, s + 1
                if s == tiles_h:
                    s, n = 0, n + 1


# ---- the convolution -----------------------------------------------------------------------------
def _tiles(size: int, m: int) -> int:
    """Tiles of m outputs that cover `size` outputs: ceil(size / m); the last may overhang."""
    return -(-size // m)


def _transform_filters(matrix, weight):
    """matrix w matrix^T for every filter w of weight (K, C, r, r), as one GEMM: (a*a, K, C).

    Row-major, vec(L w L^T) = (L kron L) vec(w), and the K*C filters are the columns."""
    kronecker = np.kron(matrix, matrix).astype(weight.dtype)  # (a*a, r*r)
    filters = weight.reshape(-1, kronecker.shape[1])
    return (kronecker @ filters.T).reshape(kronecker.shape[0], *weight.shape[:2])


def winograd_conv2d(x, weight, groups, pad_top, pad_left, out_h, out_w, variant):
    """y (N, K, out_h, out_w), y[n, k, i, j] = sum_{c,u,v} weight[k, c, u, v] x[n, c', i+u-pad_top, j+v-pad_left]
    (c' the channel c of k's group, x zero outside; a negative pad crops), by `variant`.

    x: (N, C, H, W), weight: (K, C/groups, 3, 3), C-contiguous, float32 or float64.
    """
    n_batch, channels = x.shape[:2]
    filters, group_channels = weight.shape[:2]
    dtype, m, a = x.dtype, variant.m, variant.a
    tiles_h, tiles_w = _tiles(out_h, m), _tiles(out_w, m)
    positions = n_batch * tiles_h * tiles_w
    transformed_x = np.empty((a * a, channels, positions), dtype)
    winograd_tile_transform(x, variant.input_transform.astype(dtype), transformed_x, m, pad_top, pad_left,
                            tiles_h, tiles_w)
    transformed_w = _transform_filters(variant.filter_transform, weight)
    # One call, a^2 * groups GEMMs (K/G x C/G)(C/G x positions), each dispatched to BLAS.
    products = threads.matmul(transformed_w.reshape(a * a, groups, filters // groups, group_channels),
                         transformed_x.reshape(a * a, groups, group_channels, positions))
    y = np.empty((n_batch, filters, out_h, out_w), dtype)
    winograd_output_transform(products.reshape(a * a, filters, positions), variant.output_transform.astype(dtype),
                              y, tiles_h, tiles_w)
    return y


def _planes(geometry) -> tuple:
    """The 2-D view of the 3-D layout: (N, C, H, W), (K, C/G, 3, 3) and (N, K, oH, oW) shapes."""
    n, c, _, h, w = geometry.input_shape
    k, cg = geometry.weight_shape[:2]
    return (n, c, h, w), (k, cg, 3, 3), (n, k) + geometry.output_spatial[1:]


def _forward(x, weight, geometry, variant):
    x_shape, w_shape, y_shape = _planes(geometry)
    (top, _), (left, _) = geometry.padding[1:]
    y = winograd_conv2d(x.reshape(x_shape), weight.reshape(w_shape), geometry.groups, top, left,
                        *y_shape[2:], variant)
    return y.reshape(geometry.output_shape)


def _rotated_transposed(weight, groups):
    """The data gradient's filters: w'[g*C/G + c, k, u, v] = w[g*K/G + k, c, 2-u, 2-v], (C, K/G, 3, 3)."""
    filters, group_channels = weight.shape[:2]
    grouped = weight.reshape(groups, filters // groups, group_channels, 3, 3)
    return np.ascontiguousarray(grouped.transpose(0, 2, 1, 3, 4)[..., ::-1, ::-1]).reshape(
        groups * group_channels, filters // groups, 3, 3)


def _backward_data(grad_y, weight, geometry, variant):
    x_shape, w_shape, y_shape = _planes(geometry)
    (top, _), (left, _) = geometry.padding[1:]
    # x[i] fed y[i - u + top] through tap u: a correlation of grad_y, padded by 2 - top, with the
    # rotated filters. 2 - top < 0 crops; the far side follows from the output size.
    grad_x = winograd_conv2d(grad_y.reshape(y_shape), _rotated_transposed(weight.reshape(w_shape), geometry.groups),
                             geometry.groups, 2 - top, 2 - left, *x_shape[2:], variant)
    return grad_x.reshape(geometry.input_shape)


def winograd_backward_weight(x, grad_y, geometry):
    """dL/dw (K, C/G, 1, 3, 3) by F(3x3, 2x2): see the module docstring."""
    x_shape, w_shape, y_shape = _planes(geometry)
    (top, _), (left, _) = geometry.padding[1:]
    n_batch, channels = x_shape[:2]
    filters, group_channels = w_shape[:2]
    groups, dtype, a = geometry.groups, geometry.dtype, F3X2.a
    tiles_h, tiles_w = _tiles(y_shape[2], 2), _tiles(y_shape[3], 2)
    positions = n_batch * tiles_h * tiles_w
    transformed_x = np.empty((a * a, channels, positions), dtype)
    winograd_tile_transform(x.reshape(x_shape), F3X2.input_transform.astype(dtype), transformed_x, 2, top, left,
                            tiles_h, tiles_w)
    transformed_gy = np.empty((a * a, filters, positions), dtype)
    winograd_tile_transform(grad_y.reshape(y_shape), F3X2.filter_transform.astype(dtype), transformed_gy, 2, 0, 0,
                            tiles_h, tiles_w)
    # a^2 * groups GEMMs (K/G x positions)(positions x C/G), the sum over images and tiles.
    products = threads.matmul(transformed_gy.reshape(a * a, groups, filters // groups, positions),
                         transformed_x.reshape(a * a, groups, group_channels, positions).transpose(0, 1, 3, 2))
    # A^T P A for every (k, c), as _transform_filters does G g G^T.
    inverse = np.kron(F3X2.output_transform, F3X2.output_transform).astype(dtype)  # (9, a*a)
    grad_w = inverse @ products.reshape(a * a, filters * group_channels)
    return np.ascontiguousarray(grad_w.T).reshape(geometry.weight_shape)


# ---- what each variant supports and needs -------------------------------------------------------
def supports(geometry):
    """None, or why Winograd F(m x m, 3x3) cannot run `geometry`."""
    if geometry.dtype not in DTYPES:
        return f"dtype {geometry.dtype} is not float32 or float64"
    if geometry.spatial_dims != 2:
        return f"2-D only, got a {geometry.spatial_dims}-D convolution"
    kernel = geometry.kernel_size[1:]
    if kernel != (3, 3):
        return f"needs a 3x3 kernel, got {kernel[0]}x{kernel[1]}"
    if geometry.stride[1:] != (1, 1):
        return f"needs stride 1, got {geometry.stride[1:]}"
    if geometry.dilation[1:] != (1, 1):
        return f"needs dilation 1, got {geometry.dilation[1:]}"
    return None


def _workspace(geometry, variant) -> int:
    """Bytes of the transformed filters, input tiles and products of the largest of the three passes."""
    n, c, h, w = _planes(geometry)[0]
    k, cg = geometry.weight_shape[:2]
    out_h, out_w = geometry.output_spatial[1:]

    def buffers(a, m, size_h, size_w, c_in, c_out, filter_values):
        positions = n * _tiles(size_h, m) * _tiles(size_w, m)
        return a * a * (filter_values + (c_in + c_out) * positions)

    values = max(buffers(variant.a, variant.m, out_h, out_w, c, k, k * cg),   # forward
                 buffers(variant.a, variant.m, h, w, k, c, k * cg),           # data gradient
                 buffers(F3X2.a, 2, out_h, out_w, c, k, k * cg))              # weight gradient
    return values * geometry.dtype.itemsize


def _algorithm(name: str, variant: MinimalFiltering, nan_spread: str) -> ConvAlgorithm:
    return ConvAlgorithm(
        name=name,
        capabilities=(f"Winograd F({variant.m}x{variant.m},3x3): 2-D, 3x3 kernels, stride 1, dilation 1, "
                      "any padding and groups, float32 and float64"),
        forward=lambda x, weight, geometry: _forward(x, weight, geometry, variant),
        backward_data=lambda grad_y, weight, geometry: _backward_data(grad_y, weight, geometry, variant),
        backward_weight=winograd_backward_weight,
        supports=supports,
        workspace=lambda geometry: _workspace(geometry, variant),
        nan_spread=nan_spread,
    )


# How far a NaN spreads follows from the zeros of B^T and A^T: in F(2,3) an input at tile position
# j reaches, through B^T then A^T, exactly the outputs whose window holds it; F(4,3)'s denser B^T
# mixes each input into outputs of the tile its window does not cover (tests/test_conv_nan.py).
F2X3_ALGORITHM = _algorithm("winograd_f2x3", F2X3, nan_spread="exact")
F4X3_ALGORITHM = _algorithm("winograd_f4x3", F4X3, nan_spread="tile")
