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

from neacovid.design import BoundDesign


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
