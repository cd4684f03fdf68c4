"""Textbook PyTorch code with only the imports changed.

Each model is written as Dive into Deep Learning (chapters 7-8: LeNet, AlexNet, VGG, NiN, GoogLeNet,
batch norm from scratch, ResNet, DenseNet) and the PyTorch tutorials write it; the only edits are the
four imports below. Each one runs, trains a few steps, and is checked against the same computation
done by hand: the forward in float64 NumPy from the layers' definitions, the gradient by central
differences, and one SGD step as w - lr * grad. Tiny shapes and channel counts keep this fast.
"""
import re

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

import minicnn as torch
from minicnn import nn
import minicnn.functional as F
from minicnn import optim


@pytest.fixture(autouse=True)
def float64_by_default():
    """Gradients are checked by differences, so the models are built in float64, as a learner would
    check them in PyTorch: torch.set_default_dtype(torch.float64)."""
    torch.set_default_dtype(torch.float64)
    torch.manual_seed(0)
    yield
    torch.set_default_dtype(torch.float32)


# ---- the same computation by hand: float64 NumPy from the definitions ----------------------------

def pair(value):
    return tuple(np.broadcast_to(value, 2))


def conv2d_by_hand(x, w, b, stride, padding):
    (ph, pw), (sh, sw) = pair(padding), pair(stride)
    x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    windows = sliding_window_view(x, w.shape[2:], axis=(2, 3))[:, :, ::sh, ::sw]
    return np.einsum("nchwij,ocij->nohw", windows, w) + b[None, :, None, None]


def pool2d_by_hand(x, kernel_size, stride, padding, reduce):
    k, s, p = pair(kernel_size), pair(stride or kernel_size), pair(padding)
    x = np.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])), constant_values=-np.inf)
    return reduce(sliding_window_view(x, k, axis=(2, 3))[:, :, ::s[0], ::s[1]], axis=(-2, -1))


def batch_norm_by_hand(x, layer):
    axes = (0, 2, 3) if x.ndim == 4 else (0,)
    shape = (1, -1, 1, 1) if x.ndim == 4 else (1, -1)
    if layer.training:
        mean, var = x.mean(axis=axes), x.var(axis=axes)
    else:
        mean, var = np.asarray(layer.running_mean), np.asarray(layer.running_var)
    x_hat = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + layer.eps)
    return x_hat * np.asarray(layer.weight).reshape(shape) + np.asarray(layer.bias).reshape(shape)


def by_hand(layer, x):
    """`layer`'s forward on the NumPy array x, from the definition of each layer and its weights."""
    kind = type(layer).__name__
    w = np.asarray(layer.weight) if getattr(layer, "weight", None) is not None else None
    b = np.asarray(layer.bias) if getattr(layer, "bias", None) is not None else None
    if kind == "Sequential":
        for sublayer in layer:
            x = by_hand(sublayer, x)
        return x
    if kind == "Conv2d":
        return conv2d_by_hand(x, w, b, layer.stride, layer.padding)
    if kind == "Linear":
        return x @ w.T + b
    if kind == "ReLU":
        return np.maximum(x, 0)
    if kind == "Sigmoid":
        return 1 / (1 + np.exp(-x))
    if kind == "MaxPool2d":
        return pool2d_by_hand(x, layer.kernel_size, layer.stride, layer.padding, np.max)
    if kind == "AvgPool2d":  # no padding in these models
        return pool2d_by_hand(x, layer.kernel_size, layer.stride, 0, np.mean)
    if kind == "AdaptiveAvgPool2d":  # output (1, 1) in these models
        return x.mean(axis=(2, 3), keepdims=True)
    if kind == "Flatten":
        return x.reshape(len(x), -1)
    if kind == "Dropout":
        assert not layer.training, "checked in eval mode, where dropout is the identity"
        return x
    if kind == "BatchNorm2d":
        return batch_norm_by_hand(x, layer)
    return layer.by_hand(x)  # the custom blocks below say how


def assert_forward_matches_by_hand(net, X):
    np.testing.assert_allclose(net(X).array, by_hand(net, np.asarray(X)), rtol=1e-10, atol=1e-12)


def assert_gradient_matches_differences(net, X, y, eps=1e-7):
    """The directional derivative of the loss along a random direction over every parameter,
    from backward() and from central differences. Dropout draws the same mask each time. eps is
    small so that few ReLU or max-pool kinks fall inside [-eps, eps] (each adds an O(eps) error)."""
    loss = nn.CrossEntropyLoss()
    params = list(net.parameters())
    start = [p.array.copy() for p in params]
    directions = [np.random.default_rng(1).standard_normal(p.shape) for p in params]

    def loss_at(t):
        with torch.no_grad():
            for p, p0, d in zip(params, start, directions):
                p.copy_(p0 + t * d)
        torch.manual_seed(5)
        return loss(net(X), y)

    for p in params:
        p.grad = None
    loss_at(0.0).backward()
    analytic = sum(float((p.grad.array * d).sum()) for p, d in zip(params, directions))
    numeric = (loss_at(eps).item() - loss_at(-eps).item()) / (2 * eps)
    loss_at(0.0)
    assert abs(analytic - numeric) <= 1e-6 * max(1.0, abs(numeric)), (analytic, numeric)


def assert_trains_and_sgd_steps_by_hand(net, X, y, lr=0.05, steps=4):
    """d2l's train_ch6 loop on one batch: the first step moves each weight by -lr * grad, and the
    loss falls over a few steps."""
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    loss = nn.CrossEntropyLoss()
    net.train()
    losses = []
    for step in range(steps):
        optimizer.zero_grad()
        torch.manual_seed(step)
        l = loss(net(X), y)
        l.backward()
        before = [(p.array.copy(), p.grad.array.copy()) for p in net.parameters()]
        optimizer.step()
        if step == 0:
            for p, (w, g) in zip(net.parameters(), before):
                np.testing.assert_allclose(p.array, w - lr * g, rtol=1e-12, atol=1e-15)
        losses.append(l.item())
    assert np.isfinite(losses).all() and losses[-1] < losses[0], losses


def digits_like(n, channels, size, classes=10):
    X = torch.rand(size=(n, channels, size, size))
    y = torch.randint(0, classes, (n,))
    return X, y


def shapes_printed(net, X, capsys):
    """d2l's shape-printing loop, and the shapes it printed."""
    for layer in net:
        X = layer(X)
        print(layer.__class__.__name__, 'output shape:\t', X.shape)
    lines = capsys.readouterr().out.splitlines()
    return [(line.split()[0], tuple(int(n) for n in re.findall(r"\d+", line.split("\t")[1]))) for line in lines]


# ---- d2l 7.6: LeNet, eager and lazy --------------------------------------------------------------

def lenet():
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.Sigmoid(),
        nn.Linear(120, 84), nn.Sigmoid(),
        nn.Linear(84, 10))


def lazy_lenet():
    return nn.Sequential(
        nn.LazyConv2d(6, kernel_size=5, padding=2), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.LazyConv2d(16, kernel_size=5), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Flatten(),
        nn.LazyLinear(120), nn.Sigmoid(),
        nn.LazyLinear(84), nn.Sigmoid(),
        nn.LazyLinear(10))


def init_cnn(module):
    """d2l's initialisation: Xavier-uniform weights for linear and conv layers."""
    if type(module) == nn.Linear or type(module) == nn.Conv2d:
        nn.init.xavier_uniform_(module.weight)


LENET_SHAPES = [("Conv2d", (1, 6, 28, 28)), ("Sigmoid", (1, 6, 28, 28)), ("AvgPool2d", (1, 6, 14, 14)),
                ("Conv2d", (1, 16, 10, 10)), ("Sigmoid", (1, 16, 10, 10)), ("AvgPool2d", (1, 16, 5, 5)),
                ("Flatten", (1, 400)), ("Linear", (1, 120)), ("Sigmoid", (1, 120)), ("Linear", (1, 84)),
                ("Sigmoid", (1, 84)), ("Linear", (1, 10))]


@pytest.mark.parametrize("build", [lenet, lazy_lenet])
def test_lenet(build, capsys):
    net = build()
    X = torch.rand(size=(1, 1, 28, 28), dtype=torch.float64)
    assert shapes_printed(net, X, capsys) == LENET_SHAPES
    net.apply(init_cnn)
    X, y = digits_like(4, 1, 28)
    assert_forward_matches_by_hand(net, X)
    assert_gradient_matches_differences(net, X, y)
    assert_trains_and_sgd_steps_by_hand(net, X, y, lr=0.9)


def test_lenet_xavier_init_draws_from_the_seeded_generator():
    torch.manual_seed(3)
    first = lenet().apply(init_cnn)
    torch.manual_seed(3)
    second = lenet().apply(init_cnn)
    for p, q in zip(first.parameters(), second.parameters()):
        np.testing.assert_array_equal(p.array, q.array)
    bound = np.sqrt(6 / (400 + 120))  # Glorot & Bengio's uniform bound for Linear(400, 120)
    assert 0.9 * bound < np.abs(first[7].weight.array).max() <= bound


# ---- d2l 8.1 and 8.2: AlexNet and VGG blocks (few channels, small inputs) --------------------

def alexnet():
    return nn.Sequential(
        nn.Conv2d(1, 4, kernel_size=11, stride=4, padding=1), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(4, 8, kernel_size=5, padding=2), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(8, 12, kernel_size=3, padding=1), nn.ReLU(),
        nn.Conv2d(12, 12, kernel_size=3, padding=1), nn.ReLU(),
        nn.Conv2d(12, 8, kernel_size=3, padding=1), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Flatten(),
        nn.Linear(8, 32), nn.ReLU(),
        nn.Dropout(p=0.5),
        nn.Linear(32, 32), nn.ReLU(),
        nn.Dropout(p=0.5),
        nn.Linear(32, 10))


def vgg_block(num_convs, in_channels, out_channels):
    layers = []
    for _ in range(num_convs):
        layers.append(nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1))
        layers.append(nn.ReLU())
        in_channels = out_channels
    layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
    return nn.Sequential(*layers)


def vgg(conv_arch):
    conv_blks = []
    in_channels = 1
    for (num_convs, out_channels) in conv_arch:
        conv_blks.append(vgg_block(num_convs, in_channels, out_channels))
        in_channels = out_channels
    return nn.Sequential(
        *conv_blks, nn.Flatten(),
        nn.Linear(out_channels * 7 * 7, 32), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(32, 32), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(32, 10))


@pytest.mark.parametrize("build, size", [(alexnet, 95), (lambda: vgg(((1, 4), (2, 8))), 28)])
def test_alexnet_and_vgg(build, size):
    net = build()
    X, y = digits_like(4, 1, size)
    assert net(X).shape == (4, 10)
    net.eval()  # dropout off: the forward is a function of the weights
    with torch.no_grad():
        assert_forward_matches_by_hand(net, X)
    net.train()
    assert_gradient_matches_differences(net, X, y)
    assert_trains_and_sgd_steps_by_hand(net, X, y)


# ---- d2l 8.3: NiN ------------------------------------------------------------------------------

def nin_block(in_channels, out_channels, kernel_size, strides, padding):
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, strides, padding),
        nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, kernel_size=1), nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, kernel_size=1), nn.ReLU())


def test_nin(capsys):
    net = nn.Sequential(
        nin_block(1, 4, kernel_size=11, strides=4, padding=0),
        nn.MaxPool2d(3, stride=2),
        nin_block(4, 8, kernel_size=5, strides=1, padding=2),
        nn.MaxPool2d(3, stride=2),
        nin_block(8, 12, kernel_size=3, strides=1, padding=1),
        nn.MaxPool2d(3, stride=2),
        nn.Dropout(0.5),
        nin_block(12, 10, kernel_size=3, strides=1, padding=1),
        nn.AdaptiveAvgPool2d((1, 1)),
        nn.Flatten())
    X = torch.rand(size=(1, 1, 95, 95))
    assert [shape for _, shape in shapes_printed(net, X, capsys)][-3:] == [(1, 10, 1, 1), (1, 10, 1, 1), (1, 10)]
    X, y = digits_like(4, 1, 95)
    net.eval()
    assert_forward_matches_by_hand(net, X)
    net.train()
    assert_gradient_matches_differences(net, X, y)
    assert_trains_and_sgd_steps_by_hand(net, X, y, lr=0.5)


# ---- d2l 8.4: GoogLeNet's Inception block ---------------------------------------------------------

class Inception(nn.Module):
    # c1--c4 are the number of output channels for each branch
    def __init__(self, in_channels, c1, c2, c3, c4, **kwargs):
        super(Inception, self).__init__(**kwargs)
        # Branch 1
        self.p1_1 = nn.Conv2d(in_channels, c1, kernel_size=1)
        # Branch 2
        self.p2_1 = nn.Conv2d(in_channels, c2[0], kernel_size=1)
        self.p2_2 = nn.Conv2d(c2[0], c2[1], kernel_size=3, padding=1)
        # Branch 3
        self.p3_1 = nn.Conv2d(in_channels, c3[0], kernel_size=1)
        self.p3_2 = nn.Conv2d(c3[0], c3[1], kernel_size=5, padding=2)
        # Branch 4
        self.p4_1 = nn.MaxPool2d(kernel_size=3, stride=1, padding=1)
        self.p4_2 = nn.Conv2d(in_channels, c4, kernel_size=1)

    def forward(self, x):
        p1 = F.relu(self.p1_1(x))
        p2 = F.relu(self.p2_2(F.relu(self.p2_1(x))))
        p3 = F.relu(self.p3_2(F.relu(self.p3_1(x))))
        p4 = F.relu(self.p4_2(self.p4_1(x)))
        # Concatenate the outputs on the channel dimension
        return torch.cat((p1, p2, p3, p4), dim=1)

    def by_hand(self, x):  # not textbook code: the test's own forward
        relu = lambda layer, v: np.maximum(by_hand(layer, v), 0)  # noqa: E731
        return np.concatenate([relu(self.p1_1, x), relu(self.p2_2, relu(self.p2_1, x)),
                               relu(self.p3_2, relu(self.p3_1, x)),
                               relu(self.p4_2, by_hand(self.p4_1, x))], axis=1)


def test_googlenet_inception():
    net = nn.Sequential(
        nn.Conv2d(1, 4, kernel_size=3, padding=1), nn.ReLU(),
        Inception(4, 2, (2, 4), (1, 2), 2),
        nn.AdaptiveAvgPool2d((1, 1)),
        nn.Flatten(), nn.Linear(10, 10))
    X, y = digits_like(4, 1, 6)
    assert net[2](net[1](net[0](X))).shape == (4, 10, 6, 6)
    assert [name for name, _ in net[2].named_children()] == ["p1_1", "p2_1", "p2_2", "p3_1", "p3_2", "p4_1", "p4_2"]
    assert_forward_matches_by_hand(net, X)
    assert_gradient_matches_differences(net, X, y)
    assert_trains_and_sgd_steps_by_hand(net, X, y, lr=0.5)


# ---- d2l 8.5: batch normalisation from scratch ----------------------------------------------------

def batch_norm(X, gamma, beta, moving_mean, moving_var, eps, momentum):
    # Use is_grad_enabled to determine whether we are in training mode
    if not torch.is_grad_enabled():
        # In prediction mode, use mean and variance obtained by moving average
        X_hat = (X - moving_mean) / torch.sqrt(moving_var + eps)
    else:
        assert len(X.shape) in (2, 4)
        if len(X.shape) == 2:
            # When using a fully connected layer, calculate the mean and
            # variance on the feature dimension
            mean = X.mean(dim=0)
            var = ((X - mean) ** 2).mean(dim=0)
        else:
            # When using a two-dimensional convolutional layer, calculate the
            # mean and variance on the channel dimension (axis=1). Here we
            # need to maintain the shape of X, so that the broadcasting
            # operation can be carried out later
            mean = X.mean(dim=(0, 2, 3), keepdim=True)
            var = ((X - mean) ** 2).mean(dim=(0, 2, 3), keepdim=True)
        # In training mode, the current mean and variance are used
        X_hat = (X - mean) / torch.sqrt(var + eps)
        # Update the mean and variance using moving average
        moving_mean = (1.0 - momentum) * moving_mean + momentum * mean
        moving_var = (1.0 - momentum) * moving_var + momentum * var
    Y = gamma * X_hat + beta  # Scale and shift
    return Y, moving_mean.data, moving_var.data


class BatchNorm(nn.Module):
    # num_features: the number of outputs for a fully connected layer or the
    # number of output channels for a convolutional layer. num_dims: 2 for a
    # fully connected layer and 4 for a convolutional layer
    def __init__(self, num_features, num_dims):
        super().__init__()
        if num_dims == 2:
            shape = (1, num_features)
        else:
            shape = (1, num_features, 1, 1)
        # The scale parameter and the shift parameter (model parameters) are
        # initialized to 1 and 0, respectively
        self.gamma = nn.Parameter(torch.ones(shape))
        self.beta = nn.Parameter(torch.zeros(shape))
        # The variables that are not model parameters are initialized to 0 and 1
        self.register_buffer('moving_mean', torch.zeros(shape))
        self.register_buffer('moving_var', torch.ones(shape))

    def forward(self, X):
        # If X is not on the main memory, copy moving_mean and moving_var to
        # the device where X is located
        if self.moving_mean.device != X.device:
            self.moving_mean = self.moving_mean.to(X.device)
            self.moving_var = self.moving_var.to(X.device)
        # Save the updated moving_mean and moving_var
        Y, self.moving_mean, self.moving_var = batch_norm(
            X, self.gamma, self.beta, self.moving_mean,
            self.moving_var, eps=1e-5, momentum=0.1)
        return Y

    def by_hand(self, x):  # not textbook code: training mode, the batch's statistics
        axes = (0, 2, 3) if x.ndim == 4 else (0,)
        mean, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
        return np.asarray(self.gamma) * (x - mean) / np.sqrt(var + 1e-5) + np.asarray(self.beta)


def lenet_bn(norm2d, norm1d):
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5), norm2d(6), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), norm2d(16), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2), nn.Flatten(),
        nn.Linear(16 * 4 * 4, 120), norm1d(120), nn.Sigmoid(),
        nn.Linear(120, 84), norm1d(84), nn.Sigmoid(),
        nn.Linear(84, 10))


def test_batch_norm_from_scratch():
    net = lenet_bn(lambda c: BatchNorm(c, num_dims=4), lambda c: BatchNorm(c, num_dims=2))
    X, y = digits_like(4, 1, 28)
    assert_forward_matches_by_hand(net, X)
    moving_mean = net[1].moving_mean
    assert isinstance(moving_mean, torch.Tensor) and moving_mean.grad_fn is None and not moving_mean.requires_grad
    x1 = net[0](X).array
    np.testing.assert_allclose(moving_mean.array, 0.1 * x1.mean(axis=(0, 2, 3), keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(net[1].moving_var.array, 0.9 + 0.1 * x1.var(axis=(0, 2, 3), keepdims=True),
                               rtol=1e-12)
    assert set(net.state_dict()) >= {"1.gamma", "1.beta", "1.moving_mean", "1.moving_var"}
    assert_gradient_matches_differences(net, X, y)
    assert_trains_and_sgd_steps_by_hand(net, X, y, lr=0.5)
    # nn.BatchNorm2d/1d with the same weights computes the same training-mode forward
    library = lenet_bn(nn.BatchNorm2d, nn.BatchNorm1d)
    library.load_state_dict({name: p for name, p in net.state_dict().items() if "moving" not in name
                             and "gamma" not in name and "beta" not in name}, strict=False)
    for i in (1, 5, 10, 13):
        with torch.no_grad():
            library[i].weight.copy_(net[i].gamma.reshape(-1))
            library[i].bias.copy_(net[i].beta.reshape(-1))
    np.testing.assert_allclose(library(X).array, net(X).array, rtol=1e-9, atol=1e-12)
    # prediction mode uses the moving statistics
    with torch.no_grad():
        x1 = net[0](X)
        out = net[1](x1)
    bn = {name: np.asarray(getattr(net[1], name)) for name in ("gamma", "beta", "moving_mean", "moving_var")}
    expected = bn["gamma"] * (x1.array - bn["moving_mean"]) / np.sqrt(bn["moving_var"] + 1e-5) + bn["beta"]
    np.testing.assert_allclose(out.array, expected, rtol=1e-10)


# ---- d2l 8.6: ResNet -------------------------------------------------------------------------------

class Residual(nn.Module):  # @save
    """The Residual block of ResNet."""
    def __init__(self, input_channels, num_channels, use_1x1conv=False, strides=1):
        super().__init__()
        self.conv1 = nn.Conv2d(input_channels, num_channels, kernel_size=3, padding=1, stride=strides)
        self.conv2 = nn.Conv2d(num_channels, num_channels, kernel_size=3, padding=1)
        if use_1x1conv:
            self.conv3 = nn.Conv2d(input_channels, num_channels, kernel_size=1, stride=strides)
        else:
            self.conv3 = None
        self.bn1 = nn.BatchNorm2d(num_channels)
        self.bn2 = nn.BatchNorm2d(num_channels)

    def forward(self, X):
        Y = F.relu(self.bn1(self.conv1(X)))
        Y = self.bn2(self.conv2(Y))
        if self.conv3:
            X = self.conv3(X)
        Y += X
        return F.relu(Y)

    def by_hand(self, x):  # not textbook code
        y = np.maximum(by_hand(self.bn1, by_hand(self.conv1, x)), 0)
        y = by_hand(self.bn2, by_hand(self.conv2, y))
        return np.maximum(y + (by_hand(self.conv3, x) if self.conv3 is not None else x), 0)


def resnet_block(input_channels, num_channels, num_residuals, first_block=False):
    blk = []
    for i in range(num_residuals):
        if i == 0 and not first_block:
            blk.append(Residual(input_channels, num_channels, use_1x1conv=True, strides=2))
        else:
            blk.append(Residual(num_channels, num_channels))
    return blk


def test_resnet():
    blk = Residual(3, 3)
    X = torch.rand(4, 3, 6, 6)
    assert blk(X).shape == (4, 3, 6, 6)
    blk = Residual(3, 6, use_1x1conv=True, strides=2)
    assert blk(X).shape == (4, 6, 3, 3)
    b1 = nn.Sequential(nn.Conv2d(1, 4, kernel_size=7, stride=2, padding=3),
                       nn.BatchNorm2d(4), nn.ReLU(inplace=True),
                       nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
    b2 = nn.Sequential(*resnet_block(4, 4, 2, first_block=True))
    b3 = nn.Sequential(*resnet_block(4, 8, 2))
    net = nn.Sequential(b1, b2, b3, nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Linear(8, 10))
    X, y = digits_like(4, 1, 16)
    assert_forward_matches_by_hand(net, X)
    assert_gradient_matches_differences(net, X, y)
    assert_trains_and_sgd_steps_by_hand(net, X, y, lr=0.1)
    net.eval()
    with torch.no_grad():
        assert_forward_matches_by_hand(net, X)


def test_residual_add_in_place_is_recorded_like_the_out_of_place_sum():
    """`Y += X` on a non-leaf: PyTorch records it, and so does minicnn (the gradient is that of Y + X)."""
    torch.manual_seed(1)
    blk = Residual(2, 2)
    X = torch.rand(3, 2, 4, 4, requires_grad=True)
    blk(X).sum().backward()
    in_place = [X.grad.array.copy()] + [p.grad.array.copy() for p in blk.parameters()]
    X.grad = None
    blk.zero_grad()
    Y = blk.bn2(blk.conv2(F.relu(blk.bn1(blk.conv1(X)))))
    F.relu(Y + X).sum().backward()
    for got, expected in zip(in_place, [X.grad] + [p.grad for p in blk.parameters()]):
        np.testing.assert_allclose(got, expected.array, rtol=1e-12)


def test_relu_inplace_overwrites_its_input_as_in_pytorch():
    x = torch.tensor([-1.0, 2.0])
    y = nn.ReLU(inplace=True)(x)
    assert y is x and x.tolist() == [0.0, 2.0]
    w = torch.tensor([-1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        nn.ReLU(inplace=True)(w)
    assert repr(nn.ReLU(inplace=True)) == "ReLU(inplace=True)" and repr(nn.ReLU()) == "ReLU()"
    z = torch.tensor([-3.0, 4.0])
    assert F.relu(z, inplace=True) is z and z.tolist() == [0.0, 4.0]


@pytest.mark.parametrize("layer", [nn.ReLU, lambda inplace: nn.Dropout(0.5, inplace)])
def test_inplace_flag_gives_the_out_of_place_values_and_gradients(layer):
    """torchvision writes nn.ReLU(inplace=True) and nn.Dropout(p, inplace=True) after a linear layer."""
    results = []
    for inplace in (False, True):
        torch.manual_seed(2)
        fc = nn.Linear(3, 4)
        x = torch.randn(5, 3)
        torch.manual_seed(3)
        h = fc(x)
        out = layer(inplace)(h)
        assert (out is h) == inplace
        (out * torch.arange(4.0)).sum().backward()
        results.append([out.array, fc.weight.grad.array, fc.bias.grad.array])
    for without, within in zip(*results):
        np.testing.assert_array_equal(within, without)


# ---- d2l 8.7: DenseNet -------------------------------------------------------------------------------

def conv_block(input_channels, num_channels):
    return nn.Sequential(
        nn.BatchNorm2d(input_channels), nn.ReLU(),
        nn.Conv2d(input_channels, num_channels, kernel_size=3, padding=1))


class DenseBlock(nn.Module):
    def __init__(self, num_convs, input_channels, num_channels):
        super(DenseBlock, self).__init__()
        layer = []
        for i in range(num_convs):
            layer.append(conv_block(num_channels * i + input_channels, num_channels))
        self.net = nn.Sequential(*layer)

    def forward(self, X):
        for blk in self.net:
            Y = blk(X)
            # Concatenate input and output of each block along the channels
            X = torch.cat((X, Y), dim=1)
        return X

    def by_hand(self, x):  # not textbook code
        for blk in self.net:
            x = np.concatenate([x, by_hand(blk, x)], axis=1)
        return x


def transition_block(input_channels, num_channels):
    return nn.Sequential(
        nn.BatchNorm2d(input_channels), nn.ReLU(),
        nn.Conv2d(input_channels, num_channels, kernel_size=1),
        nn.AvgPool2d(kernel_size=2, stride=2))


def test_densenet():
    blk = DenseBlock(2, 3, 10)
    X = torch.randn(4, 3, 8, 8)
    Y = blk(X)
    assert Y.shape == (4, 23, 8, 8)
    assert transition_block(23, 10)(Y).shape == (4, 10, 4, 4)
    net = nn.Sequential(nn.Conv2d(1, 4, kernel_size=3, padding=1), DenseBlock(2, 4, 3),
                        transition_block(10, 6), nn.BatchNorm2d(6), nn.ReLU(),
                        nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Linear(6, 10))
    X, y = digits_like(4, 1, 8)
    assert_forward_matches_by_hand(net, X)
    assert_gradient_matches_differences(net, X, y)
    assert_trains_and_sgd_steps_by_hand(net, X, y, lr=0.2)


# ---- the PyTorch tutorials: a Module subclass, optim.SGD with momentum, evaluation, checkpoints ------

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = torch.flatten(x, 1)  # flatten all dimensions except batch
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        x = self.fc3(x)
        return x

    def by_hand(self, x):  # not textbook code
        for conv in (self.conv1, self.conv2):
            x = by_hand(self.pool, np.maximum(by_hand(conv, x), 0))
        x = x.reshape(len(x), -1)
        for fc in (self.fc1, self.fc2):
            x = np.maximum(by_hand(fc, x), 0)
        return by_hand(self.fc3, x)


def test_pytorch_tutorial_cifar_net(tmp_path):
    torch.manual_seed(0)
    net = Net()
    trainloader = [digits_like(4, 3, 32) for _ in range(3)]
    assert_forward_matches_by_hand(net, trainloader[0][0])
    assert_gradient_matches_differences(net, *trainloader[0])

    criterion = nn.CrossEntropyLoss()
    optimizer = optim.SGD(net.parameters(), lr=0.001, momentum=0.9)
    first = {name: p.array.copy() for name, p in net.named_parameters()}
    for epoch in range(2):  # loop over the dataset multiple times
        running_loss = 0.0
        for i, data in enumerate(trainloader, 0):
            # get the inputs; data is a list of [inputs, labels]
            inputs, labels = data
            # zero the parameter gradients
            optimizer.zero_grad()
            # forward + backward + optimize
            outputs = net(inputs)
            loss = criterion(outputs, labels)
            loss.backward()
            if epoch == 0 and i == 0:
                grads = {name: p.grad.array.copy() for name, p in net.named_parameters()}
            optimizer.step()
            if epoch == 0 and i == 0:  # the first momentum step is a plain SGD step
                for name, p in net.named_parameters():
                    np.testing.assert_allclose(p.array, first[name] - 0.001 * grads[name], rtol=1e-12)
            running_loss += loss.item()
    assert np.isfinite(running_loss)

    PATH = str(tmp_path / 'cifar_net.pth')  # an .npz archive whatever the name (no pickle)
    torch.save(net.state_dict(), PATH)
    net2 = Net()
    net2.load_state_dict(torch.load(PATH))
    for (name, p), (name2, q) in zip(net.named_parameters(), net2.named_parameters()):
        assert name == name2
        np.testing.assert_array_equal(p.array, q.array)

    correct = 0
    total = 0
    # since we're not training, we don't need to calculate the gradients for our outputs
    with torch.no_grad():
        for data in trainloader:
            images, labels = data
            # calculate outputs by running images through the network
            outputs = net2(images)
            # the class with the highest energy is what we choose as prediction
            _, predicted = torch.max(outputs.data, 1)
            total += labels.size(0)
            correct += (predicted == labels).sum().item()
            assert not outputs.requires_grad
            np.testing.assert_array_equal(predicted.array, np.argmax(net.by_hand(np.asarray(images)), axis=1))
    expected = sum(int((np.argmax(net.by_hand(np.asarray(X)), 1) == np.asarray(y)).sum()) for X, y in trainloader)
    assert total == 12 and correct == expected and isinstance(correct, int)


# ---- d2l 3-4: from scratch with a hand-written SGD, and d2l's accuracy helpers ------------------------

def accuracy(y_hat, y):  # @save
    """Compute the number of correct predictions."""
    if len(y_hat.shape) > 1 and y_hat.shape[1] > 1:
        y_hat = y_hat.argmax(axis=1)
    cmp = y_hat.type(y.dtype) == y
    return float(cmp.type(y.dtype).sum())


class Accumulator:  # @save
    """For accumulating sums over `n` variables."""
    def __init__(self, n):
        self.data = [0.0] * n

    def add(self, *args):
        self.data = [a + float(b) for a, b in zip(self.data, args)]

    def __getitem__(self, idx):
        return self.data[idx]


def evaluate_accuracy_gpu(net, data_iter, device=None):  # @save
    """Compute the accuracy for a model on a dataset using a GPU."""
    if isinstance(net, nn.Module):
        net.eval()  # Set the model to evaluation mode
        if not device:
            device = next(iter(net.parameters())).device
    # No. of correct predictions, no. of predictions
    metric = Accumulator(2)
    with torch.no_grad():
        for X, y in data_iter:
            if isinstance(X, list):
                X = [x.to(device) for x in X]
            else:
                X = X.to(device)
            y = y.to(device)
            metric.add(accuracy(net(X), y), y.numel())
    return metric[0] / metric[1]


def sgd(params, lr, batch_size):  # @save
    """Minibatch stochastic gradient descent."""
    with torch.no_grad():
        for param in params:
            param -= lr * param.grad / batch_size
            param.grad.zero_()


def test_softmax_regression_from_scratch_with_hand_written_sgd():
    num_inputs, num_outputs, batch_size, lr = 64, 10, 8, 0.1
    W = torch.normal(0, 0.01, size=(num_inputs, num_outputs), requires_grad=True)
    b = torch.zeros(num_outputs, requires_grad=True)

    def softmax(X):
        X_exp = torch.exp(X)
        partition = X_exp.sum(1, keepdim=True)
        return X_exp / partition  # The broadcasting mechanism is applied here

    def net(X):
        return softmax(torch.matmul(X.reshape((-1, W.shape[0])), W) + b)

    def cross_entropy(y_hat, y):
        return - torch.log(y_hat[range(len(y_hat)), y])

    X, y = digits_like(batch_size, 1, 8)
    w_ref, b_ref = np.asarray(W).copy(), np.asarray(b).copy()
    x = np.asarray(X).reshape(batch_size, -1)
    for epoch in range(3):
        l = cross_entropy(net(X), y)
        l.sum().backward()  # Compute gradient on l with respect to [W, b]
        sgd([W, b], lr, batch_size)
        # by hand: the gradient of the summed cross-entropy is x^T (softmax - onehot)
        p = np.exp(x @ w_ref + b_ref)
        p /= p.sum(1, keepdims=True)
        p[np.arange(batch_size), np.asarray(y)] -= 1
        w_ref, b_ref = w_ref - lr * x.T @ p / batch_size, b_ref - lr * p.sum(0) / batch_size
        np.testing.assert_allclose(W.array, w_ref, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(b.array, b_ref, rtol=1e-12, atol=1e-15)
        assert W.is_leaf and W.requires_grad and not W.grad.array.any()
    assert accuracy(net(X), y) == float((np.argmax(x @ w_ref + b_ref, 1) == np.asarray(y)).sum())


def test_d2l_train_ch6_loop_with_reduction_none_and_helpers():
    torch.manual_seed(0)
    net = lenet()

    def init_weights(m):
        if type(m) == nn.Linear:
            nn.init.normal_(m.weight, 0, 0.01)
            m.bias.data.fill_(0)
        elif type(m) == nn.Conv2d:
            nn.init.xavier_uniform_(m.weight)

    net.apply(init_weights)
    assert all(not m.bias.array.any() for m in net if type(m) == nn.Linear)
    device = torch.device('cpu')
    net.to(device)
    train_iter = [digits_like(4, 1, 28) for _ in range(2)]
    lr = 0.9
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    loss = nn.CrossEntropyLoss(reduction='none')
    for epoch in range(2):
        metric = Accumulator(3)
        net.train()
        for i, (X, y) in enumerate(train_iter):
            optimizer.zero_grad()
            X, y = X.to(device), y.to(device)
            y_hat = net(X)
            l = loss(y_hat, y)
            assert l.shape == (4,)
            l.mean().backward()
            optimizer.step()
            with torch.no_grad():
                metric.add(l.sum(), accuracy(y_hat, y), X.shape[0])
        train_l = metric[0] / metric[2]
        test_acc = evaluate_accuracy_gpu(net, train_iter)
        assert np.isfinite(train_l) and 0 <= test_acc <= 1
    assert not net.training
    X, y = train_iter[0]
    predicted = np.argmax(by_hand(net, np.asarray(X)), axis=1)
    assert accuracy(net(X), y) == float((predicted == np.asarray(y)).sum())
    assert X.numel() == 4 * 28 * 28 and X.reshape(-1, 784).shape == (4, 784)
    assert X.view(X.size(0), -1).shape == (4, 784)
    assert torch.ones_like(X).sum().item() == X.numel() and torch.randn(2, 3).shape == (2, 3)
