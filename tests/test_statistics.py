"""Subsets against R survey 4.1.1 (tests/reference/stats_reference.R), and their
invariants (hypothesis).

Tolerances (issue): estimate 1e-8 absolute, SE 1e-6 relative, CI limits 1e-6
absolute, df exact.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference_data import design_from_row, read_data, read_reference

from neacovid.errors import DataError
from neacovid.survey.design import Design
from neacovid.survey.estimate import means, shares, subset_rows

TEXT = ["var", "by", "subset", "domain", "category", "statistic"]
SUBSETS = read_reference("stats_subsets.csv", TEXT)


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
    np.testing.assert_array_equal(subset_rows(data.convert_dtypes(), "a > 1"),
                                  [False, True, False])
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


def test_reference_covers_the_issue():
    assert set(SUBSETS["statistic"]) == {"mean", "share"}
    assert (SUBSETS["calibration"] != "").any() and (SUBSETS["psu"] != "").any()


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
    return pd.DataFrame({"w": w, "y": np.asarray(y, dtype=float), "x": x, "h": h,
                         "inside": inside, "one": 1.0})


def _same(a: pd.DataFrame, b: pd.DataFrame, columns) -> None:
    for c in columns:
        np.testing.assert_allclose(a[c].to_numpy(dtype=float), b[c].to_numpy(dtype=float),
                                   rtol=1e-9, atol=1e-12, equal_nan=True, err_msg=c)


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
    ):
        subset = estimate(subset="inside")
        domain = estimate(by="inside")
        domain = domain[domain["inside"]].drop(columns="inside").reset_index(drop=True)
        if "category" in subset:
            domain = domain.assign(category=domain["category"].astype(bool))
            subset = subset.assign(category=subset["category"].astype(bool))
            subset, domain = subset[subset["category"]], domain[domain["category"]]
        _same(subset, domain, columns)
