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


# ---- module utilities ---------------------------------------------------------------------------
def test_apply_visits_children_first_and_returns_the_module():
    m = model()
    visited = []
    assert m.apply(lambda mod: visited.append(type(mod).__name__)) is m
    assert visited == ["Linear", "Block", "Linear", "Sequential"]  # PyTorch's post-order

    def init_weights(mod):
        if isinstance(mod, nn.Linear):
            init.constant_(mod.weight, 0.25)

    m.apply(init_weights)
    assert (m[0].fc.weight.array == 0.25).all() and (m[1].weight.array == 0.25).all()
    assert (m[0].scale.array == 1).all()


def test_module_dict():
    blocks = nn.ModuleDict({"conv": nn.Conv2d(1, 2, 3), "act": nn.ReLU()})
    blocks["fc"] = nn.Linear(2, 2)
    holder = nn.Module()
    holder.blocks = blocks
    assert list(blocks) == ["conv", "act", "fc"] and len(blocks) == 3 and "act" in blocks
    assert [n for n, _ in holder.named_parameters()] == ["blocks.conv.weight", "blocks.conv.bias",
                                                         "blocks.fc.weight", "blocks.fc.bias"]
    assert isinstance(blocks["act"], nn.ReLU) and blocks.fc is blocks["fc"]
    assert [k for k, _ in blocks.items()] == blocks.keys() == ["conv", "act", "fc"]
    del blocks["act"]
    assert blocks.pop("fc").out_features == 2 and blocks.keys() == ["conv"]
    blocks.update([("a", nn.Identity())])
    assert list(holder.state_dict()) == ["blocks.conv.weight", "blocks.conv.bias"]
    with pytest.raises(ValueError, match="without '.'"):
        blocks["a.b"] = nn.ReLU()
    with pytest.raises(TypeError, match="must be a Module"):
        blocks["x"] = np.ones(2)


def test_parameter_list_and_dict():
    class Mixture(nn.Module):
        def __init__(self):
            super().__init__()
            self.weights = nn.ParameterList([np.ones(2), nn.Parameter(np.zeros(3))])
            self.scales = nn.ParameterDict({"a": mc.tensor(np.ones(1))})

    m = Mixture()
    m.weights.append(np.full(4, 2.0))
    m.scales["b"] = nn.Parameter(np.ones(2))
    assert [n for n, _ in m.named_parameters()] == ["weights.0", "weights.1", "weights.2", "scales.a", "scales.b"]
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in m.parameters())
    assert [p.shape for p in m.weights] == [(2,), (3,), (4,)] and m.weights[-1].shape == (4,)
    m.weights[0] = nn.Parameter(np.zeros(5))
    assert m.weights[0].shape == (5,) and len(m.weights) == 3
    with pytest.raises(IndexError):
        m.weights[3] = nn.Parameter(np.zeros(1))
    assert list(m.scales) == ["a", "b"] and m.scales["a"].shape == (1,)
    assert list(m.state_dict()) == ["weights.0", "weights.1", "weights.2", "scales.a", "scales.b"]
    assert len(mc.optim.SGD(m.parameters(), lr=0.1).param_groups[0]["params"]) == 5


def test_buffers_persistent_or_not():
    b = Block()
    assert "scratch" in dict(b.named_buffers()) and "scratch" not in b.state_dict()
    b.register_buffer("scratch", np.ones(2, np.float32))  # registered again, persistent now
    assert "scratch" in b.state_dict()
    b.register_buffer("temp", mc.tensor(np.zeros(3)), persistent=False)
    b.temp = np.ones(3)  # assignment keeps it a (non-persistent) buffer
    assert "temp" in b._buffers and "temp" not in b.state_dict()
    with pytest.raises(ValueError, match="buffer name must be a non-empty string without '.'"):
        b.register_buffer("a.b", np.ones(1))
    with pytest.raises(ValueError, match="parameter name"):
        b.register_parameter("", None)


def test_setattr_registers_as_pytorch():
    b = Block()
    with pytest.raises(TypeError, match=r"cannot assign Tensor as parameter 'scale' \(nn.Parameter or None"):
        b.scale = mc.tensor(np.ones(4))
    b.scale = None  # an absent parameter stays registered, as None
    assert "scale" in b._parameters and b.scale is None and "scale" not in b.state_dict()
    with pytest.raises(TypeError, match="cannot assign ndarray as child module 'fc'"):
        b.fc = np.ones(2)
    b.fc = None
    assert b.fc is None and list(b.children()) == [] and "fc" in b._modules
    b.fc = nn.Linear(3, 4)
    assert [n for n, _ in b.named_parameters()] == ["fc.weight", "fc.bias"]
    b.note = nn.Parameter(np.ones(1))  # a plain attribute becomes a parameter
    assert "note" in b._parameters and "note" not in b.__dict__
    del b.note
    assert not hasattr(b, "note")


def test_identity_unflatten():
    x = mc.tensor(np.arange(24.0).reshape(2, 12))
    assert nn.Identity(54, unused="argument")(x) is x
    y = nn.Unflatten(1, (3, 2, 2))(x)
    np.testing.assert_array_equal(y.array, np.arange(24.0).reshape(2, 3, 2, 2))
    np.testing.assert_array_equal(nn.Flatten()(y).array, x.array)
    assert nn.Unflatten(-1, (2, -1))(x).shape == (2, 2, 6)
    assert nn.Unflatten(0, [1, 2])(x).shape == (1, 2, 12)
    with pytest.raises(ValueError, match=r"Unflatten: dimension 1 of size 12 \(input shape \(2, 12\)\) cannot be "
                                         r"split into \(5, 2\)"):
        nn.Unflatten(1, (5, 2))(x)
    with pytest.raises(ValueError, match="Unflatten: dim 2 is out of range"):
        nn.Unflatten(2, (2, 6))(x)
    with pytest.raises(ValueError, match="at most one -1"):
        nn.Unflatten(1, (-1, -1))
    assert repr(nn.Unflatten(1, (3, 4))) == "Unflatten(dim=1, unflattened_size=(3, 4))"


def test_unflatten_backward():
    x = mc.tensor(np.ones((2, 6)), requires_grad=True)
    (nn.Unflatten(1, (2, 3))(x) * mc.tensor(np.arange(12.0).reshape(2, 2, 3))).sum().backward()
    np.testing.assert_array_equal(x.grad.array, np.arange(12.0).reshape(2, 6))


def test_freeze_a_backbone_and_train_the_head():
    g = np.random.default_rng(0)
    net = nn.Sequential(nn.Sequential(nn.Linear(3, 4, generator=g), nn.ReLU()), nn.Linear(4, 2, generator=g))
    backbone, head = net[0], net[1]
    assert backbone.freeze() is backbone
    assert [p.requires_grad for p in net.parameters()] == [False, False, True, True]
    frozen = [p.array.copy() for p in backbone.parameters()]
    head_before = head.weight.array.copy()
    optimizer = mc.optim.SGD(net.parameters(), lr=0.1)
    net(mc.tensor(np.ones((2, 3), np.float32))).sum().backward()
    assert all(p.grad is None for p in backbone.parameters()) and head.weight.grad is not None
    optimizer.step()
    for p, before in zip(backbone.parameters(), frozen):
        np.testing.assert_array_equal(p.array, before)
    assert not np.array_equal(head.weight.array, head_before)
    backbone.unfreeze()
    assert all(p.requires_grad for p in net.parameters())


def test_train_and_eval_return_the_module():
    m = model()
    assert m.train() is m and m.eval() is m and not m[0].training
    with pytest.raises(ValueError, match="mode must be True or False"):
        m.train("eval")


# ---- load_state_dict's errors ---------------------------------------------------------------------
def resnet_like(width=4, classes=3):
    """Names shaped like torchvision's ResNet: layer1.0.conv1, layer1.0.bn1, fc."""
    block = nn.Module()
    block.conv1 = nn.Conv2d(width, width, 3, bias=False)
    block.bn1 = nn.BatchNorm2d(width)
    net = nn.Module()
    net.conv1 = nn.Conv2d(3, width, 3, bias=False)
    net.layer1 = nn.Sequential(block)
    net.fc = nn.Linear(width, classes)
    return net


def test_key_mismatch_lists_keys_grouped_by_module():
    state = resnet_like().state_dict()
    del state["layer1.0.conv1.weight"], state["fc.weight"], state["fc.bias"]
    state["head.weight"] = np.zeros((3, 4))
    state["head.bias"] = np.zeros(3)
    with pytest.raises(RuntimeError) as error:
        resnet_like().load_state_dict(state)
    assert str(error.value) == ("load_state_dict for Module: the keys do not match; missing: "
                                "layer1.0.conv1.{weight}, fc.{weight,bias}; unexpected: head.{weight,bias}")
    result = resnet_like().load_state_dict(state, strict=False)
    assert result.missing_keys == ["layer1.0.conv1.weight", "fc.weight", "fc.bias"]
    assert result.unexpected_keys == ["head.weight", "head.bias"]


def test_a_wrong_architecture_gets_a_short_message():
    deep = nn.Sequential(*[nn.Linear(2, 2) for _ in range(40)])
    with pytest.raises(RuntimeError) as error:
        nn.Sequential(OrderedDict(conv=nn.Conv2d(1, 1, 1))).load_state_dict(deep.state_dict())
    text = str(error.value)
    assert text.endswith("missing: conv.{weight,bias}; unexpected: 0.{weight,bias}, 1.{weight,bias}, 2.{weight,bias}, 3.{weight,bias}, "
                         "4.{weight,bias}, 5.{weight,bias}, ... (80 keys in 40 modules)")
    assert len(text) < 300


def test_shape_mismatch_names_the_key_and_changes_nothing():
    target = resnet_like()
    before = {k: v.copy() for k, v in target.state_dict().items()}
    state = resnet_like(classes=10).state_dict()
    with pytest.raises(ValueError, match=r"'fc.weight' has shape \(10, 4\) in the state dict but \(3, 4\) "
                                         r"in the model; 'fc.bias' has shape \(10,\) in the state dict but \(3,\)"):
        target.load_state_dict(state)
    for key, value in target.state_dict().items():
        np.testing.assert_array_equal(value, before[key], err_msg=key)  # all or nothing


def test_load_state_dict_from_a_path_or_a_checkpoint_says_what_to_do(tmp_path):
    m = model()
    path = tmp_path / "weights.npz"
    mc.save(m.state_dict(), path)
    with pytest.raises(TypeError, match=r"got the path .*weights.npz'; read the file first: "
                                        r"model.load_state_dict\(minicnn.load\("):
        m.load_state_dict(str(path))
    with pytest.raises(TypeError, match="got the path"):
        m.load_state_dict(path)
    m.load_state_dict(mc.load(path))
    with pytest.raises(RuntimeError, match=r"'model' holds a dict: is this a checkpoint\? pass checkpoint\['model'\]"):
        m.load_state_dict({"model": m.state_dict(), "epoch": 3})
    with pytest.raises(TypeError, match="expected a state dict"):
        m.load_state_dict([1, 2])
