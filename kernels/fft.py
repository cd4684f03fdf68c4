"""Convolution by the Fourier transform, in tiles (overlap-save), stride 1.

The convolution theorem turns a circular convolution into a product of spectra: for sequences of
length T, DFT(a (*) b) = DFT(a) . DFT(b), and a circular cross-correlation into a product with
the conjugate, DFT(a (x) b) = DFT(a) . conj(DFT(b)) for real b. A layer's sum over input
channels is linear, so it can be done on the spectra too: at every frequency f,

    Y[f, k, p] = sum_c conj(W[f, k, c]) X[f, c, p]          (Mathieu, Henaff & LeCun 2014)

one complex matrix product per frequency, (K x C) @ (C x P), all of them one batched matmul.
p runs over images and tiles.

Tiles (overlap-save; Vasilache et al. 2015 tile the same way). Transforming whole images would
make the kernel spectra as large as the image times K x C. Instead every axis is cut into output
blocks of B = T - E + 1 positions, where E = d(k-1) + 1 is the span of the dilated kernel and T
the transform length. The input tile of the block starting at output o0 is x_pad[o0 : o0 + T];
its circular correlation with the kernel (zero-filled to T, taps d apart) wraps around only at
the last E - 1 entries, so the first B are exactly the block's outputs. T is a small fast FFT
length (scipy.fft.next_fast_len) picked per layer by a cost model (`tile_shape`); a kernel that
spans more than the usual tile gets a larger one. Axes where the kernel has one tap and the input
one sample (the depth of a 2-D layer) are not transformed at all.

The two gradients are correlations too, computed with the same tiles and spectra:

    dL/dx[i]    = sum_{k,t} w[k, c, t] dL/dy[i + p - t d]   a true convolution of dL/dy with w:
                  spectra GY . W (no conjugate), read at tile entries E-1 ... T-1
    dL/dw[t]    = sum_{n,o} dL/dy[n, k, o] x_pad[n, c, o + t d]   a correlation of x with dL/dy:
                  sum_p conj(GY[f, k, p]) X[f, c, p], a batched GEMM that reduces over p, then one
                  inverse transform per (k, c) read at the taps t d.

Float32 layers are transformed in single precision (complex64); the max relative error against a
float64 reference stays below 1e-5 on the benchmark layers (tests/test_conv_fft.py).
"""
from __future__ import annotations

import functools
import math

import numba
import numpy as np
import scipy.fft
from numba import njit, prange

from . import threads
from .registry import DTYPES, ConvAlgorithm

# Tile lengths up to this are considered for every axis (longer only when the kernel needs them):
# it bounds the kernel spectra to K * C/G * 64 * 33 complex numbers per 2-D layer.
MAX_TILE = 64


@njit(parallel=True, cache=True)
def gather_tiles(a, tiles, n_td, n_th, n_tw, step_d, step_h, step_w, off_d, off_h, off_w, len_d, len_h, len_w):
    """Fill tiles (N * n_td*n_th*n_tw, C, Td, Th, Tw) from a (N, C, D, H, W).

    Tile (jd, jh, jw) of image n holds a[n, c, jd*step_d - off_d + i, ...] for i < len along each
    axis, zero past len and outside a (that zero is the convolution's padding).
    """
    n_tiles, channels, t_d, t_h, t_w = tiles.shape
    depth, height, width = a.shape[2], a.shape[3], a.shape[4]
    per_image = n_td * n_th * n_tw
    for task in prange(n_tiles * channels):
        p, c = task // channels, task % channels
        n, j = p // per_image, p % per_image
        jd, jh, jw = j // (n_th * n_tw), (j // n_tw) % n_th, j % n_tw
        for i_d in range(t_d):
            s_d = jd * step_d - off_d + i_d
            for i_h in range(t_h):
                s_h = jh * step_h - off_h + i_h
                row_inside = i_d < len_d and 0 <= s_d < depth and i_h < len_h and 0 <= s_h < height
                for i_w in range(t_w):
                    s_w = jw * step_w - off_w + i_w
                    if row_inside and i_w < len_w and 0 <= s_w < width:
                        tiles[p, c, i_d, i_h, i_w] = a[n, c, s_d, s_h, s_w]
                    else:
                        tiles[p, c, i_d, i_h, i_w] = 0.0


@njit(parallel=True, cache=True)
def scatter_tiles(tiles, out, n_td, n_th, n_tw, b_d, b_h, b_w, first_d, first_h, first_w):
    """Write each tile's block of valid results into out (N, K, oD, oH, oW).

    tiles (N * n_td*n_th*n_tw, K, Td, Th, Tw); the block of tile j is its B = T - E + 1 entries
    from `first` on along each axis, landing at j*B in out (the last block is cut at out's edge).
    """
    n_tiles, channels = tiles.shape[0], tiles.shape[1]
    o_d, o_h, o_w = out.shape[2], out.shape[3], out.shape[4]
    per_image = n_td * n_th * n_tw
    for task in prange(n_tiles * channels):
        p, k = task // channels, task % channels
        n, j = p // per_image, p % per_image
        jd, jh, jw = j // (n_th * n_tw), (j // n_tw) % n_th, j % n_tw
        for i_d in range(min(b_d, o_d - jd * b_d)):
            for i_h in range(min(b_h, o_h - jh * b_h)):
                for i_w in range(min(b_w, o_w - jw * b_w)):
                    out[n, k, jd * b_d + i_d, jh * b_h + i_h, jw * b_w + i_w] = \
                        tiles[p, k, first_d + i_d, first_h + i_h, first_w + i_w]


# ---- tiling ---------------------------------------------------------------------------------------
def _spans(geometry) -> tuple:
    """E = d(k-1) + 1 per axis: how many input samples one output reads."""
    return tuple(d * (k - 1) + 1 for k, d in zip(geometry.kernel_size, geometry.dilation))


def _candidates(span: int, extent: int) -> list:
    """Fast transform lengths T >= span for an axis with `extent` outputs; 1 where nothing to transform."""
    if span == 1:
        return [1]  # a one-tap axis: every output is its own tile, no transform along it
    largest = max(MAX_TILE, scipy.fft.next_fast_len(2 * span - 1, real=True))
    largest = min(largest, scipy.fft.next_fast_len(extent + span - 1, real=True))  # one tile covers all
    lengths = {scipy.fft.next_fast_len(t, real=True) for t in range(span, largest + 1)}
    return sorted(t for t in lengths if t <= largest)


def _spectrum_shape(tile: tuple) -> tuple:
    """Shape of the real-input spectrum of one tile: the last transformed axis keeps T//2 + 1."""
    last = max((i for i, t in enumerate(tile) if t > 1), default=None)
    return tuple(t // 2 + 1 if i == last else t for i, t in enumerate(tile))


def _spectrum_size(tile: tuple) -> int:
    return int(np.prod(_spectrum_shape(tile)))


@functools.lru_cache(maxsize=256)
def tile_shape(extent: tuple, spans: tuple, batch: int, c_in: int, c_out: int, c_group: int) -> tuple:
    """The transform length per axis that minimises a rough cost (in nanoseconds on one core).

    For T (tile volume V, spectrum size F) and P = batch * tiles: transforms of the K x C/G kernel
    tiles and of the P x (C_in + C_out) data tiles (~0.6 ns per point and log2 point, pocketfft),
    the batched GEMM (~0.16 ns per complex multiply-add, plus reading the kernel spectra once,
    worth ~5 more columns when P is small), and the transposes of the spectra (~2 ns per entry).
    """
    best = None
    for tile in _product([_candidates(e, n) for e, n in zip(spans, extent)]):
        volume, size = int(np.prod(tile)), _spectrum_size(tile)
        tiles = int(np.prod([-(-n // (t - e + 1)) for n, t, e in zip(extent, tile, spans)]))
        p = batch * tiles
        log_volume = math.log2(volume) if volume > 1 else 0.0
        cost = (0.6 * (c_out * c_group + p * (c_in + c_out)) * volume * log_volume
                + 0.16 * size * c_out * c_group * (p + 5)
                + 2.0 * size * p * (c_in + c_out))
        if best is None or cost < best[0]:
            best = (cost, tile)
    return best[1]


def _product(lists: list) -> list:
    combos = [()]
    for values in lists:
        combos = [c + (v,) for c in combos for v in values]
    return combos


def _tiling(geometry, extent: tuple) -> tuple:
    """(tile lengths, tiles per axis) covering `extent` outputs with this layer's kernel."""
    n, c = geometry.input_shape[:2]
    spans = _spans(geometry)
    tile = tile_shape(tuple(extent), spans, n, c, geometry.weight_shape[0], geometry.weight_shape[1])
    counts = tuple(-(-o // (t - e + 1)) for o, t, e in zip(extent, tile, spans))
    return tile, counts


# ---- transforms -------------------------------------------------------------------------------------
def _axes(tile: tuple) -> tuple:
    """The last three axes of a tile array that have more than one sample (the others need no
    transform)."""
    return tuple(i - 3 for i, t in enumerate(tile) if t > 1)


def _rfft(a, tile: tuple):
    """Real-input DFT of a (..., Td, Th, Tw) over the tile axes -> (..., *_spectrum_shape(tile))."""
    axes = _axes(tile)
    return scipy.fft.rfftn(a, axes=axes, workers=numba.get_num_threads()) if axes else a


def _irfft(a, tile: tuple):
    """Inverse of `_rfft`: (..., *_spectrum_shape(tile)) -> real (..., Td, Th, Tw)."""
    axes = _axes(tile)
    if not axes:
        return a
    return scipy.fft.irfftn(a, s=[tile[i] for i in axes], axes=axes, workers=numba.get_num_threads())


def _spectra(tiles, tile: tuple):
    """DFT of data tiles (P, C, Td, Th, Tw) as (F, C, P): one (C x P) matrix per frequency."""
    p, c = tiles.shape[:2]
    return np.ascontiguousarray(_rfft(tiles, tile).reshape(p, c, _spectrum_size(tile)).transpose(2, 1, 0))


def _from_spectra(spectra, tile: tuple):
    """Inverse of `_spectra`: (F, K, P) -> real tiles (P, K, Td, Th, Tw)."""
    _, k, p = spectra.shape
    return _irfft(np.ascontiguousarray(spectra.transpose(2, 1, 0)).reshape((p, k) + _spectrum_shape(tile)), tile)


def _kernel_spectra(weight, geometry, tile: tuple):
    """DFT of every kernel, taps d apart in a zero tile: (F, G, K/G, C/G). No conjugate: it is
    the convolution's spectrum; the forward pass (a correlation) conjugates it."""
    c_out, c_group = geometry.weight_shape[:2]
    placed = np.zeros((c_out, c_group) + tile, weight.dtype)
    (dd, dh, dw), (ed, eh, ew) = geometry.dilation, _spans(geometry)
    placed[:, :, :ed:dd, :eh:dh, :ew:dw] = weight
    spectra = _rfft(placed, tile).reshape(c_out, c_group, -1).transpose(2, 0, 1)  # (F, K, C/G)
    return np.ascontiguousarray(spectra).reshape(-1, geometry.groups, c_out // geometry.groups, c_group)


def _steps(geometry, tile: tuple) -> tuple:
    """B = T - E + 1 per axis: the outputs one tile yields."""
    return tuple(t - e + 1 for t, e in zip(tile, _spans(geometry)))


def _tiles(a, geometry, tile, counts, offsets, lengths):
    """`gather_tiles` of a (N, C, D, H, W), tiles starting B apart, shifted back by `offsets`."""
    n, c = a.shape[:2]
    tiles = np.empty((n * int(np.prod(counts)), c) + tile, a.dtype)
    gather_tiles(a, tiles, *counts, *_steps(geometry, tile), *offsets, *lengths)
    return tiles


# ---- the three passes ------------------------------------------------------------------------------
def forward(x, weight, geometry):
    """y = conv(x, weight), stride 1: (N, C, D, H, W), (K, C/G, kD, kH, kW) -> (N, K, oD, oH, oW)."""
    n, c_out = geometry.output_shape[:2]
    tile, counts = _tiling(geometry, geometry.output_spatial)
    tiles = _tiles(x, geometry, tile, counts, [b for b, _ in geometry.padding], tile)
    spectra = _spectra(tiles, tile)  # (F, C, P)
    f, c, p = spectra.shape
    w_spectra = np.conj(_kernel_spectra(weight, geometry, tile))  # correlation: conjugate
    y_spectra = threads.matmul(w_spectra, spectra.reshape(f, geometry.groups, c // geometry.groups, p))
    y_tiles = _from_spectra(y_spectra.reshape(f, c_out, p), tile)
    y = np.empty(geometry.output_shape, x.dtype)
    scatter_tiles(y_tiles.astype(x.dtype, copy=False), y, *counts, *_steps(geometry, tile), 0, 0, 0)
    return y


def backward_data(grad_y, weight, geometry):
    """dL/dx (N, C, D, H, W) from dL/dy: the convolution of dL/dy with w (see the module)."""
    spans = _spans(geometry)
    tile, counts = _tiling(geometry, geometry.input_shape[2:])
    offsets = [e - 1 - b for e, (b, _) in zip(spans, geometry.padding)]
    tiles = _tiles(grad_y, geometry, tile, counts, offsets, tile)
    spectra = _spectra(tiles, tile)  # (F, K, P)
    f, k, p = spectra.shape
    w_spectra = _kernel_spectra(weight, geometry, tile).swapaxes(-1, -2)  # (F, G, C/G, K/G)
    x_spectra = threads.matmul(w_spectra, spectra.reshape(f, geometry.groups, k // geometry.groups, p))
    x_tiles = _from_spectra(x_spectra.reshape(f, geometry.input_shape[1], p), tile)
    grad_x = np.empty(geometry.input_shape, grad_y.dtype)
    scatter_tiles(x_tiles.astype(grad_y.dtype, copy=False), grad_x, *counts, *_steps(geometry, tile),
                  *(e - 1 for e in spans))
    return grad_x


def backward_weight(x, grad_y, geometry):
    """dL/dw (K, C/G, kD, kH, kW): the correlation of x with dL/dy, summed over images and tiles."""
    spans = _spans(geometry)
    tile, counts = _tiling(geometry, geometry.output_spatial)
    steps = _steps(geometry, tile)
    x_spectra = _spectra(_tiles(x, geometry, tile, counts, [b for b, _ in geometry.padding], tile), tile)
    gy_spectra = _spectra(_tiles(grad_y, geometry, tile, counts, (0, 0, 0), steps), tile)
    f, c, p = x_spectra.shape
    k, groups = gy_spectra.shape[1], geometry.groups
    gw_spectra = threads.matmul(np.conj(gy_spectra).reshape(f, groups, k // groups, p),
                           x_spectra.reshape(f, groups, c // groups, p).swapaxes(-1, -2))  # (F, G, K/G, C/G)
    gw_spectra = gw_spectra.reshape(f, k, c // groups).transpose(1, 2, 0)  # (K, C/G, F)
    taps = _irfft(np.ascontiguousarray(gw_spectra).reshape((k, c // groups) + _spectrum_shape(tile)), tile)
    (dd, dh, dw), (ed, eh, ew) = geometry.dilation, spans
    grad_w = taps[:, :, :ed:dd, :eh:dh, :ew:dw]
    return np.ascontiguousarray(grad_w, dtype=x.dtype)


def workspace(geometry) -> int:
    """Bytes of the forward pass's temporaries: data tiles and spectra (input and output, with
    their transposed copies) and the kernel tiles and spectra."""
    n, c = geometry.input_shape[:2]
    c_out, c_group = geometry.weight_shape[:2]
    tile, counts = _tiling(geometry, geometry.output_spatial)
    volume, size = int(np.prod(tile)), _spectrum_size(tile)
    p = n * int(np.prod(counts))
    real = geometry.dtype.itemsize
    return (c_out * c_group * (volume * real + 2 * size * 2 * real)
            + p * (c + c_out) * (volume * real + 2 * size * 2 * real))


def supports(geometry):
    """FFT convolution needs stride 1 (a strided layer would throw away most of the transform)."""
    if geometry.dtype not in DTYPES:
        return f"dtype {geometry.dtype} is not float32 or float64"
    if any(s != 1 for s in geometry.stride):
        return f"needs stride 1, got stride {geometry.stride[3 - geometry.spatial_dims:]}"
    return None


ALGORITHM = ConvAlgorithm(
    name="fft",
    capabilities="stride 1 with any kernel size, padding, dilation and groups, 1-D/2-D/3-D, "
                 "float32 and float64",
    forward=forward, backward_data=backward_data, backward_weight=backward_weight,
    supports=supports, workspace=workspace,
    nan_spread="tile",  # a transform mixes every sample of its tile into every frequency
)
