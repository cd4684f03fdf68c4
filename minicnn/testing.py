"""Tools for testing ops, minicnn's own and yours: hypothesis strategies and assert_gradcheck.

Example, a property test of a user-written op::

    from hypothesis import given
    from minicnn.testing import arrays, shapes, assert_gradcheck

    @given(arrays(shapes(min_dims=1, max_dims=3)))
    def test_my_op(x):
        assert_gradcheck(my_op, [minicnn.tensor(x, requires_grad=True)])

Hypothesis must be installed (it is in minicnn's `dev` extra); importing this module without it
raises ImportError with that advice.
"""
from __future__ import annotations

import numpy as np

try:
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp
except ImportError as error:  # pragma: no cover - exercised only without the dev extra
    raise ImportError("minicnn.testing needs hypothesis: pip install 'minicnn[dev]'") from error

from .gradcheck import gradcheck


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


def assert_gradcheck(fn, inputs, **kwargs) -> None:
    """gradcheck(fn, inputs, **kwargs) for pytest: a failure is an AssertionError with the details."""
    assert gradcheck(fn, inputs, **kwargs)
