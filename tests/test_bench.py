"""python -m minicnn.bench: every layer, algorithm and pass runs and reports sane numbers; models,
ad-hoc layers, measured workspace, the NaN count and the error messages."""
import json
import sys

import numpy as np
import pytest

from minicnn import kernels
from minicnn.bench import machine, report, runner
from minicnn.bench.__main__ import main
from minicnn.bench.baselines import NumpyConv
from minicnn.bench.layers import LAYERS, Layer, parse_layer

QUICK = ["--quick", "--repeats", "2", "--budget", "0.01", "--no-progress"]


def test_quick_bench_runs_every_layer_and_algorithm(tmp_path, capsys):
    out = tmp_path / "bench.json"
    csv_path = tmp_path / "bench.csv"
    assert main(QUICK + ["--json", str(out), "--csv", str(csv_path)]) == 0
    printed = capsys.readouterr().out
    assert "SGEMM" in printed and "BLAS" in printed and "Summary over 15 layers" in printed
    table = printed.split("\n\n")[1].splitlines()
    assert table[1].split()[:3] == ["layer", "shape", "fastest"]  # no count column: every layer is one
    assert [line.split()[0] for line in table[3:]] == list(LAYERS)  # one line per layer
    data = json.loads(out.read_text())
    results = data["results"]
    assert {r["layer"] for r in results} == set(LAYERS)
    assert {r["algorithm"] for r in results} == {n for n, a in kernels.ALGORITHMS.items() if a.automatic}
    assert {r["pass_name"] for r in results} == {"fwd", "bwd_data", "bwd_weight"}
    for r in results:
        if r["reason"] is None:
            assert r["median_ms"] > 0 and r["gflops"] > 0 and r["numpy_ms"] > 0
            assert r["rel_error"] < 1e-4, r  # float32 against the float64 reference
            assert r["measured_workspace_bytes"] >= 0
            assert (r["nan_outputs"] is not None) == (r["pass_name"] == "fwd")
        assert r["auto"] in kernels.ALGORITHMS  # no layer of the default set is run through a wrapper
    im2col = [r for r in results if r["algorithm"] == "im2col" and r["pass_name"] == "fwd"]
    assert all(r["measured_workspace_bytes"] <= r["workspace_bytes"] for r in im2col)  # the declared bound holds
    assert all(r["nan_outputs"] == r["nan_expected"] for r in im2col)  # im2col keeps NaNs in their windows
    assert csv_path.read_text().count("\n") == len(results) + 1


def test_verbose_shows_every_algorithm(capsys):
    """Every algorithm auto may choose by default; the reference loops only when asked for."""
    assert main(QUICK + ["--layers", "lenet5_c3", "--verbose"]) == 0
    printed = capsys.readouterr().out
    for name, algorithm in kernels.ALGORITHMS.items():
        assert (f" {name} " in printed) == algorithm.automatic
    assert main(QUICK + ["--layers", "lenet5_c3", "--verbose", "--algorithms", "reference,direct"]) == 0
    assert " reference " in capsys.readouterr().out
    assert "NaN reach" in printed and "(declared)" in printed


def test_bench_rejects_unknown_names_with_exit_code_2(capsys):
    assert main(["--quick", "--layers", "nope"]) == 2
    assert capsys.readouterr().err.strip().endswith("unknown layers: nope; choose from " + ", ".join(LAYERS))
    assert main(["--quick", "--algorithms", "magic"]) == 2
    assert "unknown algorithms: magic" in capsys.readouterr().err


@pytest.mark.parametrize("module, option", [("matplotlib", ["--plot", "x.png"]), ("torch", ["--compare", "torch"])])
def test_missing_optional_dependency_is_reported_before_any_work(monkeypatch, capsys, module, option):
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    monkeypatch.setattr(machine, "describe", lambda: pytest.fail("measured before checking dependencies"))
    assert main(QUICK + option) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and f"minicnn[{'plot' if module == 'matplotlib' else 'compare'}]" in err


def test_one_ad_hoc_layer(tmp_path, capsys):
    out = tmp_path / "layer.json"
    assert main(QUICK + ["--layer", "2,3,9,8,4,3,2,2,1,2,1", "--algorithms", "im2col,direct", "--json", str(out)]) == 0
    assert "N2 C3 9x8 K4 3x2 s2 p1 d2" in capsys.readouterr().out
    results = json.loads(out.read_text())["results"]
    assert len(results) == 6 and all(r["rel_error"] < 1e-5 for r in results)


@pytest.mark.parametrize("spec, auto", [
    ("4,16,5,5,12,5,5,1,0,1,1", "gemm (whole input)"),  # LeNet-5's C5: a kernel as large as the map
    ("4,8,1,1,8,3,3,1,1,1,1", "gemm (1x1 live)"),       # a 3x3 "same" convolution on a 1x1 map
])
def test_auto_is_what_auto_runs_when_it_wraps_an_algorithm(tmp_path, spec, auto):
    """Layers "auto" runs through a wrapper: the bench measures the wrapper under its own name and
    compares it with the registered algorithms, rather than reporting the heuristic's plain name."""
    out = tmp_path / "layer.json"
    assert main(QUICK + ["--layer", spec, "--json", str(out)]) == 0
    results = json.loads(out.read_text())["results"]
    assert {r["auto"] for r in results} == {auto}
    wrapped = [r for r in results if r["algorithm"] == auto]
    assert {r["pass_name"] for r in wrapped} == {"fwd", "bwd_data", "bwd_weight"}
    assert all(r["median_ms"] > 0 and r["rel_error"] < 1e-5 for r in wrapped)


@pytest.mark.parametrize("spec, message", [
    ("1,3,8,8,4,3,3,1,0", None),
    ("1,3,8,8,4,3,3,1,1,1,1", None),
    ("1,3,8,8,4,3,3,1", "got 8 fields"),
    ("1,3,8,x,4,3,3,1,1,1,1", "field W must be an integer, got 'x'"),
    ("1,3,8,8,4,3,3,0,1,1,1", "field stride must be positive"),
    ("1,3,8,8,4,3,3,1,-1,1,1", "field pad must be >= 0"),
    ("1,3,8,8,4,3,3,1,1,1,2", "groups=2 must divide C=3"),
    ("1,3,2,8,4,5,3,1,0,1,1", "does not fit H=2"),
])
def test_layer_spec(spec, message):
    if message is None:
        layer = parse_layer(spec)
        assert (layer.batch, layer.channels, layer.kernel, layer.stride, layer.padding) == \
            (1, 3, (3, 3), (1, 1), ((1, 1), (1, 1)) if spec.count(",") == 10 else ((0, 0), (0, 0)))
    else:
        with pytest.raises(ValueError, match=message.replace("(", r"\(")):
            parse_layer(spec)


def test_user_module_convolutions_are_found_deduplicated_and_totalled(tmp_path, monkeypatch, capsys):
    (tmp_path / "my_net.py").write_text(
        "from minicnn import nn\n"
        "def build():\n"
        "    return nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1),\n"
        "                         nn.Conv2d(4, 4, 3, padding=1), nn.Conv2d(4, 6, 1, stride=2))\n")
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "model.json"
    assert main(QUICK + ["--module", "my_net:build", "--input-size", "6", "--batch", "2",
                         "--algorithms", "im2col,direct,gemm", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "4 layers, 3 distinct" in printed and "whole model with algorithm='auto'" in printed
    assert "  x  shape" in printed  # the count column
    data = json.loads(out.read_text())
    counts = {r["description"]: r["count"] for r in data["results"]}
    assert counts == {"N2 C2 6x6 K4 3x3 s1 p1": 1, "N2 C4 6x6 K4 3x3 s1 p1": 2, "N2 C4 6x6 K6 1x1 s2 p0": 1}
    totals = data["model"]["totals"]
    assert totals["gemm"] is None  # cannot run the 3x3 layers
    for choice in ("im2col", "direct"):
        expected = sum(r["count"] * r["median_ms"] for r in data["results"]
                       if r["algorithm"] == choice and r["pass_name"] == "fwd")
        assert totals[choice]["fwd"] == pytest.approx(expected)
    assert data["model"]["whole_forward_ms"] > 0


def test_model_errors_are_one_line(capsys):
    assert main(QUICK + ["--module", "nowhere:build", "--input-size", "8"]) == 2
    assert main(QUICK + ["--module", "nowhere:build"]) == 2
    assert main(QUICK + ["--model", "resnet9000"]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 3 and "No module named 'nowhere'" in errors[0]
    assert "needs --input-size" in errors[1] and "unknown architecture 'resnet9000'" in errors[2]


def _reference_conv(x, w, stride, padding, dilation, groups):
    """Plain loops over output positions (float64), written from the definition."""
    (sh, sw), (dh, dw), ((top, bottom), (left, right)) = stride, dilation, padding
    n, c, h, wd = x.shape
    k, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    oh = (h + top + bottom - dh * (kh - 1) - 1) // sh + 1
    ow = (wd + left + right - dw * (kw - 1) - 1) // sw + 1
    y = np.zeros((n, k, oh, ow))
    kg = k // groups
    for o in range(k):
        g = o // kg
        for i in range(oh):
            for j in range(ow):
                patch = xp[:, g * cg:(g + 1) * cg, i * sh:i * sh + dh * (kh - 1) + 1:dh,
                           j * sw:j * sw + dw * (kw - 1) + 1:dw]
                y[:, o, i, j] = np.tensordot(patch, w[o], axes=3)
    return y


def _ad_hoc(name, c, h, w, k, kernel, stride, padding, dilation, groups):
    return Layer(name, 2, c, h, w, k, kernel, stride, padding, dilation, groups)


GEOMETRIES = [LAYERS[n].shrunk() for n in ("alexnet_conv1", "incv3_1x7", "resnext50_g32", "mobilenet_dw3x3")] + [
    _ad_hoc("dilated_uneven", 3, 9, 8, 4, (3, 2), (1, 2), ((1, 0), (2, 1)), (2, 3), 1),
]


@pytest.mark.parametrize("layer", GEOMETRIES, ids=lambda layer: layer.name)
def test_numpy_baseline_is_a_correct_convolution(layer):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((layer.batch, layer.channels, layer.height, layer.width))
    w = rng.standard_normal((layer.filters, layer.channels // layer.groups) + layer.kernel)
    conv = NumpyConv(layer)
    y = conv.forward(x, w)
    np.testing.assert_allclose(y, _reference_conv(x, w, layer.stride, layer.padding, layer.dilation, layer.groups),
                               atol=1e-10)
    gy = rng.standard_normal(y.shape)
    gx = conv.backward_data(gy, w, x.shape)
    gw = conv.backward_weight(x, gy, w.shape)
    # adjoint identities: <conv(x), gy> = <x, gx> and = <w, gw>
    assert np.sum(y * gy) == pytest.approx(np.sum(x * gx), rel=1e-10)
    assert np.sum(y * gy) == pytest.approx(np.sum(w * gw), rel=1e-10)


@pytest.mark.parametrize("layer", GEOMETRIES, ids=lambda layer: layer.name)
def test_nan_reach_counts_the_outputs_of_the_definition(layer):
    geometry = layer.geometry(np.float64)
    x = np.zeros(geometry.input_shape[:2] + geometry.input_shape[3:])
    x[runner.nan_position(geometry)[:2] + runner.nan_position(geometry)[3:]] = 1.0
    w = np.ones((layer.filters, layer.channels // layer.groups) + layer.kernel)
    reached = _reference_conv(x, w, layer.stride, layer.padding, layer.dilation, layer.groups) > 0
    assert runner.nan_reach(geometry) == np.count_nonzero(reached) > 0


def test_measured_workspace_sees_numpy_allocations():
    def allocates_8_mib():
        scratch = np.ones(2 ** 20)  # 8 MiB, freed before returning
        return np.array([scratch.sum()])

    assert 8 * 2 ** 20 <= runner.measured_workspace(allocates_8_mib) < 9 * 2 ** 20
    assert runner.measured_workspace(lambda: np.empty(2 ** 20)) < 2 ** 16  # the result is not workspace


def test_limit_names_a_copy_bound_im2col():
    layer = LAYERS["alexnet_conv1"].shrunk()
    geometry = layer.geometry()
    winner = runner.Result(layer.name, "fwd", "im2col", median_ms=1.0, gflops=1.0, sgemm_percent=2.0)
    row = runner.Row(layer.name, layer.describe(), "fwd", 2 * geometry.multiply_adds, "im2col", [winner])
    machine_info = {"copy_gbytes_per_s": 1e9, "sgemm_gflops": 50.0}
    assert report.limit(row, layer, 0.7, machine_info).startswith(
        "im2col copy-bound: 11x11 kernel on 3 channels; building the column matrix takes 70%")
    assert report.limit(row, layer, 0.1, machine_info).startswith("little work per call")
    assert report.limit(row, layer, None, {"copy_gbytes_per_s": 1.0, "sgemm_gflops": 50.0}).startswith("memory-bound")


def test_plot_is_written_when_matplotlib_is_installed(tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "bench.png"
    assert main(QUICK + ["--layers", "lenet5_c3,resnet18_3x3", "--algorithms", "im2col,direct",
                         "--no-numpy", "--plot", str(path)]) == 0
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
