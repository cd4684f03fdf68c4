"""python -m minicnn lab NAME [--quick] [--plot FILE] [--seed N]; `list` names the experiments."""
from __future__ import annotations

import argparse
import sys
import time

from . import EXPERIMENTS, describe, run


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m minicnn lab", description=__doc__)
    parser.add_argument("name", choices=["list"] + list(EXPERIMENTS))
    parser.add_argument("--quick", action="store_true", help="a reduced run of seconds (for tests)")
    parser.add_argument("--plot", metavar="FILE", help="also write the experiment's figure (needs matplotlib)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.name == "list":
        width = max(map(len, EXPERIMENTS))
        for name in EXPERIMENTS:
            print(f"{name.ljust(width)}  {describe(name)}")
        return 0
    start = time.perf_counter()
    report = run(args.name, quick=args.quick, seed=args.seed)
    print(report.text())
    print(f"({time.perf_counter() - start:.0f} s{', quick run' if args.quick else ''})")
    if args.plot:
        from ..viz.figure import save
        try:
            print(f"wrote {save(report.figure(), args.plot)}")
        except ImportError as error:
            print(f"python -m minicnn lab: error: {error}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
