"""The survey design: which columns carry weights, strata, PSUs and fpc.

Modelled on R survey's ``svydesign``: a `Design` names columns and is bound to
a data frame once (`Design.bind`), which checks the columns and precomputes
the stratum/PSU structure every estimator needs. Variance estimation is Taylor
linearisation, with replacement at the first stage, with a finite population
correction when ``fpc`` is given (``survey.ultimate.cluster`` semantics).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from neacovid.errors import DataError, DesignError, LonelyPSUError
from neacovid.survey.calibration import Calibration, parse_terms

LONELY_PSU_OPTIONS = ("fail", "remove", "certainty", "adjust", "average")
# A weight is a number of persons; beyond this its squares and sums lose all precision.
MAX_WEIGHT = 1e12

# R survey treats a stratum whose sampling fraction is (almost) 1 as
# self-representing: it contributes no variance.
_CERTAINTY_TOLERANCE = 1e-7


@dataclass(frozen=True)
class Design:
    """Column names of a (stratified, clustered) sample design.

    weight: sampling weight column (positive numbers).
    strata: stratum column, or None for an unstratified design.
    psu: primary sampling unit column, or None: every row is its own PSU.
    fpc: population size of the stratum (number of PSUs), or the sampling
        fraction (<= 1), constant within a stratum; None: with replacement.
    lonely_psu: what a stratum with a single PSU contributes, as R's
        ``options(survey.lonely.psu=)``: "fail", "remove", "certainty",
        "adjust" or "average".
    calibration: the terms the weights are calibrated on, each a column
        (``"sector"``) or a cross-classification (``"wave:sector"``). The
        weights are taken as already calibrated to the population totals of
        every term and are not changed; the variance uses the residuals of
        the influence values after a weighted least-squares regression on the
        indicator columns of all terms, as R survey does after
        ``calibrate(design, ~terms, population = <totals of these weights>)``
        (``postStratify`` for one term). Empty: no calibration.
    """

    weight: str
    strata: str | None = None
    psu: str | None = None
    fpc: str | None = None
    lonely_psu: str = "fail"
    calibration: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.lonely_psu not in LONELY_PSU_OPTIONS:
            raise DesignError(
                f"lonely_psu={self.lonely_psu!r} is not an option; "
                f"use one of {', '.join(LONELY_PSU_OPTIONS)}"
            )
        terms = self.calibration
        terms = (terms,) if isinstance(terms, str) else tuple(terms or ())
        object.__setattr__(self, "calibration", terms)
        parse_terms(terms)  # a malformed term fails here, not at the first estimate

    @classmethod
    def from_mapping(cls, spec: Mapping) -> Design:
        """A design from a mapping with the field names (config.yaml's ``design:``)."""
        return cls(
            weight=spec["weight"],
            strata=spec.get("strata"),
            psu=spec.get("psu"),
            fpc=spec.get("fpc"),
            lonely_psu=spec.get("lonely_psu", "fail"),
            calibration=tuple(spec.get("calibration") or ()),
        )

    @property
    def columns(self) -> list[str]:
        """Every column the design reads."""
        named = [c for c in (self.weight, self.strata, self.psu, self.fpc) if c]
        calibrated = [c for term in parse_terms(self.calibration) for c in term]
        return list(dict.fromkeys([*named, *calibrated]))

    def bind(self, data: pd.DataFrame) -> BoundDesign:
        """Check the design columns of ``data`` and precompute the structure."""
        return BoundDesign.from_data(self, data)


@dataclass(frozen=True, eq=False)
class BoundDesign:
    """A design bound to one data frame: integer codes and per-stratum constants.

    Rows keep their order; ``psu_code`` is None when every row is its own PSU
    (the usual person sample), which lets estimators skip the PSU aggregation.
    """

    design: Design
    n_rows: int
    weights: np.ndarray  # float64, > 0
    stratum_code: np.ndarray  # intp, 0..n_strata-1, per row
    psu_code: np.ndarray | None  # intp, 0..n_psu-1, per row; None: row = PSU
    psu_stratum: np.ndarray | None  # intp, stratum of each PSU
    n_strata: int
    psus_per_stratum: np.ndarray  # int64, per stratum (full design)
    stratum_scale: np.ndarray  # float64, f_h * n_h / (n_h - 1), or f_h if n_h = 1
    stratum_certainty: np.ndarray  # bool, sampling fraction ~ 1: no variance
    stratum_labels: np.ndarray = field(repr=False)
    calibration: Calibration | None = field(default=None, repr=False)

    @property
    def n_psu(self) -> int:
        return self.n_rows if self.psu_code is None else len(self.psu_stratum)

    @property
    def lonely_strata(self) -> np.ndarray:
        return (self.psus_per_stratum == 1) & ~self.stratum_certainty

    @property
    def unit_code(self) -> np.ndarray:
        """Per row, the index of its PSU (the row itself when rows are PSUs)."""
        if self.psu_code is None:
            return np.arange(self.n_rows, dtype=np.intp)
        return self.psu_code

    @property
    def unit_stratum(self) -> np.ndarray:
        """Per PSU, the index of its stratum."""
        return self.stratum_code if self.psu_code is None else self.psu_stratum

    @property
    def cross_weight(self) -> np.ndarray:
        """Per stratum, the factor of its sum of (centred) PSU cross-products:
        f_h n_h / (n_h - 1); 0 for a certainty stratum; for a lonely stratum the
        stratum's scale under "adjust" (uncentred, R's deviation from zero), else 0
        ("average" scales the sum afterwards, see `average_factor`)."""
        scale = np.where(self.stratum_certainty, 0.0, self.stratum_scale)
        if self.design.lonely_psu == "adjust":
            return scale
        return np.where(self.lonely_strata, 0.0, scale)

    @property
    def mean_factor(self) -> np.ndarray:
        """Per stratum, 1/n_h: the PSU totals are centred at their stratum mean
        over the n_h PSUs of the full design (absent PSUs count as zeros); 0 for
        a lonely stratum, which "adjust" does not centre."""
        n_h = self.psus_per_stratum.astype(np.float64)
        with np.errstate(divide="ignore"):
            return np.where(self.lonely_strata | (n_h == 0), 0.0, 1.0 / n_h)

    def average_factor(self, strata_present: np.ndarray) -> float:
        """R's lonely_psu="average": the sum over strata times
        strata / strata-that-are-not-lonely, over the strata given (1 otherwise)."""
        if self.design.lonely_psu != "average":
            return 1.0
        n_strat = int(strata_present.sum())
        ok = int((strata_present & ~self.lonely_strata).sum())
        return n_strat / ok if ok else np.nan

    @classmethod
    def from_data(cls, design: Design, data: pd.DataFrame) -> BoundDesign:
        missing = [c for c in design.columns if c not in data.columns]
        if missing:
            raise DataError(
                f"design column {missing[0]!r} is not in the data; "
                f"columns are: {_preview(data.columns)}"
            )
        n = len(data)
        weights = check_weights(data[design.weight], design.weight)

        if design.strata is None:
            stratum_code = np.zeros(n, dtype=np.intp)
            stratum_labels = np.array(["(all)"], dtype=object)
        else:
            col = data[design.strata]
            _no_missing(col, design.strata, "stratum")
            codes, stratum_labels = pd.factorize(col, sort=True)
            stratum_code = codes.astype(np.intp, copy=False)
        n_strata = len(stratum_labels)

        if design.psu is None:
            psu_code = None
            psu_stratum = None
            psus_per_stratum = np.bincount(stratum_code, minlength=n_strata)
        else:
            col = data[design.psu]
            _no_missing(col, design.psu, "PSU")
            psu_code, psu_labels = pd.factorize(col)
            psu_code = psu_code.astype(np.intp, copy=False)
            psu_stratum = np.full(len(psu_labels), -1, dtype=np.intp)
            psu_stratum[psu_code] = stratum_code
            # A PSU must lie in one stratum (R: "clusters not nested in strata").
            crossed = psu_stratum[psu_code] != stratum_code
            if crossed.any():
                i = int(np.flatnonzero(crossed)[0])
                raise DesignError(
                    f"PSU {col.iloc[i]!r} of column {design.psu!r} appears in more than "
                    f"one stratum of {design.strata!r} (e.g. {data[design.strata].iloc[i]!r}); "
                    "make PSU ids unique within strata, e.g. combine stratum and PSU"
                )
            psus_per_stratum = np.bincount(psu_stratum, minlength=n_strata)

        sampling_fraction = _sampling_fraction(design, data, stratum_code, psus_per_stratum)
        certainty = sampling_fraction > 1 - _CERTAINTY_TOLERANCE
        f = 1.0 - sampling_fraction
        n_h = psus_per_stratum.astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.where(n_h > 1, f * n_h / (n_h - 1), f)

        bound = cls(
            design=design,
            n_rows=n,
            weights=weights,
            stratum_code=stratum_code,
            psu_code=psu_code,
            psu_stratum=psu_stratum,
            n_strata=n_strata,
            psus_per_stratum=psus_per_stratum,
            stratum_scale=scale,
            stratum_certainty=certainty,
            stratum_labels=np.asarray(stratum_labels, dtype=object),
        )
        if design.lonely_psu == "fail" and bound.lonely_strata.any():
            label = bound.stratum_labels[np.flatnonzero(bound.lonely_strata)[0]]
            raise LonelyPSUError(
                f"stratum {label!r} of column {design.strata!r} has only one PSU; "
                "variance cannot be estimated there: merge it with a similar stratum "
                "or choose lonely_psu (remove, certainty, adjust, average)"
            )
        if design.calibration:
            calibration = Calibration.bind(design.calibration, data, bound)
            object.__setattr__(bound, "calibration", calibration)
        return bound


def as_bound(design: Design | BoundDesign, data: pd.DataFrame) -> BoundDesign:
    """Bind ``design`` to ``data``, or check that an already bound one fits it."""
    if isinstance(design, BoundDesign):
        if design.n_rows != len(data):
            raise DataError(
                f"the bound design has {design.n_rows} rows but the data has {len(data)}; "
                "bind the design to this data frame (design.bind(data))"
            )
        return design
    if isinstance(design, Design):
        return design.bind(data)
    raise TypeError("design must be a neacovid.survey.design.Design")


def _preview(values, limit: int = 12) -> str:
    values = [str(v) for v in values]
    more = f", ... ({len(values)} in all)" if len(values) > limit else ""
    return ", ".join(values[:limit]) + more


def check_weights(col: pd.Series, name: str) -> np.ndarray:
    """The weights as float64, or a `DataError` naming the column and what is wrong."""
    if not (pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)):
        numeric = pd.to_numeric(col, errors="coerce")
        bad = col[numeric.isna() & col.notna()]
        example = bad.iloc[0] if len(bad) else col.iloc[0]
        raise DataError(
            f"weight column {name!r} is not numeric (e.g. {example!r}); "
            "give a column of positive sampling weights"
        )
    w = col.to_numpy(dtype=np.float64, na_value=np.nan)
    n_missing = int(np.isnan(w).sum())
    if n_missing:
        raise DataError(
            f"weight column {name!r} has {n_missing} missing value(s); "
            "every respondent needs a weight: fix the weights or drop those rows explicitly"
        )
    if not np.isfinite(w).all():
        raise DataError(f"weight column {name!r} has infinite values; fix the weights")
    if len(w) and w.max() > MAX_WEIGHT:
        raise DataError(
            f"weight column {name!r} has values above {MAX_WEIGHT:g} (largest {w.max():g}): "
            "no respondent stands for that many persons; give the sampling weights"
        )
    n_bad = int((w <= 0).sum())
    if n_bad:
        raise DataError(
            f"weight column {name!r} has {n_bad} zero or negative value(s) "
            f"(smallest {w.min():g}); weights must be positive: drop those rows "
            "(or mark them out of the domain) instead"
        )
    return w


def _no_missing(col: pd.Series, name: str, role: str) -> None:
    n_missing = int(col.isna().sum())
    if n_missing:
        raise DataError(
            f"{role} column {name!r} has {n_missing} missing value(s); "
            f"every row needs a {role}: fill them in or drop those rows explicitly"
        )


def _sampling_fraction(
    design: Design, data: pd.DataFrame, stratum_code: np.ndarray, psus_per_stratum: np.ndarray
) -> np.ndarray:
    """Per stratum: n_h / N_h from the fpc column (0 without fpc)."""
    n_strata = len(psus_per_stratum)
    if design.fpc is None:
        return np.zeros(n_strata)
    col = data[design.fpc]
    if not pd.api.types.is_numeric_dtype(col) or col.isna().any():
        raise DataError(
            f"fpc column {design.fpc!r} must be numeric without missing values "
            "(population size of the stratum, or the sampling fraction <= 1)"
        )
    fpc = col.to_numpy(dtype=np.float64)
    if (fpc <= 0).any():
        raise DataError(f"fpc column {design.fpc!r} has values <= 0; it must be positive")
    lo = np.full(n_strata, np.inf)
    hi = np.full(n_strata, -np.inf)
    np.minimum.at(lo, stratum_code, fpc)
    np.maximum.at(hi, stratum_code, fpc)
    varies = ~np.isclose(lo, hi, rtol=1e-12, atol=0)
    if varies.any():
        raise DataError(
            f"fpc column {design.fpc!r} varies within a stratum; "
            "it must be one population size (or sampling fraction) per stratum"
        )
    # As svydesign(): values <= 1 are sampling fractions, larger ones population sizes.
    if (hi <= 1).all():
        return hi
    if (hi <= 1).any():
        raise DataError(
            f"fpc column {design.fpc!r} mixes sampling fractions (<= 1) and population "
            "sizes (> 1); use one kind"
        )
    too_small = hi < psus_per_stratum
    if too_small.any():
        raise DataError(
            f"fpc column {design.fpc!r}: the population size is smaller than the number "
            "of sampled PSUs in a stratum; fpc is the population count of PSUs"
        )
    return psus_per_stratum / hi
