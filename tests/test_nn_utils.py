"""nn.utils.clip_grad_norm_ / clip_grad_value_ against NumPy, and Module.register_full_backward_hook
against gradients written out by hand."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minicnn as mc
from minicnn import nn
from minicnn.nn.utils import clip_grad_norm_, clip_grad_value_
from minicnn.testing import arrays, shapes


def parameters_with_grads(grads, without_grad=1):
    """Parameters whose .grad holds `grads`, plus some that have no gradient."""
    params = []
    for g in grads:
        p = nn.Parameter(np.zeros(g.shape))
        p.grad = mc.tensor(g.copy())
        params.append(p)
    return params + [nn.Parameter(np.ones(2)) for _ in range(without_grad)]


@settings(max_examples=40, deadline=None)
@given(grads=st.lists(arrays(shapes(min_dims=0, max_dims=3), low=-3, high=3), min_size=1, max_size=3),
       max_norm=st.floats(0.0, 5.0), norm_type=st.sampled_from([1.0, 2.0, 3.5, math.inf, "inf"]))
def test_clip_grad_norm_against_numpy(grads, max_norm, norm_type):
    params = parameters_with_grads(grads)
    p = float(norm_type)
    if p == math.inf:
        expected_total = max((np.abs(g).max() for g in grads if g.size), default=0.0)
    else:
        expected_total = sum((np.abs(g) ** p).sum() for g in grads) ** (1 / p)
    total = clip_grad_norm_(iter(params), max_norm, norm_type)
    assert isinstance(total, mc.Tensor) and total.shape == ()
    np.testing.assert_allclose(total.item(), expected_total, rtol=1e-12)
    scale = min(1.0, max_norm / (expected_total + 1e-6))
    for param, g in zip(params, grads):
        np.testing.assert_allclose(param.grad.array, g * scale, rtol=1e-12)
    assert all(q.grad is None for q in params[len(grads):])  # skipped, not given zeros


def test_clip_grad_norm_on_a_model_and_its_edge_cases():
    model = nn.Linear(3, 2, generator=np.random.default_rng(0))
    model(mc.tensor(np.full((4, 3), 10.0, np.float32))).sum().backward()
    before = np.concatenate([model.weight.grad.array.ravel(), model.bias.grad.array.ravel()])
    total = clip_grad_norm_(model.parameters(), max_norm=1.0)
    np.testing.assert_allclose(total.item(), np.linalg.norm(before.astype(np.float64)), rtol=1e-6)
    after = np.concatenate([model.weight.grad.array.ravel(), model.bias.grad.array.ravel()])
    np.testing.assert_allclose(np.linalg.norm(after), 1.0, rtol=1e-5)
    assert model.weight.grad.dtype == np.float32
    single = parameters_with_grads([np.array([3.0, 4.0])], without_grad=0)[0]
    assert clip_grad_norm_(single, 10.0).item() == 5.0  # one Tensor is accepted; small norms unchanged
    np.testing.assert_array_equal(single.grad.array, [3.0, 4.0])
    assert clip_grad_norm_(parameters_with_grads([]), 1.0).item() == 0.0
    bad = parameters_with_grads([np.array([np.nan, 1.0])], without_grad=0)
    with pytest.raises(RuntimeError, match="clip_grad_norm_: the total norm .* is nan"):
        clip_grad_norm_(bad, 1.0, error_if_nonfinite=True)
    with pytest.raises(ValueError, match="norm_type must be positive"):
        clip_grad_norm_(bad, 1.0, norm_type=-1)
    with pytest.raises(TypeError, match="clip_grad_norm_: expected Tensors"):
        clip_grad_norm_([np.ones(2)], 1.0)


def test_clip_grad_value_against_numpy():
    g = np.random.default_rng(0).standard_normal((3, 4)) * 2
    params = parameters_with_grads([g])
    assert clip_grad_value_(params, 0.5) is None
    np.testing.assert_array_equal(params[0].grad.array, np.clip(g, -0.5, 0.5))
    assert params[1].grad is None
    with pytest.raises(ValueError, match="clip_value must be >= 0"):
        clip_grad_value_(params, -1.0)


# ---- full backward hooks ------------------------------------------------------------------------
def mlp():
    g = np.random.default_rng(0)
    return nn.Sequential(nn.Linear(3, 4, generator=g).double(), nn.Tanh(), nn.Linear(4, 2, generator=g).double())


def by_hand(model, x, c):
    """dL/d(every intermediate) of L = sum(c * model(x)), written out with NumPy."""
    w1, b1, w2 = model[0].weight.array, model[0].bias.array, model[2].weight.array
    h1 = x @ w1.T + b1
    d_h2 = c @ w2  # dL/d tanh(h1)
    d_h1 = d_h2 * (1 - np.tanh(h1) ** 2)
    return {"d_h2": d_h2, "d_h1": d_h1, "d_x": d_h1 @ w1, "d_w1": d_h1.T @ x}


def test_backward_hook_sees_the_gradients_of_inputs_and_outputs():
    model = mlp()
    data = np.random.default_rng(1)
    x, c = data.standard_normal((5, 3)), data.standard_normal((5, 2))
    expected = by_hand(model, x, c)
    seen = []
    handles = [model[1].register_full_backward_hook(lambda m, gi, go: seen.append(("tanh", gi, go))),
               model[0].register_full_backward_hook(lambda m, gi, go: seen.append(("fc1", gi, go)))]
    xt = mc.tensor(x, requires_grad=True)
    (model(xt) * mc.tensor(c)).sum().backward()
    assert [name for name, _, _ in seen] == ["tanh", "fc1"]  # in the order backward reaches them
    (_, (tanh_in,), (tanh_out,)), (_, (fc1_in,), (fc1_out,)) = seen
    np.testing.assert_allclose(tanh_out.array, expected["d_h2"], rtol=1e-12)
    np.testing.assert_allclose(tanh_in.array, expected["d_h1"], rtol=1e-12)
    np.testing.assert_allclose(fc1_out.array, expected["d_h1"], rtol=1e-12)
    np.testing.assert_allclose(fc1_in.array, expected["d_x"], rtol=1e-12)
    np.testing.assert_allclose(xt.grad.array, expected["d_x"], rtol=1e-12)
    for handle in handles:
        handle.remove()
    seen.clear()
    (model(xt) * mc.tensor(c)).sum().backward()
    assert seen == []


def test_first_layer_hook_gets_none_for_data_that_needs_no_gradient():
    model = mlp()
    x, c = np.ones((2, 3)), np.ones((2, 2))
    seen = []
    model[0].register_full_backward_hook(lambda m, gi, go: seen.append((gi, go)))
    (model(mc.tensor(x)) * mc.tensor(c)).sum().backward()
    (grad_input, grad_output), = seen
    assert grad_input == (None,)
    np.testing.assert_allclose(grad_output[0].array, by_hand(model, x, c)["d_h1"], rtol=1e-12)


def test_returned_grad_input_replaces_the_gradient():
    model = mlp()
    data = np.random.default_rng(2)
    x, c = data.standard_normal((3, 3)), data.standard_normal((3, 2))
    expected = by_hand(model, x, c)
    model[1].register_full_backward_hook(lambda m, gi, go: (gi[0] * 2,))
    xt = mc.tensor(x, requires_grad=True)
    (model(xt) * mc.tensor(c)).sum().backward()
    np.testing.assert_allclose(model[0].weight.grad.array, 2 * expected["d_w1"], rtol=1e-12)
    np.testing.assert_allclose(xt.grad.array, 2 * expected["d_x"], rtol=1e-12)
    np.testing.assert_allclose(model[2].weight.grad.array,
                               c.T @ np.tanh(x @ model[0].weight.array.T + model[0].bias.array), rtol=1e-12)


def test_hook_on_a_module_with_several_inputs_and_two_calls():
    class ScaledSum(nn.Module):
        def forward(self, a, scale, b):
            return a * scale + b * b

    module, calls = ScaledSum(), []
    module.register_full_backward_hook(lambda m, gi, go: calls.append(gi))
    a = mc.tensor(np.array([1.0, 2.0]), requires_grad=True)
    b = mc.tensor(np.array([3.0, -1.0]), requires_grad=True)
    out = module(a, 3.0, b) + module(b, 0.5, a)
    out.sum().backward()
    assert len(calls) == 2
    by_scale = {float(grad_input[0].array[0]): grad_input for grad_input in calls}  # in either order
    for scale, d_third in ((3.0, [6.0, -2.0]), (0.5, [2.0, 4.0])):  # d(a*s + b*b)/da = s, /db = 2b
        grad_input = by_scale[scale]
        assert grad_input[1] is None  # the float argument
        np.testing.assert_allclose(grad_input[0].array, [scale, scale])
        np.testing.assert_allclose(grad_input[2].array, d_third)
    np.testing.assert_allclose(a.grad.array, [3 + 2, 3 + 4])
    with mc.no_grad():
        module(a, 1.0, b)  # no graph, no hook
    assert len(calls) == 2


def test_a_hook_returning_the_wrong_number_of_gradients_is_an_error():
    model = mlp()
    model[1].register_full_backward_hook(lambda m, gi, go: (gi[0], gi[0]))
    with pytest.raises(ValueError, match="Tanh backward hook returned 2 gradients, expected 1"):
        model(mc.tensor(np.ones((1, 3)), requires_grad=True)).sum().backward()
    model = mlp()
    model[1].register_full_backward_hook(lambda m, gi, go: (np.ones(3),))
    with pytest.raises(ValueError, match=r"grad_input\[0\] should be shape \(1, 4\), got shape \(3,\)"):
        model(mc.tensor(np.ones((1, 3)), requires_grad=True)).sum().backward()


def test_forward_pre_hook_can_replace_the_input():
    layer = nn.Identity()
    layer.register_forward_pre_hook(lambda m, inputs: inputs[0] * 2)
    np.testing.assert_array_equal(layer(mc.tensor(np.array([1.0, 2.0]))).array, [2.0, 4.0])
