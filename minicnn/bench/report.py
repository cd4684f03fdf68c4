"""Print the benchmark's tables and write them as JSON, CSV or a plot."""
from __future__ import annotations

import csv
import dataclasses
import json
import math


def _ms(value) -> str:
    return "-" if value is None else f"{value:.2f}"


def _bytes(n) -> str:
    if n is None:
        return "?"
    return f"{n / 2 ** 20:.1f} MiB" if n >= 2 ** 20 else f"{n / 2 ** 10:.0f} KiB" if n else "0"


def row_block(row) -> str:
    """One (layer, pass): a line per algorithm, then the comparison line."""
    head = (f"== {row.layer}  [{row.description}]  {row.pass_name}  "
            f"({row.flops / 1e9:.3f} GFLOP, direct-equivalent)")
    cols = f"   {'algorithm':<11}{'median ms':>10}{'min ms':>9}{'compile s':>10}{'GFLOP/s':>9}" \
           f"{'%SGEMM':>8}{'workspace':>11}{'max rel err':>12}{'x numpy':>9}"
    lines = [head, cols]
    winner = row.winner
    for r in row.results:
        mark = "*" if winner is r else " "
        if r.reason is not None:
            lines.append(f"  {mark}{r.algorithm:<11}n/a: {r.reason}")
            continue
        speedup = f"{row.numpy_ms / r.median_ms:.1f}x" if row.numpy_ms else "-"
        lines.append(f"  {mark}{r.algorithm:<11}{_ms(r.median_ms):>10}{_ms(r.min_ms):>9}{r.compile_s:>10.2f}"
                     f"{r.gflops:>9.1f}{r.sgemm_percent:>7.0f}%{_bytes(r.workspace_bytes):>11}"
                     f"{r.rel_error:>12.1e}{speedup:>9}")
    auto = row.result(row.auto)
    parts = [f"auto -> {row.auto}", f"winner {winner.algorithm if winner else '-'}"]
    if row.numpy_ms is not None:
        parts.append(f"numpy {_ms(row.numpy_ms)} ms")
    if row.torch_ms is not None:
        parts.append(f"torch {_ms(row.torch_ms)} ms")
        if auto is not None and auto.median_ms is not None:
            parts.append(f"auto/torch {auto.median_ms / row.torch_ms:.2f}x")
    lines.append("   " + "; ".join(parts))
    return "\n".join(lines)


def geometric_mean(values) -> float | None:
    values = [v for v in values if v is not None and v > 0]
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else None


def torch_summary(rows) -> str:
    """auto's time over PyTorch's per layer: forward, and forward + both backward passes."""
    by_layer = {}
    for row in rows:
        auto = row.result(row.auto)
        if row.torch_ms is None or auto is None or auto.median_ms is None:
            continue
        by_layer.setdefault(row.layer, {})[row.pass_name] = (auto.median_ms, row.torch_ms)
    if not by_layer:
        return ""
    lines = ["", "auto vs PyTorch (time ratio, < 1 means minicnn is faster)",
             f"   {'layer':<18}{'fwd':>8}{'fwd+bwd':>10}"]
    forward, total, faster = [], [], 0
    for layer, passes in by_layer.items():
        f = passes["fwd"][0] / passes["fwd"][1] if "fwd" in passes else None
        t = (sum(a for a, _ in passes.values()) / sum(b for _, b in passes.values())
             if len(passes) == 3 else None)
        forward.append(f)
        total.append(t)
        faster += f is not None and f < 1
        lines.append(f"   {layer:<18}{'-' if f is None else f'{f:.2f}x':>8}{'-' if t is None else f'{t:.2f}x':>10}")
    gf, gt = geometric_mean(forward), geometric_mean(total)
    lines.append(f"   {'geometric mean':<18}{'-' if gf is None else f'{gf:.2f}x':>8}"
                 f"{'-' if gt is None else f'{gt:.2f}x':>10}")
    lines.append(f"   auto forward faster than PyTorch on {faster} of {len(forward)} layers")
    return "\n".join(lines)


def records(rows) -> list:
    """Flat dicts, one per (layer, pass, algorithm), for JSON and CSV."""
    out = []
    for row in rows:
        for r in row.results:
            record = dataclasses.asdict(r)
            record.update(description=row.description, auto=row.auto, numpy_ms=row.numpy_ms,
                          torch_ms=row.torch_ms, winner=row.winner.algorithm if row.winner else None)
            out.append(record)
    return out


def write_json(path, rows, machine) -> None:
    with open(path, "w") as f:
        json.dump({"machine": machine, "results": records(rows)}, f, indent=1)


def write_csv(path, rows) -> None:
    data = records(rows)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(data[0]) if data else ["layer"])
        writer.writeheader()
        writer.writerows(data)


def write_plot(path, rows) -> None:
    """Forward GFLOP/s per layer and algorithm, as grouped bars (needs matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise SystemExit("--plot needs matplotlib: pip install 'minicnn[plot]'") from error
    forward = [row for row in rows if row.pass_name == rows[0].pass_name]
    algorithms = sorted({r.algorithm for row in forward for r in row.results if r.gflops})  # ran somewhere
    fig, ax = plt.subplots(figsize=(max(6, len(forward) * 0.9), 4))
    width = 0.8 / max(len(algorithms), 1)
    for i, name in enumerate(algorithms):
        values = [(row.result(name).gflops or 0) if row.result(name) else 0 for row in forward]
        ax.bar([j + i * width for j in range(len(forward))], values, width, label=name)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(forward))], [row.layer for row in forward],
                  rotation=45, ha="right")
    ax.set_ylabel(f"effective GFLOP/s ({forward[0].pass_name})")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
