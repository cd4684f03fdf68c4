"""im2col's blocked passes: columns built a block at a time (a stretch of one image's output rows,
or several whole images) in a buffer each thread reuses, multiplied into place; threads sharing
an image (fewer images than threads) add their data gradients into copies of their own.

Blocks of one output row, or of as many whole images as a thread has, on up to three threads
(more than the machine may have: the parts then queue) make every path run on small layers:
blocks that end inside an image and wrap across depth slices, images split between threads,
threads with several images, blocks of several images. The reference is the
definition's float64 loops (algorithm "reference", itself checked against an independent
NumPy reference in test_reference_kernel.py), to 1e-12.
"""
import contextlib
import math
import tracemalloc
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings

import minicnn as mc
from minicnn import functional as F
from minicnn.kernels import ConvGeometry, im2col, threads
from minicnn.testing import conv_configs

CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


@contextlib.contextmanager
def blocks(parts, columns):
    """Blocks of `columns` columns (1: one output row; many: whole images), as `parts` threads' shares."""
    with mock.patch.multiple(im2col, BLOCK_BYTES=1, BLOCK_MIN_COLUMNS=columns, PARALLEL_MIN_FLOPS=0), \
            mock.patch.object(threads, "part_count", lambda: parts):
        yield


def passes(config, algorithm, x, w, grad_y):
    """(y, dL/dx, dL/dw) of `algorithm` on config's layer."""
    xt, wt = mc.tensor(x, requires_grad=True), mc.tensor(w, requires_grad=True)
    y = CONV[config.spatial_dims](xt, wt, **config.kwargs(), algorithm=algorithm)
    y.backward(grad_y)
    return y.array, xt.grad.array, wt.grad.array


@settings(max_examples=40, deadline=None)
@given(conv_configs(spatial_dims=(1, 2, 3), max_batch=4, dtypes=(np.float64,)))
def test_blocked_passes_match_the_definition(config):
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal(config.input_shape), rng.standard_normal(config.weight_shape)
    expected_y = CONV[config.spatial_dims](x, w, **config.kwargs(), algorithm="reference").array
    grad_y = rng.standard_normal(expected_y.shape)
    expected = passes(config, "reference", x, w, grad_y)
    for parts, columns in ((1, 1), (3, 1), (1, 10 ** 6), (2, 10 ** 6)):
        with blocks(parts, columns):
            got = passes(config, "im2col", x, w, grad_y)
        for name, value, want in zip(("y", "dL/dx", "dL/dw"), got, expected):
            assert value.shape == want.shape, name
            np.testing.assert_allclose(value, want, rtol=0, atol=1e-12 * max(np.abs(want).max(), 1.0),
                                       err_msg=f"{name}, {parts} threads, blocks of {columns} columns")


@pytest.mark.parametrize("batch", [1, 5])
@pytest.mark.parametrize("columns", [1, 10, 50, 300])
def test_blocks_cover_every_output_row_once(batch, columns):
    geometry = ConvGeometry((batch, 2, 3, 7, 5), (4, 2, 2, 3, 3), (1, 2, 1), ((0, 0), (1, 1), (1, 1)), (1, 1, 1),
                            1, np.dtype(np.float64))
    o_d, o_h, o_w = geometry.output_spatial  # 2 x 4 rows of 5 columns per image
    rows = o_d * o_h
    for parts in (1, 2, 3, 4):
        with blocks(parts, columns):
            plan = im2col._plan(geometry)
        covered = sorted((n, r) for share in plan for first_n, last_n, first_r, last_r in share
                         for n in range(first_n, last_n) for r in range(first_r, last_r))
        assert covered == [(n, r) for n in range(batch) for r in range(rows)]
        for first_n, last_n, first_r, last_r in (block for share in plan for block in share):
            assert last_n - first_n == 1 or (first_r, last_r) == (0, rows)  # several images: whole ones
            assert (last_n - first_n) * (last_r - first_r) * o_w <= max(columns + o_w, rows * o_w)


def test_the_passes_never_hold_the_whole_column_matrix():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3, 64, 64)).astype(np.float32)
    w = rng.standard_normal((8, 3, 7, 7)).astype(np.float32)
    geometry = ConvGeometry((4, 3, 1, 64, 64), (8, 3, 1, 7, 7), (1, 1, 1), ((0, 0), (0, 0), (0, 0)), (1, 1, 1), 1,
                            np.dtype(np.float32), 2)
    column_matrix = 3 * 49 * 4 * math.prod(geometry.output_spatial) * 4  # 7.9 MB
    grad_y = rng.standard_normal(geometry.output_shape).astype(np.float32)
    x5, w5 = x.reshape(geometry.input_shape), w.reshape(geometry.weight_shape)
    for call in (lambda: im2col.forward(x5, w5, geometry), lambda: im2col.backward_data(grad_y, w5, geometry),
                 lambda: im2col.backward_weight(x5, grad_y, geometry)):
        call()  # compiled before tracing
        tracemalloc.start()
        call()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < column_matrix / 2
    assert im2col.workspace(geometry) < column_matrix / 2
