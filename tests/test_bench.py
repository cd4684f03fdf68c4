"""python -m minicnn.bench --quick: every layer, algorithm and pass runs and reports sane numbers."""
import json

import numpy as np
import pytest

from minicnn import kernels
from minicnn.bench.__main__ import main
from minicnn.bench.baselines import NumpyConv
from minicnn.bench.layers import LAYERS


def test_quick_bench_runs_every_layer_and_algorithm(tmp_path, capsys):
    out = tmp_path / "bench.json"
    csv_path = tmp_path / "bench.csv"
    assert main(["--quick", "--repeats", "2", "--budget", "0.01", "--json", str(out), "--csv", str(csv_path)]) == 0
    printed = capsys.readouterr().out
    assert "SGEMM" in printed and "BLAS" in printed and "auto ->" in printed
    data = json.loads(out.read_text())
    results = data["results"]
    assert {r["layer"] for r in results} == set(LAYERS)
    assert {r["algorithm"] for r in results} == set(kernels.ALGORITHMS)
    assert {r["pass_name"] for r in results} == {"fwd", "bwd_data", "bwd_weight"}
    for r in results:
        if r["reason"] is None:
            assert r["median_ms"] > 0 and r["gflops"] > 0 and r["numpy_ms"] > 0
            assert r["rel_error"] < 1e-4, r  # float32 against the float64 reference
        assert r["auto"] in kernels.ALGORITHMS
    assert csv_path.read_text().count("\n") == len(results) + 1


def test_bench_rejects_unknown_names():
    with pytest.raises(SystemExit, match="unknown layers: nope"):
        main(["--quick", "--layers", "nope"])
    with pytest.raises(SystemExit, match="unknown algorithms"):
        main(["--quick", "--algorithms", "magic"])


def _reference_conv(x, w, stride, pad, groups):
    """Plain loops over output positions (float64), written from the definition."""
    n, c, h, wd = x.shape
    k, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])))
    oh, ow = (h + 2 * pad[0] - kh) // stride + 1, (wd + 2 * pad[1] - kw) // stride + 1
    y = np.zeros((n, k, oh, ow))
    kg = k // groups
    for o in range(k):
        g = o // kg
        for i in range(oh):
            for j in range(ow):
                patch = xp[:, g * cg:(g + 1) * cg, i * stride:i * stride + kh, j * stride:j * stride + kw]
                y[:, o, i, j] = np.tensordot(patch, w[o], axes=3)
    return y


@pytest.mark.parametrize("name", ["alexnet_conv1", "incv3_1x7", "resnext50_g32", "mobilenet_dw3x3"])
def test_numpy_baseline_is_a_correct_convolution(name):
    layer = LAYERS[name].shrunk()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((layer.batch, layer.channels, layer.size, layer.size))
    w = rng.standard_normal((layer.filters, layer.channels // layer.groups) + layer.kernel)
    conv = NumpyConv(layer)
    y = conv.forward(x, w)
    np.testing.assert_allclose(y, _reference_conv(x, w, layer.stride, layer.padding, layer.groups), atol=1e-10)
    gy = rng.standard_normal(y.shape)
    gx = conv.backward_data(gy, w, x.shape)
    gw = conv.backward_weight(x, gy, w.shape)
    # adjoint identities: <conv(x), gy> = <x, gx> and = <w, gw>
    assert np.sum(y * gy) == pytest.approx(np.sum(x * gx), rel=1e-10)
    assert np.sum(y * gy) == pytest.approx(np.sum(w * gw), rel=1e-10)


def test_plot_is_written_when_matplotlib_is_installed(tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "bench.png"
    assert main(["--quick", "--layers", "lenet5_c3,resnet18_3x3", "--algorithms", "im2col,direct",
                 "--no-numpy", "--repeats", "2", "--budget", "0.01", "--plot", str(path)]) == 0
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
