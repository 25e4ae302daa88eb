"""Adjusted p-values for a family of tests (R ``p.adjust``), by statsmodels.

`adjust` wraps ``statsmodels.stats.multitest.multipletests`` so that a test
without a p-value (NaN: an empty domain, a difference that cannot be
estimated) stays NaN and does not count in the size of the family, as in R.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from statsmodels.stats.multitest import multipletests

from neacovid.errors import DataError

# Our names -> statsmodels' (R's p.adjust names in brackets).
METHODS = {"holm": "holm", "bh": "fdr_bh"}  # Holm ("holm"), Benjamini-Hochberg ("BH")


def adjust(p_values, method: str = "holm") -> np.ndarray:
    """Adjusted p-values of one family; NaN in, NaN out."""
    if method not in METHODS:
        raise DataError(
            f"multiple-testing method {method!r} is not known; use one of {', '.join(METHODS)}"
        )
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        with _no_forced_collection():
            out[ok] = multipletests(p[ok], method=METHODS[method])[1]
    return out


@contextmanager
def _no_forced_collection() -> Iterator[None]:
    """statsmodels' Holm branch ends with ``gc.collect()`` (against memory use on
    millions of p-values; statsmodels PR #8671 proposed removing it). A full
    collection walks the whole heap: with a pipeline's data in memory it costs about
    0.1 s per family, and a change table has hundreds of families (34 of the 43 s of
    the compare step). The adjustment itself is untouched; garbage is collected as
    usual afterwards. Single-threaded use only (the swap is process-wide)."""
    collect = gc.collect
    gc.collect = lambda generation=2: 0
    try:
        yield
    finally:
        gc.collect = collect


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjustment (R ``p.adjust(p, "holm")``)."""
    return adjust(p_values, "holm")
