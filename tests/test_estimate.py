"""neacovid.survey.estimate: invariants (hypothesis), domains, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neacovid.errors import DataError, DesignError, LonelyPSUError
from neacovid.survey.design import Design
from neacovid.survey.estimate import means, shares


def _frame(n=40, seed=1):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "w": rng.uniform(1, 5, n),
            "h": np.repeat(["a", "b"], n // 2),
            "psu": np.repeat(np.arange(n // 4), 4),
            "y": rng.integers(0, 2, n),
            "loc": rng.choice(["home", "hybrid", "on_site"], n),
            "g": rng.choice(["x", "y"], n),
        }
    )


# -- invariants -------------------------------------------------------------

samples = st.integers(min_value=4, max_value=60).flatmap(
    lambda n: st.tuples(
        st.lists(st.floats(0.1, 100), min_size=n, max_size=n),
        st.lists(st.sampled_from(["a", "b", "c", None]), min_size=n, max_size=n),
        st.lists(st.sampled_from(["d1", "d2", "d3"]), min_size=n, max_size=n),
        st.lists(st.sampled_from(["s1", "s2"]), min_size=n, max_size=n),
    )
)


@settings(max_examples=60, deadline=None)
@given(samples)
def test_category_shares_sum_to_one_per_domain(sample):
    w, cat, dom, stratum = sample
    data = pd.DataFrame({"w": w, "cat": cat, "dom": dom, "h": stratum})
    if data["cat"].isna().all():
        return
    design = Design(weight="w", strata="h", lonely_psu="certainty")
    result = shares(data, design, "cat", by="dom")
    filled = result[result["n"] > 0]
    totals = filled.groupby("dom")["estimate"].sum()
    np.testing.assert_allclose(totals, 1.0, atol=1e-12)
    # every domain x category row is there, empty or not
    assert len(result) == result["dom"].nunique() * data["cat"].dropna().nunique()


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, 1), min_size=3, max_size=80),
    st.floats(0.5, 1000),
)
def test_equal_weights_give_unweighted_share(values, weight):
    data = pd.DataFrame({"y": values, "w": weight})
    result = shares(data, Design(weight="w"), "y")
    for _, row in result.iterrows():
        share = np.mean(np.asarray(values) == row["category"])
        assert row["estimate"] == pytest.approx(share, abs=1e-12)
        assert row["n"] == len(values)


def test_domains_keep_the_full_design():
    """A domain estimate is not the estimate on the filtered rows: PSUs
    without domain members still count (R subset() semantics)."""
    data = _frame()
    data["g"] = np.where(data["psu"] % 2 == 0, "x", "y")  # domains of whole PSUs
    design = Design(weight="w", strata="h", psu="psu")
    by_domain = shares(data, design, "y", by="g")
    domain = by_domain[(by_domain["g"] == "x") & (by_domain["category"] == 1)].iloc[0]
    members = data[data["g"] == "x"].reset_index(drop=True)
    filtered = shares(members, design, "y")
    filtered = filtered[filtered["category"] == 1].iloc[0]
    assert domain["estimate"] == pytest.approx(filtered["estimate"], abs=1e-12)
    # n_h of the full design (5 PSUs per stratum) vs the filtered one differ
    assert domain["se"] != pytest.approx(filtered["se"], rel=1e-6)


def test_missing_values_restrict_the_domain():
    data = _frame()
    data.loc[:9, "y"] = np.nan
    result = shares(data, Design(weight="w", strata="h"), "y")
    assert (result["n"] == 30).all()
    assert result["weighted_n"].iloc[0] == pytest.approx(data["w"].iloc[10:].sum())


def test_empty_domain_is_a_row_not_an_error():
    data = _frame()
    data.loc[data["g"] == "y", "y"] = np.nan
    result = shares(data, Design(weight="w", strata="h"), "y", by="g")
    empty = result[result["g"] == "y"]
    assert len(empty) == 2
    assert (empty["n"] == 0).all()
    assert empty[["estimate", "se", "ci_low", "ci_high", "df"]].isna().all().all()


def test_means_of_a_constant_has_zero_se():
    data = _frame().assign(x=3.5)
    result = means(data, Design(weight="w", strata="h", psu="psu"), "x", by="g")
    assert (result["estimate"] == 3.5).all()
    assert np.allclose(result["se"], 0)


def test_two_by_columns_and_missing_by_values():
    data = _frame()
    data.loc[0, "g"] = None
    result = shares(data, Design(weight="w"), "y", by=["g", "loc"])
    assert list(result.columns[:2]) == ["g", "loc"]
    assert result["n"].sum() == 2 * (len(data) - 1)  # two categories per domain


def test_bound_design_can_be_reused():
    data = _frame()
    bound = Design(weight="w", strata="h", psu="psu").bind(data)
    a = shares(data, bound, "y", by="g")
    b = shares(data, Design(weight="w", strata="h", psu="psu"), "y", by="g")
    pd.testing.assert_frame_equal(a, b)
    with pytest.raises(DataError, match="bind the design"):
        shares(data.iloc[:10], bound, "y")


# -- bad input ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        (lambda d: d.drop(columns="w"), DataError, "'w' is not in the data"),
        (lambda d: d.assign(w="heavy"), DataError, "weight column 'w' is not numeric"),
        (lambda d: d.assign(w=d["w"].where(d.index > 2)), DataError, "3 missing value"),
        (lambda d: d.assign(w=d["w"].where(d.index > 0, 0.0)), DataError, "zero or negative"),
        (lambda d: d.assign(w=-d["w"]), DataError, "zero or negative"),
        (lambda d: d.assign(h=d["h"].where(d.index > 0)), DataError, "stratum column 'h'"),
        (
            lambda d: d.assign(psu=d["psu"].astype(float).where(d.index > 0)),
            DataError,
            "PSU column 'psu'",
        ),
        (lambda d: d.assign(psu=d.index % 3), DesignError, "more than one stratum"),
        (
            lambda d: d.assign(psu=np.where(d["h"] == "a", 0, d["psu"])),
            LonelyPSUError,
            "stratum 'a' of column 'h' has only one PSU",
        ),
    ],
)
def test_bad_design_input(change, error, message):
    data = change(_frame())
    with pytest.raises(error, match=message):
        shares(data, Design(weight="w", strata="h", psu="psu"), "y")


def test_unknown_variable_and_too_many_categories():
    data = _frame(n=60).assign(x=np.arange(60) / 7)
    design = Design(weight="w")
    with pytest.raises(DataError, match="column 'nope' is not in the data"):
        shares(data, design, "nope")
    with pytest.raises(DataError, match="60 distinct values.*estimate means"):
        shares(data, design, "x")
    with pytest.raises(DataError, match="'loc' is not numeric"):
        means(data, design, "loc")
    with pytest.raises(DataError, match="not a CI method"):
        shares(data, design, "y", ci="exact")
    with pytest.raises(DesignError, match="lonely_psu='drop'"):
        Design(weight="w", lonely_psu="drop")


def test_fpc_checks():
    data = _frame().assign(N=lambda d: np.where(d["h"] == "a", 100, 2))
    with pytest.raises(DataError, match="population size is smaller"):
        shares(data, Design(weight="w", strata="h", psu="psu", fpc="N"), "y")
    data = _frame().assign(N=np.linspace(50, 60, 40))
    with pytest.raises(DataError, match="varies within a stratum"):
        shares(data, Design(weight="w", strata="h", fpc="N"), "y")


@pytest.mark.parametrize("ci", ["logit", "xlogit", "beta", "mean", "likelihood", "asin", "wilson"])
def test_share_of_zero_gets_the_exact_binomial_interval(ci):
    """No case in the domain: not a zero-width [0, 0] but Korn-Graubard's
    exact interval at the domain's n (here df = n - 1, so n_eff = n)."""
    data = pd.DataFrame({"y": [0] * 29 + [1], "w": 1.0, "g": ["a"] * 29 + ["b"]})
    result = shares(data, Design(weight="w"), "y", by="g", ci=ci)
    row = result[(result["g"] == "a") & (result["category"] == 1)].iloc[0]
    assert row["estimate"] == 0 and row["se"] == 0
    assert row["ci_low"] == 0
    assert row["ci_high"] == pytest.approx(1 - 0.025 ** (1 / 29), rel=1e-9)
    mirror = result[(result["g"] == "a") & (result["category"] == 0)].iloc[0]
    assert mirror["ci_low"] == pytest.approx(0.025 ** (1 / 29), rel=1e-9)
