"""Direct convolution: the definition, written as loops.

For input x (N, C, D, H, W) and weight w (Cout, C/G, kD, kH, kW) in G groups, output channel co
belongs to group g = co // (Cout/G) and sees only input channels g*C/G ... (g+1)*C/G - 1:

    y[n, co, o] = sum_{ci, k} w[co, ci, k] * x[n, g*C/G + ci, o*s - p + k*d]

where o, k, s, p, d run over the three spatial axes (o the output position, k the kernel tap,
s the stride, p the padding before the axis, d the dilation) and x is zero outside its bounds.
This is cross-correlation, as in every deep-learning framework. The two backward passes are the
same sum read the other way (the chain rule through a sum of products):

    dL/dx[n, g*C/G + ci, o*s - p + k*d] += w[co, ci, k] * dL/dy[n, co, o]
    dL/dw[co, ci, k] = sum_{n, o} dL/dy[n, co, o] * x[n, g*C/G + ci, o*s - p + k*d]

How the loops are arranged, and why (each kernel's comments point back here):

1. One kernel tap (kd, kh, kw) at a time, the sum over output columns innermost: for a tap,
   output column ow reads input column ow*sw - pw + kw*dw, so a whole output row is one
   multiply-add of two rows, a loop over consecutive memory that the compiler turns into vector
   instructions. Each tap's weight is a scalar held in a register for the whole row.
2. Rows that fall in the padding are skipped, not tested per element: for tap kh the output rows
   that read inside the input are a range, computed once per tap (`inside_range`).
3. Columns: the padding of the width axis is materialised once, and the padded columns are dealt
   into sw phases (padded column j goes to phase j % sw, position j // sw, "polyphase"
   decomposition). A window that steps sw columns then reads consecutive entries of one phase,
   so the inner loops are contiguous at every stride, and need no bounds test.
4. With row stride 1, the rows of a tap's range are consecutive in the output and in the input,
   so the tap is ONE loop over all of them (the pitch's spare columns are computed and dropped).
   Loops of thousands of elements, not tens: the compiler's vector loop works on 32 values at a
   time and finishes a short row one value at a time, which halved the speed of 56-wide rows.
5. Register blocking: four channels of the reduction go through each loop together, so each
   output value is read and written once per four products (memory, not the multiplier, is what
   bounds these loops). The forward pass sums four input channels, the data gradient four output
   channels; the weight gradient shares each loaded dL/dy value among four input channels.
6. Every parallel task owns what it writes: the forward pass an output plane, the data gradient
   an input plane that gathers from every output that read it (no two tasks add into the same
   value, so no races and no atomics), the weight gradient one output channel's filters.

Depthwise layers have one channel per group: no blocking applies, points 1-4 carry them.
"""
from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

from .registry import ConvAlgorithm, supports_any_geometry
from .threads import SizedKernel

# Let the compiler fuse a*b + c into one instruction ("contract") and reorder the sums of a dot
# product into vector lanes ("reassoc"): only the rounding of sums changes. Not the flags that
# assume no NaN or inf, which must propagate.
FASTMATH = {"contract", "reassoc"}


# ---- the inner loops, on contiguous views --------------------------------------------------------
# Each takes views that start at the first element it touches, and runs j from 0: indices the
# compiler can prove non-negative, the form it vectorises with plain (not gathered) loads.
@njit(cache=True, inline="always", fastmath=FASTMATH)
def _add_scaled(acc, w, src):
    """acc[j] += w * src[j]: one tap of one channel over a run of outputs."""
    for j in range(acc.size):
        acc[j] += w * src[j]


@njit(cache=True, inline="always", fastmath=FASTMATH)
def _add_scaled4(acc, w0, src0, w1, src1, w2, src2, w3, src3):
    """acc[j] += w0*src0[j] + ... + w3*src3[j]: four channels' products summed in registers, then
    one read and one write of acc (point 5 of the module)."""
    for j in range(acc.size):
        acc[j] += w0 * src0[j] + w1 * src1[j] + w2 * src2[j] + w3 * src3[j]


@njit(cache=True, inline="always", fastmath=FASTMATH)
def _dot(a, b):
    """sum_j a[j] * b[j], in the arrays' precision."""
    total = a.dtype.type(0)
    for j in range(a.size):
        total += a[j] * b[j]
    return total


@njit(cache=True, inline="always", fastmath=FASTMATH)
def _dot4(a, b0, b1, b2, b3):
    """(a . b0, a . b1, a . b2, a . b3): each loaded a[j] serves four products."""
    t0 = t1 = t2 = t3 = a.dtype.type(0)
    for j in range(a.size):
        v = a[j]
        t0 += v * b0[j]
        t1 += v * b1[j]
        t2 += v * b2[j]
        t3 += v * b3[j]
    return t0, t1, t2, t3


@njit(cache=True, inline="always")
def inside_range(offset, stride, size, count):
    """(first, last): the output positions o in [0, count) with 0 <= o*stride + offset < size.

    first = ceil(-offset / stride) (at least 0), last = floor((size - 1 - offset) / stride) + 1
    (at most count); first >= last when no position reads inside."""
    if size - 1 - offset < 0:
        return 0, 0
    return max(0, -(offset // stride)), min(count, (size - 1 - offset) // stride + 1)


# ---- the three passes ----------------------------------------------------------------------------
@njit(parallel=True, cache=True, fastmath=FASTMATH)
def conv_forward(x_phases, weight, out, pitch, sd, sh, sw, pd, ph, dd, dh, dw, groups):
    """Fill out (N, Cout, oD, oH, oW) with y = conv(x, weight) (the module's first formula).

    x_phases (N, C, D, sw, H * pitch): x with its columns padded and dealt into sw phases of
    `pitch` columns each (`phase_columns`)."""
    n_batch, c_out, o_d, o_h, o_w = out.shape
    c_group, k_d, k_h, k_w = weight.shape[1], weight.shape[2], weight.shape[3], weight.shape[4]
    depth, height = x_phases.shape[2], x_phases.shape[4] // pitch
    c_out_group = c_out // groups
    for task in prange(n_batch * c_out * o_d):  # each task owns the plane out[n, co, od] (point 6)
        n, co, od = task // (c_out * o_d), (task // o_d) % c_out, task % o_d
        c_first = (co // c_out_group) * c_group
        # The output plane at the input's row pitch, so that with sh == 1 a tap is one loop (point 4).
        acc = np.zeros(o_h * pitch, out.dtype)
        for kd in range(k_d):
            i_d = od * sd - pd + kd * dd
            if i_d < 0 or i_d >= depth:
                continue
            for kh in range(k_h):
                first, last = inside_range(kh * dh - ph, sh, height, o_h)  # point 2
                if first >= last:
                    continue
                rows, segments = (last - first, 1) if sh == 1 else (1, last - first)
                for kw in range(k_w):
                    phase, shift = (kw * dw) % sw, (kw * dw) // sw  # point 3
                    for segment in range(segments):
                        oh = first + segment
                        length = (rows - 1) * pitch + o_w
                        a = oh * pitch
                        i = (oh * sh - ph + kh * dh) * pitch + shift
                        out_run = acc[a:a + length]
                        ci = 0
                        while ci + 4 <= c_group:  # point 5: four input channels per pass over acc
                            c = c_first + ci
                            _add_scaled4(out_run,
                                         weight[co, ci, kd, kh, kw], x_phases[n, c, i_d, phase, i:i + length],
                                         weight[co, ci + 1, kd, kh, kw], x_phases[n, c + 1, i_d, phase, i:i + length],
                                         weight[co, ci + 2, kd, kh, kw], x_phases[n, c + 2, i_d, phase, i:i + length],
                                         weight[co, ci + 3, kd, kh, kw], x_phases[n, c + 3, i_d, phase, i:i + length])
                            ci += 4
                        for ci in range(ci, c_group):
                            _add_scaled(out_run, weight[co, ci, kd, kh, kw],
                                        x_phases[n, c_first + ci, i_d, phase, i:i + length])
        for oh in range(o_h):
            out[n, co, od, oh, :] = acc[oh * pitch:oh * pitch + o_w]


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def conv_backward_data(grad_rows, weight, grad_phases, pitch, o_w, sd, sh, sw, pd, ph, dd, dh, dw, groups):
    """Fill grad_phases (N, C, D, sw, H * pitch) with dL/dx (the module's second
    formula) in the layout of `phase_columns`, from grad_rows (N, Cout, oD, oH * pitch): dL/dy
    with its rows at that pitch and zero past column oW (`rows_at_pitch`)."""
    n_batch, channels, depth = grad_phases.shape[0], grad_phases.shape[1], grad_phases.shape[2]
    height = grad_phases.shape[4] // pitch
    c_out, o_d, o_h = grad_rows.shape[1], grad_rows.shape[2], grad_rows.shape[3] // pitch
    c_group, k_d, k_h, k_w = weight.shape[1], weight.shape[2], weight.shape[3], weight.shape[4]
    c_out_group = c_out // groups
    # A gather (point 6): each task owns one input plane grad_phases[n, c, i_d] and collects from
    # every output that read it. The loops are the forward pass's with the roles of the two
    # planes swapped: the same output rows per tap (point 2), the same runs (points 3-4), and each
    # run of dL/dx gets four output channels' contributions at once (point 5).
    for task in prange(n_batch * channels * depth):
        n, c, i_d = task // (channels * depth), (task // depth) % channels, task % depth
        ci, co_first = c % c_group, (c // c_group) * c_out_group
        co_end = co_first + c_out_group
        grad_phases[n, c, i_d] = 0.0
        for kd in range(k_d):
            # the output depth that reads i_d through tap kd: od*sd - pd + kd*dd = i_d
            reach = i_d + pd - kd * dd
            od = reach // sd
            if reach % sd != 0 or od < 0 or od >= o_d:
                continue
            for kh in range(k_h):
                first, last = inside_range(kh * dh - ph, sh, height, o_h)
                if first >= last:
                    continue
                rows, segments = (last - first, 1) if sh == 1 else (1, last - first)
                for kw in range(k_w):
                    phase, shift = (kw * dw) % sw, (kw * dw) // sw
                    for segment in range(segments):
                        oh = first + segment
                        length = (rows - 1) * pitch + o_w
                        a = oh * pitch
                        i = (oh * sh - ph + kh * dh) * pitch + shift
                        in_run = grad_phases[n, c, i_d, phase, i:i + length]
                        co = co_first
                        while co + 4 <= co_end:
                            _add_scaled4(in_run,
                                         weight[co, ci, kd, kh, kw], grad_rows[n, co, od, a:a + length],
                                         weight[co + 1, ci, kd, kh, kw], grad_rows[n, co + 1, od, a:a + length],
                                         weight[co + 2, ci, kd, kh, kw], grad_rows[n, co + 2, od, a:a + length],
                                         weight[co + 3, ci, kd, kh, kw], grad_rows[n, co + 3, od, a:a + length])
                            co += 4
                        for co in range(co, co_end):
                            _add_scaled(in_run, weight[co, ci, kd, kh, kw], grad_rows[n, co, od, a:a + length])


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def conv_backward_weight(x_phases, grad_rows, grad_w, pitch, o_w, sd, sh, sw, pd, ph, dd, dh, dw, groups):
    """Fill grad_w (Cout, C/G, kD, kH, kW) with dL/dw (the module's third formula), from x in the
    layout of `phase_columns` and dL/dy in that of `rows_at_pitch` (its zeros past column oW
    cancel the spare columns the runs cover)."""
    c_out, c_group, k_d, k_h, k_w = grad_w.shape
    n_batch, depth, height = x_phases.shape[0], x_phases.shape[2], x_phases.shape[4] // pitch
    o_d, o_h = grad_rows.shape[2], grad_rows.shape[3] // pitch
    c_out_group = c_out // groups
    for co in prange(c_out):  # each task owns grad_w[co] (point 6)
        c_first = (co // c_out_group) * c_group
        for kd in range(k_d):
            for kh in range(k_h):
                first, last = inside_range(kh * dh - ph, sh, height, o_h)
                rows, segments = (last - first, 1) if sh == 1 else (1, last - first)
                if first >= last:
                    segments = 0  # no output row reads inside: the sums stay zero
                for kw in range(k_w):
                    phase, shift = (kw * dw) % sw, (kw * dw) // sw
                    ci = 0
                    while ci < c_group:
                        # Four input channels share each loaded dL/dy value when there are four
                        # left (point 5). Each run's dot product is summed in the arrays'
                        # precision, the runs in float64.
                        block = 4 if ci + 4 <= c_group else 1
                        t0 = t1 = t2 = t3 = 0.0
                        c = c_first + ci
                        for n in range(n_batch):
                            for od in range(o_d):
                                i_d = od * sd - pd + kd * dd
                                if i_d < 0 or i_d >= depth:
                                    continue
                                for segment in range(segments):
                                    oh = first + segment
                                    length = (rows - 1) * pitch + o_w
                                    a = oh * pitch
                                    i = (oh * sh - ph + kh * dh) * pitch + shift
                                    g = grad_rows[n, co, od, a:a + length]
                                    if block == 4:
                                        d0, d1, d2, d3 = _dot4(g, x_phases[n, c, i_d, phase, i:i + length],
                                                               x_phases[n, c + 1, i_d, phase, i:i + length],
                                                               x_phases[n, c + 2, i_d, phase, i:i + length],
                                                               x_phases[n, c + 3, i_d, phase, i:i + length])
                                        t0, t1, t2, t3 = t0 + d0, t1 + d1, t2 + d2, t3 + d3
                                    else:
                                        t0 += _dot(g, x_phases[n, c, i_d, phase, i:i + length])
                        grad_w[co, ci, kd, kh, kw] = t0
                        if block == 4:
                            grad_w[co, ci + 1, kd, kh, kw] = t1
                            grad_w[co, ci + 2, kd, kh, kw] = t2
                            grad_w[co, ci + 3, kd, kh, kw] = t3
                        ci += block


# ---- layouts: padding and phases of the width axis (point 3) -------------------------------------
def phase_count(geometry) -> int:
    """The number of phases sw, except 1 when the output is one column wide: its only window
    starts at column 0, so the stride moves nothing, and sw phases would hold sw - 1 columns no
    window reads (stride 10^7 would allocate gigabytes). With two or more output columns
    sw <= the padded width, so the phases hold at most twice the padded input."""
    return geometry.stride[2] if geometry.output_spatial[2] > 1 else 1


def phase_pitch(geometry) -> int:
    """Columns per phase: enough for the padded input (pw + W columns) and for every window
    ((oW - 1) * sw + (kW - 1) * dw + 1 columns), divided into sw phases, rounded up."""
    width, k_w, o_w = geometry.input_shape[4], geometry.kernel_size[2], geometry.output_spatial[2]
    sw, pw, dw = phase_count(geometry), geometry.padding[2][0], geometry.dilation[2]
    return -(-max(pw + width, (o_w - 1) * sw + (k_w - 1) * dw + 1) // sw)


def columns_to_phases(x, phases, pw, pitch):
    """phases[n, c, d, p, h * pitch + j] = x[n, c, d, h, j * sw + p - pw] (sw = phases.shape[3]),
    zero where that column is outside x: the padded columns dealt into phases (point 3). Indices
    unsigned, as im2col's copies (im2col.py says why: here 5x on an 8x8 map)."""
    n_batch, channels, depth, sw = phases.shape[0], phases.shape[1], phases.shape[2], phases.shape[3]
    height, width = x.shape[3], x.shape[4]
    for task in prange(n_batch * channels * depth):
        n, c, i_d = task // (channels * depth), (task // depth) % channels, task % depth
        for p in range(sw):
            first, last = inside_range(p - pw, sw, width, pitch)
            first = min(first, pitch)
            last = max(first, last)
            for h in range(height):
                row = h * pitch
                for j in range(row, row + first):
                    phases[n, c, i_d, p, np.uint64(j)] = 0.0
                for j in range(first, last):
                    phases[n, c, i_d, p, np.uint64(row + j)] = x[n, c, i_d, h, np.uint64(j * sw + p - pw)]
                for j in range(row + last, row + pitch):
                    phases[n, c, i_d, p, np.uint64(j)] = 0.0


def phases_to_columns(phases, x, pw, pitch):
    """The inverse of columns_to_phases, dropping the padding: fill x (N, C, D, H, W) from phases."""
    n_batch, channels, depth, sw = phases.shape[0], phases.shape[1], phases.shape[2], phases.shape[3]
    height, width = x.shape[3], x.shape[4]
    for task in prange(n_batch * channels * depth):
        n, c, i_d = task // (channels * depth), (task // depth) % channels, task % depth
        for p in range(sw):
            first, last = inside_range(p - pw, sw, width, pitch)
            for h in range(height):
                for j in range(first, last):
                    x[n, c, i_d, h, np.uint64(j * sw + p - pw)] = phases[n, c, i_d, p, np.uint64(h * pitch + j)]


# copies: parallel from a few million values (a ReLU's pass streams that fast on one core, threads.py)
columns_to_phases = SizedKernel(columns_to_phases, parallel_from=1 << 22)
phases_to_columns = SizedKernel(phases_to_columns, parallel_from=1 << 22)


def phase_columns(x, geometry):
    """x (N, C, D, H, W) as (N, C, D, sw, H * pitch): pw zero columns before each row and zeros
    after, padded column j stored in phase j % sw at position j // sw of its row."""
    n, c, d, h, _ = x.shape
    sw, pitch = phase_count(geometry), phase_pitch(geometry)
    phases = np.empty((n, c, d, sw, h * pitch), x.dtype)
    columns_to_phases(x, phases, geometry.padding[2][0], pitch)
    return phases


def rows_at_pitch(grad_y, geometry):
    """dL/dy (N, Cout, oD, oH, oW) as (N, Cout, oD, oH * pitch), zero past column oW: the same
    layout as phase_columns with one phase and no padding before."""
    n, c_out, o_d, o_h, _ = grad_y.shape
    pitch = phase_pitch(geometry)
    rows = np.empty((n, c_out, o_d, 1, o_h * pitch), grad_y.dtype)
    columns_to_phases(grad_y, rows, 0, pitch)
    return rows.reshape(n, c_out, o_d, o_h * pitch)


def workspace(geometry) -> int:
    """Bytes of the copies the hungriest pass makes: x (or dL/dx) in the phase layout, plus dL/dy
    at the phases' pitch, or one output plane per thread."""
    n, c, d, h, _ = geometry.input_shape
    _, c_out, o_d, o_h, _ = geometry.output_shape
    pitch, sw = phase_pitch(geometry), phase_count(geometry)
    phases = n * c * d * sw * h * pitch
    rows = n * c_out * o_d * o_h * pitch
    return max(phases + rows, phases + numba.get_num_threads() * o_h * pitch) * geometry.dtype.itemsize


def _scalars(geometry) -> tuple:
    """Strides (the width's as the phases hold it), paddings before (depth, height), dilations and
    groups, as the kernels take them."""
    (pd, _), (ph, _), _ = geometry.padding
    return (*geometry.stride[:2], phase_count(geometry), pd, ph, *geometry.dilation, geometry.groups)


def forward(x, weight, geometry):
    """y = conv(x, weight): (N, C, D, H, W), (Cout, C/G, kD, kH, kW) -> (N, Cout, oD, oH, oW)."""
    out = np.empty(geometry.output_shape, geometry.dtype)
    conv_forward(phase_columns(x, geometry), weight, out, phase_pitch(geometry), *_scalars(geometry))
    return out


def backward_data(grad_y, weight, geometry):
    """dL/dx (N, C, D, H, W) from dL/dy (N, Cout, oD, oH, oW)."""
    n, c, d, h, _ = geometry.input_shape
    pitch, sw = phase_pitch(geometry), phase_count(geometry)
    grad_phases = np.empty((n, c, d, sw, h * pitch), geometry.dtype)
    conv_backward_data(rows_at_pitch(grad_y, geometry), weight, grad_phases, pitch, geometry.output_spatial[2],
                       *_scalars(geometry))
    grad_x = np.empty(geometry.input_shape, geometry.dtype)
    phases_to_columns(grad_phases, grad_x, geometry.padding[2][0], pitch)
    return grad_x


def backward_weight(x, grad_y, geometry):
    """dL/dw (Cout, C/G, kD, kH, kW) from x and dL/dy."""
    grad_w = np.empty(geometry.weight_shape, geometry.dtype)
    conv_backward_weight(phase_columns(x, geometry), rows_at_pitch(grad_y, geometry), grad_w,
                         phase_pitch(geometry), geometry.output_spatial[2], *_scalars(geometry))
    return grad_w


ALGORITHM = ConvAlgorithm(
    name="direct",
    capabilities="any stride, padding, dilation and groups, 1-D/2-D/3-D, float32 and float64",
    forward=forward, backward_data=backward_data, backward_weight=backward_weight,
    supports=supports_any_geometry, workspace=workspace,
)
