"""New activations (ELU, hard-sigmoid) and the structural layers Concat, Residual and
SqueezeExcitation: values against formulas written here, gradient checks, and bad input."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minicnn
from minicnn import functional as F
from minicnn import nn
from minicnn.testing import arrays, assert_gradcheck, shapes


def away_from(values, kinks, gap=1e-3):
    """Nudge values off the points where the function has a kink (finite differences fail there)."""
    for kink in kinks:
        values = np.where(np.abs(values - kink) < gap, kink + 2 * gap, values)
    return values


@settings(max_examples=20)
@given(x=arrays(shapes(max_dims=3), low=-5, high=5), alpha=st.floats(0.1, 2.0))
def test_elu_matches_formula_and_gradcheck(x, alpha):
    x = away_from(x, [0.0])
    expected = np.where(x > 0, x, alpha * (np.exp(x) - 1))
    np.testing.assert_allclose(F.elu(minicnn.tensor(x), alpha).array, expected, rtol=1e-12, atol=1e-15)
    assert_gradcheck(lambda a: F.elu(a, alpha), [minicnn.tensor(x, requires_grad=True)])


@settings(max_examples=20)
@given(x=arrays(shapes(max_dims=3), low=-5, high=5))
def test_hardsigmoid_matches_formula_and_gradcheck(x):
    x = away_from(x, [-3.0, 3.0])
    expected = np.minimum(np.maximum(x + 3, 0), 6) / 6  # relu6(x + 3) / 6
    np.testing.assert_allclose(F.hardsigmoid(minicnn.tensor(x)).array, expected, rtol=1e-12)
    assert_gradcheck(F.hardsigmoid, [minicnn.tensor(x, requires_grad=True)])


def test_activation_hand_values_and_modules():
    x = minicnn.tensor(np.array([-3.0, -1.0, 0.0, 1.5, 4.0]))
    np.testing.assert_allclose(nn.Hardsigmoid()(x).array, [0, 1 / 3, 0.5, 0.75, 1])
    np.testing.assert_allclose(nn.ELU(2.0)(x).array, [2 * (np.exp(-3) - 1), 2 * (np.exp(-1) - 1),
                                                     0, 1.5, 4])
    assert F.elu(minicnn.tensor(np.float32([-1.0, 1.0]))).dtype == np.float32
    assert np.isfinite(F.elu(minicnn.tensor(np.array([1000.0]))).array).all()


class Affine(nn.Module):
    """y = x * scale + shift per channel: a small differentiable branch for structure tests."""

    def __init__(self, channels, seed):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.scale = nn.Parameter(rng.standard_normal((1, channels, 1, 1)))
        self.shift = nn.Parameter(rng.standard_normal((1, channels, 1, 1)))

    def forward(self, x):
        return x * self.scale + self.shift


class TakeChannels(nn.Module):
    def __init__(self, count):
        super().__init__()
        self.count = count

    def forward(self, x):
        return x[:, :self.count]


def test_concat_joins_branches_on_channels_and_gradchecks():
    x = np.random.default_rng(1).standard_normal((2, 3, 2, 2))
    layer = nn.Concat(nn.Identity(), Affine(3, 2), nn.Sequential(TakeChannels(1), nn.Tanh()))
    out = layer(minicnn.tensor(x))
    a = layer._modules["1"]
    expected = np.concatenate([x, x * a.scale.array + a.shift.array, np.tanh(x[:, :1])], axis=1)
    np.testing.assert_allclose(out.array, expected)
    assert out.shape == (2, 7, 2, 2)
    assert_gradcheck(layer, [minicnn.tensor(x, requires_grad=True)])


def test_residual_v1_v2_projection_and_drop_path():
    x = np.random.default_rng(3).standard_normal((2, 3, 2, 2))
    branch, projection = Affine(3, 4), Affine(3, 5)
    f = x * branch.scale.array + branch.shift.array
    v1 = nn.Residual(branch, post_activation=nn.ReLU())
    np.testing.assert_allclose(v1(minicnn.tensor(x)).array, np.maximum(x + f, 0))
    v2 = nn.Residual(branch)
    np.testing.assert_allclose(v2(minicnn.tensor(x)).array, x + f)
    projected = nn.Residual(branch, shortcut=projection)
    np.testing.assert_allclose(projected(minicnn.tensor(x)).array,
                               x * projection.scale.array + projection.shift.array + f)
    assert_gradcheck(projected, [minicnn.tensor(x, requires_grad=True)])
    # stochastic depth, the paper's rule: in evaluation the branch is scaled by p_l
    deep = nn.Residual(branch, post_activation=nn.ReLU(),
                       drop_path=nn.DropPath(0.7, inverted=False)).eval()
    np.testing.assert_allclose(deep(minicnn.tensor(x)).array, np.maximum(x + 0.7 * f, 0))
    # in training a dropped sample passes the shortcut through unchanged
    generator = np.random.default_rng(0)
    deep = nn.Residual(branch, drop_path=nn.DropPath(0.5, generator=generator))
    out = deep(minicnn.tensor(np.repeat(x, 20, axis=0))).array.reshape(40, -1)
    identity = np.repeat(x, 20, axis=0).reshape(40, -1)
    dropped = np.all(out == identity, axis=1)
    kept = np.allclose(out[~dropped], identity[~dropped] + 2 * np.repeat(f, 20, axis=0)
                       .reshape(40, -1)[~dropped])
    assert dropped.any() and (~dropped).any() and kept


def test_residual_shape_mismatch_is_a_clear_error():
    layer = nn.Residual(TakeChannels(2))
    with pytest.raises(ValueError, match="Residual: the branch gives shape .* projection shortcut"):
        layer(minicnn.tensor(np.zeros((1, 3, 2, 2))))


def test_squeeze_excitation_matches_formula_and_gradchecks():
    rng = np.random.default_rng(6)
    layer = nn.SqueezeExcitation(8, reduction=4, generator=np.random.default_rng(0)).double()
    assert layer.fc1.weight.shape == (2, 8) and layer.fc2.weight.shape == (8, 2)
    x = rng.standard_normal((2, 8, 3, 3))
    z = x.mean(axis=(2, 3))
    hidden = np.maximum(z @ layer.fc1.weight.array.T + layer.fc1.bias.array, 0)
    gate = 1 / (1 + np.exp(-(hidden @ layer.fc2.weight.array.T + layer.fc2.bias.array)))
    np.testing.assert_allclose(layer(minicnn.tensor(x)).array, x * gate[:, :, None, None])
    assert_gradcheck(layer, [minicnn.tensor(x, requires_grad=True)])
    with pytest.raises(ValueError, match="SqueezeExcitation: expected \\(N, 8, H, W\\)"):
        layer(minicnn.tensor(np.zeros((2, 4, 3, 3))))
