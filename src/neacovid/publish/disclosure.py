"""Statistical disclosure control of every output (CBS output checking).

Every table the pipeline (and the CLI) writes passes `apply_rules`: it keeps
all rows and adds ``status`` (``ok``, ``indicative``, ``suppressed``, or
``empty`` for a domain without respondents, e.g. a question not asked in that
wave: nothing to protect, nothing to show) and ``reason``.

People, not rows:

- **suppressed** (primary): fewer than ``min_n`` respondents behind the cell,
  or, for a share, fewer than ``min_n`` respondents *with* the answer or
  fewer than ``min_n`` *without* it (both unweighted). 12 respondents who all
  report complaints, or 2 out of 40, are not published: the share would tell
  about every (or a few) identifiable persons. A comparison (change,
  contrast) counts both its sides. Its numbers, counts included, are blanked.
- **suppressed** (secondary): a suppressed cell must not follow from the
  others. The categories of a domain add up to 100%, and the groups of a
  breakdown (locations, age groups) add up to the total shown in another
  table; where exactly one cell of such a set is suppressed, the smallest
  other goes too, repeated until no set has a lone hidden cell.
- **indicative** (shown, marked): the project's reliability rule follows the
  NCHS presentation standards for proportions (Parker et al. 2017), applied
  to a share and its complement alike: effective n = n / max(deff, 1) below
  ``flag_n`` (the NEA publication rule of 200 respondents, on effective n
  because the weights' design effect is 1.3-1.6 in later waves); a
  Korn-Graubard interval wider than ``max_ci_width``; or, where it is at
  least 0.05 wide, wider than ``max_relative_width`` times min(p, 1 - p);
  fewer than ``min_df`` degrees of freedom. A mean is indicative with
  effective n below ``flag_n``, a relative standard error above ``max_rse``
  or fewer than ``min_df`` df; a comparison or a model term with fewer than
  ``flag_n`` respondents on a side.

Nothing published states an exact count below ``min_n`` (reasons say "fewer
than 10"), and no column undoes another's rounding: weighted counts are
rounded to ``round_weighted_n`` and ``deff`` to ``deff_decimals`` decimals
(an unrounded deff with the SE, the share and n gives the exact population
count back).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from neacovid.errors import ConfigError
from neacovid.survey.ci import proportion_ci

OK, INDICATIVE, SUPPRESSED, EMPTY = "ok", "indicative", "suppressed", "empty"
# status of an output written with the rules switched off (CLI --no-disclosure)
UNCHECKED = "unchecked"
NUMBERS = ["estimate", "se", "ci_low", "ci_high", "n", "weighted_n", "deff", "df"]


@dataclass(frozen=True)
class DisclosureRules:
    """config.yaml ``disclosure:`` (the defaults are the project's rules)."""

    min_n: int = 10
    flag_n: int = 200
    max_rse: float = 0.3
    max_ci_width: float = 0.30
    max_relative_width: float = 1.30
    min_df: int = 8
    round_weighted_n: int = 1000
    deff_decimals: int = 2

    @classmethod
    def from_config(cls, spec: Mapping | None) -> DisclosureRules:
        spec = dict(spec or {})
        known = {f.name: f.type for f in fields(cls)}
        unknown = set(spec) - set(known)
        if unknown:
            raise ConfigError(
                f"disclosure: unknown key {sorted(unknown)[0]!r}; known keys are {', '.join(known)}"
            )
        for key, value in spec.items():
            whole = known[key] == "int"
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or (whole and not float(value).is_integer())
                or not math.isfinite(value)
                or value < 0
            ):
                kind = "a whole number" if whole else "a finite number"
                raise ConfigError(f"disclosure.{key}: expected {kind} >= 0, got {value!r}")
        rules = cls(**spec)
        if not 0 < rules.min_n <= rules.flag_n:
            raise ConfigError("disclosure: need 0 < min_n <= flag_n")
        if rules.round_weighted_n < 1 or rules.deff_decimals > 6:
            raise ConfigError(
                "disclosure: round_weighted_n must be at least 1 and deff_decimals at most 6"
            )
        return rules

    @property
    def below_min(self) -> str:
        return f"fewer than {self.min_n} respondents"


def apply_rules(
    table: pd.DataFrame,
    rules: DisclosureRules,
    domain: Sequence[str],
    partition: str | Sequence[str] | None = None,
    n_columns: Sequence[str] = ("n",),
    with_columns: Sequence[str | None] | None = None,
    rse: bool = True,
    keep: Sequence[str] = (),
    scale: float = 1.0,
) -> pd.DataFrame:
    """Return ``table`` with ``status`` and ``reason``, numbers blanked where suppressed.

    domain: the columns that identify a domain (e.g. ["wave", "location"]).
    partition: the column(s) of ``domain`` whose groups add up to a total that
        is published too (secondary suppression within each group of the
        others). A ``category`` column is always a partition of its domain.
    n_columns: respondents behind a cell (a comparison names both sides).
    with_columns: per n column, the respondents with the category or outcome
        (their complement, n minus it, must reach ``min_n`` too); None
        entries, or NaN values, for numbers that are not shares. Default: the
        table's ``n_category`` if it has one.
    rse: the reliability rules of estimates (not for differences, whose RSE
        is large whenever they are near zero, nor for model terms).
    keep: numeric columns that are not estimates (e.g. the published figure).
    scale: what a share of 1 is in ``estimate`` and ``se`` (100: percent).
    """
    out = table.copy()
    n_columns = list(n_columns)
    if with_columns is None:
        with_columns = ["n_category" if "n_category" in out.columns else None] + [None] * (
            len(n_columns) - 1
        )
    counts = out[n_columns].astype(float).fillna(0)
    status = np.full(len(out), OK, dtype=object)
    reason = np.full(len(out), "", dtype=object)

    # A comparison with one empty side has no estimate: only a row without any
    # respondent is empty, and one with an empty side is not shown either.
    empty = ~(counts.max(axis=1).to_numpy() > 0)
    one_sided = ~empty & (counts.min(axis=1).to_numpy() == 0)
    status[empty | one_sided] = EMPTY
    reason[empty] = "no respondents"
    reason[one_sided] = "no respondents on one side"

    live = status == OK
    few = live & (counts.min(axis=1).to_numpy() < rules.min_n)
    without = np.zeros(len(out), dtype=bool)
    with_few = np.zeros(len(out), dtype=bool)
    for n_col, with_col in zip(n_columns, with_columns, strict=True):
        if with_col is None or with_col not in out.columns:
            continue
        positive = out[with_col].astype(float).to_numpy()
        known = ~np.isnan(positive)
        n = out[n_col].astype(float).fillna(0).to_numpy()
        with_few |= known & (positive < rules.min_n)
        without |= known & (n - positive < rules.min_n)
    status[few | (live & (with_few | without))] = SUPPRESSED
    reason[live & without] = f"{rules.below_min} without the answer"
    reason[live & with_few] = f"{rules.below_min} with the answer"
    reason[few] = rules.below_min

    primary = status == SUPPRESSED
    parts = [partition] if isinstance(partition, str) else list(partition or [])
    secondary = _complements(out, status, domain, parts, _cell_sizes(out, n_columns, with_columns))
    status[secondary] = SUPPRESSED
    reason[secondary & ~primary] = "complement of a suppressed cell (derivable from the total)"

    if rse:
        flags = _reliability(out, rules, status == OK, scale)
    else:
        small = counts.min(axis=1).to_numpy() < rules.flag_n
        flags = np.where((status == OK) & small, f"fewer than {rules.flag_n} respondents", "")
    flagged = flags != ""
    status[flagged] = INDICATIVE
    reason[flagged] = flags[flagged]

    # Everything numeric is a number to hide, except the keys of a cell and the level;
    # a verdict (a bool such as `significant`) is hidden too.
    hidden = (status == SUPPRESSED) | (status == EMPTY)
    verdicts = [c for c in out.columns if pd.api.types.is_bool_dtype(out[c]) and c not in keep]
    numbers = [
        c
        for c in out.columns
        if c not in domain
        and c not in keep
        and c not in ("level", "category", *verdicts)
        and pd.api.types.is_numeric_dtype(out[c])
    ]
    out[numbers] = out[numbers].astype(float)
    out.loc[hidden, numbers] = np.nan
    for column in verdicts:
        out[column] = out[column].astype(object).where(~hidden, None)
    publish_rounded(out, rules)
    for c in [*n_columns, *(w for w in with_columns if w and w in out.columns)]:
        out[c] = out[c].round().astype("Int64")
    out["status"] = status
    out["reason"] = reason
    return out


def publish_rounded(out: pd.DataFrame, rules: DisclosureRules) -> None:
    """Round, in place, the columns that would otherwise give exact counts back."""
    if "weighted_n" in out.columns and rules.round_weighted_n > 1:
        step = rules.round_weighted_n
        out["weighted_n"] = (out["weighted_n"].astype(float) / step).round() * step
    if "deff" in out.columns:
        out["deff"] = out["deff"].astype(float).round(rules.deff_decimals)


def _cell_sizes(out: pd.DataFrame, n_columns, with_columns) -> tuple[np.ndarray, np.ndarray]:
    """What a secondary suppression costs: (respondents of the cell's domain, respondents
    in the cell's category). Within a domain the smallest category goes; across groups
    the smallest group, by its domain's size, so that every category of a set picks
    the same group and the suppression does not spread."""
    domain = out[n_columns].astype(float).fillna(0).min(axis=1).to_numpy()
    category = domain.copy()
    for with_col in with_columns:
        if with_col and with_col in out.columns:
            positive = out[with_col].astype(float).to_numpy()
            category = np.where(np.isnan(positive), category, np.minimum(category, positive))
    return domain, category


def _complements(
    table: pd.DataFrame,
    status: np.ndarray,
    domain: Sequence[str],
    partitions: list[str],
    sizes: tuple[np.ndarray, np.ndarray],
) -> np.ndarray:
    """Cells to hide so that no set adding up to a published total has one hidden cell.

    The sets: the categories of a domain (they add up to 100%), and for each
    partition column the groups within the other domain columns (and category).
    """
    hidden = status == SUPPRESSED
    live = status != EMPTY
    domain_size, category_size = sizes
    sets = []  # (columns that identify a set, the size to choose the smallest by)
    if "category" in table.columns:
        sets.append((list(domain), category_size))
    for column in partitions:
        others = [c for c in domain if c != column]
        if "category" in table.columns:
            others.append("category")
        sets.append((others, domain_size))
    if not sets or not hidden.any():
        return hidden
    groups = []
    for columns, size in sets:
        labels = (
            table[columns].astype(str).agg("\x1f".join, axis=1)
            if columns
            else pd.Series("", index=table.index)
        )
        groups.append((pd.factorize(labels)[0], size))
    changed = True
    while changed:
        changed = False
        for code, size in groups:
            for g in np.unique(code[hidden & live]):
                members = (code == g) & live
                if (members & hidden).sum() == 1 and (members & ~hidden).any():
                    candidates = np.flatnonzero(members & ~hidden)
                    smallest = candidates[np.argmin(size[candidates])]  # first of the smallest
                    hidden[smallest] = True
                    changed = True
    return hidden


def _reliability(
    table: pd.DataFrame, rules: DisclosureRules, live: np.ndarray, scale: float = 1.0
) -> np.ndarray:
    """Per row, why an estimate is indicative ("" if it is not)."""
    flags = np.full(len(table), "", dtype=object)
    estimate = table["estimate"].to_numpy(dtype=float) / scale
    se = table["se"].to_numpy(dtype=float) / scale
    n = table["n"].to_numpy(dtype=float)
    df = table["df"].to_numpy(dtype=float) if "df" in table else np.full(len(table), np.inf)
    deff = table["deff"].to_numpy(dtype=float) if "deff" in table else np.ones(len(table))
    with np.errstate(invalid="ignore", divide="ignore"):
        effective = n / np.fmax(np.nan_to_num(deff, nan=1.0), 1.0)

    def flag(mask, text):
        new = live & mask & (flags == "")
        flags[new] = text

    flag(effective < rules.flag_n, f"effective n below {rules.flag_n}")
    flag(df < rules.min_df, f"fewer than {rules.min_df} degrees of freedom")
    if "category" in table.columns:  # shares: NCHS, symmetric in p and 1 - p
        level = (
            table["level"].to_numpy(dtype=float) if "level" in table else np.full(len(table), 0.95)
        )
        width = np.full(len(table), np.nan)
        for value in np.unique(level[live]):
            rows = live & (level == value)
            low, high = proportion_ci(
                estimate[rows], se[rows] ** 2, df[rows], n[rows], method="beta", level=float(value)
            )
            width[rows] = high - low
        smaller = np.minimum(estimate, 1 - estimate)
        with np.errstate(invalid="ignore", divide="ignore"):
            relative = width / smaller
        flag(
            width > rules.max_ci_width, f"Korn-Graubard interval wider than {rules.max_ci_width:g}"
        )
        flag(
            (width >= 0.05) & (relative > rules.max_relative_width),
            f"Korn-Graubard interval wider than {rules.max_relative_width:.0%} of min(p, 1-p)",
        )
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = se / np.abs(estimate)
        flag(ratio > rules.max_rse, f"relative standard error above {rules.max_rse:g}")
    return flags


def unchecked(table: pd.DataFrame) -> pd.DataFrame:
    """A table written with the rules switched off, and saying so in every row."""
    out = table.copy()
    out["status"] = UNCHECKED
    out["reason"] = "disclosure rules off (--no-disclosure): not for release"
    return out


def output_check(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Every suppressed or indicative cell of the given tables, with its reason."""
    rows = []
    for name, table in tables.items():
        if "status" not in table.columns:
            continue
        flagged = table[table["status"].isin([SUPPRESSED, INDICATIVE])]
        key_columns = [
            c
            for c in flagged.columns
            if c not in {*NUMBERS, "status", "reason", "ci_method"}
            and not pd.api.types.is_numeric_dtype(table[c])
        ]
        for _, row in flagged.iterrows():
            cell = "; ".join(f"{c}={row[c]}" for c in key_columns if pd.notna(row[c]))
            rows.append(
                {"table": name, "cell": cell, "status": row["status"], "reason": row["reason"]}
            )
    return pd.DataFrame(rows, columns=["table", "cell", "status", "reason"])


# -- one decision for every table -------------------------------------------------------

# Populations and contrast sides that are unions of a breakdown's groups.
UNIONS = {
    ("home_any", "1"): ("location", ("hybrid", "home")),
    ("home_any", "0"): ("location", ("on_site",)),
}
# A cell of the estimate tables: (indicator, wave, breakdown, group, category);
# breakdown "wave" has group "all".
Cell = tuple[str, str, str, str, str]


def read_cell_status(paths: Sequence[str]) -> dict[Cell, str]:
    from pathlib import Path

    text = {c: str for c in ("wave", "location", "age_group", "category")}
    return cell_status({Path(p).stem: pd.read_csv(p, dtype=text) for p in paths})


def cell_status(tables: Mapping[str, pd.DataFrame]) -> dict[Cell, str]:
    """Status of every cell of the ``<indicator>_by_<breakdown>`` tables."""
    cells = {}
    for name, table in tables.items():
        if "_by_" not in name or "status" not in table.columns:
            continue
        indicator, breakdown = name.split("_by_", 1)
        for row in table.itertuples(index=False):
            group = "all" if breakdown == "wave" else str(getattr(row, breakdown))
            category = _category_text(getattr(row, "category", ""))
            cells[(indicator, str(row.wave), breakdown, group, category)] = row.status
    return cells


def _category_text(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    text = str(value)
    return text[:-2] if text.endswith(".0") else text


def _side_cells(indicator: str, wave: str, column: str, values, category: str) -> list[Cell]:
    cells = []
    for value in values:
        breakdown, groups = UNIONS.get((column, str(value)), (column, (str(value),)))
        cells += [(indicator, wave, breakdown, g, category) for g in groups]
    return cells


def align_with_estimates(
    table: pd.DataFrame, cells: Mapping[Cell, str], wanted, keep: Sequence[str] = ()
) -> pd.DataFrame:
    """Hide (and mark indicative) what the estimate tables hide (and mark).

    ``wanted(row)`` lists the estimate-table cells a row of ``table`` shows
    or is made of; a row showing a suppressed cell is suppressed, one showing
    an indicative cell indicative. Cells the estimate tables do not have are
    left to the row's own rules.
    """
    out = table.copy()
    counts = [c for c in out.columns if str(out[c].dtype) == "Int64"]
    hide = np.zeros(len(out), dtype=bool)
    mark = np.zeros(len(out), dtype=bool)
    for i, row in enumerate(out.itertuples(index=False)):
        statuses = {cells.get(c) for c in wanted(row)}
        hide[i] = SUPPRESSED in statuses
        mark[i] = INDICATIVE in statuses
    live = out["status"].isin([OK, INDICATIVE]).to_numpy()
    hide &= live
    mark &= (out["status"] == OK).to_numpy() & ~hide
    if hide.any():
        verdicts = [c for c in out.columns if c in ("significant", "within_ci")]
        numbers = [
            c
            for c in out.columns
            if c not in keep
            and c != "level"
            and c not in verdicts
            and pd.api.types.is_numeric_dtype(out[c])
        ]
        out[numbers] = out[numbers].astype(float)
        out.loc[hide, numbers] = np.nan
        for column in verdicts:
            out[column] = out[column].astype(object)
            out.loc[hide, column] = None
        out.loc[hide, "status"] = SUPPRESSED
        out.loc[hide, "reason"] = "shows a cell suppressed in the estimate tables"
    out.loc[mark, "status"] = INDICATIVE
    out.loc[mark, "reason"] = "shows a cell that is indicative in the estimate tables"
    for column in counts:
        out[column] = out[column].round().astype("Int64")
    return out


def align_changes(table: pd.DataFrame, cells: Mapping[Cell, str]) -> pd.DataFrame:
    """A change shows its wave's and its base's cell (the share of 1, or the mean)."""

    def wanted(r):
        breakdown = "wave" if r.breakdown == "all" else r.breakdown
        # the share of 1 of a 0/1 indicator (category "1"), or a mean (no category)
        return [
            (r.indicator, str(w), breakdown, str(r.group), category)
            for w in (r.wave, r.base)
            for category in ("1", "")
        ]

    return align_with_estimates(table, cells, wanted)


def align_contrasts(table: pd.DataFrame, cells: Mapping[Cell, str]) -> pd.DataFrame:
    """A contrast side that is (or contains) a cell of the estimate tables follows it."""

    def wanted(r):
        if pd.notna(getattr(r, "location", None)):
            return []  # sides within a location are domains of their own (n_a, n_b)
        out = []
        for side in (r.a, r.b):
            values = [v.strip() for v in str(side).split(",")]
            for category in ("1", ""):
                out += _side_cells(r.indicator, str(r.wave), r.group, values, category)
        return out

    return align_with_estimates(table, cells, wanted)


def align_key_figures(
    table: pd.DataFrame, cells: Mapping[Cell, str], populations: Mapping
) -> pd.DataFrame:
    """A key figure whose population is (or contains) a cell of the estimate tables."""

    def wanted(r):
        category = _category_text(r.category)
        spec = populations.get(r.population)
        if spec is None:
            return [(r.indicator, str(r.wave), "wave", "all", category)]
        return _side_cells(r.indicator, str(r.wave), spec["column"], [spec["value"]], category)

    out = align_with_estimates(table, cells, wanted, keep=("published",))
    hidden = (out["status"] == SUPPRESSED).to_numpy()
    if hidden.any() and "within_ci" in out.columns:
        out["within_ci"] = out["within_ci"].astype(object)
        out.loc[hidden, "within_ci"] = None
    return out


def protect_key_figures(
    table: pd.DataFrame, rules: DisclosureRules, cells: Mapping[Cell, str], populations: Mapping
) -> pd.DataFrame:
    """Key figures (`neacovid.publish.keyfigures`, estimates in percent): the rules, and
    every cell hidden or indicative in the estimate tables (``cells``,
    `read_cell_status`) likewise here."""
    out = apply_rules(
        table,
        rules,
        ["wave", "population", "indicator"],
        keep=["published", "within_ci"],
        scale=100,
    )
    out["within_ci"] = out["within_ci"].where(out["status"] != SUPPRESSED)
    return align_key_figures(out, cells, populations)


# -- the command line: the same rules on an analyst's own breakdowns -------------------


def protect_estimates(
    table: pd.DataFrame, by: Sequence[str], rules: DisclosureRules, partition: bool = True
):
    """`shares`/`means` output: every ``by`` column is taken as a breakdown whose groups
    add up to a total the analyst may publish too (not so for ratios:
    ``partition=False``)."""
    return apply_rules(table, rules, list(by), partition=list(by) if partition else None)


def protect_quantiles(table: pd.DataFrame, by: Sequence[str], rules: DisclosureRules):
    """`quantiles` output: a quantile is one respondent's value, so it needs ``min_n``
    respondents at or below it and ``min_n`` above it, as a share needs them with
    and without the answer."""
    return apply_rules(table, rules, [*by, "quantile"], with_columns=["n_below"])


def protect_transitions(table: pd.DataFrame, rules: DisclosureRules) -> pd.DataFrame:
    """`neacovid.survey.panel.transitions` output: a cell needs ``min_n`` persons in it
    and ``min_n`` in the rest of its row. The cells of an origin row add up to 100%,
    and the rows' persons to the linked total: both are sets."""
    return apply_rules(
        table,
        rules,
        ["variable", "from_wave", "to_wave", "from_category", "to_category"],
        partition=["to_category", "from_category"],
        with_columns=["n_cell"],
    )


def protect_counts(
    table: pd.DataFrame, domain: Sequence[str], partition: str | None, rules: DisclosureRules
) -> pd.DataFrame:
    """A table of respondent counts (column ``n``): fewer than ``min_n`` is suppressed,
    and so is the count that would give it away from the others."""
    return apply_rules(table, rules, list(domain), partition=partition, rse=False)


def protect_changes(table: pd.DataFrame, by: Sequence[str], over: str, rules: DisclosureRules):
    return apply_rules(
        table,
        rules,
        [*by, over, "base"],
        n_columns=["n", "base_n"],
        with_columns=["n_with", "base_n_with"],
        rse=False,
    )


def protect_model(
    fit, data: pd.DataFrame, rules: DisclosureRules, binary: bool = True
) -> pd.DataFrame:
    """A model's terms (a `neacovid.survey.models.ModelFit`): a factor level needs
    ``min_n`` respondents in the fit, and for a 0/1 outcome ``min_n`` with and
    ``min_n`` without it. The intercept is the reference levels' odds: its counts
    are those of the least safe reference level; other terms count the whole fit.
    Adds ``n`` (and ``n_with``) per term."""
    import re

    fitted = data.iloc[fit.rows]
    outcome = (
        fitted[fit.outcome] if fit.outcome in fitted else fitted.eval(fit.outcome, engine="python")
    )
    positive = np.asarray(outcome, dtype=float) == 1
    factor = re.compile(r"^C\((?P<var>[A-Za-z_][A-Za-z0-9_]*).*\)\[T\.(?P<level>.*)\]$")
    levels: dict[str, set] = {}
    for term in fit.table["term"]:
        match = factor.match(term)
        if match and match["var"] in fitted.columns:
            levels.setdefault(match["var"], set()).add(match["level"])
    # Per factor, the respondents and the cases at each level (as formula levels read:
    # text), counted once: a bincount, not a comparison per level.
    tallies: dict[str, dict[str, tuple[int, int]]] = {}
    for var in levels:
        codes, uniques = pd.factorize(fitted[var])
        known = codes >= 0
        sizes = np.bincount(codes[known], minlength=len(uniques))
        cases = np.bincount(codes[known], positive[known], minlength=len(uniques))
        tallies[var] = {
            str(u): (int(a), int(b)) for u, a, b in zip(uniques, sizes, cases, strict=True)
        }
    everyone = (len(fitted), int(positive.sum()))

    def reference_counts() -> tuple[int, int]:
        found = []
        for var, shown in levels.items():
            for level in sorted(set(tallies[var]) - shown):
                n, k = tallies[var][level]
                found.append((min(k, n - k) if binary else n, n, k))
        return min(found)[1:] if found else everyone

    n, n_with = [], []
    for term in fit.table["term"]:
        match = factor.match(term)
        if match and match["var"] in fitted.columns:
            term_n, term_k = tallies[match["var"]].get(match["level"], (0, 0))
        elif term == "Intercept":
            term_n, term_k = reference_counts()
        else:
            term_n, term_k = everyone
        n.append(term_n)
        n_with.append(term_k)
    if not binary:
        return apply_rules(fit.table.assign(n=n), rules, ["term"], rse=False)
    out = fit.table.assign(n=n, n_with=n_with)
    return apply_rules(out, rules, ["term"], with_columns=["n_with"], rse=False)
