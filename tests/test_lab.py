"""minicnn.lab: every experiment in --quick mode through the command line, its numbers against
closed forms where there are some, and its verdict against its rule re-read from its own table."""
import numpy as np
import pytest

from minicnn import nn
from minicnn.__main__ import main as minicnn_main
from minicnn.architectures import build
from minicnn.functional.conv import conv_geometry
from minicnn.lab import EXPERIMENTS, run
from minicnn.lab.algorithms import multiplications
from minicnn.lab.training import plain_cifar


@pytest.fixture(scope="module")
def reports():
    """Every experiment's quick report, run once."""
    return {name: run(name, quick=True) for name in EXPERIMENTS}


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_every_experiment_prints_a_table_and_a_verdict(reports, name):
    report = reports[name]
    assert isinstance(report.held, bool)
    text = report.text()
    lines = text.splitlines()
    assert lines[0].startswith(f"lab {name}: ")
    assert lines[-1].startswith("claim HELD on this run: " if report.held else "claim did NOT hold on this run: ")
    assert all(len(row) == len(report.header) for row in report.rows)


def test_stacked_3x3_closed_forms(reports):
    rows = {row[0]: row for row in reports["stacked-3x3"].rows}
    c = 8  # quick mode's channels
    assert rows["1 x (7x7)"][1:3] == [7, 49 * c * c]
    assert rows["3 x (3x3)"][1:3] == [7, 27 * c * c]
    assert rows["1 x (5x5)"][1:3] == [5, 25 * c * c]
    assert rows["2 x (3x3)"][1:3] == [5, 18 * c * c]
    assert reports["stacked-3x3"].held


def test_bottleneck_closed_forms(reports):
    naive, reduced = reports["bottleneck-1x1"].rows
    # weights + biases of each convolution, from table 1 of Szegedy et al. for inception (3a)
    assert naive[2] == (192 * 64 + 64) + (192 * 128 * 9 + 128) + (192 * 32 * 25 + 32)
    assert reduced[2] == ((192 * 64 + 64) + (192 * 96 + 96) + (96 * 128 * 9 + 128) + (192 * 16 + 16)
                          + (16 * 32 * 25 + 32) + (192 * 32 + 32))
    assert (naive[1], reduced[1]) == (64 + 128 + 32 + 192, 256)
    assert reports["bottleneck-1x1"].held


def test_verdicts_follow_their_rules(reports):
    """Each rule re-read from the report's own table: a verdict is measured, never forced."""
    relu, tanh = reports["relu-vs-tanh"].rows
    never = 10 ** 6
    reach = [r[1] if isinstance(r[1], int) else never for r in (relu, tanh)]
    assert reports["relu-vs-tanh"].held == (reach[0] < never and reach[0] < reach[1])
    plain, dropped = reports["dropout"].rows
    assert reports["dropout"].held == (dropped[5] < plain[5])
    plain, bn = reports["batchnorm"].rows
    a, b = (r[1] if isinstance(r[1], int) else never for r in (plain, bn))
    assert reports["batchnorm"].held == (b < a or (a == b and bn[2] < plain[2]))
    rows = {row[0]: row for row in reports["vanishing-gradients"].rows}
    loss = {name: row[5] for name, row in rows.items()}
    assert reports["vanishing-gradients"].held == (rows["plain-8"][6] > 20 and loss["plain-14"] > loss["plain-8"]
                                                   and loss["ResNet-14"] <= 1.1 * loss["ResNet-8"])


def test_params_matches_the_published_counts(reports):
    rows = {row[0]: row for row in reports["params"].rows}
    assert rows["lenet5"][2] == 61_706
    assert rows["resnet_cifar depth=20"][2] == 269_722 == rows["resnet_cifar depth=20"][3]


def test_winograd_multiplication_counts():
    x, w = np.zeros((1, 4, 8, 8), np.float32), np.zeros((4, 4, 3, 3), np.float32)
    geometry = conv_geometry("test", x, w, None, 1, 1, 1, 1, 2)
    direct = 4 * 4 * 64 * 9
    assert multiplications(geometry) == direct
    assert multiplications(geometry, 2) == 4 * 4 * 16 * 16  # 16 tiles of 2x2, 4x4 products each
    assert multiplications(geometry, 4) == 4 * 4 * 4 * 36  # 4 tiles of 4x4, 6x6 products each


def test_plain_net_is_the_resnet_without_shortcuts():
    g = np.random.default_rng(0)
    plain, residual = plain_cifar(20, 0.5, g), build("resnet_cifar", depth=20, width=0.5, generator=g)
    assert not any(isinstance(m, nn.Residual) for m in plain.modules())
    assert sum(p.numel() for p in plain.parameters()) == sum(p.numel() for p in residual.parameters())
    convs = [m for m in plain.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 19  # 20 weighted layers: 19 convolutions and the classifier


def test_lab_command_line(tmp_path, capsys):
    assert minicnn_main(["lab", "list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in listed] == list(EXPERIMENTS)
    out = tmp_path / "lab.png"
    assert minicnn_main(["lab", "bottleneck-1x1", "--quick", "--plot", str(out)]) == 0
    assert "claim HELD" in capsys.readouterr().out
    assert out.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(SystemExit):
        minicnn_main(["lab", "no-such-experiment"])
    with pytest.raises(ValueError, match="unknown experiment"):
        run("no-such-experiment")
