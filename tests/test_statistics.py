"""Quantiles, ratios, subsets and linear models against R survey 4.1.1
(tests/reference/stats_reference.R), and their invariants (hypothesis).

Tolerances (issue): estimate 1e-8 absolute, SE 1e-6 relative, CI limits 1e-6
absolute, df exact.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference_data import design_from_row, r_term, read_data, read_reference

from neacovid.errors import DataError
from neacovid.survey.design import Design
from neacovid.survey.estimate import (
    QUANTILE_COLUMNS,
    RATIO_COLUMNS,
    means,
    quantiles,
    ratios,
    shares,
    subset_rows,
)
from neacovid.survey.models import LINEAR_COLUMNS, MODELS, linear, logit

TEXT = [
    "var",
    "by",
    "subset",
    "domain",
    "category",
    "numerator",
    "denominator",
    "statistic",
    "family",
    "formula",
]
PROBS = [0.1, 0.25, 0.5, 0.75, 0.9]
QUANTILES = read_reference("stats_quantiles.csv", TEXT)
RATIOS = read_reference("stats_ratios.csv", TEXT)
SUBSETS = read_reference("stats_subsets.csv", TEXT)
MODEL_ROWS = read_reference("stats_models.csv", TEXT)


def _cases(reference: pd.DataFrame):
    return [pytest.param(group, id=case) for case, group in reference.groupby("case", sort=False)]


def _options(first) -> dict:
    return dict(
        by=first.by.split(",") if first.by else None,
        level=first.level,
        subset=first.subset or None,
    )


def _with_domain(got: pd.DataFrame, by: list[str] | None) -> pd.DataFrame:
    labels = got[by].astype(str).agg("|".join, axis=1) if by else ""
    return got.assign(domain=labels)


def _assert_r_numbers(got: pd.DataFrame, expected: pd.DataFrame, columns=("ci_low", "ci_high")):
    """The issue's tolerances; R's NaN (no number) must be missing here too."""
    np.testing.assert_array_equal(got["n"].to_numpy(), expected["n"].to_numpy())
    np.testing.assert_array_equal(got["df"].to_numpy(), expected["df"].to_numpy())
    np.testing.assert_allclose(got["estimate"], expected["estimate"], rtol=0, atol=1e-8)
    np.testing.assert_allclose(got["se"], expected["se"], rtol=1e-6, atol=0)
    for c in columns:
        np.testing.assert_allclose(got[c], expected[c], rtol=0, atol=1e-6)


# --------------------------------------------------------------------------- quantiles


@pytest.mark.parametrize("expected", _cases(QUANTILES))
def test_quantiles_equal_r_svyquantile(expected):
    first = expected.iloc[0]
    options = _options(first)
    data = read_data(first.data)
    got = quantiles(data, design_from_row(first), first["var"], PROBS, **options)
    assert list(got.columns) == [*(options["by"] or []), *QUANTILE_COLUMNS]
    got = _with_domain(got, options["by"])
    merged = expected.merge(got, on=["domain", "quantile"], suffixes=("_r", ""), validate="1:1")
    assert len(merged) == len(expected) == len(got)
    np.testing.assert_allclose(merged["weighted_n"], merged["weighted_n_r"], rtol=1e-12)

    # Where the estimate is the domain's largest value, every row is at or below
    # it: the share is 1 with no variance and its upper limit is 1, i.e. the
    # largest value. R computes that share as a sum of w_i / W, which rounds to
    # 1, 1 + 2e-16 or 1 - 1e-16, and reports a NaN upper limit (and SE) when
    # the noise lands above 1. We give the largest value.
    x = data[first["var"]]
    key = data[options["by"]].astype(str).agg("|".join, axis=1) if options["by"] else ""
    largest = merged["domain"].map(x.groupby(key).max()) if options["by"] else x.max()
    at_max = (merged["estimate"] == largest) & merged["ci_high_r"].isna()
    assert (merged.loc[at_max, "ci_high"] == merged.loc[at_max, "estimate"]).all()
    for c in ("se", "ci_high"):
        merged.loc[at_max, f"{c}_r"] = merged.loc[at_max, c]

    renamed = {f"{c}_r": c for c in ("estimate", "se", "ci_low", "ci_high", "n", "df")}
    _assert_r_numbers(merged, merged[list(renamed)].rename(columns=renamed))


def test_quantile_rule_edges_are_r_s():
    """R's qrule_math at exact boundaries (long double partial sums) and below the
    first weight (x[2], not x[1]); both are in the reference as well."""
    data = read_data("quantile_rule")
    median = quantiles(data, Design("w"), "x", 0.5)["estimate"].iloc[0]
    assert median == 10  # a float64 cumsum of ten 0.1 is below 1 and would give 11
    low = quantiles(data, Design("w_first"), "x", [0.1, 0.25])["estimate"].tolist()
    assert low == [2, 2]  # the first value holds 5/24 of the weight; R returns x[2]


def test_quantiles_of_an_empty_domain_and_bad_probabilities():
    data = read_data("apistrat").assign(y=lambda d: d["meals"].where(d["stype"] != "H"))
    design = Design("pw", strata="stype", fpc="fpc")
    got = quantiles(data, design, "y", [0.5], by="stype")
    empty = got[got["stype"] == "H"].iloc[0]
    assert empty["n"] == 0 and empty[["estimate", "se", "ci_low", "ci_high", "df"]].isna().all()
    for probs in ([], [1.5], ["half"], [[0.5]]):
        with pytest.raises(DataError, match="between 0 and 1"):
            quantiles(data, design, "meals", probs)
    with pytest.raises(DataError, match="'stype' is not numeric"):
        quantiles(data, design, "stype", [0.5])


# --------------------------------------------------------------------------- ratios


@pytest.mark.parametrize("expected", _cases(RATIOS))
def test_ratios_equal_r_svyratio(expected):
    first = expected.iloc[0]
    options = _options(first)
    got = ratios(
        read_data(first.data), design_from_row(first), first.numerator, first.denominator, **options
    )
    assert list(got.columns) == [*(options["by"] or []), *RATIO_COLUMNS]
    got = _with_domain(got, options["by"]).reset_index(drop=True)
    expected = expected.reset_index(drop=True)
    assert got["domain"].tolist() == expected["domain"].tolist()
    np.testing.assert_allclose(got["weighted_n"], expected["weighted_n"], rtol=1e-12)
    # A zero denominator total: R gives Inf and NaN, we give no numbers.
    no_ratio = ~np.isfinite(expected["estimate"])
    assert got.loc[no_ratio, ["estimate", "se", "ci_low", "ci_high"]].isna().all().all()
    _assert_r_numbers(got[~no_ratio], expected[~no_ratio])


# --------------------------------------------------------------------------- subsets


@pytest.mark.parametrize("expected", _cases(SUBSETS))
def test_subset_estimates_equal_r_subset(expected):
    first = expected.iloc[0]
    options = _options(first)
    data, design = read_data(first.data), design_from_row(first)
    if first.statistic == "mean":
        got = means(data, design, first["var"], **options)
    else:
        got = shares(data, design, first["var"], ci="logit", **options)
        got = got.assign(category=got["category"].astype(str))
    got = _with_domain(got, options["by"])
    keys = ["domain"] if first.statistic == "mean" else ["domain", "category"]
    if first.statistic == "mean":
        expected = expected.drop(columns="category")
    merged = expected.merge(got, on=keys, suffixes=("_r", ""), validate="1:1")
    assert len(merged) == len(expected) == len(got)
    renamed = {f"{c}_r": c for c in ("estimate", "se", "ci_low", "ci_high", "n", "df")}
    _assert_r_numbers(merged, merged[list(renamed)].rename(columns=renamed))


def test_subset_rows_semantics():
    data = pd.DataFrame({"a": [1.0, 2.0, np.nan], "s": ["x", "y", None]})
    np.testing.assert_array_equal(subset_rows(data, "a > 1"), [False, True, False])
    np.testing.assert_array_equal(subset_rows(data, 's == "x"'), [True, False, False])
    # pandas' NA in the result is outside, as R's subset() treats NA.
    np.testing.assert_array_equal(subset_rows(data.convert_dtypes(), "a > 1"), [False, True, False])
    np.testing.assert_array_equal(subset_rows(data, "True"), [True, True, True])
    mask = pd.Series([True, False, True], index=[10, 11, 12])  # by position
    np.testing.assert_array_equal(subset_rows(data, mask), [True, False, True])


@pytest.mark.parametrize(
    ("subset", "message"),
    [
        ("nope > 1", "cannot evaluate subset 'nope > 1'"),
        ("a >", "cannot evaluate subset 'a >'"),
        ("a + 1", "subset 'a \\+ 1' is not true/false"),
        ("b = a", "assignment"),
        (np.array([1, 0, 1]), "not true/false"),
        (np.array([True]), "1 value"),
    ],
)
def test_bad_subset_is_one_line_naming_it(subset, message):
    data = pd.DataFrame({"a": [1.0, 2.0, 3.0], "w": 1.0, "y": [0, 1, 1]})
    for call in (
        lambda: subset_rows(data, subset),
        lambda: means(data, Design("w"), "a", subset=subset),
        lambda: linear(data, Design("w"), "a ~ y", subset=subset),
    ):
        with pytest.raises(DataError, match=message) as error:
            call()
        assert "\n" not in str(error.value)


def test_subset_keeps_the_design():
    """Rows outside the subset keep their strata and PSUs: not the same as
    dropping them (strata H and M without members still count as zero totals
    only through n_h, and the df is the subset's)."""
    data = read_data("apiclus1")
    design = Design("pw", psu="dnum", fpc="fpc")
    kept = means(data, design, "api00", subset="meals > 50").iloc[0]
    dropped = means(data[data["meals"] > 50].reset_index(drop=True), design, "api00").iloc[0]
    assert kept["estimate"] == pytest.approx(dropped["estimate"], abs=1e-9)
    assert kept["se"] != pytest.approx(dropped["se"], rel=1e-3)


# --------------------------------------------------------------------------- models


@pytest.mark.parametrize("expected", _cases(MODEL_ROWS))
def test_models_equal_r_svyglm(expected):
    first = expected.iloc[0]
    fit = MODELS[first.family]
    got = fit(
        read_data(first.data),
        design_from_row(first),
        first.formula,
        level=first.level,
        subset=first.subset or None,
    ).table
    assert got.attrs["n"] == first.n
    if first.family == "gaussian":
        assert list(got.columns) == LINEAR_COLUMNS
    got = got.assign(term=got["term"].map(r_term))
    merged = expected.merge(got, on="term", suffixes=("_r", ""), validate="1:1")
    assert len(merged) == len(expected) == len(got)
    renamed = {f"{c}_r": c for c in ("estimate", "se", "df")}
    np.testing.assert_allclose(merged["estimate"], merged["estimate_r"], rtol=0, atol=1e-8)
    np.testing.assert_allclose(merged["se"], merged["se_r"], rtol=1e-6, atol=0)
    np.testing.assert_array_equal(merged["df"], merged["df_r"])
    scale = np.log if first.family == "binomial" else (lambda v: v)
    for c in ("ci_low", "ci_high"):
        np.testing.assert_allclose(scale(merged[c]), scale(merged[f"{c}_r"]), rtol=0, atol=1e-6)
    for c in ("p_value", "p_holm"):
        np.testing.assert_allclose(merged[c], merged[f"{c}_r"], rtol=1e-5, atol=1e-300)
    assert renamed  # the columns compared above


def test_linear_bool_outcome_is_0_1():
    data = read_data("apistrat")
    design = Design("pw", strata="stype", fpc="fpc")
    as_bool = linear(data, design, "I(api00 > 700) ~ meals")
    as_number = linear(data, design, "y700 ~ meals")
    _same(as_bool, as_number, ["estimate", "se", "ci_low", "ci_high", "p_value", "df"])
    flagged = data.assign(flag=data["y700"] == 1)
    _same(linear(flagged, design, "flag ~ meals"), as_number, ["estimate", "se"])


def test_linear_outcome_errors():
    data = read_data("apistrat")
    design = Design("pw", strata="stype", fpc="fpc")
    with pytest.raises(DataError, match="linear model needs a numeric outcome"):
        linear(data, design, "stype ~ meals")
    with pytest.raises(DataError, match="no row of the subset"):
        linear(data, design, "api00 ~ meals", subset="meals > 1000")


def test_reference_covers_the_issue():
    assert set(QUANTILES["quantile"]) == set(PROBS)
    designs = {
        (r.strata != "", r.psu != "", r.fpc != "", r.calibration != "")
        for r in QUANTILES.itertuples()
    }
    assert {
        (True, False, True, False),
        (True, False, False, False),
        (False, True, True, False),
        (False, True, False, False),
        (True, False, True, True),
    } <= designs
    assert (QUANTILES["by"] == "awards").any() and (QUANTILES["var"] == "meals").any()
    assert QUANTILES["ci_low"].isna().any()  # R's NaN limits are exercised
    assert (QUANTILES["subset"] != "").any() and (RATIOS["subset"] != "").any()
    assert (~np.isfinite(RATIOS["estimate"])).any()  # a zero denominator
    assert set(SUBSETS["statistic"]) == {"mean", "share"}
    assert (SUBSETS["calibration"] != "").any()
    assert set(MODEL_ROWS["family"]) == {"gaussian", "binomial"}
    assert (MODEL_ROWS["subset"] != "").any() and (MODEL_ROWS["calibration"] != "").any()


# --------------------------------------------------------------------------- invariants

samples = st.integers(min_value=6, max_value=50).flatmap(
    lambda n: st.tuples(
        st.lists(st.floats(0.5, 20), min_size=n, max_size=n),  # weights
        st.lists(st.integers(0, 12), min_size=n, max_size=n),  # values with ties
        st.lists(st.floats(0.1, 50), min_size=n, max_size=n),  # denominators
        st.lists(st.sampled_from(["s1", "s2", "s3"]), min_size=n, max_size=n),
        st.lists(st.booleans(), min_size=n, max_size=n),  # a subset
    )
)
CALIBRATIONS = st.sampled_from([(), ("h",)])


def _sample(sample) -> pd.DataFrame:
    w, y, x, h, inside = sample
    return pd.DataFrame(
        {"w": w, "y": np.asarray(y, dtype=float), "x": x, "h": h, "inside": inside, "one": 1.0}
    )


def _same(a: pd.DataFrame, b: pd.DataFrame, columns) -> None:
    for c in columns:
        np.testing.assert_allclose(
            a[c].to_numpy(dtype=float),
            b[c].to_numpy(dtype=float),
            rtol=1e-9,
            atol=1e-12,
            equal_nan=True,
            err_msg=c,
        )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(samples, CALIBRATIONS)
def test_the_median_interval_contains_the_estimate(sample, calibration):
    data = _sample(sample)
    design = Design("w", strata="h", lonely_psu="certainty", calibration=calibration)
    got = quantiles(data, design, "y", [0.25, 0.5, 0.75])
    low = got["ci_low"].fillna(-np.inf)
    high = got["ci_high"].fillna(np.inf)
    assert ((low <= got["estimate"]) & (got["estimate"] <= high)).all()
    assert got["estimate"].is_monotonic_increasing
    assert got["estimate"].isin(data["y"]).all()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(samples, CALIBRATIONS)
def test_a_subset_is_the_domain_of_its_indicator(sample, calibration):
    data = _sample(sample)
    if not data["inside"].any():
        return
    design = Design("w", strata="h", lonely_psu="certainty", calibration=calibration)
    columns = ["estimate", "se", "ci_low", "ci_high", "n", "weighted_n", "df"]
    for estimate in (
        lambda **kw: means(data, design, "y", **kw),
        lambda **kw: shares(data, design, "inside", **kw),
        lambda **kw: quantiles(data, design, "y", [0.25, 0.5], **kw),
        lambda **kw: ratios(data, design, "y", "x", **kw),
    ):
        subset = estimate(subset="inside")
        domain = estimate(by="inside")
        domain = domain[domain["inside"]].drop(columns="inside").reset_index(drop=True)
        if "category" in subset:
            domain = domain.assign(category=domain["category"].astype(bool))
            subset = subset.assign(category=subset["category"].astype(bool))
            subset, domain = subset[subset["category"]], domain[domain["category"]]
        _same(subset, domain, columns)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(samples, CALIBRATIONS)
def test_ratio_to_one_and_intercept_only_model_are_the_mean(sample, calibration):
    data = _sample(sample)
    design = Design("w", strata="h", lonely_psu="certainty", calibration=calibration)
    mean = means(data, design, "y", by="h")
    _same(
        ratios(data, design, "y", "one", by="h"),
        mean,
        ["estimate", "se", "ci_low", "ci_high", "n", "weighted_n", "df"],
    )
    if data["y"].nunique() > 1 and data["h"].nunique() > 1:
        # svyglm(y ~ 1, gaussian): the sandwich of the intercept is the mean's
        # variance; its df is degf + 1 - 1.
        overall = means(data, design, "y").iloc[0]
        fit = linear(data, design, "y ~ 1").iloc[0]
        assert fit["estimate"] == pytest.approx(overall["estimate"], rel=1e-12, abs=1e-12)
        assert fit["se"] == pytest.approx(overall["se"], rel=1e-9, abs=1e-15)
        assert fit["df"] == overall["df"]


def test_logit_subset_equals_fitting_the_rows_in_the_full_design():
    data = read_data("apistrat")
    design = Design("pw", strata="stype", fpc="fpc")
    mask = (data["stype"] != "H").to_numpy()
    by_subset = logit(data, design, "y700 ~ meals", subset=mask)
    # The same rows, the others made missing: out of the fit, in the design.
    by_missing = logit(data.assign(y700=data["y700"].where(mask)), design, "y700 ~ meals")
    _same(by_subset, by_missing, ["estimate", "se", "ci_low", "ci_high", "df"])
    assert by_subset.attrs["n_dropped"] == 0 and by_missing.attrs["n_dropped"] == 50
