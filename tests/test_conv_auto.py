"""algorithm="auto": the documented heuristic, and autotune's per-pass winners."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_conv import reference_backward, reference_forward

import minicnn as mc
import minicnn.functional as F
from minicnn import kernels
from minicnn.bench import LAYERS
from minicnn.kernels import ConvGeometry

CONVOLUTIONS = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def geometry(n=2, c=16, size=12, k=16, kernel=(3, 3), stride=1, pad=1, groups=1, dilation=1):
    return ConvGeometry((n, c, 1, size, size), (k, c // groups, 1) + kernel, (1, stride, stride),
                        ((0, 0), (pad, pad), (pad, pad)), (1, dilation, dilation), groups, np.dtype(np.float32), 2)


@pytest.mark.parametrize("name, expected", [
    ("resnet50_1x1", "gemm"),           # rule 1: 1x1
    ("mobilenet_dw3x3", "depthwise"),   # rule 2: depthwise
    ("resnext50_g32", "im2col"),        # 4 channels per group: too thin for Winograd; direct is no faster
    ("resnet18_3x3", "winograd_f4x3"),  # rule 3: 3x3 stride 1, 64 channels
    ("vgg16_conv3_2", "winograd_f4x3"),
    ("googlenet_5x5", "im2col"),        # 5x5 and 9x9: im2col is as fast as FFT or faster now
    ("cb_L2", "im2col"),
    ("cb_L4", "im2col"),
    ("alexnet_conv1", "im2col"),        # stride 4
    ("cb_L1", "im2col"),                # 3 input channels
    ("incv3_1x7", "im2col"),            # 7 taps
])
def test_heuristic_on_the_bench_layers(name, expected):
    assert kernels.heuristic_choice(LAYERS[name].geometry()) == expected


def test_heuristic_edge_cases():
    assert kernels.heuristic_choice(geometry(kernel=(1, 1), pad=1)) != "gemm"  # padded 1x1
    assert kernels.heuristic_choice(geometry(c=8, k=8)) == "im2col"           # too thin for Winograd
    assert kernels.heuristic_choice(geometry(size=5)) == "winograd_f2x3"      # small output
    assert kernels.heuristic_choice(geometry(dilation=2, pad=2)) == "im2col"
    assert kernels.heuristic_choice(geometry(stride=2)) == "im2col"


def test_every_choice_is_eligible():
    for layer in LAYERS.values():
        g = layer.shrunk().geometry()
        assert kernels.heuristic_choice(g) in kernels.eligible_algorithms(g)


def test_autotune_caches_per_pass_winners_and_stays_correct():
    rng = np.random.default_rng(0)
    x = mc.tensor(rng.standard_normal((2, 16, 10, 10)), requires_grad=True)
    w = mc.tensor(rng.standard_normal((16, 16, 3, 3)), requires_grad=True)
    expected = F.conv2d(x, w, padding=1, algorithm="direct")
    expected.sum().backward()
    grads = x.grad.array.copy(), w.grad.array.copy()
    x.grad = w.grad = None
    previous = kernels.autotune(True)
    try:
        kernels.autotune_cache().clear()
        y = F.conv2d(x, w, padding=1)
        y.sum().backward()
        (chosen,) = kernels.autotune_cache().values()
        assert set(chosen) == {"fwd", "bwd_data", "bwd_weight"}
        g = next(iter(kernels.autotune_cache()))
        assert set(chosen.values()) <= set(kernels.eligible_algorithms(g))
        np.testing.assert_allclose(y.array, expected.array, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(x.grad.array, grads[0], rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(w.grad.array, grads[1], rtol=1e-10, atol=1e-10)
        F.conv2d(x, w, padding=1)
        assert len(kernels.autotune_cache()) == 1  # the same shape is not timed again
    finally:
        kernels.autotune(previous)
        kernels.autotune_cache().clear()
    assert kernels.autotune(False) is False


def test_unknown_and_unsupported_algorithms_are_refused_by_name():
    x, w = mc.tensor(np.ones((1, 2, 6, 6))), mc.tensor(np.ones((2, 2, 3, 3)))
    with pytest.raises(ValueError, match="unknown algorithm 'magic'; available: auto"):
        F.conv2d(x, w, algorithm="magic")
    with pytest.raises(ValueError, match="algorithm 'gemm' cannot run this configuration .*needs a 1x1 kernel"):
        F.conv2d(x, w, algorithm="gemm")
    with pytest.raises(ValueError, match="algorithm 'winograd_f4x3' cannot run .*needs stride 1"):
        F.conv2d(x, w, stride=2, algorithm="winograd_f4x3")


# ---- taps that only ever read padding ------------------------------------------------------------
def test_a_3x3_same_convolution_on_a_1x1_map_runs_as_a_1x1_one():
    algorithm = kernels.choose_algorithm(geometry(size=1, c=32, k=32))
    assert algorithm.name == "gemm (1x1 live)"
    strided = kernels.choose_algorithm(geometry(size=2, stride=2))  # ResNet-18's last downsampling at 32x32
    assert strided.name == "im2col (2x2 live)"
    assert kernels.live_taps(geometry(size=4)) == ((0, 1), (0, 3), (0, 3))  # every tap reads inside


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_live_taps_give_the_definition_forward_and_backward(data):
    """Small maps with wide padding, strides and dilations, where outer taps read only padding:
    "auto" (run on the live taps) against the float64 definition, forward and both gradients."""
    dims = data.draw(st.sampled_from((1, 2, 3)))
    size = data.draw(st.tuples(*[st.integers(1, 3)] * dims))
    kernel = data.draw(st.tuples(*[st.integers(1, 5)] * dims))
    dilation = data.draw(st.tuples(*[st.integers(1, 2)] * dims))
    stride = data.draw(st.tuples(*[st.integers(1, 3)] * dims))
    pairs = tuple(data.draw(st.tuples(st.integers(0, d * (k - 1)), st.integers(0, d * (k - 1))))
                  for k, d in zip(kernel, dilation))
    if any(n + b + a < d * (k - 1) + 1 for n, (b, a), k, d in zip(size, pairs, kernel, dilation)):
        return  # the kernel does not fit the padded input: not a convolution
    groups = data.draw(st.integers(1, 2))
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 16)))
    x = rng.standard_normal((2, 2 * groups) + size)
    w = rng.standard_normal((3 * groups, 2) + kernel)
    xt, wt = mc.tensor(x, requires_grad=True), mc.tensor(w, requires_grad=True)
    y = CONVOLUTIONS[dims](xt, wt, stride=stride, padding=pairs, dilation=dilation, groups=groups)
    expected = reference_forward(x, w, stride, pairs, dilation, groups)
    np.testing.assert_allclose(y.array, expected, rtol=1e-10, atol=1e-10)
    grad_y = rng.standard_normal(expected.shape)
    y.backward(grad_y)
    grad_x, grad_w = reference_backward(x, w, grad_y, stride, pairs, dilation, groups)
    np.testing.assert_allclose(xt.grad.array, grad_x, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(wt.grad.array, grad_w, rtol=1e-10, atol=1e-10)


# ---- kernels as large as the input ----------------------------------------------------------------
def test_a_kernel_as_large_as_its_input_runs_as_one_matrix_product():
    lenet_c5 = ConvGeometry((64, 16, 1, 5, 5), (120, 16, 1, 5, 5), (1, 1, 1), ((0, 0),) * 3, (1, 1, 1), 1,
                            np.dtype(np.float32), 2)
    assert kernels.choose_algorithm(lenet_c5).name == "gemm (whole input)"
    assert kernels.choose_algorithm(geometry(size=5, kernel=(5, 5), pad=0)).name == "gemm (whole input)"
    assert kernels.choose_algorithm(geometry(size=6, kernel=(5, 5), pad=0)).name == "im2col"  # 2x2 outputs
    assert kernels.choose_algorithm(geometry(size=3, kernel=(3, 3), pad=1)).name.startswith("winograd")  # padded


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_whole_input_kernels_give_the_definition_forward_and_backward(data):
    """Kernels the size of the input in every rank, with groups and strides: "auto" (one matrix
    product of the flattened images) against the float64 definition, forward and both gradients."""
    dims = data.draw(st.sampled_from((1, 2, 3)))
    size = data.draw(st.tuples(*[st.integers(1, 4)] * dims))
    stride = data.draw(st.tuples(*[st.integers(1, 3)] * dims))
    groups = data.draw(st.integers(1, 3))
    n = data.draw(st.integers(0, 3))
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 16)))
    x = rng.standard_normal((n, 2 * groups) + size)
    w = rng.standard_normal((data.draw(st.integers(1, 3)) * groups, 2) + size)
    xt, wt = mc.tensor(x, requires_grad=True), mc.tensor(w, requires_grad=True)
    y = CONVOLUTIONS[dims](xt, wt, stride=stride, groups=groups)
    if np.prod(size) > 1:
        assert y._ctx.algorithm.name == "gemm (whole input)"
    expected = reference_forward(x, w, stride, ((0, 0),) * dims, (1,) * dims, groups)
    np.testing.assert_allclose(y.array, expected, rtol=1e-10, atol=1e-10)
    grad_y = rng.standard_normal(expected.shape)
    y.backward(grad_y)
    grad_x, grad_w = reference_backward(x, w, grad_y, stride, ((0, 0),) * dims, (1,) * dims, groups)
    np.testing.assert_allclose(xt.grad.array, grad_x, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(wt.grad.array, grad_w, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("size, kernel, stride, padding, output_padding", [(1, 3, 1, 1, 0), (2, 3, 2, 1, 1), (1, 5, 1, 2, 0)])
def test_a_transposed_convolution_with_dead_taps_matches_the_reference_loops(size, kernel, stride, padding,
                                                                             output_padding):
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((2, 4, size, size)), rng.standard_normal((4, 3, kernel, kernel))
    results = []
    for algorithm in ("auto", "reference"):
        tx, tw = mc.tensor(x, requires_grad=True), mc.tensor(w, requires_grad=True)
        y = F.conv_transpose2d(tx, tw, stride=stride, padding=padding, output_padding=output_padding,
                               algorithm=algorithm)
        y.backward(mc.tensor(np.linspace(-1, 1, y.numel()).reshape(y.shape)))
        results.append((y.array, tx.grad.array, tw.grad.array))
    for mine, reference in zip(*results):
        np.testing.assert_allclose(mine, reference, rtol=1e-12, atol=1e-12)
