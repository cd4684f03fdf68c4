"""minicnn.viz: the deconvnet against a projection computed here from its definition, saliency
against finite differences, feature maps against the layer's own forward, and every
`python -m minicnn viz` command on a small trained LeNet-5 (files written, figures labelled)."""
import json

import numpy as np
import pytest

import minicnn as mc
from minicnn import nn
from minicnn import viz
from minicnn.__main__ import main as minicnn_main
from minicnn.viz.__main__ import load_run

matplotlib = pytest.importorskip("matplotlib")


# ---- the deconvnet, by hand -----------------------------------------------------------------------
W1 = np.array([[1.0, -1.0], [0.5, 2.0]])
W2 = np.array([[1.0, -0.5], [0.5, 1.0]])


def two_layer_net():
    """conv 2x2 - ReLU - max-pool 2x2 - conv 2x2 - ReLU, one channel, no biases, known weights."""
    model = nn.Sequential(nn.Conv2d(1, 1, 2, bias=False), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(1, 1, 2, bias=False), nn.ReLU())
    model[0].weight.array[...] = W1
    model[3].weight.array[...] = W2
    return model


def correlate(x, w):
    """Valid cross-correlation of a 2-D x with a 2-D w, loops of the definition."""
    kh, kw = w.shape
    out = np.zeros((x.shape[0] - kh + 1, x.shape[1] - kw + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = np.sum(x[i:i + kh, j:j + kw] * w)
    return out


def scatter(r, w, shape):
    """Transposed convolution: each r[i, j] adds r[i, j] * w at (i, j)."""
    out = np.zeros(shape)
    kh, kw = w.shape
    for i in range(r.shape[0]):
        for j in range(r.shape[1]):
            out[i:i + kh, j:j + kw] += r[i, j] * w
    return out


def test_deconvnet_matches_the_projection_worked_out_by_hand():
    x = np.array([[0.0, 1, 2, 0, 1],
                  [1, 3, 0, 2, 0],
                  [2, 0, 1, 1, 3],
                  [0, 1, 2, 0, 1],
                  [1, 0, 0, 2, 1]])
    # forward by hand: conv1 -> 4x4, ReLU, pool 2x2 (switches), conv2 -> 1x1, ReLU
    a1 = np.maximum(correlate(x, W1), 0)
    pooled, switches = np.zeros((2, 2)), {}
    for i in range(2):
        for j in range(2):
            window = a1[2 * i:2 * i + 2, 2 * j:2 * j + 2]
            di, dj = np.unravel_index(np.argmax(window), (2, 2))
            pooled[i, j], switches[i, j] = window[di, dj], (2 * i + di, 2 * j + dj)
    top = np.maximum(correlate(pooled, W2), 0)
    assert top.shape == (1, 1) and top[0, 0] > 0  # the example is chosen so the unit fires
    # projection, the layers undone in reverse: ReLU (top > 0 stays), conv2^T, unpool at the
    # switches, ReLU, conv1^T
    r = scatter(top, W2, (2, 2))
    unpooled = np.zeros((4, 4))
    for (i, j), (si, sj) in switches.items():
        unpooled[si, sj] += r[i, j]
    expected = scatter(np.maximum(unpooled, 0), W1, (5, 5))

    got = viz.deconvnet(two_layer_net(), "4", x[None].astype(np.float32))
    assert got.shape == (1, 5, 5)
    np.testing.assert_allclose(got[0], expected, rtol=1e-5, atol=1e-5)
    # and from the pooled layer: the strongest pooled unit alone, unpooled, ReLU, conv1^T
    i, j = np.unravel_index(np.argmax(pooled), (2, 2))
    single = np.zeros((4, 4))
    single[switches[i, j]] = pooled[i, j]
    np.testing.assert_allclose(viz.deconvnet(two_layer_net(), "2", x[None].astype(np.float32))[0],
                               scatter(single, W1, (5, 5)), rtol=1e-5, atol=1e-5)


def test_deconvnet_refuses_what_it_cannot_invert():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2 * 4 * 4, 3))
    with pytest.raises(ValueError, match="Linear"):
        viz.deconvnet(model, "2", np.ones((1, 6, 6), np.float32))
    with pytest.raises(ValueError, match="no layer 'nope'"):
        viz.deconvnet(model, "nope", np.ones((1, 6, 6), np.float32))


# ---- saliency and feature maps ----------------------------------------------------------------------
def small_cnn(seed=0):
    g = np.random.default_rng(seed)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, generator=g), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(4 * 4 * 4, 5, generator=g))


def test_saliency_is_the_max_abs_input_gradient():
    g = np.random.default_rng(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, generator=g), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(4 * 2 * 2, 5, generator=g))
    x = np.random.default_rng(1).random((3, 4, 4)).astype(np.float32)
    got = viz.saliency(model, x, target=2)
    # central differences of the class score, in float64 copies of the weights
    for p in model.parameters():
        p.array = p.array.astype(np.float64)
    grad = np.zeros((3, 4, 4))
    h = 1e-6
    for index in np.ndindex(grad.shape):
        plus, minus = x.astype(np.float64), x.astype(np.float64)
        plus[index] += h
        minus[index] -= h
        score = [model(mc.tensor(v[None])).array[0, 2] for v in (plus, minus)]
        grad[index] = (score[0] - score[1]) / (2 * h)
    np.testing.assert_allclose(got, np.abs(grad).max(axis=0), rtol=1e-3, atol=1e-4)


def test_feature_maps_are_the_named_layers_output():
    model = small_cnn()
    x = np.random.default_rng(2).random((3, 8, 8)).astype(np.float32)
    expected = model[1](model[0](mc.tensor(x[None]))).array[0]
    np.testing.assert_allclose(viz.feature_maps(model, "1", x), expected, rtol=1e-6)


def test_gradient_norms_match_the_parameters_gradients():
    model = small_cnn()
    x = np.random.default_rng(3).random((4, 3, 8, 8)).astype(np.float32)
    y = np.array([0, 1, 2, 3])
    rows = viz.gradient_norms(model, x, y)
    assert [name for name, _, _ in rows] == ["0", "4"]
    loss = mc.functional.cross_entropy(model(mc.tensor(x)), y)
    loss.backward()
    np.testing.assert_allclose([w for _, _, w in rows],
                               [np.linalg.norm(model[0].weight.grad.array), np.linalg.norm(model[4].weight.grad.array)],
                               rtol=1e-5)
    # |dL/d logits| of the last layer, from softmax - one-hot, averaged over the batch
    logits = model(mc.tensor(x)).array.astype(np.float64)
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(4), y] -= 1
    np.testing.assert_allclose(rows[-1][1], np.linalg.norm(p / 4), rtol=1e-4)


# ---- every command on a small trained run -------------------------------------------------------------
@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("run")
    status = minicnn_main(["train", "--arch", "lenet5", "--dataset", "digits", "--epochs", "2",
                           "--num-train", "96", "--num-test", "24", "--no-progress", "--out", str(folder)])
    assert status == 0
    return folder


def figure_texts(fig):
    """Every title, axis label and suptitle of a figure."""
    texts = [fig._suptitle.get_text()] if fig._suptitle else []
    for ax in fig.axes:
        texts += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
    return [t for t in texts if t]


@pytest.mark.parametrize("kind, extra", [
    ("filters", []), ("features", ["--index", "1"]), ("deconv", ["--top", "3"]), ("saliency", []),
    ("confusion", []), ("curves", None)])
def test_every_viz_command_writes_a_png(run, tmp_path, kind, extra):
    out = tmp_path / f"{kind}.png"
    source = ["--run", str(run)] if extra is None else ["--checkpoint", str(run / "best.npz")] + extra
    assert minicnn_main(["viz", kind, "--out", str(out)] + source) == 0
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_figures_are_labelled(run):
    model, test_set, classes = load_run(run / "best.npz")
    image = np.asarray(test_set[0][0])
    curves = viz.plot_curves(run)
    assert {"epoch", "loss", "accuracy (%)", "learning rate"} <= set(figure_texts(curves))
    confusion = viz.plot_confusion(np.array([[3, 1], [0, 4]]), ["a", "b"])
    texts = figure_texts(confusion)
    assert "predicted class" in texts and "true class" in texts
    assert any("87.5%" in t for t in texts)  # 7 of 8 on the diagonal
    deconv = viz.plot_deconvnet(model, "body.c3", image)
    assert len(deconv.axes) == 3 and any("deconvnet" in t for t in figure_texts(deconv))
    assert "body.c1" in figure_texts(viz.plot_filters(model))[0]


def test_bench_chart_from_bench_json(tmp_path):
    results = [{"layer": layer, "pass_name": p, "algorithm": a, "median_ms": 1.0 + i, "gflops": 10.0 - i}
               for layer in ("conv1", "conv2") for p in ("fwd", "bwd_data") for i, a in enumerate(("direct", "im2col"))]
    path = tmp_path / "bench.json"
    path.write_text(json.dumps({"machine": {}, "results": results}))
    out = tmp_path / "bench.png"
    assert minicnn_main(["viz", "bench", "--json", str(path), "--out", str(out)]) == 0
    assert out.stat().st_size > 5000
    fig = viz.plot_bench(path)
    assert len(fig.axes) == 2 and "GFLOP/s" in figure_texts(fig)


def test_command_errors_are_one_line(tmp_path, capsys):
    assert minicnn_main(["viz", "curves", "--run", str(tmp_path), "--out", str(tmp_path / "x.png")]) == 2
    assert "no metrics file" in capsys.readouterr().err


def test_without_matplotlib_the_error_names_the_extra(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    with pytest.raises(ImportError, match=r"pip install 'minicnn\[plot\]'"):
        viz.figure()
