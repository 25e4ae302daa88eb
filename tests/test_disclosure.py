"""neacovid.publish.disclosure: people not rows, complements, reliability flags that
treat a share and its complement alike, rounding nothing can undo, the output check."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neacovid.errors import ConfigError
from neacovid.publish.disclosure import (
    DisclosureRules,
    align_changes,
    align_contrasts,
    align_key_figures,
    apply_rules,
    cell_status,
    output_check,
)
from neacovid.survey.design import Design
from neacovid.survey.estimate import shares

RULES = DisclosureRules()


def _table(ns, positives=None, locations=("on_site", "hybrid", "home"), p=0.2):
    """A location table with categories 0/1; ``positives`` per cell (default p * n)."""
    rows = []
    for wave, n_by_location in ns.items():
        for i, (location, n) in enumerate(zip(locations, n_by_location, strict=True)):
            k = round(p * n) if positives is None else positives[wave][i]
            share = k / n if n else np.nan
            for category, count, est in ((0, n - k, 1 - share), (1, k, share)):
                rows.append(
                    {
                        "wave": wave,
                        "location": location,
                        "category": category,
                        "estimate": est,
                        "se": 0.02,
                        "ci_low": est - 0.04,
                        "ci_high": est + 0.04,
                        "n": n,
                        "n_category": count,
                        "weighted_n": 1234.5678 * n,
                        "deff": 1.1234,
                        "df": n - 1,
                        "level": 0.95,
                        "ci_method": "logit",
                    }
                )
    return pd.DataFrame(rows)


def _status(out, **where):
    mask = np.ones(len(out), dtype=bool)
    for column, value in where.items():
        mask &= (out[column] == value).to_numpy()
    return set(out.loc[mask, "status"])


def test_a_small_domain_is_suppressed_with_its_complement():
    out = apply_rules(
        _table({"2021-11": (500, 300, 7)}), RULES, ["wave", "location"], partition="location"
    )
    assert _status(out, location="home") == {"suppressed"}
    assert (
        out.loc[out["location"] == "home", ["estimate", "se", "n", "n_category"]]
        .isna()
        .all(axis=None)
    )
    # home = total - on_site - hybrid: the smaller other group goes too
    assert _status(out, location="hybrid") == {"suppressed"}
    assert out.loc[out["location"] == "hybrid", "reason"].str.contains("complement").all()
    assert _status(out, location="on_site") <= {"ok", "indicative"}
    assert len(out) == 6  # no row dropped


def test_people_with_and_without_the_answer_are_counted():
    """12 respondents who all report complaints, and 2 out of 40, are not published."""
    table = _table({"w": (12, 40, 500)}, positives={"w": (12, 2, 100)})
    out = apply_rules(table, RULES, ["wave", "location"], partition="location")
    assert _status(out, location="on_site") == {"suppressed"}  # 12 of 12
    assert _status(out, location="hybrid") == {"suppressed"}  # 2 of 40
    reasons = set(out.loc[out["status"] == "suppressed", "reason"])
    assert "fewer than 10 respondents without the answer" in reasons
    assert "fewer than 10 respondents with the answer" in reasons
    # two groups hidden: the third (and largest) needs no company
    assert _status(out, location="home") <= {"ok", "indicative"}


def test_categories_of_a_domain_are_a_set_too():
    """Three categories: hiding one share alone would leave it as 100% minus the others."""
    rows = []
    for location, count in (("on_site", 300), ("hybrid", 150), ("home", 6)):
        rows.append(
            {
                "wave": "w",
                "category": location,
                "estimate": count / 456,
                "se": 0.01,
                "n": 456,
                "n_category": count,
                "weighted_n": 1e6,
                "deff": 1.0,
                "df": 455,
                "level": 0.95,
            }
        )
    out = apply_rules(pd.DataFrame(rows), RULES, ["wave"])
    assert list(out["status"])[2] == "suppressed"
    assert list(out["status"])[1] == "suppressed"  # the smallest other category
    assert list(out["status"])[0] != "suppressed"


def test_no_reason_or_column_states_a_count_below_min_n():
    table = _table({"w": (3, 40, 500)}, positives={"w": (1, 2, 100)})
    out = apply_rules(table, RULES, ["wave", "location"], partition="location")
    shown = out[out["status"] != "suppressed"]
    for column in ("n", "n_category"):
        assert (shown[column].dropna() >= RULES.min_n).all()
    assert not out["reason"].str.contains(r"\b[0-9]\b(?! respondents)").any()
    assert not out["reason"].str.contains("n=").any()
    check = output_check({"t": out})
    assert not check["reason"].str.contains(r"=\s*\d").any()


def test_deff_and_weighted_counts_cannot_give_the_population_back():
    """N = n / (1 - se^2 (n - 1) / (deff p (1 - p))) is exact with the raw deff; with deff
    rounded to two decimals it is off by far more than the rounding of weighted_n."""
    rng = np.random.default_rng(4)
    n_rows = 400
    data = pd.DataFrame(
        {
            "w": rng.uniform(1000, 5000, n_rows),
            "y": rng.integers(0, 2, n_rows),
            "g": rng.choice(["a", "b"], n_rows),
        }
    )
    raw = shares(data, Design("w"), "y", by="g")
    true_total = raw["weighted_n"].to_numpy()

    def recovered(t):
        p, se, n, deff = (t[c].to_numpy(dtype=float) for c in ("estimate", "se", "n", "deff"))
        return n / (1 - se**2 * (n - 1) / (deff * p * (1 - p)))

    np.testing.assert_allclose(recovered(raw), true_total, rtol=1e-9)  # the leak
    published = apply_rules(raw, RULES, ["g"])
    assert (published["deff"] == published["deff"].round(2)).all()
    assert (published["weighted_n"] % RULES.round_weighted_n == 0).all()
    error = np.abs(recovered(published) - true_total)
    assert (error > RULES.round_weighted_n / 2).all(), error


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(20, 3000),
    k_share=st.floats(0.01, 0.99),
    se=st.floats(0.001, 0.2),
    deff=st.floats(0.5, 3.0),
    df=st.integers(1, 3000),
)
def test_a_share_and_its_complement_get_the_same_status(n, k_share, se, deff, df):
    k = int(round(k_share * n))
    p = k / n
    table = pd.DataFrame(
        {
            "wave": ["w", "w"],
            "category": [0, 1],
            "estimate": [1 - p, p],
            "se": [se, se],
            "n": [n, n],
            "n_category": [n - k, k],
            "weighted_n": [1e6, 1e6],
            "deff": [deff, deff],
            "df": [df, df],
            "level": [0.95, 0.95],
        }
    )
    out = apply_rules(table, RULES, ["wave"])
    assert out["status"].iloc[0] == out["status"].iloc[1]


def test_the_n_rule_is_on_effective_n_and_nchs_widths_flag_noisy_shares():
    table = _table({"w": (250, 300, 1000)})
    table["deff"] = [1.5, 1.5, 1.0, 1.0, 1.0, 1.0]  # on_site: effective n = 167
    table.loc[table["location"] == "hybrid", "se"] = 0.2  # a very wide interval
    out = apply_rules(table, RULES, ["wave", "location"], partition="location")
    by = out.set_index(["location", "category"])
    assert by.loc[("on_site", 0), "status"] == "indicative"
    assert by.loc[("on_site", 0), "reason"] == "effective n below 200"
    assert by.loc[("hybrid", 1), "status"] == "indicative"
    assert "Korn-Graubard" in by.loc[("hybrid", 1), "reason"]
    assert by.loc[("home", 1), "status"] == "ok"
    assert by.loc[("on_site", 0), "estimate"] == pytest.approx(0.8)  # indicative keeps numbers


def test_weighted_counts_rounded_and_empty_domains():
    out = apply_rules(_table({"2019": (0, 300, 400)}), RULES, ["wave", "location"])
    assert (out["weighted_n"].dropna() % 1000 == 0).all()
    assert _status(out, location="on_site") == {"empty"}
    assert output_check({"t": out}).empty or "empty" not in set(output_check({"t": out})["status"])


def test_rules_from_config():
    rules = DisclosureRules.from_config({"min_n": 5, "flag_n": 100, "round_weighted_n": 100})
    assert rules.min_n == 5 and rules.max_ci_width == 0.30
    with pytest.raises(ConfigError, match="unknown key 'minimum'"):
        DisclosureRules.from_config({"minimum": 5})
    with pytest.raises(ConfigError, match="min_n <= flag_n"):
        DisclosureRules.from_config({"min_n": 500, "flag_n": 200})
    for bad in ({"min_n": 2.5}, {"max_rse": float("nan")}, {"flag_n": -1}, {"min_n": True}):
        with pytest.raises(ConfigError):
            DisclosureRules.from_config(bad)


def test_the_defaults_are_the_projects_config():
    import yaml

    from neacovid.data.config import DEFAULT_CONFIG

    config = yaml.safe_load(DEFAULT_CONFIG.read_text())["disclosure"]
    assert DisclosureRules.from_config(config) == DisclosureRules()


def test_no_number_survives_suppression():
    rng = np.random.default_rng(3)
    ns = {str(w): tuple(int(x) for x in rng.integers(0, 60, 3)) for w in range(30)}
    out = apply_rules(_table(ns), RULES, ["wave", "location"], partition="location")
    shown = out[out["status"].isin(["ok", "indicative"])]
    assert (shown["n"] >= RULES.min_n).all()
    assert (shown["n_category"] >= RULES.min_n).all()
    assert ((shown["n"] - shown["n_category"]) >= RULES.min_n).all()
    hidden = out[out["status"] == "suppressed"]
    assert hidden[["estimate", "se", "n", "n_category", "weighted_n"]].isna().all(axis=None)
    # no set of a wave's groups (per category) or a domain's categories has one hidden cell
    for keys in (["wave", "category"], ["wave", "location"]):
        for _, group in out[out["status"] != "empty"].groupby(keys):
            assert (group["status"] == "suppressed").sum() != 1, group


def test_cells_hidden_in_estimate_tables_stay_hidden_everywhere():
    """A by-location cell suppressed with its complement must not come back through a
    change (estimate, base_estimate), a contrast of unions (hybrid + home) or a key
    figure of (partly) home workers; indicative cells stay indicative."""
    by_location = apply_rules(
        _table({"2021-11": (500, 69, 6)}).assign(indicator="burnout"),
        RULES,
        ["wave", "location"],
        partition="location",
    )
    cells = cell_status({"burnout_by_location": by_location})
    assert cells[("burnout", "2021-11", "location", "home", "1")] == "suppressed"
    assert cells[("burnout", "2021-11", "location", "hybrid", "1")] == "suppressed"
    base = {
        "estimate": 0.2,
        "base_estimate": 0.18,
        "diff": 0.02,
        "se": 0.01,
        "n": 69,
        "base_n": 300,
        "status": "ok",
        "reason": "",
    }
    changes = pd.DataFrame(
        [
            {
                "indicator": "burnout",
                "breakdown": "location",
                "group": "hybrid",
                "wave": "2021-11",
                "base": "2019",
            }
            | base,
            {
                "indicator": "burnout",
                "breakdown": "location",
                "group": "on_site",
                "wave": "2021-11",
                "base": "2019",
            }
            | base,
            {
                "indicator": "burnout",
                "breakdown": "location",
                "group": "hybrid",
                "wave": "2023-06",
                "base": "2021-11",
            }
            | base,
        ]
    )
    out = align_changes(changes, cells)
    assert list(out["status"]) == ["suppressed", "ok", "suppressed"]
    assert out.loc[[0, 2], ["estimate", "base_estimate", "diff", "n"]].isna().all(axis=None)
    marked = dict(cells) | {("burnout", "2019", "location", "on_site", "1"): "indicative"}
    assert list(align_changes(changes, marked)["status"])[1] == "indicative"

    contrasts = pd.DataFrame(
        [
            {
                "indicator": "burnout",
                "contrast": "home_vs_onsite",
                "group": "location",
                "wave": "2021-11",
                "location": np.nan,
                "a": "hybrid, home",
                "b": "on_site",
                "estimate_a": 0.165,
                "estimate_b": 0.19,
                "diff": -0.025,
                "n_a": 75,
                "n_b": 500,
                "status": "ok",
                "reason": "",
            }
        ]
    )
    assert align_contrasts(contrasts, cells)["status"].iloc[0] == "suppressed"

    key = pd.DataFrame(
        [
            {
                "id": "k1",
                "wave": "2021-11",
                "population": "home_any workers",
                "indicator": "burnout",
                "category": "1",
                "published": 16.9,
                "estimate": 16.5,
                "n": 75,
                "within_ci": True,
                "status": "ok",
                "reason": "",
            },
            {
                "id": "k2",
                "wave": "2021-11",
                "population": "on_site workers",
                "indicator": "burnout",
                "category": "1",
                "published": 19.0,
                "estimate": 19.1,
                "n": 500,
                "within_ci": True,
                "status": "ok",
                "reason": "",
            },
        ]
    )
    populations = {
        "home_any workers": {"column": "home_any", "value": 1},
        "on_site workers": {"column": "location", "value": "on_site"},
    }
    out = align_key_figures(key, cells, populations)
    assert list(out["status"]) == ["suppressed", "ok"]
    assert pd.isna(out.loc[0, "estimate"]) and out.loc[0, "published"] == 16.9
    assert out.loc[0, "within_ci"] is None


def test_comparison_with_one_empty_side_shows_no_numbers():
    table = pd.DataFrame(
        {
            "estimate": [0.79, 0.5],
            "se": [0.1, 0.05],
            "n": [6, 400],
            "base_n": [0, 300],
            "wave": ["2020-11", "2021-11"],
        }
    )
    out = apply_rules(table, RULES, ["wave"], n_columns=["n", "base_n"], rse=False)
    assert list(out["status"]) == ["empty", "ok"]
    assert pd.isna(out.loc[0, "estimate"]) and pd.isna(out.loc[0, "n"])


def test_a_change_counts_people_with_the_outcome_on_both_sides():
    table = pd.DataFrame(
        {
            "wave": ["a", "b"],
            "base": ["x", "x"],
            "estimate": [0.5, 0.04],
            "diff": [0.1, 0.0],
            "se": [0.05, 0.02],
            "n": [400, 250],
            "base_n": [300, 300],
            "n_with": [200, 9],
            "base_n_with": [120, 100],
        }
    )
    out = apply_rules(
        table,
        RULES,
        ["wave", "base"],
        n_columns=["n", "base_n"],
        with_columns=["n_with", "base_n_with"],
        rse=False,
    )
    assert list(out["status"]) == ["ok", "suppressed"]
