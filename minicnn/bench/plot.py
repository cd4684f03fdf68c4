"""--plot: the effective GFLOP/s of every algorithm on every layer, one panel per pass."""
from __future__ import annotations

from .. import kernels
from .runner import PASS_TITLES, PASSES


def require_matplotlib():
    """Import matplotlib's pyplot for files (no display), or exit with the advice, before any work."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise SystemExit("--plot needs matplotlib: pip install 'minicnn[plot]'") from None
    return plt


def write_plot(path, rows, title) -> None:
    """Grouped bars: per layer (x) the direct-equivalent GFLOP/s of each algorithm that ran, one
    panel per pass, the fastest of each layer marked; algorithms keep their colour across panels."""
    plt = require_matplotlib()
    passes = [p for p in PASSES if any(r.pass_name == p for r in rows)]
    layers = list(dict.fromkeys(r.layer for r in rows))
    algorithms = sorted({res.algorithm for r in rows for res in r.results if res.gflops})
    colours = {name: plt.get_cmap("tab10")(i % 10) for i, name in enumerate(kernels.ALGORITHMS)}
    width = 0.8 / max(len(algorithms), 1)
    fig, axes = plt.subplots(len(passes), 1, figsize=(max(8, 0.9 * len(layers) + 3), 2.8 * len(passes) + 1.2),
                             sharex=True, squeeze=False)
    for ax, pass_name in zip(axes[:, 0], passes):
        row_of = {r.layer: r for r in rows if r.pass_name == pass_name}
        for i, name in enumerate(algorithms):
            xs, ys = [], []
            for j, layer in enumerate(layers):
                result = row_of[layer].result(name) if layer in row_of else None
                if result is not None and result.gflops:
                    xs.append(j + (i - (len(algorithms) - 1) / 2) * width)
                    ys.append(result.gflops)
            ax.bar(xs, ys, width, color=colours[name], label=name)
        for j, layer in enumerate(layers):
            winner = row_of[layer].winner if layer in row_of else None
            if winner is not None:
                i = algorithms.index(winner.algorithm)
                ax.plot(j + (i - (len(algorithms) - 1) / 2) * width, winner.gflops * 1.05, "v", color="black",
                        markersize=4)
        ax.set_title(PASS_TITLES[pass_name], fontsize=11)
        ax.set_ylabel("GFLOP/s (direct-equivalent)")
        ax.grid(axis="y", alpha=0.3)
    axes[-1, 0].set_xticks(range(len(layers)), layers, rotation=35, ha="right", fontsize=9)
    axes[-1, 0].set_xlabel("layer (black triangle: fastest)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper right", bbox_to_anchor=(1.0, 1.0), fontsize=9, title="algorithm")
    fig.suptitle(title, x=0.02, ha="left", fontsize=12)
    fig.tight_layout(rect=(0, 0, 0.88, 0.97))
    fig.savefig(path, dpi=120)
    plt.close(fig)
