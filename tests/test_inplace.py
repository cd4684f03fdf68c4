"""In-place operations with PyTorch's rules: the leaf rule, version counters, `.data` idioms, the
hand-written SGD step, assignments, gradient hooks, and a graph that lets go of its memory."""
import gc
import tracemalloc
import weakref

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minicnn as mc
import minicnn.functional as F
from minicnn.testing import arrays, assert_gradcheck, broadcastable_shapes, shapes


def leaf(values, dtype=np.float64):
    return mc.tensor(np.asarray(values, dtype=dtype), requires_grad=True)


# ---- the leaf rule and the update idioms ----------------------------------------------------------

@pytest.mark.parametrize("change", [
    lambda w: w.add_(1), lambda w: w.__iadd__(1), lambda w: w.mul_(2), lambda w: w.zero_(),
    lambda w: w.__setitem__(0, 5.0), lambda w: w.copy_(np.ones(2)), lambda w: w.clamp_(0, 1),
    lambda w: w.normal_(0, 1),
])
def test_leaf_that_requires_grad_refuses_in_place_change_outside_no_grad(change):
    w = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place"):
        change(w)
    np.testing.assert_array_equal(w.array, [1.0, 2.0])
    with mc.no_grad():
        change(w)  # allowed under no_grad
    assert w._version == 1


def test_sgd_step_under_no_grad_updates_the_parameter_itself():
    w = mc.tensor(np.array([1.0, -2.0], np.float32), requires_grad=True)
    (w * w).sum().backward()  # grad 2w
    same = w
    with mc.no_grad():
        for p in [w]:
            p -= 0.1 * p.grad
    assert same is w and w.is_leaf and w.requires_grad and w.dtype == np.float32
    np.testing.assert_allclose(w.array, [0.8, -1.6], rtol=1e-6)


def test_sgd_step_over_model_parameters_moves_the_weights(rng):
    model = mc.nn.Linear(3, 2, dtype=np.float64, generator=np.random.default_rng(0))
    x = mc.tensor(rng.standard_normal((4, 3)))
    before = {name: p.array.copy() for name, p in model.named_parameters()}
    (model(x) ** 2).sum().backward()
    grads = {name: p.grad.array.copy() for name, p in model.named_parameters()}
    with mc.no_grad():
        for p in model.parameters():
            p -= 0.1 * p.grad
    for name, p in model.named_parameters():
        assert isinstance(p, mc.nn.Parameter) and getattr(model, name) is p
        np.testing.assert_allclose(p.array, before[name] - 0.1 * grads[name], rtol=1e-12)


def test_data_idioms_change_the_parameter_and_stay_out_of_the_graph():
    p = mc.tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
    p.grad = mc.tensor(np.array([10.0, 20.0], np.float32))
    p.data -= 0.1 * p.grad  # in grad mode, as textbooks write it
    assert type(p.array) is np.ndarray and p.dtype == np.float32 and p.is_leaf
    np.testing.assert_allclose(p.array, [0.0, 0.0], atol=1e-7)
    p.data.copy_(mc.tensor([3.0, 4.0]))
    p.data.mul_(0.5)
    np.testing.assert_allclose(p.array, [1.5, 2.0])
    p.data.zero_()
    assert (p.array == 0).all() and not p.data.requires_grad
    p.data.normal_(0, 0.01, generator=np.random.default_rng(7))
    np.testing.assert_array_equal(p.array, np.random.default_rng(7).normal(0, 0.01, 2).astype(np.float32))
    p.data.uniform_(-1, 1, generator=np.random.default_rng(8))
    np.testing.assert_array_equal(p.array, np.random.default_rng(8).uniform(-1, 1, 2).astype(np.float32))
    p.data.fill_(2)
    np.testing.assert_array_equal(p.array, [2, 2])
    assert p._version == 7  # every write through .data counted on p itself


def test_data_setter_never_stores_a_tensor_or_a_wrong_shape_or_dtype():
    p = mc.tensor(np.ones(3, np.float32), requires_grad=True)
    p.data = p.data * 2
    assert type(p.array) is np.ndarray and p.dtype == np.float32
    with pytest.raises(ValueError, match=r"expected shape \(3,\) and dtype float32"):
        p.data = mc.ones(4)
    with pytest.raises(ValueError, match="dtype float32, got shape .* float64"):
        p.data = np.ones(3)
    with pytest.raises(TypeError, match="Tensor.data: expected a Tensor or a NumPy array"):
        p.data = [1.0, 2.0, 3.0]


def test_hand_written_sgd_loop_matches_the_same_steps_in_numpy(rng):
    x, y = rng.standard_normal((8, 3)), rng.standard_normal(8)
    w = mc.tensor(np.zeros(3), requires_grad=True)
    b = mc.tensor(np.zeros(1), requires_grad=True)
    w_ref, b_ref = np.zeros(3), np.zeros(1)
    for _ in range(5):
        loss = ((mc.tensor(x) @ w + b - mc.tensor(y)) ** 2).mean()
        loss.backward()
        with mc.no_grad():
            for p in (w, b):
                p -= 0.1 * p.grad
                p.grad.zero_()
        residual = x @ w_ref + b_ref - y  # d/dw mean(r^2) = 2 x^T r / n
        w_ref, b_ref = w_ref - 0.1 * 2 * x.T @ residual / 8, b_ref - 0.1 * 2 * residual.mean()
    np.testing.assert_allclose(w.array, w_ref, rtol=1e-12)
    np.testing.assert_allclose(b.array, b_ref, rtol=1e-12)


def test_in_place_results_keep_shape_and_dtype():
    t = mc.tensor([1, 2])
    with pytest.raises(TypeError, match="div_: the result has dtype float64, which cannot be stored"):
        t /= 2
    x = mc.zeros(2)
    with pytest.raises(ValueError, match=r"add_: the result has shape \(3, 2\)"):
        x += mc.ones(3, 1)
    y = mc.zeros(2, 3)
    y += mc.tensor([1.0, 2.0, 3.0])  # the other operand broadcasts to self: fine
    np.testing.assert_array_equal(y.array, [[1, 2, 3], [1, 2, 3]])
    with pytest.raises(ValueError, match="read-only"):
        mc.Tensor(np.broadcast_to(np.ones(3), (2, 3))).add_(1)


# ---- version counters ----------------------------------------------------------------------------

def test_changing_a_saved_input_in_place_makes_backward_name_the_op():
    x = leaf([1.0, 2.0])
    h = x * 2
    y = h * h  # Mul saves h
    h.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation: input 0 of Mul"):
        y.sum().backward()


def test_changing_a_saved_output_in_place_is_caught():
    x = leaf([1.0, 2.0])
    y = x.exp()  # Exp saves its output
    y.mul_(2)
    with pytest.raises(RuntimeError, match="inplace operation: output 0 of Exp"):
        y.sum().backward()


@pytest.mark.parametrize("alias", [lambda t: t.data, lambda t: t.detach(), lambda t: t.reshape(2, 1)])
def test_aliases_share_the_version_counter(alias):
    w = leaf([1.0, 2.0])
    x = leaf([3.0, 4.0])
    y = (w * x).sum()  # Mul saves w
    with mc.no_grad():
        alias(w).mul_(0.5)
    assert w._version == 1
    with pytest.raises(RuntimeError, match="modified by an inplace operation: input 0 of Mul"):
        y.backward()


def test_a_change_that_nothing_saved_is_allowed():
    # PyTorch's ResNet idiom: out = bn(conv(x)); out += identity. Add saves nothing.
    x = leaf([1.0, 2.0])
    h = x + 1
    y = (h + 3).sum()
    h.add_(10)
    y.backward()
    np.testing.assert_allclose(x.grad.array, [1.0, 1.0])


def test_earlier_consumers_keep_their_gradient_after_an_in_place_change():
    x = leaf([1.0, 2.0])
    h = x * 2
    s = h.sum()  # saw h = 2x
    h *= 3  # h = 6x from here on
    (h.sum() + s).backward()
    np.testing.assert_allclose(x.grad.array, [8.0, 8.0])


def test_in_place_change_of_a_tensor_with_a_view_in_the_graph_is_refused():
    x = leaf([1.0, 2.0, 3.0, 4.0])
    h = x * 1
    v = h.reshape(2, 2)
    for t in (h, v):
        with pytest.raises(RuntimeError, match="shares its memory with a view"):
            t.add_(1)


@st.composite
def inplace_case(draw):
    shape = draw(shapes(min_dims=1, max_dims=3, max_side=4))
    other = draw(broadcastable_shapes(shape).filter(lambda o: np.broadcast_shapes(shape, o) == shape))
    return draw(arrays(shape)), draw(arrays(other, low=0.5, high=2.0)), draw(st.sampled_from(
        ["add_", "sub_", "mul_", "div_", "iadd", "imul", "clamp_", "copy_", "fill_", "setitem"]))


def _apply_in_place(h, o, name):
    if name in ("add_", "sub_", "mul_", "div_"):
        return getattr(h, name)(o)
    if name == "iadd":
        h += o
    elif name == "imul":
        h *= o
    elif name == "clamp_":
        h.clamp_(-0.5, 0.7)
    elif name == "copy_":
        h.copy_(o)
    elif name == "fill_":
        h.fill_(0.25)
    else:
        h[..., :1] = o[..., :1] if o.ndim else o
    return h


def _reference(h, o, name):
    """The same change as a float64 NumPy computation."""
    if name in ("add_", "iadd"):
        return h + o
    if name == "sub_":
        return h - o
    if name in ("mul_", "imul"):
        return h * o
    if name == "div_":
        return h / o
    if name == "clamp_":
        return np.clip(h, -0.5, 0.7)
    if name == "copy_":
        return np.broadcast_to(o, h.shape).copy()
    if name == "fill_":
        return np.full(h.shape, 0.25)
    out = h.copy()
    out[..., :1] = o[..., :1] if o.ndim else o
    return out


@settings(max_examples=40, deadline=None)
@given(case=inplace_case())
def test_in_place_ops_on_graph_tensors_give_the_right_values_and_gradients(case):
    x, o, name = case
    if name == "clamp_":
        x = np.where(np.isin(np.round(x, 6), [-0.5, 0.7]), 0.1, x)

    def f(a, b):
        h = a * 1.5  # a non-leaf, changed in place
        before = h.sum() ** 2  # read the old h (Sum saves nothing): its gradient must stay the old one
        return _apply_in_place(h, b, name) * 2 + before

    out = f(leaf(x), leaf(o))
    np.testing.assert_allclose(out.array, _reference(1.5 * x, o, name) * 2 + (1.5 * x).sum() ** 2, rtol=1e-12)
    assert_gradcheck(f, [leaf(x), leaf(o)])


def test_setitem_without_graph_matches_numpy(rng):
    x = rng.standard_normal((3, 4))
    t = mc.tensor(x)
    expected = x.copy()
    for index, value in [((0, 1), 7.0), ((slice(None), 2), np.arange(3.0)),
                         ((np.array([2, 0]),), np.ones(4)), ((x > 1,), -1.0)]:
        t[index] = value
        expected[index] = value
    t[mc.tensor([1])] = mc.tensor(np.full((1, 4), 9.0))
    expected[[1]] = 9.0
    np.testing.assert_array_equal(t.array, expected)
    assert t._version == 5
    with pytest.raises(ValueError, match="setitem: could not broadcast"):
        t[0] = np.ones(5)
    with pytest.raises(IndexError, match="setitem"):
        t[5] = 1.0


def test_tensor_copies_and_from_numpy_shares():
    a = np.ones(3)
    copied, shared = mc.tensor(a), mc.from_numpy(a)
    a[0] = 5
    assert copied.array[0] == 1 and shared.array[0] == 5
    shared.add_(1)
    assert a[1] == 2
    with pytest.raises(TypeError, match="from_numpy: expected a numpy.ndarray"):
        mc.from_numpy([1, 2])


# ---- ops never keep a view of the caller's NumPy buffer ------------------------------------------

@pytest.mark.parametrize("op", [F.mul, lambda b, w: b @ w.reshape(3, 1)])
def test_overwriting_a_numpy_input_after_forward_does_not_change_the_gradient(op):
    buf = np.ones((2, 3))
    w = leaf(np.full(3, 2.0))
    loss = op(buf, w).sum()
    buf[...] = 0
    loss.backward()
    np.testing.assert_allclose(w.grad.array.ravel(), [2.0, 2.0, 2.0])


def test_overwriting_the_input_buffer_of_a_conv_after_forward():
    buf = np.ones((1, 1, 4, 4))
    w = leaf(np.ones((1, 1, 3, 3)))
    loss = F.conv2d(buf, w).sum()
    buf[...] = 0
    loss.backward()
    np.testing.assert_allclose(w.grad.array, np.full((1, 1, 3, 3), 4.0))  # 2x2 outputs see each tap


# ---- gradient hooks ------------------------------------------------------------------------------

def test_hooks_see_and_replace_gradients_on_leaves_and_intermediates():
    x = leaf([1.0, 2.0])
    seen = []
    h = x * 3
    handle = h.register_hook(lambda g: g * 10)
    x.register_hook(lambda g: seen.append(g.array.copy()))
    (h * h + x).sum().backward()  # dL/dh = 2h, times 10 by the hook; x used twice
    expected = 10 * 2 * 3 * np.array([3.0, 6.0]) + 1
    np.testing.assert_allclose(x.grad.array, expected)
    assert len(seen) == 1  # a leaf's hook runs once, on the gradient summed over every path
    np.testing.assert_allclose(seen[0], expected)
    handle.remove()
    x.grad = None
    h = x * 3
    (h * h).sum().backward()
    np.testing.assert_allclose(x.grad.array, 2 * 3 * np.array([3.0, 6.0]))


def test_hook_on_the_root_and_errors():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.register_hook(lambda g: g * 0)
    y.backward()
    np.testing.assert_allclose(x.grad.array, [0.0, 0.0])
    z = x * 2
    z.register_hook(lambda g: mc.ones(3))
    with pytest.raises(RuntimeError, match=r"hook returned shape \(3,\), expected \(2,\)"):
        z.sum().backward()
    with pytest.raises(RuntimeError, match="does not require grad"):
        mc.ones(2).register_hook(print)


# ---- memory: after backward a graph holds what PyTorch's would --------------------------------------

def test_inputs_of_a_graph_are_collectable_after_backward():
    x = leaf(np.ones(1000))
    hidden = (x * 2).exp()
    probe = weakref.ref(hidden.array)
    loss = (hidden * hidden).sum()  # the product saves both factors' memory for backward
    del hidden
    gc.collect()
    assert probe() is not None  # the graph keeps it until backward
    loss.backward()
    gc.collect()
    assert probe() is None


def test_an_intermediate_no_node_saved_is_freed_before_backward():
    # exp's backward reads its output, so nothing needs x * 2 once exp has run: PyTorch frees it
    # at `del`, and so must minicnn (a network's batch-norm outputs are such tensors: they doubled
    # a ResNet's training memory while the graph held every input tensor)
    x = leaf(np.ones(1000))
    doubled = x * 2
    probe = weakref.ref(doubled.array)
    loss = doubled.exp().sum()
    del doubled
    gc.collect()
    assert probe() is None
    loss.backward()
    np.testing.assert_allclose(x.grad.array, 2 * np.exp(2.0))


def test_keeping_every_loss_does_not_keep_every_graph(rng):
    w = leaf(rng.standard_normal((64, 64)) * 0.1)
    x = mc.tensor(rng.standard_normal((32, 64)))
    history = []

    def step():
        loss = ((x @ w).tanh() @ w).sum()
        loss.backward()
        with mc.no_grad():
            w.sub_(1e-4 * w.grad)
        w.grad = None
        history.append(loss)

    for _ in range(20):  # warm up caches
        step()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for _ in range(200):
        step()
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    # one step's activations are 3 x 32 x 64 float64 = 48 KiB: keeping them would add ~10 MiB
    assert grown < 600 * 1024, f"memory grew {grown / 1024:.0f} KiB over 200 steps"
