"""Where the time of a forward and backward pass goes: per op, per algorithm, per pass.

    >>> with minicnn.profile() as prof:                      # doctest: +SKIP
    ...     loss = F.cross_entropy(model(x), y)
    ...     loss.backward()
    ...     with prof.section("optimizer step"):
    ...         optimizer.step()
    >>> print(prof.table())                                  # doctest: +SKIP

Every `Function.apply` (the forward) and every node's backward inside the `with` block is timed
and filed under (op, detail, pass): the op is the Function's class name, the detail the conv
algorithm that ran (empty for other ops), the pass "forward" or "backward". `section(name)` times
any other block (an optimiser step, data loading). The times are wall-clock seconds from
`time.perf_counter`, so they include whatever the op's kernels do on other threads. Profiling
costs about a microsecond per op.
"""
from __future__ import annotations

import time
from contextlib import contextmanager

current = None  # the Profile being recorded, read by Function.apply and run_backward


class Profile:
    """The totals recorded by one `profile()` block: `rows()` and `table()` read them."""

    def __init__(self):
        self.totals = {}  # (op, detail, pass) -> [calls, seconds]
        self.wall_seconds = 0.0

    def add(self, key: tuple, seconds: float) -> None:
        entry = self.totals.setdefault(key, [0, 0.0])
        entry[0] += 1
        entry[1] += seconds

    def add_op(self, ctx, pass_name: str, start: float) -> None:
        """File the time since `start` under ctx's op, its algorithm if it has one, and the pass."""
        algorithm = getattr(ctx, "algorithm", None)
        self.add((ctx.function.__name__, getattr(algorithm, "name", ""), pass_name), time.perf_counter() - start)

    @contextmanager
    def section(self, name: str):
        """Time the block under (name, "", "section")."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add((name, "", "section"), time.perf_counter() - start)

    def rows(self) -> list:
        """[(op, detail, pass, calls, total seconds)], the largest total first."""
        rows = [key + tuple(value) for key, value in self.totals.items()]
        return sorted(rows, key=lambda row: -row[4])

    def table(self, limit: int | None = None) -> str:
        """The rows as a text table with ms totals, ms per call and the share of the block's
        wall-clock time; `limit` keeps the largest rows only."""
        rows = self.rows()[:limit]
        wall = self.wall_seconds or sum(row[4] for row in self.rows()) or 1.0
        lines = [f"{'op':<24} {'algorithm':<16} {'pass':<9} {'calls':>6} {'total ms':>10} "
                 f"{'ms/call':>9} {'%':>6}"]
        for op, detail, pass_name, calls, seconds in rows:
            lines.append(f"{op:<24} {detail:<16} {pass_name:<9} {calls:>6} {1e3 * seconds:>10.2f} "
                         f"{1e3 * seconds / calls:>9.3f} {100 * seconds / wall:>6.1f}")
        recorded = sum(row[4] for row in self.rows() if row[2] != "section")
        lines.append(f"ops total {1e3 * recorded:.2f} ms of {1e3 * wall:.2f} ms wall-clock in the block")
        return "\n".join(lines)


@contextmanager
def profile():
    """Record every op's forward and backward time inside the block; yields the Profile.

    Blocks do not nest: an inner profile() records on its own and the outer one resumes after.
    """
    global current
    outer, current = current, Profile()
    prof = current
    start = time.perf_counter()
    try:
        yield prof
    finally:
        prof.wall_seconds = time.perf_counter() - start
        current = outer
