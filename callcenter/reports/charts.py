"""Charts of report rows as PNG files (matplotlib, Agg backend, imported only when drawing)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from callcenter.reports.metrics import Interval, MetricRow


def draw_service_level_chart(
    rows: Sequence[MetricRow],
    out: Path,
    *,
    title: str,
    interval: Interval = Interval.DAY,
    sl_target: float | None = None,
    width_px: int = 1200,
    height_px: int = 600,
    dpi: int = 100,
) -> None:
    """Volume per interval (bars: offered, answered, abandoned) and service level (line, %,
    right axis; no point where it is n/a) into the PNG ``out``, exactly ``width_px`` x
    ``height_px`` pixels. ``sl_target`` (0..1) draws a dashed target line."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi)
    FigureCanvasAgg(fig)
    volume = fig.add_subplot(1, 1, 1)
    positions = list(range(len(rows)))
    fmt = "%Y-%m-%d" if interval is Interval.DAY else "%m-%d %H:%M"
    labels = [r.interval_start.strftime(fmt) for r in rows]
    width = 0.27
    series = (
        ("offered", [r.offered for r in rows], "#9aa5b1"),
        ("answered", [r.answered for r in rows], "#3e7cb1"),
        ("abandoned", [r.abandoned for r in rows], "#d64545"),
    )
    for i, (name, values, colour) in enumerate(series):
        volume.bar(
            [p + (i - 1) * width for p in positions], values, width, label=name, color=colour
        )
    volume.set_ylabel("calls")
    volume.set_xticks(positions)
    tilt = len(rows) > 8
    volume.set_xticklabels(
        labels, rotation=45 if tilt else 0, ha="right" if tilt else "center", fontsize=8
    )
    volume.yaxis.set_major_locator(MaxNLocator(integer=True))
    if rows:
        volume.set_xlim(-0.6, len(rows) - 0.4)

    level = volume.twinx()
    shares = [math.nan if r.service_level is None else 100 * r.service_level for r in rows]
    level.plot(positions, shares, color="#2f8132", marker="o", linewidth=2, label="service level")
    if sl_target is not None:
        level.axhline(100 * sl_target, color="#2f8132", linestyle="--", linewidth=1, label="target")
    level.set_ylim(0, 105)
    level.set_ylabel("service level (%)")

    handles, names = volume.get_legend_handles_labels()
    more_handles, more_names = level.get_legend_handles_labels()
    volume.legend(handles + more_handles, names + more_names, loc="upper left", fontsize=8)
    volume.set_title(title)
    fig.tight_layout()
    fig.savefig(str(out), format="png", dpi=dpi)
