"""neacovid.survey.models.logit: against R survey 4.1.1 (tests/reference/models_reference.R),
statsmodels' GLM, and on bad input.

R's coefficient names differ from patsy's (``stypeH`` vs ``C(stype)[T.H]``);
`r_term` maps them, and the test matches rows by name (the R script sorts
factor levels in C-locale order, as Python does, so the reference levels agree).

Tolerances (issue): coefficients 1e-9 absolute, SE 1e-6 relative, against R's
svyglm iterated to convergence (``control = "tight"``). R's default
convergence (epsilon 1e-8) stops up to a few 1e-8 short of the maximum and its
sandwich uses the working weights of the iteration before the last; against
those rows the tolerances are 1e-7 and 1e-4, the distance measured on these
cases (see the header of models_reference.R).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from reference_data import design_from_row, r_term, read_data, read_reference
from statsmodels.stats.multitest import multipletests

from neacovid.errors import DataError, LonelyPSUError, NeaCovidError
from neacovid.survey import models
from neacovid.survey.design import Design
from neacovid.survey.models import (
    MODEL_COLUMNS,
    ConvergenceError,
    ModelError,
    SeparationError,
    logit,
)
from neacovid.survey.multitest import holm

TEXT = ["formula", "control"]  # besides reference_data.ROW_TEXT
MAIN = "burnout ~ C(location) + C(age_group) + C(wave) + hours + female"
STRCLUS = Design("w", strata="stratum", psu="psu")

TOLERANCES = {  # control: (coefficient abs, se rel, log CI limit abs, p rel)
    "tight": (1e-9, 1e-6, 1e-6, 1e-5),
    "default": (1e-7, 1e-4, 1e-4, 5e-3),
}


REFERENCE_ROWS = read_reference("models_reference.csv", TEXT)


def _data(stem: str) -> pd.DataFrame:
    # models_nolonely: the synthetic sample without s9, its single-PSU stratum.
    if stem == "models_nolonely":
        data = read_data("models")
        return data[data["stratum"] != "s9"].reset_index(drop=True)
    return read_data(stem)


def _cases():
    return [
        pytest.param(group, id=f"{case}/{control}")
        for (case, control), group in REFERENCE_ROWS.groupby(["case", "control"], sort=False)
    ]


# --------------------------------------------------------------------------- R


@pytest.mark.parametrize("expected", _cases())
def test_logit_equals_r_svyglm(expected):
    first = expected.iloc[0]
    got = logit(_data(first.data), design_from_row(first), first.formula, level=first.level)
    assert list(got.columns) == MODEL_COLUMNS
    assert got.attrs["n"] == first.n
    got = got.assign(r_term=got["term"].map(r_term))
    assert sorted(got["r_term"]) == sorted(expected["term"]), "terms differ from R's"
    merged = expected.merge(got, left_on="term", right_on="r_term", suffixes=("_r", ""))

    coef_tol, se_tol, ci_tol, p_tol = TOLERANCES[first.control]
    np.testing.assert_allclose(merged["estimate"], merged["estimate_r"], rtol=0, atol=coef_tol)
    np.testing.assert_allclose(merged["se"], merged["se_r"], rtol=se_tol, atol=0)
    for limit in ("ci_low", "ci_high"):
        np.testing.assert_allclose(
            np.log(merged[limit]), np.log(merged[f"{limit}_r"]), rtol=0, atol=ci_tol
        )
    np.testing.assert_allclose(merged["p_value"], merged["p_value_r"], rtol=p_tol, atol=1e-12)
    np.testing.assert_allclose(merged["p_holm"], merged["p_holm_r"], rtol=p_tol, atol=1e-12)
    np.testing.assert_array_equal(merged["df"], merged["df_r"])
    np.testing.assert_allclose(merged["odds_ratio"], np.exp(merged["estimate"]), rtol=1e-15)


def test_reference_covers_the_issue():
    cases = set(REFERENCE_ROWS["case"].str.split("/").str[0])
    assert {"apistrat_fpc", "apistrat", "apiclus1_fpc", "strclus", "strclus_fpc"} <= cases
    assert {f"lonely_{o}" for o in ("remove", "certainty", "adjust", "average")} <= cases
    assert set(REFERENCE_ROWS["control"]) == {"default", "tight"}
    assert (REFERENCE_ROWS["level"] == 0.9).any()
    # Rows dropped for missing values: fewer rows in the fit than in the data.
    strclus = REFERENCE_ROWS[REFERENCE_ROWS["case"] == "strclus/main"]
    assert strclus["n"].iloc[0] < len(_data("models_nolonely"))


def test_lonely_psu_fail_refuses_the_design():
    # R: "Stratum (s9) has only one PSU at stage 1" (checked in the R script).
    with pytest.raises(LonelyPSUError, match="s9"):
        logit(_data("models"), STRCLUS, MAIN)


@pytest.mark.parametrize("lonely", ["remove", "certainty", "adjust", "average"])
@pytest.mark.parametrize("fpc", [None, "N_psu"])
def test_design_covariance_diagonal_equals_domain_variance(lonely, fpc):
    # taylor.covariance_matrix (the models' sandwich meat) against domain_variance (the
    # estimators' variance) on the complete rows as one domain.
    from neacovid.survey.taylor import covariance_matrix, domain_variance

    data = _data("models")
    bound = Design("w", strata="stratum", psu="psu", fpc=fpc, lonely_psu=lonely).bind(data)
    rows = np.flatnonzero(data[["burnout", "location", "hours"]].notna().all(axis=1).to_numpy())
    values = np.random.default_rng(7).normal(size=(len(rows), 4)) + [0, 5, -3, 50]
    cov, df = covariance_matrix(bound, rows, values)
    dv = domain_variance(bound, rows, np.zeros(len(rows), dtype=np.intp), values, 1)
    np.testing.assert_allclose(np.diag(cov), dv.variance[0], rtol=1e-11)
    assert df == dv.df[0]
    # Off-diagonal: Var(a + b) = Var a + Var b + 2 Cov(a, b).
    both = domain_variance(bound, rows, np.zeros(len(rows), dtype=np.intp), values[:, :2].sum(1), 1)
    np.testing.assert_allclose(
        both.variance[0, 0], cov[0, 0] + cov[1, 1] + 2 * cov[0, 1], rtol=1e-10
    )


# --------------------------------------------------------------------------- semantics


def _statsmodels(formula: str, data: pd.DataFrame, **weights):
    model = smf.glm(formula, data, family=sm.families.Binomial(), missing="drop", **weights)
    return model.fit(tol=1e-14, tol_criterion="params", maxiter=100)


@pytest.mark.parametrize("weights", ["var_weights", "freq_weights"])
@pytest.mark.parametrize(
    "formula",
    [MAIN, "burnout ~ C(location) * hours + C(wave)", "burnout ~ hours:C(age_group) + female"],
)
def test_estimates_equal_statsmodels_weighted_glm(formula, weights):
    data = _data("models_nolonely")
    ours = logit(data, STRCLUS, formula)
    theirs = _statsmodels(formula, data, **{weights: data["w"].to_numpy()})
    assert ours["term"].tolist() == list(theirs.params.index)  # patsy's names and order
    np.testing.assert_allclose(ours["estimate"], theirs.params, rtol=0, atol=1e-10)


@pytest.mark.parametrize(
    "formula",
    [
        "burnout ~ hours * C(location) + C(wave)",
        "burnout ~ C(location):C(age_group) + C(location)",
        "burnout ~ hours + C(location):C(age_group) + female",
        "burnout ~ hours:female + hours + C(wave)",
        "burnout ~ 0 + C(location) + hours",
        "burnout ~ fem + hours + np.log(hours) + I(hours ** 2)",
        "burnout ~ hours:fem + C(wave, Treatment(3))",
    ],
)
def test_terms_are_named_and_ordered_as_patsy_does(formula):
    import patsy
    from statsmodels.compat.patsy import ensure_patsy_compat

    ensure_patsy_compat()
    data = _data("models_nolonely").assign(fem=lambda d: d["female"] == 1)
    ours = logit(data, STRCLUS, formula)
    _, matrix = patsy.dmatrices(formula, data, return_type="dataframe")
    expected = [c.replace('"', "'") for c in matrix.columns]
    assert ours["term"].tolist() == expected


def test_simple_random_sample_se_is_hc0_with_the_full_sample_size():
    # One row per PSU, no strata, equal weights: the sandwich is statsmodels'
    # HC0 times N/(N - 1), with N the rows of the *design*: rows dropped for
    # missing values stay in it (R: design[-nas, ] keeps the PSU count).
    data = _data("models_nolonely").assign(one=1.0)
    ours = logit(data, Design("one"), MAIN)
    model = smf.glm(MAIN, data, family=sm.families.Binomial(), missing="drop")
    theirs = model.fit(tol=1e-14, tol_criterion="params", cov_type="HC0")
    n_design = len(data)
    np.testing.assert_allclose(
        ours["se"], theirs.bse * np.sqrt(n_design / (n_design - 1)), rtol=1e-9
    )
    # df = degf(design[complete, ]) + 1 - coefficients = (n - 1) + 1 - k.
    assert (ours["df"] == ours.attrs["n"] - len(ours)).all()


def test_weights_scale_does_not_matter():
    data = _data("models_nolonely")
    base = logit(data, STRCLUS, MAIN)
    scaled = logit(data.assign(w=data["w"] * 1234.5), STRCLUS, MAIN)
    np.testing.assert_allclose(scaled["estimate"], base["estimate"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(scaled["se"], base["se"], rtol=1e-12)


def test_rows_with_missing_values_stay_in_the_design():
    # Dropping them beforehand changes the design (s4_p2 and s8 disappear,
    # s7 is down to one PSU): same coefficients, other SEs and df.
    data = _data("models_nolonely")
    kept = logit(data, STRCLUS, MAIN)
    complete = data.dropna(subset=["burnout", "location", "hours"])
    design = Design("w", strata="stratum", psu="psu", lonely_psu="remove")
    refit = logit(complete.reset_index(drop=True), design, MAIN)
    np.testing.assert_allclose(refit["estimate"], kept["estimate"], atol=1e-12)
    assert kept.attrs["n"] == refit.attrs["n"] == len(complete)
    assert kept.attrs["n_dropped"] == len(data) - len(complete)
    assert not np.allclose(refit["se"], kept["se"], rtol=1e-3)


def test_row_order_and_index_do_not_matter():
    data = _data("models_nolonely")
    base = logit(data, STRCLUS, MAIN)
    shuffled = data.sample(frac=1, random_state=3)
    shuffled.index = np.repeat(np.arange(len(data) // 2 + 1), 2)[: len(data)]  # not unique
    got = logit(shuffled, STRCLUS, MAIN)
    np.testing.assert_allclose(got["estimate"], base["estimate"], atol=1e-12)
    np.testing.assert_allclose(got["se"], base["se"], rtol=1e-10)


def test_bound_design_and_level():
    data = _data("models_nolonely")
    bound = STRCLUS.bind(data)
    a = logit(data, bound, MAIN, level=0.9)
    b = logit(data, STRCLUS, MAIN, level=0.9)
    pd.testing.assert_frame_equal(a, b)
    wide = logit(data, STRCLUS, MAIN, level=0.99)
    assert (wide["ci_low"] < a["ci_low"]).all() and (wide["ci_high"] > a["ci_high"]).all()
    with pytest.raises(DataError, match="level"):
        logit(data, STRCLUS, MAIN, level=95)


def test_holm_over_the_effects_only():
    got = logit(_data("models_nolonely"), STRCLUS, MAIN)
    assert np.isnan(got.loc[got["term"] == "Intercept", "p_holm"]).all()
    effects = got[got["term"] != "Intercept"]
    expected = multipletests(effects["p_value"], method="holm")[1]
    np.testing.assert_allclose(effects["p_holm"], expected, rtol=1e-14)
    assert (effects["p_holm"] >= effects["p_value"]).all()


def test_holm_function():
    p = np.array([0.01, np.nan, 0.04, 0.03, 0.2])
    expected = np.array([0.04, np.nan, 0.09, 0.09, 0.2])  # R: p.adjust(p, "holm")
    np.testing.assert_allclose(holm(p), expected, rtol=1e-15)
    assert np.isnan(holm(np.array([np.nan]))).all()


def test_outcome_forms_give_the_same_fit():
    data = _data("models_nolonely")
    base = logit(data, STRCLUS, "burnout ~ hours + C(wave)")
    as_bool = data.assign(b=data["burnout"].map({1.0: True, 0.0: False}))
    as_text = data.assign(b=data["burnout"].map({1.0: "yes", 0.0: "no"}))
    for frame in (as_bool, as_text):
        got = logit(frame, STRCLUS, "b ~ hours + C(wave)")
        np.testing.assert_allclose(got["estimate"], base["estimate"], atol=1e-12)
        np.testing.assert_allclose(got["se"], base["se"], rtol=1e-12)


def test_bool_predictor_is_named_as_patsy_names_it():
    data = _data("models_nolonely").assign(fem=lambda d: d["female"] == 1)
    got = logit(data, STRCLUS, "burnout ~ hours + fem")
    assert got["term"].tolist() == ["Intercept", "fem[T.True]", "hours"]
    base = logit(data, STRCLUS, "burnout ~ hours + female")
    np.testing.assert_allclose(got["estimate"].to_numpy()[[0, 2, 1]], base["estimate"], atol=1e-12)


def test_zero_degrees_of_freedom_give_missing_intervals():
    # apiclus1 has 15 PSUs: df = 14 + 1 - k; with 15 coefficients df = 0 (R: NaN).
    data = _data("apiclus1")
    rng = np.random.default_rng(5)
    noise = {f"x{j}": rng.normal(size=len(data)) for j in range(13)}
    formula = "I(api00 > 700) ~ meals + " + " + ".join(noise)
    got = logit(data.assign(**noise), Design("pw", psu="dnum", fpc="fpc"), formula)
    assert len(got) == 15 and (got["df"] == 0).all()
    assert got[["ci_low", "ci_high", "p_value", "p_holm"]].isna().all().all()
    assert got["se"].notna().all()


# --------------------------------------------------------------------------- bad input


def test_unknown_column_in_formula():
    data = _data("models_nolonely")
    with pytest.raises(DataError, match="'locaton', which is not a column") as e:
        logit(data, STRCLUS, "burnout ~ C(locaton) + hours")
    assert "location" in str(e.value)  # lists the columns
    with pytest.raises(DataError, match="'burnot'"):
        logit(data, STRCLUS, "burnot ~ hours")


@pytest.mark.parametrize("formula", ["burnout hours", "burnout ~ hours +", "~ hours", 42])
def test_bad_formula(formula):
    with pytest.raises(DataError, match="formula"):
        logit(_data("models_nolonely"), STRCLUS, formula)


def test_complete_separation():
    data = _data("models_nolonely")
    perfect = data.assign(score=data["burnout"] * 2 - 1 + np.linspace(-0.5, 0.5, len(data)))
    with pytest.raises(SeparationError, match="separation.*'score'"):
        logit(perfect, STRCLUS, "burnout ~ score + hours")


def test_quasi_complete_separation_in_one_category():
    # Everybody working at the office has burnout: C(place)[T.office] -> infinity.
    data = _data("models_nolonely")
    place = data["location"].where(data["burnout"] == 1, data["location"].replace("office", "home"))
    with pytest.raises(SeparationError, match=r"C\(place\)\[T.office\]"):
        logit(data.assign(place=place), STRCLUS, "burnout ~ C(place) + hours")


def test_errors_are_neacovid_errors():
    for cls in (ModelError, SeparationError, ConvergenceError):
        assert issubclass(cls, NeaCovidError)


def test_no_convergence(monkeypatch):
    monkeypatch.setattr(models, "MAX_ITERATIONS", 2)
    with pytest.raises(ConvergenceError, match="did not converge in 2 iterations"):
        logit(_data("models_nolonely"), STRCLUS, MAIN)


def test_aliased_columns():
    data = _data("models_nolonely").assign(h2=lambda d: 2 * d["hours"] - 1)
    with pytest.raises(ModelError, match="'h2' is a linear combination"):
        logit(data, STRCLUS, "burnout ~ hours + h2")


@pytest.mark.parametrize(
    ("change", "formula", "message"),
    [
        ({"burnout": 2.0}, "burnout ~ hours", "must be 0/1"),
        ({"burnout": 1.0}, "burnout ~ hours", "is 1 in all"),
        ({}, "location ~ hours", "3 categories"),
        ({"hours": np.nan}, "burnout ~ hours", "no row of the data"),
    ],
)
def test_bad_outcome_or_data(change, formula, message):
    data = _data("models_nolonely").assign(**change)
    with pytest.raises(DataError, match=message):
        logit(data, STRCLUS, formula)


def test_bound_design_of_other_data():
    data = _data("models_nolonely")
    with pytest.raises(DataError, match="bind the design"):
        logit(data.head(50), STRCLUS.bind(data), MAIN)
