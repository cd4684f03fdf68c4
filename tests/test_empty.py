"""Zero-sized dimensions get PyTorch's answer: an empty batch (N = 0) gives an empty output and
empty or zero gradients through every op and every convolution algorithm; an empty axis that
PyTorch refuses (channels, spatial axes, the channels of an unbatched input) is a ValueError
naming the op."""
import numpy as np
import pytest

import minicnn as mc
from minicnn import functional as F
from minicnn.kernels import ALGORITHMS


def empty(*shape, requires_grad=True):
    return mc.tensor(np.zeros(shape, np.float32), requires_grad=requires_grad)


def run_backward(y):
    """Backward through an empty output (sum of nothing is 0, and its gradient is empty)."""
    F.sum(y).backward()


# One configuration each algorithm supports: (weight shape, conv2d options).
CONFIGS = {
    "direct": ((4, 3, 3, 3), dict(padding=1, stride=2)),
    "im2col": ((4, 3, 3, 3), dict(padding=0)),
    "gemm": ((4, 3, 1, 1), dict()),
    "winograd_f2x3": ((4, 3, 3, 3), dict(padding=1)),
    "winograd_f4x3": ((4, 3, 3, 3), dict()),
    "fft": ((4, 3, 5, 5), dict(padding=2)),
    "depthwise": ((3, 1, 3, 3), dict(padding=1, groups=3)),
    "separable": ((4, 3, 3, 3), dict(padding=1)),
}


def test_every_algorithm_has_a_configuration_here():
    assert set(CONFIGS) == set(ALGORITHMS)


@pytest.mark.parametrize("algorithm", sorted(CONFIGS))
@pytest.mark.parametrize("kernel_1x1", [False, True])
def test_conv2d_of_an_empty_batch_is_empty_forward_and_backward(algorithm, kernel_1x1):
    w_shape, options = CONFIGS[algorithm]
    if kernel_1x1 and algorithm not in ("direct", "im2col", "gemm", "fft", "depthwise"):
        pytest.skip("3x3 only")
    if kernel_1x1:
        w_shape, options = w_shape[:2] + (1, 1), {k: v for k, v in options.items() if k == "groups"}
    x = empty(0, 3, 8, 8)
    w = mc.tensor(np.ones(w_shape, np.float32), requires_grad=True)  # rank 1: separable accepts it
    b = mc.tensor(np.ones(w_shape[0], np.float32), requires_grad=True)
    y = F.conv2d(x, w, b, algorithm=algorithm, **options)
    assert y.shape[:2] == (0, w_shape[0]) and y.dtype == np.float32
    run_backward(y)
    assert x.grad.shape == x.shape
    assert w.grad.shape == w.shape and not np.any(w.grad.array)
    assert b.grad.shape == b.shape and not np.any(b.grad.array)


@pytest.mark.parametrize("dims, conv", [(1, F.conv1d), (3, F.conv3d)])
def test_conv1d_and_conv3d_of_an_empty_batch(dims, conv):
    x = empty(0, 2, *(5,) * dims)
    w = mc.tensor(np.ones((3, 2) + (1,) * dims, np.float32), requires_grad=True)
    y = conv(x, w)
    assert y.shape == (0, 3) + (5,) * dims
    run_backward(y)
    assert x.grad.shape == x.shape and not np.any(w.grad.array)


def test_conv_transpose2d_of_an_empty_batch():
    x, w = empty(0, 3, 4, 4), mc.tensor(np.ones((3, 2, 3, 3), np.float32), requires_grad=True)
    y = F.conv_transpose2d(x, w, stride=2, output_padding=1)
    assert y.shape == (0, 2, 10, 10)
    run_backward(y)
    assert x.grad.shape == x.shape and not np.any(w.grad.array)


@pytest.mark.parametrize("shape", [(2, 0, 5, 5), (2, 3, 0, 5), (3, 0, 5)])
def test_conv_refuses_empty_channels_and_spatial_axes(shape):
    w = np.ones((4, shape[-3] or 1, 1, 1), np.float32)
    with pytest.raises(ValueError, match=r"^conv2d: input has an empty dimension"):
        F.conv2d(np.zeros(shape, np.float32), w)


POOLS = [
    lambda x: F.max_pool2d(x, 2),
    lambda x: F.max_pool2d(x, 3, stride=2, padding=1, ceil_mode=True),
    lambda x: F.avg_pool2d(x, 2),
    lambda x: F.adaptive_avg_pool2d(x, 3),
    lambda x: F.adaptive_max_pool2d(x, 3),
    lambda x: F.global_avg_pool2d(x),
]


@pytest.mark.parametrize("pool", POOLS)
def test_pooling_of_an_empty_batch_is_empty_forward_and_backward(pool):
    x = empty(0, 3, 6, 6)
    y = pool(x)
    assert y.shape[:2] == (0, 3)
    run_backward(y)
    assert x.grad.shape == x.shape


@pytest.mark.parametrize("dims", [1, 3])
def test_max_pool_and_unpool_1d_3d_of_an_empty_batch(dims):
    x = empty(0, 2, *(4,) * dims)
    pool, unpool = {1: (F.max_pool1d, F.max_unpool1d), 3: (F.max_pool3d, F.max_unpool3d)}[dims]
    y, indices = pool(x, 2, return_indices=True)
    z = unpool(y, indices, 2)
    assert z.shape == x.shape
    run_backward(z)
    assert x.grad.shape == x.shape


def test_max_unpool2d_of_an_empty_batch():
    y = empty(0, 3, 2, 2)
    z = F.max_unpool2d(y, np.zeros((0, 3, 2, 2), np.int64), 2)
    assert z.shape == (0, 3, 4, 4)
    run_backward(z)
    assert y.grad.shape == y.shape


@pytest.mark.parametrize("pool", [lambda x: F.max_pool2d(x, 2), lambda x: F.avg_pool2d(x, 2),
                                  lambda x: F.adaptive_avg_pool2d(x, 1), lambda x: F.adaptive_max_pool2d(x, 1)])
@pytest.mark.parametrize("shape", [(0, 4, 4), (2, 0, 4, 4), (2, 3, 0, 4)])
def test_pooling_refuses_empty_channels_as_pytorch_does(pool, shape):
    with pytest.raises(ValueError, match=r"pool2d: input has an empty dimension"):
        pool(np.zeros(shape, np.float32))


def test_batch_norm_of_an_empty_batch():
    x = empty(0, 3, 4, 4)
    mean, var = np.zeros(3, np.float32), np.ones(3, np.float32)
    y = F.batch_norm(x, mean, var, training=False)
    assert y.shape == x.shape
    run_backward(y)
    assert x.grad.shape == x.shape
    with pytest.raises(ValueError, match=r"^batch_norm: expected more than 1 value per channel"):
        F.batch_norm(x, mean, var, training=True)


@pytest.mark.parametrize("drop", [lambda x: F.dropout(x, 0.5), lambda x: F.dropout2d(x, 0.5),
                                  lambda x: F.drop_path(x, 0.5)])
def test_dropout_of_an_empty_batch(drop):
    x = empty(0, 3, 4, 4)
    y = drop(x)
    assert y.shape == x.shape
    run_backward(y)
    assert x.grad.shape == x.shape


def test_linear_of_an_empty_batch():
    x, w = empty(0, 5), mc.tensor(np.ones((2, 5), np.float32), requires_grad=True)
    y = F.linear(x, w, mc.tensor(np.ones(2, np.float32)))
    assert y.shape == (0, 2)
    run_backward(y)
    assert x.grad.shape == x.shape and not np.any(w.grad.array)
