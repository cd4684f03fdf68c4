"""What minicnn's algorithms are measured against: vectorised NumPy, and PyTorch when installed.

Both work on the benchmark's 2-D layers (arrays (N, C, H, W), weight (K, C/groups, kH, kW)).
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def _windows(x, kernel, stride):
    """(N, C, oH, oW, kH, kW) view of every window of x (already padded)."""
    view = sliding_window_view(x, kernel, axis=(2, 3))
    return view[:, :, ::stride, ::stride]


class NumpyConv:
    """Convolution in vectorised NumPy (sliding_window_view + tensordot): the baseline every
    algorithm must beat by 5x. One tensordot per group."""

    def __init__(self, layer):
        self.layer = layer

    def _pad(self, x):
        ph, pw = self.layer.padding
        return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))

    def forward(self, x, w):
        g, s = self.layer.groups, self.layer.stride
        win = _windows(self._pad(x), w.shape[2:], s)
        cg, kg = x.shape[1] // g, w.shape[0] // g
        outs = [np.tensordot(win[:, i * cg:(i + 1) * cg], w[i * kg:(i + 1) * kg], axes=([1, 4, 5], [1, 2, 3]))
                for i in range(g)]
        return np.concatenate(outs, axis=3).transpose(0, 3, 1, 2)

    def backward_weight(self, x, gy, w_shape):
        g, s = self.layer.groups, self.layer.stride
        win = _windows(self._pad(x), w_shape[2:], s)
        cg, kg = x.shape[1] // g, w_shape[0] // g
        outs = [np.tensordot(gy[:, i * kg:(i + 1) * kg], win[:, i * cg:(i + 1) * cg], axes=([0, 2, 3], [0, 2, 3]))
                for i in range(g)]
        return np.concatenate(outs, axis=0)

    def backward_data(self, gy, w, x_shape):
        """The adjoint: every output position sends gy * w back to the window it read; one
        tensordot per group gives all the windows' values, then one vectorised add per kernel tap."""
        g, s = self.layer.groups, self.layer.stride
        (kh, kw), (ph, pw) = w.shape[2:], self.layer.padding
        n, k, oh, ow = gy.shape
        cg, kg = x_shape[1] // g, k // g
        padded = np.zeros((n, x_shape[1], x_shape[2] + 2 * ph, x_shape[3] + 2 * pw), gy.dtype)
        for i in range(g):
            # (N, oH, oW, C/g, kH, kW): what each output position sends to each tap of its window
            sent = np.tensordot(gy[:, i * kg:(i + 1) * kg], w[i * kg:(i + 1) * kg], axes=([1], [0]))
            target = padded[:, i * cg:(i + 1) * cg]
            for a in range(kh):
                for b in range(kw):
                    target[:, :, a:a + s * (oh - 1) + 1:s, b:b + s * (ow - 1) + 1:s] += \
                        sent[:, :, :, :, a, b].transpose(0, 3, 1, 2)
        return padded[:, :, ph:ph + x_shape[2], pw:pw + x_shape[3]]


class TorchConv:
    """PyTorch's CPU convolution (oneDNN), each pass timed on its own."""

    def __init__(self, layer):
        import torch  # optional: only with --compare torch

        self.torch, self.layer = torch, layer
        self.args = ([layer.stride] * 2, list(layer.padding), [1, 1], False, [0, 0], layer.groups)

    def tensors(self, *arrays):
        return [self.torch.from_numpy(np.ascontiguousarray(a)) for a in arrays]

    def forward(self, x, w):
        return self.torch.nn.functional.conv2d(x, w, None, self.layer.stride, self.layer.padding, 1,
                                               self.layer.groups)

    def backward_data(self, gy, x, w):
        return self.torch.ops.aten.convolution_backward(gy, x, w, None, *self.args, [True, False, False])[0]

    def backward_weight(self, gy, x, w):
        return self.torch.ops.aten.convolution_backward(gy, x, w, None, *self.args, [False, True, False])[1]
