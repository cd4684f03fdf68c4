"""Tools for testing ops, minicnn's own and yours: check_function, hypothesis strategies and
assert_gradcheck.

`check_function(MyOp, x, w)` runs every check a new op should pass (gradients elementwise and
along random directions, non-contiguous and zero-size inputs, float32 against float64) and
returns a report saying where and how a wrong gradient is wrong (minicnn.opcheck). In a test::

    def test_my_op():
        check_function(MyOp, np.random.default_rng(0).standard_normal((4, 3))).assert_ok()

or, with minicnn installed, through its pytest plugin's fixture (`pytest --minicnn-gradcheck`
checks every input elementwise, whatever its size)::

    def test_my_op(minicnn_check):
        minicnn_check(MyOp, np.random.default_rng(0).standard_normal((4, 3)))

and as a property test over shapes drawn by hypothesis::

    from hypothesis import given, settings
    from minicnn.testing import arrays, shapes, check_function

    @settings(max_examples=20, deadline=None)
    @given(arrays(shapes(min_dims=1, max_dims=3)))
    def test_my_op(x):
        check_function(my_op, x).assert_ok()

`conv_configs()` draws whole convolution configurations (shapes, stride, padding in every form,
dilation, groups, dtype) as `ConvConfig`s, for testing a convolution against your own reference.

Hypothesis must be installed (it is in minicnn's `dev` extra); importing this module without it
raises ImportError with that advice.
"""
from __future__ import annotations

import dataclasses

import numpy as np

try:
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp
except ImportError as error:  # pragma: no cover - exercised only without the dev extra
    raise ImportError("minicnn.testing needs hypothesis: pip install 'minicnn[dev]'") from error

from .gradcheck import gradcheck
from .opcheck import CheckReport, check_function, classify, plot_jacobian_error  # noqa: F401 (public here)


def shapes(min_dims=1, max_dims=4, min_side=1, max_side=5):
    """Array shapes: tuples of min_dims..max_dims sizes, each in min_side..max_side."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def broadcastable_shapes(shape, min_dims=0, max_dims=None):
    """Shapes that broadcast against `shape` (some axes set to 1, some leading axes dropped)."""
    return hnp.broadcastable_shapes(shape, min_dims=min_dims,
                                    max_dims=len(shape) if max_dims is None else max_dims)


def arrays(shape, dtype=np.float64, low=-2.0, high=2.0):
    """Arrays of `shape` (a tuple or a strategy of tuples) with finite values in [low, high]."""
    return hnp.arrays(dtype, shape, elements=st.floats(low, high, allow_nan=False, allow_infinity=False,
                                                      width=np.dtype(dtype).itemsize * 8))


@st.composite
def pool_configs(draw, nd=2, max_side=6, max_kernel=3, max_stride=3, max_dilation=1,
                 max_batch=2, max_channels=3):
    """Valid pooling settings for an nd-D pool, as a dict: shape (N, C, *S), kernel_size, stride,
    padding, dilation (tuples of nd ints) and ceil_mode.

    Follows PyTorch's rules: padding <= kernel // 2 and the (dilated) window fits in the padded
    input. With max_dilation=1 (the default, for average pooling) dilation is all ones.
    """
    kernel, stride, padding, dilation, spatial = [], [], [], [], []
    for _ in range(nd):
        k = draw(st.integers(1, max_kernel))
        d = draw(st.integers(1, max_dilation))
        p = draw(st.integers(0, k // 2))
        extent = d * (k - 1) + 1
        kernel.append(k)
        dilation.append(d)
        padding.append(p)
        stride.append(draw(st.integers(1, max_stride)))
        spatial.append(draw(st.integers(max(1, extent - 2 * p), max(max_side, extent))))
    shape = (draw(st.integers(1, max_batch)), draw(st.integers(1, max_channels)), *spatial)
    return dict(shape=shape, kernel_size=tuple(kernel), stride=tuple(stride),
                padding=tuple(padding), dilation=tuple(dilation), ceil_mode=draw(st.booleans()))


def assert_gradcheck(fn, inputs, **kwargs) -> None:
    """gradcheck(fn, inputs, **kwargs) for pytest: a failure is an AssertionError with the details."""
    assert gradcheck(fn, inputs, **kwargs)


@dataclasses.dataclass(frozen=True)
class ConvConfig:
    """One convolution to test: the shapes and the arguments of conv1d/conv2d/conv3d.

    input_shape (N, Cin, *spatial), weight_shape (Cout, Cin/groups, *kernel); stride and dilation
    are tuples with one entry per spatial axis; padding is whatever form was drawn (an int, a tuple
    of ints, a tuple of (before, after) pairs, or "valid"/"same"/"full").
    """

    input_shape: tuple
    weight_shape: tuple
    stride: tuple
    padding: object
    dilation: tuple
    groups: int
    dtype: type

    @property
    def spatial_dims(self) -> int:
        return len(self.input_shape) - 2

    def kwargs(self) -> dict:
        """The keyword arguments of the conv call: stride, padding, dilation, groups."""
        return dict(stride=self.stride, padding=self.padding, dilation=self.dilation, groups=self.groups)


PADDING_FORMS = ("int", "tuple", "pairs", "valid", "same", "full")


@st.composite
def conv_configs(draw, spatial_dims=2, max_batch=2, max_channels_per_group=3, max_groups=2, max_kernel=3,
                 max_stride=2, max_dilation=2, max_padding=2, max_extra_size=4,
                 padding_forms=PADDING_FORMS, dtypes=(np.float32, np.float64)):
    """Valid convolution configurations (`ConvConfig`) of `spatial_dims` (1, 2 or 3, or a tuple
    of them to draw from) spatial axes.

    Draws batch, groups, channels per group, and per axis a kernel size, stride, dilation and
    padding in one of `padding_forms` (int, per-axis tuple, (before, after) pairs, or the string
    modes; "same" forces stride 1). Each spatial size is drawn so that the dilated kernel fits the
    padded input, up to `max_extra_size` more. Example::

        @given(conv_configs(spatial_dims=(1, 2, 3)))
        def test_my_conv(config):
            x = np.random.default_rng(0).standard_normal(config.input_shape)
            ...
    """
    dims = draw(st.sampled_from(spatial_dims)) if isinstance(spatial_dims, tuple) else spatial_dims

    def per_axis(values, count=dims):
        return st.tuples(*[values] * count)

    groups = draw(st.integers(1, max_groups))
    c_in = groups * draw(st.integers(1, max_channels_per_group))
    c_out = groups * draw(st.integers(1, max_channels_per_group))
    kernel = draw(per_axis(st.integers(1, max_kernel)))
    dilation = draw(per_axis(st.integers(1, max_dilation)))
    form = draw(st.sampled_from(padding_forms))
    stride = (1,) * dims if form == "same" else draw(per_axis(st.integers(1, max_stride)))
    spans = [d * (k - 1) for k, d in zip(kernel, dilation)]
    if form == "int":
        padding = draw(st.integers(0, max_padding))
        pairs = [(padding, padding)] * dims
    elif form in ("tuple", "pairs"):
        pairs = [draw(per_axis(st.integers(0, max_padding), 2)) for _ in range(dims)]
        if form == "tuple":
            pairs = [(before, before) for before, _ in pairs]
        padding = tuple(pairs) if form == "pairs" else tuple(before for before, _ in pairs)
    else:
        padding = form
        pairs = {"valid": [(0, 0)] * dims, "full": [(e, e) for e in spans],
                 "same": [(e // 2, e - e // 2) for e in spans]}[form]
    sizes = tuple(max(1, e + 1 - before - after) + draw(st.integers(0, max_extra_size))
                  for e, (before, after) in zip(spans, pairs))
    n = draw(st.integers(1, max_batch))
    return ConvConfig(input_shape=(n, c_in) + sizes, weight_shape=(c_out, c_in // groups) + kernel,
                      stride=stride, padding=padding, dilation=dilation, groups=groups,
                      dtype=draw(st.sampled_from(dtypes)))
