"""The report's figures (plotnine): one SVG and one 300-dpi PNG per figure and language.

Every figure is built from the pipeline's tables (``results/tables``) and comes
with its title, caption (population, waves, n, data source) and alt text as
data, so the report states them next to the image (``figures.json``).

Design rules, for print (A4, greyscale) and phones alike:

- 7 inches wide, facets per indicator, the legend below the panels;
- Okabe-Ito colours, always doubled by marker shape (and line type for the
  reference lines): no group is told apart by colour alone;
- DejaVu Sans, the font matplotlib ships, so no machine needs extra fonts;
- a cell whose ``status`` is ``suppressed`` is never drawn (the caption says
  how many were left out), ``indicative`` cells get a hollow marker; tables
  without a ``status`` column count as all ``ok``;
- the same tables give the same bytes: fixed SVG hash salt, no dates in the
  file metadata.
"""

from __future__ import annotations

import json
import logging
import math
import os
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from plotnine import (
    aes,
    element_blank,
    element_line,
    element_rect,
    element_text,
    facet_grid,
    facet_wrap,
    geom_hline,
    geom_point,
    geom_segment,
    geom_text,
    geom_vline,
    ggplot,
    guide_legend,
    guides,
    labs,
    scale_color_manual,
    scale_fill_manual,
    scale_linetype_manual,
    scale_shape_manual,
    scale_size_manual,
    scale_x_continuous,
    scale_y_continuous,
    theme,
    theme_bw,
)

from neacovid.data.io import atomic_path
from neacovid.errors import DataError
from neacovid.publish.catalog import FIGURE_NAMES
from neacovid.publish.keyfigures import category_label
from neacovid.publish.tables import verdict
from neacovid.publish.words import (
    filled,
    format_number,
    format_signed,
    level_text,
    wave_label,
    words,
)

log = logging.getLogger("neacovid")

# The figures the `figures` rule writes per language, in report order.
FORMATS = ("svg", "png")
DPI = 300
FONT = "DejaVu Sans"  # ships with matplotlib: no font look-up fails on a bare machine
# neacovid.publish.disclosure: "empty" is a domain without respondents (nothing to show)
STATUSES = ("ok", "indicative", "suppressed", "empty")
LOCATIONS = ("on_site", "hybrid", "home")

# Okabe & Ito (2008), colour-blind safe. The three work locations get far apart
# grey values (0, 87, 162 of 255) so they also differ in a greyscale print.
BLACK, ORANGE, SKY_BLUE, GREEN, YELLOW, BLUE, VERMILLION, PURPLE = (
    "#000000",
    "#E69F00",
    "#56B4E9",
    "#009E73",
    "#F0E442",
    "#0072B2",
    "#D55E00",
    "#CC79A7",
)
GREY = "#7F7F7F"
LOCATION_STYLE = {  # colour, marker, line type
    "on_site": (BLACK, "o", "solid"),
    "hybrid": (ORANGE, "^", "dashed"),
    "home": (BLUE, "s", "dotted"),
}
MARKERS = ("o", "^", "s", "D", "v", "p", "h", "<", ">", "8")  # all fillable (hollow = white fill)
HIGHLIGHT = VERMILLION
PALETTE = (BLACK, ORANGE, BLUE, VERMILLION, GREEN, PURPLE, SKY_BLUE, YELLOW)  # other groupings

SOFTWARE = "neacovid (plotnine, matplotlib)"
# matplotlib derives the SVG element ids from this salt (random by default).
RC_PARAMS = {
    "svg.hashsalt": "neacovid",
    "svg.fonttype": "path",  # glyphs as outlines: the SVG looks the same without the font
    "font.family": [FONT],
    "font.sans-serif": [FONT],
}


@dataclass(frozen=True)
class Figure:
    """A figure ready to save, with the text the report shows next to it."""

    name: str
    plot: ggplot
    title: str
    caption: str
    alt: str
    size: tuple[float, float] = (7.0, 4.5)
    data: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)  # the cells drawn
    omitted: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)  # suppressed
    tables: tuple[str, ...] = ()
    reference: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)  # lines drawn


# -- text helpers ---------------------------------------------------------------


def _text(language: str, table: pd.DataFrame | None = None) -> dict:
    """The figures' words in ``language`` (workflow/templates/figures_text.yaml); with
    ``table``, its confidence level and CI method filled in for ``{level}`` and
    ``{method}``, so a caption says the interval the numbers have."""
    t = words("figures_text", language)
    if table is None:
        return t
    level, method = _interval(table)
    return filled(
        t, {"{level}": level_text(level, language), "{method}": t["ci_methods"].get(method, method)}
    )


def _interval(table: pd.DataFrame) -> tuple[float, str]:
    """The one confidence level and CI method of a table's ``level`` and ``ci_method``."""
    found = []
    for column in ("level", "ci_method"):
        if column not in table.columns:
            raise DataError(
                f"a figure's table has no {column!r} column; the tables of "
                "neacovid carry one (rerun the step that wrote it)"
            )
        values = sorted({v for v in table[column].dropna()}, key=str)
        if len(values) != 1:
            raise DataError(
                f"a figure's table has {len(values)} values of {column!r} "
                f"({', '.join(map(str, values)) or 'none'}); draw one at a time"
            )
        found.append(values[0])
    return float(found[0]), str(found[1])


def group_label(breakdown: str, group: str, language: str, running: bool = False) -> str:
    """A group as shown in a legend, or (``running``) inside a sentence."""
    t = _text(language)
    if breakdown == "location":
        label = t["locations"].get(group, group)
        return label[:1].lower() + label[1:] if running else label
    if breakdown == "age_group":
        return t["age_group"].format(group=group)
    return str(group)


def _number(value: float, language: str, digits: int = 0) -> str:
    return format_number(value, language, digits)


def _percent(value: float, language: str, digits: int = 0) -> str:
    return f"{format_number(100 * value, language, digits)}%"


def percent_labels(language: str, scale: float = 100.0) -> Callable[[Sequence[float]], list]:
    """Axis labels ``12,5%`` (nl) / ``12.5%`` (en) for shares on the 0..1 scale."""

    def labels(breaks: Sequence[float]) -> list[str]:
        values = [scale * b for b in breaks]
        digits = 0 if all(abs(v - round(v)) < 1e-9 for v in values) else 1
        return [f"{format_number(v, language, digits)}%" for v in values]

    return labels


def points_labels(language: str) -> Callable[[Sequence[float]], list]:
    """Axis labels for percentage-point differences on the 0..1 scale, with a real minus."""

    def labels(breaks: Sequence[float]) -> list[str]:
        values = [100 * b for b in breaks]
        digits = 0 if all(abs(v - round(v)) < 1e-9 for v in values) else 1
        return [format_signed(v, language, digits) for v in values]

    return labels


def _join(items: Sequence[str], language: str) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {_text(language)['and']} {items[-1]}"


def _source(data_source: str, language: str, reference_wave: str = "2019") -> str:
    t = _text(language)
    if data_source == "synthetic":
        return t["source_synthetic"]
    return t["source_real"].format(ref=reference_wave)


def _source_short(data_source: str, language: str) -> str:
    t = _text(language)
    return t["source_synthetic"] if data_source == "synthetic" else t["source_real_short"]


def _wrap(*sentences: str, width: int = 110) -> str:
    return "\n".join(textwrap.wrap(" ".join(s for s in sentences if s), width=width))


# -- table handling -----------------------------------------------------------------


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """A pipeline table with its key columns as text (``category`` ``1.0`` -> ``1``)."""
    frame = pd.read_csv(
        path, dtype={"wave": str, "category": str, "location": str, "age_group": str, "status": str}
    )
    if "category" in frame:
        frame["category"] = frame["category"].map(_category_text)
    return frame


def _category_text(value) -> str:
    if isinstance(value, str):
        try:
            return category_label(float(value))
        except ValueError:
            return value
    return category_label(value)


def _require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(
            f"{what}: column {missing[0]!r} is missing (has {', '.join(map(str, frame.columns))});"
            " use a table written by the pipeline"
        )


def split_status(frame: pd.DataFrame, what: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(cells to draw, suppressed cells); drawn cells get ``hollow`` for ``indicative``.

    A table without a ``status`` column counts as all ``ok``. ``empty`` cells and
    cells without an estimate (no respondents) are not drawn either, but are not
    "suppressed": there was nothing to protect.
    """
    frame = frame.copy()
    if "status" not in frame:
        frame["status"] = "ok"
    frame["status"] = frame["status"].fillna("ok").astype(str).str.strip().str.lower()
    unknown = sorted(set(frame["status"]) - set(STATUSES))
    if unknown:
        raise DataError(
            f"{what}: status {unknown[0]!r} is not one of {', '.join(STATUSES)}; "
            "fix the table's status column"
        )
    suppressed = frame[frame["status"] == "suppressed"]
    drawable = frame["status"].isin(["ok", "indicative"])
    shown = frame[drawable & frame["estimate"].notna()].copy()
    empty = frame[(frame["status"] == "empty") | (drawable & frame["estimate"].isna())]
    if len(empty):
        log.info("%s: %d cells without an estimate (no respondents) not drawn", what, len(empty))
    shown = shown.reset_index(drop=True)
    shown["hollow"] = shown["status"] == "indicative"
    for column in ("ci_low", "ci_high"):  # a CI is drawn only where both ends exist
        if column in shown:
            shown[column] = shown[column].where(shown[["ci_low", "ci_high"]].notna().all(axis=1))
    return shown, suppressed


def _wave_order(waves) -> list[str]:
    return sorted({str(w) for w in waves})


def _age_key(group: str) -> tuple:
    low = str(group).split("-")[0].strip()
    return (0, int(low), str(group)) if low.isdigit() else (1, 0, str(group))


def _age_population(groups: Sequence[str], language: str) -> str:
    t = _text(language)
    bounds = [b.strip() for g in groups for b in str(g).split("-")]
    if len(bounds) >= 2 and all(b.isdigit() for b in bounds):
        return t["pop_age"].format(low=bounds[0], high=bounds[-1])
    return t["pop_employees"]


def _group_order(breakdown: str, groups) -> list[str]:
    groups = {str(g) for g in groups}
    if breakdown == "location":
        return [g for g in LOCATIONS if g in groups] + sorted(groups - set(LOCATIONS))
    if breakdown == "age_group":
        return sorted(groups, key=_age_key)
    return sorted(groups)


def _suppressed_cells(
    omitted: pd.DataFrame, language: str, breakdown: str | None = None, limit: int = 6
) -> str:
    t = _text(language)
    cells = []
    for row in omitted.itertuples(index=False):
        parts = []
        indicator = getattr(row, "indicator", None)
        if indicator in t["indicators_lower"]:
            parts.append(t["indicators_lower"][indicator])
        if breakdown:
            parts.append(
                group_label(breakdown, str(getattr(row, breakdown)), language, running=True)
            )
        parts.append(wave_label(row.wave, language))
        cells.append(", ".join(parts))
    if len(cells) > limit:
        rest = len(cells) - limit
        cells = [*cells[:limit], f"+{rest}"]
    return "; ".join(cells)


def _status_notes(
    data: pd.DataFrame,
    omitted: pd.DataFrame,
    language: str,
    breakdown: str | None = None,
    indicative: str = "indicative",
) -> list[str]:
    t = _text(language)
    notes = []
    if len(data) and data["hollow"].any():
        notes.append(t[indicative])
    if len(omitted):
        notes.append(t["suppressed"].format(cells=_suppressed_cells(omitted, language, breakdown)))
    return notes


def _n_text(n_low: int, n_high: int, language: str) -> str:
    if n_low == n_high:
        return _number(n_low, language)
    return f"{_number(n_low, language)}\u2013{_number(n_high, language)}"


# -- the look -------------------------------------------------------------------------


def house_theme(base_size: float = 10) -> theme:
    return theme_bw(base_size=base_size, base_family=FONT) + theme(
        text=element_text(family=FONT, color=BLACK),
        plot_title=element_text(size=base_size + 2, weight="bold", ha="left"),
        plot_caption=element_text(size=base_size - 2.5, ha="left", color="#333333"),
        plot_title_position="plot",
        plot_caption_position="plot",
        axis_title=element_text(size=base_size),
        axis_text=element_text(size=base_size - 1, color="#222222"),
        strip_text=element_text(size=base_size, ha="left"),
        strip_background=element_rect(fill="#EBEBEB", color="none"),
        panel_border=element_rect(color="#BDBDBD"),
        panel_grid_major=element_line(color="#E0E0E0", size=0.4),
        panel_grid_minor=element_blank(),
        legend_position="bottom",
        legend_title=element_text(size=base_size - 1),
        legend_text=element_text(size=base_size - 1),
        legend_key=element_blank(),
        legend_background=element_blank(),
        dpi=DPI,
    )


def _dodge(order: Sequence[str], width: float) -> dict[str, float]:
    """Offsets that spread ``order`` over ``width`` around each x (a manual position_dodge).

    Done by hand so separate layers (hollow and filled markers) line up.
    """
    k = len(order)
    if k <= 1:
        return dict.fromkeys(order, 0.0)
    step = width / (k - 1)
    return {g: -width / 2 + i * step for i, g in enumerate(order)}


def _symmetric_breaks(n: int) -> Callable[[tuple[float, float]], list[float]]:
    """``n`` (odd) round breaks around 0, clear of the panel edges.

    Facets side by side put one panel's last label next to the next panel's
    first; keeping breaks inside 80% of the range stops them running together.
    """
    per_side = max(1, (n - 1) // 2)

    def breaks(limits: tuple[float, float]) -> list[float]:
        inner = 0.8 * min(abs(limits[0]), abs(limits[1])) / per_side
        if inner <= 0:
            return [0.0]
        exponent = math.floor(math.log10(inner))
        step = max(m * 10.0**exponent for m in (1, 2, 5) if m * 10.0**exponent <= inner)
        return [round(i * step, 12) for i in range(-per_side, per_side + 1)]

    return breaks


def _wave_axis(waves: Sequence[str], language: str):
    return scale_x_continuous(
        breaks=list(range(len(waves))),
        labels=[wave_label(w, language, sep="\n") for w in waves],
        limits=(-0.5, len(waves) - 0.5),
        expand=(0, 0),
    )


# -- figures --------------------------------------------------------------------------


def location_figure(
    table: pd.DataFrame,
    language: str,
    data_source: str = "synthetic",
    table_name: str = "location_by_wave.csv",
) -> Figure:
    """Where employees work per wave: on location / hybrid / at home, with CIs."""
    t = _text(language, table)
    _require(table, ["wave", "category", "estimate", "ci_low", "ci_high", "n"], table_name)
    table = table.assign(
        category=table["category"].map(_category_text), wave=table["wave"].astype(str)
    )
    data, omitted = split_status(table, table_name)
    data = data[data["category"].isin(LOCATIONS)].copy()
    if data.empty:
        raise DataError(f"{table_name}: no on_site/hybrid/home shares to plot")
    waves = _wave_order(table["wave"])
    order = _group_order("location", data["category"])
    labels = {g: t["locations"][g] for g in order}
    offsets = _dodge(order, 0.42)
    data["group"] = pd.Categorical(data["category"].map(labels), [labels[g] for g in order])
    data["x"] = data["wave"].map(waves.index) + data["category"].map(offsets)

    # an interval shorter than ~3% of the axis hides behind its marker: say so
    ci_visible = (data["ci_high"] - data["ci_low"]).median() > 0.03 * data["ci_high"].max()
    data["value"] = [_percent(v, language) for v in data["estimate"]]
    plot = _points_plot(data, order, labels, t["location"])
    # dark labels: orange text on white would be too faint; the position ties label to marker
    plot += geom_text(
        aes(label="value"),
        nudge_x=0.055,
        ha="left",
        va="center",
        size=7,
        colour="#222222",
        show_legend=False,
        family=FONT,
    )
    plot = (
        plot
        + _wave_axis(waves, language)
        + scale_y_continuous(
            labels=percent_labels(language), limits=(0, None), expand=(0, 0, 0.05, 0)
        )
        + labs(
            x=t["wave"],
            y=t["share"],
            title=t["title_location"],
            caption=_wrap(
                t["ci_note"] if ci_visible else t["ci_small"],
                *_status_notes(data, omitted, language),
                _source_short(data_source, language),
            ),
        )
        + house_theme()
    )
    n_by_wave = table.groupby("wave")["n"].max()
    waves_text = "; ".join(
        f"{wave_label(w, language)} (n = {_number(n_by_wave[w], language)})" for w in waves
    )
    caption = " ".join(
        [
            t["cap_location"],
            *_status_notes(data, omitted, language),
            t["pop_employees"],
            t["n_waves"].format(waves=waves_text),
            _source(data_source, language),
        ]
    )
    last = data[data["wave"] == data["wave"].max()]
    values = ", ".join(
        f"{group_label('location', r.category, language, running=True)} "
        f"{_percent(r.estimate, language)} "
        f"({format_number(100 * r.ci_low, language, 0)}\u2013{_percent(r.ci_high, language)})"
        for r in last.sort_values("x").itertuples()
    )
    alt = t["alt_location"].format(wave=wave_label(last["wave"].iloc[0], language), values=values)
    return Figure(
        "location_by_wave",
        plot,
        t["title_location"],
        caption,
        alt,
        (7.0, 4.5),
        data,
        omitted,
        (table_name,),
    )


def _points_plot(
    data: pd.DataFrame,
    order: Sequence[str],
    labels: Mapping[str, str],
    legend: str,
    styles: Mapping[str, tuple] | None = None,
    sizes: Mapping[str, float] | None = None,
) -> ggplot:
    """Points with CI segments, one colour + marker per group; hollow = indicative."""
    styles = styles or LOCATION_STYLE
    names = [labels[g] for g in order]
    colours = {labels[g]: styles[g][0] for g in order}
    shapes = {labels[g]: styles[g][1] for g in order}
    sizes = {labels[g]: (sizes or {}).get(g, 2.4) for g in order}
    ci = data.dropna(subset=["ci_low", "ci_high"])
    filled, hollow = data[~data["hollow"]], data[data["hollow"]]
    plot = ggplot(data, aes(x="x", y="estimate", colour="group", shape="group", fill="group"))
    # the CI line is thicker for larger (highlighted) markers
    thick = ci["group"].map(sizes).astype(float) > 2.4
    for part, width in ((ci[~thick], 0.6), (ci[thick], 1.0)):
        if len(part):
            plot += geom_segment(
                part,
                aes(x="x", xend="x", y="ci_low", yend="ci_high"),
                size=width,
                show_legend=False,
            )
    if len(filled):
        plot += geom_point(filled, aes(size="group"), stroke=0.6)
    if len(hollow):
        plot += geom_point(hollow, aes(size="group"), fill="white", stroke=0.9, show_legend=False)
    return (
        plot
        + scale_color_manual(values=colours, limits=names, name=legend)
        + scale_fill_manual(values=colours, limits=names, name=legend)
        + scale_shape_manual(values=shapes, limits=names, name=legend)
        + scale_size_manual(values=sizes, limits=names, name=legend)
    )


def indicators_figure(
    table: pd.DataFrame,
    breakdown: str,
    language: str,
    data_source: str = "synthetic",
    reference_wave: str = "2019",
    highlight: str | None = None,
    indicators: Sequence[str] | None = None,
    table_names: Sequence[str] = (),
) -> Figure:
    """Shares of the complaint indicators per wave by ``breakdown``, facets per indicator.

    ``table`` stacks ``<indicator>_by_<breakdown>`` tables (category 1 is drawn).
    The ``reference_wave`` is a horizontal line (per location; for age groups
    only the ``highlight`` group's), not a point. ``highlight`` (an age group)
    is drawn larger, in vermillion; the other groups in grey, told apart by marker.
    """
    t = _text(language, table)
    what = ", ".join(table_names) or f"indicators by {breakdown}"
    _require(
        table,
        ["indicator", "wave", breakdown, "category", "estimate", "ci_low", "ci_high", "n"],
        what,
    )
    table = table.assign(
        **{
            breakdown: table[breakdown].astype(str),
            "category": table["category"].map(_category_text),
            "wave": table["wave"].astype(str),
        }
    )
    table = table[table["category"] == "1"]
    indicators = list(indicators or dict.fromkeys(table["indicator"]))
    table = table[table["indicator"].isin(indicators)]
    if table.empty:
        raise DataError(f"{what}: no shares (category 1) of {', '.join(indicators)} to plot")
    shown, omitted = split_status(table, what)
    reference = shown[shown["wave"] == str(reference_wave)]
    data = shown[shown["wave"] != str(reference_wave)].copy()
    waves = _wave_order(table.loc[table["wave"] != str(reference_wave), "wave"])
    order = _group_order(breakdown, table[breakdown])
    labels = {g: group_label(breakdown, g, language) for g in order}
    facet_labels = {i: t["indicators"].get(i, i) for i in indicators}
    strip = pd.Categorical([facet_labels[i] for i in indicators], list(facet_labels.values()))

    if breakdown == "age_group":
        if highlight is not None and highlight not in order:
            raise DataError(
                f"{what}: age group {highlight!r} to highlight is not in the table "
                f"(has {', '.join(order)})"
            )
        if highlight:  # the others grey, told apart by marker
            others = iter(MARKERS[1:])
            styles = {
                g: (HIGHLIGHT, "o", "solid") if g == highlight else (GREY, next(others), "")
                for g in order
            }
            sizes = {g: (3.2 if g == highlight else 1.7) for g in order}
        else:
            styles = {
                g: (PALETTE[i % len(PALETTE)], MARKERS[i % len(MARKERS)], "solid")
                for i, g in enumerate(order)
            }
            sizes = dict.fromkeys(order, 1.9)
        width = 0.62
        legend, size = t["age"], (7.0, 5.6)
        reference = reference[reference[breakdown] == highlight] if highlight else reference[:0]
    else:
        if len(order) > len(LOCATION_STYLE) or not set(order) <= set(LOCATION_STYLE):
            styles = {
                g: (PALETTE[i % len(PALETTE)], MARKERS[i % len(MARKERS)], "solid")
                for i, g in enumerate(order)
            }
        else:
            styles = LOCATION_STYLE
        sizes, width = None, 0.42
        legend, size = t["location"], (7.0, 5.2)
    offsets = _dodge(order, width)

    def facets(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(
            facet=pd.Categorical(frame["indicator"].map(facet_labels), strip.categories)
        )

    data = facets(data)
    data["group"] = pd.Categorical(data[breakdown].map(labels), [labels[g] for g in order])
    data["x"] = data["wave"].map(waves.index) + data[breakdown].map(offsets)
    reference = facets(reference).assign(
        group=lambda f: pd.Categorical(f[breakdown].map(labels), [labels[g] for g in order])
    )

    plot = _points_plot(data, order, labels, legend, styles, sizes)
    names = [labels[g] for g in order]
    if breakdown == "age_group":
        if len(reference):
            plot += geom_hline(
                reference,
                aes(yintercept="estimate"),
                colour=HIGHLIGHT,
                linetype="dotted",
                size=0.7,
                inherit_aes=False,
            )
        ref_note = t["ref_note_age"].format(ref=reference_wave, group=labels.get(highlight, ""))
    else:
        plot += geom_hline(
            reference,
            aes(yintercept="estimate", colour="group", linetype="group"),
            size=0.5,
            alpha=0.9,
            inherit_aes=False,
        )
        plot += scale_linetype_manual(
            values={labels[g]: styles[g][2] or "solid" for g in order}, limits=names, name=legend
        )
        ref_note = t["ref_note_location"].format(ref=reference_wave)
    if reference.empty:
        ref_note = ""
    plot = (
        plot
        + facet_wrap("facet", ncol=2, scales="free_y")
        + _wave_axis(waves, language)
        + scale_y_continuous(
            labels=percent_labels(language), limits=(0, None), expand=(0, 0, 0.08, 0)
        )
        + labs(
            x=t["wave"],
            y=t["share"],
            title=t["title_by_age" if breakdown == "age_group" else "title_by_location"],
            caption=_wrap(
                t["ci_note"],
                ref_note,
                *_status_notes(data, omitted, language, breakdown),
                _source_short(data_source, language),
            ),
        )
        + house_theme()
        + theme(legend_title=element_text(size=9), panel_spacing_x=0.03)
    )
    if breakdown == "age_group":
        plot += guides(
            **{
                aesthetic: guide_legend(nrow=2, byrow=True)
                for aesthetic in ("colour", "shape", "fill", "size")
            }
        )
    title = t["title_by_age" if breakdown == "age_group" else "title_by_location"]

    # caption: per wave the n range over the indicators (respondents with an answer in
    # the cells drawn; a wave whose cells are all hidden is not listed)
    drawn_n = shown.drop_duplicates(["wave", "indicator", *([breakdown] if breakdown else [])])
    n_wave = drawn_n.groupby(["wave", "indicator"])["n"].sum().groupby("wave").agg(["min", "max"])
    all_waves = _wave_order(table["wave"])
    waves_text = "; ".join(
        f"{wave_label(w, language)} (n = {_n_text(n_wave.loc[w, 'min'], n_wave.loc[w, 'max'], language)})"  # noqa: E501
        for w in all_waves
        if w in n_wave.index
    )
    smallest = shown.iloc[int(np.argmin(shown["n"].to_numpy()))] if len(shown) else None
    names_lower = [t["indicators_lower"].get(i, i) for i in indicators]
    if breakdown == "age_group":
        head = t["cap_by_age" if highlight else "cap_by_age_plain"].format(
            indicators=_join(names_lower, language),
            group=labels.get(highlight, ""),
            ref=reference_wave,
        )
        population = _age_population(order, language)
    else:
        head = t["cap_by_location"].format(
            indicators=_join(names_lower, language), ref=reference_wave
        )
        population = t["pop_location"]
    parts = [
        head,
        *_status_notes(data, omitted, language, breakdown),
        population,
        t["n_waves_indicators"].format(waves=waves_text),
    ]
    if smallest is not None:
        cell = (
            f"{t['indicators_lower'].get(smallest['indicator'], smallest['indicator'])}, "
            f"{group_label(breakdown, str(smallest[breakdown]), language, running=True)}, "
            f"{wave_label(smallest['wave'], language)}"
        )
        parts.append(t["n_smallest"].format(n=_number(smallest["n"], language), cell=cell))
    parts.append(_source(data_source, language, reference_wave))

    last_wave = data["wave"].max() if len(data) else reference_wave
    focus = [highlight] if breakdown == "age_group" and highlight else order
    values = "; ".join(
        f"{t['indicators_lower'].get(i, i)}: "
        + ", ".join(
            f"{group_label(breakdown, r[breakdown], language, running=True)} "
            f"{_percent(r['estimate'], language)}"
            for _, r in data[
                (data["wave"] == last_wave) & (data["indicator"] == i) & data[breakdown].isin(focus)
            ]
            .sort_values("x")
            .iterrows()
        )
        for i in indicators
    )
    alt = t["alt_by"].format(
        k=len(indicators),
        indicators=_join(list(facet_labels.values()), language),
        by=t["by_age" if breakdown == "age_group" else "by_location"],
        wave=wave_label(last_wave, language),
        values=values,
    )
    name = f"indicators_by_{breakdown}"
    return Figure(
        name, plot, title, " ".join(parts), alt, size, data, omitted, tuple(table_names), reference
    )


def changes_figure(
    changes: pd.DataFrame,
    language: str,
    data_source: str = "synthetic",
    reference_wave: str = "2019",
    alpha: float = 0.05,
    breakdown: str | None = None,
    table_name: str = "changes.csv",
    indicators: Sequence[str] | None = None,
) -> Figure:
    """Change against ``reference_wave`` (forest plot): difference and CI per wave.

    ``changes`` has ``indicator, wave, [location|age_group], estimate,
    base_estimate, diff, se, ci_low, ci_high, p_value, significant`` (the
    pipeline's verdict of its multiple-testing families; a table of
    `neacovid.survey.compare.changes` has ``p_holm`` instead), with
    ``diff`` and its CI on the 0..1 scale (a ``base`` column, as
    `neacovid.survey.compare.changes` writes, names the reference wave; ``status`` as in
    the other tables). The pipeline's long format (``breakdown`` + ``group``
    columns, e.g. ``changes_vs_2019.csv``) works too: ``breakdown`` picks its
    rows (None: ``all``). Pass ``indicators`` to keep shares only (the axis is
    in percentage points; a mean such as sitting_hours does not belong here).
    Significant: filled vermillion marker; otherwise hollow black. Facets: indicator (rows) x
    group (columns).
    """
    t = _text(language, changes)
    title = t["title_changes_location" if breakdown == "location" else "title_changes"].format(
        ref=reference_wave
    )
    _require(changes, ["indicator", "wave", "diff", "ci_low", "ci_high"], table_name)
    if "significant" not in changes:
        _require(changes, ["p_holm"], table_name)
        changes = changes.assign(significant=changes["p_holm"] < alpha, adjustment="holm")
    adjustments = sorted(set(changes["adjustment"].dropna())) if "adjustment" in changes else []
    if len(adjustments) != 1:
        raise DataError(
            f"{table_name}: {len(adjustments)} multiple-testing adjustments "
            f"({', '.join(adjustments) or 'no adjustment column'}); one is needed"
        )
    adjustment = t["adjustments"].get(adjustments[0], adjustments[0])
    if {"breakdown", "group"} <= set(changes.columns):  # long format: one table, all breakdowns
        wanted = breakdown or "all"
        changes = changes[changes["breakdown"].astype(str) == wanted]
        if changes.empty:
            raise DataError(f"{table_name}: no rows with breakdown {wanted!r}")
        changes = changes.drop(columns="breakdown").rename(columns={"group": wanted})
        if wanted == "all":
            changes = changes.drop(columns="all")
    if indicators is not None:
        changes = changes[changes["indicator"].isin(list(indicators))]
        if changes.empty:
            raise DataError(f"{table_name}: none of {', '.join(indicators)} in the table")
    if breakdown is None:
        breakdown = next((b for b in ("location", "age_group") if b in changes), None)
    if "base" in changes:  # neacovid.survey.compare.changes names the base wave per row
        bases = sorted({str(b) for b in changes["base"].dropna()})
        if len(bases) > 1:
            raise DataError(
                f"{table_name}: changes against several base waves "
                f"({', '.join(bases)}); draw the changes against one base"
            )
        reference_wave = bases[0] if bases else reference_wave
    frame = changes.assign(wave=changes["wave"].astype(str))
    frame = frame.assign(estimate=frame["diff"])  # split_status drops cells without a diff
    shown, omitted = split_status(frame, table_name)
    indicators = list(dict.fromkeys(frame["indicator"]))
    # rotated row strips: short names
    facet_labels = {i: t["indicators_short"].get(i, t["indicators"].get(i, i)) for i in indicators}
    waves = _wave_order(frame["wave"])
    position = {w: len(waves) - 1 - i for i, w in enumerate(waves)}  # first wave on top
    shown["y"] = shown["wave"].map(position).astype(float)
    shown["row"] = pd.Categorical(shown["indicator"].map(facet_labels), list(facet_labels.values()))
    sig_label = t["significant"].format(alpha=_number(alpha, language, 2), adjustment=adjustment)
    shown["significance"] = pd.Categorical(
        np.where(verdict(shown["significant"]), sig_label, t["not_significant"]),
        [sig_label, t["not_significant"]],
    )
    if breakdown:
        order = _group_order(breakdown, frame[breakdown].astype(str))
        labels = {g: group_label(breakdown, g, language) for g in order}
        shown["col"] = pd.Categorical(
            shown[breakdown].astype(str).map(labels), [labels[g] for g in order]
        )
        facet = facet_grid("row ~ col")
    else:
        facet = facet_wrap("row", ncol=2)
    ncols = len(order) if breakdown else 1
    ci = shown.dropna(subset=["ci_low", "ci_high"])
    # symmetric around 0, so "no change" sits in the middle of every panel
    reach = 1.05 * float(np.nanmax(np.abs(shown[["diff", "ci_low", "ci_high"]].to_numpy())))
    reach = reach if reach > 0 else 0.01
    # hollow marks "not significant" here; an indicative cell keeps its dotted CI
    indicative = ci[ci["hollow"]]
    solid = ci[~ci["hollow"]]
    colours = {sig_label: VERMILLION, t["not_significant"]: BLACK}
    fills = {sig_label: VERMILLION, t["not_significant"]: "white"}
    shapes = {sig_label: "o", t["not_significant"]: "o"}
    plot = ggplot(
        shown,
        aes(x="diff", y="y", colour="significance", fill="significance", shape="significance"),
    )
    plot += geom_vline(xintercept=0, colour="#555555", size=0.5)
    if len(solid):
        plot += geom_segment(
            solid, aes(x="ci_low", xend="ci_high", y="y", yend="y"), size=0.7, show_legend=False
        )
    if len(indicative):
        plot += geom_segment(
            indicative,
            aes(x="ci_low", xend="ci_high", y="y", yend="y"),
            size=0.7,
            linetype="dotted",
            show_legend=False,
        )
    plot += geom_point(size=2.4, stroke=0.8)
    plot = (
        plot
        + facet
        + scale_y_continuous(
            breaks=[position[w] for w in waves],
            labels=[wave_label(w, language) for w in waves],
            limits=(-0.6, len(waves) - 0.4),
            expand=(0, 0),
        )
        + scale_x_continuous(
            labels=points_labels(language),
            limits=(-reach, reach),
            breaks=_symmetric_breaks(3 if ncols > 3 else 5),
        )
        + scale_color_manual(values=colours, name="")
        + scale_fill_manual(values=fills, name="")
        + scale_shape_manual(values=shapes, name="")
        + labs(
            x=t["diff_axis"].format(ref=reference_wave),
            y="",
            title=title,
            caption=_wrap(
                t["ci_note_h"],
                *_status_notes(shown, omitted, language, breakdown, "indicative_dotted"),
                _source_short(data_source, language),
            ),
        )
        + house_theme(9 if ncols > 3 else 10)
        + theme(
            strip_text_y=element_text(angle=-90, ha="center", size=8.5),
            strip_text_x=element_text(size=8.5),
            axis_text_x=element_text(size=7 if ncols > 3 else 8),
            legend_title=element_blank(),
        )
    )
    panel_rows = len(indicators) if breakdown else math.ceil(len(indicators) / 2)
    height = min(9.5, 1.6 + panel_rows * (0.25 * len(waves) + 0.35))
    n_sig = int(verdict(shown["significant"]).sum())
    largest = ""
    if len(shown):
        top = shown.iloc[int(np.argmax(shown["diff"].abs().to_numpy()))]
        label = t["indicators_lower"].get(top["indicator"], top["indicator"])
        if breakdown:
            group = group_label(breakdown, str(top[breakdown]), language, running=True)
            label += f" ({group}, {wave_label(top['wave'], language)})"
        else:
            label += f" ({wave_label(top['wave'], language)})"
        largest = t["alt_changes_largest"].format(
            label=label, value=format_signed(100 * top["diff"], language)
        )
    alt = t["alt_changes"].format(ref=reference_wave, k=n_sig, total=len(shown), largest=largest)
    waves_text = ", ".join(wave_label(w, language) for w in waves)
    population = (
        t["pop_location"]
        if breakdown == "location"
        else _age_population(order, language)
        if breakdown == "age_group"
        else t["pop_employees"]
    )
    parts = [
        t["cap_changes"].format(
            ref=reference_wave, alpha=_number(alpha, language, 2), adjustment=adjustment
        ),
        *_status_notes(shown, omitted, language, breakdown, "indicative_dotted"),
        population,
    ]
    if "n" in shown and len(shown):
        parts.append(
            t["n_changes"].format(
                waves=waves_text, n=_n_text(shown["n"].min(), shown["n"].max(), language)
            )
        )
    else:
        parts.append(t["waves_only"].format(waves=waves_text))
    parts.append(_source(data_source, language, reference_wave))
    name = f"changes_by_{breakdown}" if breakdown else "changes"
    return Figure(
        name,
        plot,
        title,
        " ".join(parts),
        alt,
        (7.0, round(height, 2)),
        shown,
        omitted,
        (table_name,),
    )


def key_figures_figure(
    table: pd.DataFrame,
    language: str,
    data_source: str = "synthetic",
    table_name: str = "kerncijfers.csv",
) -> Figure:
    """Each published figure against this run's CI, centred on this run's estimate.

    One row per published figure: the line is this analysis's interval, the dot
    its estimate (at 0), the diamond the published figure (filled when it lies
    outside the interval). Centring makes intervals of a few points visible; the
    levels themselves are in the row labels.
    """
    t = _text(language, table)
    _require(
        table,
        [
            "id",
            "wave",
            "population",
            "indicator",
            "category",
            "published",
            "estimate",
            "ci_low",
            "ci_high",
            "n",
            "within_ci",
        ],
        table_name,
    )
    frame = table.copy()
    frame["category"] = frame["category"].map(_category_text)
    frame["wave"] = frame["wave"].astype(str)
    frame["within_ci"] = frame["within_ci"].astype(str).str.lower().isin(["true", "1"])
    shown, omitted = split_status(frame, table_name)
    populations = list(dict.fromkeys(frame["population"]))
    pop_labels = {p: t["populations"].get(p, p) for p in populations}
    # rotated strips as high as a few rows: wrap the population names
    strips = {p: "\n".join(textwrap.wrap(label, 13)) for p, label in pop_labels.items()}
    rank = {p: i for i, p in enumerate(populations)}
    shown = shown.assign(_rank=shown["population"].map(rank)).sort_values(
        ["_rank", "indicator", "category", "wave"], kind="stable"
    )
    shown["label"] = [
        f"{_figure_label(r.indicator, r.category, language)}, {wave_label(r.wave, language)}: "
        f"{_number(r.published, language, 0 if float(r.published).is_integer() else 1)}%"
        for r in shown.itertuples()
    ]
    shown["y"] = np.arange(len(shown), 0, -1, dtype=float)  # first figure on top
    shown["row"] = pd.Categorical(shown["population"].map(strips), list(strips.values()))
    kinds = [t["this_analysis"], t["published"], t["published_outside"]]
    est = shown.assign(value=0.0, kind=pd.Categorical([kinds[0]] * len(shown), kinds))
    pub = shown.assign(
        value=(shown["published"] - shown["estimate"]) / 100,
        kind=pd.Categorical(np.where(shown["within_ci"], kinds[1], kinds[2]), kinds),
    )
    ci = est.dropna(subset=["ci_low", "ci_high"]).assign(
        ci_low=lambda f: (f["ci_low"] - f["estimate"]) / 100,
        ci_high=lambda f: (f["ci_high"] - f["estimate"]) / 100,
    )
    points = pd.concat([est, pub], ignore_index=True)
    plot = ggplot(
        points, aes(x="value", y="y", colour="kind", shape="kind", fill="kind", size="kind")
    )
    for part, linetype in ((ci[~ci["hollow"]], "solid"), (ci[ci["hollow"]], "dotted")):
        if len(part):
            plot += geom_segment(
                part,
                aes(x="ci_low", xend="ci_high", y="y", yend="y"),
                size=1.0,
                colour=BLUE,
                linetype=linetype,
                show_legend=False,
                inherit_aes=False,
            )
    plot += geom_point(points[points["kind"] != kinds[0]], stroke=0.9)
    filled = (points["kind"] == kinds[0]) & ~points["hollow"]
    plot += geom_point(points[filled], stroke=0.5)
    if points["hollow"].any():
        plot += geom_point(
            points[(points["kind"] == kinds[0]) & points["hollow"]],
            fill="white",
            stroke=0.9,
            show_legend=False,
        )
    present = [k for k in kinds if k in set(points["kind"])]
    plot = (
        plot
        + facet_grid("row ~ .", scales="free_y", space="free_y")
        + scale_y_continuous(breaks=list(shown["y"]), labels=list(shown["label"]), expand=(0, 0.6))
        + scale_x_continuous(labels=points_labels(language))
        + scale_color_manual(
            values={kinds[0]: BLUE, kinds[1]: VERMILLION, kinds[2]: VERMILLION}, limits=present
        )
        + scale_fill_manual(
            values={kinds[0]: BLUE, kinds[1]: "white", kinds[2]: VERMILLION}, limits=present
        )
        + scale_shape_manual(values={kinds[0]: "o", kinds[1]: "D", kinds[2]: "D"}, limits=present)
        + scale_size_manual(values={kinds[0]: 2.0, kinds[1]: 3.2, kinds[2]: 3.2}, limits=present)
        + labs(
            x=t["key_axis"],
            y="",
            title=t["title_key"],
            caption=_wrap(
                t["key_note"],
                *_status_notes(shown, omitted, language),
                _source_short(data_source, language),
                width=105,
            ),
        )
        + house_theme()
        + theme(
            strip_text_y=element_text(angle=-90, ha="center", size=8.5),
            panel_grid_major_y=element_blank(),
            legend_title=element_blank(),
        )
    )
    agree = int(shown["within_ci"].sum())
    waves_text = ", ".join(wave_label(w, language) for w in _wave_order(shown["wave"]))
    caption = " ".join(
        [
            t["cap_key"].format(agree=agree, total=len(shown)),
            *_status_notes(shown, omitted, language),
            t["pop_key"].format(
                populations=_join([p.lower() for p in pop_labels.values()], language)
            ),
            t["n_key"].format(
                waves=waves_text,
                low=_number(shown["n"].min(), language),
                high=_number(shown["n"].max(), language),
            ),
            _source(data_source, language),
        ]
    )
    outside = shown[~shown["within_ci"]]
    outside_text = ""
    if len(outside):
        outside_text = t["alt_key_outside"].format(
            labels="; ".join(
                f"{_figure_label(r.indicator, r.category, language)}, "
                f"{wave_label(r.wave, language)} ({pop_labels[r.population].lower()}): "
                f"{_number(r.published, language, 1)}% vs {_number(r.estimate, language, 1)}%"
                for r in outside.itertuples()
            )
        )
    alt = t["alt_key"].format(total=len(shown), agree=agree, outside=outside_text)
    height = min(9.5, 1.9 + 0.26 * len(shown) + 0.15 * len(populations))
    return Figure(
        "key_figures",
        plot,
        t["title_key"],
        caption,
        alt,
        (7.0, round(height, 2)),
        shown.drop(columns="_rank"),
        omitted,
        (table_name,),
    )


def _figure_label(indicator: str, category: str, language: str) -> str:
    t = _text(language)
    if indicator == "location":
        return t["locations"].get(category, category)
    name = t["indicators"].get(indicator, indicator)
    if category not in ("1",):
        name = f"{name}: {category}"
    return name


# -- writing ----------------------------------------------------------------------------


def save_figure(figure: Figure, out_dir: str | os.PathLike) -> dict:
    """Write ``<name>.svg`` and ``<name>.png`` (300 dpi) into ``out_dir``; the manifest entry.

    The same figure gives the same bytes: matplotlib's SVG ids come from a fixed
    salt and neither file records a date.
    """
    out_dir = Path(out_dir)
    entry = {"name": figure.name}
    width, height = figure.size
    plot = figure.plot + theme(figure_size=(width, height), dpi=DPI)
    # drawn once, saved twice; the theme's rc settings apply when saving as well
    with matplotlib.rc_context(plot.theme.rcParams), matplotlib.rc_context(RC_PARAMS):
        drawn = plot.draw()
        try:
            for fmt in FORMATS:
                target = out_dir / f"{figure.name}.{fmt}"
                metadata = {"Title": figure.title, "Description": figure.alt}
                if fmt == "svg":
                    metadata.update({"Date": None, "Creator": SOFTWARE})
                else:
                    metadata["Software"] = SOFTWARE
                with atomic_path(target) as tmp:
                    drawn.savefig(tmp, format=fmt, dpi=DPI, metadata=metadata)
                entry[fmt] = target.name
                log.info("wrote %s", target)
        finally:
            plt.close(drawn)
    entry.update(
        {
            "title": figure.title,
            "caption": figure.caption,
            "alt": figure.alt,
            "width_in": width,
            "height_in": height,
            "dpi": DPI,
            "tables": list(figure.tables),
            "cells_drawn": len(figure.data),
            "cells_suppressed": len(figure.omitted),
        }
    )
    return entry


def write_manifest(entries: Sequence[Mapping], language: str, target: str | os.PathLike) -> None:
    manifest = {"language": language, "figures": list(entries)}
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def build_figures(
    location: pd.DataFrame,
    by_location: pd.DataFrame,
    by_age_group: pd.DataFrame,
    key_figures: pd.DataFrame,
    language: str,
    data_source: str = "synthetic",
    reference_wave: str = "2019",
    highlight_age_group: str | None = "15-24",
    indicators: Sequence[str] | None = None,
    table_names: Mapping[str, Sequence[str]] | None = None,
    changes: pd.DataFrame | None = None,
    alpha: float = 0.05,
) -> list[Figure]:
    """The figures of FIGURE_NAMES, in that order, from the tables as frames.

    ``changes``: the pipeline's long change table (changes_vs_<base>.csv); its
    forest plots (overall and by location) show the shares in ``indicators``.
    """
    names = dict(table_names or {})
    changes_name = (names.get("changes") or ["changes.csv"])[0]
    if changes is None:
        raise DataError("build_figures needs the change table for the forest plots")
    figures = [
        location_figure(
            location, language, data_source, *names.get("location", ["location_by_wave.csv"])
        ),
        indicators_figure(
            by_location,
            "location",
            language,
            data_source,
            reference_wave,
            None,
            indicators,
            names.get("by_location", ()),
        ),
        indicators_figure(
            by_age_group,
            "age_group",
            language,
            data_source,
            reference_wave,
            highlight_age_group,
            indicators,
            names.get("by_age_group", ()),
        ),
        changes_figure(
            changes,
            language,
            data_source,
            reference_wave,
            alpha,
            table_name=changes_name,
            indicators=indicators,
        ),
        changes_figure(
            changes,
            language,
            data_source,
            reference_wave,
            alpha,
            breakdown="location",
            table_name=changes_name,
            indicators=indicators,
        ),
        key_figures_figure(
            key_figures, language, data_source, *names.get("key_figures", ["kerncijfers.csv"])
        ),
    ]
    assert tuple(f.name for f in figures) == FIGURE_NAMES
    return figures
