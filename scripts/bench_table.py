"""Turn `python -m minicnn.bench --compare torch --json PATH` output into the README's table.

    python scripts/bench_table.py bench.json            # print the Markdown
    python scripts/bench_table.py bench.json --readme   # replace it between the README's markers

One row per layer: what auto picked and its time per pass against PyTorch's, the fastest
minicnn algorithm of each pass, and auto's speed-up over the vectorised NumPy baseline.
"""
import argparse
import json
import math
import pathlib

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
BEGIN, END = "<!-- bench-table:begin -->", "<!-- bench-table:end -->"
PASSES = ("fwd", "bwd_data", "bwd_weight")


def geometric_mean(values):
    values = [v for v in values if v]
    return math.exp(sum(map(math.log, values)) / len(values)) if values else float("nan")


def table(data) -> str:
    rows = {}
    for r in data["results"]:
        rows.setdefault(r["layer"], {}).setdefault(r["pass_name"], []).append(r)
    lines = ["| layer | auto | auto fwd ms | torch fwd ms | fwd ratio | fwd+bwd ratio | fastest (fwd / data / weight) | auto vs NumPy (fwd) |",
             "|---|---|---:|---:|---:|---:|---|---:|"]
    forward_ratios, total_ratios, faster = [], [], 0
    for layer, passes in rows.items():
        def auto_of(p):
            return next((r for r in passes[p] if r["algorithm"] == r["auto"]), None)
        fwd = auto_of("fwd")
        torch_fwd = fwd["torch_ms"] if fwd else None
        ratio = fwd["median_ms"] / torch_fwd if fwd and torch_fwd else None
        autos = [auto_of(p) for p in PASSES if p in passes]
        total = (sum(a["median_ms"] for a in autos) / sum(a["torch_ms"] for a in autos)
                 if len(autos) == 3 and all(a and a["torch_ms"] for a in autos) else None)
        forward_ratios.append(ratio)
        total_ratios.append(total)
        faster += bool(ratio and ratio < 1)
        fastest = " / ".join(min((r for r in passes[p] if r["median_ms"]), key=lambda r: r["median_ms"])["algorithm"]
                             for p in PASSES if p in passes)
        numpy = f"{fwd['numpy_ms'] / fwd['median_ms']:.2g}x" if fwd and fwd.get("numpy_ms") else "-"
        lines.append(f"| {layer} | {fwd['auto'] if fwd else '-'} | {fwd['median_ms']:.1f} | "
                     f"{torch_fwd or float('nan'):.1f} | {ratio or float('nan'):.2f}x | "
                     f"{total or float('nan'):.2f}x | {fastest} | {numpy} |")
    machine = data["machine"]
    lines += ["", f"Geometric mean of auto / PyTorch time: forward {geometric_mean(forward_ratios):.2f}x, "
              f"forward + both backward passes {geometric_mean(total_ratios):.2f}x; auto's forward is "
              f"faster than PyTorch's on {faster} of {len(rows)} layers. Ratio < 1: minicnn is faster.",
              f"Machine: {machine['cpu']}, {machine['threads']['numba']} threads, BLAS {machine['blas']}, "
              f"measured SGEMM {machine['sgemm_gflops']:.0f} GFLOP/s."]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("json_path")
    parser.add_argument("--readme", action="store_true")
    parser.add_argument("--preamble", default="", help="text to put before the table (command, date)")
    args = parser.parse_args()
    text = table(json.loads(pathlib.Path(args.json_path).read_text()))
    if args.preamble:
        text = args.preamble + "\n\n" + text
    print(text)
    if args.readme:
        readme = README.read_text()
        head, rest = readme.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        README.write_text(f"{head}{BEGIN}\n{text}\n{END}{tail}")


if __name__ == "__main__":
    main()
