"""Charts of `python -m minicnn.bench --json FILE` output: GFLOP/s of every algorithm on every
layer, one panel per pass (the rate counts the direct method's FLOPs, so faster is higher)."""
from __future__ import annotations

import json

import numpy as np

from .figure import figure

PASS_TITLES = {"fwd": "forward", "bwd_data": "data gradient", "bwd_weight": "weight gradient"}


def read_bench(path) -> list:
    """The result records of a bench JSON file (the "results" list)."""
    with open(path) as f:
        data = json.load(f)
    results = data.get("results") if isinstance(data, dict) else None
    if not isinstance(results, list):
        raise ValueError(f"viz: {path} is not `python -m minicnn.bench --json` output (no 'results' list)")
    return results


def plot_bench(path, metric: str = "gflops"):
    """Grouped bars: layers along x, one bar per algorithm; `metric` "gflops" or "median_ms"."""
    results = [r for r in read_bench(path) if r.get(metric) is not None]
    passes = [p for p in PASS_TITLES if any(r["pass_name"] == p for r in results)]
    layers = list(dict.fromkeys(r["layer"] for r in results))
    algorithms = list(dict.fromkeys(r["algorithm"] for r in results))
    fig = figure(max(7, 1.2 * len(layers) + 3), 3.2 * max(len(passes), 1))
    axes = np.atleast_1d(fig.subplots(max(len(passes), 1), 1, squeeze=False)[:, 0])
    width = 0.8 / max(len(algorithms), 1)
    for ax, pass_name in zip(axes, passes):
        for i, algorithm in enumerate(algorithms):
            values = {r["layer"]: r[metric] for r in results if r["pass_name"] == pass_name and r["algorithm"] == algorithm}
            xs = [j + (i - (len(algorithms) - 1) / 2) * width for j, layer in enumerate(layers) if layer in values]
            ax.bar(xs, [values[layer] for layer in layers if layer in values], width, label=algorithm)
        ax.set_xticks(range(len(layers)), layers, rotation=20, ha="right")
        ax.set_ylabel("GFLOP/s" if metric == "gflops" else "median time (ms)")
        ax.set_title(f"{PASS_TITLES[pass_name]}")
        ax.grid(axis="y", alpha=0.3)
    if passes:
        axes[0].legend(ncol=min(len(algorithms), 5), fontsize=8)
    fig.suptitle("Convolution algorithms per layer (python -m minicnn.bench)")
    return fig
