"""The quantile rule of R survey 4.x's ``svyquantile``: ``qrule = "math"``.

For one domain, with the values sorted (ties in their row order) and their
weights cumulated, R's ``qs()`` finds the last position whose cumulative
weight is at most ``p`` times the total, and ``qrule_math`` returns the value
there when the weight share up to it is exactly ``p``, else the next value:
the inverse of the weighted empirical CDF, taking the lower value on a
boundary (``x[pos]`` when ``cumw[pos] / W == p``).

Two details of R are kept, because the numbers must be R's:

* When even the smallest value carries more than ``p`` of the weight, R's
  ``last()`` of an all-false vector is 1, and ``qrule_math`` then returns the
  *second* smallest value (``x[2]``), not the smallest. It shows up in the
  lower limit of an interval of a small domain.
* R cumulates the weights in long double: its partial sums are exact for
  weights that are equal within a domain (constant weights in a stratum),
  and the boundary case ``cumw[pos] / W == p`` is then hit exactly, e.g. the
  median of 100 equally weighted rows is the 50th value. A float64 cumsum is
  a few ulps off there and would take the 51st. The partial sums near the
  target are therefore recomputed exactly (``math.fsum``, the exactly
  rounded sum, which is what R's long double sum rounds to whenever it is
  exact), which keeps the rule portable (Windows has no long double).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

_EPS = np.finfo(np.float64).eps


@dataclass(frozen=True)
class SortedValues:
    """One domain's values, sorted stably (R's ``order``), with their weights."""

    values: np.ndarray
    weights: np.ndarray
    cumulative: np.ndarray  # float64 cumsum of weights: exact to a few ulps
    total: float  # the weights' sum, exactly rounded (R: sum(w))

    @classmethod
    def of(cls, values: np.ndarray, weights: np.ndarray) -> SortedValues:
        order = np.argsort(values, kind="stable")
        weights = np.ascontiguousarray(weights[order], dtype=np.float64)
        return cls(
            values=values[order],
            weights=weights,
            cumulative=np.cumsum(weights),
            total=math.fsum(weights),
        )

    def quantile(self, p: np.ndarray) -> np.ndarray:
        """R's ``qrule_math(x, w, p)`` for each p in [0, 1] (NaN gives NaN)."""
        p = np.asarray(p, dtype=np.float64)
        out = np.full(p.shape, np.nan)
        n = len(self.values)
        if n == 0:
            return out
        for i, p_i in np.ndenumerate(p):
            if not 0 <= p_i <= 1:
                continue
            target = p_i * self.total
            pos, partial = self._last_at_most(target)
            if pos < 0:  # R's last(): 1 when no partial sum is <= target
                pos, partial = 0, self._exact(0)
            at_boundary = p_i - partial / self.total == 0
            out[i] = self.values[pos if at_boundary else min(pos + 1, n - 1)]
        return out

    def _last_at_most(self, target: float) -> tuple[int, float]:
        """The last position whose partial sum (R's) is <= target, and that sum."""
        cumulative = self.cumulative
        # A float64 cumsum over n terms is within n eps of the exact partial sums.
        tolerance = 2 * len(cumulative) * _EPS * self.total
        low = int(np.searchsorted(cumulative, target - tolerance, side="left"))
        high = int(np.searchsorted(cumulative, target + tolerance, side="right"))
        pos, partial = low - 1, (float(cumulative[low - 1]) if low > 0 else 0.0)
        for j in range(low, high):
            exact = self._exact(j)
            if exact > target:
                break
            pos, partial = j, exact
        return pos, partial

    def _exact(self, j: int) -> float:
        return math.fsum(self.weights[: j + 1])
