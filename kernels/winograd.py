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

How it runs: each pass takes blocks of tiles from the image through the transforms (`input_tiles`,
`output_tiles`) and the GEMMs and back, in buffers that stay in the cache, each thread its own
blocks (`winograd_conv2d`, `winograd_backward_weight`).
"""
from __future__ import annotations

import dataclasses
from fractions import Fraction

import numpy as np
from numba import njit

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


# ---- the block transforms ------------------------------------------------------------------------
# Each works on a block of tiles of one channel, tile index q innermost: every loop over q runs along
# contiguous vectors (SIMD) whatever the image size, reading or writing the image at the tiles'
# places (a gather, a scatter, masked where a tile overhangs the image), and the tiles come out in
# the column order of the GEMM operands.
@njit(cache=True)
def locate_tiles(shape, first, count, tiles_h, tiles_w, step, pad_top, pad_left, corner, rows, cols):
    """Where the tiles at positions first, ..., first + count - 1 lie in an array of `shape` (N, C, H, W):
    position (n, s, t), in that order, has its corner at (s*step - pad_top, t*step - pad_left) of image n.

    corner[q]: the flat index of that corner in channel 0 (maybe outside the array); rows[u, q] and
    cols[v, q]: whether the tile's row u and column v lie inside the image."""
    _, channels, height, width = shape
    size = rows.shape[0]
    n, rest = divmod(first, tiles_h * tiles_w)
    s, t = divmod(rest, tiles_w)
    for q in range(count):
        top, left = s * step - pad_top, t * step - pad_left
        corner[q] = (n * channels * height + top) * width + left
        for u in range(size):
            rows[u, q] = 0 <= top + u < height
            cols[u, q] = 0 <= left + u < width
        t += 1
        if t == tiles_w:
            t, s = 0, s + 1
            if s == tiles_h:
                s, n = 0, n + 1


@njit(cache=True)
def transform_tiles(x, c, transform, corner, rows, cols, count, out, d, half):
    """out[i*a + j, c, q] = (L d_q L^T)[i, j] for q < count, d_q the t x t tile of x (N, C, H, W) in
    channel c placed by `locate_tiles` (corner, rows, cols), zero outside x; L = transform (a x t).

    Serves B^T d B (input tiles, t = a) and G g G^T (the 2x2 pieces of dL/dy, for the weight
    gradient). d (>= t, t, count) and half (>= a, t, count): scratch.
    """
    _, _, height, width = x.shape
    size_a, size_t = transform.shape
    values = x.reshape(-1)
    for u in range(size_t):  # cut out the tiles, zero outside x
        for v in range(size_t):
            offset = (c * height + u) * width + v
            for q in range(count):
                d[u, v, q] = values[np.uint64(corner[q] + offset)] if rows[u, q] and cols[v, q] else 0.0
    # L d, then (L d) L^T. The transforms are about 40% zeros: skipping them saves that much.
    half[:size_a, :size_t, :count] = 0.0
    for i in range(size_a):
        for u in range(size_t):
            coefficient = transform[i, u]
            if coefficient != 0.0:
                for v in range(size_t):
                    for q in range(count):
                        half[i, v, q] += coefficient * d[u, v, q]
    for i in range(size_a):
        for j in range(size_a):
            target = out[i * size_a + j, c, :count]
            target[:] = 0.0
            for v in range(size_t):
                coefficient = transform[j, v]
                if coefficient != 0.0:
                    for q in range(count):
                        target[q] += coefficient * half[i, v, q]


@njit(cache=True)
def untransform_tiles(products, k, transform, y, corner, rows, cols, count, half, result):
    """Channel k of y (N, K, oH, oW) at the m x m tiles placed by `locate_tiles` (corner, rows, cols)
    = A^T P_q A, P_q[i, j] = products[i*a + j, k, q], for q < count, cropped to y. transform = A^T
    (m x a). half (>= a, m, count) and result (m, m, count): scratch."""
    _, _, out_h, out_w = y.shape
    size_m, size_a = transform.shape
    # P A (half[i, j] = sum_l P[i, l] A^T[j, l]), then A^T (P A), a block of tiles at once.
    half[:size_a, :size_m, :count] = 0.0
    for i in range(size_a):
        for l in range(size_a):
            source = products[i * size_a + l, k, :count]
            for j in range(size_m):
                coefficient = transform[j, l]
                if coefficient != 0.0:
                    for q in range(count):
                        half[i, j, q] += coefficient * source[q]
    result[:, :, :count] = 0.0
    for row in range(size_m):
        for i in range(size_a):
            coefficient = transform[row, i]
            if coefficient != 0.0:
                for j in range(size_m):
                    for q in range(count):
                        result[row, j, q] += coefficient * half[i, j, q]
    values = y.reshape(-1)
    for row in range(size_m):  # put the tiles in place; the last ones overhang y: crop
        for col in range(size_m):
            offset = (k * out_h + row) * out_w + col
            for q in range(count):
                if rows[row, q] and cols[col, q]:
                    values[np.uint64(corner[q] + offset)] = result[row, col, q]


# ---- a block of tiles, through the transforms -------------------------------------------------
# Each pass takes blocks of consecutive tiles through the whole algorithm: the input transform of
# every channel, the a^2 GEMMs over the channels and the output transform straight into y, in
# buffers (a^2 x channels x tiles) sized to stay in the cache (BLOCK_BYTES): the transformed
# tensors never travel to memory and back, and nothing the size of a layer is allocated per call.
# (Two such buffers alive at once, as separate passes need, come back from the system on every
# call: each page faults again, 2.9 ms for two of 9.4 MB, ResNet-20's 16-channel layer at batch 64.)
# The threads are Python threads, each with its own buffers and blocks (threads.run_parts), and
# the GEMMs are NumPy's: a BLAS called from inside a Numba parallel loop is SciPy's, whose OpenBLAS
# (0.3.30, SciPy 1.17) runs concurrent calls one at a time, so the loop ran on one core whatever
# the thread budget (measured: two threads doing twice one thread's GEMMs took twice as long).
@njit(nogil=True, cache=True)
def input_tiles(x, first, count, tiles_h, tiles_w, step, pad_top, pad_left, transform, out, d, half,
                corner, rows, cols):
    """out[:, c, :count] = the transformed tiles (transform_tiles) of every channel c of x at the
    block's tiles (positions first ... first + count - 1, `locate_tiles`), `step` apart."""
    locate_tiles(x.shape, first, count, tiles_h, tiles_w, step, pad_top, pad_left, corner, rows, cols)
    for c in range(x.shape[1]):
        transform_tiles(x, c, transform, corner, rows, cols, count, out, d, half)


@njit(nogil=True, cache=True)
def output_tiles(products, y, first, count, tiles_h, tiles_w, transform, half, result, corner, rows, cols):
    """Every channel k of y at the block's m x m tiles = A^T products[:, k] A (untransform_tiles)."""
    locate_tiles(y.shape, first, count, tiles_h, tiles_w, transform.shape[0], 0, 0, corner, rows, cols)
    for k in range(y.shape[1]):
        untransform_tiles(products, k, transform, y, corner, rows, cols, count, half, result)


class _Scratch:
    """One thread's buffers for blocks of `block` tiles of a-point transforms: transformed input
    tiles (a*a, channels, block) and products or transformed dL/dy pieces (a*a, filters, block),
    seen per group as (a*a, G, C/G or K/G, block) for the GEMMs, and the transforms' scratch."""

    def __init__(self, dtype, a, m, channels, filters, groups, block):
        self.inputs = np.empty((a * a, channels, block), dtype)
        self.outputs = np.empty((a * a, filters, block), dtype)
        self.d, self.half = np.empty((a, a, block), dtype), np.empty((a, a, block), dtype)
        self.result = np.empty((m, m, block), dtype)
        self.corner = np.empty(block, np.int64)
        self.rows, self.cols = np.empty((a, block), np.bool_), np.empty((a, block), np.bool_)
        self.inputs_g = self.inputs.reshape(a * a, groups, channels // groups, block)
        self.outputs_g = self.outputs.reshape(a * a, groups, filters // groups, block)

    def locations(self):
        return self.corner, self.rows, self.cols


def _shares(blocks: int) -> list:
    """The blocks 0 ... blocks - 1 dealt to threads.part_count() threads, consecutive ones each."""
    parts = max(1, min(threads.part_count(), blocks))
    return [range(blocks * t // parts, blocks * (t + 1) // parts) for t in range(parts)]


# ---- the convolution -----------------------------------------------------------------------------
# Tiles per task: as many as BLOCK_BYTES of transformed tiles and products hold, but at least
# BLOCK_MIN, under which the loops over the tiles are too short for SIMD, and at most BLOCK_MAX.
# Measured (one thread): batch 64, C = K = 64 at 8x8, 2.3 ms a forward pass with blocks of 16
# tiles, 1.7 with 64; ResNet-18's 64-channel 56x56 layer at batch 8, 14.5 ms and 8.7. BLOCK_BYTES
# 1 to 4 MiB made no difference on these; on VGG's 256-channel layer, 4 MiB (blocks of 128 tiles
# for the weight gradient) took its weight gradient from 38 ms to 22.
BLOCK_BYTES = 4 * 2 ** 20
BLOCK_MIN, BLOCK_MAX = 64, 256
# The weight gradient's partial sums (each a^2 x K x C/G): tasks for up to WEIGHT_PARTS threads, a
# number fixed by the shape so that the rounding does not depend on the thread count, and no more
# than fit WEIGHT_SUMS_BYTES (but at least 2), since each costs a pass over that memory.
WEIGHT_PARTS = 8
WEIGHT_SUMS_BYTES = 8 * 2 ** 20


def _tiles(size: int, m: int) -> int:
    """Tiles of m outputs that cover `size` outputs: ceil(size / m); the last may overhang."""
    return -(-size // m)


def _block(positions: int, a: int, channels: int, filters: int, itemsize: int, tasks: int = 1) -> int:
    """Tiles per task, of `positions`: as many as fit BLOCK_BYTES of transformed tiles and products,
    or, if more, as many as it takes for them to outweigh the transformed filters (a^2 x K x C) that
    every task reads again; between BLOCK_MIN and BLOCK_MAX, then evened out over the tasks (a
    multiple of 16: whole SIMD vectors), so that no thread is left with one short last block.
    With `tasks` > 1, smaller blocks (down to 16 tiles) where that makes at least that many: the
    small maps of a network's last stages (ResNet-18's 2x2 and 4x4 at 32x32 input, 64 and 256
    tiles) were one block, so one thread, whatever the thread budget."""
    fitting = BLOCK_BYTES // (a * a * max(channels + filters, 1) * itemsize)
    block = min(BLOCK_MAX, max(BLOCK_MIN, fitting, channels * filters // max(channels + filters, 1)))
    block = min(block, max(16, positions // tasks))
    tasks = max(1, _tiles(positions, block))
    return 16 * max(1, _tiles(_tiles(positions, tasks), 16))


def _weight_parts(blocks: int, filter_values: int, itemsize: int) -> int:
    """How many partial sums the weight gradient's blocks of tiles go to (see WEIGHT_PARTS)."""
    fitting = WEIGHT_SUMS_BYTES // (F3X2.a ** 2 * max(filter_values, 1) * itemsize)
    return max(1, min(WEIGHT_PARTS, blocks, max(2, fitting)))


def _transform_filters(matrix, weight):
    """matrix w matrix^T for every filter w of weight (K, C, r, r), as one GEMM: (a*a, K, C).

    Row-major, vec(L w L^T) = (L kron L) vec(w), and the K*C filters are the columns."""
    kronecker = np.kron(matrix, matrix).astype(weight.dtype)  # (a*a, r*r)
    filters = weight.reshape(-1, kronecker.shape[1])
    return np.ascontiguousarray((kronecker @ filters.T).reshape(kronecker.shape[0], *weight.shape[:2]))


def winograd_conv2d(x, weight, groups, pad_top, pad_left, out_h, out_w, variant):
    """y (N, K, out_h, out_w), y[n, k, i, j] = sum_{c,u,v} weight[k, c, u, v] x[n, c', i+u-pad_top, j+v-pad_left]
    (c' the channel c of k's group, x zero outside; a negative pad crops), by `variant`: for
    each block of tiles, V = B^T d B, M[xi] = U[xi] V[xi] per group, y tile = A^T M A.

    x: (N, C, H, W), weight: (K, C/groups, 3, 3), C-contiguous, float32 or float64.
    """
    n_batch, channels = x.shape[:2]
    filters, dtype, points = weight.shape[0], x.dtype, variant.a ** 2
    y = np.empty((n_batch, filters, out_h, out_w), dtype)
    tiles_h, tiles_w = _tiles(out_h, variant.m), _tiles(out_w, variant.m)
    positions = n_batch * tiles_h * tiles_w
    block = _block(positions, variant.a, channels, filters, dtype.itemsize, threads.part_count())
    transformed_w = _transform_filters(variant.filter_transform, weight).reshape(
        points, groups, filters // groups, channels // groups)
    input_transform, output_transform = variant.input_transform.astype(dtype), variant.output_transform.astype(dtype)

    def share(blocks):
        scratch = _Scratch(dtype, variant.a, variant.m, channels, filters, groups, block)
        for b in blocks:
            first = b * block
            count = min(block, positions - first)  # a short last block: spare columns unused
            input_tiles(x, first, count, tiles_h, tiles_w, variant.m, pad_top, pad_left, input_transform,
                        scratch.inputs, scratch.d, scratch.half, *scratch.locations())
            np.matmul(transformed_w, scratch.inputs_g, out=scratch.outputs_g)
            output_tiles(scratch.outputs, y, first, count, tiles_h, tiles_w, output_transform, scratch.half,
                         scratch.result, *scratch.locations())

    threads.run_parts(share, _shares(_tiles(positions, block)))
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
    """dL/dw (K, C/G, 1, 3, 3) by F(3x3, 2x2): see the module docstring. The sum over tiles q of
    (G dy_q G^T)[xi] (B^T x_q B)[xi] runs as `parts` partial sums over interleaved blocks of tiles
    (a number fixed by the shape, so that the rounding does not depend on the thread count),
    then A^T P A for every (k, c)."""
    x_shape, w_shape, y_shape = _planes(geometry)
    (top, _), (left, _) = geometry.padding[1:]
    channels, filters, groups, dtype = x_shape[1], w_shape[0], geometry.groups, geometry.dtype
    tiles_h, tiles_w = _tiles(y_shape[2], 2), _tiles(y_shape[3], 2)
    positions = x_shape[0] * tiles_h * tiles_w
    block = _block(positions, F3X2.a, channels, filters, dtype.itemsize)
    blocks = _tiles(positions, block)
    parts = _weight_parts(blocks, filters * w_shape[1], dtype.itemsize)
    x, grad_y = x.reshape(x_shape), grad_y.reshape(y_shape)
    input_transform, filter_transform = F3X2.input_transform.astype(dtype), F3X2.filter_transform.astype(dtype)
    points = F3X2.a ** 2
    sums = np.zeros((parts, points, groups, filters // groups, channels // groups), dtype)

    def share(my_parts):
        scratch = _Scratch(dtype, F3X2.a, F3X2.m, channels, filters, groups, block)
        product = np.empty(sums.shape[1:], dtype)
        for part in my_parts:
            for b in range(part, blocks, parts):
                first = b * block
                count = min(block, positions - first)
                # a short last block: its spare columns must add nothing, and what np.empty left
                # there may be NaN (0 x NaN is NaN)
                scratch.inputs[:, :, count:] = 0.0
                scratch.outputs[:, :, count:] = 0.0
                input_tiles(x, first, count, tiles_h, tiles_w, 2, top, left, input_transform, scratch.inputs,
                            scratch.d, scratch.half, *scratch.locations())
                input_tiles(grad_y, first, count, tiles_h, tiles_w, 2, 0, 0, filter_transform, scratch.outputs,
                            scratch.d, scratch.half, *scratch.locations())
                np.matmul(scratch.outputs_g, scratch.inputs_g.transpose(0, 1, 3, 2), out=product)
                sums[part] += product

    workers = max(1, min(threads.part_count(), parts))
    threads.run_parts(share, [range(t, parts, workers) for t in range(workers)])
    inverse = np.kron(F3X2.output_transform, F3X2.output_transform).astype(dtype)  # (9, a*a)
    grad_w = inverse @ sums.sum(axis=0).reshape(points, -1)
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
    """Bytes of the largest of the three passes' buffers: the transformed filters (or the weight
    gradient's partial sums and a product), and for each thread working at once (at most
    threads.part_count()), one block of transformed tiles and products."""
    n, c, h, w = _planes(geometry)[0]
    k, cg = geometry.weight_shape[:2]
    out_h, out_w = geometry.output_spatial[1:]
    itemsize, workers = geometry.dtype.itemsize, threads.part_count()

    def blocks(a, m, size_h, size_w, c_in, c_out, tasks):
        """a^2 (C + K) x tiles of the threads at once, and how many blocks there are."""
        positions = n * _tiles(size_h, m) * _tiles(size_w, m)
        block = _block(positions, a, c_in, c_out, itemsize, tasks)
        return min(workers, _tiles(positions, block)) * a * a * (c_in + c_out) * block, _tiles(positions, block)

    forward, _ = blocks(variant.a, variant.m, out_h, out_w, c, k, workers)
    data, _ = blocks(variant.a, variant.m, h, w, k, c, workers)
    weight, weight_blocks = blocks(F3X2.a, 2, out_h, out_w, c, k, 1)
    parts = _weight_parts(weight_blocks, k * cg, itemsize)
    sums = (parts + min(workers, parts)) * F3X2.a ** 2 * k * cg  # the partial sums, a product per thread
    filters = variant.a ** 2 * k * cg
    return max(filters + forward, filters + data, sums + weight) * itemsize


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
