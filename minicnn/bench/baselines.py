"""What minicnn's algorithms are measured against: vectorised NumPy, and PyTorch when installed.

Both work on the benchmark's 2-D layers (arrays (N, C, H, W), weight (K, C/groups, kH, kW)).
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


class NumpyConv:
    """Convolution in vectorised NumPy (sliding_window_view + tensordot): the baseline every
    algorithm must beat by 5x. One tensordot per group."""

    def __init__(self, layer):
        self.layer = layer

    def _windows(self, x, kernel):
        """(N, C, oH, oW, kH, kW) view of every (dilated, strided) window of x, padded."""
        (sh, sw), (dh, dw) = self.layer.stride, self.layer.dilation
        padded = np.pad(x, ((0, 0), (0, 0)) + tuple(self.layer.padding))
        spans = (dh * (kernel[0] - 1) + 1, dw * (kernel[1] - 1) + 1)
        return sliding_window_view(padded, spans, axis=(2, 3))[:, :, ::sh, ::sw, ::dh, ::dw]

    def forward(self, x, w):
        g = self.layer.groups
        win = self._windows(x, w.shape[2:])
        cg, kg = x.shape[1] // g, w.shape[0] // g
        outs = [np.tensordot(win[:, i * cg:(i + 1) * cg], w[i * kg:(i + 1) * kg], axes=([1, 4, 5], [1, 2, 3]))
                for i in range(g)]
        return np.concatenate(outs, axis=3).transpose(0, 3, 1, 2)

    def backward_weight(self, x, gy, w_shape):
        g = self.layer.groups
        win = self._windows(x, w_shape[2:])
        cg, kg = x.shape[1] // g, w_shape[0] // g
        outs = [np.tensordot(gy[:, i * kg:(i + 1) * kg], win[:, i * cg:(i + 1) * cg], axes=([0, 2, 3], [0, 2, 3]))
                for i in range(g)]
        return np.concatenate(outs, axis=0)

    def backward_data(self, gy, w, x_shape):
        """The adjoint: every output position sends gy * w back to the window it read; one
        tensordot per group gives all the windows' values, then one vectorised add per kernel tap."""
        g, (sh, sw), (dh, dw) = self.layer.groups, self.layer.stride, self.layer.dilation
        kh, kw = w.shape[2:]
        (top, bottom), (left, right) = self.layer.padding
        n, k, oh, ow = gy.shape
        cg, kg = x_shape[1] // g, k // g
        padded = np.zeros((n, x_shape[1], x_shape[2] + top + bottom, x_shape[3] + left + right), gy.dtype)
        for i in range(g):
            # (N, oH, oW, C/g, kH, kW): what each output position sends to each tap of its window
            sent = np.tensordot(gy[:, i * kg:(i + 1) * kg], w[i * kg:(i + 1) * kg], axes=([1], [0]))
            target = padded[:, i * cg:(i + 1) * cg]
            for a in range(kh):
                for b in range(kw):
                    target[:, :, a * dh:a * dh + sh * (oh - 1) + 1:sh, b * dw:b * dw + sw * (ow - 1) + 1:sw] += \
                        sent[:, :, :, :, a, b].transpose(0, 3, 1, 2)
        return padded[:, :, top:top + x_shape[2], left:left + x_shape[3]]


class TorchConv:
    """PyTorch's CPU convolution (oneDNN), each pass timed on its own; only for layers padded
    equally on both sides of each axis (PyTorch's conv2d pads symmetrically)."""

    def __init__(self, layer):
        import torch  # optional: only with --compare torch

        self.torch, self.layer = torch, layer
        self.padding = [before for before, _ in layer.padding]
        self.args = (list(layer.stride), self.padding, list(layer.dilation), False, [0, 0], layer.groups)

    def tensors(self, *arrays):
        return [self.torch.from_numpy(np.ascontiguousarray(a)) for a in arrays]

    def forward(self, x, w):
        return self.torch.nn.functional.conv2d(x, w, None, self.layer.stride, self.padding, self.layer.dilation,
                                               self.layer.groups)

    def backward_data(self, gy, x, w):
        return self.torch.ops.aten.convolution_backward(gy, x, w, None, *self.args, [True, False, False])[0]

    def backward_weight(self, gy, x, w):
        return self.torch.ops.aten.convolution_backward(gy, x, w, None, *self.args, [False, True, False])[1]
