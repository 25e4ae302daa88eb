"""Key figures: every published NEA COVID-19 figure next to this run's estimate.

``published_figures.csv`` names, per figure, the wave, the population (all
employees, home workers, on-site workers), the indicator and the category.
Populations are domains defined in config.yaml (``key_figures.populations``),
so the same code runs on real and synthetic data.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from neacovid.errors import ConfigError, DataError
from neacovid.survey.design import BoundDesign, Design
from neacovid.survey.estimate import category_label, shares

COLUMNS = [
    "id",
    "wave",
    "population",
    "indicator",
    "category",
    "published",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "n",
    "n_category",
    "deff",
    "df",
    "level",
    "ci_method",
    "within_ci",
]
_DOMAIN = "_population"


def key_figures(
    analysis: pd.DataFrame,
    design: Design | BoundDesign,
    published: pd.DataFrame,
    populations: Mapping[str, Mapping | None],
    ci: str = "logit",
    level: float = 0.95,
) -> pd.DataFrame:
    """One row per published figure: the estimate and its CI in percent.

    ``populations`` maps a population name of ``published`` to a domain:
    ``None`` for everyone, or ``{"column": ..., "value": ...}``.
    """
    bound = design.bind(analysis) if isinstance(design, Design) else design
    unknown = sorted(set(published["population"]) - set(populations))
    if unknown:
        raise ConfigError(
            f"key_figures.populations has no definition for population {unknown[0]!r} "
            "of the published figures; add it to config.yaml"
        )
    rows = {}
    for (indicator, population), figures in published.groupby(
        ["indicator", "population"], sort=False
    ):
        if indicator not in analysis.columns:
            raise DataError(
                f"published figure {figures['id'].iloc[0]!r} needs indicator {indicator!r}, "
                "which the analysis data does not have; derive it in config.yaml indicators"
            )
        domain = _population_domain(analysis, populations[population], population)
        table = shares(
            analysis.assign(**{_DOMAIN: domain}),
            bound,
            indicator,
            by=["wave", _DOMAIN],
            ci=ci,
            level=level,
        )
        table = table[table[_DOMAIN] == "in"]
        table = table.assign(
            wave=table["wave"].astype(str), category=table["category"].map(category_label)
        ).set_index(["wave", "category"])
        for index, figure in zip(figures.index, figures.itertuples(index=False), strict=True):
            key = (str(figure.wave), category_label(figure.category))
            found = table.loc[key] if key in table.index else None
            rows[index] = _row(figure, found)
    # In the order of the published figures.
    return pd.DataFrame([rows[i] for i in published.index], columns=COLUMNS)


def _population_domain(analysis: pd.DataFrame, spec: Mapping | None, name: str) -> pd.Series:
    if spec is None:
        return pd.Series("in", index=analysis.index)
    column, value = spec.get("column"), spec.get("value")
    if column not in analysis.columns:
        raise ConfigError(
            f"key_figures.populations[{name!r}]: column {column!r} is not in the analysis data"
        )
    col = analysis[column]
    if pd.api.types.is_numeric_dtype(col):
        try:
            inside = col == float(value)
        except ValueError:
            raise ConfigError(
                f"key_figures.populations[{name!r}]: value {value!r} is not a number, "
                f"but column {column!r} is numeric"
            ) from None
    else:
        inside = col.astype(str) == str(value)
    # Respondents whose population membership is unknown are in no domain.
    return pd.Series(np.where(inside, "in", "out"), index=analysis.index).where(
        analysis[column].notna()
    )


def _row(figure, found) -> dict:
    row = {
        "id": figure.id,
        "wave": str(figure.wave),
        "population": figure.population,
        "indicator": figure.indicator,
        "category": category_label(figure.category),
        "published": float(figure.value_pct),
    }
    if found is None or found["n"] == 0:
        return row | {
            "estimate": np.nan,
            "se": np.nan,
            "ci_low": np.nan,
            "ci_high": np.nan,
            "n": 0,
            "n_category": 0,
            "deff": np.nan,
            "df": np.nan,
            "level": np.nan,
            "ci_method": "",
            "within_ci": None,  # not estimated: neither agrees nor disagrees
        }
    low, high = 100 * found["ci_low"], 100 * found["ci_high"]
    return row | {
        "estimate": 100 * found["estimate"],
        "se": 100 * found["se"],
        "ci_low": low,
        "ci_high": high,
        "n": int(found["n"]),
        "n_category": int(found["n_category"]),
        "deff": found["deff"],
        "df": found["df"],
        "level": found["level"],
        "ci_method": found["ci_method"],
        "within_ci": bool(low <= row["published"] <= high),
    }
