"""gradcheck must pass correct backwards and catch wrong ones, in both modes."""
import numpy as np
import pytest

import minicnn as mc
from minicnn import Function, GradcheckError, gradcheck, nn

from broken_functions import BiasAddFirstRowOnly, GatherOffByOne


def leaf(shape, seed=0):
    return mc.tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True)


class WrongSignExp(Function):
    @staticmethod
    def forward(ctx, a):
        out = np.exp(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return -grad * out


MODES = ["elementwise", "directional"]


@pytest.mark.parametrize("mode", MODES)
def test_correct_backward_passes(mode):
    x, w = leaf((3, 4)), leaf((4, 2), seed=1)
    assert gradcheck(lambda a, b: (a @ b).tanh(), [x, w], mode=mode) is True


@pytest.mark.parametrize("mode", MODES)
def test_catches_wrong_sign(mode):
    with pytest.raises(GradcheckError, match="input 0"):
        gradcheck(WrongSignExp.apply, [leaf((2, 3))], mode=mode)


@pytest.mark.parametrize("mode", MODES)
def test_catches_missing_broadcast_reduction(mode):
    x, b = leaf((4, 3)), leaf((3,), seed=1)
    with pytest.raises(GradcheckError, match="input 1"):
        gradcheck(BiasAddFirstRowOnly.apply, [x, b], mode=mode)


@pytest.mark.parametrize("mode", MODES)
def test_catches_off_by_one_index(mode):
    index = np.array([0, 2, 2, 4])
    with pytest.raises(GradcheckError):
        gradcheck(lambda a: GatherOffByOne.apply(a, index), [leaf((5,))], mode=mode)


def test_error_names_input_index_and_both_values():
    with pytest.raises(GradcheckError) as info:
        gradcheck(WrongSignExp.apply, [leaf((2, 3))])
    message = str(info.value)
    assert "input 0" in message and "analytic gradient" in message and "numeric" in message
    assert "at index (" in message


def test_refuses_float32_with_the_reason():
    x = mc.tensor(np.ones(3, np.float32), requires_grad=True)
    with pytest.raises(TypeError, match="float32.*float64"):
        gradcheck(lambda a: a * 2, [x])


def test_refuses_when_nothing_requires_grad():
    with pytest.raises(ValueError, match="nothing to check"):
        gradcheck(lambda a: a * 2, [mc.tensor(np.ones(3))])


def test_module_parameters_are_checked_and_named():
    class BadScale(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(np.array([1.5, -0.5]))

        def forward(self, x):
            return x * WrongSignExp.apply(self.weight)

    model = BadScale()
    x = mc.tensor(np.array([[1.0, 2.0]]))  # the input is constant: only the parameter is checked
    for mode in MODES:
        with pytest.raises(GradcheckError, match="parameter 'weight'"):
            gradcheck(model, [x], mode=mode)


def test_directional_mode_checks_a_model_in_few_passes():
    model = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3)).double()
    x = leaf((5, 6))
    calls = 0

    def counted(inp):
        nonlocal calls
        calls += 1
        return model(inp)

    assert gradcheck(counted, [x], mode="directional", params=model.named_parameters(), n_directions=3)
    assert calls <= 3 + 2 * 3  # two determinism probes, one backward pass, two per direction


def test_non_deterministic_function_is_refused():
    rng = np.random.default_rng(0)
    with pytest.raises(GradcheckError, match="not deterministic"):
        gradcheck(lambda a: a * rng.standard_normal(a.shape), [leaf((3,))])


def test_several_outputs_all_take_part():
    class SecondOutputWrong(Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2, a * 3

        @staticmethod
        def backward(ctx, g1, g2):
            return g1 * 2 + g2 * 2  # should be g2 * 3

    with pytest.raises(GradcheckError):
        gradcheck(SecondOutputWrong.apply, [leaf((3,))])


def test_leaves_inputs_and_their_grads_unchanged():
    x = leaf((2, 2))
    before = x.array.copy()
    x.grad = mc.tensor(np.full((2, 2), 7.0))
    gradcheck(lambda a: a.exp(), [x])
    np.testing.assert_array_equal(x.array, before)
    np.testing.assert_array_equal(x.grad.array, 7.0)


def test_inputs_computed_by_earlier_ops_are_checked_as_leaves():
    x = mc.tensor(np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32), requires_grad=True)
    assert gradcheck(lambda a: (a @ a.T).exp(), [x.double()])
    with pytest.raises(GradcheckError):
        gradcheck(WrongSignExp.apply, [x.double()])
