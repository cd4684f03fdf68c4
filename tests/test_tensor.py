"""The autograd engine: graph walk, accumulation, freeing, no_grad, deep graphs."""
import numpy as np
import pytest

import minicnn as mc
from minicnn import Function, Tensor, no_grad


def leaf(values, dtype=np.float64):
    return mc.tensor(np.asarray(values, dtype=dtype), requires_grad=True)


def test_attributes_and_defaults():
    t = mc.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert t.dtype == np.float32 and t.shape == (2, 2) and t.ndim == 2 and t.numel() == 4
    assert isinstance(t.numpy(), np.ndarray) and t.numpy() is t.array
    assert mc.tensor(np.zeros(3)).dtype == np.float64  # NumPy arrays keep their dtype
    assert mc.tensor([1, 2]).dtype.kind == "i"
    assert mc.tensor(3.5).item() == 3.5
    with pytest.raises(ValueError, match="exactly 1"):
        t.item()
    with pytest.raises(TypeError, match="floating-point"):
        mc.tensor([1, 2], requires_grad=True)


def test_backward_accumulates_across_calls_like_pytorch():
    x = leaf([1.0, 2.0, 3.0])
    (x * x).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.array, 4 * x.array)


def test_diamond_and_input_used_twice():
    x = leaf([0.5, -1.5])
    a = x * 3
    b = x.exp()
    y = (a * b + a + b * b).sum()  # a and b both reach x by two paths
    y.backward()
    expected = 3 * np.exp(x.array) + 3 * x.array * np.exp(x.array) + 3 + 2 * np.exp(2 * x.array)
    np.testing.assert_allclose(x.grad.array, expected)
    z = leaf([2.0])
    (z * z).backward()  # the same tensor as both inputs of one op
    np.testing.assert_allclose(z.grad.array, [4.0])


def test_graph_is_freed_and_second_backward_refused():
    x = leaf([1.0, 2.0])
    y = (x.exp() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="already freed"):
        y.backward()


def test_retain_graph_allows_second_backward():
    x = leaf([1.0, 2.0])
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    first = x.grad.array.copy()
    y.backward()
    np.testing.assert_allclose(x.grad.array, 2 * first)


def test_saved_arrays_are_released_after_backward():
    x = leaf(np.ones(4))
    y = x * x
    ctx = y._ctx
    assert len(ctx.saved_tensors) == 2
    y.sum().backward()
    assert ctx.saved_tensors == () and ctx.freed


def test_thousand_layer_chain_does_not_recurse():
    x = leaf([0.3])
    y = x
    for _ in range(1000):
        y = y * 1.001 + 0.0
    y.sum().backward()
    np.testing.assert_allclose(x.grad.array, [1.001 ** 1000])


def test_deep_chain_of_five_thousand_tanh():
    x = leaf([0.1])
    y = x
    for _ in range(5000):
        y = y.tanh()
    y.backward()
    assert np.isfinite(x.grad.array).all() and x.grad.array[0] > 0


def test_no_grad_records_nothing():
    x = leaf([1.0])
    with no_grad():
        y = x * 2
    assert not y.requires_grad and y._ctx is None
    assert mc.is_grad_enabled()
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward()


def test_detach_cuts_the_graph():
    x = leaf([2.0])
    y = (x * x).detach() * x
    y.backward()
    np.testing.assert_allclose(x.grad.array, [4.0])  # only the undetached factor


def test_non_scalar_backward_needs_grad():
    x = leaf([1.0, 2.0])
    y = x * 3
    with pytest.raises(RuntimeError, match="one-element"):
        y.backward()
    y.backward(np.array([1.0, 10.0]))
    np.testing.assert_allclose(x.grad.array, [3.0, 30.0])
    with pytest.raises(ValueError, match="shape"):
        (x * 3).backward(np.ones(3))


def test_intermediate_gradients_only_with_retain_grad():
    x = leaf([1.0, 2.0])
    h = x * 2
    h.retain_grad()
    k = x * 5
    (h * h + k).sum().backward()
    np.testing.assert_allclose(h.grad.array, 2 * h.array)
    assert k.grad is None


def test_leaf_backward_on_itself():
    x = leaf([1.0, 2.0])
    x.backward(np.array([1.0, 1.0]))
    np.testing.assert_allclose(x.grad.array, [1.0, 1.0])


def test_gradient_dtype_follows_the_input():
    x = mc.tensor(np.ones(3, np.float32), requires_grad=True)
    y = (x * np.ones(3, np.float64)).sum()  # promoted to float64 inside
    assert y.dtype == np.float64
    y.backward()
    assert x.grad.dtype == np.float32


def test_user_function_with_wrong_gradient_shape_is_reported():
    class Bad(Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2

        @staticmethod
        def backward(ctx, grad):
            return grad.sum()

    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match="Bad.backward returned a gradient of shape"):
        Bad.apply(x).sum().backward()


def test_user_function_with_wrong_number_of_gradients_is_reported():
    class Bad(Function):
        @staticmethod
        def forward(ctx, a, b):
            return a * b

        @staticmethod
        def backward(ctx, grad):
            return grad

    with pytest.raises(RuntimeError, match="returned 1 gradients, expected 2"):
        Bad.apply(leaf([1.0]), leaf([2.0])).sum().backward()


def test_function_public_api_with_saved_tensors_and_multiple_outputs():
    class SplitHalves(Function):
        """A user op with two outputs and a non-tensor argument."""

        @staticmethod
        def forward(ctx, a, scale):
            ctx.save_for_backward(a)
            ctx.scale = scale
            n = len(a) // 2
            return a[:n] * scale, a[n:] ** 2

        @staticmethod
        def backward(ctx, g1, g2):
            (a,) = ctx.saved_tensors
            n = len(a) // 2
            return np.concatenate([g1 * ctx.scale, g2 * 2 * a[n:]]), None

    x = leaf([1.0, 2.0, 3.0, 4.0])
    first, second = SplitHalves.apply(x, 10.0)
    assert first._ctx is second._ctx
    second.sum().backward()  # the first output receives no gradient: zeros are supplied
    np.testing.assert_allclose(x.grad.array, [0, 0, 6.0, 8.0])
    x.grad = None
    first, second = SplitHalves.apply(x, 10.0)
    (first.sum() + second.sum()).backward()
    np.testing.assert_allclose(x.grad.array, [10, 10, 6.0, 8.0])


def test_comparisons_give_boolean_tensors_without_gradient():
    x = leaf([1.0, 2.0, 3.0])
    mask = x > 1.5
    assert mask.dtype == bool and not mask.requires_grad
    np.testing.assert_array_equal(mask.array, [False, True, True])
    np.testing.assert_array_equal((x == 2.0).array, [False, True, False])
    assert ((x <= 1.0).array == [True, False, False]).all()


def test_ndarray_on_the_left_dispatches_to_tensor():
    x = leaf([1.0, 2.0])
    y = np.array([3.0, 4.0]) * x
    assert isinstance(y, Tensor)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.array, [3.0, 4.0])


def test_repr_mentions_grad_fn():
    x = leaf([1.0])
    assert "requires_grad=True" in repr(x)
    assert "grad_fn=Mul" in repr(x * 2)


def test_node_reached_along_paths_of_different_lengths():
    # h feeds y directly and through sum(h): h's node must wait for both paths (a DFS that marks
    # nodes when pushed instead of when expanded processes it too early and loses a gradient).
    x = leaf([1.0, 2.0, 4.0])
    h = x * 2
    y = (h * h.sum()).sum()  # y = S^2 with S = sum(2x): dy/dx = 4 S = 56
    y.backward()
    np.testing.assert_allclose(x.grad.array, [56.0, 56.0, 56.0])
    assert mc.gradcheck(lambda t: ((t * 2) * (t * 2).mean()).sum(), [leaf([1.0, 2.0, 4.0])])


def test_constructors():
    assert mc.zeros(2, 3).shape == (2, 3) and mc.zeros((2, 3)).dtype == np.float32
    assert (mc.ones(4, dtype=np.float64).array == 1).all()
    assert (mc.full((2,), 7.0).array == 7).all()
    np.testing.assert_array_equal(mc.arange(3).array, [0, 1, 2])
    a = mc.randn(3, 3, generator=np.random.default_rng(0))
    b = mc.randn(3, 3, generator=np.random.default_rng(0))
    np.testing.assert_array_equal(a.array, b.array)
    assert 0 <= mc.rand(100).array.min() and mc.rand(100).array.max() < 1
    assert mc.zeros(2, requires_grad=True).requires_grad
    with pytest.raises(ValueError, match="non-negative integers"):
        mc.zeros(-1)
    assert mc.cat([mc.ones(2), mc.zeros(2)]).shape == (4,)
    assert mc.stack([mc.ones(2), mc.zeros(2)]).shape == (2, 2)
