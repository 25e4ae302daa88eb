"""Design-based regression: logistic (R: ``svyglm(family=quasibinomial())``) and
linear (R: ``svyglm(family=gaussian())``).

`logit` fits a logistic regression given as a statsmodels/patsy formula, e.g.
``"burnout ~ C(location) + C(age_group) + C(wave)"``, and returns a tidy
frame with one row per coefficient: ``term``, ``estimate`` (log-odds),
``se``, ``odds_ratio``, ``ci_low``, ``ci_high`` (odds-ratio scale),
``p_value``, ``p_holm``, ``df``. `linear` fits a linear model by weighted
least squares and returns ``term``, ``estimate``, ``se``, ``ci_low``,
``ci_high``, ``p_value``, ``p_holm``, ``df`` (`LINEAR_COLUMNS`). `MODELS`
maps R's family names to the two.

Estimates: the maximum-likelihood solution of the weighted logistic
likelihood, i.e. what statsmodels' ``GLM(family=Binomial(), var_weights=w)``
(or ``freq_weights``) and R's ``glm(weights=w)`` converge to. Newton/IRLS is
iterated until the step is below 1e-10 (relative), which leaves the
coefficients exact to rounding (quadratic convergence), tighter than R's
default ``glm.control(epsilon=1e-8)``.

Standard errors: Taylor linearisation as R survey's ``svy.varcoef``. The
estimating functions ``U_i = w_i (y_i - mu_i) x_i`` (R: model matrix x
working residual x working weight) times the inverse information
``A^-1 = (X' diag(w mu (1 - mu)) X)^-1`` are the influence values of the
coefficients, and their covariance is ``svyrecvar`` over strata and PSUs,
with replacement at the first stage, fpc when the design has one, and the
design's lonely-PSU option: ``V = A^-1 Cov_design(sum U) A^-1``.

Linear model: the coefficients solve the weighted least-squares problem
(a Householder QR of sqrt(w) X, as glm's), exact to rounding; svyglm's
gaussian fit gives the same after its one IRLS step. The estimating
functions are ``U_i = w_i (y_i - x_i'b) x_i`` and ``A^-1 = (X' diag(w) X)^-1``;
the variance is the same sandwich. svyglm's gaussian SEs are this sandwich
alone (no dispersion factor).

Missing values: rows with a missing value in any model variable are left out
of the fit but stay in the design, as R's ``design[-nas, ]`` does: the PSUs
without complete rows count as zero totals (the full-design PSU counts are
kept), and ``df = degf(design[complete, ]) + 1 - number of coefficients``
(R: ``df.residual`` of svyglm), which the t-based intervals and p-values use.
``subset=`` (a pandas expression or a boolean mask, see
`neacovid.survey.estimate.subset_rows`) does the same with the rows outside
it: R's ``svyglm(formula, subset(design, expr))``.

Multiple comparisons: ``p_holm`` is Holm's step-down adjustment over the
non-intercept coefficients of the table (the family is "every effect in
this model"); the intercept row has ``p_holm`` missing.

Formulas are read by formulaic, statsmodels' second formula engine, because
patsy needs ~9 s to build a 1e6-row model matrix with ``C()`` terms. Columns
are named and ordered as patsy (and so statsmodels' default engine) names and
orders them: ``Intercept``, ``C(location)[T.hybrid]``, ``x``, ... Numpy is
available as ``np`` in formulas. Two differences from patsy: a bool column
named in the formula is treated as patsy does (``flag[T.True]``), but a
bool-valued expression such as ``I(x > 3)`` on the right-hand side is a 0/1
column named ``I(x > 3)``; and quotes inside a term are normalised to single
quotes (``C(a, Treatment('b'))``). A factor level that occurs only in rows
dropped for missing values gets no column (R: ``drop.unused.levels``; patsy
would make an all-zero column). As in patsy (not R), an expression of a
missing value is evaluated by numpy: ``I(x > 700)`` is False, not missing,
where x is missing, so such rows stay in the fit; write the missing values
into the outcome column to drop them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import formulaic
import numpy as np
import pandas as pd
from formulaic.errors import FactorEvaluationError, FormulaicError
from scipy import linalg, special, stats

from neacovid.errors import DataError, NeaCovidError
from neacovid.survey.ci import check_level, t_quantile
from neacovid.survey.design import BoundDesign, Design, as_bound
from neacovid.survey.estimate import subset_rows
from neacovid.survey.multitest import holm
from neacovid.survey.taylor import covariance_matrix

MODEL_COLUMNS = [
    "term",
    "estimate",
    "se",
    "odds_ratio",
    "ci_low",
    "ci_high",
    "p_value",
    "p_holm",
    "df",
    "level",
    "ci_method",
]
LINEAR_COLUMNS = [c for c in MODEL_COLUMNS if c != "odds_ratio"]
# The interval of a coefficient: estimate -/+ t(df) * se (for logit on the
# log-odds scale, then exponentiated).
WALD_T = "Wald t"

MAX_ITERATIONS = 50
# Newton step (relative to 1 + |beta|) below which the next iterate is taken
# as the solution: the error after it is of the order of the square of this.
STEP_TOLERANCE = 1e-10
# A model-matrix column whose distance from the span of the earlier columns is
# below this fraction of its norm is aliased (R's glm: 1e-11 with defaults).
ALIAS_TOLERANCE = 1e-10
# R's glm warns "fitted probabilities numerically 0 or 1" beyond 10 * eps;
# we refuse such a fit as (quasi-)separated.
_ETA_LIMIT = float(special.logit(1 - 10 * np.finfo(float).eps))
INTERCEPT = "Intercept"


class ModelError(NeaCovidError):
    """The model cannot be estimated from these data (aliased terms, no solution)."""


class SeparationError(ModelError):
    """(Quasi-)complete separation: some terms predict the outcome perfectly."""


class ConvergenceError(ModelError):
    """The iterations did not reach the maximum-likelihood estimate."""


@dataclass(frozen=True, eq=False)
class ModelFit:
    """A fitted model: its coefficient table and what tests and checks of it need."""

    table: pd.DataFrame  # one row per coefficient (`MODEL_COLUMNS` / `LINEAR_COLUMNS`)
    formula: str
    outcome: str  # the left-hand side
    rows: np.ndarray  # positions in the data of the rows in the fit
    vcov: np.ndarray  # design-based covariance of the coefficients
    terms: dict[str, list[int]]  # model term (as formulaic writes it) -> its columns
    df: float  # svyglm's residual df
    fitted: np.ndarray  # fitted values (probabilities for logit) of the rows in the fit


def logit(
    data: pd.DataFrame,
    design: Design | BoundDesign,
    formula: str,
    level: float = 0.95,
    subset: str | np.ndarray | pd.Series | None = None,
) -> pd.DataFrame:
    """Design-based logistic regression (`fit_logit`): its coefficient table."""
    return fit_logit(data, design, formula, level, subset).table


def linear(
    data: pd.DataFrame,
    design: Design | BoundDesign,
    formula: str,
    level: float = 0.95,
    subset: str | np.ndarray | pd.Series | None = None,
) -> pd.DataFrame:
    """Design-based linear regression (`fit_linear`): its coefficient table."""
    return fit_linear(data, design, formula, level, subset).table


def fit_logit(
    data: pd.DataFrame,
    design: Design | BoundDesign,
    formula: str,
    level: float = 0.95,
    subset: str | np.ndarray | pd.Series | None = None,
) -> ModelFit:
    """Design-based logistic regression of a 0/1 outcome (R: svyglm, quasibinomial).

    data: the survey data (every row, also those with missing model variables).
    design: a `Design` (or a design already bound to ``data``).
    formula: ``"outcome ~ terms"`` in patsy/statsmodels syntax. The outcome is
        0/1 (numeric or bool; proportions in [0, 1] are accepted as in R) or a
        two-category column, whose second (sorted) category counts as 1.
    level: confidence level of ``ci_low``/``ci_high``.
    subset: rows to fit (a pandas expression or a boolean mask); the others
        stay in the design, as R's ``subset(design, expr)``.

    Returns a `ModelFit` whose table has one row per coefficient, in the order
    of the model-matrix columns, with the columns of `MODEL_COLUMNS`; the
    table's ``attrs`` carry ``formula``, ``n`` (rows in the fit), ``n_dropped``
    (rows of the subset left out for missing values) and ``iterations``.

    Raises DataError (unknown column, bad formula or outcome), ModelError
    (aliased terms), SeparationError, ConvergenceError.
    """
    check_level(level)
    bound = as_bound(design, data)
    md = _model_data(data, formula, subset, _binary_outcome)
    w = bound.weights[md.rows]
    fit = _fit(md, w)

    # Estimating functions of the coefficients, R: model.matrix * working
    # residual * working weight = x_i w_i (y_i - mu_i). With the inverse
    # information of the same (mean-1) weights, the scale of w cancels.
    estfun = md.X * (fit.weights * (md.y - fit.mu))[:, None]
    table = _coefficient_table(bound, md, fit.beta, fit.inverse_information, estfun, level)
    out = pd.DataFrame(
        {
            "term": md.names,
            "estimate": table.estimate,
            "se": table.se,
            "odds_ratio": np.exp(table.estimate),
            "ci_low": np.exp(table.estimate - table.half_width),
            "ci_high": np.exp(table.estimate + table.half_width),
            "p_value": table.p_value,
            "p_holm": table.p_holm,
            "df": table.df,
            "level": level,
            "ci_method": WALD_T,
        },
        columns=MODEL_COLUMNS,
    )
    out.attrs.update(
        formula=formula, n=len(md.rows), n_dropped=md.n_dropped, iterations=fit.iterations
    )
    return ModelFit(
        out, formula, md.outcome, md.rows, table.vcov, md.term_columns, float(table.df[0]), fit.mu
    )


def fit_linear(
    data: pd.DataFrame,
    design: Design | BoundDesign,
    formula: str,
    level: float = 0.95,
    subset: str | np.ndarray | pd.Series | None = None,
) -> ModelFit:
    """Design-based linear regression of a numeric outcome (R: svyglm, gaussian).

    Arguments as `fit_logit`; the outcome is a number (a bool counts as 0/1).
    The table has one row per coefficient with the columns of
    `LINEAR_COLUMNS`: ``term``, ``estimate``, ``se``, ``ci_low``, ``ci_high``
    (t with the model's df), ``p_value``, ``p_holm``, ``df``, ``level``,
    ``ci_method``; its ``attrs`` carry ``formula``, ``n`` and ``n_dropped``.

    Raises DataError (unknown column, bad formula or outcome), ModelError
    (aliased terms).
    """
    check_level(level)
    bound = as_bound(design, data)
    md = _model_data(data, formula, subset, _numeric_outcome)
    w = bound.weights[md.rows]
    w = w / w.mean()  # as svyglm; the estimates and the sandwich do not depend on it
    gram = _Gram(md.X)
    _check_rank(gram(w), w, gram, md.names)
    q, r = np.linalg.qr(md.X * np.sqrt(w)[:, None])
    beta = linalg.solve_triangular(r, q.T @ (np.sqrt(w) * md.y), check_finite=False)
    estfun = md.X * (w * (md.y - md.X @ beta))[:, None]
    table = _coefficient_table(bound, md, beta, _inverse_information(gram, w), estfun, level)
    out = pd.DataFrame(
        {
            "term": md.names,
            "estimate": table.estimate,
            "se": table.se,
            "ci_low": table.estimate - table.half_width,
            "ci_high": table.estimate + table.half_width,
            "p_value": table.p_value,
            "p_holm": table.p_holm,
            "df": table.df,
            "level": level,
            "ci_method": WALD_T,
        },
        columns=LINEAR_COLUMNS,
    )
    out.attrs.update(formula=formula, n=len(md.rows), n_dropped=md.n_dropped)
    return ModelFit(
        out,
        formula,
        md.outcome,
        md.rows,
        table.vcov,
        md.term_columns,
        float(table.df[0]),
        md.X @ beta,
    )


MODELS = {"binomial": fit_logit, "gaussian": fit_linear}

TERM_TEST_COLUMNS = ["term", "statistic", "ndf", "ddf", "p_value"]


def term_tests(model: ModelFit, terms: Sequence[str]) -> pd.DataFrame:
    """Wald tests that all coefficients of a model term are 0 (R ``regTermTest(model,
    ~term)``, its default method): F = b' V^-1 b / p on (p, the model's df) degrees
    of freedom, with V the design-based covariance. ``model`` is a `ModelFit` of
    `fit_logit` or `fit_linear`; a term is written as in the formula (``C(location)``,
    ``C(location):C(wave)``), several joined by ``+`` are tested together.

    Returns one row per element of ``terms``: ``term``, ``statistic``, ``ndf``,
    ``ddf``, ``p_value``.
    """
    known = model.terms
    canonical = {_canonical(t): t for t in known}
    vcov, beta, ddf = model.vcov, model.table["estimate"].to_numpy(), model.df
    rows = []
    for spec in terms:
        columns = []
        for part in _split_terms(spec):
            name = canonical.get(_canonical(part))
            if name is None:
                raise DataError(
                    f"term {part!r} is not a term of {model.formula!r}; its terms "
                    f"are: {', '.join(known)}"
                )
            columns += known[name]
        ndf = len(columns)
        if ndf == 0:  # a factor with one level in the fit: nothing to test
            rows.append(
                {"term": spec, "statistic": np.nan, "ndf": 0, "ddf": ddf, "p_value": np.nan}
            )
            continue
        b = beta[columns]
        v = vcov[np.ix_(columns, columns)]
        try:
            chisq = float(b @ np.linalg.solve(v, b))
        except np.linalg.LinAlgError:
            chisq = np.nan
        statistic = chisq / ndf
        p = float(stats.f.sf(statistic, ndf, ddf)) if ddf > 0 else np.nan
        rows.append({"term": spec, "statistic": statistic, "ndf": ndf, "ddf": ddf, "p_value": p})
    return pd.DataFrame(rows, columns=TERM_TEST_COLUMNS)


def split_top_level(text: str, separator: str) -> list[str]:
    """``"C(a, T('x')), C(b)"`` split at ``,`` -> ["C(a, T('x'))", "C(b)"]: a separator
    inside brackets or quotes does not split."""
    parts, depth, quote, current = [], 0, None, ""
    for char in text:
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        else:
            depth += (char in "([") - (char in ")]")
        if char == separator and depth == 0 and quote is None:
            parts.append(current)
            current = ""
        else:
            current += char
    return [p.strip() for p in [*parts, current] if p.strip()]


def _split_terms(spec: str) -> list[str]:
    """``"C(a) + C(b)"`` -> ["C(a)", "C(b)"]."""
    return split_top_level(spec, "+")


def _canonical(term: str) -> str:
    """A term with its factors sorted and spaces dropped (R's canonicalOrder)."""
    factors, depth, current = [], 0, ""
    for char in term.replace(" ", ""):
        depth += (char in "([") - (char in ")]")
        if char == ":" and depth == 0:
            factors.append(current)
            current = ""
        else:
            current += char
    return ":".join(sorted([*factors, current]))


@dataclass(frozen=True)
class _CoefficientTable:
    estimate: np.ndarray
    se: np.ndarray
    half_width: np.ndarray  # t quantile x se (NaN when df <= 0)
    p_value: np.ndarray
    p_holm: np.ndarray  # Holm over the non-intercept terms
    df: np.ndarray
    vcov: np.ndarray  # the design-based covariance of the coefficients


def _coefficient_table(
    bound: BoundDesign,
    md: _ModelData,
    beta: np.ndarray,
    inverse_information: np.ndarray,
    estfun: np.ndarray,
    level: float,
) -> _CoefficientTable:
    """svyglm's sandwich ``A^-1 Cov_design(sum U) A^-1`` and its t-based tests."""
    meat, design_df = covariance_matrix(bound, md.rows, estfun)
    vcov = inverse_information @ meat @ inverse_information
    vcov = (vcov + vcov.T) / 2

    k = len(md.names)
    df = float(design_df + 1 - k)
    se = np.sqrt(np.maximum(np.diag(vcov), 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        t_value = beta / se
        if df > 0:
            p_value = 2 * stats.t.sf(np.abs(t_value), df)
            half = t_quantile(level, np.array([df]))[0] * se
        else:  # R: NaN p-values and intervals
            p_value = np.full(k, np.nan)
            half = np.full(k, np.nan)
    effect = np.array([name != INTERCEPT for name in md.names])
    p_holm = np.full(k, np.nan)
    p_holm[effect] = holm(p_value[effect])
    return _CoefficientTable(
        estimate=beta,
        se=se,
        half_width=half,
        p_value=p_value,
        p_holm=p_holm,
        df=np.full(k, df),
        vcov=vcov,
    )


# --------------------------------------------------------------------------- formula


@dataclass(frozen=True)
class _ModelData:
    y: np.ndarray  # (n,) outcome
    X: np.ndarray  # (n, k) model matrix
    names: list[str]  # k column names, as patsy names them
    outcome: str  # the left-hand side, for messages
    rows: np.ndarray  # (n,) positions in the data of the rows used
    n_dropped: int  # rows of the subset (or the data) left out for missing values
    term_columns: dict[str, list[int]]  # model term (as formulaic writes it) -> columns


def _model_data(
    data: pd.DataFrame,
    formula: str,
    subset: str | np.ndarray | pd.Series | None,
    outcome_values,
) -> _ModelData:
    """The model matrix and outcome of the rows of ``subset`` without missing values.

    ``outcome_values(lhs, outcome)`` turns the left-hand side's columns into
    the outcome vector (and checks it for the family).
    """
    if not isinstance(formula, str) or "~" not in formula:
        raise DataError(
            f"formula {formula!r} must be a string 'outcome ~ terms', "
            "e.g. 'burnout ~ C(location) + C(wave)'"
        )
    try:
        parsed = formulaic.Formula(formula, _ordering="none")
    except FormulaicError as e:
        raise DataError(f"cannot read formula {formula!r}: {_plain(e)}") from None
    if not hasattr(parsed, "lhs") or len(parsed.lhs) == 0:
        raise DataError(f"formula {formula!r} has no outcome; write 'outcome ~ terms'")

    # Positions as index (so that the rows kept are known).
    frame = data.reset_index(drop=True)
    where = "the data"
    if subset is not None:
        # Only the subset's rows are modelled: factor levels absent from it get
        # no column (R: glm's model frame drops unused levels).
        frame = frame[subset_rows(data, subset)]
        where = "the subset"
    bools = _bare_bool_columns(parsed, frame)
    if bools:
        # patsy treats a bool column as categorical: flag[T.True].
        frame = frame.assign(
            **{c: pd.Categorical(frame[c], categories=[False, True]) for c in bools}
        )

    matrices = _materialize(parsed, frame, formula, data)
    spec = matrices.rhs.model_spec
    order = _patsy_term_order(spec)
    if [str(t) for t in order] != [str(s.term) for s in spec.structure]:
        # patsy sorts the terms (and chooses contrasts) in this order.
        reordered = formulaic.Formula(
            lhs=parsed.lhs, rhs=formulaic.Formula(order, _ordering="none"), _ordering="none"
        )
        matrices = _materialize(reordered, frame, formula, data)

    lhs, rhs = matrices.lhs, matrices.rhs
    outcome = str(parsed.lhs)
    rows = rhs.index.to_numpy()
    if len(rows) == 0:
        raise DataError(
            f"no row of {where} has all the variables of {formula!r}: every row has a "
            "missing value in one of them"
        )
    y = outcome_values(lhs, outcome)
    X = rhs.to_numpy(dtype=np.float64)
    names = [str(c) for c in rhs.columns]
    bad = ~np.isfinite(X).all(axis=0)
    if bad.any():
        raise DataError(
            f"model term {names[int(np.flatnonzero(bad)[0])]!r} of {formula!r} has infinite "
            "values; set them to missing or transform the variable"
        )
    if X.shape[1] == 0:
        raise DataError(f"formula {formula!r} has no terms to estimate")
    if len(rows) <= X.shape[1]:
        raise DataError(
            f"{len(rows)} complete row(s) for {X.shape[1]} coefficients in {formula!r}: "
            "too few to fit the model"
        )
    term_columns = {
        str(term): list(range(X.shape[1]))[part]
        for term, part in rhs.model_spec.term_slices.items()
        if str(term) != "1"
    }
    return _ModelData(
        y=y,
        X=X,
        names=names,
        outcome=outcome,
        rows=rows,
        n_dropped=len(frame) - len(rows),
        term_columns=term_columns,
    )


def _bare_bool_columns(parsed, frame: pd.DataFrame) -> list[str]:
    """Bool columns that the formula uses only as bare terms (``flag``, ``flag:x``),
    not inside an expression such as ``I(2 * flag)``, where they must stay numbers.
    A bool outcome stays a 0/1 number (for the logistic model as for the linear)."""
    exprs = [f.expr for part in (parsed.lhs, parsed.rhs) for t in part for f in t.factors]
    terms = {f.expr for t in parsed.rhs for f in t.factors}
    out = []
    for c in map(str, parsed.required_variables):
        if c not in frame.columns or not pd.api.types.is_bool_dtype(frame[c]):
            continue
        inside = [e for e in exprs if e != c and re.search(rf"\b{re.escape(c)}\b", e)]
        if c in terms and not inside:
            out.append(c)
    return out


def _materialize(parsed, frame: pd.DataFrame, formula: str, data: pd.DataFrame):
    try:
        return formulaic.model_matrix(parsed, frame, na_action="drop", context={})
    except FactorEvaluationError as e:
        text = _plain(e)
        name = re.search(r"NameError: (?:name )?[`']([^`']+)[`']", text)
        if name:
            shown = ", ".join(map(str, data.columns[:12]))
            more = f", ... ({len(data.columns)} in all)" if len(data.columns) > 12 else ""
            raise DataError(
                f"formula {formula!r} uses {name.group(1)!r}, which is not a column of the "
                f"data; columns are: {shown}{more}"
            ) from None
        raise DataError(f"cannot evaluate formula {formula!r}: {text}") from None
    except FormulaicError as e:
        raise DataError(f"cannot build the model matrix of {formula!r}: {_plain(e)}") from None


def _plain(error: Exception) -> str:
    """formulaic's message on one line, without terminal colour codes."""
    return " ".join(re.sub(r"\x1b\[[0-9;]*m", "", str(error)).split())


def _patsy_term_order(spec) -> list:
    """Terms in patsy's order: grouped by their numerical factors (the group
    without numerical factors first, the others by first appearance), each
    group sorted by degree, the intercept first."""
    categorical = set(spec.factor_contrasts)
    groups: dict[frozenset, list] = {}
    for term in spec.terms:
        numeric = frozenset(f for f in term.factors if f not in categorical and str(f) != "1")
        groups.setdefault(numeric, []).append(term)
    keys = list(groups)
    if frozenset() in groups:
        keys.remove(frozenset())
        keys.insert(0, frozenset())
    order = []
    for key in keys:
        order += sorted(groups[key], key=lambda t: 0 if str(t) == "1" else len(t.factors))
    return order


def _binary_outcome(lhs: pd.DataFrame, outcome: str) -> np.ndarray:
    if lhs.shape[1] == 1:
        y = lhs.iloc[:, 0].to_numpy(dtype=np.float64)
    elif lhs.shape[1] == 2 and (lhs.sum(axis=1) == 1).all():
        # A two-category outcome: indicator columns of the sorted categories;
        # the second one is "1" (R: the first factor level is failure).
        y = lhs.iloc[:, 1].to_numpy(dtype=np.float64)
    elif lhs.shape[1] == 2:
        raise DataError(f"the outcome {outcome!r} has two columns; give one 0/1 outcome column")
    else:
        cats = ", ".join(map(str, lhs.columns[:6]))
        raise DataError(
            f"outcome {outcome!r} has {lhs.shape[1]} categories ({cats}); a logistic "
            "regression needs a 0/1 outcome: recode it, e.g. I(var == 'value')"
        )
    bad = ~np.isfinite(y) | (y < 0) | (y > 1)
    if bad.any():
        raise DataError(
            f"outcome {outcome!r} must be 0/1 (or a proportion between 0 and 1); "
            f"it has {int(bad.sum())} other value(s), e.g. {y[bad][0]:g}"
        )
    if (y == y[0]).all():
        raise DataError(
            f"outcome {outcome!r} is {y[0]:g} in all {len(y)} rows used: there is nothing to model"
        )
    return y


def _numeric_outcome(lhs: pd.DataFrame, outcome: str) -> np.ndarray:
    if lhs.shape[1] != 1:
        cats = ", ".join(map(str, lhs.columns[:6]))
        raise DataError(
            f"outcome {outcome!r} is not a number ({lhs.shape[1]} columns: {cats}); a linear "
            "model needs a numeric outcome: recode it, e.g. I(1 * (var == 'value'))"
        )
    y = lhs.iloc[:, 0].to_numpy(dtype=np.float64)
    if not np.isfinite(y).all():
        raise DataError(
            f"outcome {outcome!r} has {int((~np.isfinite(y)).sum())} infinite value(s); "
            "set them to missing or fix them"
        )
    return y


# --------------------------------------------------------------------------- fit


@dataclass(frozen=True)
class _Fit:
    beta: np.ndarray
    mu: np.ndarray
    weights: np.ndarray  # the prior weights, scaled to mean 1 (as svyglm)
    inverse_information: np.ndarray  # (X' diag(weights mu (1 - mu)) X)^-1
    iterations: int


def _fit(md: _ModelData, weights: np.ndarray) -> _Fit:
    """Weighted logistic maximum likelihood by Newton's method (= IRLS for the logit).

    Starts as R's glm.fit (mustart = (w y + 0.5)/(w + 1), one IRLS step from
    there), then Newton steps, halved while the deviance rises, until the
    step is below STEP_TOLERANCE; that last step is taken as well.
    """
    X, y = md.X, md.y
    w = weights / weights.mean()  # as svyglm; the estimates do not depend on it
    gram = _Gram(X)

    mu = (w * y + 0.5) / (w + 1)
    eta = special.logit(mu)
    working = w * mu * (1 - mu)
    information = gram(working)
    _check_rank(information, working, gram, md.names)
    z = eta + (y - mu) / (mu * (1 - mu))
    beta = _solve(information, X.T @ (working * z))
    if beta is None:
        raise ConvergenceError(
            f"the model for {md.outcome!r} cannot be started: the weighted information "
            "matrix is singular"
        )
    eta = X @ beta
    dev = _deviance(eta, y, w)
    history = [beta]
    converged = False
    iterations = 1
    while iterations < MAX_ITERATIONS:
        iterations += 1
        mu = special.expit(eta)
        step = _solve(gram(w * mu * (1 - mu)), X.T @ (w * (y - mu)))
        if step is None:  # information singular: fitted 0/1 wherever it mattered
            break
        small = np.max(np.abs(step) / (1 + np.abs(beta))) <= STEP_TOLERANCE
        new = beta + step
        new_eta = X @ new
        new_dev = _deviance(new_eta, y, w)
        halvings = 0
        while not new_dev <= dev + 1e-12 * (abs(dev) + 1) and halvings < 30:
            step = step / 2
            new = beta + step
            new_eta = X @ new
            new_dev = _deviance(new_eta, y, w)
            halvings += 1
        beta, eta, dev = new, new_eta, new_dev
        history.append(beta)
        if small:
            converged = True
            break

    if not converged or (np.abs(eta) > _ETA_LIMIT).any():
        _raise_no_solution(md, beta, eta, history, converged, iterations)
    mu = special.expit(eta)
    working = w * mu * (1 - mu)
    return _Fit(
        beta=beta,
        mu=mu,
        weights=w,
        inverse_information=_inverse_information(gram, working),
        iterations=iterations,
    )


class _Gram:
    """X' diag(v) X for a fixed X, as (sqrt(v) X)'(sqrt(v) X) in a reused buffer
    (a symmetric rank-k update, half the work of a general product)."""

    def __init__(self, X: np.ndarray):
        self.X = X
        self.scaled = np.empty_like(X)

    def __call__(self, v: np.ndarray) -> np.ndarray:
        np.multiply(self.X, np.sqrt(v)[:, None], out=self.scaled)
        return self.scaled.T @ self.scaled

    def r_factor(self, v: np.ndarray) -> np.ndarray:
        """R of the Householder QR of sqrt(v) X (slower, but accurate when X is
        ill-conditioned)."""
        np.multiply(self.X, np.sqrt(v)[:, None], out=self.scaled)
        return np.linalg.qr(self.scaled, mode="r")


def _deviance(eta: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    # -2 log-likelihood: 2 sum w (log(1 + exp(eta)) - y eta), the softplus stably.
    softplus = np.log1p(np.exp(-np.abs(eta))) + np.maximum(eta, 0)
    return float(2 * (w @ softplus - (w * y) @ eta))


def _solve(matrix: np.ndarray, rhs: np.ndarray) -> np.ndarray | None:
    """Solve a symmetric positive definite system, scaled to unit diagonal first
    (so that badly scaled predictors do not matter); None if it is singular."""
    d = np.sqrt(np.diag(matrix))
    if not (np.all(np.isfinite(d)) and np.all(d > 0)):
        return None
    try:
        factor = linalg.cho_factor(matrix / np.outer(d, d), check_finite=False)
    except linalg.LinAlgError:
        return None
    out = linalg.cho_solve(factor, rhs / d, check_finite=False) / d
    return out if np.all(np.isfinite(out)) else None


def _check_rank(
    information: np.ndarray, working: np.ndarray, gram: _Gram, names: list[str]
) -> None:
    """Refuse aliased columns (R's glm would report NA for them).

    Column k is aliased when its distance from the span of the columns before
    it is below ALIAS_TOLERANCE of its norm: |R_kk| of the QR decomposition of
    the column-scaled weighted X. The Cholesky factor of the scaled X'WX has
    the same diagonal, but only to ~1e-8, so a Householder QR decides when it
    is small.
    """
    d = np.sqrt(np.diag(information))
    zero = np.flatnonzero(d == 0)
    if len(zero):
        raise ModelError(
            f"model-matrix column {names[zero[0]]!r} is 0 in all {gram.X.shape[0]} rows "
            "used (a category that only occurs in rows with a missing value?): drop the "
            "term or merge categories"
        )
    try:
        distance = np.abs(np.diag(linalg.cholesky(information / np.outer(d, d), lower=True)))
        clear = distance.min() > 1e-6
    except linalg.LinAlgError:
        clear = False
    if clear:
        return
    distance = np.abs(np.diag(gram.r_factor(working))) / d
    aliased = np.flatnonzero(distance < ALIAS_TOLERANCE)
    if len(aliased):
        raise ModelError(
            f"model-matrix column {names[aliased[0]]!r} is a linear combination of the "
            f"columns before it in the {gram.X.shape[0]} rows used, so its coefficient "
            "cannot be estimated (R would report NA); aliased: "
            f"{', '.join(repr(names[j]) for j in aliased)}. Drop or merge terms"
        )


def _raise_no_solution(md, beta, eta, history, converged, iterations) -> None:
    y = md.y
    numerically_01 = np.abs(eta) > _ETA_LIMIT
    # Rows the linear predictor puts far out on the side of their outcome.
    perfect = ((eta > 15) & (y == 1)) | ((eta < -15) & (y == 0))
    wrong = ((eta > 15) & (y < 1)) | ((eta < -15) & (y > 0))
    # Direction in which the coefficients grew over the last iterations.
    growth = history[-1] - history[max(0, len(history) - 6)]
    if not np.any(growth):
        growth = beta
    scale = np.abs(growth)
    top = np.argsort(-scale, kind="stable")
    diverging = [md.names[j] for j in top if scale[j] >= 0.2 * scale[top[0]]][:5]
    if (numerically_01.any() or perfect.any()) and not wrong.any():
        raise SeparationError(
            f"(quasi-)complete separation: {md.outcome!r} is predicted perfectly for "
            f"{int(perfect.sum())} of {len(y)} rows, so the maximum-likelihood estimate "
            "does not exist (fitted probabilities 0 or 1; the coefficients of "
            f"{', '.join(map(repr, diverging))} grow without bound). Merge sparse "
            "categories, drop the term, or restrict the data"
        )
    raise ConvergenceError(
        f"the model for {md.outcome!r} did not converge in {iterations} iterations "
        f"(converged={converged}); the coefficients still moving most: "
        f"{', '.join(map(repr, diverging))}. Check for near-collinear terms or "
        "extreme predictor values"
    )


def _inverse_information(gram: _Gram, working: np.ndarray) -> np.ndarray:
    """(X' diag(working) X)^-1, as R's summary.glm()$cov.unscaled.

    From the Cholesky factor of the column-scaled X'WX when that is well
    conditioned (error ~ condition x 1e-13), else from the Householder QR of
    sqrt(working) X, as R computes it.
    """
    information = gram(working)
    d = np.sqrt(np.diag(information))
    scaled = information / np.outer(d, d)
    if np.linalg.cond(scaled) < 1e4:
        inverse = linalg.cho_solve(linalg.cho_factor(scaled), np.eye(len(d)))
        inverse = inverse / np.outer(d, d)
    else:
        r = gram.r_factor(working)
        r_inv = linalg.solve_triangular(r, np.eye(r.shape[0]), check_finite=False)
        inverse = r_inv @ r_inv.T
    return (inverse + inverse.T) / 2


# --------------------------------------------------------------------------- variance
