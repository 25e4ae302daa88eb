"""Differences in differences and Wald tests of model terms against R survey 4.1.1
(tests/reference/panel_reference.R), and the attrition tools on the panel."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from reference_data import design_from_row, read_data, read_reference

from neacovid.errors import DataError
from neacovid.survey.compare import differences_in_differences
from neacovid.survey.design import Design
from neacovid.survey.models import MODELS, term_tests
from neacovid.survey.panel import r_indicator, retention

TEXT = [
    "var",
    "group",
    "a",
    "b",
    "over",
    "base",
    "by",
    "domain",
    "over_level",
    "family",
    "formula",
    "r_formula",
    "term",
    "r_term",
]
DID = read_reference("panel_did.csv", TEXT)
TERMS = read_reference("panel_termtests.csv", TEXT)


def _panel() -> pd.DataFrame:
    """panel.csv with loc3_w0: each respondent's loc3 in their w0 row (R's convention)."""
    data = read_data("panel").copy()
    w0 = data[data["wave"] == "w0"].set_index("resp_id")["loc3"]
    data["loc3_w0"] = data["resp_id"].map(w0)
    return data


def _typed(values: str, column: pd.Series):
    parts = values.split("|")
    if pd.api.types.is_numeric_dtype(column):
        parts = [column.dtype.type(p) for p in parts]
    return parts


@pytest.mark.parametrize(
    "expected", [pytest.param(g, id=c) for c, g in DID.groupby("case", sort=False)]
)
def test_did_equals_r_svycontrast(expected):
    first = expected.iloc[0]
    data = _panel()
    by = [first.by] if first.by else None
    got = differences_in_differences(
        data,
        design_from_row(first),
        first["var"],
        first.group,
        _typed(first.a, data[first.group]),
        _typed(first.b, data[first.group]),
        over=first.over,
        base=first.base,
        by=by,
        level=first.level,
    )
    got = got.assign(domain=got[first.by].astype(str) if by else "")
    keys = list(zip(got["domain"], got[first.over].astype(str), strict=True))
    assert keys == list(zip(expected["domain"], expected["over_level"], strict=True))
    got, expected = got.reset_index(drop=True), expected.reset_index(drop=True)
    for column in (
        "estimate_a",
        "base_estimate_a",
        "estimate_b",
        "base_estimate_b",
        "did",
        "ci_low",
        "ci_high",
    ):
        np.testing.assert_allclose(got[column], expected[column], atol=1e-9, err_msg=column)
    np.testing.assert_allclose(got["se"], expected["se"], rtol=1e-7)
    np.testing.assert_allclose(got["p_value"], expected["p_value"], atol=1e-8)
    np.testing.assert_allclose(got["p_holm"], expected["p_holm"], atol=1e-8)
    np.testing.assert_array_equal(got["df"], expected["df"])
    for column in ("n_a", "base_n_a", "n_b", "base_n_b"):
        np.testing.assert_array_equal(got[column], expected[column])


@pytest.mark.parametrize(
    "expected", [pytest.param(g, id=c) for c, g in TERMS.groupby("case", sort=False)]
)
def test_term_tests_equal_r_regtermtest(expected):
    first = expected.iloc[0]
    data = read_data(first.data)
    fit = MODELS[first.family](data, design_from_row(first), first.formula)
    got = term_tests(fit, list(expected["term"]))
    assert fit.df == first.model_df and len(fit.table) == first.k
    np.testing.assert_allclose(got["statistic"], expected["statistic"], rtol=1e-6)
    np.testing.assert_array_equal(got["ndf"], expected["ndf"])
    np.testing.assert_array_equal(got["ddf"], expected["ddf"])
    np.testing.assert_allclose(got["p_value"], expected["p_value"], rtol=1e-5, atol=1e-14)


def test_reference_covers_the_issue():
    assert set(DID["case"]) >= {"panel/y/young", "panel/cal/y/young", "panel/x/group"}
    assert (DID["by"] != "").any() and (DID["level"] == 0.9).any()
    assert set(TERMS["family"]) == {"binomial", "gaussian"}
    assert TERMS["term"].str.contains(":").any() and TERMS["term"].str.contains(r"\+").any()


def test_a_term_not_in_the_model_is_named():
    data = read_data("panel")
    fit = MODELS["binomial"](
        data, Design("weight", strata="stratum", psu="resp_id"), "y ~ C(loc3) + C(wave)"
    )
    with pytest.raises(DataError, match="C\\(group\\).*its terms are: C\\(loc3\\), C\\(wave\\)"):
        term_tests(fit, ["C(group)"])


def test_did_of_a_group_against_itself_over_time_is_the_change_difference():
    """did = change(a) - change(b), and its variance follows from the four domains."""
    data = _panel()
    design = Design("weight", strata="stratum", psu="resp_id")
    got = differences_in_differences(data, design, "y", "young", [1], [0], base="w0")
    np.testing.assert_allclose(
        got["did"],
        (got["estimate_a"] - got["base_estimate_a"]) - (got["estimate_b"] - got["base_estimate_b"]),
        atol=1e-15,
    )


def test_retention_counts_the_baseline_respondents_still_there():
    data = _panel()
    table = retention(data, "w0", "weight")
    n0 = (data["wave"] == "w0").sum()
    assert (table["n_baseline"] == n0).all()
    ids0 = set(data.loc[data["wave"] == "w0", "resp_id"])
    for row in table.itertuples():
        later = set(data.loc[data["wave"] == row.wave, "resp_id"])
        assert row.n_stayed == len(ids0 & later)
        assert row.retention == pytest.approx(row.n_stayed / n0)
    by = retention(data, "w0", "weight", by="loc3_w0")
    assert by.groupby("wave")["n_baseline"].sum().max() <= n0


def test_r_indicator():
    assert r_indicator(np.full(10, 0.4), np.ones(10)) == pytest.approx(1.0)
    rho = np.array([0.1, 0.9] * 50)
    assert r_indicator(rho, np.ones(100)) == pytest.approx(1 - 2 * np.std(rho, ddof=1))
    assert r_indicator(rho, np.ones(100)) < 0.5


# -- multiple-testing families ---------------------------------------------------------


def _change_rows() -> pd.DataFrame:
    """Two indicators, two waves, overall and two location groups; p-values chosen so
    that the gate matters: wave w2 of y is not significant overall."""
    rows = []
    p = {("y", "w1"): 0.001, ("y", "w2"): 0.04, ("z", "w1"): 0.5, ("z", "w2"): 0.002}
    for (indicator, wave), p_all in p.items():
        rows.append(
            {
                "indicator": indicator,
                "breakdown": "all",
                "group": "all",
                "wave": wave,
                "base": "w0",
                "p_value": p_all,
            }
        )
        for group, p_group in (("site", 0.001), ("home", 0.3)):
            rows.append(
                {
                    "indicator": indicator,
                    "breakdown": "location",
                    "group": group,
                    "wave": wave,
                    "base": "w0",
                    "p_value": p_group,
                }
            )
    return pd.DataFrame(rows)


def test_holm_per_indicator_tests_groups_only_under_a_significant_headline():
    from neacovid.publish.tables import families
    from neacovid.survey.multitest import holm

    table = families(_change_rows(), "holm_per_indicator", 0.05)
    overall = table[table["breakdown"] == "all"]
    for _, rows in overall.groupby("indicator"):
        np.testing.assert_allclose(rows["p_adjusted"], holm(rows["p_value"].to_numpy()))
    # y: w1 0.001 and w2 0.04 -> Holm 0.002 and 0.04: both significant
    assert overall.set_index(["indicator", "wave"])["significant"].to_dict() == {
        ("y", "w1"): True,
        ("y", "w2"): True,
        ("z", "w1"): False,
        ("z", "w2"): True,
    }
    groups = table[table["breakdown"] != "all"].set_index(["indicator", "wave", "group"])
    assert bool(groups.loc[("y", "w1", "site"), "significant"])
    # z in w1: the group p is tiny but the headline change is not significant
    assert groups.loc[("z", "w1", "site"), "p_adjusted"] < 0.05
    assert not bool(groups.loc[("z", "w1", "site"), "significant"])
    assert table["family"].str.contains("overall changes").sum() == 4


def test_a_headline_verdict_does_not_depend_on_the_number_of_group_tables():
    from neacovid.publish.tables import families

    rows = _change_rows()
    alone = families(rows[rows["breakdown"] == "all"], "holm_per_indicator", 0.05)
    more = rows[rows["breakdown"] != "all"].assign(breakdown="age_group")
    crowded = families(pd.concat([rows, more], ignore_index=True), "holm_per_indicator", 0.05)
    key = ["indicator", "wave"]
    a = alone.set_index(key)["p_adjusted"]
    b = crowded[crowded["breakdown"] == "all"].set_index(key)["p_adjusted"]
    pd.testing.assert_series_equal(a.sort_index(), b.sort_index())
    # whereas one Holm family over the whole table makes it depend on them
    flat = families(pd.concat([rows, more], ignore_index=True), "holm_table", 0.05)
    assert (
        flat[flat["breakdown"] == "all"]["p_adjusted"].to_numpy() > alone["p_adjusted"].to_numpy()
    ).any()


def test_bh_families_are_per_indicator():
    from neacovid.publish.tables import families
    from neacovid.survey.multitest import adjust

    table = families(_change_rows(), "bh", 0.05)
    for _, rows in table.groupby("indicator"):
        np.testing.assert_allclose(rows["p_adjusted"], adjust(rows["p_value"].to_numpy(), "bh"))
    assert set(table["adjustment"]) == {"bh"}


def test_an_unknown_method_is_named():
    from neacovid.errors import ConfigError
    from neacovid.publish.tables import families

    with pytest.raises(ConfigError, match="compare.multiple_testing: 'bonferroni'"):
        families(_change_rows(), "bonferroni", 0.05)


# -- models per wave ---------------------------------------------------------------------


def _rules(min_n: int):
    from neacovid.publish.disclosure import DisclosureRules

    return DisclosureRules(min_n=min_n, flag_n=min_n)


def test_models_per_wave_adjust_only_the_effect_terms():
    from neacovid.publish.tables import model_tables

    data = _panel().assign(young=lambda d: d["young"].astype(str))
    design = Design("weight", strata="stratum", psu="resp_id")
    table, tests = model_tables(
        data, design, "y", ["loc3"], ["group", "young"], _rules(10), references={"loc3": "site"}
    )
    assert set(table["wave"]) == {"w0", "w1", "w2", "w3"}
    effect = table["term"].str.startswith("C(loc3")
    assert table.loc[effect, "p_adjusted"].notna().all()
    assert table.loc[~effect, "p_adjusted"].isna().all()
    assert table.loc[~effect, "significant"].isna().all()
    for _, rows in table[effect].groupby("wave"):
        from neacovid.survey.multitest import holm

        np.testing.assert_allclose(rows["p_adjusted"], holm(rows["p_value"].to_numpy()))
    assert set(tests["factor"]) == {"loc3", "group", "young"}
    assert set(tests.loc[tests["factor"] == "loc3", "role"]) == {"effect"}
    # each wave's model is the wave's rows only: the same as fitting that wave alone
    from neacovid.survey.models import fit_logit

    alone = fit_logit(
        data,
        design,
        "y ~ C(loc3, Treatment('site')) + C(group) + C(young)",
        subset=(data["wave"] == "w2").to_numpy(),
    ).table
    got = table[table["wave"] == "w2"].set_index("term")["estimate"]
    np.testing.assert_allclose(got.loc[alone["term"]], alone["estimate"], rtol=1e-12)


def test_suppressing_a_term_leaves_the_others_adjusted_p_alone():
    from neacovid.publish.tables import model_tables

    data = _panel()
    design = Design("weight", strata="stratum", psu="resp_id")
    args = (data, design, "y", ["loc3", "group"], [])
    lenient, _ = model_tables(*args, _rules(1))
    strict, _ = model_tables(*args, _rules(250))
    assert (strict["status"] == "suppressed").any()
    shown = strict[strict["status"] != "suppressed"].set_index(["wave", "term"])["p_adjusted"]
    same = lenient.set_index(["wave", "term"])["p_adjusted"].loc[shown.index]
    np.testing.assert_allclose(shown.dropna(), same.dropna(), rtol=1e-12)


def test_sparse_levels_join_other():
    from neacovid.publish.tables import sparse_levels_merged

    values = pd.Series(["a"] * 50 + ["b"] * 30 + ["c"] * 4 + ["d"] * 30 + [None] * 3)
    outcome = pd.Series([1, 0] * 25 + [1] * 2 + [0] * 28 + [1, 0] * 2 + [1, 0] * 15 + [1] * 3)
    rows = np.ones(len(values), dtype=bool)
    merged = sparse_levels_merged(values, None, rows, 10)
    assert set(merged.dropna()) == {"a", "b", "d"}  # "c" alone in "(other)" joins the largest
    assert (merged[80:84] == "a").all() and merged.isna().sum() == 3
    merged = sparse_levels_merged(values, outcome, rows, 10)
    # b has 2 cases, c 4 rows: both join (other) (34 rows, 4 cases: still sparse -> a)
    assert set(merged.dropna()) == {"a", "d"}


# -- attrition ---------------------------------------------------------------------------


def test_adjusted_weights_give_the_stayers_the_baseline_composition():
    from neacovid.publish.attrition import adjusted_weights

    data = _panel()  # the baseline wave is w0: its columns are <name>_w0
    data["group_w0"] = data["resp_id"].map(data[data["wave"] == "w0"].set_index("resp_id")["group"])
    design = Design("weight", strata="stratum", psu="resp_id")
    weights = adjusted_weights(data, design, "w0", ["loc3", "group"])
    base = (data["wave"] == "w0").to_numpy()
    np.testing.assert_array_equal(weights[base], data.loc[base, "weight"])
    for wave in ("w1", "w2", "w3"):
        rows = (data["wave"] == wave).to_numpy()
        assert weights[rows].sum() == pytest.approx(data.loc[rows, "weight"].sum(), rel=1e-9)
        # people of the wave who were not in w0 keep their weighted total
        newcomer = rows & ~data["resp_id"].isin(data.loc[base, "resp_id"]).to_numpy()
        assert newcomer.any()
        assert weights[newcomer].sum() == pytest.approx(
            data.loc[newcomer, "weight"].sum(), rel=1e-9
        )
        known = rows & ~newcomer
        for column in ("loc3_w0", "group_w0"):
            target = (
                data.loc[base].groupby(column, dropna=False)["weight"].sum()
                / data.loc[base, "weight"].sum()
            )
            got = (
                pd.Series(weights[known], index=data.index[known])
                .groupby(data.loc[known, column], dropna=False)
                .sum()
                / weights[known].sum()
            )
            np.testing.assert_allclose(
                got.sort_index().to_numpy(), target.sort_index().to_numpy(), atol=1e-7
            )
