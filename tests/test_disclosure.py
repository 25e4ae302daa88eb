"""neacovid.publish.disclosure: suppression, complements, flags, rounding, output check."""

import numpy as np
import pandas as pd
import pytest

from neacovid.errors import ConfigError
from neacovid.publish.disclosure import DisclosureRules, apply_rules, output_check

RULES = DisclosureRules(min_n=10, flag_n=200, max_rse=0.3, round_weighted_n=1000)


def _table(ns, estimates=None, locations=("on_site", "hybrid", "home")):
    rows = []
    for wave, n_by_location in ns.items():
        for location, n in zip(locations, n_by_location, strict=True):
            for category, share in ((0, 0.8), (1, 0.2)):
                rows.append({"wave": wave, "location": location, "category": category,
                             "estimate": share, "se": 0.02, "ci_low": share - 0.04,
                             "ci_high": share + 0.04, "n": n, "weighted_n": 1234.0 * n,
                             "deff": 1.1, "df": n - 1})
    table = pd.DataFrame(rows)
    if estimates is not None:
        table["estimate"] = estimates
    return table


def test_small_domain_is_suppressed_with_its_complement():
    table = _table({"2021-11": (500, 300, 7), "2021-03": (400, 300, 250)})
    out = apply_rules(table, RULES, ["wave", "location"], partition="location")
    late = out[out["wave"] == "2021-11"].set_index(["location", "category"])
    assert (late.loc["home", "status"] == "suppressed").all()
    assert late.loc["home", ["estimate", "se", "ci_low", "ci_high", "n"]].isna().all().all()
    # home = total - on_site - hybrid: the smallest other part (hybrid) goes too
    assert (late.loc["hybrid", "status"] == "suppressed").all()
    assert late.loc["hybrid", "reason"].str.contains("complement").all()
    assert (late.loc["on_site", "status"] == "ok").all()
    early = out[out["wave"] == "2021-03"]
    assert (early["status"] == "ok").all()
    assert len(out) == len(table)  # no row dropped


def test_two_suppressed_parts_need_no_complement():
    table = _table({"2021-11": (500, 4, 7)})
    out = apply_rules(table, RULES, ["wave", "location"], partition="location")
    assert (out.groupby("location")["status"].first() == pd.Series(
        {"home": "suppressed", "hybrid": "suppressed", "on_site": "ok"})).all()


def test_indicative_for_small_n_and_large_rse():
    table = _table({"2021-11": (150, 300, 400)})
    table.loc[(table["location"] == "home") & (table["category"] == 1), "se"] = 0.08
    out = apply_rules(table, RULES, ["wave", "location"], partition="location")
    by = out.set_index(["location", "category"])
    assert (by.loc["on_site", "status"] == "indicative").all()
    assert by.loc[("on_site", 0), "reason"] == "n=150 < flag_n=200"
    assert by.loc[("home", 1), "status"] == "indicative"
    assert by.loc[("home", 1), "reason"].startswith("rse=0.40")
    assert by.loc[("home", 0), "status"] == "ok"
    assert by.loc[("on_site", 0), "estimate"] == 0.8  # indicative keeps its numbers


def test_weighted_counts_rounded_and_empty_domains():
    table = _table({"2019": (0, 300, 400)})
    out = apply_rules(table, RULES, ["wave", "location"])
    assert (out["weighted_n"].dropna() % 1000 == 0).all()
    empty = out[out["location"] == "on_site"]
    assert (empty["status"] == "empty").all()
    check = output_check({"t": out})
    assert check.empty  # empty cells are no disclosure decision


def test_output_check_lists_every_flagged_cell():
    table = _table({"2021-11": (500, 300, 7)})
    out = apply_rules(table, RULES, ["wave", "location"], partition="location")
    check = output_check({"burnout_by_location": out})
    assert len(check) == (out["status"] != "ok").sum() == 4
    assert set(check["status"]) == {"suppressed"}
    assert check["cell"].str.contains("location=home").any()
    assert not check["cell"].str.contains("estimate").any()


def test_rules_from_config():
    assert DisclosureRules.from_config({"min_n": 5, "flag_n": 100, "max_rse": 0.5,
                                        "round_weighted_n": 100}).min_n == 5
    with pytest.raises(ConfigError, match="unknown key 'minimum'"):
        DisclosureRules.from_config({"minimum": 5})
    with pytest.raises(ConfigError, match="min_n <= flag_n"):
        DisclosureRules.from_config({"min_n": 500, "flag_n": 200})


def test_no_number_survives_suppression():
    rng = np.random.default_rng(3)
    table = _table({str(w): tuple(rng.integers(0, 40, 3)) for w in range(20)})
    out = apply_rules(table, RULES, ["wave", "location"], partition="location")
    shown = out[out["status"].isin(["ok", "indicative"])]
    assert (shown["n"] >= RULES.min_n).all()
    hidden = out[out["status"] == "suppressed"]
    assert hidden[["estimate", "se", "n", "weighted_n"]].isna().all().all()


def test_cells_hidden_in_estimate_tables_stay_hidden_everywhere():
    """A by-location cell suppressed with its complement must not come back
    through a change (estimate, base_estimate), a contrast of unions
    (hybrid + home) or a key figure of (partly) home workers."""
    from neacovid.publish.disclosure import (
        suppress_changes,
        suppress_contrasts,
        suppress_key_figures,
        suppressed_cells,
    )

    by_location = apply_rules(
        _table({"2021-11": (500, 69, 6)}).assign(indicator="burnout"),
        RULES, ["wave", "location"], partition="location",
    )
    cells = suppressed_cells({"burnout_by_location": by_location})
    assert cells == {("burnout", "2021-11", "location", "hybrid"),
                     ("burnout", "2021-11", "location", "home")}
    base = {"estimate": 0.2, "base_estimate": 0.18, "diff": 0.02, "se": 0.01, "n": 69,
            "base_n": 300, "status": "ok", "reason": ""}
    changes = pd.DataFrame([
        {"indicator": "burnout", "breakdown": "location", "group": "hybrid", "wave": "2021-11",
         "base": "2019"} | base,
        {"indicator": "burnout", "breakdown": "location", "group": "on_site", "wave": "2021-11",
         "base": "2019"} | base,
        {"indicator": "burnout", "breakdown": "location", "group": "hybrid", "wave": "2023-06",
         "base": "2021-11"} | base,
    ])
    out = suppress_changes(changes, cells)
    assert list(out["status"]) == ["suppressed", "ok", "suppressed"]
    assert out.loc[[0, 2], ["estimate", "base_estimate", "diff", "n"]].isna().all().all()

    contrasts = pd.DataFrame([{
        "indicator": "burnout", "contrast": "home_vs_onsite", "group": "location",
        "wave": "2021-11", "location": np.nan, "a": "hybrid, home", "b": "on_site",
        "estimate_a": 0.165, "estimate_b": 0.19, "diff": -0.025, "n_a": 75, "n_b": 500,
        "status": "ok", "reason": "",
    }])
    assert suppress_contrasts(contrasts, cells)["status"].iloc[0] == "suppressed"

    key = pd.DataFrame([
        {"id": "k1", "wave": "2021-11", "population": "home_any workers",
         "indicator": "burnout", "category": "1", "published": 16.9, "estimate": 16.5,
         "n": 75, "within_ci": True, "status": "ok", "reason": ""},
        {"id": "k2", "wave": "2021-11", "population": "on_site workers",
         "indicator": "burnout", "category": "1", "published": 19.0, "estimate": 19.1,
         "n": 500, "within_ci": True, "status": "ok", "reason": ""},
    ])
    populations = {"home_any workers": {"column": "home_any", "value": 1},
                   "on_site workers": {"column": "location", "value": "on_site"}}
    out = suppress_key_figures(key, cells, populations)
    assert list(out["status"]) == ["suppressed", "ok"]
    assert pd.isna(out.loc[0, "estimate"]) and out.loc[0, "published"] == 16.9
    assert out.loc[0, "within_ci"] is None


def test_comparison_with_one_empty_side_shows_no_numbers():
    table = pd.DataFrame({"estimate": [0.79, 0.5], "se": [0.1, 0.05], "n": [6, 400],
                          "base_n": [0, 300], "wave": ["2020-11", "2021-11"]})
    out = apply_rules(table, RULES, ["wave"], n_columns=["n", "base_n"], rse=False)
    assert list(out["status"]) == ["empty", "ok"]
    assert pd.isna(out.loc[0, "estimate"]) and pd.isna(out.loc[0, "n"])
