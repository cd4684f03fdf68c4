"""How far one NaN or inf in the input spreads, per algorithm, against the definition: the
outputs whose window holds it. Each algorithm's `nan_spread` must say what it does."""
import numpy as np
import pytest

from minicnn import functional as F
from minicnn.kernels import ALGORITHMS, NAN_SPREAD

# A 2-D layer every algorithm runs: 3x3 kernels (1x1 unpadded for "gemm"), stride 1, 16x16
# input, depthwise so that the depthwise kernel qualifies; rank-1 weights so that "separable" does.
C, SIZE = 4, 16


def definition_count(row, col, k, padding):
    """Non-finite outputs per channel by the definition: the windows that contain (row, col)."""
    out = SIZE + 2 * padding - k + 1
    inside = lambda p: sum(1 for o in range(out) if o <= p + padding < o + k)  # noqa: E731
    return inside(row) * inside(col)


POSITIONS = [(0, 0), (5, 9), (6, 6), (7, 14), (15, 15)]


def non_finite_counts(algorithm, bad):
    """(non-finite outputs, the definition's count) for one bad input value at each of POSITIONS."""
    rng = np.random.default_rng(0)
    k, padding = (1, 0) if algorithm == "gemm" else (3, 1)
    w = rng.standard_normal((C, 1, k, 1)) * rng.standard_normal((C, 1, 1, k))  # rank-1 kernels
    counts = []
    for row, col in POSITIONS:
        x = rng.standard_normal((1, C, SIZE, SIZE))
        x[0, 1, row, col] = bad
        y = np.asarray(F.conv2d(x, w, padding=padding, groups=C, algorithm=algorithm))
        assert np.all(np.isfinite(np.delete(y, 1, axis=1)))  # other channels never see it
        counts.append((int(np.sum(~np.isfinite(y))), definition_count(row, col, k, padding)))
    return counts


@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_spread_matches_what_each_algorithm_declares(algorithm, bad):
    spread = ALGORITHMS[algorithm].nan_spread
    assert spread in NAN_SPREAD
    counts = non_finite_counts(algorithm, bad)
    assert all(found >= expected for found, expected in counts)  # never fewer than the definition
    if spread == "exact":
        assert all(found == expected for found, expected in counts), counts
    else:
        assert any(found > expected for found, expected in counts), counts
