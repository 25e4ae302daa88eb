"""Confidence intervals for proportions, as R survey's ``svyciprop(method=)``.

Every method takes arrays of estimates ``p``, their design-based variance
``var`` and the domain degrees of freedom ``df`` and returns (low, high).
Student-t quantiles with the domain df are used throughout, as
``svyciprop`` does (its ``df = degf(design)`` on the domain's subset).

"wilson" is not in R survey 4.1: it is the Wilson score interval with the
Kish effective sample size p(1-p)/var and the t quantile in place of z.
When a domain's share is 0 or 1 (no variance), every method returns the
Korn-Graubard exact binomial interval at the domain's sample size (R gives
NaN or numerical noise there).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy  # scipy.stats loads on first use: `neacovid run` starts without it

from neacovid.errors import DataError

CI_METHODS = ("logit", "xlogit", "beta", "mean", "likelihood", "asin", "wilson")


@dataclass(frozen=True)
class ProfileInputs:
    """What the likelihood interval needs beyond p, var and df, per domain."""

    n: np.ndarray  # rows svyglm fits (the domain's; every row's for a calibrated design)
    dispersion: np.ndarray  # design-based variance of the Pearson residuals
    beta_hat: np.ndarray  # glm's converged intercept (logit of the share)
    mu_weights: np.ndarray  # mean at which glm evaluated its last working weights


def t_quantile(level: float, df: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return scipy.stats.t.ppf(1 - (1 - level) / 2, np.where(df > 0, df, np.nan))


def proportion_ci(
    p: np.ndarray,
    var: np.ndarray,
    df: np.ndarray,
    n: np.ndarray,
    method: str = "logit",
    level: float = 0.95,
    profile: ProfileInputs | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    if method not in CI_METHODS:
        raise DataError(f"ci={method!r} is not a CI method; use one of {', '.join(CI_METHODS)}")
    check_level(level)
    p = np.asarray(p, dtype=np.float64)
    var = np.asarray(var, dtype=np.float64)
    df = np.asarray(df, dtype=np.float64)
    se = np.sqrt(var)
    t = t_quantile(level, df)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        if method == "mean":
            low, high = p - t * se, p + t * se
        elif method in ("logit", "xlogit"):
            # svyglm's sandwich SE of the intercept equals the delta-method SE of
            # logit(p), so "logit" and "xlogit" coincide for a proportion.
            centre = scipy.special.logit(p)
            half = t * se / (p * (1 - p))
            low, high = scipy.special.expit(centre - half), scipy.special.expit(centre + half)
        elif method == "asin":
            centre = np.arcsin(np.sqrt(p))
            half = t * se / (2 * np.sqrt(p * (1 - p)))
            low, high = np.sin(centre - half) ** 2, np.sin(centre + half) ** 2
        elif method == "beta":
            alpha = 1 - level
            n_eff = p * (1 - p) / var
            n_arr = np.asarray(n, dtype=np.float64)
            ratio = scipy.stats.t.ppf(alpha / 2, n_arr - 1) / scipy.stats.t.ppf(
                alpha / 2, np.where(df > 0, df, np.nan)
            )
            n_eff = n_eff * ratio**2
            low = scipy.stats.beta.ppf(alpha / 2, n_eff * p, n_eff * (1 - p) + 1)
            high = scipy.stats.beta.ppf(1 - alpha / 2, n_eff * p + 1, n_eff * (1 - p))
        elif method == "wilson":
            n_eff = p * (1 - p) / var
            z2 = t * t
            centre = p + z2 / (2 * n_eff)
            half = t * np.sqrt(p * (1 - p) / n_eff + z2 / (4 * n_eff**2))
            low, high = (centre - half) / (1 + z2 / n_eff), (centre + half) / (1 + z2 / n_eff)
        else:  # likelihood
            if profile is None:
                raise ValueError("the likelihood interval needs ProfileInputs")
            low, high = _likelihood_ci(p, var, df, profile, level)
    # A share of 0 or 1 in the domain has no design-based variance, and every
    # method above collapses to [p, p] (R gives NaN). Korn & Graubard's rule for
    # this case: the exact binomial interval at the domain's sample size,
    # df-adjusted as in the beta method. "0% (0-12%)" instead of "0% (0-0%)".
    boundary = (var == 0) & ((p == 0) | (p == 1))
    if boundary.any():
        alpha = 1 - level
        n_arr = np.broadcast_to(np.asarray(n, dtype=np.float64), p.shape)
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = scipy.stats.t.ppf(alpha / 2, n_arr - 1) / scipy.stats.t.ppf(
                alpha / 2, np.where(df > 0, df, np.nan)
            )
            n_eff = n_arr * ratio**2
            upper_if_zero = scipy.stats.beta.ppf(1 - alpha / 2, 1, n_eff)
        low = np.where(boundary, np.where(p == 0, 0.0, 1 - upper_if_zero), low)
        high = np.where(boundary, np.where(p == 0, upper_if_zero, 1.0), high)
    return low, high


def check_level(level: float) -> None:
    if not (isinstance(level, int | float) and 0 < level < 1):
        raise DataError(f"level={level!r} must be a number between 0 and 1, e.g. 0.95")


def _likelihood_ci(p, var, df, profile: ProfileInputs, level: float):
    """R's ``confint(svyglm(y ~ 1, family=quasibinomial), method="likelihood")``.

    The profile deviance of the intercept-only model is scaled by the
    design effect of the coefficient (Rao-Scott), and located as R does: a
    grid of profile points, an FMM spline through them and linear
    interpolation at the cut-off, so that the limits equal R's to rounding.
    """
    low = np.full(p.shape, np.nan)
    high = np.full(p.shape, np.nan)
    for i in range(p.size):
        if not (0 < p[i] < 1 and var[i] > 0 and df[i] > 0 and profile.n[i] > 1):
            continue
        low[i], high[i] = _profile_one(
            p[i],
            var[i],
            df[i],
            profile.n[i],
            profile.dispersion[i],
            level,
            profile.beta_hat[i],
            profile.mu_weights[i],
        )
    return low, high


def _profile_one(p, var, df, n, dispersion, level, beta_hat, mu_weights, maxsteps: int = 10):
    se_beta = np.sqrt(var) / (p * (1 - p))
    naive_var = 1.0 / (n * mu_weights * (1 - mu_weights))
    design_effect = se_beta**2 / naive_var
    t = scipy.stats.t.ppf((1 - level) / 2, df)
    alpha = scipy.stats.norm.cdf(t * np.sqrt(design_effect)) / 2
    zmax = np.sqrt(scipy.stats.f.isf(alpha, 1, n - 1))
    step_size = zmax / 5

    def deviance(beta):
        mu = _logit_linkinv(beta)
        return -2 * n * (p * np.log(mu) + (1 - p) * np.log1p(-mu))

    # R profiles the quasi-likelihood of the share p (the weighted mean).
    deviance_hat = deviance(beta_hat)
    betas, zs = [beta_hat], [0.0]
    for sign in (-1, 1):
        step, z = 0, 0.0
        while (step := step + 1) < maxsteps and abs(z) < zmax:
            b = beta_hat + sign * step * step_size * se_beta
            zz = max((deviance(b) - deviance_hat) / dispersion, 0.0)
            z = sign * np.sqrt(zz)
            betas.append(b)
            zs.append(z)
    order = np.argsort(zs, kind="stable")
    betas, zs = np.asarray(betas)[order], np.asarray(zs)[order]
    grid_beta, grid_z = _fmm_spline_grid(betas, zs, 3 * len(betas))
    cutoff = np.array([scipy.stats.norm.ppf(2 * alpha), scipy.stats.norm.isf(2 * alpha)])
    z_sorted = np.argsort(grid_z, kind="stable")
    limits = np.interp(cutoff, grid_z[z_sorted], grid_beta[z_sorted], left=np.nan, right=np.nan)
    return scipy.special.expit(limits)


def _logit_linkinv(eta):
    """R's ``binomial()$linkinv``: the mean is kept within [eps, 1 - eps]."""
    eps = np.finfo(np.float64).eps
    threshold = -np.log(eps)
    if eta < -threshold:
        return eps
    if eta > threshold:
        return 1 - eps
    return scipy.special.expit(eta)


def _fmm_spline_grid(x, y, n_out):
    """R's ``spline(x, y, n=n_out)`` with method "fmm" (Forsythe, Malcolm, Moler)."""
    order = np.argsort(x, kind="stable")
    x, y = np.asarray(x, float)[order], np.asarray(y, float)[order]
    b, c, d = _fmm_coefficients(x, y)
    grid = np.linspace(x[0], x[-1], n_out)
    i = np.clip(np.searchsorted(x, grid, side="right") - 1, 0, len(x) - 1)
    dx = grid - x[i]
    return grid, y[i] + dx * (b[i] + dx * (c[i] + dx * d[i]))


def _fmm_coefficients(x, y):
    n = len(x)
    b, c, d = np.zeros(n), np.zeros(n), np.zeros(n)
    if n < 3:
        b[:] = (y[1] - y[0]) / (x[1] - x[0])
        return b, c, d
    last = n - 1
    d[0] = x[1] - x[0]
    c[1] = (y[1] - y[0]) / d[0]
    for i in range(1, last):
        d[i] = x[i + 1] - x[i]
        b[i] = 2.0 * (d[i - 1] + d[i])
        c[i + 1] = (y[i + 1] - y[i]) / d[i]
        c[i] = c[i + 1] - c[i]
    # End conditions: third derivatives matched to those of cubics through
    # the first and last four points.
    b[0] = -d[0]
    b[last] = -d[n - 2]
    c[0] = c[last] = 0.0
    if n > 3:
        c[0] = c[2] / (x[3] - x[1]) - c[1] / (x[2] - x[0])
        c[last] = c[n - 2] / (x[last] - x[n - 3]) - c[n - 3] / (x[n - 2] - x[n - 4])
        c[0] = c[0] * d[0] * d[0] / (x[3] - x[0])
        c[last] = -c[last] * d[n - 2] * d[n - 2] / (x[last] - x[n - 4])
    for i in range(1, n):
        t = d[i - 1] / b[i - 1]
        b[i] = b[i] - t * d[i - 1]
        c[i] = c[i] - t * c[i - 1]
    c[last] = c[last] / b[last]
    for i in range(n - 2, -1, -1):
        c[i] = (c[i] - d[i] * c[i + 1]) / b[i]
    b[last] = (y[last] - y[n - 2]) / d[n - 2] + d[n - 2] * (c[n - 2] + 2.0 * c[last])
    for i in range(last):
        b[i] = (y[i + 1] - y[i]) / d[i] - d[i] * (c[i + 1] + 2.0 * c[i])
        d[i] = (c[i + 1] - c[i]) / d[i]
        c[i] = 3.0 * c[i]
    c[last] = 3.0 * c[last]
    d[last] = d[n - 2]
    return b, c, d
