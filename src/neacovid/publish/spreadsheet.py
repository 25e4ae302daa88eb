"""The tables annex: a run's published tables as one workbook per language.

The workbook follows official-statistics spreadsheet practice (the UK
Analysis Function's guidance, as the gptables package implements it):

- a cover sheet (title, what the data are, source, release date, the run's
  provenance, contact), a contents sheet with a link to every table and a
  notes sheet with numbered notes;
- one table per worksheet, marked up as an Excel table, under a few lines of
  text (title, "one table", the notes that apply, source) without blank rows;
- numbers stored as numbers, rounded to what is shown (no hidden decimals),
  units in the column headers; a share table and a mean table never share a
  column, so a comparison table with both is split over two worksheets;
- a cell without a number holds a marker explained in the notes: ``[x]``
  suppressed, ``[z]`` not applicable; an indicative row says ``[u]`` in its
  Status column (its numbers stay numbers); no merged cells.

Every table is read from a CSV the pipeline wrote, after the disclosure rules:
the estimate tables, key figures, changes, contrasts, differences in
differences, the test of independence, the models and their term tests, and
the attrition tables with their sensitivity analyses. A table's confidence
level comes from its ``level`` column (else ``tables.level``), the
multiple-testing method of its adjusted p-values from its ``adjustment``
column; a breakdown says whether it holds a respondent's group at the time of
the wave or in the baseline wave (``location_2019``). The file is byte-stable:
the document properties carry the configured release date or a constant, never
the clock, and the zip members get XlsxWriter's fixed 1980 timestamp
(in-memory mode).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd

from neacovid.data.indicators import baseline_name
from neacovid.errors import ConfigError
from neacovid.publish.disclosure import OK, SUPPRESSED, DisclosureRules
from neacovid.publish.words import TEMPLATE_DIR, format_number, words

log = logging.getLogger("neacovid")

TEXT = "spreadsheet_text"
MARK_SUPPRESSED, MARK_INDICATIVE, MARK_NOT_APPLICABLE = "[x]", "[u]", "[z]"
SHEET_NAME_MAX = 31
# The document date when no release date is configured: a constant (the zip
# members' own date), so that two runs write the same bytes.
FIXED_DATE = datetime(1980, 1, 1, tzinfo=UTC)
# Decimals of what a reader sees (and what is stored). Design effects: the
# config's disclosure.deff_decimals (the CSVs are rounded to them already).
PERCENT, POINTS, POINTS_SE, MEAN, MEAN_SE, RATIO, LOG_ODDS, P_VALUE = 1, 1, 2, 2, 3, 2, 3, 4
COUNT = "count"  # n and weighted counts: whole numbers with a thousands separator
# Columns that stay text even where every value looks like a number (wave ids
# such as "2019", categories "0"/"1", verdicts "True"/"False").
TEXT_COLUMNS = (
    "wave",
    "base",
    "category",
    "group",
    "a",
    "b",
    "id",
    "term",
    "population",
    "indicator",
    "breakdown",
    "contrast",
    "comparison",
    "row",
    "col",
    "within_ci",
    "significant",
    "family",
    "adjustment",
    "version",
    "outcome",
    "factor",
    "role",
    "status",
    "reason",
    "ci_method",
)
# Not shown: the reason of a status is in output_check.csv (notes say so).
DROPPED = ("reason",)
# Shown in a header when a table has one value, else as a column of its own.
IN_HEADER = ("level", "ci_method", "adjustment")
# tables.model_tables adjusts a model's effect terms by Holm only; its CSV says so in
# ``adjustment``, which the models of runs before 0.2.0 lack.
MODEL_ADJUSTMENT = "holm"


# -- inputs -------------------------------------------------------------------------


@dataclass(frozen=True)
class AnnexInputs:
    """The CSVs of one run that the workbook publishes, and its provenance."""

    estimate_tables: Sequence[Path]  # <indicator>_by_<breakdown>.csv, in config order
    key_figures: Path  # kerncijfers.csv
    changes: Sequence[Path]  # changes_vs_<base>.csv, changes_consecutive.csv
    contrasts: Path
    did: Path  # differences in differences
    test: Path  # tests_location_by_age.csv
    models: Sequence[Path]  # models/<indicator>_logit.csv
    model_tests: Sequence[Path]  # models/<indicator>_tests.csv
    attrition: Path  # retention
    attrition_stayers: Path
    attrition_model: Path
    attrition_model_tests: Path
    r_indicators: Path
    sensitivity: Path  # sensitivity_attrition.csv
    sensitivity_key_figures: Path
    provenance: Path


def read_csv(path: str | Path) -> pd.DataFrame:
    """A published CSV: numbers as numbers, ids and codes as text ("2019", "15-24"),
    an empty cell missing; a file without columns (no model estimable) an empty table."""
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    for column in table.columns:
        if column in TEXT_COLUMNS:
            continue
        numbers = pd.to_numeric(table[column], errors="coerce")
        if numbers.notna().sum() == table[column].notna().sum():
            table[column] = numbers
    return table


def workbook_name(language: str, template_dir: str | Path = TEMPLATE_DIR) -> str:
    """The workbook's file name in ``language`` (``tabellen.xlsx``, ``tables.xlsx``)."""
    return words(TEXT, language, template_dir)["file"]


def workbook_names(
    languages: Sequence[str], template_dir: str | Path = TEMPLATE_DIR
) -> dict[str, str]:
    names = {lang: workbook_name(lang, template_dir) for lang in languages}
    if len(set(names.values())) != len(names):
        raise ConfigError(f"{TEXT}.yaml: two languages share a workbook name ({names})")
    return names


# -- words --------------------------------------------------------------------------


class _Words:
    """The annex's words in one language, and number formatting."""

    def __init__(self, language: str, template_dir: str | Path, baseline: str | None):
        self.t = words(TEXT, language, template_dir)
        self.language = language
        self.baseline = None if baseline is None else str(baseline)
        # location_2019: a respondent's location in the baseline wave (data.indicators)
        self._fixed = None if baseline is None else baseline_name("", baseline)

    def plain(self, value) -> str:
        """A config number as written: 1000 -> "1.000" (nl), 0.3 -> "0,3"."""
        value = float(value)
        if value.is_integer():
            return format_number(value, self.language, 0)
        digits = len(f"{value:.10g}".split(".")[1]) if "." in f"{value:.10g}" else 0
        return format_number(value, self.language, digits)

    def level(self, level: float) -> str:
        """0.95 -> "95%"; 0.995 -> "99,5%" (nl)."""
        return f"{self.plain(round(100 * float(level), 6))}%"

    def header(self, key: str, **values) -> str:
        return self.t["columns"][key].format(**values)

    def indicator(self, name) -> str:
        return self.t["indicators"].get(str(name), str(name))

    def variable(self, name) -> str:
        return self.t["variables"].get(str(name), str(name))

    def category(self, value) -> str:
        text = str(value)
        categories = self.t["categories"]
        if text not in categories and re.fullmatch(r"-?\d+\.0", text):
            text = text[:-2]  # a 0/1 characteristic read as a float: "1.0"
        return categories.get(text, text)

    def categories(self, value) -> str:
        """A contrast side "hybrid, home" -> "hybrid, at home"."""
        return ", ".join(self.category(v.strip()) for v in str(value).split(","))

    def group(self, value) -> str:
        return self.t["all"] if str(value) == "all" else self.category(value)

    def fixed(self, name) -> tuple[str, bool]:
        """("location", True) for location_2019: the variable, and whether the column
        holds the respondent's value in the baseline wave."""
        name = str(name)
        if self._fixed and name.endswith(self._fixed) and len(name) > len(self._fixed):
            return name[: -len(self._fixed)], True
        return name, False

    def breakdown(self, name) -> str:
        """location -> "work location at the time of the wave", location_2019 ->
        "work location in 2019" (the same people in every wave); all -> "all employees"."""
        if str(name) in ("all", "wave"):
            return self.variable(name)
        variable, fixed = self.fixed(name)
        return self.t["breakdowns"]["in_baseline" if fixed else "at_the_time"].format(
            variable=self.variable(variable), baseline=self.baseline
        )

    def breakdown_header(self, name) -> str:
        """A breakdown's column header: "Age group in 2019 (years)"."""
        text = self.breakdown(name)
        unit = self.t["variable_units"].get(self.fixed(name)[0])
        text = text[:1].upper() + text[1:]
        return f"{text} ({unit})" if unit else text

    def population(self, value) -> str:
        return self.t["populations"].get(str(value), str(value))

    def contrast(self, value) -> str:
        return self.t["contrasts"].get(str(value), str(value))

    def version(self, value) -> str:
        return self.t["versions"].get(str(value), str(value))

    def role(self, value) -> str:
        return self.t["roles"].get(str(value), str(value))

    def adjustment(self, value) -> str:
        return self.t["adjustments"].get(str(value), str(value))

    def yes_no(self, value) -> str:
        return {"True": self.t["word_yes"], "False": self.t["word_no"]}.get(str(value), str(value))

    def wave(self, value) -> str:
        """A wave id as it is ("2021-11"); a model of all waves: "all"."""
        return self.t["all"] if str(value) == "all" else str(value)

    def factor(self, name) -> str:
        """A model factor in words; one of the baseline wave says so."""
        variable, fixed = self.fixed(name)
        return self.breakdown(name) if fixed else self.variable(variable)

    def term(self, term) -> str:
        """``C(location, Treatment('on_site'))[T.home]`` -> "work location: at home";
        ``C(sector_2019)`` (a term test) -> "sector in 2019"."""
        from neacovid.publish.tables import FACTOR_TERM  # (imports the estimators)

        term = str(term)
        if term == "Intercept":
            return self.t["terms"]["intercept"]
        if term == "(model)":
            return self.t["terms"]["model"]
        match = FACTOR_TERM.match(term)
        if match is not None:
            return f"{self.factor(match['var'])}: {self.category(match['level'])}"
        match = re.match(r"^C\((?P<var>[A-Za-z_][A-Za-z0-9_]*)", term)
        return self.factor(match["var"]) if match else term

    def unit(self, kind: str, indicator: str | None = None) -> str:
        units = self.t["units"]
        if kind == "mean":
            return units["means"].get(str(indicator), units["mean_default"])
        return units[kind]


# -- columns and sheets -------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """One column of a table sheet: a CSV column, its header and how to show it."""

    key: str  # the CSV's column
    header: str
    decimals: int | str | None = None  # None: text; COUNT: whole number with separator
    scale: float = 1.0  # shares 0-1 -> percent
    label: Callable[[object], str] | None = None  # words for a text value
    missing: str | None = None  # the words for a text cell without value ([z] if None)

    @property
    def numeric(self) -> bool:
        return self.decimals is not None


@dataclass(frozen=True)
class TableSheet:
    name: str
    title: str
    description: str
    source: str  # the CSV, relative to the results directory
    notes: tuple[str, ...]
    columns: tuple[Column, ...]
    rows: pd.DataFrame = field(repr=False)


@dataclass(frozen=True)
class _Context:
    w: _Words
    level: float  # config tables.level
    ci: str  # config tables.ci (shares)
    alpha: float  # config compare.alpha: what "significant" means
    rules: DisclosureRules
    means: frozenset[str]
    base: str  # compare.base
    pooled_models: bool  # models.by_wave false: one model of all waves


# The notes every table sheet refers to (the markers first: notes 1 to 3).
MARKERS_NOTES = ("suppressed", "indicative", "not_applicable", "rounding")


def _unique(table: pd.DataFrame, column: str) -> list:
    if column not in table.columns:
        return []
    return list(dict.fromkeys(table[column].dropna()))


def _level_of(table: pd.DataFrame, ctx: _Context) -> float | None:
    """The table's one confidence level (its ``level`` column, else the config's);
    None when the rows have more than one (each row's is then shown)."""
    levels = _unique(table, "level")
    if len(levels) > 1:
        return None
    return float(levels[0]) if levels else float(ctx.level)


def _method_of(table: pd.DataFrame, ctx: _Context) -> str | None:
    methods = _unique(table, "ci_method")
    if len(methods) > 1:
        return None
    return str(methods[0]) if methods else ctx.ci


def _level_text(table: pd.DataFrame, ctx: _Context) -> str:
    level = _level_of(table, ctx)
    # Levels per row: the headers say "CI" and the Confidence level column has them.
    return ctx.w.level(level) if level is not None else ""


def _method_text(table: pd.DataFrame, ctx: _Context) -> str:
    method = _method_of(table, ctx)
    return method if method is not None else ctx.w.t["descriptions"]["method_column"]


def _interval(
    table: pd.DataFrame, ctx: _Context, unit: str, decimals: int, scale: float
) -> list[Column]:
    w, level = ctx.w, _level_text(table, ctx)
    columns = [
        Column(key, w.header(key, level=level, unit=unit).strip(), decimals, scale)
        for key in ("ci_low", "ci_high")
    ]
    if _level_of(table, ctx) is None:
        columns.append(Column("level", w.header("level"), PERCENT, 100.0))
    if "ci_method" in table.columns and _method_of(table, ctx) is None:
        columns.append(Column("ci_method", w.header("ci_method")))
    return columns


def _adjustment_of(table: pd.DataFrame, absent: str | None = None) -> str | None:
    """The table's one multiple-testing method (its ``adjustment`` column, else
    ``absent``); None when its rows have more than one, or none is known."""
    methods = [str(m) for m in _unique(table, "adjustment")] or ([absent] if absent else [])
    return methods[0] if len(methods) == 1 else None


def _tests(table: pd.DataFrame, ctx: _Context, absent: str | None = None) -> list[Column]:
    """The p-value, the family, the adjusted p-value under the method's name and the
    verdict (yes/no) of a table of tests; with several methods a column names each
    row's."""
    w = ctx.w
    method = _adjustment_of(table, absent)
    alpha = w.plain(ctx.alpha)
    if method is None:
        adjusted = [
            Column("p_adjusted", w.header("p_adjusted_mixed"), P_VALUE),
            Column("adjustment", w.header("adjustment"), label=w.adjustment),
            Column("significant", w.header("significant_mixed", alpha=alpha), label=w.yes_no),
        ]
    else:
        name = w.adjustment(method)
        adjusted = [
            Column("p_adjusted", w.header("p_adjusted", method=name), P_VALUE),
            Column(
                "significant", w.header("significant", method=name, alpha=alpha), label=w.yes_no
            ),
        ]
    return [
        Column("p_value", w.header("p_value"), P_VALUE),
        Column("family", w.header("family")),
        *adjusted,
    ]


def _tests_text(table: pd.DataFrame, ctx: _Context, absent: str | None = None) -> str:
    """The description's words for the p-values of a table of tests."""
    method = _adjustment_of(table, absent)
    t = ctx.w.t["descriptions"]
    if method is None:
        return t["tests_mixed"]
    return t["tests"].format(method=ctx.w.adjustment(method))


def _kind(indicator: str, table: pd.DataFrame, ctx: _Context, column: str) -> str:
    """ "mean" for an indicator in tables.means or with values outside 0-1, else "share"."""
    if indicator in ctx.means:
        return "mean"
    rows = table[table[column].astype(str) == indicator]
    values = [
        pd.to_numeric(rows[c], errors="coerce")
        for c in rows.columns
        if c.startswith(("estimate", "base_estimate"))
    ]
    if values and (pd.concat(values).abs() > 1).any():
        log.warning(
            "%s is not in tables.means but has values outside 0-1: shown as a mean", indicator
        )
        return "mean"
    return "share"


def _split_by_kind(
    table: pd.DataFrame, ctx: _Context, column: str = "indicator"
) -> list[tuple[str, pd.DataFrame]]:
    """Shares and means of one comparison table, as separate tables (units differ)."""
    if not len(table):
        return [("share", table)]
    indicators = table[column].astype(str)
    kinds = indicators.map({i: _kind(i, table, ctx, column) for i in indicators.unique()})
    # A mean has no respondents "with the answer": those columns are a share's.
    answers = [c for c in table.columns if c.startswith(("n_with", "base_n_with"))]
    return [
        (
            kind,
            table[kinds == kind]
            .drop(columns=answers if kind == "mean" else [])
            .reset_index(drop=True),
        )
        for kind in ("share", "mean")
        if (kinds == kind).any()
    ]


def _units(
    table: pd.DataFrame, ctx: _Context, kind: str, column: str = "indicator"
) -> tuple[str, str, int, int, int, float]:
    """(unit of an estimate, unit of a difference and a standard error, decimals of an
    estimate, of a difference, of a standard error, scale) of a share or mean table."""
    w = ctx.w
    if kind == "share":
        return w.unit("percent"), w.unit("points"), PERCENT, POINTS, POINTS_SE, 100.0
    # One unit per column: several mean indicators share the generic words.
    indicators = _unique(table, column)
    unit = w.unit("mean", indicators[0] if len(indicators) == 1 else None)
    return unit, unit, MEAN, MEAN, MEAN_SE, 1.0


def _status(ctx: _Context) -> Column:
    words = ctx.w.t["status"]
    return Column("status", ctx.w.header("status"), label=lambda v: words.get(str(v), str(v)))


def _between(table: pd.DataFrame, after: str, before: str) -> list[str]:
    """The columns of ``table`` between two (a comparison's "by" columns)."""
    columns = list(table.columns)
    if after not in columns or before not in columns:
        return []
    return columns[columns.index(after) + 1 : columns.index(before)]


def _by_columns(keys: Sequence[str], ctx: _Context) -> list[Column]:
    """A comparison's "by" columns: the wave as it is, a breakdown in words (empty:
    within all groups)."""
    w = ctx.w
    return [
        Column(key, w.header("wave"), label=w.wave)
        if key == "wave"
        else Column(key, w.breakdown_header(key), label=w.category, missing=w.t["all"])
        for key in keys
    ]


def _finish(
    table: pd.DataFrame, columns: list[Column], ctx: _Context, source: str
) -> tuple[Column, ...]:
    """Every CSV column is shown: those without words keep their name (logged). An
    empty table keeps every column (one row of [z])."""
    known = {c.key for c in columns} | set(DROPPED) | set(IN_HEADER)
    extra = []
    for key in table.columns:
        if key in known:
            continue
        log.warning(
            "%s: column %s has no words in %s.yaml; shown under its name", source, key, TEXT
        )
        numeric = pd.api.types.is_numeric_dtype(table[key])
        extra.append(Column(key, key, P_VALUE if numeric else None))
    if len(table):
        columns = [c for c in columns if c.key in table.columns]
    ordered = (
        columns[:-1] + extra + columns[-1:] if columns[-1].key == "status" else (columns + extra)
    )
    headers = [c.header for c in ordered]
    if len(set(headers)) != len(headers):
        raise ConfigError(f"{TEXT}.yaml: two columns of {source} have one header")
    return tuple(ordered)


def _sheet(
    name: str,
    title: str,
    description: str,
    source: str,
    notes: Sequence[str],
    columns: list[Column],
    table: pd.DataFrame,
    ctx: _Context,
) -> TableSheet:
    return TableSheet(
        name,
        title,
        description,
        source,
        (*MARKERS_NOTES, *notes, "data"),
        _finish(table, columns, ctx, source),
        table,
    )


# -- estimate tables and key figures ------------------------------------------------


def _estimate_sheet(path: Path, ctx: _Context) -> TableSheet:
    w = ctx.w
    table = read_csv(path)
    indicator = str(table["indicator"].iloc[0]) if len(table) else path.stem.split("_by_")[0]
    breakdown = path.stem.split("_by_", 1)[1] if "_by_" in path.stem else "wave"
    kind = "share" if "category" in table.columns else "mean"
    unit, se_unit, value, _, se, scale = _units(table, ctx, kind)
    columns = [
        Column("indicator", w.header("indicator"), label=w.indicator),
        Column("wave", w.header("wave")),
    ]
    if breakdown != "wave":
        columns.append(Column(breakdown, w.breakdown_header(breakdown), label=w.category))
    if kind == "share":
        columns.append(Column("category", w.header("category"), label=w.category))
    columns += [
        Column("estimate", w.header("estimate", unit=unit), value, scale),
        Column("se", w.header("se", unit=se_unit), se, scale),
        *_interval(table, ctx, unit, value, scale),
        Column("n", w.header("n"), COUNT),
        Column("n_category", w.header("n_category"), COUNT),
        Column(
            "weighted_n", w.header("weighted_n", round=w.plain(ctx.rules.round_weighted_n)), COUNT
        ),
        Column("deff", w.header("deff"), ctx.rules.deff_decimals),
        Column("df", w.header("df"), 0),
        _status(ctx),
    ]
    title_key = "estimate_wave" if breakdown == "wave" else "estimate_by"
    title = w.t["titles"][title_key].format(
        indicator=w.indicator(indicator), breakdown=w.breakdown(breakdown)
    )
    description = w.t["descriptions"][kind].format(
        level=_level_text(table, ctx), unit=unit, method=_method_text(table, ctx)
    )
    notes = ("ci", "design") + (("breakdowns",) if breakdown != "wave" else ())
    return _sheet(path.stem, title, description, f"tables/{path.name}", notes, columns, table, ctx)


def _key_figures_sheet(path: Path, ctx: _Context, sensitivity: bool = False) -> TableSheet:
    w = ctx.w
    table = read_csv(path)
    percent, points = w.unit("percent"), w.unit("points")
    level = _level_text(table, ctx)
    columns = [
        Column("id", w.header("id")),
        Column("version", w.header("version"), label=w.version),
        Column("wave", w.header("wave")),
        Column("population", w.header("population"), label=w.population),
        Column("indicator", w.header("indicator"), label=w.indicator),
        Column("category", w.header("category"), label=w.category),
        Column("published", w.header("published", unit=percent), PERCENT),
        Column("estimate", w.header("estimate", unit=percent), PERCENT),
        Column("se", w.header("se", unit=points), POINTS_SE),
        *_interval(table, ctx, percent, PERCENT, 1.0),  # kerncijfers.csv is in percent
        Column("n", w.header("n"), COUNT),
        Column("n_category", w.header("n_category"), COUNT),
        Column("deff", w.header("deff"), ctx.rules.deff_decimals),
        Column("df", w.header("df"), 0),
        Column("within_ci", w.header("within_ci", level=level).strip(), label=w.yes_no),
        _status(ctx),
    ]
    key = "sensitivity_key_figures" if sensitivity else "key_figures"
    description = w.t["descriptions"][key].format(level=level, method=_method_text(table, ctx))
    notes = ("ci", "design", "key_figures") + (("sensitivity",) if sensitivity else ())
    return _sheet(
        path.stem,
        w.t["titles"][key],
        description,
        f"tables/{path.name}",
        notes,
        columns,
        table,
        ctx,
    )


# -- comparisons --------------------------------------------------------------------


def _difference_columns(
    table: pd.DataFrame,
    ctx: _Context,
    kind: str,
    prefix: list[Column],
    estimates: Sequence[str],
    diff: tuple[str, str],
    counts: Sequence[str],
    with_counts: Sequence[str],
    tests: list[Column],
    column: str = "indicator",
) -> list[Column]:
    """prefix, estimates, the difference with its SE and interval, the tests, df, the
    SE as if independent, the respondents (with the answer: shares only), status."""
    w = ctx.w
    unit, points, value, difference, se, scale = _units(table, ctx, kind, column)
    return [
        *prefix,
        *[
            Column(key, w.header(key, unit=unit, baseline=w.baseline), value, scale)
            for key in estimates
        ],
        Column(diff[0], w.header(diff[1], unit=points), difference, scale),
        Column("se", w.header("se", unit=points), se, scale),
        *_interval(table, ctx, points, difference, scale),
        *tests,
        Column("df", w.header("df"), 0),
        Column("se_independent", w.header("se_independent", unit=points), se, scale),
        *[Column(key, w.header(key), COUNT) for key in [*counts, *with_counts]],
        _status(ctx),
    ]


def _kind_name(path: Path, kind: str) -> str:
    """The sheet of a table's shares keeps the file's name; its means get _means."""
    return f"{path.stem}_means" if kind == "mean" else path.stem


def _changes_sheets(path: Path, ctx: _Context, base: str | None) -> list[TableSheet]:
    w = ctx.w
    sheets = []
    for kind, table in _split_by_kind(read_csv(path), ctx):
        prefix = [
            Column("indicator", w.header("indicator"), label=w.indicator),
            Column("breakdown", w.header("breakdown"), label=w.breakdown),
            Column("group", w.header("group"), label=w.group),
            Column("wave", w.header("wave")),
            Column("base", w.header("base")),
        ]
        columns = _difference_columns(
            table,
            ctx,
            kind,
            prefix,
            ["estimate", "base_estimate"],
            ("diff", "diff"),
            ["n", "base_n"],
            ["n_with", "base_n_with"],
            _tests(table, ctx),
        )
        key = "changes_vs_base" if base is not None else "changes_consecutive"
        title = w.t["titles"][key].format(base=base, kind=w.t["titles"][f"kind_{kind}"])
        description = w.t["descriptions"][f"changes_{kind}"].format(
            level=_level_text(table, ctx),
            unit=_units(table, ctx, kind)[1],
            tests=_tests_text(table, ctx),
        )
        sheets.append(
            _sheet(
                _kind_name(path, kind),
                title,
                description,
                f"tables/{path.name}",
                ("ci", "design", "breakdowns", "changes", "multiple_testing"),
                columns,
                table,
                ctx,
            )
        )
    return sheets


def _contrast_sheets(path: Path, ctx: _Context) -> list[TableSheet]:
    w = ctx.w
    sheets = []
    for kind, table in _split_by_kind(read_csv(path), ctx):
        prefix = [
            Column("indicator", w.header("indicator"), label=w.indicator),
            Column("contrast", w.header("contrast"), label=w.contrast),
            Column("group", w.header("grouping"), label=w.breakdown),
            *_by_columns(_between(table, "group", "a"), ctx),
            Column("a", w.header("a"), label=w.categories),
            Column("b", w.header("b"), label=w.categories),
        ]
        columns = _difference_columns(
            table,
            ctx,
            kind,
            prefix,
            ["estimate_a", "estimate_b"],
            ("diff", "diff_ab"),
            ["n_a", "n_b"],
            ["n_with_a", "n_with_b"],
            _tests(table, ctx),
        )
        title = w.t["titles"]["contrasts"].format(kind=w.t["titles"][f"kind_{kind}"])
        description = w.t["descriptions"][f"contrasts_{kind}"].format(
            level=_level_text(table, ctx),
            unit=_units(table, ctx, kind)[1],
            tests=_tests_text(table, ctx),
        )
        sheets.append(
            _sheet(
                _kind_name(path, kind),
                title,
                description,
                f"tables/{path.name}",
                ("ci", "design", "breakdowns", "changes", "multiple_testing"),
                columns,
                table,
                ctx,
            )
        )
    return sheets


def _did_sheets(path: Path, ctx: _Context) -> list[TableSheet]:
    w = ctx.w
    sheets = []
    for kind, table in _split_by_kind(read_csv(path), ctx):
        prefix = [
            Column("indicator", w.header("indicator"), label=w.indicator),
            Column("comparison", w.header("comparison"), label=w.contrast),
            Column("group", w.header("grouping"), label=w.breakdown),
            *_by_columns(_between(table, "group", "wave"), ctx),
            Column("wave", w.header("wave")),
            Column("base", w.header("base")),
            Column("a", w.header("a"), label=w.categories),
            Column("b", w.header("b"), label=w.categories),
        ]
        columns = _difference_columns(
            table,
            ctx,
            kind,
            prefix,
            ["estimate_a", "base_estimate_a", "estimate_b", "base_estimate_b"],
            ("did", "did"),
            ["n_a", "base_n_a", "n_b", "base_n_b"],
            ["n_with_a", "base_n_with_a", "n_with_b", "base_n_with_b"],
            _tests(table, ctx),
        )
        bases = _unique(table, "base")
        title = w.t["titles"]["did"].format(
            base=bases[0] if len(bases) == 1 else ctx.base, kind=w.t["titles"][f"kind_{kind}"]
        )
        description = w.t["descriptions"][f"did_{kind}"].format(
            level=_level_text(table, ctx),
            unit=_units(table, ctx, kind)[1],
            tests=_tests_text(table, ctx),
        )
        sheets.append(
            _sheet(
                _kind_name(path, kind),
                title,
                description,
                f"tables/{path.name}",
                ("ci", "design", "breakdowns", "changes", "did", "multiple_testing"),
                columns,
                table,
                ctx,
            )
        )
    return sheets


def _test_sheet(path: Path, ctx: _Context) -> TableSheet:
    w = ctx.w
    table = read_csv(path)
    by = list(table.columns[: list(table.columns).index("row")]) if "row" in table else []
    columns = [
        *_by_columns(by, ctx),
        Column("row", w.header("row"), label=w.breakdown),
        Column("col", w.header("col"), label=w.breakdown),
        Column("statistic", w.header("statistic"), RATIO),
        Column("ndf", w.header("ndf"), RATIO),
        Column("ddf", w.header("ddf"), 1),
        *_tests(table, ctx),
        Column("n", w.header("n"), COUNT),
        _status(ctx),
    ]
    rows, cols = _unique(table, "row"), _unique(table, "col")
    title = w.t["titles"]["test"].format(
        row=w.breakdown(rows[0] if rows else "row"), col=w.breakdown(cols[0] if cols else "col")
    )
    description = w.t["descriptions"]["test"].format(tests=_tests_text(table, ctx))
    return _sheet(
        path.stem,
        title,
        description,
        f"tables/{path.name}",
        ("design", "breakdowns", "multiple_testing"),
        columns,
        table,
        ctx,
    )


# -- models -------------------------------------------------------------------------


def _model_table(path: Path, tests: Sequence[str]) -> pd.DataFrame:
    table = read_csv(path)
    table["term_code"] = table["term"] if "term" in table.columns else pd.Series(dtype=str)
    # A model that could not be estimated in any wave has a row per wave and few
    # columns: it gets every column of an estimated one, as [z].
    for key in ("estimate", "se", "odds_ratio", "ci_low", "ci_high", *tests, "df", "n", "n_with"):
        if key not in table.columns:
            table[key] = float("nan")
    return table


def _model_columns(table: pd.DataFrame, ctx: _Context, tests: list[Column]) -> list[Column]:
    w = ctx.w
    ratio = w.unit("odds_ratio")
    return [
        Column("indicator", w.header("indicator"), label=w.indicator),
        Column("wave", w.header("wave"), label=w.wave),
        Column("term", w.header("term"), label=w.term),
        Column("term_code", w.header("term_code")),
        Column("estimate", w.header("coefficient"), LOG_ODDS),
        Column("se", w.header("coefficient_se"), LOG_ODDS),
        Column("odds_ratio", w.header("odds_ratio"), RATIO),
        *_interval(table, ctx, ratio, RATIO, 1.0),
        *tests,
        Column("df", w.header("df"), 0),
        Column("n", w.header("n_term"), COUNT),
        Column("n_with", w.header("n_with_term"), COUNT),
        _status(ctx),
    ]


def _model_sheet(path: Path, ctx: _Context) -> TableSheet:
    w = ctx.w
    table = _model_table(path, ("p_value", "family", "p_adjusted", "significant"))
    indicator = str(table["indicator"].iloc[0]) if len(table) else path.stem
    tests = _tests(table, ctx, MODEL_ADJUSTMENT)
    key = "model_pooled" if ctx.pooled_models else "model"
    description = w.t["descriptions"]["model"].format(
        level=_level_text(table, ctx), tests=_tests_text(table, ctx, MODEL_ADJUSTMENT)
    )
    return _sheet(
        path.stem,
        w.t["titles"][key].format(indicator=w.indicator(indicator)),
        description,
        f"models/{path.name}",
        ("ci", "design", "models", "multiple_testing"),
        _model_columns(table, ctx, tests),
        table,
        ctx,
    )


def _term_tests_table(path: Path) -> pd.DataFrame:
    table = read_csv(path)
    table["term_code"] = table["term"] if "term" in table.columns else pd.Series(dtype=str)
    # the factor is the term's variable: the Characteristic column says it in words
    return table.drop(columns=[c for c in ("factor",) if c in table.columns])


def _term_test_columns(ctx: _Context) -> list[Column]:
    w = ctx.w
    return [
        Column("indicator", w.header("indicator"), label=w.indicator),
        Column("wave", w.header("wave"), label=w.wave),
        Column("term", w.header("term"), label=w.term),
        Column("term_code", w.header("term_code")),
        Column("role", w.header("role"), label=w.role),
        Column("statistic", w.header("statistic_wald"), RATIO),
        Column("ndf", w.header("ndf"), RATIO),
        Column("ddf", w.header("ddf"), 1),
        Column("p_value", w.header("p_value"), P_VALUE),
        Column("n", w.header("n_model"), COUNT),
        _status(ctx),
    ]


def _model_tests_sheet(path: Path, ctx: _Context) -> TableSheet:
    w = ctx.w
    table = _term_tests_table(path)
    columns = _term_test_columns(ctx)
    indicator = str(table["indicator"].iloc[0]) if len(table) else path.stem.removesuffix("_tests")
    return _sheet(
        path.stem,
        w.t["titles"]["model_tests"].format(indicator=w.indicator(indicator)),
        w.t["descriptions"]["model_tests"],
        f"models/{path.name}",
        ("design", "models"),
        columns,
        table,
        ctx,
    )


# -- attrition ----------------------------------------------------------------------


def _retention_sheet(path: Path, ctx: _Context) -> TableSheet:
    w = ctx.w
    table = read_csv(path)
    baseline = w.baseline
    percent = w.unit("percent")
    columns = [
        Column("wave", w.header("wave")),
        Column("breakdown", w.header("breakdown"), label=w.breakdown),
        Column("group", w.header("group"), label=w.group),
        Column("n_baseline", w.header("n_baseline", baseline=baseline), COUNT),
        Column("n_stayed", w.header("n_stayed"), COUNT),
        Column("retention", w.header("retention", unit=percent), PERCENT, 100.0),
        Column(
            "weighted_retention",
            w.header("weighted_retention", unit=percent, baseline=baseline),
            PERCENT,
            100.0,
        ),
        _status(ctx),
    ]
    return _sheet(
        path.stem,
        w.t["titles"]["attrition"].format(baseline=baseline),
        w.t["descriptions"]["attrition"].format(baseline=baseline),
        f"tables/{path.name}",
        ("breakdowns", "attrition"),
        columns,
        table,
        ctx,
    )


def _stayers_sheets(path: Path, ctx: _Context) -> list[TableSheet]:
    w = ctx.w
    baseline = w.baseline
    sheets = []
    for kind, table in _split_by_kind(read_csv(path), ctx, "outcome"):
        unit = _units(table, ctx, kind, "outcome")[0]
        prefix = [
            Column("wave", w.header("wave_stayed")),
            Column("outcome", w.header("outcome", baseline=baseline), label=w.indicator),
        ]
        columns = _difference_columns(
            table,
            ctx,
            kind,
            prefix,
            ["estimate_stayers", "estimate_leavers"],
            ("diff", "diff_stayers"),
            ["n_stayers", "n_leavers"],
            ["n_with_stayers", "n_with_leavers"],
            _tests(table, ctx),
            column="outcome",
        )
        title = w.t["titles"]["attrition_stayers"].format(
            baseline=baseline, kind=w.t["titles"][f"kind_{kind}"]
        )
        description = w.t["descriptions"]["attrition_stayers"].format(
            baseline=baseline,
            level=_level_text(table, ctx),
            unit=unit,
            tests=_tests_text(table, ctx),
        )
        sheets.append(
            _sheet(
                _kind_name(path, kind),
                title,
                description,
                f"tables/{path.name}",
                ("ci", "design", "changes", "attrition", "multiple_testing"),
                columns,
                table,
                ctx,
            )
        )
    return sheets


def _attrition_model_sheet(path: Path, ctx: _Context) -> TableSheet:
    w = ctx.w
    table = _model_table(path, ("p_value", "p_holm"))
    # its adjusted p-values are the model's own (neacovid.survey.models): Holm over
    # every term but the intercept, in a column that says so
    tests = [
        Column("p_value", w.header("p_value"), P_VALUE),
        Column("p_holm", w.header("p_adjusted", method=w.adjustment("holm")), P_VALUE),
    ]
    return _sheet(
        path.stem,
        w.t["titles"]["attrition_model"].format(baseline=w.baseline),
        w.t["descriptions"]["attrition_model"].format(
            level=_level_text(table, ctx), baseline=w.baseline
        ),
        f"tables/{path.name}",
        ("ci", "design", "attrition"),
        _model_columns(table, ctx, tests),
        table,
        ctx,
    )


def _attrition_model_tests_sheet(path: Path, ctx: _Context) -> TableSheet:
    w = ctx.w
    table = _term_tests_table(path)
    return _sheet(
        path.stem,
        w.t["titles"]["attrition_model_tests"].format(baseline=w.baseline),
        w.t["descriptions"]["attrition_model_tests"],
        f"tables/{path.name}",
        ("design", "attrition"),
        _term_test_columns(ctx),
        table,
        ctx,
    )


def _r_indicator_sheet(path: Path, ctx: _Context) -> TableSheet:
    w = ctx.w
    table = read_csv(path)
    columns = [
        Column("wave", w.header("wave")),
        Column("n", w.header("n_baseline", baseline=w.baseline), COUNT),
        Column("n_stayed", w.header("n_stayed"), COUNT),
        Column(
            "weighted_retention",
            w.header("weighted_retention", unit=w.unit("percent"), baseline=w.baseline),
            PERCENT,
            100.0,
        ),
        Column("r_indicator", w.header("r_indicator"), RATIO),
        _status(ctx),
    ]
    return _sheet(
        path.stem,
        w.t["titles"]["r_indicators"],
        w.t["descriptions"]["r_indicators"].format(baseline=w.baseline),
        f"tables/{path.name}",
        ("design", "attrition"),
        columns,
        table,
        ctx,
    )


def _sensitivity_sheets(path: Path, ctx: _Context) -> list[TableSheet]:
    w = ctx.w
    sheets = []
    for kind, table in _split_by_kind(read_csv(path), ctx):
        prefix = [
            Column("indicator", w.header("indicator"), label=w.indicator),
            Column("version", w.header("version"), label=w.version),
            Column("wave", w.header("wave")),
            Column("base", w.header("base")),
        ]
        columns = _difference_columns(
            table,
            ctx,
            kind,
            prefix,
            ["estimate", "base_estimate"],
            ("diff", "diff"),
            ["n", "base_n"],
            ["n_with", "base_n_with"],
            [Column("p_value", w.header("p_value"), P_VALUE)],
        )
        title = w.t["titles"]["sensitivity"].format(
            baseline=w.baseline, kind=w.t["titles"][f"kind_{kind}"]
        )
        description = w.t["descriptions"][f"sensitivity_{kind}"].format(
            level=_level_text(table, ctx), unit=_units(table, ctx, kind)[1]
        )
        sheets.append(
            _sheet(
                _kind_name(path, kind),
                title,
                description,
                f"tables/{path.name}",
                ("ci", "design", "changes", "attrition", "sensitivity"),
                columns,
                table,
                ctx,
            )
        )
    return sheets


def table_sheets(inputs: AnnexInputs, ctx: _Context) -> list[TableSheet]:
    """Every table of the workbook in its order: key figures, estimate tables (config
    order), changes, contrasts, differences in differences, the test, the models with
    their term tests, the attrition tables and the sensitivity analyses."""
    sheets = [_key_figures_sheet(Path(inputs.key_figures), ctx)]
    sheets += [_estimate_sheet(Path(p), ctx) for p in inputs.estimate_tables]
    for path in inputs.changes:
        path = Path(path)
        sheets += _changes_sheets(path, ctx, None if "consecutive" in path.stem else ctx.base)
    sheets += _contrast_sheets(Path(inputs.contrasts), ctx)
    sheets += _did_sheets(Path(inputs.did), ctx)
    sheets.append(_test_sheet(Path(inputs.test), ctx))
    for model, tests in zip(inputs.models, inputs.model_tests, strict=True):
        sheets += [_model_sheet(Path(model), ctx), _model_tests_sheet(Path(tests), ctx)]
    sheets.append(_retention_sheet(Path(inputs.attrition), ctx))
    sheets += _stayers_sheets(Path(inputs.attrition_stayers), ctx)
    sheets.append(_attrition_model_sheet(Path(inputs.attrition_model), ctx))
    sheets.append(_attrition_model_tests_sheet(Path(inputs.attrition_model_tests), ctx))
    sheets.append(_r_indicator_sheet(Path(inputs.r_indicators), ctx))
    sheets += _sensitivity_sheets(Path(inputs.sensitivity), ctx)
    sheets.append(_key_figures_sheet(Path(inputs.sensitivity_key_figures), ctx, sensitivity=True))
    return sheets


# -- sheet names --------------------------------------------------------------------

_BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")


def sheet_names(wanted: Sequence[str]) -> list[str]:
    """Valid, unique (Excel compares them case-insensitively) sheet names of at most
    31 characters, in the given order; a clash gets a number."""
    names: list[str] = []
    taken: set[str] = set()
    for raw in wanted:
        name = _BAD_SHEET_CHARS.sub("_", str(raw)).strip("'") or "Sheet"
        candidate, number = name[:SHEET_NAME_MAX], 1
        while candidate.lower() in taken or candidate.lower() == "history":
            number += 1
            suffix = f"_{number}"
            candidate = name[: SHEET_NAME_MAX - len(suffix)] + suffix
        taken.add(candidate.lower())
        names.append(candidate)
    return names


# -- notes --------------------------------------------------------------------------


def _notes(
    w: _Words, config: Mapping, sheets: Sequence[TableSheet], ctx: _Context
) -> dict[str, str]:
    """The numbered notes (in order) that some table refers to, by key."""
    t = w.t["notes"]
    rules = ctx.rules
    design = config["design"]
    models = config["models"]
    compare = config["compare"]
    attrition = config.get("attrition") or {}
    levels = list(
        dict.fromkeys(w.level(v) for s in sheets for v in (_unique(s.rows, "level") or [ctx.level]))
    )
    methods = list(
        dict.fromkeys(
            str(m)
            for s in sheets
            if "category" in s.rows.columns
            for m in (_unique(s.rows, "ci_method") or [ctx.ci])
        )
    )

    def listed(names, word=w.variable) -> str:
        return ", ".join(word(n) for n in names) or w.t["none"]

    references = ", ".join(
        f"{w.variable(v)}: {w.category(level)}"
        for v, level in (models.get("references") or {}).items()
        if v in [*models["effects"], *models["adjust"]]
    )
    effects, adjust = listed(models["effects"]), listed(models["adjust"])
    characteristics = listed(attrition.get("characteristics") or [])
    texts = {
        "suppressed": t["suppressed"].format(min_n=w.plain(rules.min_n)),
        "indicative": t["indicative"].format(
            flag_n=w.plain(rules.flag_n),
            max_ci_width=w.plain(100 * rules.max_ci_width),
            relative=w.level(rules.max_relative_width),
            min_df=w.plain(rules.min_df),
            max_rse=w.plain(rules.max_rse),
        ),
        "not_applicable": t["not_applicable"],
        "rounding": t["rounding"].format(
            percent=PERCENT,
            se=POINTS_SE,
            mean=MEAN,
            mean_se=MEAN_SE,
            ratio=RATIO,
            log_odds=LOG_ODDS,
            p=P_VALUE,
            deff=rules.deff_decimals,
            round=w.plain(rules.round_weighted_n),
        ),
        "ci": t["ci"].format(levels=", ".join(levels), methods=", ".join(methods or [ctx.ci])),
        "design": t["design"].format(
            weight=design.get("weight") or w.t["none"],
            strata=design.get("strata") or w.t["none"],
            psu=design.get("psu") or w.t["none"],
            margins=", ".join(design.get("calibration") or []) or w.t["none"],
            lonely_psu=design.get("lonely_psu", "fail"),
        ),
        "breakdowns": t["breakdowns"].format(baseline=w.baseline),
        "changes": t["changes"],
        "did": t["did"].format(baseline=w.baseline),
        "multiple_testing": " ".join(
            [
                t["multiple_testing"].format(alpha=w.plain(ctx.alpha)),
                t["families"][str(compare["multiple_testing"])].format(alpha=w.plain(ctx.alpha)),
                t["families_other"].format(effects=effects),
            ]
        ),
        "models": t["models_pooled" if ctx.pooled_models else "models"].format(
            effects=effects,
            adjust=adjust,
            references=references or w.t["none"],
            min_n=w.plain(rules.min_n),
        ),
        "attrition": t["attrition"].format(
            baseline=w.baseline, characteristics=characteristics, min_n=w.plain(rules.min_n)
        ),
        "sensitivity": t["sensitivity"].format(
            baseline=w.baseline, characteristics=characteristics
        ),
        "key_figures": t["key_figures"],
        "data": t["data_synthetic"] if config["data"]["source"] == "synthetic" else t["data_real"],
    }
    used = {key for s in sheets for key in s.notes}
    return {key: text for key, text in texts.items() if key in used}


# -- writing ------------------------------------------------------------------------


def release_date(config: Mapping) -> date | None:
    """The configured release date (report.release_date), None for a working run."""
    value = (config.get("report") or {}).get("release_date")
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(
            f"config report.release_date: {value!r} is not a date; write YYYY-MM-DD"
        ) from None


def config_hash(config: Mapping) -> str:
    """SHA-256 of a run's configuration as provenance.json records it."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class _Writer:
    def __init__(self, workbook):
        self.book = workbook
        self.title = workbook.add_format({"bold": True, "font_size": 15})
        self.heading = workbook.add_format({"bold": True, "font_size": 12})
        self.wrap = workbook.add_format({"text_wrap": True, "valign": "top"})
        self.head = workbook.add_format({"bold": True, "text_wrap": True, "valign": "top"})
        self.text = workbook.add_format({"valign": "top"})
        self.link = workbook.add_format(
            {"font_color": "#0563C1", "underline": 1, "text_wrap": True, "valign": "top"}
        )
        self.marker = workbook.add_format({"align": "right", "valign": "top"})
        self._numbers: dict = {}

    def number(self, decimals: int | str):
        if decimals not in self._numbers:
            code = (
                "#,##0"
                if decimals == COUNT
                else "0"
                if decimals == 0
                else "0." + "0" * int(decimals)
            )
            self._numbers[decimals] = self.book.add_format({"num_format": code, "valign": "top"})
        return self._numbers[decimals]


def _cell(value, column: Column, status: str) -> tuple[str, object]:
    """("number", float) or ("text", str) for one cell."""
    missing = value is None or (not isinstance(value, str) and pd.isna(value))
    if column.numeric:
        if missing:
            return "marker", MARK_SUPPRESSED if status == SUPPRESSED else MARK_NOT_APPLICABLE
        number = float(value) * column.scale
        if not math.isfinite(number):
            return "marker", MARK_NOT_APPLICABLE
        if column.decimals in (COUNT, 0):
            return "number", float(round(number))
        number = round(number, int(column.decimals))
        return "number", 0.0 if number == 0 else number
    if missing:
        if column.missing is not None:
            return "text", column.missing
        return "marker", MARK_SUPPRESSED if status == SUPPRESSED else MARK_NOT_APPLICABLE
    return "text", column.label(value) if column.label else str(value)


def _width(texts: Sequence[str], low: int = 10, high: int = 48) -> int:
    longest = max((len(t) for t in texts), default=0)
    return max(low, min(high, longest + 2))


ROW_HEIGHT = 15  # points, one line of the default 11-point font


def _fit_row(ws, row: int, cells: Sequence[tuple[str, float]], base: float = ROW_HEIGHT):
    """Set the height of a row of wrapped text from its longest cell (text, column
    width): readers that do not re-measure rows (LibreOffice) show every line too."""
    import textwrap

    lines = max(
        (len(textwrap.wrap(text, max(int(width * 1.1) - 1, 1))) or 1 for text, width in cells),
        default=1,
    )
    if lines > 1 or base != ROW_HEIGHT:
        ws.set_row(row, base * lines)


def _page(ws, header_row: int | None) -> None:
    """Printing: landscape, one page wide, the header row on every page."""
    ws.set_landscape()
    ws.set_paper(9)  # A4
    ws.fit_to_pages(1, 0)
    if header_row is not None:
        ws.repeat_rows(header_row)


def _write_table_sheet(writer: _Writer, sheet: TableSheet, index: int, lines: Sequence[str]):
    from xlsxwriter.utility import xl_range

    ws = writer.book.add_worksheet(sheet.name)
    ws.write_string(0, 0, sheet.title, writer.title)
    for row, line in enumerate(lines, start=1):
        ws.write_string(row, 0, line)
    top = len(lines) + 1
    records = sheet.rows.to_dict("records")
    shown: list[list[str]] = [[] for _ in sheet.columns]
    for r, record in enumerate(records, start=top + 1):
        status = str(record.get("status", OK))
        for c, column in enumerate(sheet.columns):
            kind, value = _cell(record.get(column.key), column, status)
            if kind == "number":
                ws.write_number(r, c, value, writer.number(column.decimals))
                digits = 0 if column.decimals in (COUNT, 0) else int(column.decimals)
                shown[c].append(f"{value:,.{digits}f}")
            else:
                ws.write_string(r, c, value, writer.marker if kind == "marker" else writer.text)
                shown[c].append(value)
    last = top + max(len(records), 1)
    if not records:
        for c in range(len(sheet.columns)):
            ws.write_string(top + 1, c, MARK_NOT_APPLICABLE, writer.marker)
    ws.add_table(
        top,
        0,
        last,
        len(sheet.columns) - 1,
        {
            "name": f"Table_{index}_{re.sub(r'[^A-Za-z0-9_]', '_', sheet.name)}",
            "style": "Table Style Light 1",
            "columns": [{"header": c.header, "header_format": writer.head} for c in sheet.columns],
        },
    )
    # Wave ids ("2019") are text on purpose: no "number stored as text" flags.
    ws.ignore_errors({"number_stored_as_text": xl_range(top + 1, 0, last, len(sheet.columns) - 1)})
    widths = []
    for c, column in enumerate(sheet.columns):
        words_in_header = max((len(part) for part in column.header.split()), default=0)
        widths.append(max(_width(shown[c]), words_in_header + 2, 12))
        ws.set_column(c, c, widths[-1])
    _fit_row(ws, top, [(c.header, w) for c, w in zip(sheet.columns, widths, strict=True)])
    ws.freeze_panes(top + 1, 0)
    _page(ws, top)


def write_workbook(
    target: str | Path,
    inputs: AnnexInputs,
    config: Mapping,
    language: str,
    template_dir: str | Path = TEMPLATE_DIR,
) -> list[TableSheet]:
    """Write the annex of one language to ``target`` (the caller makes it atomic)."""
    import xlsxwriter

    baseline = config["data"].get("baseline")
    w = _Words(language, template_dir, None if baseline is None else str(baseline))
    t = w.t
    tables = config["tables"]
    ctx = _Context(
        w=w,
        level=float(tables["level"]),
        ci=str(tables["ci"]),
        alpha=float(config["compare"]["alpha"]),
        rules=DisclosureRules.from_config(config["disclosure"]),
        means=frozenset(tables.get("means") or []),
        base=str(config["compare"]["base"]),
        pooled_models=not config["models"]["by_wave"],
    )
    sheets = table_sheets(inputs, ctx)
    fixed = [t["sheet_names"][k] for k in ("cover", "contents", "notes")]
    names = sheet_names(fixed + [s.name for s in sheets])
    cover_name, contents_name, notes_name = names[:3]
    sheets = [
        TableSheet(n, s.title, s.description, s.source, s.notes, s.columns, s.rows)
        for n, s in zip(names[3:], sheets, strict=True)
    ]
    notes = _notes(w, config, sheets, ctx)
    numbers = {key: i for i, key in enumerate(notes, start=1)}
    provenance = json.loads(Path(inputs.provenance).read_text(encoding="utf-8"))
    released = release_date(config)
    created = (
        datetime(released.year, released.month, released.day, tzinfo=UTC)
        if released
        else FIXED_DATE
    )
    waves = [str(x) for x in config["data"]["waves"]]
    subtitle = t["subtitle"].format(first=waves[0], last=waves[-1])
    source = t["source_synthetic" if config["data"]["source"] == "synthetic" else "source_real"]
    code = _provenance_line(t, provenance)

    workbook = xlsxwriter.Workbook(
        str(target),
        {
            "in_memory": True,  # zip members get a fixed date
            "strings_to_numbers": False,
            "strings_to_formulas": False,
            "strings_to_urls": False,
        },
    )
    workbook.set_properties(
        {
            "title": t["title"],
            "subject": subtitle,
            "author": "neacovid",
            "comments": code,
            "created": created,
        }
    )
    writer = _Writer(workbook)
    _write_cover(
        writer,
        cover_name,
        t,
        subtitle,
        source,
        released,
        provenance,
        code,
        contents_name,
        notes_name,
        language,
        synthetic=config["data"]["source"] == "synthetic",
    )
    _write_contents(writer, contents_name, t, sheets)
    _write_notes(writer, notes_name, t, notes)
    for index, sheet in enumerate(sheets, start=1):
        refs = ", ".join(
            t["notes"]["label"].format(number=n) for n in sorted(numbers[k] for k in sheet.notes)
        )
        lines = [
            t["one_table"] + " " + sheet.description,
            t["notes_line"].format(notes=refs, sheet=notes_name),
            t["source_line"].format(source=source, file=sheet.source),
        ]
        _write_table_sheet(writer, sheet, index, lines)
    workbook.close()
    return sheets


def _provenance_line(t: Mapping, provenance: Mapping) -> str:
    cover = t["cover"]
    git = provenance.get("git") or {}
    clean = git.get("clean")
    return cover["provenance_code"].format(
        version=(provenance.get("packages") or {}).get("neacovid") or cover["unknown"],
        commit=git.get("commit") or cover["unknown"],
        clean=cover["unknown"] if clean is None else cover["clean" if clean else "dirty"],
    )


def _write_cover(
    writer: _Writer,
    name: str,
    t: Mapping,
    subtitle: str,
    source: str,
    released: date | None,
    provenance: Mapping,
    code: str,
    contents: str,
    notes: str,
    language: str,
    synthetic: bool,
) -> None:
    cover = t["cover"]
    ws = writer.book.add_worksheet(name)
    width = 110
    ws.set_column(0, 0, width)
    _page(ws, None)
    inputs = provenance.get("inputs") or []
    totals = provenance.get("totals") or {}
    blocks = [
        (
            cover["about_heading"],
            [cover["about_synthetic"] if synthetic else cover["about_real"].format(notes=notes)],
        ),
        (cover["source_heading"], [source[:1].upper() + source[1:] + "."]),
        (cover["release_heading"], [released.isoformat() if released else cover["release_unset"]]),
        (
            cover["provenance_heading"],
            [
                code,
                cover["provenance_config"].format(hash=config_hash(provenance.get("config", {}))),
                cover["provenance_inputs"].format(
                    files=len(inputs), rows=format_number(totals.get("rows_read", 0), language, 0)
                ),
            ],
        ),
        (cover["contents_heading"], [cover["contents_text"].format(contents=contents)]),
        (cover["notes_heading"], [cover["notes_text"].format(notes=notes)]),
        (cover["report_heading"], [cover["report_text"].format(language=language)]),
        (cover["contact_heading"], [cover["contact_text"]]),
    ]
    ws.write_string(0, 0, t["title"], writer.title)
    ws.write_string(1, 0, subtitle, writer.wrap)
    _fit_row(ws, 1, [(subtitle, width)])
    links = {cover["contents_heading"]: contents, cover["notes_heading"]: notes}
    row = 2
    for heading, lines in blocks:
        ws.write_string(row, 0, heading, writer.heading)
        row += 1
        for line in lines:
            if heading in links:
                ws.write_url(row, 0, f"internal:'{links[heading]}'!A1", writer.link, string=line)
            else:
                ws.write_string(row, 0, line, writer.wrap)
            _fit_row(ws, row, [(line, width)])
            row += 1


def _write_contents(writer: _Writer, name: str, t: Mapping, sheets: Sequence[TableSheet]):
    words_ = t["contents"]
    ws = writer.book.add_worksheet(name)
    ws.write_string(0, 0, words_["title"], writer.title)
    ws.write_string(1, 0, t["one_table"])
    top = 2
    for r, sheet in enumerate(sheets, start=top + 1):
        ws.write_url(r, 0, f"internal:'{sheet.name}'!A1", writer.link, string=sheet.name)
        ws.write_string(r, 1, sheet.title, writer.wrap)
        ws.write_string(r, 2, sheet.description, writer.wrap)
        ws.write_string(r, 3, sheet.source, writer.text)
        _fit_row(ws, r, [(sheet.title, 50), (sheet.description, 80)])
    headers = [words_[k] for k in ("sheet", "table_title", "description", "file")]
    ws.add_table(
        top,
        0,
        top + len(sheets),
        3,
        {
            "name": "Table_contents",
            "style": "Table Style Light 1",
            "columns": [{"header": h, "header_format": writer.head} for h in headers],
        },
    )
    ws.set_column(0, 0, _width([s.name for s in sheets] + [headers[0]]))
    ws.set_column(1, 1, 50)
    ws.set_column(2, 2, 80)
    ws.set_column(3, 3, _width([s.source for s in sheets] + [headers[3]]))
    ws.freeze_panes(top + 1, 0)
    _page(ws, top)


def _write_notes(writer: _Writer, name: str, t: Mapping, notes: Mapping[str, str]):
    words_ = t["notes"]
    ws = writer.book.add_worksheet(name)
    ws.write_string(0, 0, words_["title"], writer.title)
    ws.write_string(1, 0, t["one_table"])
    top = 2
    for r, (number, text) in enumerate(enumerate(notes.values(), start=1), start=top + 1):
        ws.write_string(r, 0, words_["label"].format(number=number), writer.text)
        ws.write_string(r, 1, " ".join(text.split()), writer.wrap)
        _fit_row(ws, r, [(" ".join(text.split()), 110)])
    ws.add_table(
        top,
        0,
        top + len(notes),
        1,
        {
            "name": "Table_notes",
            "style": "Table Style Light 1",
            "columns": [
                {"header": words_["number"], "header_format": writer.head},
                {"header": words_["text"], "header_format": writer.head},
            ],
        },
    )
    ws.set_column(0, 0, 16)
    ws.set_column(1, 1, 110)
    ws.freeze_panes(top + 1, 0)
    _page(ws, top)


__all__ = [
    "MARK_INDICATIVE",
    "MARK_NOT_APPLICABLE",
    "MARK_SUPPRESSED",
    "AnnexInputs",
    "config_hash",
    "release_date",
    "sheet_names",
    "table_sheets",
    "workbook_name",
    "workbook_names",
    "write_workbook",
]
