"""Comparisons: changes between waves, differences between groups, chi-square tests.

The COVID-19 waves re-interview the same people. With the waves stacked (one
row per respondent per wave) and the respondent as PSU, a difference between
two waves carries the covariance of the two estimates through the shared
PSUs, as R survey does with

    est <- svyby(~var, ~by + over, subset(des, !is.na(var)), svymean, covmat = TRUE)
    svycontrast(est, <+1 for one domain, -1 for the other>)

Every difference here is one of two domain means (shares of a 0/1 indicator
are its mean): ``diff = estimate_a - estimate_b`` with variance
``V_a + V_b - 2 C_ab`` from `neacovid.survey.taylor.domain_covariance`. Domains keep
the full design (R ``subset()`` semantics); a missing ``var`` takes the row out
of the domain, a missing ``over``/``by``/``group`` value out of every domain,
and so does ``subset=`` (a pandas expression or a boolean mask,
`neacovid.survey.estimate.subset_rows`) for the rows outside it: R's
``subset(design, expr)`` before ``svyby``.

Degrees of freedom, CI and p-value. ``svycontrast()`` returns a ``svystat``
whose ``confint()`` defaults to ``df = Inf`` (normal quantiles) and which has
no p-value. As for domain estimates (`neacovid.survey.estimate`, R's ``svyciprop``),
we use Student t with the design df of the rows that make the estimate: for
a difference, the rows of the two domains, ``df = degf(design[in_a | in_b, ])``
= PSUs with members in either domain minus the strata they lie in. The CI is
``diff -/+ qt(1 - (1 - level)/2, df) * se`` and ``p_value = 2 pt(-|diff/se|, df)``.
(R's ``svyttest`` on those rows gives the same t statistic, with df - 1.)

Multiple comparisons: every table carries the raw ``p_value`` and ``p_holm``,
Holm's step-down adjustment (R ``p.adjust(p, "holm")``) over the rows of that
table whose p-value is defined.

``se_independent`` is the SE the difference would have if the two domains
were independent samples, sqrt(se_a^2 + se_b^2) with the per-domain SEs of
`neacovid.survey.estimate.means`; comparing it with ``se`` shows what the panel
covariance does.

`chisq` is R's ``svychisq(~row + col, design)`` with its default
``statistic = "F"`` (Rao-Scott second-order correction).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from neacovid.errors import DataError
from neacovid.survey.ci import check_level, t_quantile
from neacovid.survey.design import BoundDesign, Design, as_bound
from neacovid.survey.estimate import T_INTERVAL, domain_index, require_columns
from neacovid.survey.multitest import holm
from neacovid.survey.taylor import covariance_matrix, domain_covariance, domain_variance

TEST_COLUMNS = [
    "diff",
    "se",
    "ci_low",
    "ci_high",
    "p_value",
    "p_holm",
    "df",
    "se_independent",
]
# Columns after the by columns (and, for changes, the ``over`` column). ``n_with``
# and friends count the respondents with the outcome (value 1) of a 0/1 variable;
# they are empty for other numbers. The disclosure rules need them.
CHANGE_COLUMNS = [
    "base",
    "estimate",
    "base_estimate",
    *TEST_COLUMNS,
    "n",
    "base_n",
    "n_with",
    "base_n_with",
    "level",
    "ci_method",
]
CONTRAST_COLUMNS = [
    "a",
    "b",
    "estimate_a",
    "estimate_b",
    *TEST_COLUMNS,
    "n_a",
    "n_b",
    "n_with_a",
    "n_with_b",
    "level",
    "ci_method",
]


# --------------------------------------------------------------------------- API


def changes(
    data: pd.DataFrame,
    design: Design | BoundDesign,
    var: str,
    over: str = "wave",
    base: object = "2019",
    by: str | list[str] | None = None,
    level: float = 0.95,
    subset: str | np.ndarray | pd.Series | None = None,
) -> pd.DataFrame:
    """Change of the mean (share) of ``var`` between levels of ``over``, per ``by`` group.

    With ``base`` a level of ``over``: every other level against it. With
    ``base=None``: every level against the previous one (sorted order, or the
    category order of a categorical column).

    Returns one row per ``by`` group and compared level: the ``by`` columns,
    ``over`` (the level), ``base`` (the level it is compared with),
    ``estimate``, ``base_estimate``, ``diff`` (= estimate - base_estimate),
    ``se``, ``ci_low``, ``ci_high``, ``p_value``, ``p_holm``, ``df``,
    ``se_independent``, ``n``, ``base_n`` (rows with a value of ``var``).
    A group without observations at either level gives missing numbers.
    """
    bound, by_cols, x = _prepare(data, design, var, "over", over, by, level)
    over_code, over_levels = pd.factorize(data[over], sort=True)
    n_levels = len(over_levels)
    if n_levels < 2:
        raise DataError(
            f"column {over!r} has {n_levels} level(s); a change needs at least two "
            f"(levels: {_preview(over_levels)})"
        )
    if base is None:
        level_pairs = [(i, i - 1) for i in range(1, n_levels)]
    else:
        b = _find_level(over_levels, base, over)
        level_pairs = [(i, b) for i in range(n_levels) if i != b]

    groups = domain_index(data, by_cols, subset)
    in_domain = (groups.code >= 0) & (over_code >= 0) & ~np.isnan(x)
    dom = np.where(in_domain, groups.code * n_levels + over_code, -1)
    n_dom = groups.count * n_levels
    cur = np.array([i for i, _ in level_pairs], dtype=np.intp)
    ref = np.array([j for _, j in level_pairs], dtype=np.intp)
    g = np.repeat(np.arange(groups.count), len(level_pairs))
    left = g * n_levels + np.tile(cur, groups.count)
    right = g * n_levels + np.tile(ref, groups.count)
    res = _differences(bound, x, dom, n_dom, left, right, level)

    out = groups.frame(repeat=len(level_pairs))
    out[over] = np.asarray(over_levels.take(np.tile(cur, groups.count)))
    out["base"] = np.asarray(over_levels.take(np.tile(ref, groups.count)))
    out["estimate"] = res.estimate_left
    out["base_estimate"] = res.estimate_right
    for c in TEST_COLUMNS:
        out[c] = getattr(res, c)
    out["n"] = res.n_left
    out["base_n"] = res.n_right
    out["n_with"] = res.with_left
    out["base_n_with"] = res.with_right
    out["level"] = level
    out["ci_method"] = T_INTERVAL
    return out


def contrast(
    data: pd.DataFrame,
    design: Design | BoundDesign,
    var: str,
    group: str,
    a,
    b,
    by: str | list[str] | None = None,
    level: float = 0.95,
    subset: str | np.ndarray | pd.Series | None = None,
) -> pd.DataFrame:
    """Difference in the mean (share) of ``var`` between two groups, per ``by`` group.

    ``a`` and ``b`` are a value of ``group`` or a list of values (``"15-24"``
    against ``["25-34", "35-44"]``): the groups are the domains
    ``group in a`` and ``group in b`` (the pooled mean of the listed values,
    not an average of their means). Rows in neither stay in the design. Use
    ``by="wave"`` for a contrast within each wave; ``by=None`` pools all rows.

    Returns one row per ``by`` group: the ``by`` columns, ``a`` and ``b``
    (labels of the two groups), ``estimate_a``, ``estimate_b``, ``diff``
    (= estimate_a - estimate_b), ``se``, ``ci_low``, ``ci_high``, ``p_value``,
    ``p_holm``, ``df``, ``se_independent``, ``n_a``, ``n_b``.
    """
    bound, by_cols, x = _prepare(data, design, var, "group", group, by, level)
    a_values, b_values, side = _sides(data, group, a, b)

    groups = domain_index(data, by_cols, subset)
    in_domain = (groups.code >= 0) & (side >= 0) & ~np.isnan(x)
    dom = np.where(in_domain, groups.code * 2 + side, -1)
    left = np.arange(groups.count) * 2
    res = _differences(bound, x, dom, groups.count * 2, left, left + 1, level)

    out = groups.frame(repeat=1)
    out["a"] = _label(a_values)
    out["b"] = _label(b_values)
    out["estimate_a"] = res.estimate_left
    out["estimate_b"] = res.estimate_right
    for c in TEST_COLUMNS:
        out[c] = getattr(res, c)
    out["n_a"] = res.n_left
    out["n_b"] = res.n_right
    out["n_with_a"] = res.with_left
    out["n_with_b"] = res.with_right
    out["level"] = level
    out["ci_method"] = T_INTERVAL
    return out


def _sides(data: pd.DataFrame, group: str, a, b) -> tuple[list, list, np.ndarray]:
    """(values of a, values of b, per row 0 for a, 1 for b, -1 for neither)."""
    col = data[group]
    a_values, b_values = _values(a), _values(b)
    present = pd.Series(pd.unique(col.dropna()))
    for name, values in (("a", a_values), ("b", b_values)):
        absent = [v for v in values if not present.isin([v]).any()]
        if absent:
            raise DataError(
                f"{name}={absent[0]!r} is not a value of column {group!r}; its values are: "
                f"{_preview(sorted(present, key=str))} (values are compared as stored, "
                "e.g. 1 is not '1')"
            )
    both = set(map(_key, a_values)) & set(map(_key, b_values))
    if both:
        raise DataError(
            f"a and b share the value(s) {sorted(both)!r} of column {group!r}; "
            "the two groups must not overlap"
        )
    in_a = col.isin(a_values).to_numpy()
    in_b = col.isin(b_values).to_numpy()
    return a_values, b_values, np.where(in_a, 0, np.where(in_b, 1, -1))


DID_COLUMNS = [
    "base",
    "a",
    "b",
    "estimate_a",
    "base_estimate_a",
    "estimate_b",
    "base_estimate_b",
    "did",
    "se",
    "ci_low",
    "ci_high",
    "p_value",
    "p_holm",
    "df",
    "n_a",
    "base_n_a",
    "n_b",
    "base_n_b",
    "n_with_a",
    "base_n_with_a",
    "n_with_b",
    "base_n_with_b",
    "level",
    "ci_method",
]


def differences_in_differences(
    data: pd.DataFrame,
    design: Design | BoundDesign,
    var: str,
    group: str,
    a,
    b,
    over: str = "wave",
    base: object = "2019",
    by: str | list[str] | None = None,
    level: float = 0.95,
    subset: str | np.ndarray | pd.Series | None = None,
) -> pd.DataFrame:
    """Whether ``var`` changed more in group ``a`` than in group ``b`` since ``base``.

    For every level w of ``over`` other than ``base`` (and every ``by`` group):
    did = (mean(a, w) - mean(a, base)) - (mean(b, w) - mean(b, base)), the
    contrast (+1, -1, -1, +1) of four domain means, with its variance from their
    joint covariance on the design: with the panel id as PSU the same people in
    both waves carry their correlation, as R's ``svyby(covmat = TRUE)`` +
    ``svycontrast``. Use a group fixed at the base (age group in 2019) to
    follow the same people; a group that changes over time mixes people.

    ``df`` is that of the design restricted to the rows of the four domains;
    the interval is t with it, as for `changes`. Columns: the ``by`` columns,
    ``over`` (w), then `DID_COLUMNS`.
    """
    bound, by_cols, x = _prepare(data, design, var, "group", group, by, level)
    if over == group or over in by_cols:
        raise DataError(f"over={over!r} is also the group or a by column; use another column")
    require_columns(data, [over])
    a_values, b_values, side = _sides(data, group, a, b)
    over_code, over_levels = pd.factorize(data[over], sort=True)
    b_level = _find_level(over_levels, base, over)
    n_levels = len(over_levels)
    groups = domain_index(data, by_cols, subset)
    in_domain = (groups.code >= 0) & (side >= 0) & (over_code >= 0) & ~np.isnan(x)
    dom = np.where(in_domain, (groups.code * 2 + side) * n_levels + over_code, -1)
    n_dom = groups.count * 2 * n_levels

    rows = np.flatnonzero(dom >= 0)
    d = dom[rows]
    w = bound.weights[rows]
    xr = x[rows]
    n = np.bincount(d, minlength=n_dom)
    binary = np.isin(xr, (0.0, 1.0)).all()
    ones = (
        np.bincount(d, xr == 1, minlength=n_dom).astype(float) if binary else np.full(n_dom, np.nan)
    )
    weighted_n = np.bincount(d, w, minlength=n_dom)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(d, w * xr, minlength=n_dom) / weighted_n
        influence = w * (xr - mean[d]) / weighted_n[d]

    waves = [i for i in range(n_levels) if i != b_level]
    g = np.repeat(np.arange(groups.count), len(waves))
    level_index = np.tile(waves, groups.count)

    def domain(side_: int, level_) -> np.ndarray:
        return (g * 2 + side_) * n_levels + level_

    four = [domain(0, level_index), domain(0, b_level), domain(1, level_index), domain(1, b_level)]
    sign = np.array([1.0, -1.0, -1.0, 1.0])
    pairs = [(i, j) for i in range(4) for j in range(i, 4)]
    left = np.concatenate([four[i] for i, _ in pairs])
    right = np.concatenate([four[j] for _, j in pairs])
    pc = domain_covariance(bound, rows, d, influence, n_dom, left, right)
    m = len(g)
    variance = np.zeros(m)
    for k, (i, j) in enumerate(pairs):
        cov = pc.covariance[k * m : (k + 1) * m]
        variance += sign[i] * sign[j] * cov * (1 if i == j else 2)
    did = sum(sign[i] * mean[four[i]] for i in range(4))
    se = np.sqrt(np.maximum(variance, 0.0))
    df = _union_df(bound, rows, d, four)
    empty = np.any([n[f] == 0 for f in four], axis=0)
    for values in (did, se, df):
        values[empty] = np.nan
    t = t_quantile(level, df)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = 2 * stats.t.sf(np.abs(did / se), np.where(df > 0, df, np.nan))

    out = groups.frame(repeat=len(waves))
    out[over] = np.asarray(over_levels.take(level_index))
    out["base"] = over_levels[b_level]
    out["a"] = _label(a_values)
    out["b"] = _label(b_values)
    for name, f in (
        ("estimate_a", four[0]),
        ("base_estimate_a", four[1]),
        ("estimate_b", four[2]),
        ("base_estimate_b", four[3]),
    ):
        out[name] = np.where(n[f] > 0, mean[f], np.nan)
    out["did"] = did
    out["se"] = se
    out["ci_low"] = did - t * se
    out["ci_high"] = did + t * se
    out["p_value"] = p
    out["p_holm"] = holm(p)
    out["df"] = df
    for name, f in (
        ("n_a", four[0]),
        ("base_n_a", four[1]),
        ("n_b", four[2]),
        ("base_n_b", four[3]),
    ):
        out[name] = n[f]
        out[name.replace("n_", "n_with_", 1)] = ones[f]
    out["level"] = level
    out["ci_method"] = T_INTERVAL
    return out[[*groups.labels.columns, over, *DID_COLUMNS]]


def _union_df(bound: BoundDesign, rows: np.ndarray, d: np.ndarray, domains) -> np.ndarray:
    """Per set of domains (the k-th of each array in ``domains``): PSUs with a member in
    any of them minus the strata those PSUs lie in (R: degf of the design restricted
    to their rows)."""
    unit = bound.unit_code[rows]
    out = np.empty(len(domains[0]))
    for k in range(len(out)):
        inside = np.isin(d, [f[k] for f in domains])
        units = np.unique(unit[inside])
        out[k] = len(units) - len(np.unique(bound.unit_stratum[units])) if len(units) else np.nan
    return out


@dataclass(frozen=True)
class ChisqTest:
    """Rao-Scott test of independence of two categorical variables (R ``svychisq``).

    statistic: the second-order corrected F, pearson / trace(Delta).
    ndf, ddf: its degrees of freedom, d0 and d0 * (PSUs - strata), with
        d0 = trace(Delta)^2 / trace(Delta^2) (both non-integer in general).
    p_value: upper tail of F(ndf, ddf) at ``statistic``.
    pearson: Pearson's X^2 of the weighted table rescaled to the number of
        rows of the data (R: ``chisq.test(svytable(~row + col, Ntotal = N))``).
    mean_deff: trace(Delta) / ((r - 1)(c - 1)), the mean generalised design
        effect (first-order Rao-Scott divisor).
    """

    row: str
    col: str
    statistic: float
    ndf: float
    ddf: float
    p_value: float
    pearson: float
    mean_deff: float

    def frame(self) -> pd.DataFrame:
        """One-row table, with ``p_holm`` (= ``p_value`` for a single test)."""
        out = pd.DataFrame([self.__dict__])
        out["p_holm"] = holm(out["p_value"].to_numpy())
        return out


def chisq(data: pd.DataFrame, design: Design | BoundDesign, row: str, col: str) -> ChisqTest:
    """Design-based test of independence of ``row`` and ``col`` (R ``svychisq`` default).

    Rows missing either variable are left out of the table (R ``na.rm=TRUE``).
    Returns a `ChisqTest` (frozen dataclass; ``.frame()`` gives a one-row
    DataFrame).
    """
    bound = as_bound(design, data)
    require_columns(data, [row, col])
    if row == col:
        raise DataError(f"row and col are both {row!r}; test two different columns")
    r_code, r_levels = pd.factorize(data[row], sort=True)
    c_code, c_levels = pd.factorize(data[col], sort=True)
    nr, nc = len(r_levels), len(c_levels)
    for name, n in ((row, nr), (col, nc)):
        if n < 2:
            raise DataError(
                f"column {name!r} has {n} distinct value(s); a test of independence "
                "needs at least two on each side"
            )
    rows = np.flatnonzero((r_code >= 0) & (c_code >= 0))
    k = nr * nc
    # Cell order as R's interaction(row, col): the row level varies fastest.
    cell = c_code[rows] * nr + r_code[rows]
    w = bound.weights[rows]
    total = w.sum()
    p = np.bincount(cell, w, minlength=k) / total
    table = p.reshape(nc, nr).T
    for name, levels, margin in ((row, r_levels, table.sum(1)), (col, c_levels, table.sum(0))):
        empty = np.flatnonzero(margin == 0)
        if len(empty):
            other = col if name == row else row
            raise DataError(
                f"value {levels[empty[0]]!r} of column {name!r} occurs only where {other!r} "
                "is missing; drop or recode it before testing"
            )

    scaled = w / total
    influence = -np.outer(scaled, p)
    influence[np.arange(len(rows)), cell] += scaled
    v, _ = covariance_matrix(bound, rows, influence)

    n_total = len(data)  # R: Ntotal = nrow(model.matrix(...)), NA rows included
    observed = table * n_total
    expected = np.outer(observed.sum(1), observed.sum(0)) / n_total
    pearson = float(((observed - expected) ** 2 / expected).sum())

    c_mat = _interaction_contrasts(nr, nc)
    with np.errstate(divide="ignore"):
        inv_p = np.where(p == 0, 0.0, 1.0 / p)
    scaled_c = c_mat * inv_p[:, None]
    denom = c_mat.T @ scaled_c / n_total
    numer = scaled_c.T @ v @ scaled_c
    delta = np.linalg.solve(denom, numer)
    trace = float(np.trace(delta))
    d0 = trace**2 / float(np.trace(delta @ delta))
    nu = bound.n_psu - bound.n_strata
    statistic = pearson / trace
    return ChisqTest(
        row=row,
        col=col,
        statistic=statistic,
        ndf=d0,
        ddf=d0 * nu,
        p_value=float(stats.f.sf(statistic, d0, d0 * nu)),
        pearson=pearson,
        mean_deff=trace / ((nr - 1) * (nc - 1)),
    )


# --------------------------------------------------------------------------- internals


@dataclass(frozen=True)
class _Differences:
    estimate_left: np.ndarray
    estimate_right: np.ndarray
    diff: np.ndarray
    se: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    p_value: np.ndarray
    p_holm: np.ndarray
    df: np.ndarray
    se_independent: np.ndarray
    n_left: np.ndarray
    n_right: np.ndarray
    with_left: np.ndarray  # respondents with value 1 (a 0/1 outcome), else NaN
    with_right: np.ndarray


def _differences(
    bound: BoundDesign,
    x: np.ndarray,
    dom: np.ndarray,
    n_dom: int,
    left: np.ndarray,
    right: np.ndarray,
    level: float,
) -> _Differences:
    """Domain means and the differences mean[left] - mean[right] with their tests."""
    rows = np.flatnonzero(dom >= 0)
    d = dom[rows]
    w = bound.weights[rows]
    xr = x[rows]
    n = np.bincount(d, minlength=n_dom)
    if np.isin(xr, (0.0, 1.0)).all():
        ones = np.bincount(d, xr == 1, minlength=n_dom).astype(np.float64)
    else:
        ones = np.full(n_dom, np.nan)
    weighted_n = np.bincount(d, w, minlength=n_dom)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(d, w * xr, minlength=n_dom) / weighted_n
        influence = w * (xr - mean[d]) / weighted_n[d]

    m = len(left)
    pc = domain_covariance(
        bound,
        rows,
        d,
        influence,
        n_dom,
        np.concatenate([left, right, left]),
        np.concatenate([left, right, right]),
    )
    cov = pc.covariance
    variance = np.maximum(cov[:m] + cov[m : 2 * m] - 2 * cov[2 * m :], 0.0)
    df = pc.df[2 * m :].copy()
    empty = (n[left] == 0) | (n[right] == 0)
    diff = mean[left] - mean[right]
    se = np.sqrt(variance)
    if bound.design.lonely_psu == "average":
        # svyby's per-domain SEs count the strata of the domain; the covariance
        # matrix (covmat=TRUE) counts those of all domains together.
        dv = domain_variance(bound, rows, d, influence, n_dom).variance[:, 0]
        var_left, var_right = dv[left], dv[right]
    else:
        var_left, var_right = cov[:m], cov[m : 2 * m]
    se_independent = np.sqrt(np.maximum(var_left, 0.0) + np.maximum(var_right, 0.0))
    for values in (diff, se, df, se_independent):
        values[empty] = np.nan
    t = t_quantile(level, df)
    with np.errstate(invalid="ignore", divide="ignore"):
        statistic = np.abs(diff / se)
        p = 2 * stats.t.sf(statistic, np.where(df > 0, df, np.nan))
    return _Differences(
        estimate_left=np.where(n[left] > 0, mean[left], np.nan),
        estimate_right=np.where(n[right] > 0, mean[right], np.nan),
        diff=diff,
        se=se,
        ci_low=diff - t * se,
        ci_high=diff + t * se,
        p_value=p,
        p_holm=holm(p),
        df=df,
        se_independent=se_independent,
        n_left=n[left],
        n_right=n[right],
        with_left=ones[left],
        with_right=ones[right],
    )


def _prepare(data, design, var, role, column, by, level):
    """Checks shared by `changes` and `contrast`: (bound design, by columns, outcome)."""
    check_level(level)
    bound = as_bound(design, data)
    by_cols = _by_list(by)
    require_columns(data, [var, column, *by_cols])
    if column == var or column in by_cols:
        raise DataError(
            f"{role}={column!r} is also the analysis variable or a by column; "
            f"use a {role} column that is neither"
        )
    return bound, by_cols, _outcome(data, var)


def _outcome(data: pd.DataFrame, var: str) -> np.ndarray:
    """``var`` as float64 with NaN for missing; a 0/1 indicator, a boolean or a number."""
    col = data[var]
    if pd.api.types.is_bool_dtype(col):
        x = col.astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan)
    elif pd.api.types.is_numeric_dtype(col):
        x = col.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        values = col.dropna()
        example = values.iloc[0] if len(values) else None
        raise DataError(
            f"column {var!r} is not numeric (dtype {col.dtype}, e.g. {example!r}); "
            "changes and contrasts compare means, so give a 0/1 indicator or a number: "
            f"e.g. data[{var!r}].eq(<category>).astype(int) for the share of a category"
        )
    if np.isinf(x).any():
        raise DataError(f"column {var!r} has infinite values; set them to missing or fix them")
    if np.isnan(x).all():
        raise DataError(f"column {var!r} has no non-missing values; nothing to compare")
    return x


def _by_list(by: str | list[str] | None) -> list[str]:
    if by is None or by == "" or by == []:
        return []
    return [by] if isinstance(by, str) else list(by)


def _find_level(levels: pd.Index, base, over: str) -> int:
    """Position of ``base`` among the levels; "2019" also finds the number 2019."""
    hits = [i for i, v in enumerate(levels) if _same(v, base)]
    if not hits:
        hits = [i for i, v in enumerate(levels) if str(v) == str(base)]
    if len(hits) != 1:
        raise DataError(
            f"base={base!r} is not a level of column {over!r}; its levels are: "
            f"{_preview(levels)}. Pass one of them as base=, or base=None to compare "
            "each level with the previous one"
        )
    return hits[0]


def _same(value, target) -> bool:
    try:
        return bool(value == target)
    except (TypeError, ValueError):
        return False


def _values(spec) -> list:
    if isinstance(spec, str) or not isinstance(
        spec, Sequence | set | frozenset | pd.Index | np.ndarray
    ):
        return [spec]
    values = list(spec)
    if not values:
        raise DataError("a and b must each name at least one value of the group column")
    return values


def _key(value):
    return value.item() if isinstance(value, np.generic) else value


def _label(values: list) -> str:
    return ", ".join(str(_key(v)) for v in values)


def _preview(values, limit: int = 12) -> str:
    values = [str(v) for v in values]
    more = f", ... ({len(values)} in all)" if len(values) > limit else ""
    return ", ".join(values[:limit]) + more


def _interaction_contrasts(nr: int, nc: int) -> np.ndarray:
    """R's ``Cmat``: interaction columns of ~rows*cols, residualised on the main effects.

    ``qr.resid(qr(X1), X12[, -(1:(nr + nc - 1))])`` on the grid
    ``expand.grid(rows = 1:nr, cols = 1:nc)`` (treatment coding).
    """
    r = np.tile(np.arange(nr), nc)
    c = np.repeat(np.arange(nc), nr)
    main = [np.ones(nr * nc)]
    main += [(r == i).astype(float) for i in range(1, nr)]
    main += [(c == j).astype(float) for j in range(1, nc)]
    x1 = np.column_stack(main)
    inter = np.column_stack(
        [((r == i) & (c == j)).astype(float) for j in range(1, nc) for i in range(1, nr)]
    )
    q, _ = np.linalg.qr(x1)
    return inter - q @ (q.T @ inter)
