"""Calibrated designs against R survey 4.1.1 (tests/reference/calibration_reference.R).

A design whose weights are calibrated to the totals of its calibration terms
(R: ``postStratify``/``calibrate`` to the totals of its own weights, g = 1):
shares (every svyciprop method), means, domain estimates, changes on the
panel (svycontrast on the covariance), svyglm and svychisq; new weights from
population margins (``calibrate(calfun = "linear" | "raking", bounds)``).
Tolerances (issue): estimates 1e-8, SE 1e-6 relative.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference_data import REFERENCE, design_from_row, r_term, read_data, read_reference

from neacovid.errors import DataError, DesignError
from neacovid.survey.calibrate import Margin, calibrate_weights, read_margins
from neacovid.survey.ci import proportion_ci
from neacovid.survey.compare import changes, chisq
from neacovid.survey.design import Design
from neacovid.survey.estimate import means, shares
from neacovid.survey.models import logit
from neacovid.survey.taylor import covariance_matrix

TEXT = [
    "r_method",
    "var",
    "by",
    "ci",
    "domain",
    "category",
    "over",
    "base",
    "over_level",
    "base_level",
    "formula",
    "control",
    "term",
    "row",
    "col",
    "method",
    "id",
]
SHARES = read_reference("calibration_shares.csv", TEXT)
MEANS = read_reference("calibration_means.csv", TEXT)
CHANGES = read_reference("calibration_changes.csv", TEXT)
MODELS = read_reference("calibration_models.csv", TEXT)
CHISQ = read_reference("calibration_chisq.csv", TEXT)
WEIGHTS = read_reference("calibration_weights.csv", TEXT)


def _label(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _domain(frame: pd.DataFrame, by: list[str]) -> pd.Series:
    if not by:
        return pd.Series("", index=frame.index)
    return frame[by].astype(str).agg("|".join, axis=1)


def _groups(frame: pd.DataFrame, keys: list[str]):
    return [
        pytest.param(group, id="/".join(map(str, key)))
        for key, group in frame.groupby(keys, sort=False)
    ]


def _close(got, expected, what, estimate=1e-8, se=1e-6):
    np.testing.assert_allclose(
        got["estimate"], expected["estimate"], atol=estimate, rtol=0, err_msg=f"{what}: estimate"
    )
    np.testing.assert_allclose(
        got["se"], expected["se"], rtol=se, atol=1e-15, err_msg=f"{what}: se"
    )


@pytest.mark.parametrize("expected", _groups(SHARES, ["case", "r_method", "ci", "level"]))
def test_shares_equal_r_survey(expected):
    first = expected.iloc[0]
    by = first.by.split(",") if first.by else None
    data = read_data(first.data)
    design = design_from_row(first)
    got = shares(data, design, first["var"], by=by, ci=first.ci, level=first.level)
    got = got.assign(domain=_domain(got, by or []), category=got["category"].map(_label))
    merged = expected.merge(got, on=["domain", "category"], suffixes=("_r", ""), how="left")
    assert merged["n"].notna().all()
    what = f"{first.case} {first.ci}"
    np.testing.assert_array_equal(merged["n"], merged["n_r"])
    np.testing.assert_array_equal(merged["df"], merged["df_r"])
    np.testing.assert_allclose(merged["weighted_n"], merged["weighted_n_r"], rtol=1e-12)
    _close(merged, merged.rename(columns=lambda c: c[:-2] if c.endswith("_r") else c + "_x"), what)
    np.testing.assert_allclose(merged["deff"], merged["deff_r"], rtol=1e-6)
    low, high = merged["ci_low"], merged["ci_high"]
    if first.ci == "beta" and first.calibration:
        # R's svyciprop(method = "beta") scales the effective n by
        # qt(nrow(design) - 1) / qt(degf); on a calibrated domain nrow() counts every row
        # of the design (the other rows keep weight 0), on an uncalibrated one the
        # domain's rows. We use the domain's rows in both (Korn & Graubard's n - 1), so
        # a calibrated domain gets the interval it would have uncalibrated. With R's
        # row count our code gives R's limits:
        rows = np.full(len(merged), float(len(data)))
        low, high = proportion_ci(
            merged["estimate"],
            merged["se"] ** 2,
            merged["df"],
            rows,
            method="beta",
            level=first.level,
        )
        part = (merged["n"] < len(data)).to_numpy()  # domains smaller than the data
        if part.any():
            assert not np.allclose(low[part], merged["ci_low"][part], atol=1e-6), "no quirk"
    np.testing.assert_allclose(low, merged["ci_low_r"], atol=1e-6, rtol=0, err_msg=what)
    np.testing.assert_allclose(high, merged["ci_high_r"], atol=1e-6, rtol=0, err_msg=what)


@pytest.mark.parametrize("expected", _groups(MEANS, ["case", "r_method", "level"]))
def test_means_equal_r_survey(expected):
    first = expected.iloc[0]
    by = first.by.split(",") if first.by else None
    got = means(
        read_data(first.data), design_from_row(first), first["var"], by=by, level=first.level
    )
    got = got.assign(domain=_domain(got, by or []))
    merged = expected.merge(got, on="domain", suffixes=("_r", ""), how="left")
    np.testing.assert_array_equal(merged["n"], merged["n_r"])
    np.testing.assert_array_equal(merged["df"], merged["df_r"])
    scale = np.abs(merged["estimate_r"]).clip(lower=1)
    np.testing.assert_allclose(
        merged["estimate"] / scale, merged["estimate_r"] / scale, atol=1e-12, rtol=0
    )
    np.testing.assert_allclose(merged["se"], merged["se_r"], rtol=1e-6, err_msg=first.case)
    for limit in ("ci_low", "ci_high"):
        np.testing.assert_allclose(
            merged[limit] / scale, merged[f"{limit}_r"] / scale, atol=1e-9, rtol=0
        )


def test_large_stratum_offsets_are_centred_before_squaring():
    """y = 1e8 * stratum + N(0, 1): summing squares first would give an SE of 0.466
    for the overall mean; R (and we) centre first: 0.0912."""
    expected = MEANS[MEANS["case"] == "offsets/y"].iloc[0]
    got = means(read_data("offsets"), design_from_row(expected), "y")
    assert got["se"].iloc[0] == pytest.approx(expected["se"], rel=1e-6)
    assert got["se"].iloc[0] < 0.1


@pytest.mark.parametrize("expected", _groups(CHANGES, ["case", "r_method"]))
def test_changes_equal_r_survey(expected):
    first = expected.iloc[0]
    by = first.by.split(",") if first.by else None
    got = changes(
        read_data(first.data),
        design_from_row(first),
        first["var"],
        over=first.over,
        base=first.base,
        by=by,
        level=first.level,
    )
    got = got.assign(domain=_domain(got, by or []))
    keys = list(zip(got["domain"], got[first.over].astype(str), strict=True))
    assert keys == list(zip(expected["domain"], expected["over_level"], strict=True))
    got, expected = got.reset_index(drop=True), expected.reset_index(drop=True)
    for column in ("estimate", "base_estimate", "diff", "ci_low", "ci_high"):
        np.testing.assert_allclose(got[column], expected[column], atol=1e-8, rtol=0)
    for column in ("se", "se_independent"):
        np.testing.assert_allclose(got[column], expected[column], rtol=1e-6, err_msg=column)
    for column in ("p_value", "p_holm"):
        np.testing.assert_allclose(got[column], expected[column], atol=1e-7, rtol=0)
    np.testing.assert_array_equal(got["df"], expected["df"])


@pytest.mark.parametrize("expected", _groups(MODELS, ["case", "r_method"]))
def test_logit_equals_r_svyglm(expected):
    first = expected.iloc[0]
    got = logit(read_data(first.data), design_from_row(first), first.formula, level=first.level)
    got = got.assign(r_term=got["term"].map(r_term))
    merged = expected.merge(got, left_on="term", right_on="r_term", suffixes=("_r", ""))
    assert len(merged) == len(expected)
    np.testing.assert_allclose(merged["estimate"], merged["estimate_r"], atol=1e-8, rtol=0)
    np.testing.assert_allclose(merged["se"], merged["se_r"], rtol=1e-6)
    np.testing.assert_allclose(merged["p_value"], merged["p_value_r"], rtol=1e-5, atol=1e-12)
    np.testing.assert_array_equal(merged["df"], merged["df_r"])


@pytest.mark.parametrize("expected", _groups(CHISQ, ["case"]))
def test_chisq_equals_r_svychisq(expected):
    """The test within wave w1 as a domain of the calibrated design (rows of other waves
    keep the design): R's svychisq on subset(des, wave == "w1")."""
    first = expected.iloc[0]
    data = read_data(first.data)
    # The row variable may be a calibration variable too: mask a copy of it.
    row = f"{first.row}_in_w1"
    masked = data.assign(**{row: data[first.row].where(data["wave"] == "w1")})
    got = chisq(masked, design_from_row(first), row, first.col)
    assert got.statistic == pytest.approx(first.statistic, rel=1e-6)
    assert got.ndf == pytest.approx(first.ndf, rel=1e-6)
    assert got.ddf == pytest.approx(first.ddf, rel=1e-6)
    assert got.pearson == pytest.approx(first.pearson, rel=1e-6)
    assert got.p_value == pytest.approx(first.p_value, rel=1e-5, abs=1e-15)


def test_reference_covers_the_issue():
    assert {"poststratify", "linear", "raking"} <= set(SHARES["r_method"])
    assert set(SHARES["ci"]) == {"logit", "xlogit", "beta", "mean", "likelihood", "asin", "wilson"}
    assert {"apistrat", "apiclus1", "panel"} <= set(SHARES["data"])
    assert SHARES["by"].str.contains(",").any()  # two-way domains
    assert (CHANGES["by"] != "").any() and {"y", "x"} <= set(CHANGES["var"])
    assert len(MODELS["case"].unique()) >= 2 and len(CHISQ) >= 2
    assert {"linear", "raking"} <= set(WEIGHTS["method"])
    assert WEIGHTS["bound_low"].notna().any()


# --------------------------------------------------------------------------- new weights


def _margins_for(case: str) -> tuple[pd.DataFrame, list[Margin]]:
    if case.startswith("panel_w1"):
        data = read_data("panel")
        data = data[data["wave"] == "w1"].reset_index(drop=True)
        return data, read_margins(REFERENCE / "data" / "margins_panel_w1.csv")
    return read_data("apistrat"), read_margins(REFERENCE / "data" / "margins_apistrat.csv")


@pytest.mark.parametrize("expected", _groups(WEIGHTS, ["case"]))
def test_calibrated_weights_equal_r_calibrate(expected):
    first = expected.iloc[0]
    data, margins = _margins_for(first.case)
    bounds = None if pd.isna(first.bound_low) else (first.bound_low, first.bound_high)
    weight = "weight" if first.data == "panel" else "pw"
    new = calibrate_weights(data, weight, margins, method=first.method, bounds=bounds)
    id_column = "resp_id" if first.data == "panel" else "snum"
    got = pd.Series(new, index=data[id_column].astype(str))
    np.testing.assert_allclose(
        got[expected["id"]].to_numpy(), expected["weight_calibrated"], rtol=1e-8
    )


def test_calibrated_weights_meet_the_margins_and_the_bounds():
    data, margins = _margins_for("apistrat")
    new = calibrate_weights(data, "pw", margins, method="raking", bounds=(0.89, 1.3))
    for margin in margins:
        totals = pd.Series(new).groupby(data[margin.variable].astype(str)).sum()
        for category, total in margin.totals.items():
            assert totals[category] == pytest.approx(total, rel=1e-10)
    g = new / data["pw"].to_numpy()
    assert g.min() >= 0.89 - 1e-12 and g.max() <= 1.3 + 1e-12


@pytest.mark.parametrize(
    ("rows", "words"),
    [
        (
            "stype,E,4421\nstype,H,755\nstype,M,1018\nawards,No,2000\nawards,Yes,5000",
            ["contradict", "awards", "stype"],
        ),
        ("stype,E,4421\nstype,H,755\nstype,M,1018\nstype,X,10", ["stype=X", "no respondent"]),
        ("stype,E,4421\nstype,H,755", ["no total", "'M'"]),
        ("stype,E,4421\nstype,H,-3\nstype,M,1018", ["-3", "finite number"]),
    ],
)
def test_margins_that_cannot_be_met_are_refused(tmp_path, rows, words):
    path = tmp_path / "margins.csv"
    path.write_text("variable,category,total\n" + rows + "\n")
    with pytest.raises(DataError) as err:
        calibrate_weights(read_data("apistrat"), "pw", read_margins(path))
    for word in words:
        assert word in str(err.value)


def test_infeasible_bounds_do_not_converge():
    data, margins = _margins_for("apistrat")
    with pytest.raises(DataError, match="did not converge.*widen the bounds"):
        calibrate_weights(data, "pw", margins, method="linear", bounds=(0.9, 1.1))


def test_cli_calibrate_writes_the_table_with_weight_calibrated(tmp_path):
    out = tmp_path / "calibrated.csv"
    args = [
        sys.executable,
        "-m",
        "neacovid",
        "calibrate",
        str(REFERENCE / "data" / "apistrat.csv"),
        "--weight",
        "pw",
        "--margins",
        str(REFERENCE / "data" / "margins_apistrat.csv"),
        "--method",
        "linear",
        "--bounds",
        "0.89,1.3",
        "--out",
        str(out),
    ]
    done = subprocess.run(args, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(out)
    data = read_data("apistrat")
    assert list(table.columns) == [*data.columns, "weight_calibrated"]
    expected = WEIGHTS[WEIGHTS["case"] == "apistrat/linear/0.89-1.3"]
    got = table.set_index(table["snum"].astype(str))["weight_calibrated"]
    np.testing.assert_allclose(got[expected["id"]], expected["weight_calibrated"], rtol=1e-8)
    bad = subprocess.run(
        [*args[:-4], "--bounds", "0.9", "--out", str(out)], capture_output=True, text=True
    )
    assert bad.returncode == 2 and "LOW,HIGH" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


# --------------------------------------------------------------------------- invariants


def test_a_calibration_cell_share_has_no_variance():
    """The share of a calibration cell is fixed by the weights: its SE is 0."""
    data = read_data("apistrat")
    got = shares(data, Design("pw", strata="stype", fpc="fpc", calibration=("awards",)), "awards")
    assert (got["se"] == 0).all()


def test_calibration_only_lowers_the_se_of_what_it_explains():
    data = read_data("panel")
    plain = Design("weight", strata="stratum", psu="resp_id")
    calibrated = Design("weight", strata="stratum", psu="resp_id", calibration=("wave:group",))
    a = shares(data, plain, "y", by="wave")
    b = shares(data, calibrated, "y", by="wave")
    assert (a["estimate"] == b["estimate"]).all()
    assert not np.allclose(a["se"], b["se"])


def test_calibration_columns_need_values():
    data = read_data("apistrat").assign(awards=lambda d: d["awards"].where(d["snum"] % 5 > 0))
    with pytest.raises(DesignError, match="calibration column 'awards' has .* missing"):
        Design("pw", calibration=("awards",)).bind(data)


@pytest.mark.parametrize("term", ["", "a::b", "a:a", "1a", "a b"])
def test_malformed_terms_are_refused(term):
    with pytest.raises(DesignError):
        Design("w", calibration=(term,))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    offset=st.sampled_from([0.0, 1e6]),
    lonely=st.sampled_from(["adjust", "remove", "average", "certainty"]),
    terms=st.sampled_from([("g",), ("s:g",), ("g", "a"), ("s:g", "s:a")]),
    clustered=st.booleans(),
)
def test_calibrated_variance_is_the_variance_of_the_residuals(
    seed, offset, lonely, terms, clustered
):
    """Domain shares and changes on a calibrated design equal the plain design's
    variance of the explicit WLS residuals of their influence values (R's qr.resid)."""
    rng = np.random.default_rng(seed)
    n = 400
    data = (
        pd.DataFrame(
            {
                "id": rng.integers(0, 150, n),
                "s": rng.choice(["h1", "h2", "h3", "h4"], n),
                "g": rng.choice(["x", "y", "z"], n),
                "a": rng.choice(["1", "2"], n),
                "w": rng.uniform(1, 9, n),
                "y": rng.integers(0, 2, n) + offset,
                "t": rng.choice(["t0", "t1", "t2"], n),
            }
        )
        .drop_duplicates(["id", "t"])
        .reset_index(drop=True)
    )
    data["s"] = data.groupby("id")["s"].transform("first")
    data.loc[data["id"] == data["id"].min(), "s"] = "h5"  # a lonely stratum
    psu = "id" if clustered else None
    if not clustered:
        data = data.drop_duplicates("id").reset_index(drop=True)
    design = Design("w", strata="s", psu=psu, calibration=terms, lonely_psu=lonely)
    plain = Design("w", strata="s", psu=psu, lonely_psu=lonely).bind(data)
    got = means(data, design, "y", by="t")
    x_all, w = data["y"].to_numpy(), data["w"].to_numpy()
    indicator = np.column_stack(
        [
            (
                pd.factorize(data[list(t.split(":"))].astype(str).agg("|".join, axis=1))[0][:, None]
                == np.arange(40)
            ).astype(float)
            for t in terms
        ]
    )

    def residual_variance(x):
        beta = np.linalg.lstsq(indicator * np.sqrt(w)[:, None], x / np.sqrt(w), rcond=None)[0]
        v, _ = covariance_matrix(plain, np.arange(len(data)), (x - w * (indicator @ beta))[:, None])
        # a calibrated domain keeps every stratum ("average" counts them all)
        return (
            v[0, 0]
            * plain.average_factor(np.ones(plain.n_strata, bool))
            / (plain.average_factor(np.bincount(plain.stratum_code, minlength=plain.n_strata) > 0))
        )

    for i, wave in enumerate(got["t"]):
        dom = (data["t"] == wave).to_numpy()
        mean = np.sum(w[dom] * x_all[dom]) / w[dom].sum()
        x = np.where(dom, w * (x_all - mean) / w[dom].sum(), 0.0)
        expected = np.sqrt(residual_variance(x))
        assert got["se"].iloc[i] == pytest.approx(expected, rel=1e-7, abs=1e-12)
    if clustered and data["t"].nunique() > 1:
        diffs = changes(data, design, "y", over="t", base="t0")
        for i, wave in enumerate(diffs["t"]):
            parts = []
            for level, sign in ((wave, 1), ("t0", -1)):
                dom = (data["t"] == level).to_numpy()
                mean = np.sum(w[dom] * x_all[dom]) / w[dom].sum()
                parts.append(sign * np.where(dom, w * (x_all - mean) / w[dom].sum(), 0.0))
            expected = np.sqrt(residual_variance(parts[0] + parts[1]))
            assert diffs["se"].iloc[i] == pytest.approx(expected, rel=1e-7, abs=1e-12)
