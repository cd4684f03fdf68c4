"""algorithm="auto" per pass: what each pass of a layer runs, and that the gradients are right."""
import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

import minicnn as mc
import minicnn.functional as F
from minicnn import kernels
from minicnn.kernels import ConvGeometry


def geometry(c=16, k=16, size=12, kernel=3):
    return ConvGeometry((2, c, 1, size, size), (k, c, 1, kernel, kernel), (1, 1, 1),
                        ((0, 0), (1, 1), (1, 1)), (1, 1, 1), 1, np.dtype(np.float32), 2)


def test_thin_winograd_layers_run_winograd_in_every_pass():
    """The fused kernels' weight gradient beats direct's on 16-channel layers (heuristic_passes)."""
    assert kernels.heuristic_passes(geometry()) == dict.fromkeys(("fwd", "bwd_data", "bwd_weight"), "winograd_f4x3")
    assert set(kernels.heuristic_passes(geometry(c=32, k=32)).values()) == {"winograd_f4x3"}
    assert set(kernels.heuristic_passes(geometry(kernel=5)).values()) == {kernels.heuristic_choice(geometry(kernel=5))}
    assert kernels.choose_algorithm(geometry()).name == "winograd_f4x3"


@pytest.mark.parametrize("size", [6, 4])  # Winograd in every pass; im2col's weight gradient (below)
def test_auto_gradients_match_a_float64_reference(size):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 16, size, size))
    w = rng.standard_normal((16, 16, 3, 3))
    gy = rng.standard_normal((2, 16, size, size))
    tx, tw = mc.tensor(x, requires_grad=True), mc.tensor(w, requires_grad=True)
    y = F.conv2d(tx, tw, padding=1)
    y.backward(gy)
    windows = sliding_window_view(np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1))), (3, 3), axis=(2, 3))
    np.testing.assert_allclose(y.array, np.einsum("ncijab,kcab->nkij", windows, w), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(tw.grad.array, np.einsum("ncijab,nkij->kcab", windows, gy), rtol=1e-10, atol=1e-10)
    grad_x = np.zeros((2, 16, size + 2, size + 2))  # each tap adds its weight times dL/dy where it read
    for a in range(3):
        for b in range(3):
            grad_x[:, :, a:a + size, b:b + size] += np.einsum("nkij,kc->ncij", gy, w[:, :, a, b])
    np.testing.assert_allclose(tx.grad.array, grad_x[:, :, 1:-1, 1:-1], rtol=1e-10, atol=1e-10)


def test_the_thinnest_layers_run_im2col():
    """LeNet-5's C1 and a 3-channel stem: im2col is faster than "direct" on every pass (1.3-2x)."""
    lenet_c1 = ConvGeometry((64, 1, 1, 32, 32), (6, 1, 1, 5, 5), (1, 1, 1), ((0, 0), (0, 0), (0, 0)),
                            (1, 1, 1), 1, np.dtype(np.float32), 2)
    assert kernels.heuristic_choice(lenet_c1) == "im2col"
    assert kernels.heuristic_choice(geometry(c=3, k=16)) == "im2col"   # a ResNet-20 stem


def test_winograd_leaves_the_weight_gradient_to_im2col_when_channel_pairs_outnumber_the_pieces():
    """K/G x C/G > 16 x the 2x2 pieces of dL/dy (here N = 2): im2col's weight gradient."""
    assert set(kernels.heuristic_passes(geometry(size=12)).values()) == {"winograd_f4x3"}  # 72 pieces, 256 pairs
    assert kernels.heuristic_passes(geometry(size=4)) == {                                # 8 pieces, 256 pairs
        "fwd": "winograd_f2x3", "bwd_data": "winograd_f2x3", "bwd_weight": "im2col"}
    assert kernels.choose_algorithm(geometry(size=4)).name == "winograd_f2x3+winograd_f2x3+im2col"
