"""Dropout, channel dropout and drop-path: mask statistics and shapes, scaling, evaluation mode,
replayable masks (gradient checks), generators, and bad input."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minicnn
from minicnn import functional as F
from minicnn import nn
from minicnn.testing import assert_gradcheck


def seeded(op, *args, seed=0, **kwargs):
    """op with a fresh Generator(seed) on every call: the same mask each time."""
    return lambda x: op(x, *args, generator=np.random.default_rng(seed), **kwargs)


@settings(max_examples=15)
@given(op=st.sampled_from(["dropout", "dropout2d", "drop_path"]), p=st.floats(0.05, 0.9),
       shape=st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(1, 3)),
       seed=st.integers(0, 2**16))
def test_gradcheck_with_replayed_masks(op, p, shape, seed):
    x = minicnn.tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True)
    assert_gradcheck(seeded(getattr(F, op), p, seed=seed), [x])


def test_dropout_mask_statistics_and_scaling():
    x = np.ones((200, 500))
    out = F.dropout(minicnn.tensor(x), 0.3, generator=np.random.default_rng(1)).array
    np.testing.assert_allclose(np.unique(out), [0.0, 1 / 0.7])
    assert abs((out == 0).mean() - 0.3) < 0.01      # 100,000 draws: sd of the fraction ~0.0015
    assert abs(out.mean() - 1.0) < 0.02             # inverted dropout keeps the expectation


def test_dropout2d_zeroes_whole_channels():
    out = F.dropout2d(minicnn.tensor(np.ones((20, 30, 4, 4))), 0.5,
                      generator=np.random.default_rng(2)).array
    per_channel = out.reshape(20, 30, -1)
    assert np.all((per_channel == 0).all(axis=2) | (per_channel == 2.0).all(axis=2))
    assert 0.4 < (per_channel[..., 0] == 0).mean() < 0.6
    assert F.dropout2d(minicnn.tensor(np.ones((3, 4, 4))), 0.5).shape == (3, 4, 4)


def test_drop_path_drops_whole_samples_with_survival_probability():
    out = F.drop_path(minicnn.tensor(np.ones((4000, 2, 3))), 0.8,
                      generator=np.random.default_rng(3)).array
    per_sample = out.reshape(4000, -1)
    assert np.all((per_sample == 0).all(axis=1) | (per_sample == 1 / 0.8).all(axis=1))
    assert abs((per_sample[:, 0] > 0).mean() - 0.8) < 0.03


def test_drop_path_paper_rule_scales_in_evaluation():
    x = minicnn.tensor(np.full((1000, 3), 2.0))
    train = F.drop_path(x, 0.75, inverted=False, generator=np.random.default_rng(4)).array
    assert set(np.unique(train)) <= {0.0, 2.0}                  # survivors unscaled in training
    np.testing.assert_allclose(F.drop_path(x, 0.75, training=False, inverted=False).array, 1.5)
    assert F.drop_path(x, 0.75, training=False) is x            # inverted: identity in eval


def test_eval_mode_is_the_identity():
    x = minicnn.tensor(np.random.default_rng(5).standard_normal((2, 3, 4, 4)))
    for layer in (nn.Dropout(0.5), nn.Dropout2d(0.5), nn.DropPath(0.5)):
        assert layer.eval()(x) is x
    assert F.dropout(x, 0.5, training=False) is x


def test_modules_draw_from_their_generator_or_the_default():
    x = minicnn.tensor(np.ones((8, 8)))
    a = nn.Dropout(0.5, generator=np.random.default_rng(9))
    b = nn.Dropout(0.5, generator=np.random.default_rng(9))
    np.testing.assert_array_equal(a(x).array, b(x).array)
    minicnn.manual_seed(11)
    first = nn.Dropout(0.5)(x).array
    minicnn.manual_seed(11)
    np.testing.assert_array_equal(nn.Dropout(0.5)(x).array, first)


@pytest.mark.parametrize("call, message", [
    (lambda x: F.dropout(x, 1.01), "dropout: p must be in \\[0, 1\\], got 1.01"),
    (lambda x: F.dropout2d(x, -0.1), "dropout2d: p must be in"),
    (lambda x: nn.Dropout(1.5), "Dropout: p must be in"),
    (lambda x: F.dropout(x, None), "dropout: p must be a number in"),
    (lambda x: F.drop_path(x, 0.0), "drop_path: survival_prob must be in \\(0, 1\\]"),
    (lambda x: F.dropout2d(x[0, 0], 0.5), "dropout2d: expected a 3 or 4-D input"),
    (lambda x: F.dropout(x, 0.5, generator=1), "Generator"),
])
def test_bad_input(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call(minicnn.tensor(np.ones((2, 3, 4, 4))))
