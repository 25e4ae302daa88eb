"""neacovid.survey.compare against R survey 4.1.1 (tests/reference/compare_reference.R).

The reference CSVs hold R's ``svyby(covmat=TRUE)`` + ``svycontrast`` results
for changes between panel waves and contrasts between groups, and
``svychisq`` (default F) for two-way tables. Tolerances (issue): differences
1e-9 absolute, SE 1e-7 relative, chi-square statistic 1e-6 relative,
p-values 1e-7 absolute. R is not needed to run these tests.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference_data import design_from_row, read_data, read_reference

from neacovid.errors import DataError
from neacovid.survey.compare import changes, chisq, contrast, holm
from neacovid.survey.design import Design
from neacovid.survey.estimate import means
from neacovid.survey.taylor import domain_covariance, domain_variance

TEXT = [  # besides reference_data.ROW_TEXT
    "var",
    "over",
    "base",
    "by",
    "domain",
    "over_level",
    "base_level",
    "group",
    "a",
    "b",
    "row",
    "col",
]
PANEL = Design("weight", strata="stratum", psu="resp_id")


CHANGES = read_reference("compare_changes.csv", TEXT)
CONTRASTS = read_reference("compare_contrasts.csv", TEXT)
CHISQ = read_reference("compare_chisq.csv", TEXT)


def _data_for(case: str, stem: str) -> pd.DataFrame:
    data = read_data(stem)
    if stem == "strclus" and case.startswith("strclus/"):
        data = data[data["stratum"] != "h7"].reset_index(drop=True)
    return data


def _domain(frame: pd.DataFrame, by: list[str]) -> pd.Series:
    if not by:
        return pd.Series("", index=frame.index)
    return frame[by].astype(str).agg("|".join, axis=1)


def _typed(values: str, column: pd.Series):
    """The a/b spec of the reference ("b|c", "1") as values of the data column."""
    parts = values.split("|")
    if pd.api.types.is_numeric_dtype(column):
        parts = [column.dtype.type(p) for p in parts]
    return parts[0] if len(parts) == 1 else parts


def _cases(frame: pd.DataFrame):
    return [pytest.param(group, id=case) for case, group in frame.groupby("case", sort=False)]


def _check_tests(got: pd.DataFrame, expected: pd.DataFrame, estimates: list[str]) -> None:
    assert len(got) == len(expected)
    for c in [*estimates, "diff", "ci_low", "ci_high"]:
        np.testing.assert_allclose(got[c], expected[c], rtol=0, atol=1e-9, err_msg=c)
    for c in ["se", "se_independent"]:
        np.testing.assert_allclose(got[c], expected[c], rtol=1e-7, atol=0, err_msg=c)
    for c in ["p_value", "p_holm"]:
        np.testing.assert_allclose(got[c], expected[c], rtol=0, atol=1e-7, err_msg=c)
    np.testing.assert_array_equal(got["df"].to_numpy(), expected["df"].to_numpy())


@pytest.mark.parametrize("expected", _cases(CHANGES))
def test_changes_equal_r_survey(expected):
    first = expected.iloc[0]
    by = first.by.split(",") if first.by else None
    data = _data_for(first.case, first.data)
    got = changes(
        data,
        design_from_row(first),
        first["var"],
        over=first.over,
        base=first.base or None,
        by=by,
        level=first.level,
    )
    got = got.assign(domain=_domain(got, by or []))
    key_got = list(zip(got["domain"], got[first.over].astype(str), got["base"], strict=True))
    key_r = list(
        zip(expected["domain"], expected["over_level"], expected["base_level"], strict=True)
    )
    assert key_got == key_r
    got = got.reset_index(drop=True)
    expected = expected.reset_index(drop=True)
    np.testing.assert_array_equal(got["n"], expected["n"])
    np.testing.assert_array_equal(got["base_n"], expected["base_n"])
    _check_tests(got, expected, ["estimate", "base_estimate"])


@pytest.mark.parametrize("expected", _cases(CONTRASTS))
def test_contrasts_equal_r_survey(expected):
    first = expected.iloc[0]
    by = first.by.split(",") if first.by else None
    data = _data_for(first.case, first.data)
    column = data[first.group]
    got = contrast(
        data,
        design_from_row(first),
        first["var"],
        first.group,
        _typed(first.a, column),
        _typed(first.b, column),
        by=by,
        level=first.level,
    )
    got = got.assign(domain=_domain(got, by or [])).reset_index(drop=True)
    expected = expected.reset_index(drop=True)
    assert got["domain"].tolist() == expected["domain"].tolist()
    np.testing.assert_array_equal(got["n_a"], expected["n_a"])
    np.testing.assert_array_equal(got["n_b"], expected["n_b"])
    _check_tests(got, expected, ["estimate_a", "estimate_b"])


@pytest.mark.parametrize("expected", _cases(CHISQ))
def test_chisq_equals_r_svychisq(expected):
    first = expected.iloc[0]
    data = _data_for(first.case, first.data)
    got = chisq(data, design_from_row(first), first.row, first.col)
    assert got.statistic == pytest.approx(first.statistic, rel=1e-6)
    assert got.pearson == pytest.approx(first.pearson, rel=1e-6)
    assert got.ndf == pytest.approx(first.ndf, rel=1e-6)
    assert got.ddf == pytest.approx(first.ddf, rel=1e-6)
    assert got.p_value == pytest.approx(first.p_value, rel=0, abs=1e-7)
    frame = got.frame()
    assert frame.loc[0, "p_holm"] == frame.loc[0, "p_value"]
    assert {"statistic", "ndf", "ddf", "p_value"} <= set(frame.columns)


def test_reference_covers_the_issue():
    """Panel changes vs a base and consecutive, by one and two columns, a mean;
    contrasts with a list of values, within waves, on api data with fpc, a
    cluster design and every lonely-PSU option; chi-square on the panel and api."""
    assert {"w0", ""} <= set(CHANGES["base"])
    assert {"", "group", "young", "group,young"} <= set(CHANGES["by"])
    assert {"y", "x"} <= set(CHANGES["var"])
    assert (CONTRASTS["b"].str.contains("|", regex=False)).any()
    assert {"panel", "apistrat", "apiclus1", "strclus"} <= set(CONTRASTS["data"])
    assert {"remove", "certainty", "adjust", "average"} <= set(CONTRASTS["lonely_psu"])
    assert {"panel", "apistrat", "apiclus1", "strclus"} <= set(CHISQ["data"])


# --------------------------------------------------------------------------- the panel


def test_panel_covariance_changes_the_se():
    """Waves share respondents: the SE of a change is not that of independent samples.

    ``se_independent`` must be the two per-wave SEs of `means` combined as if
    independent, and the panel SE must differ from it clearly (here it is
    smaller: y is strongly correlated within a person).
    """
    data = read_data("panel")
    got = changes(data, PANEL, "y", over="wave", base="w0")
    per_wave = means(data, PANEL, "y", by="wave").set_index("wave")["se"]
    expected = np.sqrt(per_wave[got["wave"]].to_numpy() ** 2 + per_wave["w0"] ** 2)
    np.testing.assert_allclose(got["se_independent"], expected, rtol=1e-12)
    ratio = got["se"] / got["se_independent"]
    assert (ratio < 0.95).all(), ratio
    # The covariance is R's: both SEs equal R's to 1e-7.
    ref = CHANGES[CHANGES["case"] == "panel/y/wave"].reset_index(drop=True)
    np.testing.assert_allclose(got["se"], ref["se"], rtol=1e-7)
    np.testing.assert_allclose(got["se_independent"], ref["se_independent"], rtol=1e-7)


def test_contrast_variance_is_the_variance_of_the_contrast_influence():
    """Var(a - b) from the pair covariances equals domain_variance of the
    influence function of the difference over the union of the two domains."""
    data = read_data("panel")
    bound = PANEL.bind(data)
    x = data["y"].to_numpy(dtype=float)
    wave = pd.factorize(data["wave"], sort=True)[0]
    rows = np.flatnonzero(~np.isnan(x))
    dom = wave[rows]
    w = bound.weights[rows]
    total = np.bincount(dom, w)
    mean = np.bincount(dom, w * x[rows]) / total
    infl = w * (x[rows] - mean[dom]) / total[dom]
    left, right = np.array([1, 2, 3, 2]), np.array([0, 0, 0, 1])
    pc = domain_covariance(
        bound,
        rows,
        dom,
        infl,
        4,
        np.concatenate([left, right, left]),
        np.concatenate([left, right, right]),
    )
    m = len(left)
    var_pairs = pc.covariance[:m] + pc.covariance[m : 2 * m] - 2 * pc.covariance[2 * m :]
    for k, (a, b) in enumerate(zip(left, right, strict=True)):
        union = np.isin(dom, [a, b])
        sign = np.where(dom[union] == a, 1.0, -1.0)
        dv = domain_variance(
            bound, rows[union], np.zeros(union.sum(), dtype=np.intp), sign * infl[union], 1
        )
        assert var_pairs[k] == pytest.approx(dv.variance[0, 0], rel=1e-10)
        assert pc.df[2 * m + k] == dv.df[0]
    # The diagonal pairs are the per-domain variances.
    dv_all = domain_variance(bound, rows, dom, infl, 4)
    np.testing.assert_allclose(pc.covariance[:m], dv_all.variance[left, 0], rtol=1e-12)


# --------------------------------------------------------------------------- properties


def _synthetic_panel(seed: int, n_person: int, n_waves: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    stratum = rng.integers(0, 4, n_person)
    u = rng.normal(0, 1.5, n_person)
    frames = []
    for k in range(n_waves):
        here = rng.random(n_person) < 0.8
        m = int(here.sum())
        frames.append(
            pd.DataFrame(
                {
                    "pid": np.flatnonzero(here),
                    "stratum": stratum[here],
                    "wave": k,
                    "w": rng.uniform(0.5, 3.0, m),
                    "y": (rng.random(m) < 1 / (1 + np.exp(-(u[here] + 0.2 * k)))).astype(float),
                    "g": rng.choice(["p", "q"], m),
                }
            )
        )
    data = pd.concat(frames, ignore_index=True)
    data.loc[rng.random(len(data)) < 0.05, "y"] = np.nan
    return data


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    n_person=st.integers(30, 120),
    n_waves=st.integers(2, 4),
    picks=st.tuples(st.integers(0, 3), st.integers(0, 3)),
    by=st.sampled_from([None, "g"]),
)
def test_change_is_antisymmetric(seed, n_person, n_waves, picks, by):
    """The change of l against base b is minus that of b against base l, with
    the same se, df and p; and diff = estimate - base_estimate."""
    data = _synthetic_panel(seed, n_person, n_waves)
    design = Design("w", strata="stratum", psu="pid")
    b, lev = picks[0] % n_waves, picks[1] % n_waves
    if b == lev:
        lev = (b + 1) % n_waves
    forward = changes(data, design, "y", base=b, by=by)
    backward = changes(data, design, "y", base=lev, by=by)
    one = forward[forward["wave"] == lev].reset_index(drop=True)
    other = backward[backward["wave"] == b].reset_index(drop=True)
    np.testing.assert_allclose(one["diff"], -other["diff"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(one["se"], other["se"], rtol=1e-10)
    np.testing.assert_array_equal(one["df"], other["df"])
    np.testing.assert_allclose(one["p_value"], other["p_value"], rtol=1e-9)
    np.testing.assert_allclose(
        forward["diff"], forward["estimate"] - forward["base_estimate"], rtol=0, atol=1e-15
    )
    assert (forward["ci_low"] <= forward["diff"]).all()
    assert (forward["diff"] <= forward["ci_high"]).all()
    # The same pair as a contrast of groups of `wave` gives the same numbers.
    con = contrast(data, design, "y", "wave", lev, b, by=by)
    np.testing.assert_allclose(con["diff"].to_numpy(), one["diff"].to_numpy(), atol=1e-12)
    np.testing.assert_allclose(con["se"].to_numpy(), one["se"].to_numpy(), rtol=1e-10)


def test_consecutive_changes_chain_up():
    """With base=None the consecutive changes add up to the change last-vs-first."""
    data = read_data("panel")
    steps = changes(data, PANEL, "y", base=None)
    total = changes(data, PANEL, "y", base="w0")
    assert steps["base"].tolist() == ["w0", "w1", "w2"]
    assert steps["diff"].sum() == pytest.approx(total["diff"].iloc[-1], abs=1e-14)


def test_consecutive_follows_category_order():
    data = read_data("panel").copy()
    names = {"w0": "2019", "w1": "2020-04", "w2": "2020-10", "w3": "2020-07"}
    order = ["2019", "2020-04", "2020-07", "2020-10"]
    data["period"] = pd.Categorical(data["wave"].map(names), categories=order)
    got = changes(data, PANEL, "y", over="period", base=None)
    assert list(zip(got["base"], got["period"], strict=True)) == list(
        zip(order[:-1], order[1:], strict=True)
    )
    # The default base "2019" works on the labels of a categorical column too.
    assert changes(data, PANEL, "y", over="period")["base"].eq("2019").all()


def test_holm_matches_r_p_adjust():
    p = np.array([0.01, 0.04, np.nan, 0.03, 0.005])
    # R: p.adjust(c(0.01, 0.04, NA, 0.03, 0.005), "holm")
    expected = np.array([0.03, 0.06, np.nan, 0.06, 0.02])
    np.testing.assert_allclose(holm(p), expected, rtol=1e-14)
    assert np.isnan(holm(np.array([np.nan]))).all()


def test_empty_domain_gives_missing_numbers():
    data = read_data("panel").copy()
    data.loc[(data["group"] == "c") & (data["wave"] == "w2"), "y"] = np.nan
    got = changes(data, PANEL, "y", base="w0", by="group")
    row = got[(got["group"] == "c") & (got["wave"] == "w2")].iloc[0]
    assert row["n"] == 0
    assert np.isnan(row[["estimate", "diff", "se", "p_value", "p_holm", "df"]].astype(float)).all()
    # The other rows are unaffected, and Holm counts only the defined tests.
    assert got["p_holm"].notna().sum() == len(got) - 1


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"base": "2019"}, r"base='2019' is not a level of column 'wave'.*w0, w1, w2, w3"),
        ({"var": "nope"}, r"column 'nope' is not in the data"),
        ({"over": "nope"}, r"column 'nope' is not in the data"),
        ({"by": ["group", "nope"]}, r"column 'nope' is not in the data"),
        ({"var": "loc3"}, r"column 'loc3' is not numeric.*0/1 indicator"),
        ({"over": "group", "by": "group"}, r"over='group' is also"),
        ({"level": 95}, r"level=95 must be a number between 0 and 1"),
    ],
)
def test_changes_bad_input(kwargs, message):
    args = {"var": "y", "over": "wave", "base": "w0"} | kwargs
    with pytest.raises(DataError, match=message):
        changes(read_data("panel"), PANEL, **args)


def test_changes_one_level():
    data = read_data("panel")
    with pytest.raises(DataError, match=r"column 'wave' has 1 level"):
        changes(data[data["wave"] == "w0"].reset_index(drop=True), PANEL, "y", base="w0")


def test_base_matches_a_number_given_as_text():
    data = read_data("panel").assign(year=lambda d: d["wave"].str[1].astype(int) + 2019)
    got = changes(data, PANEL, "y", over="year")  # default base "2019"
    assert got["base"].unique().tolist() == [2019]


@pytest.mark.parametrize(
    ("a", "b", "message"),
    [
        ("z", "b", r"a='z' is not a value of column 'group'; its values are: a, b, c"),
        ("a", ["b", "q"], r"b='q' is not a value"),
        ("a", ["a", "b"], r"a and b share the value"),
    ],
)
def test_contrast_bad_groups(a, b, message):
    with pytest.raises(DataError, match=message):
        contrast(read_data("panel"), PANEL, "y", "group", a, b, by="wave")


def test_contrast_value_type_is_named():
    with pytest.raises(DataError, match=r"a='1' is not a value of column 'young'.*as stored"):
        contrast(read_data("panel"), PANEL, "y", "young", "1", "0")


def test_contrast_unknown_columns():
    with pytest.raises(DataError, match=r"column 'nope' is not in the data"):
        contrast(read_data("panel"), PANEL, "y", "nope", "a", "b")
    with pytest.raises(DataError, match=r"column 'nope' is not in the data"):
        contrast(read_data("panel"), PANEL, "y", "group", "a", "b", by="nope")


def test_boolean_outcome_is_a_share():
    data = read_data("panel").assign(
        yb=lambda d: d["y"].map({1.0: True, 0.0: False}).astype("boolean")
    )
    as_bool = contrast(data, PANEL, "yb", "group", "a", "b", by="wave")
    as_int = contrast(data, PANEL, "y", "group", "a", "b", by="wave")
    pd.testing.assert_frame_equal(as_bool, as_int)


def test_chisq_bad_input():
    data = read_data("panel")
    with pytest.raises(DataError, match=r"column 'nope' is not in the data"):
        chisq(data, PANEL, "group", "nope")
    one = data.assign(k="same")
    with pytest.raises(DataError, match=r"column 'k' has 1 distinct value"):
        chisq(one, PANEL, "group", "k")
    with pytest.raises(DataError, match=r"row and col are both"):
        chisq(data, PANEL, "group", "group")
