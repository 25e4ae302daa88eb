"""The pipeline's weighted tables: every indicator by wave and breakdown.

One bound design serves every table (R: one svydesign, many svyby calls).
Which indicators are shares and which are means, and the breakdowns, come
from config.yaml's ``tables:`` section.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from neacovid.errors import ConfigError
from neacovid.survey.design import BoundDesign, Design, as_bound
from neacovid.survey.estimate import category_label, means, shares

# Indicators defined from another column: tabulating or testing one by the
# other would only show 0% and 100%.
DERIVED_FROM = {"home_any": "location"}


@dataclass(frozen=True)
class TableSpec:
    """One output table: ``<indicator>_by_<breakdown>``."""

    indicator: str
    breakdown: str | None  # None: by wave only
    kind: str  # "share" or "mean"

    @property
    def name(self) -> str:
        return f"{self.indicator}_by_{self.breakdown or 'wave'}"

    @property
    def by(self) -> list[str]:
        return ["wave"] if self.breakdown is None else ["wave", self.breakdown]


def table_specs(
    share_indicators: Sequence[str],
    mean_indicators: Sequence[str],
    breakdowns: Sequence[str],
    derived_from: Mapping[str, str] | None = None,
) -> list[TableSpec]:
    """Every indicator by wave, and by wave x each breakdown.

    An indicator derived from a breakdown (home_any from location) is not
    tabulated by it: that table would hold only 0% and 100%.
    """
    derived_from = dict(derived_from or {})
    overlap = set(share_indicators) & set(mean_indicators)
    if overlap:
        raise ConfigError(
            f"tables: {sorted(overlap)[0]!r} is listed both as a share and as a mean; "
            "keep it in one list"
        )
    specs = []
    for kind, names in (("share", share_indicators), ("mean", mean_indicators)):
        for indicator in names:
            specs.append(TableSpec(indicator, None, kind))
            for breakdown in breakdowns:
                if breakdown == indicator or derived_from.get(indicator) == breakdown:
                    continue
                specs.append(TableSpec(indicator, breakdown, kind))
    return specs


def estimate_table(
    analysis: pd.DataFrame,
    design: Design | BoundDesign,
    spec: TableSpec,
    ci: str = "logit",
    level: float = 0.95,
) -> pd.DataFrame:
    if spec.kind == "mean":
        table = means(analysis, design, spec.indicator, by=spec.by, level=level)
    else:
        table = shares(analysis, design, spec.indicator, by=spec.by, ci=ci, level=level)
        table["category"] = table["category"].map(category_label)
    table.insert(0, "indicator", spec.indicator)
    return table


def estimate_tables(
    analysis: pd.DataFrame,
    design: Design,
    specs: Sequence[TableSpec],
    ci: str = "logit",
    level: float = 0.95,
) -> dict[str, pd.DataFrame]:
    bound = design.bind(analysis)
    return {spec.name: estimate_table(analysis, bound, spec, ci, level) for spec in specs}


# -- comparisons (panel design: respondents are PSUs shared across waves) ------


def change_table(
    analysis: pd.DataFrame,
    design: Design | BoundDesign,
    indicators: Sequence[str],
    breakdowns: Sequence[str],
    base: str | None,
    level: float = 0.95,
) -> pd.DataFrame:
    """Every indicator's change between waves: overall and per breakdown group.

    ``base`` a wave: every wave against it; None: each wave against the
    previous one. One long table (``breakdown``/``group`` say which rows are
    overall, by location, by age group), Holm-adjusted over the whole table.
    """
    from neacovid.survey.compare import changes
    from neacovid.survey.multitest import holm

    bound = as_bound(design, analysis)
    parts = []
    for indicator in indicators:
        for breakdown in [None, *breakdowns]:
            if breakdown is not None and breakdown in (indicator, DERIVED_FROM.get(indicator)):
                continue
            table = changes(analysis, bound, indicator, over="wave", base=base,
                            by=breakdown, level=level)
            group = table.pop(breakdown) if breakdown else pd.Series("all", index=table.index)
            table.insert(0, "group", group.astype(str))
            table.insert(0, "breakdown", breakdown or "all")
            table.insert(0, "indicator", indicator)
            parts.append(table)
    out = pd.concat(parts, ignore_index=True)
    out["p_holm"] = holm(out["p_value"].to_numpy())
    return out


def contrast_table(
    analysis: pd.DataFrame,
    design: Design | BoundDesign,
    indicators: Sequence[str],
    contrasts: Sequence[Mapping],
    level: float = 0.95,
) -> pd.DataFrame:
    """Group contrasts (e.g. home workers vs on-site) per indicator, Holm over the table."""
    from neacovid.survey.compare import contrast
    from neacovid.survey.multitest import holm

    bound = as_bound(design, analysis)
    parts = []
    for spec in contrasts:
        for indicator in indicators:
            # home_any by location is 0 or 1 by definition: not a test.
            if indicator == spec["group"] or DERIVED_FROM.get(indicator) == spec["group"]:
                continue
            table = contrast(analysis, bound, indicator, spec["group"], spec["a"], spec["b"],
                             by=list(spec["by"]), level=level)
            table.insert(0, "group", spec["group"])
            table.insert(0, "contrast", spec["name"])
            table.insert(0, "indicator", indicator)
            parts.append(table)
    out = pd.concat(parts, ignore_index=True)
    out["p_holm"] = holm(out["p_value"].to_numpy())
    by = list(dict.fromkeys(c for spec in contrasts for c in spec["by"]))
    head = ["indicator", "contrast", "group", *by]
    return out[head + [c for c in out.columns if c not in head]]


def chisq_table(
    analysis: pd.DataFrame,
    design: Design | BoundDesign,
    row: str,
    col: str,
    by: str,
) -> pd.DataFrame:
    """Rao-Scott F test of independence of ``row`` and ``col`` within each ``by`` level."""
    from neacovid.survey.compare import chisq
    from neacovid.survey.multitest import holm

    bound = as_bound(design, analysis)
    rows = []
    for level in sorted(analysis[by].dropna().unique()):
        inside = analysis[by] == level
        # The test's domain: respondents of this level; the others keep the design.
        masked = analysis.assign(**{row: analysis[row].where(inside)})
        test = chisq(masked, bound, row, col)
        rows.append({by: level, "row": row, "col": col, "statistic": test.statistic,
                     "ndf": test.ndf, "ddf": test.ddf, "p_value": test.p_value,
                     "n": int((inside & analysis[row].notna() & analysis[col].notna()).sum())})
    out = pd.DataFrame(rows)
    out["p_holm"] = holm(out["p_value"].to_numpy())
    return out


# -- adjusted models -------------------------------------------------------------

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
FACTOR_TERM = re.compile(r"^C\((?P<var>[A-Za-z_][A-Za-z0-9_]*).*\)\[T\.(?P<level>.*)\]$")


def model_table(
    analysis: pd.DataFrame,
    design: Design | BoundDesign,
    outcome: str,
    covariates: Sequence[str],
    level: float = 0.95,
    references: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Logistic regression of ``outcome`` on factor ``covariates`` (odds ratios).

    Every covariate enters as a factor; its reference level is the one in
    ``references``, else the first sorted level. ``n`` and ``n_with`` per
    term: respondents in the fit with that level, and those of them with the
    outcome (for the disclosure rules); the intercept's are those of the least
    safe reference level.
    """
    from neacovid.survey.models import logit

    references = dict(references or {})
    for column in [outcome, *covariates]:
        # Names only: a config value is never code in a formula.
        if not NAME.fullmatch(str(column)) or column not in analysis.columns:
            raise ConfigError(
                f"models: {column!r} is not a column of the analysis data (names are letters, "
                "digits and underscores); list column names in models.covariates/indicators"
            )

    def factor(column: str) -> str:
        if column in references:
            return f"C({column}, Treatment({str(references[column])!r}))"
        return f"C({column})"

    formula = f"{outcome} ~ " + " + ".join(factor(c) for c in covariates)
    table = logit(analysis, design, formula, level=level)
    fitted = analysis.loc[analysis[[outcome, *covariates]].notna().all(axis=1)]
    positive = fitted[outcome].astype(float) == 1
    # Respondents in the fit per factor level, and those of them with the outcome:
    # the disclosure rules need both for every level a term shows.
    n_level = {c: fitted[c].astype(str).value_counts() for c in covariates}
    n_with = {c: fitted.loc[positive, c].astype(str).value_counts() for c in covariates}

    def term_counts(term: str) -> tuple[int, int]:
        match = FACTOR_TERM.match(term)
        if match is not None:
            var, value = match["var"], match["level"]
            return int(n_level[var].get(value, 0)), int(n_with[var].get(value, 0))
        # The intercept is the reference levels' odds: its counts are those of the
        # reference level that is least safe.
        levels = []
        for c in covariates:
            ref = str(references.get(c, sorted(n_level[c].index)[0]))
            n, k = int(n_level[c].get(ref, 0)), int(n_with[c].get(ref, 0))
            levels.append((min(k, n - k), n, k))
        return min(levels)[1:] if levels else (len(fitted), int(positive.sum()))

    table.insert(0, "indicator", outcome)
    counts = [term_counts(t) for t in table["term"]]
    table["n"] = [n for n, _ in counts]
    table["n_with"] = [k for _, k in counts]
    return table
