"""The calibration model of a design: variance with calibration residuals.

`Calibration` is the calibration model of a bound design. The NEA weights are
calibrated by CBS to population margins (sector, age, ...). Such weights
are fixed up to the margins, so the variance of an estimate is that of
its calibration *residuals*: the influence values ``x`` minus their
weighted least-squares fit on the indicator columns ``M`` of all
calibration terms,

    e = x - W M beta,   beta = (M' W M)^+ M' x,

which is what R's ``svyrecvar`` does with the ``qr`` that
``calibrate(design, ~terms, population = <totals of the current
weights>)`` stores (g = 1: the weights do not change). For a single term
this is ``postStratify``'s residual: ``x - w * (cell total of x) / (cell
total of w)``. The projection does not depend on how ``M`` is
parametrised, so aliased indicator columns (two terms share their grand
total, or a wave's total) are simply left out of the solve.

`Calibration.bind` prepares, once per bound design, what every variance
routine needs (`neacovid.survey.taylor`): ``M' W M`` factorised, the PSU
totals ``A`` of ``W M``, their stratum sums, and the design's centred Gram
matrix of ``A``. New weights from population totals are made by
`neacovid.survey.calibrate`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import linalg, sparse

from neacovid.errors import DesignError

if TYPE_CHECKING:  # the design module imports this one
    from neacovid.survey.design import BoundDesign

# A dense M'WM beyond this many indicator columns would not fit comfortably in memory.
MAX_COLUMNS = 4000
# Pivoted QR of the unit-diagonal M'WM: a column whose remaining norm is below
# this is a linear combination of the others (indicator columns alias exactly).
ALIAS_TOLERANCE = 1e-9
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


def parse_terms(terms: Sequence[str]) -> tuple[tuple[str, ...], ...]:
    """``("wave:sector", "age_group")`` -> ``(("wave", "sector"), ("age_group",))``."""
    parsed = []
    for term in terms:
        if not isinstance(term, str):
            raise DesignError(f"calibration term {term!r} is not text; write e.g. 'wave:sector'")
        parts = tuple(part.strip() for part in term.split(":"))
        if not all(_NAME.match(part) for part in parts):
            raise DesignError(
                f"calibration term {term!r} is not a column name or a cross-classification "
                "of column names joined by ':' (e.g. 'sector' or 'wave:sector')"
            )
        if len(set(parts)) != len(parts):
            raise DesignError(f"calibration term {term!r} names a column twice")
        if parts in parsed:
            raise DesignError(f"calibration term {term!r} is listed twice")
        parsed.append(parts)
    return tuple(parsed)


def cells(data: pd.DataFrame, columns: Sequence[str], what: str) -> tuple[np.ndarray, list[str]]:
    """Per row, the code of its cell of the cross-classification of ``columns``,
    and the cells' labels (``"2019:A"``). A missing value anywhere is refused."""
    codes = np.zeros(len(data), dtype=np.int64)
    levels_per = []
    for column in columns:
        col = data[column]
        n_missing = int(col.isna().sum())
        if n_missing:
            raise DesignError(
                f"{what} column {column!r} has {n_missing} missing value(s); every row "
                "needs a calibration cell: fill them in, drop those rows explicitly, or "
                "leave the term out"
            )
        code, levels = pd.factorize(col, sort=True)
        codes = codes * len(levels) + code
        levels_per.append(levels)
    dense, present = pd.factorize(codes, sort=True)
    labels = []
    for key in present:
        parts = []
        for levels in reversed(levels_per):
            key, i = divmod(int(key), len(levels))
            parts.append(str(levels[i]))
        labels.append(":".join(reversed(parts)))
    return dense.astype(np.intp, copy=False), labels


@dataclass(frozen=True, eq=False)
class Calibration:
    """The calibration model of a bound design (see the module docstring)."""

    terms: tuple[str, ...]
    codes: np.ndarray  # (terms, rows): the indicator column of each row per term
    labels: list[str]  # "term=cell" per indicator column
    n_columns: int
    basis: np.ndarray  # indicator columns kept for the solve (the others are aliased)
    factor: tuple  # Cholesky factor of M'WM on the basis columns
    units: sparse.csr_array  # (PSUs, columns): PSU totals of W M
    stratum_sums: np.ndarray  # (strata, columns): stratum totals of W M
    gram: np.ndarray  # (columns, columns): the design's centred covariance of the PSU totals

    @classmethod
    def bind(cls, terms: Sequence[str], data: pd.DataFrame, bound: BoundDesign) -> Calibration:
        parsed = parse_terms(terms)
        codes, labels, offset = [], [], 0
        for term, columns in zip(terms, parsed, strict=True):
            code, cell_labels = cells(data, columns, "calibration")
            codes.append(code + offset)
            labels += [f"{term}={label}" for label in cell_labels]
            offset += len(cell_labels)
        p = offset
        if p > MAX_COLUMNS:
            raise DesignError(
                f"the calibration terms {', '.join(terms)} have {p} cells, more than "
                f"{MAX_COLUMNS}; calibrate on coarser margins"
            )
        codes = np.vstack(codes)
        w = bound.weights
        n_terms = len(parsed)

        # M'WM: cell totals of the weights on the diagonal, cross-classified
        # totals between terms off it.
        mwm = np.zeros((p, p))
        for a in range(n_terms):
            for b in range(a, n_terms):
                block = np.bincount(codes[a] * p + codes[b], w, minlength=p * p).reshape(p, p)
                mwm += block if a == b else block + block.T
        basis = _independent_columns(mwm)
        factor = linalg.cho_factor(mwm[np.ix_(basis, basis)], lower=True)

        unit = bound.unit_code
        n_units = bound.n_psu
        units = sparse.coo_array(
            (np.tile(w, n_terms), (np.tile(unit, n_terms), codes.ravel())), shape=(n_units, p)
        ).tocsr()
        units.sum_duplicates()
        h = bound.n_strata
        stratum_sums = np.zeros((h, p))
        for a in range(n_terms):
            stratum_sums += np.bincount(
                bound.stratum_code * p + codes[a], w, minlength=h * p
            ).reshape(h, p)
        # Sum over strata of c_h * sum_j (A_j - mean_h)(A_j - mean_h)', computed as
        # A' C A - sum_h c_h S_h S_h' / n_h (lonely "adjust" strata are not centred).
        cross = bound.cross_weight
        weighted = sparse.diags_array(cross[bound.unit_stratum]) @ units
        gram = (units.T @ weighted).toarray()
        gram -= (stratum_sums * (cross * bound.mean_factor)[:, None]).T @ stratum_sums
        gram = (gram + gram.T) / 2
        return cls(
            terms=tuple(terms),
            codes=codes,
            labels=labels,
            n_columns=p,
            basis=basis,
            factor=factor,
            units=units,
            stratum_sums=stratum_sums,
            gram=gram,
        )

    def totals(self, rows: np.ndarray, column: np.ndarray, values: np.ndarray, k: int):
        """M'x: per indicator column, the totals of ``values`` (rows ``rows``) in each of
        ``k`` columns (``column`` says which). Shape (indicator columns, k)."""
        p = self.n_columns
        out = np.zeros(p * k)
        for codes in self.codes:
            out += np.bincount(codes[rows] * k + column, values, minlength=p * k)
        return out.reshape(p, k)

    def solve(self, totals: np.ndarray) -> np.ndarray:
        """beta = (M'WM)^+ M'x for each column of ``totals`` (aliased columns get 0)."""
        beta = np.zeros_like(totals)
        beta[self.basis] = linalg.cho_solve(self.factor, totals[self.basis])
        return beta

    def fitted(self, beta: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """w_i m_i' beta for every row (rows x columns of beta)."""
        out = np.zeros((self.codes.shape[1], beta.shape[1]))
        for codes in self.codes:
            out += beta[codes]
        return out * weights[:, None]


def _independent_columns(mwm: np.ndarray) -> np.ndarray:
    """Indices of a largest set of linearly independent indicator columns, in order."""
    d = np.sqrt(np.diag(mwm))
    scaled = mwm / np.outer(d, d)
    _, r, pivot = linalg.qr(scaled, pivoting=True, mode="economic")
    diag = np.abs(np.diag(r))
    rank = int((diag > ALIAS_TOLERANCE * diag[0]).sum())
    return np.sort(pivot[:rank])


