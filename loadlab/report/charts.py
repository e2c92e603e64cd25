"""Charts as SVG text, drawn with matplotlib (no pyplot, no global state, no display).

Every chart is one `Chart`: its SVG as a standalone file (for `report.md`) and as an inline
fragment for `index.html` (no XML prologue, no namespace URLs, ids prefixed so several
charts can share one page).
"""

from __future__ import annotations

import io
import math
import re
from collections import defaultdict
from dataclasses import dataclass

import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, NullLocator

from loadlab.core.results import CellResult, Estimate, LoadLevel
from loadlab.report.rawdata import (
    component_rank,
    merge_histograms,
    read_histogram,
    read_resources,
    read_window,
    spectrum,
    unit_in_ms,
)
from loadlab.report.runs import Run
from loadlab.report.tables import (
    WorkloadHeadline,
    fmt_load,
    fmt_ratio,
    headline_load,
    headlines,
)

INK = "#1f2328"
MUTED = "#57606a"
GRID = "#d8dee4"
FONT = ["DejaVu Sans", "Helvetica", "Arial", "Liberation Sans", "sans-serif"]

STYLE = {
    "svg.fonttype": "none",
    "svg.hashsalt": "loadlab-report",
    "font.family": "sans-serif",
    "font.sans-serif": FONT,
    "font.size": 9.5,
    "axes.titlesize": 10.5,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.titlepad": 8,
    "axes.labelsize": 9,
    "axes.labelcolor": MUTED,
    "axes.edgecolor": "#8c959f",
    "axes.linewidth": 0.8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.grid.axis": "y",
    "axes.axisbelow": True,
    "grid.color": GRID,
    "grid.linewidth": 0.7,
    "xtick.color": MUTED,
    "ytick.color": MUTED,
    "xtick.labelsize": 8.5,
    "ytick.labelsize": 8.5,
    "xtick.major.size": 3,
    "ytick.major.size": 0,
    "legend.frameon": False,
    "legend.fontsize": 8.5,
    "text.color": INK,
    "lines.linewidth": 1.8,
    "lines.markersize": 5,
    "errorbar.capsize": 3,
    "figure.facecolor": "white",
    "axes.facecolor": "white",
    "savefig.facecolor": "white",
}

# Okabe-Ito: distinguishable with any common colour-vision deficiency.
VARIANT_COLORS = {
    "flask-sync": "#E69F00",
    "flask-gevent": "#0072B2",
    "fastapi-async": "#009E73",
    "fastapi-sync": "#CC79A7",
    "fastapi-psycopg": "#56B4E9",
}
SPARE_COLORS = ["#D55E00", "#8c6d31", "#7f7f7f", "#F0E442", "#17becf"]
COMPONENT_COLORS = {"app": "#0072B2", "postgres": "#009E73", "locust": "#D55E00", "machine": INK}
SHADE = "#eaeef2"
RUN_MARKERS = ["o", "s", "D", "^", "v", "P"]


def _ring_flagged(ax: Axes, points: list[tuple[float, float]], color: str) -> None:
    """Hollow rings over the points an invalid cell went into, so no one reads them as sound."""
    if points:
        ax.plot(
            [x for x, _ in points],
            [y for _, y in points],
            linestyle="none",
            marker="o",
            markersize=9,
            markerfacecolor="white",
            markeredgecolor=color,
            markeredgewidth=1.8,
        )


def variant_color(name: str) -> str:
    if name in VARIANT_COLORS:
        return VARIANT_COLORS[name]
    return SPARE_COLORS[sum(map(ord, name)) % len(SPARE_COLORS)]


def component_color(name: str) -> str:
    lowered = name.lower()
    if lowered.startswith("locust"):
        return "#CC79A7" if "master" in lowered else COMPONENT_COLORS["locust"]
    aliases = {"database": "postgres", "db": "postgres", "loadgen": "locust"}
    return COMPONENT_COLORS.get(aliases.get(lowered, lowered), "#7f7f7f")


@dataclass
class Chart:
    slug: str
    title: str
    caption: str
    svg: str

    @property
    def filename(self) -> str:
        return f"{self.slug}.svg"

    def inline(self) -> str:
        return inline_svg(self.svg, self.slug)


# ---------------------------------------------------------------- SVG plumbing

_PROLOGUE = re.compile(r"<\?xml[^>]*\?>\s*|<!DOCTYPE[^>]*>\s*", re.S)
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.S)
_XMLNS = re.compile(r'\s+xmlns(:\w+)?="[^"]*"')
_ROOT_SIZE = re.compile(r'<svg([^>]*?)\swidth="([\d.]+)pt"\s+height="([\d.]+)pt"')


def render(fig: Figure, tight: bool = True) -> str:
    buffer = io.StringIO()
    fig.savefig(
        buffer,
        format="svg",
        bbox_inches="tight" if tight else None,
        pad_inches=0.08,
        metadata={"Date": None},
    )
    svg = _METADATA.sub("", buffer.getvalue())
    svg = _PROLOGUE.sub("", svg)
    # font fallbacks for viewers without DejaVu Sans (matplotlib names one family only)
    svg = svg.replace("'DejaVu Sans'", "'DejaVu Sans', Helvetica, Arial, sans-serif")
    return '<?xml version="1.0" encoding="utf-8" standalone="no"?>\n' + svg


def inline_svg(svg: str, prefix: str) -> str:
    """A standalone SVG made fit for embedding: no prologue, no namespace URLs, unique ids."""
    body = _PROLOGUE.sub("", svg)
    body = _XMLNS.sub("", body)
    body = body.replace("xlink:href=", "href=")
    body = re.sub(r'\bid="([^"]+)"', rf'id="{prefix}-\1"', body)
    body = re.sub(r"url\(#([^)]+)\)", rf"url(#{prefix}-\1)", body)
    body = re.sub(r'href="#([^"]+)"', rf'href="#{prefix}-\1"', body)
    return _ROOT_SIZE.sub(
        r'<svg\1 role="img" style="width:100%;height:auto;max-width:\2pt"', body, count=1
    )


def _figure(width: float, height: float, constrained: bool = True) -> Figure:
    return Figure(figsize=(width, height), layout="constrained" if constrained else None)


def _grid(n: int, max_cols: int = 3) -> tuple[int, int]:
    cols = min(n, max_cols)
    return math.ceil(n / cols), cols


def _ratio_axis(ax, values: list[float], axis: str = "x") -> None:
    """Log scale for ratios when they span a wide range, with plain tick labels (0.5x, 1x, 2x)."""
    values = [v for v in values if v and v > 0 and math.isfinite(v)] + [1.0]
    low, high = min(values), max(values)
    fmt = FuncFormatter(lambda v, _: f"{v:g}×")
    if high / low >= 4:
        ticks = [
            t
            for t in (0.25, 0.5, 1, 1.5, 2, 3, 5, 7, 10, 15, 20, 30, 50)
            if low / 1.3 <= t <= high * 1.3
        ]
        if axis == "x":
            ax.set_xscale("log")
            ax.set_xlim(low / 1.35, high * 1.5)
            ax.xaxis.set_major_locator(FixedLocator(ticks))
            ax.xaxis.set_minor_locator(NullLocator())
            ax.xaxis.set_major_formatter(fmt)
        else:
            ax.set_yscale("log")
            ax.set_ylim(low / 1.35, high * 1.5)
            ax.yaxis.set_major_locator(FixedLocator(ticks))
            ax.yaxis.set_minor_locator(NullLocator())
            ax.yaxis.set_major_formatter(fmt)
    else:
        pad = (high - min(low, 1.0)) * 0.15 + 0.05
        lo = max(0.0, min(low, 1.0) - pad)
        if axis == "x":
            ax.set_xlim(lo, high + pad * 2.2)
            ax.xaxis.set_major_formatter(fmt)
        else:
            ax.set_ylim(0, high + pad * 1.5)
            ax.yaxis.set_major_formatter(fmt)


LOG_TICKS = [k * 10.0**e for e in range(-3, 7) for k in (1, 2, 5)]


def _log_ms(ax) -> None:
    """Log scale labelled 1, 2, 5, 10, 20, 50 ... (no 10^x notation, no minor labels)."""
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(FixedLocator(LOG_TICKS))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))


def _thousands(ax, axis: str = "y") -> None:
    fmt = FuncFormatter(lambda v, _: f"{v:,.0f}")
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(fmt)


# ---------------------------------------------------------------- the headline chart


def headline_chart(items: list[tuple[Run, list[WorkloadHeadline]]]) -> Chart | None:
    """Forest plot: each FastAPI-over-Flask ratio with its 95% CI, per workload, per run."""
    rows: list[tuple[str, str, str]] = []  # (workload, numerator, denominator)
    for _, heads in items:
        for head in heads:
            for r in head.ratios:
                key = (head.workload, r.numerator, r.denominator)
                if key not in rows:
                    rows.append(key)
    if not rows:
        return None
    multi = len(items) > 1
    band = 0.62
    with matplotlib.rc_context(STYLE):
        fig = _figure(7.6, 0.9 + 0.5 * len(rows) * (1 + 0.45 * (len(items) - 1)))
        ax = fig.add_subplot()
        ax.grid(axis="x", color=GRID, linewidth=0.7)
        ax.grid(axis="y", visible=False)
        values: list[float] = []
        labels = []
        for i, (workload, numerator, denominator) in enumerate(rows):
            y = len(rows) - 1 - i
            labels.append((y, workload, denominator))
            for j, (run, heads) in enumerate(items):
                head = next((h for h in heads if h.workload == workload), None)
                ratio = head.ratio(denominator) if head else None
                if ratio is None or ratio.numerator != numerator:
                    continue
                e = ratio.estimate
                offset = (0.5 - (j + 0.5) / len(items)) * band if multi else 0.0
                yy = y + offset
                if not (0 < e.median < math.inf):
                    ax.annotate(
                        f"{fmt_ratio(e.median)}: not a usable ratio (a variant sustained nothing)",
                        (0.01, yy),
                        xycoords=("axes fraction", "data"),
                        va="center",
                        fontsize=8.5,
                        color=MUTED,
                    )
                    continue
                color = variant_color(denominator)
                ax.plot(
                    [e.ci_low, e.ci_high],
                    [yy, yy],
                    color=color,
                    linewidth=2.4,
                    solid_capstyle="round",
                )
                ax.plot(
                    [e.median],
                    [yy],
                    marker=RUN_MARKERS[j % len(RUN_MARKERS)],
                    markersize=8,
                    color=color,
                    markerfacecolor="white" if ratio.flagged else color,
                    markeredgewidth=1.8,
                    linestyle="none",
                    label=run.label if multi and i == 0 else None,
                )
                ci = f"  [{e.ci_low:.2f}–{e.ci_high:.2f}]" if ratio.has_ci else "  (no CI)"
                text = f"{fmt_ratio(e.median)}{ci}" + ("  flagged" if ratio.flagged else "")
                ax.annotate(
                    text,
                    (max(e.ci_high, e.median), yy),
                    xytext=(8, 0),
                    textcoords="offset points",
                    va="center",
                    fontsize=8.5,
                    color=INK,
                )
                values += [e.ci_low, e.ci_high, e.median]
        ax.axvline(1.0, color=INK, linewidth=1, linestyle=(0, (3, 3)))
        ax.annotate(
            "parity",
            (1.0, 0),
            xycoords=("data", "axes fraction"),
            xytext=(4, 4),
            textcoords="offset points",
            color=MUTED,
            fontsize=8,
        )
        _ratio_axis(ax, values, "x")
        low, high = ax.get_xlim()
        if ax.get_xscale() == "log":
            ax.set_xlim(low, high * 1.9)
        else:
            ax.set_xlim(low, high + (high - low) * 0.35)
        ax.set_yticks([y for y, _, _ in labels])
        ax.set_yticklabels([f"{w}  ·  over {d}" for _, w, d in labels], fontsize=9, color=INK)
        ax.set_ylim(-0.6, len(rows) - 0.2)
        ax.spines["left"].set_visible(False)
        ax.tick_params(axis="y", length=0)
        ax.set_xlabel("FastAPI throughput ÷ Flask throughput (median, 95% CI)")
        numerators = sorted({n for _, n, _ in rows})
        ax.set_title(
            f"{' / '.join(numerators)} throughput as a multiple of Flask's", pad=24 if multi else 8
        )
        if multi:
            handles = [
                matplotlib.lines.Line2D(
                    [],
                    [],
                    marker=RUN_MARKERS[j % len(RUN_MARKERS)],
                    color=INK,
                    linestyle="none",
                    markersize=7,
                    label=run.label,
                )
                for j, (run, _) in enumerate(items)
            ]
            ax.legend(
                handles=handles, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=len(items)
            )
        svg = render(fig)
    caption = (
        "Each point is the ratio across repeats (paired by block: the geometric mean of the "
        "per-block ratios); the bar is its 95% interval, by the method the headline table "
        "names. Right of the dashed line FastAPI is ahead. Hollow points are flagged "
        "(an invalid cell went into them)."
    )
    return Chart("headline", "FastAPI over Flask", caption, svg)


# ---------------------------------------------------------------- throughput


def _matrix_levels(run: Run, workload: str) -> list[LoadLevel]:
    seen: dict[str, LoadLevel] = {}
    for a in run.summary.aggregates:
        if a.workload == workload:
            seen.setdefault(a.load_label, a.load)
    return sorted(seen.values(), key=lambda lv: (lv.model != "closed", lv.sort_key))


def throughput_chart(run: Run, slug: str) -> Chart | None:
    workloads = [w for w in run.workloads if any(a.workload == w for a in run.summary.aggregates)]
    if not workloads:
        return None
    nrows, ncols = _grid(len(workloads))
    with matplotlib.rc_context(STYLE):
        fig = _figure(3.2 * ncols + 0.6, 2.9 * nrows + 0.5)
        axes = fig.subplots(nrows, ncols, squeeze=False)
        for ax in axes.flat[len(workloads) :]:
            ax.set_visible(False)
        for ax, workload in zip(axes.flat, workloads, strict=False):
            levels = _matrix_levels(run, workload)
            xs = list(range(len(levels)))
            for variant in run.variants:
                points = []
                for x, level in zip(xs, levels, strict=True):
                    agg = next(
                        (
                            a
                            for a in run.summary.aggregates
                            if a.workload == workload and a.variant == variant and a.load == level
                        ),
                        None,
                    )
                    if agg is not None:
                        points.append((x, agg))
                if not points:
                    continue
                color = variant_color(variant)
                px = [x for x, _ in points]
                py = [a.throughput_rps.median for _, a in points]
                err = [
                    [
                        max(0.0, a.throughput_rps.median - a.throughput_rps.ci_low)
                        for _, a in points
                    ],
                    [
                        max(0.0, a.throughput_rps.ci_high - a.throughput_rps.median)
                        for _, a in points
                    ],
                ]
                ax.errorbar(
                    px, py, yerr=err, color=color, marker="o", label=variant, elinewidth=1.2
                )
                _ring_flagged(
                    ax, [(x, a.throughput_rps.median) for x, a in points if not a.valid], color
                )
            ax.set_xticks(xs)
            ax.set_xticklabels([fmt_load(lv) for lv in levels])
            ax.set_xlim(-0.4, len(levels) - 0.6)
            ax.set_ylim(bottom=0)
            ax.yaxis.set_major_locator(MaxNLocator(5))
            _thousands(ax)
            ax.set_title(workload)
            ax.set_ylabel("requests/s")
        handles, labels = axes.flat[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside upper center", ncols=len(labels))
        svg = render(fig)
    caption = (
        "Median throughput across repeats at each load level, with its 95% CI. "
        "A hollow ring marks a level where a cell failed a validity check."
    )
    return Chart(slug, "Throughput against load", caption, svg)


def capacity_chart(run: Run, slug: str) -> Chart | None:
    caps = run.summary.capacity
    workloads = [w for w in run.workloads if any(c.workload == w for c in caps)]
    if not workloads:
        return None
    with matplotlib.rc_context(STYLE):
        fig = _figure(7.6, 2.9 * len(workloads) + 0.5)
        axes = fig.subplots(len(workloads), 2, squeeze=False)
        for (left, right), workload in zip(axes, workloads, strict=True):
            top = 0.0
            slo = None
            for cap in sorted(
                (c for c in caps if c.workload == workload),
                key=lambda c: run.variants.index(c.variant) if c.variant in run.variants else 99,
            ):
                color = variant_color(cap.variant)
                steps = sorted(cap.steps, key=lambda s: s.rate)
                if not steps:
                    continue
                slo = cap.slo_p99_ms
                rates = [s.rate for s in steps]
                top = max(top, *rates)
                left.plot(
                    rates,
                    [s.achieved_rps for s in steps],
                    color=color,
                    marker="o",
                    label=cap.variant,
                )
                right.plot(rates, [max(s.p99_ms, 1e-3) for s in steps], color=color, marker="o")
                for s in steps:
                    if not s.ok:
                        for ax, y in ((left, s.achieved_rps), (right, max(s.p99_ms, 1e-3))):
                            ax.plot(
                                [s.rate],
                                [y],
                                marker="X",
                                markersize=9,
                                color=color,
                                markeredgecolor="white",
                                linestyle="none",
                            )
                if cap.sustained_rps > 0:
                    left.axvline(
                        cap.sustained_rps,
                        color=color,
                        linewidth=0.9,
                        linestyle=(0, (2, 2)),
                        alpha=0.8,
                    )
            left.plot([0, top], [0, top], color=MUTED, linewidth=0.8, linestyle=(0, (1, 2)))
            left.text(top, top, " offered", color=MUTED, fontsize=8, va="center")
            left.set_xlim(0, top * 1.08)
            left.set_ylim(0, top * 1.1)
            for ax in (left, right):
                _thousands(ax, "x")
                ax.set_xlabel("offered rate (requests/s)")
            _thousands(left)
            left.set_ylabel("achieved requests/s")
            left.set_title(f"{workload}: achieved against offered rate")
            _log_ms(right)
            right.set_ylabel("p99 latency (ms, log)")
            right.set_title(f"{workload}: p99 against offered rate")
            right.set_xlim(0, top * 1.08)
            if slo:
                right.axhline(slo, color="#cf222e", linewidth=1, linestyle=(0, (4, 2)))
                right.text(
                    top * 0.02,
                    slo,
                    f" SLO {slo:g} ms",
                    color="#cf222e",
                    fontsize=8,
                    ha="left",
                    va="bottom",
                )
        handles, labels = axes[0][0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside upper center", ncols=max(1, len(labels)))
        svg = render(fig)
    caption = (
        "The capacity search raises the arrival rate (open model, latency from the intended "
        "send time) until p99 leaves the SLO or the rate is not held. ✕ marks the step that "
        "failed; the dotted vertical line is the rate the variant sustained."
    )
    return Chart(slug, "Capacity search", caption, svg)


# ---------------------------------------------------------------- latency

PERCENTILES = [(50, "p50"), (90, "p90"), (99, "p99"), (99.9, "p99.9")]


def _x_of(q: float) -> float:
    return -math.log10(1 - q / 100)


def latency_level(run: Run, workload: str) -> tuple[str, dict[str, list[CellResult]]]:
    """The cells whose latencies the chart shows: the headline load level of the matrix, or
    the sustained step of a capacity search when the workload has no matrix cells."""
    load = headline_load(run.summary, workload)
    groups: dict[str, list[CellResult]] = defaultdict(list)
    if load is not None:
        for c in run.summary.cells:
            if c.spec.workload == workload and c.spec.phase == "matrix" and c.spec.load == load:
                groups[c.spec.variant].append(c)
        return fmt_load(load), groups
    by_id = {c.spec.cell_id: c for c in run.summary.cells}
    for cap in run.summary.capacity:
        if cap.workload != workload:
            continue
        ok = [s for s in cap.steps if s.ok and s.cell_id in by_id]
        if ok:
            groups[cap.variant].append(by_id[max(ok, key=lambda s: s.rate).cell_id])
    return "the sustained capacity step", groups


def latency_chart(run: Run, slug: str) -> Chart | None:
    panels = []
    for workload in run.workloads:
        label, groups = latency_level(run, workload)
        if groups:
            panels.append((workload, label, groups))
    if not panels:
        return None
    nrows, ncols = _grid(len(panels), 2)
    sources = set()
    with matplotlib.rc_context(STYLE):
        fig = _figure(3.9 * ncols + 0.4, 3.0 * nrows + 0.5)
        axes = fig.subplots(nrows, ncols, squeeze=False)
        for ax in axes.flat[len(panels) :]:
            ax.set_visible(False)
        top_x = 1.0
        for ax, (workload, label, groups) in zip(axes.flat, panels, strict=False):
            for variant in [v for v in run.variants if v in groups]:
                cells = groups[variant]
                color = variant_color(variant)
                hists = [
                    read_histogram(run.cell_dir(c.spec.cell_id) / "latency.hdr") for c in cells
                ]
                if hists and all(h is not None for h in hists):
                    unit = unit_in_ms(hists[0], cells[0].latency.p50)
                    merged = merge_histograms(hists)
                    xs, ys = spectrum(merged, unit)
                    ax.plot(xs, ys, color=color, label=variant, linewidth=1.8)
                    marks = [
                        (_x_of(q), merged.get_value_at_percentile(q) * unit) for q, _ in PERCENTILES
                    ]
                    marks = [(x, y) for x, y in marks if x <= xs[-1] + 1e-9]
                    ax.plot(
                        [m[0] for m in marks],
                        [m[1] for m in marks],
                        linestyle="none",
                        marker="o",
                        markersize=4,
                        color=color,
                    )
                    top_x = max(top_x, xs[-1])
                    sources.add("hdr")
                else:
                    keys = ["p50", "p90", "p99", "p999"]
                    ys = [
                        sorted(getattr(c.latency, k) for c in cells)[len(cells) // 2] for k in keys
                    ]
                    xs = [_x_of(q) for q, _ in PERCENTILES]
                    ax.plot(xs, ys, color=color, marker="o", label=variant)
                    top_x = max(top_x, xs[-1])
                    sources.add("stats")
            _log_ms(ax)
            ticks = [_x_of(50), 1, 2, 3, 4, 5]
            names = ["p50", "p90", "p99", "p99.9", "p99.99", "p99.999"]
            keep = [(t, n) for t, n in zip(ticks, names, strict=True) if t <= top_x + 1e-9]
            ax.xaxis.set_major_locator(FixedLocator([t for t, _ in keep]))
            ax.xaxis.set_major_formatter(
                FuncFormatter(
                    lambda v, pos, keep=keep: (
                        keep[pos][1] if pos is not None and pos < len(keep) else ""
                    )
                )
            )
            ax.set_xlim(0, top_x + 0.05)
            ax.grid(axis="x", color=GRID, linewidth=0.7)
            ax.set_xlabel("percentile")
            ax.set_ylabel("latency (ms, log)")
            ax.set_title(f"{workload} at {label}")
        handles, labels = axes.flat[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside upper center", ncols=max(1, len(labels)))
        svg = render(fig)
    how = (
        "the HDR histograms of the repeats merged"
        if sources == {"hdr"}
        else "the median across repeats of each percentile"
    )
    caption = (
        f"Latency at each percentile, from {how}; dots mark p50, p90, p99 and p99.9. "
        "The x axis stretches the tail: each step right is ten times rarer."
    )
    return Chart(slug, "Latency percentiles", caption, svg)


# ---------------------------------------------------------------- ratio against RTT


def rtt_ratio_chart(parts: list[Run], slug: str) -> Chart | None:
    """One run's RTT sweep: each FastAPI-over-Flask headline ratio against the emulated
    database round trip, per workload, with its 95% CI. `parts` come from `split_by_rtt`."""
    series: dict[str, dict[tuple[str, str], list[tuple[float, Estimate, bool]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for part in parts:
        if part.db_rtt_ms is None:
            continue
        for head in headlines(part):
            for r in head.ratios:
                if 0 < r.estimate.median < math.inf:
                    key = (r.numerator, r.denominator)
                    series[head.workload][key].append((part.db_rtt_ms, r.estimate, r.flagged))
    workloads = [w for w in dict.fromkeys(w for p in parts for w in p.workloads) if w in series]
    if len({p.db_rtt_ms for p in parts}) < 2 or not workloads:
        return None
    nrows, ncols = _grid(len(workloads), 2)
    seen: dict[str, object] = {}
    with matplotlib.rc_context(STYLE):
        fig = _figure(3.9 * ncols + 0.4, 3.0 * nrows + 0.5)
        axes = fig.subplots(nrows, ncols, squeeze=False)
        for ax in axes.flat[len(workloads) :]:
            ax.set_visible(False)
        for ax, workload in zip(axes.flat, workloads, strict=False):
            values: list[float] = []
            for (numerator, denominator), points in series[workload].items():
                points.sort(key=lambda p: p[0])
                color = variant_color(denominator)
                xs = [p[0] for p in points]
                ys = [p[1].median for p in points]
                err = [
                    [max(0.0, e.median - e.ci_low) for _, e, _ in points],
                    [max(0.0, e.ci_high - e.median) for _, e, _ in points],
                ]
                label = f"{numerator} over {denominator}"
                line = ax.errorbar(
                    xs, ys, yerr=err, color=color, marker="o", elinewidth=1.2, label=label
                )
                seen.setdefault(label, line)
                _ring_flagged(ax, [(x, e.median) for x, e, f in points if f], color)
                values += [e.ci_high for _, e, _ in points] + ys
            ax.axhline(1.0, color=INK, linewidth=0.9, linestyle=(0, (3, 3)))
            ax.set_ylim(0, max([*values, 1.0]) * 1.15)
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}×"))
            ax.set_xlabel("emulated database round trip (ms)")
            ax.set_ylabel("throughput ratio")
            ax.set_title(workload)
        fig.legend(list(seen.values()), list(seen), loc="outside upper center", ncols=len(seen))
        svg = render(fig)
    caption = (
        "The headline throughput ratio of each workload at every emulated app-to-database "
        "round trip (network namespace with delay), median and 95% bootstrap CI across repeats. "
        "Above the dashed line FastAPI is ahead; hollow points are flagged (an invalid cell "
        "went into them)."
    )
    return Chart(slug, "Ratio against database round trip", caption, svg)


# ---------------------------------------------------------------- ratios


def ratio_chart(run: Run, slug: str) -> Chart | None:
    s = run.summary
    all_ratios = s.ratios + s.capacity_ratios
    workloads = [w for w in run.workloads if any(r.workload == w for r in all_ratios)]
    if not workloads:
        return None
    nrows, ncols = _grid(len(workloads), 2)
    with matplotlib.rc_context(STYLE):
        fig = _figure(3.9 * ncols + 0.4, 3.0 * nrows + 0.5)
        axes = fig.subplots(nrows, ncols, squeeze=False)
        for ax in axes.flat[len(workloads) :]:
            ax.set_visible(False)
        seen_labels: dict[str, object] = {}
        for ax, workload in zip(axes.flat, workloads, strict=False):
            levels = _matrix_levels(run, workload)
            groups = [lv.label for lv in levels]
            names = [fmt_load(lv) for lv in levels]
            for r in s.capacity_ratios:
                if r.workload == workload and r.load_label not in groups:
                    groups.append(r.load_label)
                    names.append("capacity")
            pairs = []
            for r in all_ratios:
                if r.workload == workload and (r.numerator, r.denominator) not in pairs:
                    pairs.append((r.numerator, r.denominator))
            width = 0.8 / max(1, len(pairs))
            values = []
            for k, (num, den) in enumerate(pairs):
                for g, group in enumerate(groups):
                    r = next(
                        (
                            r
                            for r in all_ratios
                            if r.workload == workload
                            and r.load_label == group
                            and (r.numerator, r.denominator) == (num, den)
                        ),
                        None,
                    )
                    if r is None:
                        continue
                    e = r.estimate
                    x = g - 0.4 + width * (k + 0.5)
                    color = variant_color(den)
                    label = f"{num} over {den}"
                    bar = ax.bar(
                        x,
                        e.median,
                        width * 0.9,
                        color=color if not r.flagged else "white",
                        edgecolor=color,
                        linewidth=1.4,
                        hatch="////" if r.flagged else None,
                        label=label if label not in seen_labels else None,
                    )
                    seen_labels.setdefault(label, bar)
                    ax.errorbar(
                        x,
                        e.median,
                        yerr=[[max(0.0, e.median - e.ci_low)], [max(0.0, e.ci_high - e.median)]],
                        color=INK,
                        elinewidth=1.1,
                        capsize=3,
                        linestyle="none",
                    )
                    ax.annotate(
                        f"{e.median:.2f}×",
                        (x, max(e.ci_high, e.median)),
                        xytext=(0, 3),
                        textcoords="offset points",
                        ha="center",
                        va="bottom",
                        fontsize=7.5,
                    )
                    values += [e.ci_high, e.median]
            ax.axhline(1.0, color=INK, linewidth=0.9, linestyle=(0, (3, 3)))
            ax.set_xticks(range(len(groups)))
            ax.set_xticklabels(names)
            ax.set_ylim(0, max([*values, 1.0]) * 1.18)
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}×"))
            ax.set_title(workload)
            ax.set_ylabel("throughput ratio")
        handles = list(seen_labels.values())
        fig.legend(
            handles, list(seen_labels), loc="outside upper center", ncols=max(1, len(handles))
        )
        svg = render(fig)
    caption = (
        "Every throughput ratio the run measured, per load level (and at capacity), with its "
        "95% CI. Hatched bars are flagged: an invalid cell went into them."
    )
    return Chart(slug, "Ratios at every load level", caption, svg)


# ---------------------------------------------------------------- CPU per cell


def cpu_charts(run: Run, slug: str) -> list[Chart]:
    charts = []
    for workload in run.workloads:
        cells = [c for c in run.summary.cells if c.spec.workload == workload]
        series = {
            c.spec.cell_id: read_resources(run.cell_dir(c.spec.cell_id) / "resources.csv")
            for c in cells
        }
        cells = [c for c in cells if series[c.spec.cell_id]]
        if not cells:
            continue
        rows: list[tuple[str, LoadLevel, int]] = []
        for c in sorted(
            cells,
            key=lambda c: (c.spec.phase, c.spec.load.model, c.spec.load.sort_key, c.spec.repeat),
        ):
            key = (c.spec.phase, c.spec.load, c.spec.repeat)
            if key not in rows:
                rows.append(key)
        variants = [v for v in run.variants if any(c.spec.variant == v for c in cells)]
        top = max(max(s.cpu_percent) for c in cells for s in series[c.spec.cell_id])
        components: dict[str, object] = {}
        with matplotlib.rc_context(STYLE):
            # A grid of many small panels: a fixed layout, which is much faster than a solver.
            width, height = 2.5 * len(variants) + 0.9, 1.35 * len(rows) + 1.0
            fig = _figure(width, height, constrained=False)
            axes = fig.subplots(len(rows), len(variants), squeeze=False, sharex=True, sharey=True)
            fig.subplots_adjust(
                left=0.9 / width,
                right=1 - 0.15 / width,
                bottom=0.5 / height,
                top=1 - 0.62 / height,
                wspace=0.08,
                hspace=0.18,
            )
            for i, (phase, load, repeat) in enumerate(rows):
                for j, variant in enumerate(variants):
                    ax = axes[i][j]
                    cell = next(
                        (
                            c
                            for c in cells
                            if c.spec.variant == variant
                            and (c.spec.phase, c.spec.load, c.spec.repeat) == (phase, load, repeat)
                        ),
                        None,
                    )
                    if i == 0:
                        ax.set_title(variant, color=variant_color(variant))
                    if j == 0:
                        tag = " (capacity)" if phase == "capacity" else ""
                        ax.set_ylabel(f"{fmt_load(load)}{tag}\nrepeat {repeat}", fontsize=8)
                    if cell is None:
                        ax.text(
                            0.5,
                            0.5,
                            "not run",
                            transform=ax.transAxes,
                            ha="center",
                            va="center",
                            color=MUTED,
                            fontsize=8,
                        )
                        continue
                    cell_series = series[cell.spec.cell_id]
                    window = read_window(run.cell_dir(cell.spec.cell_id) / "measurement.json")
                    end = max(max(x.seconds) for x in cell_series)
                    if window is not None:  # shade what lies outside the measured window
                        t0 = cell_series[0].t0
                        ax.axvspan(0, max(0.0, window[1] - t0), color=SHADE, linewidth=0)
                        if window[2] - t0 < end:
                            ax.axvspan(window[2] - t0, end, color=SHADE, linewidth=0)
                    elif cell.spec.warmup_s:
                        ax.axvspan(0, cell.spec.warmup_s, color=SHADE, linewidth=0)
                    for s in sorted(
                        series[cell.spec.cell_id], key=lambda s: component_rank(s.component)
                    ):
                        machine = s.component.lower() == "machine"
                        (line,) = ax.plot(
                            s.seconds,
                            s.cpu_percent,
                            color=component_color(s.component),
                            linewidth=0.9 if machine else 1.3,
                            linestyle=(0, (3, 2)) if machine else "-",
                        )
                        components.setdefault(s.component, line)
                    if not cell.validity.valid:
                        ax.text(
                            0.98,
                            0.92,
                            "invalid",
                            transform=ax.transAxes,
                            ha="right",
                            va="top",
                            color="#cf222e",
                            fontsize=7.5,
                        )
            for ax in axes.flat:
                ax.set_ylim(0, top * 1.12)
                ax.yaxis.set_major_locator(MaxNLocator(3))
                ax.xaxis.set_major_locator(MaxNLocator(4))
                ax.tick_params(labelsize=7.5)
            for ax in axes[-1]:
                ax.set_xlabel("seconds", fontsize=8)
            names = sorted(components, key=component_rank)
            fig.legend(
                [components[n] for n in names],
                names,
                loc="upper center",
                bbox_to_anchor=(0.5, 1.0),
                ncols=len(names),
            )
            svg = render(fig, tight=False)
        charts.append(
            Chart(
                f"{slug}-{workload}",
                f"CPU per component: {workload}",
                "CPU of each component summed over its processes (100% = one core busy; "
                "the dashed line, where recorded, is the whole machine), one panel per cell. "
                "Shaded: outside the measured window (warm-up before, wind-down after).",
                svg,
            )
        )
    return charts
