"""minicnn.train.fit: records, schedules, exact resume, and each fault stopping with a clear message.

The loaders here are small classes written in the test (a shuffling loader with its own
generator over a dataset with a random transform), so these tests need nothing from minicnn.data.
"""
import errno
import json
import math
import signal

import numpy as np
import pytest

import minicnn as mc
from minicnn import functional as F, nn, optim
from minicnn.architectures import build
from minicnn.optim import lr_scheduler
from minicnn.train import classification_loss, fit, read_checkpoint, replace_head


class NoisyData:
    """Two Gaussian blobs as (4,) vectors, with a random transform that adds noise from its own generator."""

    def __init__(self, n=48, seed=0, noise_seed=1):
        rng = np.random.default_rng(seed)
        self.labels = rng.integers(0, 2, n)
        self.images = (rng.standard_normal((n, 4)) + 2.0 * self.labels[:, None]).astype(np.float32)
        self.noise = Jitter(np.random.default_rng(noise_seed))

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.noise(self.images[i]), self.labels[i]


class Jitter:
    def __init__(self, generator):
        self.generator = generator

    def __call__(self, x):
        return x + 0.1 * self.generator.standard_normal(x.shape).astype(np.float32)


class Loader:
    """A shuffling loader with a `generator` and a `dataset`, as minicnn.data.DataLoader has."""

    def __init__(self, dataset, batch_size, generator):
        self.dataset, self.batch_size, self.generator = dataset, batch_size, generator

    def __len__(self):
        return -(-len(self.dataset) // self.batch_size)

    def __iter__(self):
        order = self.generator.permutation(len(self.dataset))
        for start in range(0, len(order), self.batch_size):
            samples = [self.dataset[i] for i in order[start:start + self.batch_size]]
            yield mc.tensor(np.stack([s[0] for s in samples])), mc.tensor(np.array([s[1] for s in samples]))


def mlp(seed=0):
    g = np.random.default_rng(seed)
    return nn.Sequential(nn.Linear(4, 16, generator=g), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.3),
                         nn.Linear(16, 2, generator=g))


def setup(seed=0):
    """A fresh model, optimiser, scheduler and loaders; every random generator freshly seeded."""
    mc.manual_seed(seed)
    model = mlp(seed)
    optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    scheduler = lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    train = Loader(NoisyData(), 8, np.random.default_rng(seed + 7))
    val = [(mc.tensor(x), mc.tensor(y)) for x, y in Loader(NoisyData(16, seed=5), 8, np.random.default_rng(0))]
    return model, optimizer, scheduler, train, val


def run(out, epochs, resume=False, **kwargs):
    model, optimizer, scheduler, train, val = setup()
    history = fit(model, train, val, optimizer, epochs, scheduler, out=out, resume=resume, progress=False,
                  log=None, **kwargs)
    return model, optimizer, history


def same_weights(a, b):
    return all(np.array_equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_run_folder_and_records(tmp_path):
    model, _, history = run(tmp_path, 3)
    assert {p.name for p in tmp_path.iterdir()} == {"last.npz", "best.npz", "metrics.jsonl"}
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert lines == history and [r["epoch"] for r in lines] == [1, 2, 3]
    assert [r["lr"] for r in lines] == [0.1, 0.05, 0.025]  # StepLR stepped once per epoch
    assert set(lines[0]) == {"epoch", "lr", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "seconds"}
    assert lines[-1]["val_accuracy"] > 0.8
    saved = read_checkpoint(tmp_path / "last.npz")
    assert saved["epoch"] == 3 and saved["step_in_epoch"] == 0 and saved["global_step"] == 18
    assert set(saved["rng"]) == {"default", "loader", "dataset.noise.generator"}


def test_two_epochs_equal_one_plus_resume_one_bit_for_bit(tmp_path):
    straight, straight_opt, _ = run(tmp_path / "a", 2)
    run(tmp_path / "b", 1)
    resumed, resumed_opt, history = run(tmp_path / "b", 2, resume=True)
    assert same_weights(straight, resumed) and len(history) == 2
    for p, q in zip(straight.parameters(), resumed.parameters()):
        np.testing.assert_array_equal(straight_opt.state[id(p)]["momentum_buffer"],
                                      resumed_opt.state[id(q)]["momentum_buffer"])


def test_resume_after_ctrl_c_mid_epoch_is_exact(tmp_path):
    calls = []

    def interrupting_loss(logits, targets):
        calls.append(1)
        if len(calls) == 9:  # 6 steps + 1 validation, then epoch 2, step 2: as if Ctrl-C
            signal.raise_signal(signal.SIGINT)
        return F.cross_entropy(logits, targets)

    straight, _, _ = run(tmp_path / "a", 3)
    with pytest.raises(KeyboardInterrupt, match="interrupted at epoch 2, step 2 of 6.*resume=True"):
        run(tmp_path / "b", 3, loss_fn=interrupting_loss)
    saved = read_checkpoint(tmp_path / "b" / "last.npz")
    assert (saved["epoch"], saved["step_in_epoch"]) == (1, 2)
    resumed, _, _ = run(tmp_path / "b", 3, resume=True)
    assert same_weights(straight, resumed)


def test_resume_needs_a_checkpoint_and_the_same_architecture(tmp_path):
    model, optimizer, _, train, val = setup()
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        fit(model, train, val, optimizer, 1, out=tmp_path, resume=True, progress=False, log=None)
    run(tmp_path, 1)
    other = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2))
    with pytest.raises(ValueError, match=r"does not fit this model.*missing: 2\.\{weight,bias\}; unexpected: 1\.\{weight,bias,running_mean"):
        fit(other, train, val, optim.SGD(other.parameters(), lr=0.1), 2, out=tmp_path, resume=True,
            progress=False, log=None)


def test_label_out_of_range_stops_before_the_step():
    model = mlp()
    before = model.state_dict()
    batches = [(mc.tensor(np.zeros((3, 4), np.float32)), mc.tensor(np.array([0, 1, 12])))]
    with pytest.raises(ValueError, match=r"label 12 is out of range for a model with num_classes=2 .*epoch 1, step 1"):
        fit(model, batches, None, optim.SGD(model.parameters(), lr=0.1), 1, progress=False, log=None)
    assert same_weights_dict(before, model.state_dict())


def same_weights_dict(a, b):
    return all(np.array_equal(a[k], b[k]) for k in a if not k.endswith(("running_mean", "running_var", "num_batches_tracked")))


@pytest.mark.parametrize("arch, options, layer", [
    ("lenet5", {}, r"body\.c1 \(Conv2d\)"),
    ("resnet_cifar", dict(depth=8), r"body\.\w+(\.\w+)* \(Conv2d\)")])
def test_wrong_image_shape_names_the_layer(arch, options, layer):
    model = build(arch, **options)
    batches = [(mc.tensor(np.zeros((2, 3, 32, 32) if arch == "lenet5" else (2, 1, 32, 32), np.float32)),
                mc.tensor(np.array([0, 1])))]
    with pytest.raises(ValueError, match=rf"^in {layer}: conv2d: .*channels") as info:
        fit(model, batches, None, optim.SGD(model.parameters(), lr=0.1), 1, progress=False, log=None)
    assert "conv2d" in str(info.value.__cause__)  # the original error is kept


def test_empty_dataset():
    model = mlp()
    with pytest.raises(ValueError, match="training set is empty"):
        fit(model, Loader(NoisyData(0), 8, np.random.default_rng(0)), None, optim.SGD(model.parameters(), lr=0.1),
            1, progress=False, log=None)
    with pytest.raises(ValueError, match="validation set is empty"):
        fit(model, Loader(NoisyData(), 8, np.random.default_rng(0)), [], optim.SGD(model.parameters(), lr=0.1),
            1, progress=False, log=None)


def test_nan_loss_stops_naming_the_step_and_keeps_the_last_good_checkpoint(tmp_path):
    calls = []

    def loss_going_nan(logits, targets):
        calls.append(1)
        loss = F.cross_entropy(logits, targets)
        return loss * float("nan") if len(calls) == 8 else loss  # 6 steps + 1 validation: epoch 2, step 1

    with pytest.raises(FloatingPointError, match=r"loss is nan at epoch 2, step 1 of 6.*last good checkpoint is .*last\.npz"):
        run(tmp_path / "b", 3, loss_fn=loss_going_nan)
    good, _, _ = run(tmp_path / "a", 1)
    saved = read_checkpoint(tmp_path / "b" / "last.npz")
    assert saved["epoch"] == 1
    assert all(np.array_equal(saved["model"][k], v) for k, v in good.state_dict().items())


def test_full_disk_during_a_save_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    from minicnn import serialization
    run(tmp_path, 1)
    before = (tmp_path / "last.npz").read_bytes()
    real_savez = serialization.np.savez

    def savez_then_disk_full(file, **arrays):
        real_savez(file, **dict(list(arrays.items())[:2]))  # part of the archive reaches the disk
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(serialization.np, "savez", savez_then_disk_full)
    with pytest.raises(OSError, match="could not write the checkpoint .*No space left on device.*intact") as info:
        run(tmp_path, 2, resume=True)
    assert info.value.errno == errno.ENOSPC
    monkeypatch.undo()
    assert (tmp_path / "last.npz").read_bytes() == before and read_checkpoint(tmp_path / "last.npz")["epoch"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.npz", "last.npz", "metrics.jsonl"]


def test_one_cycle_is_stepped_per_batch_and_plateau_gets_the_val_loss():
    model, optimizer, _, train, val = setup()
    one_cycle = lr_scheduler.OneCycleLR(optimizer, max_lr=0.1, total_steps=12)
    fit(model, train, val, optimizer, 2, one_cycle, progress=False, log=None)
    assert one_cycle.last_epoch == 12

    class Recording(lr_scheduler.ReduceLROnPlateau):
        seen = []

        def step(self, metrics):
            self.seen.append(metrics)
            super().step(metrics)

    model, optimizer, _, train, val = setup()
    plateau = Recording(optimizer)
    history = fit(model, train, val, optimizer, 2, plateau, progress=False, log=None)
    assert plateau.seen == [r["val_loss"] for r in history]


def test_auxiliary_losses_weigh_0_3_each_in_training_only():
    rng = np.random.default_rng(0)
    logits = [mc.tensor(rng.standard_normal((4, 3))) for _ in range(3)]
    targets = np.array([0, 1, 2, 1])
    expected = sum(w * F.cross_entropy(t, targets).item() for w, t in zip((1.0, 0.3, 0.3), logits))
    assert classification_loss(tuple(logits), targets, F.cross_entropy, 0.3).item() == pytest.approx(expected)
    model = build("googlenet", aux_logits=True, width=0.125, input_size=80, num_classes=3)
    x = mc.tensor(rng.random((2, 3, 80, 80), dtype=np.float32))
    assert isinstance(model.train()(x), tuple) and not isinstance(model.eval()(x), tuple)
    batches = [(x, mc.tensor(np.array([0, 2])))]
    history = fit(model, batches, batches, optim.SGD(model.parameters(), lr=0.01), 1, progress=False, log=None)
    assert math.isfinite(history[0]["train_loss"]) and math.isfinite(history[0]["val_loss"])


def test_label_smoothing_reaches_the_loss():
    g = np.random.default_rng(0)
    model = nn.Linear(4, 3, generator=g)
    x, y = g.standard_normal((5, 4)).astype(np.float32), np.array([0, 1, 2, 0, 1])
    history = fit(model, [(mc.tensor(x), mc.tensor(y))], None, optim.SGD(model.parameters(), lr=0.0), 1,
                  label_smoothing=0.2, progress=False, log=None)
    z = x.astype(np.float64) @ model.weight.array.T.astype(np.float64) + model.bias.array
    log_p = z - z.max(1, keepdims=True) - np.log(np.exp(z - z.max(1, keepdims=True)).sum(1, keepdims=True))
    q = 0.8 * np.eye(3)[y] + 0.2 / 3
    assert history[0]["train_loss"] == pytest.approx(-(q * log_p).sum(1).mean(), rel=1e-5)


def test_frozen_backbone_fine_tune_changes_only_the_head():
    model = build("lenet5", generator=np.random.default_rng(0))
    replace_head(model, 3, generator=np.random.default_rng(1))
    assert model.head.out_features == 3
    model.body.freeze()
    body_before, head_before = model.body.state_dict(), model.head.state_dict()
    x = np.random.default_rng(2).random((6, 1, 32, 32), dtype=np.float32)
    batches = [(mc.tensor(x), mc.tensor(np.array([0, 1, 2, 0, 1, 2])))]
    fit(model, batches, None, optim.SGD(model.parameters(), lr=0.1, weight_decay=0.1), 2, progress=False, log=None)
    assert same_weights_dict(body_before, model.body.state_dict())
    assert not np.array_equal(head_before["weight"], model.head.weight.array)


def test_replace_head_on_auxiliary_classifiers_and_bad_models():
    model = build("googlenet", aux_logits=True, width=0.125, input_size=80, num_classes=5)
    replace_head(model, 2)
    x = mc.tensor(np.zeros((1, 3, 80, 80), np.float32))
    assert [t.shape for t in model.train()(x)] == [(1, 2)] * 3
    with pytest.raises(TypeError, match="no Linear layer"):
        replace_head(_headless(), 2)


def _headless():
    m = nn.Module()
    m.head = nn.ReLU()
    return m


def test_stochastic_depth_resnet_evaluates_the_full_net_deterministically():
    model = build("stochastic_depth_resnet_cifar", depth=8, generator=np.random.default_rng(0))
    x = mc.tensor(np.random.default_rng(1).random((2, 3, 32, 32), dtype=np.float32))
    model.eval()
    first = model(x).array
    mc.manual_seed(123)
    np.testing.assert_array_equal(first, model(x).array)


def test_progress_bar_and_summary_lines_when_stdout_is_not_a_terminal(capsys):
    model, optimizer, _, train, val = setup()
    fit(model, train, val, optimizer, 2, progress=True)
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert len(lines) == 2 and lines[1].startswith("epoch   2/2  lr 0.1  train loss") and "val loss" in lines[1]
    assert "img/s" not in out  # tqdm disables itself off a terminal
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # Ctrl-C works as usual again
