"""The bundled digits, the loader, and `python -m minicnn` end to end."""
import subprocess
import sys

import numpy as np
import pytest

from minicnn.__main__ import main
from minicnn.data import DataLoader, load_digits


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
    batches = list(DataLoader(x, y, batch_size=4))
    assert [len(b[1]) for b in batches] == [4, 4, 2]
    assert len(DataLoader(x, y, 4, drop_last=True)) == 2
    first = [b[1].tolist() for b in DataLoader(x, y, 4, shuffle=True, generator=np.random.default_rng(5))]
    second = [b[1].tolist() for b in DataLoader(x, y, 4, shuffle=True, generator=np.random.default_rng(5))]
    assert first == second and sorted(sum(first, [])) == list(range(10))
    with pytest.raises(ValueError, match="10 inputs but 9 targets"):
        DataLoader(x, y[:9])
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        DataLoader(x, y, 0)


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
