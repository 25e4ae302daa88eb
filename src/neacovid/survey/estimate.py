"""Design-based estimates by domain: shares, means, quantiles and ratios (R: svyby
with svyciprop, svymean, svyquantile, svyratio).

Every estimator returns a tidy frame, one row per domain (x category or
quantile): the ``by`` columns, [``category`` | ``quantile``], ``estimate``,
``se``, ``ci_low``, ``ci_high``, ``n``, ``weighted_n``, [``deff``], ``df``.
Intervals are Student t with the domain's df (PSUs minus strata with domain
members), as ``svyciprop`` uses; ``df`` is that number.

Domains never filter rows away: every domain is estimated on the full design
(R ``subset()`` semantics); rows whose analysis variable is missing are simply
not domain members. A domain without members is a row with ``n = 0`` and
missing numbers.

``subset=`` (a pandas expression such as ``"stype == 'E'"``, or a boolean
mask) is R's ``subset(design, expr)``: rows outside it stay in the design
(their PSUs and strata count for the variance) but belong to no domain. The
domains of ``by`` are then those that occur among the subset's rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

from neacovid.errors import DataError
from neacovid.survey.ci import ProfileInputs, check_level, proportion_ci, t_quantile
from neacovid.survey.design import BoundDesign, Design, as_bound
from neacovid.survey.quantile import SortedValues
from neacovid.survey.taylor import domain_variance

MAX_CATEGORIES = 50

SHARE_COLUMNS = [
    "category",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "n",
    "n_category",
    "weighted_n",
    "deff",
    "df",
    "level",
    "ci_method",
]
MEAN_COLUMNS = [
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "n",
    "weighted_n",
    "deff",
    "df",
    "level",
    "ci_method",
]
QUANTILE_COLUMNS = [
    "quantile",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "n",
    "n_below",
    "weighted_n",
    "df",
    "level",
    "ci_method",
]
RATIO_COLUMNS = [
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "n",
    "weighted_n",
    "df",
    "level",
    "ci_method",
]
# The interval of a mean or a difference: estimate -/+ t(df) * se.
T_INTERVAL = "t"
# A quantile's interval: Woodruff's, the t interval of the share below mapped back.
WOODRUFF = "Woodruff (t)"


def shares(
    data: pd.DataFrame,
    design: Design | BoundDesign,
    var: str,
    by: str | list[str] | None = None,
    ci: str = "logit",
    level: float = 0.95,
    subset: str | np.ndarray | pd.Series | None = None,
) -> pd.DataFrame:
    """Weighted share of each category of ``var`` per domain of ``by``.

    ``var`` may be binary (0/1), categorical (strings, pandas categories) or
    labelled codes; every category gets a row and the categories of a domain
    sum to 1. ``ci`` is a ``svyciprop`` method (see `neacovid.survey.ci.CI_METHODS`).
    ``n`` counts the domain's respondents with a value, ``n_category`` those in
    the category (the disclosure rules need both); ``level`` and ``ci_method``
    say what the interval is.
    """
    check_level(level)
    bound = as_bound(design, data)
    require_columns(data, [var])
    codes, categories = _category_codes(data[var], var)
    domains = domain_index(data, by, subset)
    k = len(categories)

    member = (codes >= 0) & (domains.code >= 0)
    rows = np.flatnonzero(member)
    dom = domains.code[rows]
    cat = codes[rows]
    w = bound.weights[rows]
    n_dom = domains.count

    n = np.bincount(dom, minlength=n_dom)
    n_category = np.bincount(dom * k + cat, minlength=n_dom * k)
    weighted_n = np.bincount(dom, w, minlength=n_dom)
    cat_total = np.bincount(dom * k + cat, w, minlength=n_dom * k).reshape(n_dom, k)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = cat_total / weighted_n[:, None]

    # Influence of a row on the share of category j in its domain:
    # w (1[cat = j] - p_j) / W_d. With two categories the second influence is
    # minus the first, so one column carries both variances.
    scaled_w = w / weighted_n[dom]
    columns = [k - 1] if k == 2 else range(k)
    influence = np.empty((len(rows), len(columns)))
    for out, j in enumerate(columns):
        influence[:, out] = scaled_w * ((cat == j) - p[dom, j])
    dv = domain_variance(bound, rows, dom, influence, n_dom)
    var_ = np.repeat(dv.variance, 2, axis=1) if k == 2 else dv.variance

    profile = None
    if ci == "likelihood":
        # svyglm fits the rows of the design it is given, with the weights rescaled
        # to mean 1: the domain's rows, or, for a calibrated design (whose subsets
        # keep every row, at weight 0), all rows with a value.
        rows_fitted = n if bound.calibration is None else np.full(n_dom, int((codes >= 0).sum()))
        profile = _profile_inputs(w, dom, cat, p, weighted_n, n, rows_fitted, n_dom, k)
    rep_n = np.repeat(n, k)
    rep_df = np.repeat(dv.df, k)
    low, high = proportion_ci(
        p.ravel(), var_.ravel(), rep_df, rep_n, method=ci, level=level, profile=profile
    )
    deff = _deff(var_, p * (1 - p), n, weighted_n)

    out = domains.frame(repeat=k)
    out["category"] = np.tile(np.asarray(categories, dtype=object), n_dom)
    out["estimate"] = p.ravel()
    out["se"] = np.sqrt(var_.ravel())
    out["ci_low"] = low
    out["ci_high"] = high
    out["n"] = rep_n
    out["n_category"] = n_category
    out["weighted_n"] = np.repeat(weighted_n, k)
    out["deff"] = deff.ravel()
    out["df"] = rep_df
    out["level"] = level
    out["ci_method"] = ci
    return _blank_empty(out)


def means(
    data: pd.DataFrame,
    design: Design | BoundDesign,
    var: str,
    by: str | list[str] | None = None,
    level: float = 0.95,
    subset: str | np.ndarray | pd.Series | None = None,
) -> pd.DataFrame:
    """Weighted mean of a numeric ``var`` per domain of ``by``, t-based CI."""
    check_level(level)
    bound = as_bound(design, data)
    x = numeric_column(
        data, var, "means need numbers; for categories estimate shares (the CLI without --mean)"
    )
    domains = domain_index(data, by, subset)
    member = ~np.isnan(x) & (domains.code >= 0)
    rows = np.flatnonzero(member)
    dom = domains.code[rows]
    w = bound.weights[rows]
    xr = x[rows]
    n_dom = domains.count

    n = np.bincount(dom, minlength=n_dom)
    weighted_n = np.bincount(dom, w, minlength=n_dom)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(dom, w * xr, minlength=n_dom) / weighted_n
    centred = xr - mean[dom]
    influence = w * centred / weighted_n[dom]
    dv = domain_variance(bound, rows, dom, influence, n_dom)
    var_ = dv.variance[:, 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        population_var = np.bincount(dom, w * centred**2, minlength=n_dom) / weighted_n
    se = np.sqrt(var_)
    t = t_quantile(level, dv.df)

    out = domains.frame(repeat=1)
    out["estimate"] = mean
    out["se"] = se
    out["ci_low"] = mean - t * se
    out["ci_high"] = mean + t * se
    out["n"] = n
    out["weighted_n"] = weighted_n
    out["deff"] = _deff(var_[:, None], population_var[:, None], n, weighted_n)[:, 0]
    out["df"] = dv.df
    out["level"] = level
    out["ci_method"] = T_INTERVAL
    return _blank_empty(out)


def quantiles(
    data: pd.DataFrame,
    design: Design | BoundDesign,
    var: str,
    probs: float | list[float],
    by: str | list[str] | None = None,
    level: float = 0.95,
    subset: str | np.ndarray | pd.Series | None = None,
) -> pd.DataFrame:
    """Weighted quantiles of a numeric ``var`` per domain of ``by``, as R survey 4.x's
    ``svyquantile(~var, design, probs, ci = TRUE)`` with its defaults.

    The estimate is R's ``qrule = "math"`` (`neacovid.survey.quantile`). The
    interval is Woodruff's (``interval.type = "mean"``): the share of the
    domain at or below the estimate gets a t interval with the domain's df
    and its design-based SE, and its limits are mapped back through the same
    rule. A limit of that share below 0 or above 1 gives a missing limit (R:
    NaN). ``se`` is R's: the interval's width over 2 t.

    One difference from R: when the estimate is the domain's largest value,
    the share at or below it is 1 with no variance, and the upper limit is
    that largest value. R sums the share as w_i / W, which rounds to just
    above 1 about a third of the time, and then reports a missing upper limit
    and SE; that is rounding noise, which is not reproduced.

    One row per domain and element of ``probs``: the ``by`` columns,
    ``quantile`` (the p), ``estimate``, ``se``, ``ci_low``, ``ci_high``,
    ``n``, ``n_below`` (respondents at or below the estimate: a quantile is one
    respondent's value, so the disclosure rules need as many people on each
    side as in a share), ``weighted_n``, ``df``, ``level``, ``ci_method``.
    """
    check_level(level)
    probs = _probabilities(probs)
    bound = as_bound(design, data)
    x = numeric_column(data, var, "quantiles need numbers")
    domains = domain_index(data, by, subset)
    rows = np.flatnonzero(~np.isnan(x) & (domains.code >= 0))
    dom = domains.code[rows]
    w = bound.weights[rows]
    xr = x[rows]
    n_dom, k = domains.count, len(probs)

    n = np.bincount(dom, minlength=n_dom)
    weighted_n = np.bincount(dom, w, minlength=n_dom)
    order = np.argsort(dom, kind="stable")
    bounds = np.searchsorted(dom[order], np.arange(n_dom + 1))
    sorted_domains = [
        SortedValues.of(xr[order[a:b]], w[order[a:b]])
        for a, b in zip(bounds[:-1], bounds[1:], strict=True)
    ]
    estimate = np.array([values.quantile(probs) for values in sorted_domains]).reshape(n_dom, k)

    # Woodruff: the share at or below each estimate, with its domain variance.
    # Its numerator sums the same weights in the same order as weighted_n, so
    # the share at the domain's largest value is exactly 1 (see the docstring).
    below = xr[:, None] <= estimate[dom]
    with np.errstate(invalid="ignore", divide="ignore"):
        share = (
            np.column_stack([np.bincount(dom, w * below[:, j], minlength=n_dom) for j in range(k)])
            / weighted_n[:, None]
        )
        influence = (w / weighted_n[dom])[:, None] * (below - share[dom])
    dv = domain_variance(bound, rows, dom, influence, n_dom)
    t = t_quantile(level, dv.df)[:, None]
    with np.errstate(invalid="ignore"):
        half = t * np.sqrt(dv.variance)
        share_low = np.where(share - half < 0, np.nan, share - half)
        share_high = np.where(share + half > 1, np.nan, share + half)
    ci_low = np.array([v.quantile(p) for v, p in zip(sorted_domains, share_low, strict=True)])
    ci_high = np.array([v.quantile(p) for v, p in zip(sorted_domains, share_high, strict=True)])

    out = domains.frame(repeat=k)
    out["quantile"] = np.tile(probs, n_dom)
    out["estimate"] = estimate.ravel()
    with np.errstate(invalid="ignore"):
        out["se"] = ((ci_high - ci_low) / (2 * t)).ravel()
    out["ci_low"] = ci_low.reshape(n_dom, k).ravel()
    out["ci_high"] = ci_high.reshape(n_dom, k).ravel()
    out["n"] = np.repeat(n, k)
    out["n_below"] = np.column_stack(
        [np.bincount(dom, below[:, j], minlength=n_dom) for j in range(k)]
    ).ravel()
    out["weighted_n"] = np.repeat(weighted_n, k)
    out["df"] = np.repeat(dv.df, k)
    out["level"] = level
    out["ci_method"] = WOODRUFF
    return _blank_empty(out)


def ratios(
    data: pd.DataFrame,
    design: Design | BoundDesign,
    numerator: str,
    denominator: str,
    by: str | list[str] | None = None,
    level: float = 0.95,
    subset: str | np.ndarray | pd.Series | None = None,
) -> pd.DataFrame:
    """Ratio of the weighted totals of ``numerator`` and ``denominator`` per domain of
    ``by`` (R: ``svyratio(~numerator, ~denominator, design, na.rm = TRUE)``).

    The SE is Taylor's, with influence values w (y - R x) / X for the
    domain's total X of the denominator; the interval is t with the domain's
    df (R's ``confint.svyratio`` uses the normal unless given ``df``). A row
    missing either variable is not in the domain. A domain whose denominator
    total is 0 has no ratio: its numbers are missing.

    One row per domain: the ``by`` columns, ``estimate``, ``se``, ``ci_low``,
    ``ci_high``, ``n``, ``weighted_n``, ``df``, ``level``, ``ci_method``.
    """
    check_level(level)
    bound = as_bound(design, data)
    y = numeric_column(data, numerator, "a ratio needs numbers")
    x = numeric_column(data, denominator, "a ratio needs numbers")
    domains = domain_index(data, by, subset)
    rows = np.flatnonzero(~np.isnan(y) & ~np.isnan(x) & (domains.code >= 0))
    dom = domains.code[rows]
    w = bound.weights[rows]
    yr, xr = y[rows], x[rows]
    n_dom = domains.count

    n = np.bincount(dom, minlength=n_dom)
    weighted_n = np.bincount(dom, w, minlength=n_dom)
    total_x = np.bincount(dom, w * xr, minlength=n_dom)
    no_ratio = total_x == 0
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.bincount(dom, w * yr, minlength=n_dom) / total_x
    # A domain without a ratio contributes nothing (its numbers are blanked).
    safe_x = np.where(no_ratio, 1.0, total_x)
    influence = w * (yr - np.where(no_ratio, 0.0, ratio)[dom] * xr) / safe_x[dom]
    dv = domain_variance(bound, rows, dom, influence, n_dom)
    se = np.sqrt(dv.variance[:, 0])
    t = t_quantile(level, dv.df)

    out = domains.frame(repeat=1)
    out["estimate"] = ratio
    out["se"] = se
    out["ci_low"] = ratio - t * se
    out["ci_high"] = ratio + t * se
    out["n"] = n
    out["weighted_n"] = weighted_n
    out["df"] = dv.df
    out["level"] = level
    out["ci_method"] = T_INTERVAL
    out.loc[no_ratio, ["estimate", "se", "ci_low", "ci_high"]] = np.nan
    return _blank_empty(out)


def _probabilities(probs) -> np.ndarray:
    values = np.atleast_1d(np.asarray(probs, dtype=object))
    try:
        p = values.astype(np.float64)
    except (TypeError, ValueError):
        p = np.array([np.nan])
    if len(p) == 0 or not np.all((p >= 0) & (p <= 1)) or values.ndim != 1:
        raise DataError(
            f"quantile probabilities {list(values)!r} must be numbers between 0 and 1, "
            "e.g. [0.25, 0.5, 0.75]"
        )
    return p


def category_label(value) -> str:
    """A category as text: 1.0 -> "1", "on_site" -> "on_site"."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def numeric_column(data: pd.DataFrame, var: str, why: str) -> np.ndarray:
    """Column ``var`` as float64 with NaN where missing, or a DataError saying ``why``."""
    require_columns(data, [var])
    col = data[var]
    if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
        raise DataError(f"column {var!r} is not numeric; {why}")
    x = col.to_numpy(dtype=np.float64, na_value=np.nan)
    if np.isinf(x).any():
        raise DataError(
            f"column {var!r} has {int(np.isinf(x).sum())} infinite value(s); set them to "
            "missing or fix them"
        )
    return x


def require_columns(data: pd.DataFrame, columns: list[str]) -> None:
    for c in columns:
        if c not in data.columns:
            shown = ", ".join(map(str, data.columns[:12]))
            raise DataError(f"column {c!r} is not in the data; columns are: {shown}")


def _category_codes(col: pd.Series, name: str) -> tuple[np.ndarray, pd.Index]:
    if isinstance(col.dtype, pd.CategoricalDtype):
        categories = col.cat.categories
        codes = col.cat.codes.to_numpy()
    else:
        codes, categories = pd.factorize(col, sort=True)
    if len(categories) > MAX_CATEGORIES:
        raise DataError(
            f"column {name!r} has {len(categories)} distinct values, more than "
            f"{MAX_CATEGORIES} categories for shares; for a continuous variable estimate means "
            "(--mean)"
        )
    if len(categories) == 0:
        raise DataError(f"column {name!r} has no non-missing values; nothing to estimate")
    return codes.astype(np.intp, copy=False), categories


@dataclass(frozen=True)
class DomainIndex:
    code: np.ndarray  # per row, -1 outside every domain (missing by value)
    labels: pd.DataFrame  # one row per domain, the by columns
    count: int

    def frame(self, repeat: int) -> pd.DataFrame:
        if self.labels.shape[1] == 0:
            return pd.DataFrame(index=range(self.count * repeat))
        return self.labels.loc[self.labels.index.repeat(repeat)].reset_index(drop=True)


def domain_index(
    data: pd.DataFrame,
    by: str | list[str] | None,
    subset: str | np.ndarray | pd.Series | None = None,
) -> DomainIndex:
    """Domains are the combinations of ``by`` values that occur, sorted.

    Factorising each column and combining the codes is several times faster
    than a pandas groupby on large frames. Rows with a missing ``by`` value
    belong to no domain (as in R's svyby), and so do rows outside ``subset``
    (see `subset_rows`); the domains are those that occur in the subset.
    """
    outside = np.zeros(len(data), dtype=bool) if subset is None else ~subset_rows(data, subset)
    if by is None or by == [] or by == "":
        code = np.where(outside, -1, 0).astype(np.intp)
        return DomainIndex(code, pd.DataFrame(index=[0]), 1)
    by = [by] if isinstance(by, str) else list(by)
    require_columns(data, by)
    codes, uniques = [], []
    for c in by:
        code, values = pd.factorize(data[c], sort=True)
        codes.append(code)
        uniques.append(values)
    sizes = tuple(max(len(u), 1) for u in uniques)
    missing = outside
    for code in codes:
        missing |= code < 0
    combined = np.ravel_multi_index([np.where(missing, 0, c) for c in codes], sizes)
    present = np.bincount(combined[~missing], minlength=int(np.prod(sizes))) > 0
    dense = np.cumsum(present) - 1
    code = np.where(missing, -1, dense[combined]).astype(np.intp)
    parts = np.unravel_index(np.flatnonzero(present), sizes)
    labels = pd.DataFrame(
        {c: values.take(part) for c, values, part in zip(by, uniques, parts, strict=True)}
    )
    return DomainIndex(code, labels, len(labels))


def subset_rows(data: pd.DataFrame, subset: str | np.ndarray | pd.Series) -> np.ndarray:
    """The rows of R's ``subset(design, expr)``, as a boolean mask of ``data``'s rows.

    ``subset`` is a pandas expression over the columns (``DataFrame.eval``
    with the python engine, e.g. ``"stype == 'E' and meals > 50"``) or a
    boolean mask of one value per row. A missing result (a comparison with
    pandas' ``NA``) is outside the subset, as R's ``subset()`` treats ``NA``.
    """
    if isinstance(subset, str):
        what = f"subset {subset!r}"
        try:
            result = data.eval(subset, engine="python")
        except Exception as error:  # any error of the user's expression: one line naming it
            reason = " ".join(str(error).split()) or type(error).__name__
            raise DataError(
                f"cannot evaluate {what}: {reason}; write a pandas expression over the "
                "columns, e.g. \"stype == 'E' and meals > 50\""
            ) from None
    else:
        what = "the subset mask"
        result = subset
    if isinstance(result, bool | np.bool_):  # e.g. "True": every row
        return np.full(len(data), bool(result))
    if isinstance(result, pd.DataFrame):  # an assignment such as "x = 1"
        raise DataError(f"{what} is an assignment, not a condition; write e.g. \"stype == 'E'\"")
    values = pd.Series(result.to_numpy() if isinstance(result, pd.Series) else np.asarray(result))
    if values.ndim != 1 or len(values) != len(data):
        raise DataError(
            f"{what} has {len(values)} value(s) but the data has {len(data)} rows; "
            "give one true/false value per row"
        )
    logical = pd.api.types.is_bool_dtype(values.dtype)
    if not logical and values.dtype == object:
        known = values.dropna()
        logical = known.map(type).isin([bool, np.bool_]).all()
    if not logical:
        known = values.dropna()
        example = known.iloc[0] if len(known) else None
        example = example.item() if isinstance(example, np.generic) else example
        raise DataError(
            f"{what} is not true/false (dtype {values.dtype}, e.g. {example!r}); write a "
            "condition such as \"stype == 'E'\""
        )
    return values.fillna(False).to_numpy(dtype=bool)


def _deff(variance, unit_var, n, weighted_n):
    """R ``svymean(deff=TRUE)``: variance over that of simple random sampling
    without replacement of n from a population of size sum(weights)."""
    n = n.astype(np.float64)[:, None]
    total = weighted_n[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        srs = unit_var * n / (n - 1) * (total - n) / (total * n)
        deff = variance / srs
    return np.where(total < n, np.nan, deff)


def _profile_inputs(w, dom, cat, p, weighted_n, n, rows_fitted, n_dom, k) -> ProfileInputs:
    """What R's profile of ``svyglm(I(var == j) ~ 1, family=quasibinomial)`` uses.

    The dispersion is the design-based variance of the Pearson residuals,
    which survey computes without the sampling weights, (y - p)/sqrt(p(1 - p)):
    at the weighted mean p that is n/(n - 1) in every domain.

    ``rows_fitted`` is the number of rows svyglm fits: the domain's, or for a
    calibrated design every row with a value (R's subset of a calibrated
    design keeps the other rows at weight 0). The weights are rescaled to mean
    1 over those rows, which sets the deviance's scale and the profile's grid.

    R scales the profile by the ratio of the design-based to the model-based
    variance of the intercept, and glm reports the model-based one with the
    working weights of its last IRLS iteration, i.e. at the previous iterate.
    Replaying glm.fit's iterations (start, convergence rule) recovers that
    iterate, so the limits equal R's rather than differing in the 5th digit.
    """
    cell = dom * k + cat

    def per_cell(hit_values, miss_values):
        # Sum over the domain of a row function of y = 1[cat == j], per j.
        hit = np.bincount(cell, hit_values, minlength=n_dom * k).reshape(n_dom, k)
        miss_hit = np.bincount(cell, miss_values, minlength=n_dom * k).reshape(n_dom, k)
        miss_all = np.bincount(dom, miss_values, minlength=n_dom)[:, None]
        return hit + miss_all - miss_hit

    with np.errstate(invalid="ignore", divide="ignore"):
        scaled = w / (weighted_n / rows_fitted)[dom]  # svyglm: weights of mean 1
        # binomial()$initialize: mustart = (w y + 0.5) / (w + 1)
        m1 = (scaled + 0.5) / (scaled + 1)
        m0 = 0.5 / (scaled + 1)
        wz = per_cell(
            scaled * (m1 * (1 - m1) * special.logit(m1) + (1 - m1)),
            scaled * (m0 * (1 - m0) * special.logit(m0) - m0),
        )
        ww = per_cell(scaled * m1 * (1 - m1), scaled * m0 * (1 - m0))
        dev_old = per_cell(-2 * scaled * np.log(m1), -2 * scaled * np.log1p(-m0))
        nn = n.astype(np.float64)[:, None]
        fitted = np.asarray(rows_fitted, dtype=np.float64)[:, None]  # the sum of `scaled`

        def deviance(mu):
            return -2 * fitted * (p * np.log(mu) + (1 - p) * np.log1p(-mu))

        beta = wz / ww
        mu_weights = np.full(p.shape, np.nan)  # first iterate: per-row weights
        converged = np.zeros(p.shape, dtype=bool)
        for _ in range(25):  # glm.control(): epsilon 1e-8, maxit 25
            mu = special.expit(beta)
            dev = deviance(mu)
            now = ~converged & (np.abs(dev - dev_old) / (np.abs(dev) + 0.1) < 1e-8)
            converged |= now
            if converged.all():
                break
            step = ~converged
            mu_weights = np.where(step, mu, mu_weights)
            beta = np.where(step, beta + (p - mu) / (mu * (1 - mu)), beta)
            dev_old = np.where(step, dev, dev_old)
        # Converged at the first iterate (weights varied by row): use p.
        mu_weights = np.where(np.isnan(mu_weights), p, mu_weights)
        dispersion = np.broadcast_to(nn / (nn - 1), p.shape)
    return ProfileInputs(
        n=np.repeat(np.asarray(rows_fitted, dtype=np.float64), k),
        dispersion=dispersion.ravel(),
        beta_hat=beta.ravel(),
        mu_weights=mu_weights.ravel(),
    )


def _blank_empty(out: pd.DataFrame) -> pd.DataFrame:
    empty = out["n"] == 0
    if empty.any():
        cols = [c for c in ("estimate", "se", "ci_low", "ci_high", "deff", "df") if c in out]
        out.loc[empty, cols] = np.nan
    return out
