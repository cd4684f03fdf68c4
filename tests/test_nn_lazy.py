"""Lazy layers: the same weights, outputs and gradients as the eager layer built with the same
generator, the errors before the first forward, loading a state dict, and a textbook LeNet."""
import numpy as np
import pytest

import minicnn as mc
from minicnn import functional as F
from minicnn import nn

# (lazy layer, eager layer with the input size written out, input shape)
CASES = {
    "linear": (lambda g: nn.LazyLinear(5, generator=g), lambda g: nn.Linear(3, 5, generator=g), (4, 3)),
    "linear_no_bias": (lambda g: nn.LazyLinear(2, bias=False, generator=g),
                       lambda g: nn.Linear(6, 2, bias=False, generator=g), (2, 3, 6)),
    "conv1d": (lambda g: nn.LazyConv1d(4, 3, generator=g), lambda g: nn.Conv1d(2, 4, 3, generator=g), (2, 2, 7)),
    "conv2d_groups": (lambda g: nn.LazyConv2d(4, 3, padding=1, groups=2, generator=g),
                      lambda g: nn.Conv2d(6, 4, 3, padding=1, groups=2, generator=g), (2, 6, 5, 5)),
    "conv3d": (lambda g: nn.LazyConv3d(3, 2, generator=g), lambda g: nn.Conv3d(2, 3, 2, generator=g), (1, 2, 3, 3, 3)),
    "conv_transpose2d": (lambda g: nn.LazyConvTranspose2d(3, 2, stride=2, generator=g),
                         lambda g: nn.ConvTranspose2d(2, 3, 2, stride=2, generator=g), (2, 2, 3, 3)),
    "batchnorm1d": (lambda g: nn.LazyBatchNorm1d(), lambda g: nn.BatchNorm1d(3), (4, 3)),
    "batchnorm2d": (lambda g: nn.LazyBatchNorm2d(momentum=0.3), lambda g: nn.BatchNorm2d(3, momentum=0.3),
                    (2, 3, 2, 2)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_lazy_equals_eager_with_the_same_generator(case):
    make_lazy, make_eager, shape = CASES[case]
    lazy, eager = make_lazy(np.random.default_rng(3)), make_eager(np.random.default_rng(3))
    data = np.random.default_rng(1)
    x = data.standard_normal(shape).astype(np.float32)
    upstream = None
    outputs = []
    for layer in (lazy, eager):
        xt = mc.tensor(x, requires_grad=True)
        y = layer(xt)
        upstream = data.standard_normal(y.shape).astype(np.float32) if upstream is None else upstream
        (y * mc.tensor(upstream)).sum().backward()
        outputs.append((y.array, xt.grad.array))
    assert type(lazy) is type(eager)  # it became the eager class, as in PyTorch
    assert repr(lazy) == repr(eager)
    lazy_state, eager_state = lazy.state_dict(), eager.state_dict()
    assert list(lazy_state) == list(eager_state)
    for key in eager_state:
        np.testing.assert_array_equal(lazy_state[key], eager_state[key], err_msg=key)
    np.testing.assert_array_equal(outputs[0][0], outputs[1][0])
    np.testing.assert_array_equal(outputs[0][1], outputs[1][1])
    for (name, p), (_, q) in zip(lazy.named_parameters(), eager.named_parameters()):
        np.testing.assert_array_equal(p.grad.array, q.grad.array, err_msg=name)


def test_the_draw_happens_at_the_first_forward():
    x = mc.tensor(np.ones((1, 3), np.float32))
    g = np.random.default_rng(0)
    lazy = nn.LazyLinear(4, generator=g)
    g.random(7)  # draws made between construction and the first forward come first
    lazy(x)
    h = np.random.default_rng(0)
    h.random(7)
    np.testing.assert_array_equal(lazy.weight.array, nn.Linear(3, 4, generator=h).weight.array)
    # Without a generator: the default generator of the moment of the first forward.
    mc.manual_seed(5)
    lazy = nn.LazyConv2d(2, 3)
    mc.manual_seed(9)
    lazy(mc.tensor(np.ones((1, 2, 4, 4), np.float32)))
    mc.manual_seed(9)
    np.testing.assert_array_equal(lazy.weight.array, nn.Conv2d(2, 2, 3).weight.array)


def test_second_forward_does_not_redraw():
    lazy = nn.LazyLinear(2, generator=np.random.default_rng(0))
    lazy(mc.tensor(np.ones((1, 3), np.float32)))
    weight = lazy.weight
    lazy(mc.tensor(np.ones((1, 3), np.float32)))
    assert lazy.weight is weight
    with pytest.raises(ValueError, match="linear: input has 4 features"):  # now an eager Linear(3, 2)
        lazy(mc.tensor(np.ones((1, 4), np.float32)))


def test_parameters_before_the_first_forward_are_a_clear_error():
    model = nn.Sequential(nn.LazyConv2d(4, 3), nn.ReLU(), nn.Flatten(), nn.LazyLinear(2))
    message = r"LazyConv2d \(0\): parameters are created by the first forward; run the model on one batch"
    for use in (lambda: list(model.parameters()), model.state_dict, lambda: mc.optim.SGD(model.parameters()),
                lambda: model.double(), lambda: model.freeze(), lambda: list(model.named_buffers())):
        with pytest.raises(RuntimeError, match=message):
            use()
    model.zero_grad()  # nothing to clear yet: fine, as in PyTorch
    model.train().eval()
    assert "LazyConv2d(out_channels=4, kernel_size=3" in repr(model)
    model(mc.tensor(np.ones((2, 3, 5, 5), np.float32)))
    assert len(list(model.parameters())) == 4
    mc.optim.SGD(model.parameters(), lr=0.1)


def test_lazy_layer_without_state_has_no_error():
    norm = nn.LazyBatchNorm1d(affine=False, track_running_stats=False)
    assert list(norm.parameters()) == [] and norm.state_dict() == {}
    y = norm(mc.tensor(np.array([[1.0, 2.0], [3.0, 6.0]])))
    np.testing.assert_allclose(y.array, [[-1, -1], [1, 1]], atol=1e-4)


def test_bad_settings_fail_at_construction_and_bad_input_at_forward():
    with pytest.raises(ValueError, match="groups=2 must divide"):
        nn.LazyConv2d(3, 3, groups=2)
    with pytest.raises(ValueError, match="out_features must be a positive integer"):
        nn.LazyLinear(0)
    with pytest.raises(TypeError, match="kernel_size"):
        nn.LazyConv1d(3, (2, 2))
    with pytest.raises(ValueError, match=r"LazyConv2d: expected a 3-D \(unbatched\) or 4-D \(batched\) input, "
                                         r"got shape \(5, 5\)"):
        nn.LazyConv2d(3, 3)(mc.tensor(np.ones((5, 5), np.float32)))
    with pytest.raises(ValueError, match="LazyBatchNorm2d: expected a 4-D input"):
        nn.LazyBatchNorm2d()(mc.tensor(np.ones((2, 3), np.float32)))
    layer = nn.LazyConv2d(4, 3, groups=2)
    with pytest.raises(ValueError, match="groups=2 must divide in_channels=3"):
        layer(mc.tensor(np.ones((1, 3, 5, 5), np.float32)))
    assert isinstance(layer, nn.LazyConv2d)  # still lazy: a wrong first input does not half-build it


def test_load_state_dict_into_a_lazy_model_takes_the_shapes():
    def make(conv, linear, norm):
        return nn.Sequential(conv, norm, nn.ReLU(), nn.Flatten(), linear)

    g = np.random.default_rng(0)
    eager = make(nn.Conv2d(3, 4, 3, groups=1, generator=g), nn.Linear(16, 2, generator=g), nn.BatchNorm2d(4))
    eager.train()(mc.tensor(np.random.default_rng(1).standard_normal((2, 3, 4, 4)).astype(np.float32)))  # running stats move
    lazy = make(nn.LazyConv2d(4, 3), nn.LazyLinear(2), nn.LazyBatchNorm2d())
    result = lazy.load_state_dict(eager.state_dict())
    assert result == ([], [])
    assert [type(m).__name__ for m in lazy] == ["Conv2d", "BatchNorm2d", "ReLU", "Flatten", "Linear"]
    x = mc.tensor(np.random.default_rng(2).standard_normal((2, 3, 4, 4)).astype(np.float32))
    np.testing.assert_array_equal(lazy.eval()(x).array, eager.eval()(x).array)
    grouped = nn.Sequential(nn.LazyConv2d(4, 3, groups=2), nn.LazyConvTranspose2d(6, 2))
    grouped.load_state_dict({"0.weight": np.zeros((4, 3, 3, 3)), "0.bias": np.zeros(4),
                             "1.weight": np.zeros((4, 6, 2, 2)), "1.bias": np.zeros(6)})
    assert (grouped[0].in_channels, grouped[1].in_channels, grouped[1].out_channels) == (6, 4, 6)
    with pytest.raises(RuntimeError, match=r"LazyLinear \(1\): parameters are created by the first forward"):
        nn.Sequential(nn.Linear(2, 2), nn.LazyLinear(3)).load_state_dict({"0.weight": np.zeros((2, 2))})


def lenet_lazy(generator):
    """LeNet as the d2l.ai book writes it: a Sequential of lazy layers, sigmoid and average pooling."""
    return nn.Sequential(
        nn.LazyConv2d(6, kernel_size=5, padding=2, generator=generator), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.LazyConv2d(16, kernel_size=5, generator=generator), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Flatten(),
        nn.LazyLinear(12, generator=generator), nn.Sigmoid(),
        nn.LazyLinear(8, generator=generator), nn.Sigmoid(),
        nn.LazyLinear(10, generator=generator))


def test_textbook_lazy_lenet_trains_like_the_computation_by_hand():
    data = np.random.default_rng(0)
    x = data.standard_normal((4, 1, 12, 12))
    y = data.integers(0, 10, 4)
    lr = 0.5

    # The textbook way: a dummy forward to create the weights, then net.apply(init) and SGD.
    init_gen = np.random.default_rng(11)

    def init_weights(m):
        if type(m) in (nn.Linear, nn.Conv2d):
            nn.init.xavier_uniform_(m.weight, generator=init_gen)

    net = lenet_lazy(np.random.default_rng(7))
    net(mc.tensor(x[:1].astype(np.float32)))
    net.apply(init_weights)
    optimizer = mc.optim.SGD(net.parameters(), lr=lr)
    losses = []
    for _ in range(2):
        optimizer.zero_grad()
        loss = F.cross_entropy(net(mc.tensor(x.astype(np.float32))), mc.tensor(y))
        loss.backward()
        optimizer.step()
        losses.append(loss.item())

    # By hand: eager layers in the same order from the same generators, the forward written out
    # with functional ops and the SGD step with NumPy.
    g, init_hand = np.random.default_rng(7), np.random.default_rng(11)
    layers = [nn.Conv2d(1, 6, 5, padding=2, generator=g), nn.Conv2d(6, 16, 5, generator=g),
              nn.Linear(16, 12, generator=g), nn.Linear(12, 8, generator=g), nn.Linear(8, 10, generator=g)]
    for layer in layers:
        nn.init.xavier_uniform_(layer.weight, generator=init_hand)
    params = [p for layer in layers for p in (layer.weight, layer.bias)]
    conv1, conv2, fc1, fc2, fc3 = layers
    hand_losses = []
    for _ in range(2):
        h = F.avg_pool2d(F.sigmoid(F.conv2d(mc.tensor(x.astype(np.float32)), conv1.weight, conv1.bias,
                                            padding=2)), 2, 2)
        h = F.avg_pool2d(F.sigmoid(F.conv2d(h, conv2.weight, conv2.bias)), 2, 2)
        h = F.sigmoid(F.linear(F.flatten(h, 1), fc1.weight, fc1.bias))
        h = F.linear(F.sigmoid(F.linear(h, fc2.weight, fc2.bias)), fc3.weight, fc3.bias)
        loss = F.cross_entropy(h, mc.tensor(y))
        for p in params:
            p.grad = None
        loss.backward()
        for p in params:
            p.array = p.array - lr * p.grad.array
        hand_losses.append(loss.item())

    np.testing.assert_allclose(losses, hand_losses, rtol=1e-6)
    assert losses[1] != losses[0]
    trained = [p for p in net.parameters()]
    for p, q in zip(trained, params):
        np.testing.assert_allclose(p.array, q.array, rtol=1e-5, atol=1e-7)


def test_hooks_and_mode_set_before_the_first_forward_are_kept():
    layer = nn.LazyBatchNorm2d()
    seen = []
    layer.register_forward_hook(lambda m, inputs, output: seen.append(type(m).__name__))
    layer.eval()  # eval before the first forward: the running statistics (0 and 1) are used
    x = np.random.default_rng(0).standard_normal((2, 3, 2, 2)).astype(np.float32)
    y = layer(mc.tensor(x))
    np.testing.assert_allclose(y.array, x / np.sqrt(1 + 1e-5), rtol=1e-6)
    layer(mc.tensor(x))
    assert seen == ["BatchNorm2d", "BatchNorm2d"] and not layer.training
