"""Print the benchmark's results (one line per layer and a closing summary by default, every
algorithm with --verbose) and write them as JSON, CSV or a plot."""
from __future__ import annotations

import csv
import dataclasses
import json
import math

from .runner import PASS_TITLES, PASSES

# A winner below this share of its time building im2col's column matrix is not called copy-bound.
COPY_BOUND_SHARE = 0.4
# Below this much work a call's fixed costs (thread start-up, Python dispatch) dominate.
SMALL_WORK_FLOPS = 2e7
# A GEMM whose inner dimension (C/groups x kernel taps) is this short cannot reach BLAS speed.
SHORT_GEMM_DEPTH = 64


def ms(value) -> str:
    """Milliseconds with three significant digits and no exponent."""
    if value is None:
        return "-"
    for digits, threshold in ((0, 100), (1, 10), (2, 1)):
        if value >= threshold:
            return f"{value:.{digits}f}"
    return f"{value:.3f}"


def size(n) -> str:
    if n is None:
        return "?"
    for unit, scale in (("GiB", 2 ** 30), ("MiB", 2 ** 20), ("KiB", 2 ** 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def ratio(value) -> str:
    return "-" if value is None else f"{value:.2f}x" if value < 10 else f"{value:.0f}x"


def geometric_mean(values) -> float | None:
    values = [v for v in values if v is not None and v > 0]
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else None


def align(table, right=()) -> list:
    """Rows of cells as lines, each column as wide as its widest cell; columns in `right` are
    right-aligned (numbers), the others left-aligned."""
    widths = [max(len(row[i]) for row in table if i < len(row)) for i in range(max(map(len, table)))]
    return ["  ".join(cell.rjust(w) if i in right else cell.ljust(w)
                      for i, (cell, w) in enumerate(zip(row, widths))).rstrip() for row in table]


def by_layer(rows) -> dict:
    """layer name -> {pass: Row}, in the order measured."""
    out = {}
    for row in rows:
        out.setdefault(row.layer, {})[row.pass_name] = row
    return out


def _passes_total(layer_rows, pick):
    values = [pick(row) for row in layer_rows.values()]
    return None if any(v is None for v in values) else sum(values)


def _auto_ms(row):
    auto = row.result(row.auto)
    return auto.median_ms if auto else None


def _best_ms(row):
    return row.winner.median_ms if row.winner else None


def summary_table(rows, torch=False) -> str:
    """One line per layer: how many layers share it (models), the fastest algorithm and its time per pass, auto's total time over
    the fastest's, the speed-up over NumPy (or auto's time over PyTorch's), the worst float32
    error and the largest measured workspace of the fastest algorithms."""
    layers = by_layer(rows)
    passes = [p for p in PASSES if any(p in r for r in layers.values())]
    compare = "auto/torch" if torch else "numpy/best"
    head1 = ["", "", ""] + [x for p in passes for x in (PASS_TITLES[p], "")] + ["all passes", "", "", ""]
    head2 = ["layer", "x", "shape"] + [x for _ in passes for x in ("fastest", "ms")] + \
            ["auto/best", compare, "error", "workspace"]
    table = [head1, head2]
    for name, layer_rows in layers.items():
        first = next(iter(layer_rows.values()))
        winners = [layer_rows[p].winner for p in passes]
        cells = [name, str(first.count), first.description]
        for w in winners:
            cells += [w.algorithm if w else "-", ms(w.median_ms) if w else "-"]
        auto, best = _passes_total(layer_rows, _auto_ms), _passes_total(layer_rows, _best_ms)
        if torch:
            other = _passes_total(layer_rows, lambda r: r.torch_ms)
            versus = auto / other if auto and other else None
        else:
            other = _passes_total(layer_rows, lambda r: r.numpy_ms)
            versus = other / best if other and best else None
        errors = [w.rel_error for w in winners if w]
        spaces = [w.measured_workspace_bytes for w in winners if w]
        cells += [ratio(auto / best if auto and best else None), ratio(versus),
                  f"{max(errors):.0e}" if errors else "-", size(max(spaces)) if spaces else "-"]
        table.append(cells)
    numbers = {1} | {4 + 2 * i for i in range(len(passes))} | {4 + 2 * len(passes) + i for i in range(4)}
    if all(row.count == 1 for row in rows):  # the count of layers sharing a geometry matters for models only
        table = [cells[:1] + cells[2:] for cells in table]
        numbers = {i - 1 for i in numbers if i > 1}
    lines = align(table, right=numbers)
    return "\n".join(lines[:2] + ["-" * len(lines[1])] + lines[2:])


def limit(row, layer, columns_ms, machine) -> str:
    """What limits the fastest algorithm of `row` (a pass of `layer`), in words, from the
    measurements: im2col's share of time building its column matrix (columns_ms), the arithmetic
    intensity against the measured copy bandwidth, the amount of work, the grouping and the
    products' inner dimension; the first that applies."""
    best = row.winner
    geometry = layer.geometry()
    c, k = geometry.input_shape[1], geometry.weight_shape[0]
    groups, kernel = geometry.groups, "x".join(map(str, geometry.kernel_size[1:]))
    depth = geometry.weight_shape[1] * math.prod(geometry.kernel_size)
    if best.algorithm == "im2col" and row.pass_name != "bwd_data" and columns_ms:
        share = columns_ms / best.median_ms
        if share >= COPY_BOUND_SHARE:
            return (f"im2col copy-bound: {kernel} kernel on {c // groups} channels; building the column "
                    f"matrix takes {min(share, 1):.0%} of the time")
    itemsize = geometry.dtype.itemsize
    moved = itemsize * (math.prod(geometry.input_shape) + math.prod(geometry.weight_shape) +
                        math.prod(geometry.output_shape))
    intensity = row.flops / moved
    cap = intensity * machine["copy_gbytes_per_s"]
    if cap < machine["sgemm_gflops"]:
        return (f"memory-bound: {intensity:.1f} flop/byte caps it at {cap:.0f} GFLOP/s at the measured "
                f"{machine['copy_gbytes_per_s']:.0f} GB/s; it reaches {best.gflops:.1f} GFLOP/s")
    if row.flops < SMALL_WORK_FLOPS:
        return f"little work per call ({row.flops / 1e6:.1f} MFLOP): fixed per-call costs dominate"
    if groups > 1:
        return f"grouped: {groups} groups of {c // groups} channels make {groups} small products"
    if depth < SHORT_GEMM_DEPTH:
        return f"short products: {kernel} kernel on {c} channels gives only {depth} terms per output"
    return f"{best.sgemm_percent:.0f}% of SGEMM's rate with no single limit found ({c}->{k} channels)"


def passes_of(rows) -> list:
    return [p for p in PASSES if any(r.pass_name == p for r in rows)]


def closing_summary(rows, machine, layer_of, by_time=False, slowest=3) -> str:
    """Geometric means, the comparison with NumPy and PyTorch, the least efficient rows and what
    limits them, the largest float32 error and the algorithms whose output one NaN reaches
    differently from the definition. layer_of: layer name -> Layer. by_time: show the rows that
    take the most time (times their count, as in a model) instead of the least efficient."""
    layers = by_layer(rows)
    lines = ["", f"Summary over {len(layers)} layer{'s' * (len(layers) > 1)} (ratios of times; geometric means):"]
    auto_best = [(_passes_total(lr, _auto_ms), _passes_total(lr, _best_ms)) for lr in layers.values()]
    hits = sum(all(r.winner and r.auto == r.winner.algorithm for r in lr.values()) for lr in layers.values())
    lines.append(f"  auto / fastest: {ratio(geometric_mean(a / b for a, b in auto_best if a and b))} "
                 f"(auto picked the fastest for every pass on {hits} of {len(layers)} layers)")
    numpy = [_passes_total(lr, lambda r: r.numpy_ms) for lr in layers.values()]
    if all(numpy):
        mean = geometric_mean(n / b for n, (_, b) in zip(numpy, auto_best) if b)
        lines.append(f"  fastest vs vectorised NumPy: {ratio(mean)} faster")
    torch_rows = {name: lr for name, lr in layers.items() if all(r.torch_ms for r in lr.values())}
    if torch_rows:
        ratios = {name: _passes_total(lr, _auto_ms) / _passes_total(lr, lambda r: r.torch_ms)
                  for name, lr in torch_rows.items()}
        faster = [name for name, v in ratios.items() if v < 1]
        lines.append(f"  auto / PyTorch: {ratio(geometric_mean(ratios.values()))} (< 1: minicnn faster); "
                     f"faster than PyTorch on {len(faster)} of {len(ratios)} layers"
                     + (f": {', '.join(faster)}" if faster else ""))
    timed = [r for r in rows if r.winner]
    if by_time:
        total = sum(r.count * r.winner.median_ms for r in timed) or 1.0
        lines.append(f"  slowest (share of the convolutions' time over {', '.join(passes_of(rows))}; fastest algorithm; its share of "
                     f"SGEMM's {machine['sgemm_gflops']:.0f} GFLOP/s):")
        chosen = sorted(timed, key=lambda r: -r.count * r.winner.median_ms)[:slowest]
    else:
        lines.append(f"  least efficient (fastest algorithm, its share of SGEMM's {machine['sgemm_gflops']:.0f} GFLOP/s):")
        chosen = sorted(timed, key=lambda r: r.winner.sgemm_percent)[:slowest]
    table = []
    for row in chosen:
        share = [f"{row.count * row.winner.median_ms / total:.0%}"] if by_time else []
        table.append(["   ", row.layer, PASS_TITLES[row.pass_name], *share, row.winner.algorithm,
                      f"{row.winner.sgemm_percent:.1f}%",
                      limit(row, layer_of[row.layer], getattr(layers[row.layer].get("fwd"), "columns_ms", None),
                            machine)])
    lines += align(table, right={3, 5} if by_time else {4})
    errors = [(r.winner.rel_error, r) for r in timed if r.winner.rel_error is not None]
    all_results = [(res, row) for row in rows for res in row.results if res.rel_error is not None]
    if all_results:
        res, row = max(all_results, key=lambda pair: pair[0].rel_error)
        lines.append(f"  float32 error vs float64: at most {res.rel_error:.1e} ({res.algorithm}, {row.layer} "
                     f"{PASS_TITLES[row.pass_name]}); fastest algorithms at most {max(e for e, _ in errors):.1e}")
    spread = {}  # algorithm -> (worst reach / definition, layer)
    for row in rows:
        for res in row.results:
            if res.nan_outputs is not None and res.nan_outputs != row.nan_expected:
                factor = res.nan_outputs / max(row.nan_expected, 1)
                if factor > spread.get(res.algorithm, (0, ""))[0]:
                    spread[res.algorithm] = (factor, row.layer)
    if any(row.nan_expected is not None for row in rows):
        if spread:
            lines.append("  one NaN in the input reaches more outputs than the definition says with: " +
                         ", ".join(f"{name} (up to {factor:.1f}x, {layer})" for name, (factor, layer) in spread.items()))
        else:
            lines.append("  one NaN in the input reaches exactly the outputs the definition says, every algorithm")
    return "\n".join(lines)


def row_block(row) -> str:
    """--verbose: one (layer, pass), a line per algorithm."""
    head = (f"== {row.layer} x{row.count}  [{row.description}]  {PASS_TITLES[row.pass_name]}  "
            f"({row.flops / 1e9:.3f} GFLOP, direct-equivalent)")
    table = [["", "algorithm", "median ms", "min ms", "compile s", "GFLOP/s", "%SGEMM", "workspace",
              "(declared)", "rel error", "NaN reach", "x numpy"]]
    winner = row.winner
    for r in row.results:
        mark = "*" if winner is r else ""
        if r.reason is not None:
            table.append([mark, r.algorithm, f"n/a: {r.reason}"])
            continue
        nan = f"{r.nan_outputs}/{row.nan_expected}" if r.nan_outputs is not None else "-"
        table.append([mark, r.algorithm, ms(r.median_ms), ms(r.min_ms), f"{r.compile_s:.2f}", f"{r.gflops:.1f}",
                      f"{r.sgemm_percent:.0f}%", size(r.measured_workspace_bytes), size(r.workspace_bytes),
                      f"{r.rel_error:.1e}", nan, ratio(row.numpy_ms / r.median_ms) if row.numpy_ms else "-"])
    # n/a rows are one long cell: align the others, then append them as they are
    timed = align([t for t in table if len(t) > 3], right=set(range(2, 12)))
    lines = [head] + ["  " + line for line in timed[:1]]
    for t in table[1:]:
        lines.append("  " + (timed.pop(1) if len(t) > 3 else f"{t[0]:<1}  {t[1]:<13} {t[2]}"))
    parts = [f"auto -> {row.auto}", f"fastest {winner.algorithm if winner else '-'}"]
    if row.numpy_ms is not None:
        parts.append(f"numpy {ms(row.numpy_ms)} ms")
    if row.torch_ms is not None:
        parts.append(f"torch {ms(row.torch_ms)} ms")
    lines.append("   " + "; ".join(parts))
    return "\n".join(lines)


def model_block(title, choices, whole) -> str:
    """The model's convolution time per algorithm choice, and its whole forward (+ backward)."""
    table = [["", "choice", *(PASS_TITLES[p] for p in PASSES), "total ms", ""]]
    for name, sums, note in choices:
        if sums is None:
            table.append(["", name, "n/a", "", "", "", note])
            continue
        cells = [ms(sums.get(p)) if p in sums else "-" for p in PASSES]
        table.append(["", name, *cells, ms(sum(sums.values())), note])
    lines = ["", title] + align(table, right={2, 3, 4, 5})
    forward, both = whole
    lines.append(f"  whole model with algorithm='auto': forward {ms(forward)} ms, forward + backward {ms(both)} ms "
                 "(every layer, not only the convolutions)")
    return "\n".join(lines)


def records(rows) -> list:
    """Flat dicts, one per (layer, pass, algorithm), for JSON and CSV."""
    out = []
    for row in rows:
        for r in row.results:
            record = dataclasses.asdict(r)
            record.update(description=row.description, count=row.count, auto=row.auto, numpy_ms=row.numpy_ms,
                          torch_ms=row.torch_ms, nan_expected=row.nan_expected,
                          winner=row.winner.algorithm if row.winner else None)
            out.append(record)
    return out


def write_json(path, rows, machine, model=None) -> None:
    data = {"machine": machine, "results": records(rows)}
    if model is not None:
        data["model"] = model
    with open(path, "w") as f:
        json.dump(data, f, indent=1)


def write_csv(path, rows) -> None:
    data = records(rows)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(data[0]) if data else ["layer"])
        writer.writeheader()
        writer.writerows(data)
