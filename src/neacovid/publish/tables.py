"""The pipeline's weighted tables: every indicator by wave and breakdown.

One bound design serves every table (R: one svydesign, many svyby calls).
Which indicators are shares and which are means, and the breakdowns, come
from config.yaml's ``tables:`` section.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
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


MULTIPLE_TESTING = ("holm_per_indicator", "holm_table", "bh")


def verdict(values: pd.Series) -> np.ndarray:
    """A yes/no column as read back from CSV (True/False, "True", 1.0; missing: no)."""
    return values.map(lambda v: str(v).strip().lower() in ("true", "1", "1.0")).to_numpy()


def change_table(
    analysis: pd.DataFrame,
    design: Design | BoundDesign,
    indicators: Sequence[str],
    breakdowns: Sequence[str],
    base: str | None,
    level: float = 0.95,
    method: str = "holm_per_indicator",
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Every indicator's change between waves: overall and per breakdown group.

    ``base`` a wave: every wave against it; None: each wave against the
    previous one. One long table (``breakdown``/``group`` say which rows are
    overall, by location, by age group), with the multiple-testing families of
    `families` (``family``, ``p_adjusted``, ``adjustment``, ``significant``).
    """
    from neacovid.survey.compare import changes

    bound = as_bound(design, analysis)
    parts = []
    for indicator in indicators:
        for breakdown in [None, *breakdowns]:
            if breakdown is not None and _derived(indicator, breakdown):
                continue
            table = changes(
                analysis, bound, indicator, over="wave", base=base, by=breakdown, level=level
            )
            group = table.pop(breakdown) if breakdown else pd.Series("all", index=table.index)
            table.insert(0, "group", group.astype(str))
            table.insert(0, "breakdown", breakdown or "all")
            table.insert(0, "indicator", indicator)
            parts.append(table)
    out = pd.concat(parts, ignore_index=True).drop(columns=["p_holm"])
    return families(out, method, alpha)


def _derived(indicator: str, breakdown: str) -> bool:
    """An indicator made from the breakdown (home_any from location): 0% and 100%."""
    origin = DERIVED_FROM.get(indicator)
    return breakdown in (indicator, origin)


def families(table: pd.DataFrame, method: str, alpha: float) -> pd.DataFrame:
    """Adjusted p-values of a change table, by the families ``method`` names.

    ``holm_per_indicator`` (the default): per indicator, the overall changes are one
    Holm family; the subgroup changes of a breakdown in one wave are another,
    tested only where the indicator's overall change in that wave is significant
    (a hierarchy: how many subgroup tables the config asks for does not change
    whether a headline change is significant). ``holm_table``: Holm over the
    whole table. ``bh``: Benjamini-Hochberg per indicator.
    """
    from neacovid.survey.multitest import adjust

    if method not in MULTIPLE_TESTING:
        raise ConfigError(
            f"compare.multiple_testing: {method!r} is not one of {', '.join(MULTIPLE_TESTING)}"
        )
    out = table.copy()
    out["family"] = ""
    out["p_adjusted"] = np.nan
    p = out["p_value"].to_numpy(dtype=float)
    overall = (out["breakdown"] == "all").to_numpy()
    if method == "holm_table":
        out["family"] = "every test of this table (Holm)"
        out["p_adjusted"] = adjust(p, "holm")
        out["adjustment"] = "holm"
        out["significant"] = out["p_adjusted"] < alpha
        return out
    if method == "bh":
        for indicator, rows in out.groupby("indicator").groups.items():
            out.loc[rows, "family"] = f"{indicator}: every change (Benjamini-Hochberg)"
            out.loc[rows, "p_adjusted"] = adjust(p[out.index.get_indexer(rows)], "bh")
        out["adjustment"] = "bh"
        out["significant"] = out["p_adjusted"] < alpha
        return out
    keys = ["indicator", "wave", "base"]
    for indicator, rows in out[overall].groupby("indicator").groups.items():
        out.loc[rows, "family"] = f"{indicator}: overall changes (Holm)"
        out.loc[rows, "p_adjusted"] = adjust(p[out.index.get_indexer(rows)], "holm")
    headline = out[overall].set_index(keys)["p_adjusted"] < alpha
    for (indicator, breakdown, wave), rows in (
        out[~overall].groupby(["indicator", "breakdown", "wave"]).groups.items()
    ):
        out.loc[rows, "family"] = (
            f"{indicator}: {breakdown} groups in {wave}, tested when "
            "the overall change is significant (Holm)"
        )
        out.loc[rows, "p_adjusted"] = adjust(p[out.index.get_indexer(rows)], "holm")
    out["adjustment"] = "holm"
    gate = [
        bool(headline.get((r.indicator, r.wave, r.base), False)) or r.breakdown == "all"
        for r in out.itertuples(index=False)
    ]
    out["significant"] = (out["p_adjusted"] < alpha) & np.asarray(gate)
    return out


def flat_families(
    table: pd.DataFrame, keys: Sequence[str], method: str, alpha: float
) -> pd.DataFrame:
    """One family per combination of ``keys`` (Holm, or BH with ``method="bh"``)."""
    from neacovid.survey.multitest import adjust

    kind = "bh" if method == "bh" else "holm"
    name = "Benjamini-Hochberg" if kind == "bh" else "Holm"
    out = table.copy()
    out["family"] = ""
    out["p_adjusted"] = np.nan
    p = out["p_value"].to_numpy(dtype=float)
    for key, rows in out.groupby(list(keys), dropna=False).groups.items():
        label = ", ".join(str(k) for k in np.atleast_1d(key))
        out.loc[rows, "family"] = f"{label} ({name})"
        out.loc[rows, "p_adjusted"] = adjust(p[out.index.get_indexer(rows)], kind)
    out["adjustment"] = kind
    out["significant"] = out["p_adjusted"] < alpha
    return out.drop(columns=[c for c in ("p_holm",) if c in out.columns])


def contrast_table(
    analysis: pd.DataFrame,
    design: Design | BoundDesign,
    indicators: Sequence[str],
    contrasts: Sequence[Mapping],
    level: float = 0.95,
    method: str = "holm_per_indicator",
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Group contrasts (e.g. home workers vs on-site) per indicator; one family per
    indicator and contrast."""
    from neacovid.survey.compare import contrast

    bound = as_bound(design, analysis)
    parts = []
    for spec in contrasts:
        for indicator in indicators:
            # home_any by location is 0 or 1 by definition: not a test.
            if _derived(indicator, spec["group"]):
                continue
            table = contrast(
                analysis,
                bound,
                indicator,
                spec["group"],
                spec["a"],
                spec["b"],
                by=list(spec["by"]),
                level=level,
            )
            table.insert(0, "group", spec["group"])
            table.insert(0, "contrast", spec["name"])
            table.insert(0, "indicator", indicator)
            parts.append(table)
    out = flat_families(
        pd.concat(parts, ignore_index=True), ["indicator", "contrast"], method, alpha
    )
    by = list(dict.fromkeys(c for spec in contrasts for c in spec["by"]))
    head = ["indicator", "contrast", "group", *by]
    return out[head + [c for c in out.columns if c not in head]]


def did_table(
    analysis: pd.DataFrame,
    design: Design | BoundDesign,
    indicators: Sequence[str],
    specs: Sequence[Mapping],
    base: str,
    level: float = 0.95,
    method: str = "holm_per_indicator",
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Differences in differences since ``base`` (`neacovid.survey.compare`); one family
    per indicator and comparison."""
    from neacovid.survey.compare import differences_in_differences

    bound = as_bound(design, analysis)
    parts = []
    for spec in specs:
        for indicator in indicators:
            if _derived(indicator, spec["group"]) or any(
                _derived(indicator, b) for b in spec["by"]
            ):
                continue
            table = differences_in_differences(
                analysis,
                bound,
                indicator,
                spec["group"],
                spec["a"],
                spec["b"],
                over="wave",
                base=base,
                by=list(spec["by"]),
                level=level,
            )
            table.insert(0, "group", spec["group"])
            table.insert(0, "comparison", spec["name"])
            table.insert(0, "indicator", indicator)
            parts.append(table)
    out = flat_families(
        pd.concat(parts, ignore_index=True), ["indicator", "comparison"], method, alpha
    )
    by = list(dict.fromkeys(c for spec in specs for c in spec["by"]))
    head = ["indicator", "comparison", "group", *by, "wave"]
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
        rows.append(
            {
                by: level,
                "row": row,
                "col": col,
                "statistic": test.statistic,
                "ndf": test.ndf,
                "ddf": test.ddf,
                "p_value": test.p_value,
                "n": int((inside & analysis[row].notna() & analysis[col].notna()).sum()),
            }
        )
    out = pd.DataFrame(rows)
    out["p_holm"] = holm(out["p_value"].to_numpy())
    return out


# -- adjusted models -------------------------------------------------------------

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
FACTOR_TERM = re.compile(r"^C\((?P<var>[A-Za-z_][A-Za-z0-9_]*).*\)\[T\.(?P<level>.*)\]$")


def model_tables(
    analysis: pd.DataFrame,
    design: Design | BoundDesign,
    outcome: str,
    effects: Sequence[str],
    adjust: Sequence[str],
    rules,
    by_wave: bool = True,
    references: Mapping[str, str] | None = None,
    level: float = 0.95,
    alpha: float = 0.05,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Logistic regressions of ``outcome`` on factor ``effects`` and ``adjust``:
    (odds ratios under the disclosure rules, Wald tests of every factor).

    With ``by_wave`` one model per wave (the wave's rows as a subset of the
    design), so that the effect of location in a wave is that wave's; otherwise
    one model of all waves with wave among the adjustments. Every factor enters
    with the reference level of ``references`` (else the first sorted level).
    The Holm family of a model is the terms of ``effects``; adjustment terms and
    the intercept have no adjusted p-value.
    """
    from neacovid.publish.disclosure import apply_rules, protect_model
    from neacovid.survey.models import ModelError, fit_logit, term_tests
    from neacovid.survey.multitest import adjust as adjust_p

    references = dict(references or {})
    covariates = [*effects, *adjust] + ([] if by_wave else ["wave"])
    for column in [outcome, *covariates]:
        # Names only: a config value is never code in a formula.
        if not NAME.fullmatch(str(column)) or column not in analysis.columns:
            raise ConfigError(
                f"models: {column!r} is not a column of the analysis data (names are letters, "
                "digits and underscores); list column names in models.effects/adjust/indicators"
            )

    def factor(column: str) -> str:
        if column in references:
            return f"C({column}, Treatment({str(references[column])!r}))"
        return f"C({column})"

    terms = [factor(c) for c in covariates]
    formula = f"{outcome} ~ " + " + ".join(terms)
    bound = as_bound(design, analysis)
    waves = sorted(analysis["wave"].astype(str).unique()) if by_wave else ["all"]
    coefficients, tests = [], []
    for wave in waves:
        subset = (analysis["wave"].astype(str) == wave).to_numpy() if by_wave else None
        inside = np.ones(len(analysis), dtype=bool) if subset is None else subset
        inside = inside & analysis[[outcome, *covariates]].notna().all(axis=1).to_numpy()
        # An adjustment level with fewer than min_n cases or non-cases in the model's
        # rows separates the outcome (no finite estimate) and is never reported: it
        # joins "(other)". The effects keep their levels; a small one is suppressed.
        data = analysis.assign(
            **{
                column: sparse_levels_merged(
                    analysis[column], analysis[outcome], inside, rules.min_n
                )
                for column in adjust
            }
        )
        try:
            fit = fit_logit(data, bound, formula, level=level, subset=subset)
        except ModelError as err:
            coefficients.append(
                pd.DataFrame(
                    {
                        "indicator": [outcome],
                        "wave": [wave],
                        "term": ["(model)"],
                        "n": [0],
                        "status": ["not_estimable"],
                        "reason": [f"not estimable: {type(err).__name__}"],
                    }
                )
            )
            continue
        # The family is every effect term, whether or not a term is shown afterwards:
        # suppressing a term must not change the others' adjusted p-values.
        raw = fit.table.drop(columns=["p_holm"])
        effect = raw["term"].map(lambda t: _factor_of(t) in effects).to_numpy()
        raw["p_adjusted"] = np.nan
        raw.loc[effect, "p_adjusted"] = adjust_p(raw.loc[effect, "p_value"].to_numpy(), "holm")
        raw["family"] = np.where(effect, f"{outcome}, {wave}: {', '.join(effects)} (Holm)", "")
        raw["adjustment"] = pd.Series(np.where(effect, "holm", None), index=raw.index)
        raw["significant"] = raw["p_adjusted"] < alpha
        table = protect_model(replace(fit, table=raw), data, rules)
        table["significant"] = table["significant"].where(effect & table["p_adjusted"].notna())
        table.insert(0, "wave", wave)
        table.insert(0, "indicator", outcome)
        coefficients.append(table)
        tested = term_tests(fit, terms)
        tested["factor"] = covariates
        tested["role"] = ["effect" if c in effects else "adjustment" for c in covariates]
        tested["n"] = len(fit.rows)
        tested.insert(0, "wave", wave)
        tested.insert(0, "indicator", outcome)
        tests.append(apply_rules(tested, rules, ["indicator", "wave", "term"], rse=False))
    test_table = pd.concat(tests, ignore_index=True) if tests else pd.DataFrame()
    out = pd.concat(coefficients, ignore_index=True)
    # The columns of an estimated model first, whichever wave came first.
    full = next((list(c.columns) for c in coefficients if len(c.columns) > 6), list(out.columns))
    return out[full], test_table


OTHER = "(other)"


def sparse_levels_merged(
    values: pd.Series, outcome: pd.Series | None, rows: np.ndarray, min_n: int
) -> pd.Series:
    """A factor as text with its sparse levels merged into ``(other)``: levels with fewer
    than ``min_n`` of ``rows``, or (given a 0/1 ``outcome``) fewer than ``min_n`` cases or
    non-cases among them. If ``(other)`` is itself sparse it joins the largest level.
    Missing values stay missing."""
    known = values.notna().to_numpy()
    text = pd.Series(np.full(len(values), None, dtype=object), index=values.index)
    text[known] = values[known].astype(str).to_numpy(dtype=object)
    inside = pd.Series(rows & known, index=values.index)
    counts = text[inside].value_counts()
    sparse = counts < min_n
    if outcome is not None:
        cases = (outcome[inside] == 1).groupby(text[inside]).sum()
        sparse |= (cases.reindex(counts.index, fill_value=0) < min_n) | (
            (counts - cases.reindex(counts.index, fill_value=0)) < min_n
        )
    small = set(counts[sparse].index)
    if not small:
        return text
    text = text.where(~text.isin(small), OTHER)
    merged = inside & (text == OTHER)
    if merged.sum() < min_n or (
        outcome is not None
        and ((outcome[merged] == 1).sum() < min_n or (outcome[merged] == 0).sum() < min_n)
    ):
        largest = (
            counts.drop(index=list(small)).idxmax() if len(counts) > len(small) else counts.idxmax()
        )
        text = text.where(text != OTHER, largest)
    return text


def _factor_of(term: str) -> str | None:
    match = FACTOR_TERM.match(term)
    return match["var"] if match else None
