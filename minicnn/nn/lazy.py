"""Lazy layers: LazyLinear, LazyConv1d/2d/3d, LazyConvTranspose2d, LazyBatchNorm1d/2d/3d (PyTorch's).

A lazy layer is written without its input size (`nn.LazyConv2d(6, 5)`, no in_channels) and reads it
from the first input it sees. At that first forward it builds the eager layer with the same
settings (so the weights are drawn exactly as `nn.Conv2d(in_channels, 6, 5, generator=g)` would
draw them, from the generator given at construction or else the default generator of that moment)
and becomes it: the module's class is then `Conv2d`, as in PyTorch. Until then it has no
parameters, and asking for them (parameters(), state_dict(), building an optimiser) raises an
error saying to run the model on one batch first. load_state_dict into a lazy layer takes the
input size from the shapes in the state dict.
"""
from __future__ import annotations

import numpy as np

from ..functional.checks import shape_of
from ..tensor import float_dtype
from .conv import Conv1d, Conv2d, Conv3d, ConvTranspose2d
from .layers import Linear
from .module import Module
from .norm import BatchNorm1d, BatchNorm2d, BatchNorm3d


class LazyModule(Module):
    """What every lazy layer shares. Each subclass names its `eager_class`, the keyword of the
    size it infers (`size_argument`), and how to read that size from an input or a state dict."""

    eager_class: type = Module
    size_argument = ""

    def __init__(self, **settings):
        super().__init__()
        # dtype=None is the default dtype when the layer is written, as for an eager layer
        self.settings = {**settings, "dtype": float_dtype(settings["dtype"])}
        # Build a throwaway eager layer now, so that bad settings fail where the layer is written,
        # as for an eager layer; its own generator leaves the real draw for the first forward.
        probe_settings = dict(settings)
        if "generator" in probe_settings:
            probe_settings["generator"] = np.random.default_rng(0)
        probe = self.eager_class(**{self.size_argument: self._smallest_size()}, **probe_settings)
        self.has_state = any(True for _ in probe._named_state())

    def _smallest_size(self) -> int:
        return 1

    def size_from_input(self, input) -> int:
        raise NotImplementedError

    def size_from_state(self, state_dict, prefix: str) -> int | None:
        """The input size implied by this layer's entries in a state dict, or None if absent."""
        raise NotImplementedError

    def materialize(self, size: int) -> None:
        """Become the eager layer of input size `size`, drawing its weights now."""
        eager = self.eager_class(**{self.size_argument: size}, **self.settings)
        kept = {name: self.__dict__[name] for name in Module._HOOK_TABLES + ("training",)}
        self.__dict__.clear()
        self.__dict__.update(eager.__dict__)
        self.__dict__.update(kept)
        self.__class__ = self.eager_class

    def _materialize_from_state(self, state_dict, prefix: str) -> None:
        """Called by load_state_dict: take the input size from the state dict when it holds it."""
        size = self.size_from_state(state_dict, prefix)
        if size is not None:
            self.materialize(size)

    def forward(self, input, *args, **kwargs):
        self.materialize(self.size_from_input(input))
        return self.forward(input, *args, **kwargs)  # the eager class's forward now

    def _check_materialized(self, name: str) -> None:
        if self.has_state:
            where = f" ({name})" if name else ""
            raise RuntimeError(
                f"{type(self).__name__}{where}: parameters are created by the first forward; run the model on "
                "one batch before building the optimiser, counting or saving parameters, or casting the model "
                "(or load a state dict into it)")

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.settings.items() if k not in ("generator", "dtype"))


def _state_shape(state_dict, key: str):
    return None if key not in state_dict else np.shape(state_dict[key])


class LazyLinear(LazyModule):
    """Linear with in_features read from the first input's last axis: (*, in_features)."""

    eager_class, size_argument = Linear, "in_features"

    def __init__(self, out_features: int, bias: bool = True, *, dtype=None, generator=None):
        super().__init__(out_features=out_features, bias=bias, dtype=dtype, generator=generator)

    def size_from_input(self, input) -> int:
        shape = shape_of(input)
        if not shape:
            raise ValueError(f"{type(self).__name__}: expected an input of shape (*, in_features), got a 0-d input")
        return shape[-1]

    def size_from_state(self, state_dict, prefix):
        shape = _state_shape(state_dict, prefix + "weight")
        return None if shape is None or len(shape) != 2 else shape[1]


class _LazyChannels(LazyModule):
    """A lazy layer whose input size is the channel axis of (N, C, *spatial) or unbatched (C, *spatial)."""

    spatial_dims = 0

    def size_from_input(self, input) -> int:
        shape, rank = shape_of(input), self.spatial_dims + 1
        if len(shape) not in (rank, rank + 1):
            raise ValueError(f"{type(self).__name__}: expected a {rank}-D (unbatched) or {rank + 1}-D (batched) "
                             f"input, got shape {shape}")
        return shape[len(shape) - rank]


class _LazyConvNd(_LazyChannels):
    size_argument = "in_channels"

    def __init__(self, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True,
                 padding_mode="zeros", *, algorithm="auto", dtype=None, generator=None):
        super().__init__(out_channels=out_channels, kernel_size=kernel_size, stride=stride, padding=padding,
                         dilation=dilation, groups=groups, bias=bias, padding_mode=padding_mode,
                         algorithm=algorithm, dtype=dtype, generator=generator)

    def _smallest_size(self) -> int:
        groups = self.settings["groups"]
        return groups if isinstance(groups, (int, np.integer)) and groups > 0 else 1

    def size_from_state(self, state_dict, prefix):
        # weight: (out_channels, in_channels / groups, *kernel)
        shape = _state_shape(state_dict, prefix + "weight")
        return None if shape is None or len(shape) < 2 else shape[1] * self.settings["groups"]


class LazyConv1d(_LazyConvNd):
    """Conv1d with in_channels read from the first input."""
    eager_class, spatial_dims = Conv1d, 1


class LazyConv2d(_LazyConvNd):
    """Conv2d with in_channels read from the first input: nn.LazyConv2d(6, 5) for LeNet's C1."""
    eager_class, spatial_dims = Conv2d, 2


class LazyConv3d(_LazyConvNd):
    """Conv3d with in_channels read from the first input."""
    eager_class, spatial_dims = Conv3d, 3


class LazyConvTranspose2d(_LazyConvNd):
    """ConvTranspose2d with in_channels read from the first input."""

    eager_class, spatial_dims = ConvTranspose2d, 2

    def __init__(self, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1, bias=True,
                 dilation=1, padding_mode="zeros", *, algorithm="auto", dtype=None, generator=None):
        # ConvTranspose2d's own argument order (output_padding; dilation after bias), hence not super()
        LazyModule.__init__(self, out_channels=out_channels, kernel_size=kernel_size, stride=stride,
                            padding=padding, output_padding=output_padding, groups=groups, bias=bias,
                            dilation=dilation, padding_mode=padding_mode, algorithm=algorithm, dtype=dtype,
                            generator=generator)

    def size_from_state(self, state_dict, prefix):
        # weight: (in_channels, out_channels / groups, *kernel)
        shape = _state_shape(state_dict, prefix + "weight")
        return None if shape is None or len(shape) < 2 else shape[0]


class _LazyBatchNorm(LazyModule):
    size_argument = "num_features"

    def __init__(self, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, *, dtype=None):
        super().__init__(eps=eps, momentum=momentum, affine=affine, track_running_stats=track_running_stats,
                         dtype=dtype)

    def size_from_state(self, state_dict, prefix):
        for name in ("weight", "running_mean"):
            shape = _state_shape(state_dict, prefix + name)
            if shape is not None and len(shape) == 1:
                return shape[0]
        return None


class LazyBatchNorm1d(_LazyBatchNorm):
    """BatchNorm1d with num_features read from the first input, (N, C) or (N, C, L)."""
    eager_class = BatchNorm1d

    def size_from_input(self, input) -> int:
        shape = shape_of(input)
        if len(shape) not in (2, 3):
            raise ValueError(f"{type(self).__name__}: expected a 2-D or 3-D input, got shape {shape}")
        return shape[1]


class LazyBatchNorm2d(_LazyBatchNorm):
    """BatchNorm2d with num_features read from the first input, (N, C, H, W)."""
    eager_class = BatchNorm2d

    def size_from_input(self, input) -> int:
        shape = shape_of(input)
        if len(shape) != 4:
            raise ValueError(f"{type(self).__name__}: expected a 4-D input, got shape {shape}")
        return shape[1]


class LazyBatchNorm3d(_LazyBatchNorm):
    """BatchNorm3d with num_features read from the first input, (N, C, D, H, W)."""
    eager_class = BatchNorm3d

    def size_from_input(self, input) -> int:
        shape = shape_of(input)
        if len(shape) != 5:
            raise ValueError(f"{type(self).__name__}: expected a 5-D input, got shape {shape}")
        return shape[1]
