"""What a lab experiment returns: a table, the claim it tests, whether the claim held on this
run, and the curves for --plot.

A claim is judged by a rule written before the run (in each experiment's docstring); the
verdict says what was measured. It is never adjusted to make the claim hold.
"""
from __future__ import annotations

import dataclasses


@dataclasses.dataclass
class Panel:
    """One plot of a figure: series label -> (xs, ys)."""

    title: str
    xlabel: str
    ylabel: str
    series: dict
    log_y: bool = False


@dataclasses.dataclass
class Report:
    name: str
    claim: str
    header: list
    rows: list
    held: bool
    verdict: str
    setting: str = ""
    panels: list = dataclasses.field(default_factory=list)

    def table(self) -> str:
        """The rows as an aligned text table (numbers right-aligned)."""
        cells = [[_cell(v) for v in row] for row in self.rows]
        widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(self.header)]
        # words left-aligned, numbers right-aligned; a column is words if its last row's entry is
        words = [i == 0 or isinstance(self.rows[-1][i], str) for i in range(len(self.header))] if self.rows else []

        def line(values):
            return "  ".join(v.ljust(w) if words and words[i] else v.rjust(w)
                             for i, (v, w) in enumerate(zip(values, widths)))

        rule = "-" * len(line(self.header))
        return "\n".join([rule, line(self.header), rule] + [line(r) for r in cells] + [rule])

    def text(self) -> str:
        parts = [f"lab {self.name}: {self.claim}"]
        if self.setting:
            parts.append(self.setting)
        parts += [self.table(), f"claim {'HELD' if self.held else 'did NOT hold'} on this run: {self.verdict}"]
        return "\n".join(parts)

    def figure(self):
        """A matplotlib Figure with one plot per entry of `panels`, or the table drawn as a figure
        when there are none (needs the `plot` extra)."""
        from ..viz.figure import figure

        if not self.panels:
            cells = [[_cell(v) for v in row] for row in self.rows]
            chars = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(self.header)]
            fig = figure(min(0.085 * sum(chars) + 1, 24), 0.28 * len(self.rows) + 1.0)
            ax = fig.subplots()
            ax.set_axis_off()
            table = ax.table(cellText=cells, colLabels=self.header, loc="center")
            table.auto_set_font_size(False)
            table.set_fontsize(8)
            table.auto_set_column_width(list(range(len(self.header))))
            fig.suptitle(f"lab {self.name}: claim {'held' if self.held else 'did not hold'}")
            return fig
        from matplotlib.ticker import MaxNLocator

        count = len(self.panels)
        fig = figure(4.6 * count, 3.8)
        axes = fig.subplots(1, count, squeeze=False)[0]
        for ax, panel in zip(axes, self.panels):
            for label, (xs, ys) in panel.series.items():
                ax.plot(xs, ys, "-o", markersize=3, label=label)
            if panel.log_y:
                ax.set_yscale("log")
            ax.set_title(panel.title, fontsize=10)
            ax.set_xlabel(panel.xlabel)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_ylabel(panel.ylabel)
            ax.grid(alpha=0.3, which="both")
            ax.legend(fontsize=8)
        fig.suptitle(f"lab {self.name}: claim {'held' if self.held else 'did not hold'}")
        return fig


def _cell(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 100 else f"{value:,.0f}"
    return "-" if value is None else str(value)
