"""New weights calibrated to population totals (R ``calibrate()``).

`calibrate_weights` finds g-weights so that the weighted totals of every
margin (a column or a cross-classification ``a:b``) equal the population
totals of a margins file: ``calfun = "linear"`` (g = 1 + x'lambda) or
``"raking"`` (g = exp(x'lambda)), optionally truncated to bounds on g, by
Newton's method as R's ``grake`` does. The `neacovid calibrate` command and
the attrition sensitivity analysis use it. (The variance of estimates under
calibrated weights is `neacovid.survey.calibration`.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from neacovid.errors import DataError
from neacovid.survey.calibration import cells, parse_terms
from neacovid.survey.design import check_weights

CALIBRATION_METHODS = ("linear", "raking")


@dataclass(frozen=True)
class Margin:
    """Population totals of one calibration variable (a column or ``a:b``)."""

    variable: str
    totals: dict[str, float]


def read_margins(path) -> list[Margin]:
    """A margins file: CSV with the columns ``variable,category,total``."""
    from pathlib import Path

    path = Path(path)
    try:
        frame = pd.read_csv(path, dtype={"variable": str, "category": str}, keep_default_na=False)
    except (OSError, ValueError, pd.errors.ParserError) as err:
        raise DataError(f"{path}: cannot read the margins ({err}); give a CSV file") from None
    wanted = ["variable", "category", "total"]
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise DataError(
            f"{path}: column {missing[0]!r} is missing; a margins file has the columns "
            "variable,category,total (one row per category)"
        )
    totals = pd.to_numeric(frame["total"], errors="coerce")
    bad = frame.index[~np.isfinite(totals) | (totals < 0)]
    if len(bad):
        row = frame.loc[bad[0]]
        raise DataError(
            f"{path}: total {row['total']!r} of {row['variable']}={row['category']} is not a "
            "finite number >= 0; fix the margins file"
        )
    frame = frame.assign(total=totals)
    dup = frame.duplicated(["variable", "category"])
    if dup.any():
        row = frame[dup].iloc[0]
        raise DataError(
            f"{path}: {row['variable']}={row['category']} is given twice; one total per category"
        )
    return [
        Margin(str(variable), dict(zip(group["category"], group["total"], strict=True)))
        for variable, group in frame.groupby("variable", sort=False)
    ]


def calibrate_weights(
    data: pd.DataFrame,
    weight: str,
    margins: Sequence[Margin],
    method: str = "raking",
    bounds: tuple[float, float] | None = None,
    epsilon: float = 1e-12,
    max_iterations: int = 500,
) -> np.ndarray:
    """Weights calibrated to the population totals of ``margins`` (R ``calibrate``).

    ``method``: ``"linear"`` (g = 1 + x'lambda, truncated to ``bounds``) or
    ``"raking"`` (g = exp(x'lambda), truncated to ``bounds``); ``bounds`` are
    limits on g = new / old weight. Newton's method on the calibration
    equations as R's ``grake``, until every margin is met to ``epsilon``
    (relative to 1 + total). Returns the new weights in row order.
    """
    if method not in CALIBRATION_METHODS:
        raise DataError(
            f"calibration method {method!r} is not known; use {' or '.join(CALIBRATION_METHODS)}"
        )
    low, high = (-np.inf, np.inf) if bounds is None else (float(bounds[0]), float(bounds[1]))
    if not low < 1 < high:
        raise DataError(f"bounds {bounds!r} must enclose 1 (limits on new/old weight), e.g. 0.5,2")
    w = check_weights(data[weight], weight)
    if not margins:
        raise DataError("no margins given; a margins file needs at least one variable")
    columns, population, names = [], [], []
    grand = []
    for margin in margins:
        parts = parse_terms([margin.variable])[0]
        missing = [c for c in parts if c not in data.columns]
        if missing:
            raise DataError(
                f"margin variable {margin.variable!r}: column {missing[0]!r} is not in the data"
            )
        code, labels = cells(data, parts, "margin")
        unknown = sorted(set(labels) - set(margin.totals))
        if unknown:
            raise DataError(
                f"margin {margin.variable!r} has no total for category {unknown[0]!r}, which "
                "occurs in the data; add it to the margins file"
            )
        empty = sorted(c for c, t in margin.totals.items() if c not in labels and t > 0)
        if empty:
            raise DataError(
                f"margin {margin.variable}={empty[0]} has a population total but no "
                "respondent in the data: no weight can reach it; merge it with a "
                "neighbouring category"
            )
        grand.append((margin.variable, sum(margin.totals.values())))
        for j, label in enumerate(labels):
            columns.append(code == j)
            population.append(margin.totals[label])
            names.append(f"{margin.variable}={label}")
    totals_seen = np.array([g for _, g in grand])
    if np.ptp(totals_seen) > 1e-9 * max(1.0, totals_seen.max()):
        (a, ta), (b, tb) = grand[int(np.argmin(totals_seen))], grand[int(np.argmax(totals_seen))]
        raise DataError(
            f"the margins contradict each other: {a} sums to {ta:,.6g} but {b} to {tb:,.6g}; "
            "every variable's totals must add up to the same population"
        )
    x = np.column_stack(columns).astype(np.float64)
    population = np.asarray(population)
    g = _grake(x, w, population, method, low, high, epsilon, max_iterations, names)
    return w * g


def _grake(x, w, population, method, low, high, epsilon, max_iterations, names) -> np.ndarray:
    """R's grake: Newton steps for lambda with g = 1 + F(x'lambda) truncated to bounds."""
    if method == "linear":

        def g_of(u):
            return np.clip(1 + u, low, high)

        def dg(u):
            return ((1 + u > low) & (1 + u < high)).astype(np.float64)
    else:

        def g_of(u):
            return np.clip(np.exp(u), low, high)

        def dg(u):
            e = np.exp(u)
            return np.where((e > low) & (e < high), e, 0.0)

    lam = np.zeros(x.shape[1])
    scale = 1.0 + np.abs(population)
    for _ in range(max_iterations):
        u = x @ lam
        g = g_of(u)
        misfit = population - (w * g) @ x
        if np.all(np.abs(misfit) / scale < epsilon):
            return g
        jacobian = (x * (w * dg(u))[:, None]).T @ x
        lam = lam + np.linalg.pinv(jacobian, rcond=256 * np.finfo(float).eps) @ misfit
    worst = int(np.argmax(np.abs(misfit) / scale))
    raise DataError(
        f"calibration ({method}) did not converge in {max_iterations} iterations: "
        f"{names[worst]} is still {misfit[worst]:,.6g} off its total"
        + (
            f" with bounds {low:g},{high:g}; widen the bounds"
            if np.isfinite([low, high]).any()
            else "; check that the margins can be met"
        )
    )
