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
        code, levels = _factorize(col)
        codes = codes * len(levels) + code
        levels_per.append(levels)
    dense, present = _dense(codes)
    labels = []
    for key in present:
        parts = []
        for levels in reversed(levels_per):
            key, i = divmod(int(key), len(levels))
            parts.append(str(levels[i]))
        labels.append(":".join(reversed(parts)))
    return dense, labels


def _factorize(col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Sorted codes and levels of a column; small-range integers without hashing."""
    if pd.api.types.is_integer_dtype(col) and not pd.api.types.is_bool_dtype(col):
        values = col.to_numpy(dtype=np.int64)
        low = int(values.min()) if len(values) else 0
        dense, present = _dense(values - low)
        return dense, present + low
    code, levels = pd.factorize(col, sort=True)
    return code.astype(np.int64, copy=False), np.asarray(levels, dtype=object)


def _dense(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keys >= 0 renumbered 0..k-1 in sorted order, and the sorted distinct keys."""
    if len(keys) and keys.max() <= 4 * len(keys) + 1024:
        used = np.bincount(keys) > 0
        return (np.cumsum(used) - 1)[keys].astype(np.intp), np.flatnonzero(used)
    code, present = pd.factorize(keys, sort=True)
    return code.astype(np.intp, copy=False), np.asarray(present)


@dataclass(frozen=True, eq=False)
class Calibration:
    """The calibration model of a bound design (see the module docstring).

    Rows are grouped into *joint cells*: combinations of the values of every
    column the terms name. A joint cell lies in one cell of each term, so the
    indicator matrix is M = J E', with J the rows' joint-cell indicators and
    E (indicator columns x joint cells) saying which columns each joint cell
    has. Every sum over rows of m_i (M'x, M'WM, A'CA for person samples) is
    then one ``bincount`` over joint cells and a small product with E.
    """

    terms: tuple[str, ...]
    labels: list[str]  # "term=cell" per indicator column
    n_columns: int
    joint: np.ndarray  # (rows,): the joint cell of each row
    cells_of_joint: sparse.csr_array  # E: (indicator columns, joint cells), 0/1
    basis: np.ndarray  # indicator columns kept for the solve (the others are aliased)
    factor: tuple  # Cholesky factor of M'WM on the basis columns
    units: sparse.csr_array | None  # (PSUs, columns): PSU totals of W M (None: rows are PSUs)
    stratum_sums: np.ndarray  # (strata, columns): stratum totals of W M
    gram: np.ndarray  # (columns, columns): the design's centred covariance of the PSU totals

    @classmethod
    def bind(cls, terms: Sequence[str], data: pd.DataFrame, bound: BoundDesign) -> Calibration:
        parsed = parse_terms(terms)
        columns = list(dict.fromkeys(c for term in parsed for c in term))
        codes, levels = {}, {}
        for column in columns:
            codes[column], levels[column] = _column_codes(data[column], column)
        sizes = [len(levels[c]) for c in columns]
        if np.prod(np.asarray(sizes, dtype=float)) > 2**62:
            raise DesignError(f"the calibration terms {', '.join(terms)} have too many cells")
        key = np.ravel_multi_index([codes[c] for c in columns], sizes).astype(np.int64)
        joint, joint_keys = _dense(key)
        k = len(joint_keys)
        joint_codes = dict(zip(columns, np.unravel_index(joint_keys, sizes), strict=True))

        # Each term's cells, numbered across terms: the indicator columns.
        column_of_joint, labels, offset = [], [], 0
        for term, term_columns in zip(terms, parsed, strict=True):
            term_key = np.ravel_multi_index(
                [joint_codes[c] for c in term_columns], [len(levels[c]) for c in term_columns]
            )
            cell, present = _dense(term_key.astype(np.int64))
            column_of_joint.append(cell + offset)
            for key_value in present:
                parts = np.unravel_index(int(key_value), [len(levels[c]) for c in term_columns])
                label = ":".join(
                    str(levels[c][i]) for c, i in zip(term_columns, parts, strict=True)
                )
                labels.append(f"{term}={label}")
            offset += len(present)
        p = offset
        if p > MAX_COLUMNS:
            raise DesignError(
                f"the calibration terms {', '.join(terms)} have {p} cells, more than "
                f"{MAX_COLUMNS}; calibrate on coarser margins"
            )
        n_terms = len(parsed)
        e = sparse.csr_array(
            (
                np.ones(n_terms * k),
                (np.concatenate(column_of_joint), np.tile(np.arange(k), n_terms)),
            ),
            shape=(p, k),
        )

        def cross_products(joint_totals: np.ndarray) -> np.ndarray:
            """sum over joint cells of total * m m' = E diag(totals) E' (p x p)."""
            return (e @ sparse.diags_array(joint_totals) @ e.T).toarray()

        w = bound.weights
        mwm = cross_products(np.bincount(joint, w, minlength=k))
        basis = _independent_columns(mwm)
        factor = linalg.cho_factor(mwm[np.ix_(basis, basis)], lower=True)

        h = bound.n_strata
        by_stratum = np.bincount(bound.stratum_code * k + joint, w, minlength=h * k).reshape(h, k)
        stratum_sums = (e @ by_stratum.T).T
        # Sum over strata of c_h * sum_j (A_j - mean_h)(A_j - mean_h)', computed as
        # A' C A - sum_h c_h S_h S_h' / n_h (lonely "adjust" strata are not centred).
        cross = bound.cross_weight
        if bound.psu_code is None:
            # Rows are PSUs: A is W M itself, A'CA a weighted M'M (no sparse product).
            units = None
            cw2 = cross[bound.stratum_code] * w * w
            gram = cross_products(np.bincount(joint, cw2, minlength=k))
        else:
            unit, unit_keys = _dense(bound.psu_code.astype(np.int64) * k + joint)
            unit_psu, unit_joint = np.divmod(unit_keys, k)
            by_unit = sparse.csr_array(
                (np.bincount(unit, w, minlength=len(unit_keys)), (unit_psu, unit_joint)),
                shape=(bound.n_psu, k),
            )
            units = (by_unit @ e.T).tocsr()
            weighted = sparse.diags_array(cross[bound.psu_stratum]) @ units
            gram = (units.T @ weighted).toarray()
        gram -= (stratum_sums * (cross * bound.mean_factor)[:, None]).T @ stratum_sums
        gram = (gram + gram.T) / 2
        return cls(
            terms=tuple(terms),
            labels=labels,
            n_columns=p,
            joint=joint,
            cells_of_joint=e,
            basis=basis,
            factor=factor,
            units=units,
            stratum_sums=stratum_sums,
            gram=gram,
        )

    def totals(
        self, rows: np.ndarray, column: np.ndarray, k: int, *values: np.ndarray
    ) -> list[np.ndarray]:
        """M'x for each array of ``values`` (of rows ``rows``): per indicator column, the
        totals in each of ``k`` columns (``column`` says which). Shape (indicator
        columns, k) each."""
        n_joint = self.cells_of_joint.shape[1]
        key = self.joint[rows] * k + column
        return [
            self.cells_of_joint @ np.bincount(key, v, minlength=n_joint * k).reshape(n_joint, k)
            for v in values
        ]

    def solve(self, totals: np.ndarray) -> np.ndarray:
        """beta = (M'WM)^+ M'x for each column of ``totals`` (aliased columns get 0)."""
        beta = np.zeros_like(totals)
        beta[self.basis] = linalg.cho_solve(self.factor, totals[self.basis])
        return beta

    def fitted(self, beta: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """w_i m_i' beta for every row (rows x columns of beta)."""
        per_joint = self.cells_of_joint.T @ beta
        return per_joint[self.joint] * weights[:, None]


def _column_codes(col: pd.Series, name: str) -> tuple[np.ndarray, np.ndarray]:
    # numpy integer columns cannot hold a missing value: no pass to look for one
    integer = isinstance(col.dtype, np.dtype) and col.dtype.kind in "iu"
    n_missing = 0 if integer else int(col.isna().sum())
    if n_missing:
        raise DesignError(
            f"calibration column {name!r} has {n_missing} missing value(s); every row "
            "needs a calibration cell: fill them in, drop those rows explicitly, or "
            "leave the term out"
        )
    return _factorize(col)


def _independent_columns(mwm: np.ndarray) -> np.ndarray:
    """Indices of a largest set of linearly independent indicator columns, in order."""
    d = np.sqrt(np.diag(mwm))
    scaled = mwm / np.outer(d, d)
    _, r, pivot = linalg.qr(scaled, pivoting=True, mode="economic")
    diag = np.abs(np.diag(r))
    rank = int((diag > ALIAS_TOLERANCE * diag[0]).sum())
    return np.sort(pivot[:rank])
