"""The bundled digits, the loader, checkpoints, and `python -m minicnn` end to end."""
import os
import subprocess
import sys

import numpy as np
import pytest

import minicnn as mc
from minicnn import nn
from minicnn.__main__ import main
from minicnn.data import DataLoader, TensorDataset, load_digits


def test_digits_are_the_uci_set():
    x, y = load_digits("all")
    assert x.shape == (1797, 1, 8, 8) and y.shape == (1797,) and x.dtype == np.float32
    assert x.min() == 0.0 and x.max() == 1.0  # 0..16 counts scaled by 1/16
    assert np.bincount(y).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


def test_split_is_fixed_disjoint_and_complete():
    xa, ya = load_digits("train", flatten=True)
    xb, yb = load_digits("test", flatten=True)
    assert len(ya) == 1438 and len(yb) == 359 and xa.shape == (1438, 64)
    again, _ = load_digits("train", flatten=True)
    np.testing.assert_array_equal(xa, again)
    everything = {row.tobytes() for row in load_digits("all", flatten=True)[0]}
    assert {row.tobytes() for row in np.concatenate([xa, xb])} == everything
    with pytest.raises(ValueError, match="split must be"):
        load_digits("validation")


def test_loader_batches_and_seeded_shuffle():
    x, y = np.arange(10).reshape(10, 1), np.arange(10)
    batches = list(DataLoader(TensorDataset(x, y), batch_size=4))
    assert [len(b[1]) for b in batches] == [4, 4, 2]
    assert len(DataLoader(TensorDataset(x, y), 4, drop_last=True)) == 2
    shuffled = lambda: [b[1].array.tolist() for b in DataLoader(TensorDataset(x, y), 4, shuffle=True,
                                                                 generator=np.random.default_rng(5))]
    first, second = shuffled(), shuffled()
    assert first == second and sorted(sum(first, [])) == list(range(10))
    with pytest.raises(ValueError, match="got lengths \\[10, 9\\]"):
        TensorDataset(x, y[:9])
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        DataLoader(TensorDataset(x, y), 0)


@pytest.mark.parametrize("model, epochs", [("lenet5", 5), ("mlp", 12)])
def test_main_job_reaches_95_percent(capsys, model, epochs):
    assert main(["--model", model, "--epochs", str(epochs)]) == 0
    out = capsys.readouterr().out
    assert out.count("epoch ") == epochs and model in out.splitlines()[0]
    accuracy = float(out.strip().splitlines()[-1].split()[3].rstrip("%"))
    assert accuracy >= 95.0


def test_main_rejects_bad_arguments():
    with pytest.raises(SystemExit):
        main(["--epochs", "0"])


def test_python_dash_m_minicnn_runs():
    result = subprocess.run([sys.executable, "-m", "minicnn", "--epochs", "1"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "final test accuracy" in result.stdout


def test_checkpoint_round_trip(tmp_path):
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    opt = mc.optim.Adam(model.parameters(), lr=0.01)
    model(mc.tensor(np.ones((2, 3), np.float32))).sum().backward()
    opt.step()
    path = tmp_path / "ckpt.npz"
    mc.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3}, path)
    loaded = mc.load(path)
    assert loaded["epoch"] == 3
    restored = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    restored.load_state_dict(loaded["model"])
    for a, b in zip(model.parameters(), restored.parameters()):
        np.testing.assert_array_equal(a.array, b.array)
    opt2 = mc.optim.Adam(restored.parameters(), lr=0.01)
    opt2.load_state_dict(loaded["optimizer"])
    assert opt2.state_dict()["state"][0]["step"] == 1
    assert opt2.param_groups[0]["betas"] == (0.9, 0.999)


def test_interrupted_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    mc.save({"w": np.ones(3)}, path)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # the process is interrupted in the middle of writing

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        mc.save({"w": np.zeros(3)}, path)
    monkeypatch.undo()
    np.testing.assert_array_equal(mc.load(path)["w"], np.ones(3))
    assert os.listdir(tmp_path) == ["ckpt.npz"]  # no temporary file left behind


def test_save_refuses_what_it_cannot_store(tmp_path):
    with pytest.raises(TypeError, match="cannot save a object"):
        mc.save({"bad": object()}, tmp_path / "x.npz")
    np.savez(tmp_path / "plain.npz", a=np.ones(2))
    with pytest.raises(ValueError, match="not a minicnn checkpoint"):
        mc.load(tmp_path / "plain.npz")
