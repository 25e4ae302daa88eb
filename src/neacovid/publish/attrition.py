"""Who stayed in the panel, and what it would change if they had not.

The NEA COVID-19 waves follow a sub-sample of the 2019 respondents. Attrition is
selective (home workers stayed more often), so the tables here say who stayed:

- `retention_table`: per later wave the baseline respondents and those still
  there, overall and by their 2019 sector, age group and location;
- `stayers_table`: per later wave, how the stayers differed *in 2019* from
  those who left, on the 2019 outcomes (design-based differences and p);
- `propensity_tables`: a design-based logit of staying on 2019
  characteristics and outcomes per later wave, its Wald tests, and the
  R-indicator of representativeness;
- `adjusted_weights`: each later wave's weights raked (`neacovid.survey.
  calibrate`) to the 2019 cohort's margins of those characteristics: a
  sensitivity analysis, not a replacement;
- `sensitivity_table`: key figures and changes since 2019 with the wave
  weights, the adjusted weights and on the balanced panel (the people present
  in every wave).

Every table passes the disclosure rules (`neacovid.publish.disclosure`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np
import pandas as pd

from neacovid.data.indicators import baseline_name
from neacovid.publish.disclosure import DisclosureRules, apply_rules, protect_model
from neacovid.publish.tables import sparse_levels_merged
from neacovid.survey.calibrate import Margin, calibrate_weights
from neacovid.survey.compare import changes, contrast
from neacovid.survey.design import BoundDesign, Design
from neacovid.survey.models import ModelError, fit_logit, term_tests
from neacovid.survey.multitest import holm
from neacovid.survey.panel import r_indicator, retention

STAYS = "_stays"
UNKNOWN = "(unknown)"
NOT_IN_BASELINE = "(not in the baseline)"
ADJUSTED_WEIGHT = "weight_adjusted"
BALANCED = "_in_every_wave"


def later_waves(data: pd.DataFrame, baseline: str) -> list[str]:
    return sorted({str(wave) for wave in pd.unique(data["wave"])} - {str(baseline)})


def with_stays(data: pd.DataFrame, baseline: str, wave: str) -> pd.DataFrame:
    """``data`` with ``_stays``: on the baseline rows 1 if the person is in ``wave``."""
    waves = data["wave"].astype(str).to_numpy()
    person, _ = pd.factorize(data["resp_id"])  # integers: membership without strings
    present = np.zeros(person.max() + 1, dtype=bool)
    present[person[waves == wave]] = True
    stays = np.where(waves == str(baseline), present[person].astype(float), np.nan)
    return data.assign(**{STAYS: stays})


def retention_table(
    data: pd.DataFrame,
    baseline: str,
    weight: str,
    breakdowns: Sequence[str],
    rules: DisclosureRules,
) -> pd.DataFrame:
    """Retention per later wave, overall and per breakdown of the baseline rows."""
    parts = [retention(data, baseline, weight).assign(breakdown="all", group="all")]
    for column in breakdowns:
        table = retention(data, baseline, weight, by=column)
        parts.append(table.rename(columns={column: "group"}).assign(breakdown=column))
    out = pd.concat(parts, ignore_index=True)
    out["group"] = out["group"].astype(str)
    out = out[
        ["wave", "breakdown", "group", "n_baseline", "n_stayed", "retention", "weighted_retention"]
    ]
    # The stayers and the leavers of a group are both people: each needs min_n.
    return apply_rules(
        out.rename(columns={"n_baseline": "n"}),
        rules,
        ["wave", "breakdown", "group"],
        partition="group",
        with_columns=["n_stayed"],
        rse=False,
    ).rename(columns={"n": "n_baseline"})


def stayers_table(
    data: pd.DataFrame,
    design: BoundDesign,
    baseline: str,
    outcomes: Sequence[str],
    level: float,
    rules: DisclosureRules,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """2019 outcomes of those who stayed until each later wave against those who left."""
    waves = data["wave"].astype(str)
    in_baseline = (waves == str(baseline)).to_numpy()
    parts = []
    for wave in later_waves(data, baseline):
        flagged = with_stays(data, baseline, wave)
        for outcome in outcomes:
            if flagged.loc[in_baseline, outcome].isna().all():
                continue  # not asked in the baseline wave
            table = contrast(
                flagged, design, outcome, STAYS, 1.0, 0.0, level=level, subset=in_baseline
            )
            parts.append(table.assign(wave=wave, outcome=outcome))
    out = pd.concat(parts, ignore_index=True)
    out = out.drop(columns=["a", "b", "p_holm"]).rename(
        columns={
            "estimate_a": "estimate_stayers",
            "estimate_b": "estimate_leavers",
            "n_a": "n_stayers",
            "n_b": "n_leavers",
            "n_with_a": "n_with_stayers",
            "n_with_b": "n_with_leavers",
        }
    )
    out["p_adjusted"] = np.nan
    for _, rows in out.groupby("outcome").groups.items():
        out.loc[rows, "p_adjusted"] = holm(out.loc[rows, "p_value"].to_numpy())
    out["family"] = "per outcome, over the later waves (Holm)"
    out["adjustment"] = "holm"
    out["significant"] = out["p_adjusted"] < alpha
    head = ["wave", "outcome"]
    out = out[head + [c for c in out.columns if c not in head]]
    return apply_rules(
        out,
        rules,
        head,
        n_columns=["n_stayers", "n_leavers"],
        with_columns=["n_with_stayers", "n_with_leavers"],
        rse=False,
    )


def propensity_tables(
    data: pd.DataFrame,
    design: BoundDesign,
    baseline: str,
    characteristics: Sequence[str],
    level: float,
    rules: DisclosureRules,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Per later wave: a logit of staying on the baseline characteristics (terms with
    odds ratios, Wald tests of each characteristic) and the R-indicator.

    A missing characteristic is a category, and categories with fewer than
    ``min_n`` baseline respondents, stayers or leavers are merged into ``(other)``
    (`neacovid.publish.tables.sparse_levels_merged`: no small cell, no separation
    by a handful of people), so every baseline respondent is in the model and in
    the R-indicator. A wave whose model cannot be estimated gets a
    row that says so."""
    waves = data["wave"].astype(str)
    in_baseline = (waves == str(baseline)).to_numpy()
    columns = [baseline_name(c, baseline) for c in characteristics]
    frame = data.copy()
    for column in columns:
        frame[column] = frame[column].astype(object).where(frame[column].notna(), UNKNOWN)
    terms = [f"C({c})" for c in columns]
    models, tests, indicators = [], [], []
    for wave in later_waves(data, baseline):
        flagged = with_stays(frame, baseline, wave)
        for column in columns:
            flagged[column] = sparse_levels_merged(
                flagged[column], flagged[STAYS], in_baseline, rules.min_n
            )
        try:
            model = fit_logit(
                flagged, design, f"{STAYS} ~ " + " + ".join(terms), level=level, subset=in_baseline
            )
        except ModelError as err:
            models.append(
                pd.DataFrame(
                    {
                        "wave": [wave],
                        "term": ["(model)"],
                        "status": ["not_estimable"],
                        "reason": [f"not estimable: {type(err).__name__}"],
                    }
                )
            )
            indicators.append(
                {
                    "wave": wave,
                    "n": int(in_baseline.sum()),
                    "n_stayed": int(flagged[STAYS].sum()),
                    "weighted_retention": np.nan,
                    "r_indicator": np.nan,
                }
            )
            continue
        weights = design.weights[model.rows]
        stayed = flagged[STAYS].iloc[model.rows].to_numpy()
        indicators.append(
            {
                "wave": wave,
                "n": int(in_baseline.sum()),
                "n_stayed": int(stayed.sum()),
                "weighted_retention": float((weights * stayed).sum() / weights.sum()),
                "r_indicator": r_indicator(model.fitted, weights),
            }
        )
        protected = protect_model(model, flagged, rules)
        models.append(protected.assign(wave=wave))
        tested = term_tests(model, terms).assign(wave=wave, n=len(model.rows))
        tests.append(apply_rules(tested, rules, ["wave", "term"], rse=False))
    model_table = pd.concat(models, ignore_index=True)
    model_table = model_table[["wave"] + [c for c in model_table.columns if c != "wave"]]
    test_table = pd.concat(tests, ignore_index=True)
    test_table = test_table[["wave"] + [c for c in test_table.columns if c != "wave"]]
    r_table = apply_rules(
        pd.DataFrame(indicators), rules, ["wave"], with_columns=["n_stayed"], rse=False
    )
    return model_table, test_table, r_table


def adjusted_weights(
    data: pd.DataFrame,
    design: Design,
    baseline: str,
    characteristics: Sequence[str],
) -> np.ndarray:
    """Each later wave's weights raked to the 2019 margins of ``characteristics``: their
    shares among all 2019 respondents (2019 weights), scaled to the wave's weighted
    total. Baseline rows keep their weights; a missing 2019 value is a category of
    its own, people not in the baseline file keep their weighted total, and a 2019
    category without anyone left in the wave is dropped from the margin (the others
    scaled up), since no weight can reach it.

    The wave's own calibration margins are not kept as well: they describe the
    workforce at the time of the wave, the 2019 margins the cohort that the panel
    follows, which has aged and lost its leavers. Both at once cannot be met (the
    cohort's 15-24 of 2019 are 17-26 now and no new 15-year-olds joined), so the
    adjusted weights answer one question: what the later waves would show if the
    stayers had the 2019 cohort's composition."""
    waves = data["wave"].astype(str)
    weight = data[design.weight].to_numpy(dtype=float)
    out = weight.copy()
    base = (waves == str(baseline)).to_numpy()
    columns = [baseline_name(c, baseline) for c in characteristics]
    frame = data[columns].astype(object)
    frame = frame.where(frame.notna(), UNKNOWN).astype(str)
    # Someone in a later wave but not in the baseline file has no 2019 answers to be
    # raked on: such rows keep their weighted total, the others share the rest.
    person, _ = pd.factorize(data["resp_id"])
    in_baseline = np.zeros(person.max() + 1, dtype=bool)
    in_baseline[person[base]] = True
    newcomer = ~in_baseline[person]
    frame.loc[newcomer] = NOT_IN_BASELINE
    shares = {}
    for column in columns:
        totals = pd.Series(weight[base]).groupby(frame.loc[base, column].to_numpy()).sum()
        shares[column] = totals / totals.sum()
    for wave in later_waves(data, baseline):
        rows = (waves == wave).to_numpy()
        part = frame.loc[rows]
        total = weight[rows].sum()
        outside = weight[rows & newcomer].sum()
        margins = []
        for column in columns:
            share = shares[column][shares[column].index.isin(set(part[column]))]
            totals = {str(k): float(v * (total - outside) / share.sum()) for k, v in share.items()}
            if outside > 0:
                totals[NOT_IN_BASELINE] = float(outside)
            margins.append(Margin(column, totals))
        out[rows] = calibrate_weights(part.assign(_w=weight[rows]), "_w", margins, method="raking")
    return out


SENSITIVITY_VERSIONS = ("wave weights", "attrition-adjusted weights", "balanced panel")


def sensitivity_table(
    data: pd.DataFrame,
    design: Design,
    baseline: str,
    indicators: Sequence[str],
    adjusted_weight: np.ndarray,
    level: float,
    rules: DisclosureRules,
) -> pd.DataFrame:
    """Changes since the baseline of every indicator, three ways: with the wave weights,
    with the attrition-adjusted weights (`adjusted_weights`), and on the balanced
    panel (the people in every wave, with the wave weights)."""
    adjusted = data.assign(**{ADJUSTED_WEIGHT: adjusted_weight})
    person, _ = pd.factorize(adjusted["resp_id"])
    wave_code, waves = pd.factorize(adjusted["wave"])
    seen = np.zeros((person.max() + 1, len(waves)), dtype=bool)
    seen[person, wave_code] = True
    every = pd.Series(seen.all(axis=1)[person], index=adjusted.index)
    versions = {
        SENSITIVITY_VERSIONS[0]: (design, None),
        SENSITIVITY_VERSIONS[1]: (_reweighted(design), None),
        SENSITIVITY_VERSIONS[2]: (design, every.to_numpy()),
    }
    parts = []
    for version, (version_design, subset) in versions.items():
        bound = version_design.bind(adjusted)
        for indicator in indicators:
            table = changes(
                adjusted,
                bound,
                indicator,
                over="wave",
                base=str(baseline),
                level=level,
                subset=subset,
            )
            parts.append(table.assign(indicator=indicator, version=version))
    out = pd.concat(parts, ignore_index=True)
    head = ["indicator", "version", "wave"]
    out = out[head + [c for c in out.columns if c not in head]]
    out = out.drop(columns=["p_holm"])
    return apply_rules(
        out,
        rules,
        ["indicator", "version", "wave", "base"],
        n_columns=["n", "base_n"],
        with_columns=["n_with", "base_n_with"],
        rse=False,
    )


def key_figures_sensitivity(
    data: pd.DataFrame,
    design: Design,
    adjusted_weight: np.ndarray,
    published: pd.DataFrame,
    populations: Mapping,
    ci: str,
    level: float,
    rules: DisclosureRules,
    cells: Mapping,
) -> pd.DataFrame:
    """The published key figures (`neacovid.publish.keyfigures`) with the wave weights
    and with the attrition-adjusted weights, one block per ``version``; the cells of
    the estimate tables (``cells``) hide and flag theirs here as in kerncijfers.csv."""
    from neacovid.publish.disclosure import protect_key_figures
    from neacovid.publish.keyfigures import key_figures

    frame = data.assign(**{ADJUSTED_WEIGHT: adjusted_weight})
    parts = []
    for version, version_design in (
        (SENSITIVITY_VERSIONS[0], design),
        (SENSITIVITY_VERSIONS[1], _reweighted(design)),
    ):
        table = key_figures(frame, version_design, published, populations, ci, level)
        table = protect_key_figures(table, rules, cells, populations)
        table.insert(1, "version", version)
        parts.append(table)
    return pd.concat(parts, ignore_index=True)


def _reweighted(design: Design) -> Design:
    """The design with the attrition-adjusted weights (strata, PSUs, calibration kept
    for the variance)."""
    return replace(design, weight=ADJUSTED_WEIGHT)
