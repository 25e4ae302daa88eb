"""Taylor-linearisation variance of domain estimates, vectorised over domains.

An estimator hands over, for every row that belongs to a domain, its influence
values (one column per quantity, e.g. per category) and its domain index. The
variance of domain d is R survey's ``svyrecvar`` on the domain subset:

    V_d = sum_h  c_h * sum_{j in h} (Z_hjd - Zbar_hd)^2,   Zbar_hd = S_hd / n_h,

with Z_hjd the PSU totals of the influence values, S_hd their stratum sum,
n_h the number of PSUs of stratum h in the *full* design and
c_h = f_h n_h / (n_h - 1). PSUs of h without domain members count as zero
totals, which is what R's ``subset()`` does (it pads them with zeros), so every
domain keeps the full design. All domains are done in one pass of
``bincount`` over (stratum, domain) cells instead of a loop over domains.

Every routine centres before it squares: the sum over the PSUs that have
members is of (Z - Zbar)^2, and the PSUs without members add
(n_h - present) * Zbar^2. Summing squares first and subtracting S^2 / n_h
afterwards loses every digit when the strata differ by much more than the
PSUs within them (influence values with large stratum offsets).

Lonely PSUs (one PSU in the full design): "adjust" does not centre them (R's
deviation from zero), "remove" and "certainty" add nothing, "average" leaves
them out and multiplies the sum by strata / strata-that-are-not-lonely
(`BoundDesign.average_factor`). Certainty strata (sampling fraction 1) add
nothing.

Calibrated designs (`neacovid.survey.calibration`): the influence values are
replaced by their calibration residuals e = x - W M beta. Those are not zero
outside the domain, so instead of materialising them the variance is
assembled from the design's centred Gram matrices of x and of the PSU totals
A of W M:

    Var(e_d) = G_xx[d, d] - 2 beta_d' G_Ax[:, d] + beta_d' G_AA beta_d,

which costs a few sparse products instead of one dense column per domain. A
calibrated domain keeps every row of the design (R's ``[`` on a calibrated
design sets the weights of the other rows to zero), so "average" counts all
strata there. `covariance_matrix`, whose columns are few, computes the
residuals themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from neacovid.survey.design import BoundDesign

# A calibrated variance whose terms cancel to below this fraction of their
# size is rounding noise of a quantity the calibration fixes exactly (the
# share of a calibration cell, say): it is reported as 0.
_CANCELLED = 1e-12


@dataclass(frozen=True)
class DomainVariance:
    variance: np.ndarray  # (n_domains, n_columns)
    df: np.ndarray  # (n_domains,), float: PSUs minus strata with domain members
    n_psu: np.ndarray  # (n_domains,) PSUs with domain members
    n_strata: np.ndarray  # (n_domains,) strata with domain members


@dataclass(frozen=True)
class PairCovariance:
    covariance: np.ndarray  # (n_pairs,) Cov(estimate of left[k], estimate of right[k])
    df: np.ndarray  # (n_pairs,) PSUs minus strata with members of left[k] or right[k]
    n_psu: np.ndarray  # (n_pairs,) PSUs with members of either domain
    n_strata: np.ndarray  # (n_pairs,) strata with members of either domain


@dataclass(frozen=True)
class _Units:
    """PSU x domain totals of the influence values of the rows in a domain."""

    psu: np.ndarray  # (units,) PSU index in the full design
    domain: np.ndarray  # (units,)
    stratum: np.ndarray  # (units,)
    total: np.ndarray  # (units, k)


def _unit_totals(
    bound: BoundDesign, rows: np.ndarray, domain: np.ndarray, influence: np.ndarray, n_domains: int
) -> _Units:
    if bound.psu_code is None:
        return _Units(rows, domain, bound.stratum_code[rows], influence)
    key = bound.psu_code[rows].astype(np.int64) * n_domains + domain
    n_keys = bound.n_psu * n_domains
    if n_keys <= 4 * len(rows) + 1024:
        # Few PSU x domain cells: a dense bincount beats hashing the keys.
        used = np.bincount(key, minlength=n_keys) > 0
        unit_key = np.flatnonzero(used)
        unit_code = (np.cumsum(used) - 1)[key]
    else:
        unit_code, unit_key = pd.factorize(key)
    n_units = len(unit_key)
    k = influence.shape[1]
    total = np.empty((n_units, k))
    for j in range(k):
        total[:, j] = np.bincount(unit_code, influence[:, j], minlength=n_units)
    psu = (unit_key // n_domains).astype(np.intp)
    return _Units(psu, (unit_key % n_domains).astype(np.intp), bound.psu_stratum[psu], total)


def domain_variance(
    bound: BoundDesign,
    rows: np.ndarray,
    domain: np.ndarray,
    influence: np.ndarray,
    n_domains: int,
) -> DomainVariance:
    """Variance of domain estimates from row-level influence values.

    rows: indices (into the bound data) of the rows that are in a domain.
    domain: domain index (0..n_domains-1) of each of those rows.
    influence: (len(rows), k) influence values of those rows.
    """
    influence = np.asarray(influence, dtype=np.float64)
    if influence.ndim == 1:
        influence = influence[:, None]
    k = influence.shape[1]
    h, d = bound.n_strata, n_domains
    units = _unit_totals(bound, rows, domain, influence, d)
    cell = units.stratum * d + units.domain
    units_in_cell = np.bincount(cell, minlength=h * d).reshape(h, d)
    present = units_in_cell > 0
    cross = bound.cross_weight[:, None]
    mean_factor = bound.mean_factor[:, None]
    absent = bound.psus_per_stratum[:, None] - units_in_cell

    variance = np.empty((d, k))
    sums = np.empty((h, d, k))
    for j in range(k):
        s1 = np.bincount(cell, units.total[:, j], minlength=h * d).reshape(h, d)
        mean = s1 * mean_factor
        deviation = units.total[:, j] - mean.ravel()[cell]
        squares = np.bincount(cell, deviation * deviation, minlength=h * d).reshape(h, d)
        variance[:, j] = (cross * (squares + absent * mean * mean)).sum(axis=0)
        sums[:, :, j] = s1

    if bound.calibration is not None:
        # Columns of the calibrated parts: (domain, influence column) pairs.
        columns = d * k

        def spread(index):
            return index if k == 1 else np.repeat(index, k)

        def column_of(dom):
            return dom if k == 1 else (dom[:, None] * k + np.arange(k)).ravel()

        parts = _calibrated_parts(
            bound,
            rows=spread(rows),
            column=column_of(domain),
            values=influence.ravel(),
            unit_psu=spread(units.psu),
            unit_column=column_of(units.domain),
            unit_values=units.total.ravel(),
            sums=sums.reshape(h, columns),
            n_columns=columns,
        )
        diagonal = np.arange(columns)
        variance = _with_calibration(variance.ravel(), parts, diagonal, diagonal).reshape(d, k)
        variance *= bound.average_factor(np.ones(h, dtype=bool))
    elif bound.design.lonely_psu == "average":
        strata_in_domain = present.sum(axis=0)
        ok = (present & ~bound.lonely_strata[:, None]).sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            variance *= (strata_in_domain / ok)[:, None]

    strata_in_domain = present.sum(axis=0)
    psus_in_domain = units_in_cell.sum(axis=0)
    df = (psus_in_domain - strata_in_domain).astype(np.float64)
    df[psus_in_domain == 0] = np.nan
    return DomainVariance(variance=variance, df=df, n_psu=psus_in_domain, n_strata=strata_in_domain)


def domain_covariance(
    bound: BoundDesign,
    rows: np.ndarray,
    domain: np.ndarray,
    influence: np.ndarray,
    n_domains: int,
    left: np.ndarray,
    right: np.ndarray,
) -> PairCovariance:
    """Covariances of pairs of domain estimates, as R's ``svyby(covmat=TRUE)``.

    rows, domain, influence: as for `domain_variance`, with one influence
    value per row (each row belongs to one domain). left, right: domain
    indices of the pairs wanted; Var(left - right) is
    ``cov(l, l) + cov(r, r) - 2 cov(l, r)``. Rows of different domains in the
    same PSU (a panel respondent seen in two waves) make the covariance;
    the strata add the centring term even when no PSU is shared.

    Per stratum, centred first: with m the stratum means of the PSU totals,
    sum_j (Z_jl - m_l)(Z_jr - m_r) is the sum over PSUs with members of both
    domains of the centred products, minus m_r times the centred totals of
    PSUs with members of l only (and vice versa), plus m_l m_r for each PSU
    with members of neither. The PSU-by-domain totals form sparse matrices,
    so every part is a sparse product: no loop over rows, PSUs or pairs.
    ``df`` is the df of the design restricted to the rows of the two domains
    (R: ``degf(design[in_left | in_right, ])``).
    """
    influence = np.asarray(influence, dtype=np.float64).reshape(-1, 1)
    left = np.asarray(left, dtype=np.intp)
    right = np.asarray(right, dtype=np.intp)
    h, d = bound.n_strata, n_domains
    units = _unit_totals(bound, rows, domain, influence, d)
    total = units.total[:, 0]
    cell = units.stratum * d + units.domain
    n_cell = np.bincount(cell, minlength=h * d).reshape(h, d)
    sums = np.bincount(cell, total, minlength=h * d).reshape(h, d)
    mean = sums * bound.mean_factor[:, None]
    centred = total - mean.ravel()[cell]
    residual = np.bincount(cell, centred, minlength=h * d).reshape(h, d)

    n_psu_all = bound.n_psu
    cross = bound.cross_weight
    psu_cross = cross[bound.unit_stratum]

    def matrix(values, columns, width):
        return sparse.csr_array((values, (units.psu, columns)), shape=(n_psu_all, width))

    x_hat = matrix(centred, units.domain, d)
    presence = matrix(np.ones(len(total)), units.domain, d)
    by_stratum = matrix(np.ones(len(total)), cell, h * d)  # presence, columns (stratum, domain)
    products = (x_hat.T @ (sparse.diags_array(psu_cross) @ x_hat)).tocsr()
    both_x = (x_hat.T @ by_stratum).tocsr()  # [l, (h, r)]: centred totals of l where r too
    both_n = (presence.T @ by_stratum).tocsr()  # [l, (h, r)]: PSUs with members of both

    strata = np.arange(h)
    pair_l = np.repeat(left, h)
    pair_r = np.repeat(right, h)
    at = np.tile(strata, len(left)) * d
    shape = (len(left), h)
    both_xl = _pick(both_x, pair_l, at + pair_r).reshape(shape).T
    both_xr = _pick(both_x, pair_r, at + pair_l).reshape(shape).T
    both = _pick(both_n, pair_l, at + pair_r).reshape(shape).T
    only_l = residual[:, left] - both_xl
    only_r = residual[:, right] - both_xr
    neither = bound.psus_per_stratum[:, None] - n_cell[:, left] - n_cell[:, right] + both
    per_stratum = (
        -mean[:, right] * only_l - mean[:, left] * only_r + mean[:, left] * mean[:, right] * neither
    )
    covariance = _pick(products, left, right) + (cross[:, None] * per_stratum).sum(axis=0)

    present = n_cell > 0
    if bound.calibration is not None:
        parts = _calibrated_parts(
            bound,
            rows=rows,
            column=domain,
            values=influence[:, 0],
            unit_psu=units.psu,
            unit_column=units.domain,
            unit_values=total,
            sums=sums,
            n_columns=d,
        )
        covariance = _with_calibration(covariance, parts, left, right)
        covariance *= bound.average_factor(np.ones(h, dtype=bool))
    else:
        # svyby(covmat=TRUE) hands svyrecvar the rows of all domains together.
        covariance *= bound.average_factor(present.any(axis=1))

    psus = np.asarray(presence.sum(axis=0)).reshape(-1)
    shared = _pick((presence.T @ presence).tocsr(), left, right)
    n_psu = psus[left] + psus[right] - np.where(left == right, psus[left], shared)
    n_psu = n_psu.astype(np.int64)
    n_str = (present[:, left] | present[:, right]).sum(axis=0)
    df = (n_psu - n_str).astype(np.float64)
    df[n_psu == 0] = np.nan
    return PairCovariance(covariance=covariance, df=df, n_psu=n_psu, n_strata=n_str)


def covariance_matrix(
    bound: BoundDesign, rows: np.ndarray, values: np.ndarray
) -> tuple[np.ndarray, int]:
    """Covariance of the column totals of ``values`` (rows ``rows``) under the
    design, and the df of the design restricted to those rows.

    R: ``svyrecvar(values, design[rows, ])``. Per stratum h with n_h PSUs in
    the *full* design (PSUs without rows here are zero totals):

        c_h * sum_j (Z_hj - Zbar_h)(Z_hj - Zbar_h)',  Zbar_h = S_h / n_h,

    computed centred. With a calibrated design the values are first replaced
    by their calibration residuals on every row of the design.
    """
    values = np.asarray(values, dtype=np.float64)
    k = values.shape[1]
    unit = bound.unit_code
    used_units = np.unique(unit[rows])
    df = len(used_units) - len(np.unique(bound.unit_stratum[used_units]))
    calibration = bound.calibration
    if calibration is not None:
        beta = calibration.solve(
            np.column_stack(
                [
                    calibration.totals(rows, np.zeros(len(rows), np.intp), 1, values[:, j])[0][:, 0]
                    for j in range(k)
                ]
            )
        )
        residual = -calibration.fitted(beta, bound.weights)
        residual[rows] += values
        rows, values = np.arange(bound.n_rows), residual

    code, units = pd.factorize(unit[rows])
    totals = np.empty((len(units), k))
    for j in range(k):
        totals[:, j] = np.bincount(code, values[:, j], minlength=len(units))
    unit_stratum = bound.unit_stratum[units]

    n_strata = bound.n_strata
    units_here = np.bincount(unit_stratum, minlength=n_strata)
    present = units_here > 0
    sums = np.empty((n_strata, k))
    for j in range(k):
        sums[:, j] = np.bincount(unit_stratum, totals[:, j], minlength=n_strata)
    mean = sums * bound.mean_factor[:, None]
    cross = bound.cross_weight
    deviation = totals - mean[unit_stratum]
    cov = deviation.T @ (deviation * cross[unit_stratum][:, None])
    absent = np.where(present, (bound.psus_per_stratum - units_here) * cross, 0.0)
    cov += mean.T @ (mean * absent[:, None])
    cov = (cov + cov.T) / 2
    cov *= bound.average_factor(present)
    return cov, df


# --------------------------------------------------------------------------- calibration


@dataclass(frozen=True)
class _CalibratedParts:
    beta: np.ndarray  # (indicator columns, K)
    cross: np.ndarray  # (indicator columns, K): G_Ax, centred covariance of A with x
    gram: np.ndarray  # (indicator columns, indicator columns): G_AA


def _calibrated_parts(
    bound: BoundDesign,
    rows: np.ndarray,
    column: np.ndarray,
    values: np.ndarray,
    unit_psu: np.ndarray,
    unit_column: np.ndarray,
    unit_values: np.ndarray,
    sums: np.ndarray,
    n_columns: int,
) -> _CalibratedParts:
    """beta and G_Ax of K columns of influence values (row level: rows, column,
    values; PSU level: unit_psu, unit_column, unit_values; stratum sums (H, K))."""
    calibration = bound.calibration
    cross = bound.cross_weight
    # sum_h c_h sum_j (A_j - Abar_h)(x_j - xbar_h)' = A'Cx - sum_h c_h S_A,h S_x,h' / n_h
    if calibration.units is None:
        # Rows are PSUs (the units are the rows): A'Cx and M'x are cell totals alike.
        weighted = cross[bound.stratum_code[rows]] * bound.weights[rows] * values
        m_x, g_ax = calibration.totals(rows, column, n_columns, values, weighted)
    else:
        (m_x,) = calibration.totals(rows, column, n_columns, values)
        weighted = sparse.csr_array(
            (cross[bound.unit_stratum[unit_psu]] * unit_values, (unit_psu, unit_column)),
            shape=(bound.n_psu, n_columns),
        )
        g_ax = np.asarray((calibration.units.T @ weighted).todense())
    beta = calibration.solve(m_x)
    g_ax -= (calibration.stratum_sums * (cross * bound.mean_factor)[:, None]).T @ sums
    return _CalibratedParts(beta=beta, cross=g_ax, gram=calibration.gram)


def _with_calibration(
    covariance: np.ndarray, parts: _CalibratedParts, left: np.ndarray, right: np.ndarray
) -> np.ndarray:
    """Cov(e_l, e_r) = G_xx[l, r] - b_l' G_Ax[:, r] - b_r' G_Ax[:, l] + b_l' G_AA b_r."""
    beta_l, beta_r = parts.beta[:, left], parts.beta[:, right]
    quadratic = np.einsum("pk,pk->k", beta_l, parts.gram @ beta_r)
    linear = np.einsum("pk,pk->k", beta_l, parts.cross[:, right]) + np.einsum(
        "pk,pk->k", beta_r, parts.cross[:, left]
    )
    out = covariance - linear + quadratic
    size = np.abs(covariance) + np.abs(linear) + np.abs(quadratic)
    return np.where(np.abs(out) <= _CANCELLED * size, 0.0, out)


def _pick(matrix, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Elements (i[k], j[k]) of a sparse CSR matrix, as a dense 1-d array."""
    if len(i) == 0:
        return np.zeros(0)
    return np.asarray(matrix[i, j], dtype=np.float64).reshape(-1)
