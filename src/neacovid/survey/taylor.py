"""Taylor-linearisation variance of domain estimates, vectorised over domains.

An estimator hands over, for every row that belongs to a domain, its influence
values (one column per quantity, e.g. per category) and its domain index.
The variance of domain d is R survey's ``svyrecvar`` on the domain subset:

    V_d = sum_h  f_h n_h/(n_h - 1) * sum_{j in h} (Z_hjd - Zbar_hd)^2

with Z_hjd the PSU totals of the influence values and n_h the number of PSUs
of stratum h in the *full* design. PSUs of h without domain members count as
zero totals, which is what R's ``subset()`` does (it pads them with zeros), so
every domain keeps the full design. All domains are done in one pass of
``bincount`` over (stratum, domain) cells instead of a loop over domains.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from neacovid.survey.design import BoundDesign


@dataclass(frozen=True)
class DomainVariance:
    variance: np.ndarray  # (n_domains, n_columns)
    df: np.ndarray  # (n_domains,), float: PSUs minus strata with domain members
    n_psu: np.ndarray  # (n_domains,) PSUs with domain members
    n_strata: np.ndarray  # (n_domains,) strata with domain members


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
    n_strata = bound.n_strata

    if bound.psu_code is None:
        unit_total = influence
        unit_domain = domain
        unit_stratum = bound.stratum_code[rows]
    else:
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
        unit_total = np.empty((n_units, k))
        for j in range(k):
            unit_total[:, j] = np.bincount(unit_code, influence[:, j], minlength=n_units)
        unit_domain = (unit_key % n_domains).astype(np.intp)
        unit_stratum = bound.psu_stratum[unit_key // n_domains]

    cell = unit_stratum * n_domains + unit_domain
    n_cells = n_strata * n_domains
    units_in_cell = np.bincount(cell, minlength=n_cells).reshape(n_strata, n_domains)
    present = units_in_cell > 0

    n_h = bound.psus_per_stratum.astype(np.float64)[:, None]
    scale = bound.stratum_scale[:, None]
    lonely = bound.lonely_strata[:, None]
    certainty = bound.stratum_certainty[:, None]
    option = bound.design.lonely_psu

    variance = np.empty((n_domains, k))
    for j in range(k):
        s1 = np.bincount(cell, unit_total[:, j], minlength=n_cells).reshape(n_strata, n_domains)
        s2 = np.bincount(cell, unit_total[:, j] ** 2, minlength=n_cells).reshape(
            n_strata, n_domains
        )
        with np.errstate(invalid="ignore", divide="ignore"):
            centred = s2 - s1 * s1 / n_h
        # Rounding can leave a tiny negative sum of squares for a constant stratum.
        contrib = scale * np.maximum(centred, 0.0)
        if option == "adjust":
            # R: the lonely PSU is not centred at its stratum mean but at zero,
            # the mean of the influence values over the whole sample.
            contrib = np.where(lonely, scale * s2, contrib)
        elif option == "average":
            contrib = np.where(lonely & present, np.nan, contrib)
        else:  # remove, certainty (fail was refused when binding)
            contrib = np.where(lonely, 0.0, contrib)
        contrib = np.where(certainty, 0.0, contrib)
        variance[:, j] = np.nansum(np.where(present, contrib, 0.0), axis=0)

    strata_in_domain = present.sum(axis=0)
    if option == "average":
        ok = (present & ~lonely).sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            variance *= (strata_in_domain / ok)[:, None]
    psus_in_domain = units_in_cell.sum(axis=0)
    df = (psus_in_domain - strata_in_domain).astype(np.float64)
    df[psus_in_domain == 0] = np.nan
    return DomainVariance(variance=variance, df=df, n_psu=psus_in_domain, n_strata=strata_in_domain)


# --------------------------------------------------------------------------
# Covariances (added for neacovid.survey.compare; the functions above are unchanged)
# --------------------------------------------------------------------------
#
# R survey's svyrecvar on a matrix of influence columns gives, per stratum h,
#
#     C_h = f_h n_h/(n_h - 1) * sum_{j in h} (Z_hj - Zbar_h)(Z_hj - Zbar_h)'
#         = s_h * (sum_j Z_hj Z_hj' - S_h S_h' / n_h),   S_h = sum_j Z_hj,
#
# with n_h the PSUs of h in the full design (absent PSUs are zero totals). Per
# stratum the two terms get a weight: the cross-product weight s_h and the
# centring weight s_h / n_h. A lonely stratum (n_h = 1) is not centred under
# "adjust" (cross-product weight s_h, centring 0) and adds nothing otherwise
# ("remove", "certainty"; "average" leaves it out and scales the sum by
# strata / strata-that-are-not-lonely, counting the strata of the rows given,
# as survey's ``onestage`` does). A certainty stratum adds nothing.


@dataclass(frozen=True)
class PairCovariance:
    covariance: np.ndarray  # (n_pairs,) Cov(estimate of left[k], estimate of right[k])
    df: np.ndarray  # (n_pairs,) PSUs minus strata with members of left[k] or right[k]
    n_psu: np.ndarray  # (n_pairs,) PSUs with members of either domain
    n_strata: np.ndarray  # (n_pairs,) strata with members of either domain


def _stratum_weights(bound: BoundDesign) -> tuple[np.ndarray, np.ndarray]:
    """Per stratum: weight of the PSU cross-products and of the centring term."""
    scale = np.where(bound.stratum_certainty, 0.0, bound.stratum_scale)
    n_h = bound.psus_per_stratum.astype(np.float64)
    lonely = bound.lonely_strata
    with np.errstate(invalid="ignore", divide="ignore"):
        centre = np.where(lonely | (n_h == 0), 0.0, scale / n_h)
    if bound.design.lonely_psu == "adjust":
        cross = np.where(lonely, bound.stratum_scale, scale)
    else:
        cross = np.where(lonely, 0.0, scale)
    cross = np.where(bound.stratum_certainty, 0.0, cross)
    return cross, centre


def _average_factor(bound: BoundDesign, strata_present: np.ndarray) -> float:
    """survey's "average": nstrat / (nstrat - lonely strata), over the given rows."""
    if bound.design.lonely_psu != "average":
        return 1.0
    n_strat = int(strata_present.sum())
    ok = int((strata_present & ~bound.lonely_strata).sum())
    return n_strat / ok if ok else np.nan


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

    The PSU-by-domain totals form a sparse matrix Z (PSUs x domains), so all
    cross-products come from one sparse product Z' W Z: no loop over rows,
    PSUs or pairs. ``df`` is the df of the design restricted to the rows of
    the two domains (R: ``degf(design[in_left | in_right, ])``).
    """
    from scipy import sparse

    influence = np.asarray(influence, dtype=np.float64).reshape(-1)
    left = np.asarray(left, dtype=np.intp)
    right = np.asarray(right, dtype=np.intp)
    n_strata = bound.n_strata

    if bound.psu_code is None:
        unit_row = rows
        n_units = bound.n_rows
        unit_stratum_all = bound.stratum_code
    else:
        unit_row = bound.psu_code[rows]
        n_units = bound.n_psu
        unit_stratum_all = bound.psu_stratum
    # COO -> CSR sums the rows of a PSU within a domain: Z holds PSU totals,
    # and `count` (same coordinates) tells which PSU x domain cells are used,
    # even where the total happens to be exactly zero.
    coords = (unit_row, domain)
    shape = (n_units, n_domains)
    z = sparse.coo_array((influence, coords), shape=shape).tocsr()
    present_unit = sparse.coo_array((np.ones(len(rows)), coords), shape=shape).tocsr()
    present_unit.data[:] = 1.0  # rows per cell -> cell used

    cross_w, centre_w = _stratum_weights(bound)
    unit_weight = cross_w[unit_stratum_all]
    zw = sparse.diags_array(unit_weight) @ z
    products = (zw.T @ z).tocsr()
    shared = (present_unit.T @ present_unit).tocsr()

    # Stratum sums of the totals: (n_strata, n_domains), dense.
    row_stratum = bound.stratum_code[rows]
    cell = row_stratum * n_domains + domain
    s = np.bincount(cell, influence, minlength=n_strata * n_domains).reshape(n_strata, n_domains)
    members = np.bincount(cell, minlength=n_strata * n_domains).reshape(n_strata, n_domains)
    present = members > 0

    centring = np.einsum("h,hk,hk->k", centre_w, s[:, left], s[:, right])
    covariance = _pick(products, left, right) - centring
    covariance *= _average_factor(bound, present.any(axis=1))

    psus = np.asarray(present_unit.sum(axis=0)).reshape(-1)
    n_psu = psus[left] + psus[right] - np.where(left == right, psus[left], 0)
    n_psu = n_psu - np.where(left == right, 0, _pick(shared, left, right)).astype(np.int64)
    n_str = (present[:, left] | present[:, right]).sum(axis=0)
    df = (n_psu - n_str).astype(np.float64)
    df[n_psu == 0] = np.nan
    return PairCovariance(covariance=covariance, df=df, n_psu=n_psu, n_strata=n_str)


def _pick(matrix, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Elements (i[k], j[k]) of a sparse CSR matrix, as a dense 1-d array."""
    if len(i) == 0:
        return np.zeros(0)
    return np.asarray(matrix[i, j], dtype=np.float64).reshape(-1)


def covariance_matrix(
    bound: BoundDesign, rows: np.ndarray, values: np.ndarray
) -> tuple[np.ndarray, int]:
    """Covariance of the column totals of ``values`` (rows ``rows``) under the
    design, and the df of the design restricted to those rows.

    R: ``svyrecvar(values, design[rows, ])``. Per stratum h with n_h PSUs in
    the *full* design (PSUs without rows here are zero totals):

        f_h n_h/(n_h - 1) * sum_j (Z_hj - Zbar_h)(Z_hj - Zbar_h)',  Zbar_h = S_h / n_h,

    computed centred (not as sum Z Z' - S S'/n) so that large stratum means do
    not cost digits. Lonely strata (one PSU in the full design): "adjust"
    does not centre the PSU (R: deviation from 0), "remove"/"certainty" add
    nothing, "average" leaves them out and scales the sum by
    strata / non-lonely strata (strata with rows here). Strata with a
    sampling fraction ~1 add nothing.
    """
    k = values.shape[1]
    if bound.psu_code is None:
        totals = values
        unit_stratum = bound.stratum_code[rows]
    else:
        code, units = pd.factorize(bound.psu_code[rows])
        totals = np.empty((len(units), k))
        for j in range(k):
            totals[:, j] = np.bincount(code, values[:, j], minlength=len(units))
        unit_stratum = bound.psu_stratum[units]

    n_strata = bound.n_strata
    n_h = bound.psus_per_stratum.astype(np.float64)
    units_here = np.bincount(unit_stratum, minlength=n_strata)
    present = units_here > 0
    sums = np.empty((n_strata, k))
    for j in range(k):
        sums[:, j] = np.bincount(unit_stratum, totals[:, j], minlength=n_strata)
    mean = sums / n_h[:, None]

    lonely = bound.lonely_strata
    scale = bound.stratum_scale.copy()
    if bound.design.lonely_psu == "adjust":
        mean[lonely] = 0.0
    else:
        scale[lonely] = 0.0
    scale[bound.stratum_certainty] = 0.0

    deviation = totals - mean[unit_stratum]
    cov = deviation.T @ (deviation * scale[unit_stratum][:, None])
    absent = np.where(present, (n_h - units_here) * scale, 0.0)
    cov += mean.T @ (mean * absent[:, None])
    cov = (cov + cov.T) / 2
    if bound.design.lonely_psu == "average":
        n_present = int(present.sum())
        ok = int((present & ~lonely).sum())
        cov *= n_present / ok if ok else np.nan
    df = len(totals) - int(present.sum())
    return cov, df
