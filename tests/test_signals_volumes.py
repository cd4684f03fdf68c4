"""1-D signals and 3-D volumes: the seeded datasets, BatchNorm3d, and the small 1-D and 3-D CNNs
learning them. (cnn1d and cnn3d are also gradchecked whole, with conv3d, max_pool3d and
BatchNorm3d in both modes, in test_architectures_gradcheck.py.)"""
import numpy as np
import pytest

import minicnn
from minicnn import Tensor, gradcheck, nn, no_grad, optim
from minicnn import functional as F
from minicnn.architectures import build
from minicnn.data import DataLoader, Signals, Volumes


@pytest.mark.parametrize("make", [lambda **k: Signals(60, length=64, **k), lambda **k: Volumes(40, size=8, **k)],
                         ids=["signals", "volumes"])
def test_a_seed_gives_the_same_bytes_and_splits_differ(make):
    a, b = make(seed=3), make(seed=3)
    assert a.images.tobytes() == b.images.tobytes() and a.labels.tobytes() == b.labels.tobytes()
    assert not np.array_equal(make(seed=4).images, a.images)
    assert not np.array_equal(make(seed=3, split="test").images, a.images)
    assert a.images.dtype == np.float32 and a.labels.dtype == np.int64
    counts = np.bincount(a.labels, minlength=len(a.classes))
    assert counts.max() - counts.min() <= 1  # balanced


def test_layouts_and_the_data_api():
    signals = Signals(12, length=64, channels=4)
    assert signals.signals is signals.images and signals.signals.shape == (12, 4, 64)
    assert signals.classes == ["tone", "chirp", "noise_burst", "square", "sawtooth", "pulses"]
    volumes = Volumes(8, size=12)
    assert volumes.volumes is volumes.images and volumes.volumes.shape == (8, 1, 12, 12, 12)
    assert volumes.classes == ["blob", "tube", "shell", "plate"]
    x, y = signals[5]
    assert x.shape == (4, 64) and y == signals.labels[5]
    batches = list(DataLoader(volumes, batch_size=3))
    assert [b[0].shape for b in batches] == [(3, 1, 12, 12, 12), (3, 1, 12, 12, 12), (2, 1, 12, 12, 12)]
    flipped = Signals(4, length=32, transform=lambda s: s[:, ::-1])
    np.testing.assert_array_equal(flipped[1][0], flipped.signals[1][:, ::-1])


def test_volumes_hold_an_object_away_from_the_border():
    """Without noise the value is background + contrast x coverage; the object must not touch the faces."""
    volumes = Volumes(40, size=16, seed=1)
    faces = np.concatenate([v[0, [0, -1]].ravel() for v in volumes.volumes] +
                           [v[0, :, [0, -1]].ravel() for v in volumes.volumes] +
                           [v[0, :, :, [0, -1]].ravel() for v in volumes.volumes])
    centres = volumes.volumes[:, 0, 4:12, 4:12, 4:12].reshape(40, -1)
    # faces: background plus noise only (below 0.3 + 4 sigma of the largest noise); the object
    # raises the centre of every volume well above its faces
    assert faces.max() < 0.3 + 4 * 0.15
    face_means = np.array([np.mean([v[0, 0], v[0, -1]]) for v in volumes.volumes])
    assert (centres.max(axis=1) > face_means + 0.3).all()


def nearest_class_mean_accuracy(train, test):
    means = np.stack([train.images[train.labels == c].reshape(-1, train.images[0].size).mean(0)
                      for c in range(len(train.classes))])
    flat = test.images.reshape(len(test), -1)
    predicted = ((flat[:, None, :] - means[None]) ** 2).sum(axis=2).argmin(axis=1)
    return np.mean(predicted == test.labels)


def test_the_signal_classes_are_not_separable_by_their_mean_waveform():
    """Random phases and delays: a template per class is close to chance (1/6), so the CNN must
    learn the shape of the wave, not memorise a waveform."""
    assert nearest_class_mean_accuracy(Signals(600, length=128), Signals(300, length=128, split="test")) < 0.35


@pytest.mark.parametrize("call, message", [
    (lambda: Signals(-1), "num_samples must be a non-negative integer"),
    (lambda: Signals(4, length=8), "length must be an integer >= 16"),
    (lambda: Signals(4, channels=0), "channels must be a positive integer"),
    (lambda: Signals(4, split="val"), "split must be 'train' or 'test'"),
    (lambda: Volumes(4, size=4), "size must be an integer >= 8"),
    (lambda: Volumes(4, seed=-2), "seed must be a non-negative integer"),
])
def test_bad_arguments_are_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_batch_norm_3d_normalises_each_channel_over_batch_and_volume():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 2, 4, 3, 5)) * [[[[[2.0]]], [[[0.5]]]]] + 1.0
    layer = nn.BatchNorm3d(2, momentum=0.5).double()
    layer.weight.array[...] = [1.5, -0.5]
    layer.bias.array[...] = [0.2, 0.3]
    y = layer(Tensor(x)).array
    for c in range(2):  # the definition, channel by channel
        values = x[:, c]
        expected = (values - values.mean()) / np.sqrt(values.var() + 1e-5) * layer.weight.array[c] + layer.bias.array[c]
        np.testing.assert_allclose(y[:, c], expected, rtol=1e-10)
        assert layer.running_var.array[c] == pytest.approx(0.5 + 0.5 * values.var(ddof=1))
    with pytest.raises(ValueError, match="BatchNorm3d: expected a 5-D input"):
        layer(Tensor(x[:, :, 0]))
    with pytest.raises(ValueError, match="BatchNorm3d: expected 2 channels"):
        layer(Tensor(x[:, :1]))
    lazy = nn.LazyBatchNorm3d()
    lazy(Tensor(x.astype(np.float32)))
    assert lazy.num_features == 2


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_batch_norm_3d_gradcheck(training):
    rng = np.random.default_rng(1)
    layer = nn.BatchNorm3d(2).double()
    layer.weight.array[...] = rng.standard_normal(2)
    layer.bias.array[...] = rng.standard_normal(2)
    layer.running_mean.array[...] = rng.standard_normal(2)
    layer.train(training)
    x = Tensor(rng.standard_normal((2, 2, 3, 2, 3)), requires_grad=True)
    assert gradcheck(layer, [x])


def train_classifier(arch, train, test, epochs, lr=0.01, batch_size=32):
    """Adam on the training set, the learning rate falling linearly to 0; returns the test accuracy."""
    minicnn.manual_seed(0)
    model = build(arch, num_classes=len(train.classes), in_channels=train.images.shape[1],
                  input_size=train.images.shape[-1], generator=np.random.default_rng(0))
    optimizer = optim.Adam(model.parameters(), lr=lr)
    loader = DataLoader(train, batch_size, shuffle=True, generator=np.random.default_rng(1))
    steps = epochs * len(loader)
    for step, (inputs, labels) in enumerate(batch for _ in range(epochs) for batch in loader):
        optimizer.param_groups[0]["lr"] = lr * (1 - step / steps)
        loss = F.cross_entropy(model(inputs), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with no_grad():
        return np.mean(model(Tensor(test.images)).array.argmax(axis=1) == test.labels)


# Reduced runs (the full ones, by the command line, reach ~90% and ~95%): well above chance
# (1/6 and 1/4), a fraction of a minute each.
def test_cnn1d_learns_the_signals():
    accuracy = train_classifier("cnn1d", Signals(1500), Signals(300, split="test"), epochs=5, lr=0.003)
    assert accuracy >= 0.7


def test_cnn3d_learns_the_volumes():
    accuracy = train_classifier("cnn3d", Volumes(1000, size=8), Volumes(200, size=8, split="test"), epochs=6,
                                lr=0.003)
    assert accuracy >= 0.7
