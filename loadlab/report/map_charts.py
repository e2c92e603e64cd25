"""Charts that set the lab's ratios against the published claims: the regime map's heatmaps
(one per Flask variant, a panel per workload family, contour lines at 1x, 2x and 7x, each
claim placed at its regime) and the claims report's forest plot.

SVG through `loadlab.report.charts` (same style, same `Chart`). Elements a reader or a test
looks for carry ids: `contour-label-2x`, `claim-<claim id>`, `forest-<claim id>-<row>`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import matplotlib
import numpy as np
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Colormap, LogNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.ticker import FixedFormatter, FixedLocator, FuncFormatter, NullLocator

from loadlab.core.regime import Axis, MapRatio, RegimeMap
from loadlab.report.charts import GRID, INK, MUTED, STYLE, Chart, _figure, render
from loadlab.report.claims import Claim, ClaimRow

CONTOURS = (1.0, 2.0, 7.0)
CONTOUR_STYLE = {1.0: (INK, (0, (3, 2)), 1.1), 2.0: (INK, "solid", 1.3), 7.0: (INK, "solid", 2.2)}
HALO = [patheffects.withStroke(linewidth=3.2, foreground="white")]
CMAP = "PuOr"  # orange where Flask is ahead, purple where FastAPI is; white at parity
MARKED_FACE = "#eaeef2"
MISSING_FACE = "white"
REFINE = 61
VERDICT_COLORS = {
    "consistent": "#1a7f37",
    "higher": "#0969da",
    "lower": "#bc4c00",
    "not measured": MUTED,
}
COLORBAR_TICKS = (1 / 16, 1 / 8, 1 / 4, 1 / 2, 1, 2, 4, 7, 16, 32)


def _fmt_ratio(value: float) -> str:
    return f"{value:.2f}×" if value < 10 else f"{value:.1f}×"


def _fmt_tick(value: float) -> str:
    return f"{value:g}×" if value >= 1 else f"1/{1 / value:g}×"


# ---------------------------------------------------------------- geometry


def edges(positions: Sequence[float], half: float = 0.2) -> list[float]:
    """Cell boundaries around each position: midpoints, the ends half a step out."""
    pos = list(positions)
    if len(pos) == 1:
        return [pos[0] - half, pos[0] + half]
    mids = [(a + b) / 2 for a, b in itertools.pairwise(pos)]
    return [pos[0] - (mids[0] - pos[0]), *mids, pos[-1] + (pos[-1] - mids[-1])]


def interpolate(
    tx: Sequence[float], ty: Sequence[float], logz: np.ndarray, refine: int = REFINE
) -> tuple[np.ndarray, np.ndarray, np.ma.MaskedArray]:
    """Bilinear interpolation of log ratios on the (log) positions of a rectilinear grid.
    NaN nodes (not measured, or marked) spread NaN over the cells they touch, which are masked:
    no contour is drawn through a point the map does not trust."""
    gx = np.linspace(tx[0], tx[-1], refine)
    gy = np.linspace(ty[0], ty[-1], refine)
    along_x = np.array([np.interp(gx, tx, row) for row in logz])  # rows: one per y node
    z = np.array([np.interp(gy, ty, along_x[:, k]) for k in range(len(gx))]).T
    mx, my = np.meshgrid(gx, gy)
    return mx, my, np.ma.masked_invalid(z)


def crossings(positions: Sequence[float], logz: Sequence[float], level: float) -> list[float]:
    """Where a piecewise-linear profile crosses `level` (one row or one column of a grid)."""
    found = []
    pairs = list(zip(positions, logz, strict=True))
    for (p0, z0), (p1, z1) in itertools.pairwise(pairs):
        if math.isnan(z0) or math.isnan(z1) or z0 == z1:
            continue
        if (z0 - level) * (z1 - level) <= 0:
            found.append(p0 + (level - z0) / (z1 - z0) * (p1 - p0))
    return sorted(set(found))


def claim_family(claim: Claim, regime: RegimeMap) -> str | None:
    """The panel a claim sits on: in the wait preset a claim measured on pg-sleep sits on the
    database-wait panel and every other one on the upstream-wait panel (io; a benchmark with
    no I/O at 0 ms); the rtt preset has one panel."""
    names = [f.name for f in regime.families]
    if claim.map_preset != regime.preset:
        return None
    if regime.preset == "wait":
        family = "pg-sleep" if "pg-sleep" in claim.workloads else "io"
        return family if family in names else None
    return names[0] if names else None


def placed_claims(regime: RegimeMap, claims: Sequence[Claim]) -> list[tuple[Claim, str | None]]:
    """Every claim placed on this map's preset, with its panel (None: that panel was not run)."""
    return [(c, claim_family(c, regime)) for c in claims if c.map_preset == regime.preset]


def ratio_norm(regime: RegimeMap, machine_counts: bool = True) -> LogNorm:
    """One colour scale for all of a map's charts, symmetric about 1x on a log scale and wide
    enough to show 7x."""
    spread = 8.0
    for point in regime.points:
        for r in point.ratios.values():
            if not r.marked(machine_counts) and 0 < r.median < math.inf:
                spread = max(spread, r.median, 1 / r.median)
    spread *= 1.05
    return LogNorm(vmin=1 / spread, vmax=spread)


def _luminance(rgba: tuple[float, ...]) -> float:
    r, g, b = rgba[:3]
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


# ---------------------------------------------------------------- the heatmap


def _cell_note(r: MapRatio, machine_counts: bool) -> str:
    if r.flagged:
        return "load gen. saturated" if r.loadgen_saturated else "invalid cell"
    if machine_counts and r.machine_saturated:
        return "machine saturated"
    return ""


def _draw_contours(
    ax: Axes, tx: list[float], ty: list[float], logz: np.ndarray, xe: list[float], ye: list[float]
) -> None:
    finite = logz[np.isfinite(logz)]
    if finite.size < 2:
        return
    low, high = float(finite.min()), float(finite.max())
    wanted = [c for c in CONTOURS if low <= math.log(c) <= high]
    if not wanted:
        return
    if len(tx) >= 2 and len(ty) >= 2:
        mx, my, z = interpolate(tx, ty, logz)
        if z.count() == 0:
            return
        zlow, zhigh = float(z.min()), float(z.max())
        wanted = [c for c in wanted if zlow < math.log(c) < zhigh]
        if not wanted:
            return
        levels = [math.log(c) for c in wanted]
        styles = [CONTOUR_STYLE[c] for c in wanted]
        cs = ax.contour(
            mx,
            my,
            z,
            levels=levels,
            colors=[s[0] for s in styles],
            linestyles=[s[1] for s in styles],
            linewidths=[s[2] for s in styles],
        )
        cs.set_path_effects(HALO)
        labels = ax.clabel(cs, fmt=lambda v: f"{math.exp(v):.0f}×", inline=True, fontsize=8.5)
        for text in labels:
            text.set_gid(f"contour-label-{text.get_text().rstrip('×')}x")
            text.set_fontweight("bold")
            text.set_path_effects(HALO)
        return
    # one row or one column: the contour lines are where the profile crosses each level
    along_x = len(tx) >= 2
    positions, profile = (tx, logz[0, :]) if along_x else (ty, logz[:, 0])
    for c in wanted:
        color, style, width = CONTOUR_STYLE[c]
        for at in crossings(positions, list(profile), math.log(c)):
            if along_x:
                line = ([at, at], [ye[0], ye[-1]])
                where, align = (at, ye[-1]), {"ha": "center", "va": "bottom"}
            else:
                line = ([xe[0], xe[-1]], [at, at])
                where, align = (xe[-1], at), {"ha": "left", "va": "center"}
            ax.plot(*line, color=color, linestyle=style, linewidth=width, path_effects=HALO)
            label = ax.text(*where, f"{c:g}×", fontsize=8.5, fontweight="bold", color=INK, **align)
            label.set_gid(f"contour-label-{c:g}x")
            label.set_path_effects(HALO)


def claim_numbers(claims: Sequence[tuple[Claim, str | None]]) -> dict[str, int]:
    """Claim id -> the number its star carries (1, 2, ... in claims.toml order)."""
    return {claim.id: k + 1 for k, (claim, _) in enumerate(claims)}


def _draw_claims(
    ax: Axes,
    regime: RegimeMap,
    family: str,
    flask_variant: str,
    claims: Sequence[tuple[Claim, str | None]],
) -> list[tuple[float, float]]:
    """A star per claim on this panel, numbered; claims at one spot share a star."""
    numbers = claim_numbers(claims)
    spots: dict[tuple[float, float], list[Claim]] = {}
    for claim, panel in claims:
        if panel == family and claim.map_x is not None and claim.map_y is not None:
            spot = (regime.x.position(claim.map_x), regime.y.position(claim.map_y))
            spots.setdefault(spot, []).append(claim)
    for (cx, cy), here in spots.items():
        for k, claim in enumerate(here):
            own = claim.flask_variant == flask_variant
            (marker,) = ax.plot(
                [cx],
                [cy],
                linestyle="none",
                marker="*",
                markersize=15 - 3 * min(k, 2),
                markerfacecolor="#ffd33d" if own else "white",
                markeredgecolor=INK,
                markeredgewidth=1.0,
                zorder=6 + k,
            )
            marker.set_gid(f"claim-{claim.id}")
        ax.annotate(
            ",".join(str(numbers[c.id]) for c in here),
            (cx, cy),
            xytext=(6, 5),
            textcoords="offset points",
            fontsize=7.5,
            fontweight="bold",
            color=INK,
            zorder=9,
            bbox={"boxstyle": "round,pad=0.12", "facecolor": "white", "alpha": 0.85, "lw": 0},
        )
    return list(spots)


def _claims_legend(
    fig: Figure, regime: RegimeMap, claims: Sequence[tuple[Claim, str | None]], flask: str
) -> None:
    if not claims:
        return
    numbers = claim_numbers(claims)
    handles, labels = [], []
    for claim, panel in claims:
        own = claim.flask_variant == flask
        handles.append(
            Line2D(
                [],
                [],
                linestyle="none",
                marker="*",
                markersize=10,
                markerfacecolor="#ffd33d" if own else "white",
                markeredgecolor=INK,
            )
        )
        assert claim.map_x is not None and claim.map_y is not None
        where = f"{regime.x.describe(claim.map_x)} × {regime.y.describe(claim.map_y)}"
        off = "" if panel else ", panel not run"
        vs = "" if own else f", vs {claim.flask_variant}"
        labels.append(f"{numbers[claim.id]} {claim.id}: {claim.ratio}{vs} (at {where}{off})")
    legend = fig.legend(
        handles, labels, loc="outside lower center", ncols=2, fontsize=7.5, title="Published claims"
    )
    legend.set_gid("claims-legend")
    legend.get_title().set_fontsize(8)


def _ticks(ax: Axes, axis: Axis, which: str, extra: Sequence[float] = ()) -> None:
    """Ticks at the grid's values and at the claims' coordinates off the grid."""
    values = sorted({*axis.values, *extra})
    target = ax.xaxis if which == "x" else ax.yaxis
    target.set_major_locator(FixedLocator([axis.position(v) for v in values]))
    target.set_minor_locator(NullLocator())
    target.set_major_formatter(FixedFormatter([f"{v:g}" for v in values]))


def _panel(
    ax: Axes,
    regime: RegimeMap,
    family: str,
    flask_variant: str,
    norm: LogNorm,
    cmap: Colormap,
    claims: Sequence[tuple[Claim, str | None]],
    machine_counts: bool,
) -> None:
    xs, ys, medians, marked = regime.grid(family, flask_variant, machine_counts)
    tx = [regime.x.position(v) for v in xs]
    ty = [regime.y.position(v) for v in ys]
    xe, ye = edges(tx), edges(ty)
    on_panel = [
        (c.map_x, c.map_y)
        for c, panel in claims
        if panel == family and c.map_x is not None and c.map_y is not None
    ]
    starred = {(regime.x.position(cx), regime.y.position(cy)) for cx, cy in on_panel}
    values = np.array(medians, dtype=float)
    trusted = np.where(np.array(marked, dtype=bool), np.nan, values)
    ax.grid(False)
    ax.pcolormesh(xe, ye, np.ma.masked_invalid(trusted), cmap=cmap, norm=norm, shading="flat")
    for j, yv in enumerate(ys):
        for i, xv in enumerate(xs):
            box = (xe[i], ye[j]), xe[i + 1] - xe[i], ye[j + 1] - ye[j]
            centre = ((xe[i] + xe[i + 1]) / 2, (ye[j] + ye[j + 1]) / 2)
            if any(math.isclose(sx, tx[i]) and math.isclose(sy, ty[j]) for sx, sy in starred):
                centre = (centre[0], ye[j] + 0.78 * (ye[j + 1] - ye[j]))  # clear of the star
            point = regime.point(family, xv, yv)
            ratio = point.ratios.get(flask_variant) if point else None
            if ratio is None:
                ax.add_patch(Rectangle(*box, facecolor=MISSING_FACE, edgecolor=GRID, lw=0.6))
                ax.text(*centre, "not run", ha="center", va="center", fontsize=7, color=MUTED)
                continue
            note = _cell_note(ratio, machine_counts)
            if note:
                ax.add_patch(
                    Rectangle(*box, facecolor=MARKED_FACE, edgecolor="#8c959f", lw=0.6, hatch=".")
                )
                ax.text(
                    *centre,
                    f"{_fmt_ratio(ratio.median)}\n{note}",
                    ha="center",
                    va="center",
                    fontsize=6.5,
                    color=MUTED,
                )
                continue
            if ratio.touches_parity:
                ax.add_patch(
                    Rectangle(*box, fill=False, hatch="///", edgecolor="#57606a", lw=0, alpha=0.5)
                )
            rgba = cmap(norm(ratio.median))
            ink = "white" if _luminance(rgba) < 0.45 else INK
            text = ("≈ " if ratio.touches_parity else "") + _fmt_ratio(ratio.median)
            ax.text(*centre, text, ha="center", va="bottom", fontsize=7.5, color=ink)
            if ratio.has_ci:
                interval = f"{ratio.ci_low:.2f}–{ratio.ci_high:.2f}"
                ax.text(*centre, interval, ha="center", va="top", fontsize=6.5, color=ink)
    _draw_contours(ax, tx, ty, np.log(values_or_nan(trusted)), xe, ye)
    spots = _draw_claims(ax, regime, family, flask_variant, claims)
    pad = 0.12
    xlo = min([xe[0], *(x for x, _ in spots)]) - (pad if spots else 0)
    xhi = max([xe[-1], *(x for x, _ in spots)]) + (pad if spots else 0)
    ylo = min([ye[0], *(y for _, y in spots)]) - (pad if spots else 0)
    yhi = max([ye[-1], *(y for _, y in spots)]) + (pad if spots else 0)
    ax.set_xlim(xlo, xhi)
    ax.set_ylim(ylo, yhi)
    _ticks(ax, regime.x, "x", [cx for cx, _ in on_panel])
    _ticks(ax, regime.y, "y", [cy for _, cy in on_panel])
    ax.set_xlabel(regime.x.label + " · log scale")
    ax.set_ylabel(regime.y.label + " · log scale")
    for side in ("top", "right"):
        ax.spines[side].set_visible(True)


def values_or_nan(values: np.ndarray) -> np.ndarray:
    """Ratios with anything not positive and finite as NaN (safe to take the log of)."""
    out = np.array(values, dtype=float)
    out[~np.isfinite(out) | (out <= 0)] = np.nan
    return out


def heatmap_chart(
    regime: RegimeMap,
    flask_variant: str,
    claims: Sequence[Claim] = (),
    *,
    norm: LogNorm | None = None,
    machine_counts: bool = True,
) -> Chart:
    """One Flask variant's map: a panel per family, cells coloured by the median ratio."""
    norm = norm or ratio_norm(regime, machine_counts)
    cmap = matplotlib.colormaps[CMAP]
    placed = placed_claims(regime, claims)
    families = regime.families
    with matplotlib.rc_context(STYLE):
        legend_rows = math.ceil(len(placed) / 2)
        fig = _figure(8.2, 3.4 * len(families) + 0.9 + 0.2 * legend_rows)
        axes = fig.subplots(len(families), 1, squeeze=False)[:, 0]
        for ax, family in zip(axes, families, strict=True):
            _panel(ax, regime, family.name, flask_variant, norm, cmap, placed, machine_counts)
            ax.set_title(family.label, fontsize=9, loc="left")
        _claims_legend(fig, regime, placed, flask_variant)
        bar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=list(axes), shrink=0.9)
        ticks = [t for t in COLORBAR_TICKS if norm.vmin <= t <= norm.vmax]
        bar.set_ticks(ticks)
        bar.set_ticklabels([_fmt_tick(t) for t in ticks])
        bar.ax.yaxis.set_minor_locator(NullLocator())
        bar.set_label(f"{regime.numerator} ÷ {flask_variant} throughput (log)")
        fig.suptitle(
            f"{regime.numerator} over {flask_variant}: {regime.title}",
            x=0.01,
            ha="left",
            fontsize=10.5,
            fontweight="bold",
        )
        svg = render(fig)
    marked = (
        "Grey dotted cells are not coloured: an invalid cell went into them (load generator "
        "saturated, errors)"
        + (" or the whole machine's CPUs were saturated" if machine_counts else "")
        + "; their value is printed for the record only."
    )
    caption = (
        f"Each cell is the median ratio of {regime.numerator}'s throughput over "
        f"{flask_variant}'s at one grid point (its 95% interval below it; none with one "
        "repeat), on a log colour scale: purple where FastAPI is ahead, orange where Flask is. "
        "Lines: where the ratio, interpolated between grid points on the log axes, crosses "
        "1x (dashed), 2x and 7x. Hatched cells marked ≈: the interval holds 1x. "
        f"{marked} Stars: published claims at the regime they describe, numbered as in the "
        f"legend (filled: published against {flask_variant}; hollow: against the other "
        "Flask variant)."
    )
    return Chart(
        f"map-{regime.preset}-{flask_variant}",
        f"{regime.numerator} over {flask_variant}",
        caption,
        svg,
    )


def map_charts(
    regime: RegimeMap, claims: Sequence[Claim] = (), *, machine_counts: bool = True
) -> list[Chart]:
    """A heatmap per Flask variant the map measured, all on one colour scale."""
    norm = ratio_norm(regime, machine_counts)
    measured = {v for p in regime.points for v in p.ratios}
    return [
        heatmap_chart(regime, v, claims, norm=norm, machine_counts=machine_counts)
        for v in regime.flask_variants
        if v in measured
    ]


# ---------------------------------------------------------------- the claims forest plot


def claims_forest_chart(rows: Sequence[ClaimRow], slug: str = "claims-forest") -> Chart | None:
    """Each claim's published range as a band, the lab's 95% interval as a bar across it."""
    if not rows:
        return None
    values = [1.0]
    for row in rows:
        claim, ratio = row.check.claim, row.check.ratio
        values += [v for v in (claim.ratio_low, claim.ratio_high) if v]
        if ratio is not None and 0 < ratio.estimate.median < math.inf:
            e = ratio.estimate
            values += [v for v in (e.ci_low, e.ci_high, e.median) if 0 < v < math.inf]
    low, high = min(values) / 1.6, max(values) * 1.6
    n = len(rows)
    with matplotlib.rc_context(STYLE):
        fig = _figure(7.6, 0.9 + 0.42 * n)
        ax = fig.subplots()
        ax.set_xscale("log")
        ax.set_xlim(low, high)
        ax.grid(axis="x", color=GRID, linewidth=0.7)
        ax.grid(axis="y", visible=False)
        labels = []
        for k, row in enumerate(rows):
            y = n - 1 - k
            claim, ratio = row.check.claim, row.check.ratio
            labels.append(f"{claim.id}  ·  {row.scenario}")
            left = claim.ratio_low if claim.ratio_low is not None else low
            right = claim.ratio_high if claim.ratio_high is not None else high
            band = Rectangle(
                (left, y - 0.3), right - left, 0.6, facecolor="#d0d7de", alpha=0.7, lw=0
            )
            band.set_gid(f"forest-{claim.id}-{k}")
            ax.add_patch(band)
            if claim.ratio_low is None:
                ax.plot([low * 1.04], [y], marker="<", color=MUTED, markersize=5)
            if claim.ratio_high is None:
                ax.plot([high / 1.04], [y], marker=">", color=MUTED, markersize=5)
            color = VERDICT_COLORS.get(row.check.verdict, MUTED)
            if ratio is None or not 0 < ratio.estimate.median < math.inf:
                ax.text(
                    math.sqrt(left * right), y, "not measured", ha="center", va="center",
                    fontsize=7.5, color=MUTED,
                )  # fmt: skip
                continue
            e = ratio.estimate
            if ratio.has_ci:
                ax.plot([e.ci_low, e.ci_high], [y, y], color=color, lw=2.6, solid_capstyle="round")
            ax.plot(
                [e.median],
                [y],
                marker="o" if ratio.has_ci else "D",
                markersize=6.5,
                color=color,
                markerfacecolor="white" if ratio.flagged else color,
                markeredgewidth=1.6,
                linestyle="none",
            )
            ax.annotate(
                f"{_fmt_ratio(e.median)}  {row.support}",
                (max(e.ci_high, e.median), y),
                xytext=(7, 0),
                textcoords="offset points",
                va="center",
                fontsize=7.5,
                color=color,
            )
        ax.axvline(1.0, color=INK, linewidth=1, linestyle=(0, (3, 3)))
        ticks = [t for t in (0.25, 0.5, 1, 2, 3, 5, 7, 10, 20, 50) if low <= t <= high]
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}×"))
        ax.set_yticks(range(n))
        ax.set_yticklabels(list(reversed(labels)), fontsize=8.5, color=INK)
        ax.set_ylim(-0.7, n - 0.3)
        ax.spines["left"].set_visible(False)
        ax.tick_params(axis="y", length=0)
        ax.set_xlabel("FastAPI throughput ÷ Flask throughput (log scale)")
        ax.set_title("Published ranges (bands) against the lab's 95% intervals (bars)")
        svg = render(fig)
    caption = (
        "Grey band: the published figure read as a range (a single figure as ±10%; an arrow "
        "marks an open side). Bar and dot: the ratio the scenario measured and its 95% "
        "interval (a diamond alone: one repeat, no interval; hollow: flagged), coloured by "
        "verdict: green where the interval meets the band, blue above it, orange below. "
        "Right of the dashed line FastAPI is ahead."
    )
    return Chart(slug, "Claims against the lab", caption, svg)
