"""nn.Module bookkeeping, containers, Linear and init."""
import math
from collections import OrderedDict

import numpy as np
import pytest

import minicnn as mc
from minicnn import nn
from minicnn.nn import init


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4, generator=np.random.default_rng(0))
        self.scale = nn.Parameter(np.ones(4, np.float32))
        self.register_buffer("count", np.zeros(1, np.float32))
        self.register_buffer("scratch", np.zeros(2, np.float32), persistent=False)
        self.note = "plain attribute"

    def forward(self, x):
        return self.fc(x).relu() * self.scale


def model():
    return nn.Sequential(Block(), nn.Linear(4, 2, generator=np.random.default_rng(1)))


def test_registration_and_traversal():
    m = model()
    names = [n for n, _ in m.named_parameters()]
    assert names == ["0.scale", "0.fc.weight", "0.fc.bias", "1.weight", "1.bias"]  # own first, as PyTorch
    assert len(list(m.parameters())) == 5
    assert [type(c).__name__ for c in m.children()] == ["Block", "Linear"]
    assert [type(c).__name__ for c in m.modules()] == ["Sequential", "Block", "Linear", "Linear"]
    assert [n for n, _ in m.named_buffers()] == ["0.count", "0.scratch"]
    assert m[0].note == "plain attribute"
    assert "note" not in m[0]._parameters


def test_shared_parameter_is_listed_once():
    shared = nn.Linear(2, 2)
    m = nn.Sequential(shared, nn.ReLU(), shared)
    assert len(list(m.parameters())) == 2


def test_assigning_before_init_is_explained():
    class Forgot(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(np.ones(2))

    with pytest.raises(AttributeError, match=r"super\(\).__init__\(\)"):
        Forgot()


def test_state_dict_round_trip_and_copies():
    a, b = model(), model()
    b[1].weight.array[...] = 0
    state = a.state_dict()
    assert list(state) == ["0.scale", "0.count", "0.fc.weight", "0.fc.bias", "1.weight", "1.bias"]
    assert isinstance(state["0.fc.weight"], np.ndarray)
    state["0.scale"][...] = 5  # a copy: the model is untouched
    assert (a[0].scale.array == 1).all()
    b.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(b[1].weight.array, a[1].weight.array)


def test_load_state_dict_errors():
    m = model()
    state = m.state_dict()
    del state["1.bias"]
    state["extra"] = np.zeros(1)
    with pytest.raises(RuntimeError, match=r"missing: 1.\{bias\}; unexpected: extra$"):
        m.load_state_dict(state)
    result = m.load_state_dict(state, strict=False)
    assert result.missing_keys == ["1.bias"] and result.unexpected_keys == ["extra"]
    missing, unexpected = result
    assert missing == ["1.bias"] and unexpected == ["extra"]
    state = m.state_dict()
    state["1.weight"] = np.zeros((3, 3))
    with pytest.raises(ValueError, match=r"'1.weight' has shape \(3, 3\) in the state dict but \(2, 4\)"):
        m.load_state_dict(state)


def test_buffer_assignment_stays_a_buffer():
    b = Block()
    b.count = np.array([3.0], np.float32)
    assert "count" in b._buffers and b.state_dict()["count"][0] == 3.0


def test_train_eval_propagate():
    m = model()
    m.eval()
    assert all(not x.training for x in m.modules())
    m.train()
    assert all(x.training for x in m.modules())


def test_to_dtype_casts_parameters_and_buffers():
    m = model().double()
    assert all(p.dtype == np.float64 for p in m.parameters())
    assert all(b.dtype == np.float64 for b in m.buffers())
    y = m(mc.tensor(np.ones((2, 3))))
    assert y.dtype == np.float64
    m.float()
    assert all(p.dtype == np.float32 for p in m.parameters())
    with pytest.raises(TypeError, match="floating-point"):
        m.to(np.int32)


def test_zero_grad():
    m = model()
    m(mc.tensor(np.ones((2, 3), np.float32))).sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    m.zero_grad(set_to_none=False)
    assert all((p.grad.array == 0).all() for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())


def test_repr_is_a_readable_tree():
    text = repr(model())
    assert text.splitlines()[0] == "Sequential("
    assert "(0): Block(" in text and "(fc): Linear(in_features=3, out_features=4, bias=True)" in text


def test_sequential_and_module_list():
    m = nn.Sequential(OrderedDict(first=nn.Linear(2, 3), act=nn.ReLU()))
    assert isinstance(m.first, nn.Linear) and len(m) == 2 and isinstance(m[-1], nn.ReLU)
    assert isinstance(m[:1], nn.Sequential)
    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    holder = nn.Module()
    holder.layers = layers
    assert len(list(holder.parameters())) == 6 and len(layers) == 3
    assert [n for n, _ in holder.named_parameters()][:2] == ["layers.0.weight", "layers.0.bias"]


def test_linear_matches_pytorch_default_init_bounds_and_shapes():
    layer = nn.Linear(50, 20, generator=np.random.default_rng(0))
    bound = 1 / math.sqrt(50)
    assert layer.weight.shape == (20, 50) and layer.bias.shape == (20,)
    assert np.abs(layer.weight.array).max() <= bound and np.abs(layer.bias.array).max() <= bound
    assert np.abs(layer.weight.array).max() > 0.9 * bound  # it fills the range
    assert layer.weight.dtype == np.float32
    assert nn.Linear(3, 2, bias=False).bias is None
    with pytest.raises(ValueError, match="Linear: in_features must be a positive integer"):
        nn.Linear(0, 3)
    y = layer(mc.tensor(np.ones((4, 7, 50), np.float32)))
    assert y.shape == (4, 7, 20)


def test_same_generator_seed_same_weights():
    a = nn.Linear(4, 4, generator=np.random.default_rng(7))
    b = nn.Linear(4, 4, generator=np.random.default_rng(7))
    np.testing.assert_array_equal(a.weight.array, b.weight.array)
    mc.manual_seed(3)
    c = nn.Linear(4, 4)
    mc.manual_seed(3)
    d = nn.Linear(4, 4)
    np.testing.assert_array_equal(c.weight.array, d.weight.array)


@pytest.mark.parametrize("fn, expected_std", [
    (lambda t, g: init.kaiming_normal_(t, nonlinearity="relu", generator=g), math.sqrt(2 / 500)),
    (lambda t, g: init.kaiming_uniform_(t, nonlinearity="relu", generator=g), math.sqrt(2 / 500)),
    (lambda t, g: init.xavier_normal_(t, generator=g), math.sqrt(2 / (500 + 200))),
    (lambda t, g: init.xavier_uniform_(t, generator=g), math.sqrt(2 / (500 + 200))),
    (lambda t, g: init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu", generator=g), math.sqrt(2 / 200)),
])
def test_init_statistics(fn, expected_std):
    # weight (out=8, in=20, 5x5): fan_in = 500, fan_out = 200
    t = mc.tensor(np.zeros((8, 20, 5, 5), np.float64))
    fn(t, np.random.default_rng(0))
    assert abs(t.array.mean()) < 0.1 * expected_std
    assert t.array.std() == pytest.approx(expected_std, rel=0.05)


def test_init_constants_and_gain():
    t = mc.tensor(np.ones((2, 2)))
    init.zeros_(t)
    assert (t.array == 0).all()
    init.constant_(t, 0.5)
    assert (t.array == 0.5).all()
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        init.kaiming_normal_(mc.tensor(np.ones(3)))
    with pytest.raises(TypeError, match="Generator"):
        init.normal_(t, generator=42)


def test_activation_modules():
    x = mc.tensor(np.array([-1.0, 0.5]))
    np.testing.assert_allclose(nn.ReLU()(x).array, [0, 0.5])
    np.testing.assert_allclose(nn.LeakyReLU(0.1)(x).array, [-0.1, 0.5])
    np.testing.assert_allclose(nn.Tanh()(x).array, np.tanh(x.array))
    np.testing.assert_allclose(nn.Sigmoid()(x).array, 1 / (1 + np.exp(-x.array)))
    np.testing.assert_allclose(nn.Softmax(0)(x).array.sum(), 1.0)
    assert nn.Flatten()(mc.tensor(np.ones((2, 3, 4)))).shape == (2, 12)
    assert nn.Identity()(x) is x


def test_forward_hooks_see_inputs_and_outputs_and_can_be_removed():
    m = model()
    seen = []
    handles = [sub.register_forward_hook(lambda mod, inp, out: seen.append((type(mod).__name__, out.shape)))
               for sub in m.modules()]
    pre = m.register_forward_pre_hook(lambda mod, inp: seen.append(("pre", inp[0].shape)))
    m(mc.tensor(np.ones((5, 3), np.float32)))
    assert seen == [("pre", (5, 3)), ("Linear", (5, 4)), ("Block", (5, 4)), ("Linear", (5, 2)),
                    ("Sequential", (5, 2))]
    for h in handles + [pre]:
        h.remove()
    seen.clear()
    m(mc.tensor(np.ones((5, 3), np.float32)))
    assert seen == []
    doubled = m.register_forward_hook(lambda mod, inp, out: out * 2)
    y = m(mc.tensor(np.ones((1, 3), np.float32)))
    doubled.remove()
    np.testing.assert_allclose(y.array, 2 * m(mc.tensor(np.ones((1, 3), np.float32))).array, rtol=1e-6)
